// Tests of pmdnetctl's reply parsing and paging against the real reply builders
// (daemon/telemetry/replies.h), wrapped the way DPDK wraps them, so pmdnetd's layout and
// pmdnetctl's reader are checked against each other without a socket; plus malformed replies.
#include "daemon/pmdnetctl/fetch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/telemetry/replies.h"
#include "tests/unit/daemon/telemetry/sample_snapshot.h"

namespace pmdnet::ctl {
namespace {

using telemetry::DaemonSnapshot;
using telemetry::testing::large_snapshot;
using telemetry::testing::sample_snapshot;

// What DPDK's client_handler does: split at the first comma, call the command, wrap the JSON.
std::string dpdk_reply(const DaemonSnapshot& s, std::string_view request) {
  const size_t comma = request.find(',');
  const std::string_view command = request.substr(0, comma);
  std::optional<std::string_view> params;
  if (comma != std::string_view::npos && comma + 1 < request.size()) {
    params = request.substr(comma + 1);
  }
  auto reply = telemetry::answer_command(command, params, s);
  return fmt::format("{{\"{}\":{}}}", command, reply ? reply->to_json() : "null");
}

struct FakeDaemon {
  DaemonSnapshot snapshot;
  std::vector<std::string> requests;
  QueryFn query() {
    return [this](std::string_view request) -> Result<std::string> {
      requests.emplace_back(request);
      return dpdk_reply(snapshot, request);
    };
  }
};

QueryFn answer_with(std::string text) {
  return [text](std::string_view) -> Result<std::string> { return text; };
}

TEST(UnwrapReplyTest, TakesTheValueUnderTheCommand) {
  auto v = unwrap_reply("/pmdnet/port,vm1,2", R"({"/pmdnet/port":{"a":1}})");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ((*v)["a"], 1);
  v = unwrap_reply("/pmdnet/port,x", R"({"/pmdnet/port":null})");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->is_null());
}

TEST(UnwrapReplyTest, RefusesOtherShapes) {
  for (const char* text : {"", "not json", "[1]", R"({"/other":1})", R"({"/pmdnet/info":1,"x":2})",
                           R"({"/pmdnet/info":{)"}) {
    auto v = unwrap_reply("/pmdnet/info", text);
    ASSERT_FALSE(v) << text;
    EXPECT_EQ(v.error().code, Errc::kMalformed);
  }
}

TEST(FetchTest, InfoRoundTrip) {
  FakeDaemon d{sample_snapshot()};
  std::vector<std::string> raw;
  auto info = fetch_info(d.query(), &raw);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(*info, (DaemonInfo{"0.1.0", 2'400'000'000, 3, 1, 2, 1, 2, 2}));
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_TRUE(raw[0].starts_with(R"({"/pmdnet/info":{"version":"0.1.0",)"));
}

TEST(FetchTest, PortsRoundTripMatchesSummarize) {
  FakeDaemon d{sample_snapshot()};
  auto ports = fetch_ports(d.query());
  ASSERT_TRUE(ports) << ports.error().message;
  ASSERT_EQ(ports->size(), 2u);
  EXPECT_EQ((*ports)[0], summarize(d.snapshot.ports[0]));
  EXPECT_EQ((*ports)[1], summarize(d.snapshot.ports[1]));
  EXPECT_EQ(d.requests, (std::vector<std::string>{"/pmdnet/ports"}));
}

TEST(FetchTest, PortRoundTripIsTheWholeSnapshot) {
  FakeDaemon d{sample_snapshot()};
  auto port = fetch_port(d.query(), "vm1");
  ASSERT_TRUE(port) << port.error().message;
  EXPECT_EQ(*port, d.snapshot.ports[0]);
  auto idle = fetch_port(d.query(), "vm-2.eth0");
  ASSERT_TRUE(idle) << idle.error().message;
  EXPECT_EQ(*idle, d.snapshot.ports[1]);
}

TEST(FetchTest, PortRoundTripCarriesTheNegotiatedRings) {
  FakeDaemon d{sample_snapshot()};
  d.snapshot.ports[0].ring_layout = "packed";
  d.snapshot.ports[0].in_order = true;
  d.snapshot.ports[1].ring_layout = "split";
  for (size_t i = 0; i < 2; ++i) {
    auto port = fetch_port(d.query(), d.snapshot.ports[i].name);
    ASSERT_TRUE(port) << port.error().message;
    EXPECT_EQ(port->ring_layout, d.snapshot.ports[i].ring_layout);
    EXPECT_EQ(port->in_order, d.snapshot.ports[i].in_order);
    EXPECT_EQ(*port, d.snapshot.ports[i]);
  }
}

TEST(FetchTest, UnknownPortIsOutOfRange) {
  FakeDaemon d{sample_snapshot()};
  auto port = fetch_port(d.query(), "nope");
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().code, Errc::kOutOfRange);
  EXPECT_NE(port.error().message.find("no port named 'nope'"), std::string::npos);
}

TEST(FetchTest, WorkersRoundTrip) {
  FakeDaemon d{sample_snapshot()};
  auto w = fetch_workers(d.query());
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->tsc_hz, 2'400'000'000u);
  EXPECT_EQ(w->workers, d.snapshot.workers);
}

TEST(FetchTest, FollowsPagesOfPorts) {
  FakeDaemon d{large_snapshot(150, 2, 0)};
  std::vector<std::string> raw;
  auto ports = fetch_ports(d.query(), &raw);
  ASSERT_TRUE(ports) << ports.error().message;
  ASSERT_EQ(ports->size(), 150u);
  for (size_t i = 0; i < 150; ++i) EXPECT_EQ((*ports)[i], summarize(d.snapshot.ports[i])) << i;
  EXPECT_GT(d.requests.size(), 1u);
  EXPECT_EQ(raw.size(), d.requests.size());
  EXPECT_EQ(d.requests[0], "/pmdnet/ports");
  EXPECT_TRUE(d.requests[1].starts_with("/pmdnet/ports,"));
  for (const std::string& r : raw) EXPECT_LE(r.size(), 16384u);
}

TEST(FetchTest, FollowsPagesOfQueuePairs) {
  FakeDaemon d{large_snapshot(2, 64, 0)};
  const std::string name = d.snapshot.ports[1].name;
  auto port = fetch_port(d.query(), name);
  ASSERT_TRUE(port) << port.error().message;
  EXPECT_EQ(*port, d.snapshot.ports[1]);
  EXPECT_GT(d.requests.size(), 5u);
  // Each page carries several pairs of ~2.3 KB, and the next request starts after them.
  EXPECT_TRUE(d.requests[1].starts_with(fmt::format("/pmdnet/port,{},", name))) << d.requests[1];
  EXPECT_NE(d.requests[1], fmt::format("/pmdnet/port,{},1", name));
}

TEST(FetchTest, FollowsPagesOfWorkers) {
  FakeDaemon d{large_snapshot(0, 0, 300)};
  auto w = fetch_workers(d.query());
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->workers, d.snapshot.workers);
  EXPECT_GT(d.requests.size(), 2u);
}

TEST(FetchTest, NullFromANonPmdnetdIsUnsupported) {
  auto info = fetch_info(answer_with(R"({"/pmdnet/info":null})"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::kUnsupported);
  auto ports = fetch_ports(answer_with(R"({"/pmdnet/ports":null})"));
  ASSERT_FALSE(ports);
  EXPECT_EQ(ports.error().code, Errc::kUnsupported);
}

TEST(FetchTest, QueryErrorsPassThrough) {
  const QueryFn broken = [](std::string_view) -> Result<std::string> {
    return make_error(Errc::kClosed, "gone");
  };
  auto ports = fetch_ports(broken);
  ASSERT_FALSE(ports);
  EXPECT_EQ(ports.error(), (Error{Errc::kClosed, "gone"}));
}

TEST(FetchTest, APageThatDoesNotAdvanceIsAnError) {
  // Claims 5 ports but holds none and points back at itself.
  auto ports = fetch_ports(answer_with(R"({"/pmdnet/ports":{"total":5,"first":0,"next":0}})"));
  ASSERT_FALSE(ports);
  EXPECT_EQ(ports.error().code, Errc::kMalformed);
  EXPECT_NE(ports.error().message.find("holds nothing"), std::string::npos);
}

TEST(FetchTest, AWrongPageIsAnError) {
  auto ports = fetch_ports(answer_with(R"({"/pmdnet/ports":{"total":5,"first":3,"next":3}})"));
  ASSERT_FALSE(ports);
  EXPECT_NE(ports.error().message.find("asked for the page at 0"), std::string::npos);
}

TEST(ParseTest, BadPageBounds) {
  for (const char* text : {R"({"total":1,"first":2,"next":2})", R"({"total":1,"first":0,"next":2})",
                           R"({"total":3,"first":2,"next":1})"}) {
    auto p = parse_ports_page(Json::parse(text));
    ASSERT_FALSE(p) << text;
    EXPECT_NE(p.error().message.find("bad page"), std::string::npos) << p.error().message;
  }
}

TEST(ParseTest, MissingAndMistypedKeysAreNamed) {
  auto info = parse_info(Json::parse(R"({"version":"1"})"));
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("no 'tsc_hz'"), std::string::npos) << info.error().message;
  info = parse_info(Json::parse(
      R"({"version":1,"tsc_hz":1,"reloads":1,"failed_reloads":1,"ports":1,"connected_ports":1,)"
      R"("queue_pairs":1,"workers":1})"));
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("'version' is not a string"), std::string::npos);
  info = parse_info(Json::parse("[]"));
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("not a JSON object"), std::string::npos);

