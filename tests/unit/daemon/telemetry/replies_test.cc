// Tests of the /pmdnet/* reply layout: TelDict's JSON (DPDK 22.11's format) and its exact length,
// sanitizing, DPDK's limits, each reply's keys, and paging that keeps every reply within
// kMaxReplyJsonLength while covering every item once.
#include "daemon/telemetry/replies.h"

#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/daemon/telemetry/sample_snapshot.h"

namespace pmdnet::telemetry {
namespace {

using testing::large_snapshot;
using testing::sample_snapshot;

uint64_t u64_of(const TelDict& d, std::string_view name) {
  const TelDict::Entry* e = d.find(name);
  if (e == nullptr || !std::holds_alternative<uint64_t>(e->value)) {
    ADD_FAILURE() << "no u64 " << name << " in " << d.to_json();
    return 0;
  }
  return std::get<uint64_t>(e->value);
}

std::string string_of(const TelDict& d, std::string_view name) {
  const TelDict::Entry* e = d.find(name);
  if (e == nullptr || !std::holds_alternative<std::string>(e->value)) {
    ADD_FAILURE() << "no string " << name << " in " << d.to_json();
    return {};
  }
  return std::get<std::string>(e->value);
}

const TelDict* dict_of(const TelDict& d, std::string_view name) {
  const TelDict::Entry* e = d.find(name);
  if (e == nullptr || !std::holds_alternative<std::unique_ptr<TelDict>>(e->value)) return nullptr;
  return std::get<std::unique_ptr<TelDict>>(e->value).get();
}

// Checks the invariants of a whole tree: the cached length, DPDK's entry and name limits.
// NOLINTNEXTLINE(misc-no-recursion): one level per nested TelDict, as fill_dict
void expect_well_formed(const TelDict& d) {
  EXPECT_EQ(d.json_length(), d.to_json().size());
  EXPECT_LE(d.size(), kMaxDictEntries);
  for (const TelDict::Entry& e : d.entries()) {
    EXPECT_EQ(e.name, sanitize_name(e.name));
    if (const auto* nested = std::get_if<std::unique_ptr<TelDict>>(&e.value)) {
      expect_well_formed(**nested);
    }
    if (const auto* s = std::get_if<std::string>(&e.value)) {
      EXPECT_LE(s->size(), kMaxStringLength);
    }
  }
}

// ---- TelDict ----

TEST(TelDictTest, EmptyIsBraces) {
  TelDict d;
  EXPECT_EQ(d.to_json(), "{}");
  EXPECT_EQ(d.json_length(), 2u);
}

TEST(TelDictTest, EveryKindPrintsLikeDpdk) {
  TelDict nested;
  nested.add_u64("a", 1);
  TelDict d;
  d.add_u64("u", 18446744073709551615ull);
  d.add_int("i", -1);
  d.add_bool("b", true);
  d.add_string("s", "x\"y\\z");
  d.add_u64_array("ua", {1, 22, 333});
  d.add_u64_array("empty", {});
  d.add_string_array("sa", {"p", "q"});
  d.add_dict("d", std::move(nested));
  d.add_dict("e", TelDict{});
  EXPECT_EQ(d.to_json(),
            R"({"u":18446744073709551615,"i":-1,"b":1,"s":"x\"y\\z","ua":[1,22,333],"empty":[],)"
            R"("sa":["p","q"],"d":{"a":1},"e":{}})");
  EXPECT_EQ(d.json_length(), d.to_json().size());
}

TEST(TelDictTest, IntLengthsAtTheExtremes) {
  TelDict d;
  d.add_int("min", std::numeric_limits<int32_t>::min());
  d.add_int("max", std::numeric_limits<int32_t>::max());
  d.add_int("zero", 0);
  d.add_u64("u0", 0);
  d.add_u64("u9", 9);
  d.add_u64("u10", 10);
  EXPECT_EQ(d.json_length(), d.to_json().size()) << d.to_json();
}

TEST(TelDictTest, PopBackAndSetKeepTheLengthExact) {
  TelDict d;
  d.add_u64("first", 1);
  d.add_string("second", "abc");
  d.pop_back();
  EXPECT_EQ(d.to_json(), R"({"first":1})");
  EXPECT_EQ(d.json_length(), d.to_json().size());
  EXPECT_TRUE(d.set_u64("first", 123456));
  EXPECT_EQ(d.to_json(), R"({"first":123456})");
  EXPECT_EQ(d.json_length(), d.to_json().size());
  EXPECT_FALSE(d.set_u64("missing", 1));
  d.pop_back();
  EXPECT_EQ(d.to_json(), "{}");
  EXPECT_EQ(d.json_length(), 2u);
  d.pop_back();  // no-op
  EXPECT_EQ(d.json_length(), 2u);
}

TEST(TelDictTest, SetU64IgnoresEntriesOfOtherTypes) {
  TelDict d;
  d.add_string("x", "s");
  EXPECT_FALSE(d.set_u64("x", 1));
}

TEST(TelDictTest, HoldsAtMostDpdksDictEntries) {
  TelDict d;
  for (size_t i = 0; i < kMaxDictEntries; ++i) ASSERT_TRUE(d.add_u64(fmt::format("c{}", i), i));
  EXPECT_TRUE(d.full());
  EXPECT_FALSE(d.add_u64("one_more", 1));
  EXPECT_FALSE(d.add_dict("one_more", TelDict{}));
  EXPECT_EQ(d.size(), kMaxDictEntries);
  EXPECT_EQ(d.json_length(), d.to_json().size());
}

TEST(TelDictTest, ArraysKeepDpdksArrayEntries) {
  TelDict d;
  d.add_u64_array("u", std::vector<uint64_t>(kMaxArrayEntries + 10, 7));
  d.add_string_array("s", std::vector<std::string>(kMaxArrayEntries + 1, "n"));
  EXPECT_EQ(std::get<std::vector<uint64_t>>(d.find("u")->value).size(), kMaxArrayEntries);
  EXPECT_EQ(std::get<std::vector<std::string>>(d.find("s")->value).size(), kMaxArrayEntries);
  EXPECT_EQ(d.json_length(), d.to_json().size());
}

TEST(TelDictTest, SanitizesNamesAndStrings) {
  TelDict d;
  d.add_string("vm-1.eth0", "caf\xc3\xa9\n\t\x7f");
  d.add_string_array("a b", {"ok", "\x01"});
  EXPECT_EQ(d.to_json(), R"({"vm_1_eth0":"caf?????","a_b":["ok","?"]})");
  EXPECT_EQ(d.json_length(), d.to_json().size());
}

TEST(SanitizeTest, Names) {
  EXPECT_EQ(sanitize_name("guest_tx_packets"), "guest_tx_packets");
  EXPECT_EQ(sanitize_name("/pmdnet/x"), "/pmdnet/x");
  EXPECT_EQ(sanitize_name("a-b.c d,e\"f"), "a_b_c_d_e_f");
  EXPECT_EQ(sanitize_name(""), "_");
  EXPECT_EQ(sanitize_name(std::string(300, 'n')).size(), kMaxNameLength);
}

TEST(SanitizeTest, Strings) {
  EXPECT_EQ(sanitize_string("/run/vm1.sock"), "/run/vm1.sock");
  EXPECT_EQ(sanitize_string("quote\"back\\"), "quote\"back\\");  // escaped when printed
  EXPECT_EQ(sanitize_string("\x80\xff\x1f"), "???");
  EXPECT_EQ(sanitize_string(std::string(300, 's')).size(), kMaxStringLength);
  EXPECT_EQ(json_string_length("a\"b\\"), 8u);
}

// ---- Replies ----

TEST(InfoReplyTest, ExactJson) {
  const DaemonSnapshot s = sample_snapshot();
  EXPECT_EQ(info_reply(s).to_json(),
            R"({"version":"0.1.0","tsc_hz":2400000000,"reloads":3,"failed_reloads":1,"ports":2,)"
            R"("connected_ports":1,"queue_pairs":2,"workers":2})");
}

TEST(PortsReplyTest, NamesAndOneSummaryPerPort) {
  const DaemonSnapshot s = sample_snapshot();
  const TelDict d = ports_reply(s, 0);
  expect_well_formed(d);
  EXPECT_EQ(u64_of(d, "total"), 2u);
  EXPECT_EQ(u64_of(d, "first"), 0u);
  EXPECT_EQ(u64_of(d, "next"), 2u);
  const auto* names = d.find("names");
  ASSERT_NE(names, nullptr);
  EXPECT_EQ(std::get<std::vector<std::string>>(names->value),
            (std::vector<std::string>{"vm1", "vm-2.eth0"}));
  const TelDict* p0 = dict_of(d, "port0");
  ASSERT_NE(p0, nullptr);
  EXPECT_EQ(p0->to_json(), port_summary_dict(summarize(s.ports[0])).to_json());
  EXPECT_EQ(p0->to_json(),
            R"({"name":"vm1","backend":"dpdk","connected":1,"link_up":1,"queue_pairs":2,)"
            R"("guest_tx_packets":2001,"guest_tx_bytes":3000001,"guest_rx_packets":4001,)"
            R"("guest_rx_bytes":6000001,"drops":2,"guest_errors":6,"backend_errors":4})");
  const TelDict* p1 = dict_of(d, "port1");
  ASSERT_NE(p1, nullptr);
  EXPECT_EQ(string_of(*p1, "name"), "vm-2.eth0");
  EXPECT_EQ(dict_of(d, "port2"), nullptr);
}

TEST(PortsReplyTest, NoPorts) {
  EXPECT_EQ(ports_reply(DaemonSnapshot{}, 0).to_json(),
            R"({"total":0,"first":0,"next":0,"names":[]})");
}

TEST(PortsReplyTest, FirstPastTheEndIsAnEmptyLastPage) {
  const TelDict d = ports_reply(sample_snapshot(), 7);
  EXPECT_EQ(u64_of(d, "first"), 2u);
  EXPECT_EQ(u64_of(d, "next"), 2u);
}

TEST(PortReplyTest, RingLayoutAndInOrder) {
  DaemonSnapshot s = sample_snapshot();
  auto before = port_reply(s, "vm1", 0);
  ASSERT_TRUE(before);
  EXPECT_EQ(string_of(*before, "ring_layout"), "") << "nothing negotiated yet";
  EXPECT_EQ(u64_of(*before, "in_order"), 0u);
  s.ports[0].ring_layout = "packed";
  s.ports[0].in_order = true;
  s.ports[1].ring_layout = "split";
  auto packed = port_reply(s, "vm1", 0);
  ASSERT_TRUE(packed);
  expect_well_formed(*packed);
  EXPECT_EQ(string_of(*packed, "ring_layout"), "packed");
  EXPECT_EQ(u64_of(*packed, "in_order"), 1u);
  auto split = port_reply(s, "vm-2.eth0", 0);
  ASSERT_TRUE(split);
  EXPECT_EQ(string_of(*split, "ring_layout"), "split");
  EXPECT_EQ(u64_of(*split, "in_order"), 0u);
}

TEST(PortReplyTest, EveryFieldAndEachQueuePair) {
  const DaemonSnapshot s = sample_snapshot();
  auto d = port_reply(s, "vm1", 0);
  ASSERT_TRUE(d);
  expect_well_formed(*d);
  EXPECT_EQ(string_of(*d, "name"), "vm1");
  EXPECT_EQ(string_of(*d, "socket"), "/run/pmdnet/vm1.sock");
  EXPECT_EQ(string_of(*d, "mode"), "server");
  EXPECT_EQ(string_of(*d, "backend"), "dpdk");
  EXPECT_EQ(string_of(*d, "device"), "net_null0");
  EXPECT_EQ(u64_of(*d, "connected"), 1u);
  EXPECT_EQ(u64_of(*d, "link_up"), 1u);
  EXPECT_EQ(u64_of(*d, "link_speed_bps"), 10'000'000'000u);
  EXPECT_EQ(u64_of(*d, "link_changes"), 1u);
  EXPECT_EQ(u64_of(*d, "backend_configurations"), 5u);
  const TelDict::Entry* reta = d->find("rss_reta");
  ASSERT_NE(reta, nullptr);
  ASSERT_TRUE(std::holds_alternative<std::vector<uint64_t>>(reta->value));
  EXPECT_EQ(std::get<std::vector<uint64_t>>(reta->value),
            (std::vector<uint64_t>{0, 1, 1, 0, 0, 1, 1, 0}));
  EXPECT_EQ(u64_of(*d, "restarts"), 0u);
  EXPECT_EQ(u64_of(*d, "connections"), 2u);
  EXPECT_EQ(u64_of(*d, "refused_connections"), 1u);
  EXPECT_EQ(u64_of(*d, "session_starts"), 3u);
  EXPECT_EQ(u64_of(*d, "session_stops"), 2u);
  EXPECT_EQ(u64_of(*d, "resumed_rings"), 4u);
  EXPECT_EQ(u64_of(*d, "announcements"), 7u);
  EXPECT_EQ(u64_of(*d, "announce_failures"), 1u);
  EXPECT_EQ(u64_of(*d, "start_errors"), 4u);
  EXPECT_EQ(u64_of(*d, "refused_messages"), 5u);
  EXPECT_EQ(u64_of(*d, "guest_memory_faults"), 6u);
  EXPECT_EQ(u64_of(*d, "queue_pairs"), 2u);
  EXPECT_EQ(u64_of(*d, "first"), 0u);
  EXPECT_EQ(u64_of(*d, "next"), 2u);
  for (uint32_t i = 0; i < 2; ++i) {
    const TelDict* qp = dict_of(*d, fmt::format("qp{}", i));
    ASSERT_NE(qp, nullptr) << i;
    EXPECT_EQ(u64_of(*qp, "index"), i);
    const TelDict* guest = dict_of(*qp, "guest");
    const TelDict* backend = dict_of(*qp, "backend");
    ASSERT_NE(guest, nullptr);
    ASSERT_NE(backend, nullptr);
    const QueuePairSnapshot& want = s.ports[0].queue_pairs[i];
    ASSERT_EQ(guest->size(), want.guest.size());
    for (size_t c = 0; c < want.guest.size(); ++c) {
      EXPECT_EQ(guest->entries()[c].name, want.guest[c].name);
      EXPECT_EQ(std::get<uint64_t>(guest->entries()[c].value), want.guest[c].value);
    }
    ASSERT_EQ(backend->size(), want.backend.size());
    EXPECT_EQ(qp->find("counters_omitted"), nullptr);
  }
  const TelDict* qp0 = dict_of(*d, "qp0");
  const TelDict::Entry* lcore = qp0->find("worker_lcore");
  ASSERT_NE(lcore, nullptr);
  EXPECT_EQ(std::get<int32_t>(lcore->value), 1);
}

TEST(PortReplyTest, UnknownPortIsNullopt) {
  EXPECT_FALSE(port_reply(sample_snapshot(), "nope", 0));
  EXPECT_FALSE(port_reply(sample_snapshot(), "", 0));
  EXPECT_FALSE(port_reply(sample_snapshot(), "VM1", 0));
}

TEST(PortReplyTest, IdlePortHasNoQueuePairs) {
  auto d = port_reply(sample_snapshot(), "vm-2.eth0", 0);
  ASSERT_TRUE(d);
  EXPECT_EQ(u64_of(*d, "queue_pairs"), 0u);
  EXPECT_EQ(u64_of(*d, "next"), 0u);
  EXPECT_EQ(string_of(*d, "device"), "");
}

TEST(QueuePairDictTest, WorkerLcoreMinusOne) {
  QueuePairSnapshot qp;
  qp.index = 3;
  qp.worker_lcore = -1;
  EXPECT_EQ(queue_pair_dict(qp, kMaxReplyJsonLength).to_json(),
            R"({"index":3,"worker_lcore":-1,"guest":{},"backend":{}})");
}

TEST(QueuePairDictTest, CutsCountersThatCannotFitAndCountsThem) {
  QueuePairSnapshot qp;
  for (int i = 0; i < 300; ++i) {
    qp.guest.push_back({fmt::format("guest_counter_with_a_rather_long_name_{:03}", i), 1u << 30});
  }
  for (int i = 0; i < 20; ++i) qp.backend.push_back({fmt::format("b{}", i), 1});
  const TelDict d = queue_pair_dict(qp, 4000);
  expect_well_formed(d);
  EXPECT_LE(d.json_length(), 4000u);
  const uint64_t omitted = u64_of(d, "counters_omitted");
  const TelDict* guest = dict_of(d, "guest");
  const TelDict* backend = dict_of(d, "backend");
  ASSERT_NE(guest, nullptr);
  ASSERT_NE(backend, nullptr);
  EXPECT_GT(guest->size(), 0u);
  EXPECT_EQ(guest->size() + backend->size() + omitted, 320u);
  // In order: the first counters are the ones kept.
  EXPECT_EQ(guest->entries()[0].name, "guest_counter_with_a_rather_long_name_000");
}

TEST(QueuePairDictTest, MoreCountersThanADictHoldsAreCounted) {
  QueuePairSnapshot qp;
  for (int i = 0; i < 300; ++i) qp.guest.push_back({fmt::format("c{}", i), 0});
  const TelDict d = queue_pair_dict(qp, kMaxReplyJsonLength);
  EXPECT_EQ(dict_of(d, "guest")->size(), kMaxDictEntries);
  EXPECT_EQ(u64_of(d, "counters_omitted"), 300u - kMaxDictEntries);
}

TEST(WorkersReplyTest, OneDictPerLcore) {
  const TelDict d = workers_reply(sample_snapshot(), 0);
  expect_well_formed(d);
  EXPECT_EQ(d.to_json(), R"({"tsc_hz":2400000000,"total":2,"first":0,"next":2,)"
                         R"("lcore1":{"lcore":1,"idle":"busy","queue_pairs":2,"passes":5000,)"
                         R"("busy_cycles":300,"idle_cycles":100,"busy_percent":75,)"
                         R"("packets":200,"cycles_per_packet":2},)"
                         R"("lcore2":{"lcore":2,"idle":"adaptive","queue_pairs":0,"passes":0,)"
                         R"("busy_cycles":0,"idle_cycles":0,"busy_percent":0,"packets":0,)"
                         R"("cycles_per_packet":0}})");
}

// ---- Paging ----

// Follows the pages of a list reply and checks each: within the budget, advancing, and together
// covering [0, total) once, in order.
template <class Build>
void expect_pages_cover(Build build, std::string_view total_key, std::string_view item_prefix,
                        size_t total, size_t min_pages) {
  size_t first = 0;
  size_t pages = 0;
  size_t items = 0;
  while (true) {
    const TelDict page = build(first);
    expect_well_formed(page);
    EXPECT_LE(page.json_length(), kMaxReplyJsonLength);
    EXPECT_EQ(u64_of(page, total_key), total);
    EXPECT_EQ(u64_of(page, "first"), first);
    const size_t next = u64_of(page, "next");
    ++pages;
    for (const TelDict::Entry& e : page.entries()) {
      if (e.name.starts_with(item_prefix) && e.name != "names") ++items;
    }
    if (next >= total) break;
    ASSERT_GT(next, first) << "no progress";
    first = next;
    ASSERT_LT(pages, 10000u);
  }
  EXPECT_EQ(items, total);
  EXPECT_GE(pages, min_pages);
}

TEST(PagingTest, ManyPortsPage) {
  const DaemonSnapshot s = large_snapshot(200, 1, 0);
  expect_pages_cover([&](size_t first) { return ports_reply(s, first); }, "total", "port", 200, 3);
  // The names of all 200 ports still fit in the first page.
  EXPECT_NE(ports_reply(s, 0).find("names"), nullptr);
}

TEST(PagingTest, SoManyPortsThatTheirNamesAreLeftOut) {
  const DaemonSnapshot s = large_snapshot(400, 0, 0);
  const TelDict first_page = ports_reply(s, 0);
  EXPECT_EQ(first_page.find("names"), nullptr);
  expect_pages_cover([&](size_t first) { return ports_reply(s, first); }, "total", "port", 400, 5);
}

TEST(PagingTest, ManyQueuePairsPage) {
  const DaemonSnapshot s = large_snapshot(1, 128, 0);
  const std::string name = s.ports[0].name;
  expect_pages_cover([&](size_t first) { return std::move(*port_reply(s, name, first)); },
                     "queue_pairs", "qp", 128, 10);
}

TEST(PagingTest, ManyWorkersPage) {
  const DaemonSnapshot s = large_snapshot(0, 0, 500);
  expect_pages_cover([&](size_t first) { return workers_reply(s, first); }, "total", "lcore", 500,
                     3);
}

TEST(PagingTest, AHugeQueuePairStillMakesProgress) {
  DaemonSnapshot s;
  PortSnapshot p;
  p.name = "big";
  for (uint32_t q = 0; q < 3; ++q) {
    QueuePairSnapshot qp;
    qp.index = q;
    for (int i = 0; i < 250; ++i) {
      qp.guest.push_back({fmt::format("{}_{}", std::string(100, 'g'), i), 12345678901234ull});
    }
    p.queue_pairs.push_back(std::move(qp));
  }
  s.ports.push_back(std::move(p));
  expect_pages_cover([&](size_t first) { return std::move(*port_reply(s, "big", first)); },
                     "queue_pairs", "qp", 3, 3);
  const TelDict page = *port_reply(s, "big", 0);
  EXPECT_GT(u64_of(*dict_of(page, "qp0"), "counters_omitted"), 0u);
}

// ---- Commands ----

TEST(ParamsTest, FirstParam) {
  EXPECT_EQ(parse_first_param(std::nullopt), 0u);
  EXPECT_EQ(parse_first_param("0"), 0u);
  EXPECT_EQ(parse_first_param("42"), 42u);
  EXPECT_EQ(parse_first_param("999999999"), 999999999u);
  EXPECT_FALSE(parse_first_param(""));
  EXPECT_FALSE(parse_first_param("-1"));
  EXPECT_FALSE(parse_first_param("+1"));
  EXPECT_FALSE(parse_first_param("1x"));
  EXPECT_FALSE(parse_first_param(" 1"));
  EXPECT_FALSE(parse_first_param("1234567890"));
}

TEST(ParamsTest, PortParams) {
  auto p = parse_port_params("vm1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "vm1");
  EXPECT_EQ(p->first, 0u);
  p = parse_port_params("vm-2.eth0,17");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "vm-2.eth0");
  EXPECT_EQ(p->first, 17u);
  EXPECT_FALSE(parse_port_params(std::nullopt));
  EXPECT_FALSE(parse_port_params(""));
  EXPECT_FALSE(parse_port_params(",1"));
  EXPECT_FALSE(parse_port_params("vm1,"));
  EXPECT_FALSE(parse_port_params("vm1,x"));
  EXPECT_FALSE(parse_port_params("vm1,1,2"));
}

TEST(AnswerCommandTest, DispatchesEveryCommand) {
  const DaemonSnapshot s = sample_snapshot();
  auto info = answer_command("/pmdnet/info", std::nullopt, s);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->to_json(), info_reply(s).to_json());
  auto ports = answer_command("/pmdnet/ports", "1", s);
  ASSERT_TRUE(ports);
  EXPECT_EQ(ports->to_json(), ports_reply(s, 1).to_json());
  auto port = answer_command("/pmdnet/port", "vm1,1", s);
  ASSERT_TRUE(port);
  EXPECT_EQ(port->to_json(), port_reply(s, "vm1", 1)->to_json());
  auto workers = answer_command("/pmdnet/workers", std::nullopt, s);
  ASSERT_TRUE(workers);
  EXPECT_EQ(workers->to_json(), workers_reply(s, 0).to_json());
}

TEST(AnswerCommandTest, RefusesWhatDpdkShouldAnswerNullTo) {
  const DaemonSnapshot s = sample_snapshot();
  EXPECT_FALSE(answer_command("/pmdnet/nope", std::nullopt, s));
  EXPECT_FALSE(answer_command("/pmdnet/port", std::nullopt, s));
  EXPECT_FALSE(answer_command("/pmdnet/port", "nope", s));
  EXPECT_FALSE(answer_command("/pmdnet/ports", "x", s));
  EXPECT_FALSE(answer_command("/pmdnet/workers", "-1", s));
  EXPECT_FALSE(command_accepts("/pmdnet/port", std::nullopt));
  EXPECT_FALSE(command_accepts("/pmdnet/ports", "1,2"));
  EXPECT_TRUE(command_accepts("/pmdnet/port", "nope"));  // the port is looked up later
  EXPECT_TRUE(command_accepts("/pmdnet/info", "ignored"));
}

TEST(CommandsTest, NamesAreDistinctAndValid) {
  std::set<std::string> names;
  for (const CommandSpec& c : kCommands) {
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    EXPECT_EQ(sanitize_name(c.name), c.name);
    EXPECT_TRUE(std::string_view(c.name).starts_with("/pmdnet/"));
  }
}

}  // namespace
}  // namespace pmdnet::telemetry