  auto ports = parse_ports_page(Json::parse(R"({"total":1,"first":0,"next":1})"));
  ASSERT_FALSE(ports);
  EXPECT_NE(ports.error().message.find("no 'port0'"), std::string::npos) << ports.error().message;
  ports = parse_ports_page(Json::parse(R"({"total":1,"first":0,"next":1,"port0":{"name":"a"}})"));
  ASSERT_FALSE(ports);
  EXPECT_NE(ports.error().message.find("port0: no 'backend'"), std::string::npos)
      << ports.error().message;
}

TEST(ParseTest, NegativeCountersAreRefused) {
  auto w = parse_workers_page(
      Json::parse(R"({"tsc_hz":1,"total":1,"first":0,"next":1,"lcore1":{"lcore":1,"idle":"busy",)"
                  R"("queue_pairs":-1,"passes":0,"busy_cycles":0,"idle_cycles":0,"packets":0}})"));
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("'queue_pairs' is not a non-negative integer"),
            std::string::npos)
      << w.error().message;
}

// The port reply of a made-up port, with `qp_json` as its only pair.
Json port_with_pair(const std::string& qp_json) {
  return Json::parse(
      R"({"name":"p","socket":"/s","mode":"server","backend":"null","device":"","connected":1,)"
      R"("link_up":1,"link_speed_bps":0,"link_changes":0,"restarts":0,"connections":1,)"
      R"("refused_connections":0,"session_starts":1,"session_stops":0,"resumed_rings":0,"announcements":0,)"
      R"("announce_failures":0,"start_errors":0,)"
      R"("refused_messages":0,"guest_memory_faults":0,"queue_pairs":1,)"
      R"("first":0,"next":1,"qp0":)" +
      qp_json + "}");
}

TEST(ParseTest, RssTableIsOptionalButChecked) {
  // port_with_pair has none: a pmdnetd that predates the field.
  Json j = port_with_pair(R"({"index":0,"worker_lcore":1,"guest":{},"backend":{}})");
  auto p = parse_port_page(j);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->port.rss_reta.empty());
  j["rss_reta"] = Json::parse("[1, 0, 1, 0]");  // as a reply's text parses: unsigned
  p = parse_port_page(j);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->port.rss_reta, (std::vector<uint16_t>{1, 0, 1, 0}));
  for (const char* bad : {"3", "[1, -1]", "[70000]", "[\"0\"]", "{}"}) {
    j["rss_reta"] = Json::parse(bad);
    p = parse_port_page(j);
    ASSERT_FALSE(p) << bad;
    EXPECT_NE(p.error().message.find("'rss_reta'"), std::string::npos) << p.error().message;
  }
}

TEST(ParseTest, RingLayoutIsOptionalButTyped) {
  // A reply without the keys (a pmdnetd that predates them): nothing negotiated is shown.
  Json j = port_with_pair(R"({"index":0,"worker_lcore":1,"guest":{},"backend":{}})");
  auto p = parse_port_page(j);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->port.ring_layout, "");
  EXPECT_FALSE(p->port.in_order);
  j["ring_layout"] = "packed";
  j["in_order"] = 1u;
  p = parse_port_page(j);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->port.ring_layout, "packed");
  EXPECT_TRUE(p->port.in_order);
  j["ring_layout"] = 1u;
  p = parse_port_page(j);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("'ring_layout' is not a string"), std::string::npos)
      << p.error().message;
  j["ring_layout"] = "split";
  j["in_order"] = "yes";
  p = parse_port_page(j);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("'in_order' is not a non-negative integer"), std::string::npos)
      << p.error().message;
}

TEST(ParseTest, EmptyCounterDictsMayComeAsArrays) {
  // DPDK 22.11.0 printed an empty nested dict as [].
  auto p =
      parse_port_page(port_with_pair(R"({"index":0,"worker_lcore":-1,"guest":[],"backend":{}})"));
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_EQ(p->port.queue_pairs.size(), 1u);
  EXPECT_EQ(p->port.queue_pairs[0].worker_lcore, -1);
  EXPECT_TRUE(p->port.queue_pairs[0].guest.empty());
}

TEST(ParseTest, BadQueuePairs) {
  auto p = parse_port_page(
      port_with_pair(R"({"index":0,"worker_lcore":1,"guest":{"x":"1"},"backend":{}})"));
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("counter 'guest.x'"), std::string::npos) << p.error().message;
  p = parse_port_page(port_with_pair(R"({"index":0,"worker_lcore":1,"guest":7,"backend":{}})"));
  ASSERT_FALSE(p);
  p = parse_port_page(
      port_with_pair(R"({"index":0,"worker_lcore":9999999999,"guest":{},"backend":{}})"));
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("out of range"), std::string::npos) << p.error().message;
}

TEST(ParseTest, PageCountMustMatchThePairsHeld) {
  Json j = port_with_pair(R"({"index":0,"worker_lcore":1,"guest":{},"backend":{}})");
  j["queue_pairs"] = 2u;
  j["next"] = 2u;
  auto p = parse_port_page(j);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("the page says 2 queue pairs, it holds 1"), std::string::npos)
      << p.error().message;
}

}  // namespace
}  // namespace pmdnet::ctl
