// Tests of pmdnetctl's output: table rendering, SI numbers, each command's table, and the rates
// `watch` computes (deltas, counter resets, new ports, zero time) with their text and JSON.
#include "daemon/pmdnetctl/format.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "tests/unit/daemon/telemetry/sample_snapshot.h"

namespace pmdnet::ctl {
namespace {

using telemetry::PortSummary;
using telemetry::testing::sample_snapshot;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    out.push_back(text.substr(start, nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

TEST(RenderTableTest, PadsAlignsAndTrimsTrailingBlanks) {
  Table t;
  t.header = {"NAME", "N", "NOTE"};
  t.align = {Align::kLeft, Align::kRight};
  t.rows = {{"a", "1", "x"}, {"long-name", "12345", ""}, {"short"}};
  EXPECT_EQ(render_table(t),
            "NAME           N  NOTE\n"
            "a              1  x\n"
            "long-name  12345\n"
            "short\n");
}

TEST(RenderTableTest, NoHeaderAndWideRows) {
  Table t;
  t.rows = {{"a", "b"}, {"ccc", "d", "extra"}};
  EXPECT_EQ(render_table(t), "a    b\nccc  d  extra\n");
  EXPECT_EQ(render_table(Table{}), "");
}

TEST(HumanSiTest, ThreeSignificantDigits) {
  EXPECT_EQ(human_si(0), "0");
  EXPECT_EQ(human_si(-5), "0");
  EXPECT_EQ(human_si(0.4), "0");
  EXPECT_EQ(human_si(7), "7");
  EXPECT_EQ(human_si(999), "999");
  EXPECT_EQ(human_si(999.6), "1.00k");
  EXPECT_EQ(human_si(1234), "1.23k");
  EXPECT_EQ(human_si(12345), "12.3k");
  EXPECT_EQ(human_si(123456), "123k");
  EXPECT_EQ(human_si(9.87e9), "9.87G");
  EXPECT_EQ(human_si(1e12), "1.00T");
  EXPECT_EQ(human_si(5e18), "5000P");
  EXPECT_EQ(human_si(std::numeric_limits<double>::infinity()), "0");
}

TEST(FormatTest, Info) {
  const std::string text = format_info(DaemonInfo{"0.1.0", 2'400'000'000, 3, 1, 2, 1, 2, 2});
  EXPECT_EQ(text,
            "version      0.1.0\n"
            "tsc_hz       2400000000\n"
            "reloads      3 (1 failed)\n"
            "ports        2 (1 connected)\n"
            "queue pairs  2\n"
            "workers      2\n");
}

TEST(FormatTest, Ports) {
  const auto s = sample_snapshot();
  const std::string text = format_ports({summarize(s.ports[0]), summarize(s.ports[1])});
  EXPECT_EQ(text,
            "PORT       BACKEND   GUEST      LINK  QPS  GUEST TX PKTS  GUEST RX PKTS  DROPS  "
            "ERRORS\n"
            "vm1        dpdk      connected  up      2           2001           4001      2      "
            "10\n"
            "vm-2.eth0  loopback  -          up      0              0              0      0       "
            "0\n");
  EXPECT_EQ(format_ports({}), "no ports\n");
}

TEST(FormatTest, PortHasEveryCounterPerQueuePair) {
  const auto s = sample_snapshot();
  const std::string text = format_port(s.ports[0], false);
  const auto lines = lines_of(text);
  EXPECT_EQ(lines[0], "port         vm1");
  EXPECT_EQ(lines[1], "socket       /run/pmdnet/vm1.sock (server)");
  EXPECT_EQ(lines[2], "backend      dpdk net_null0");
  EXPECT_EQ(lines[3], "guest        connected");
  EXPECT_EQ(lines[4], "link         up, 10.0Gbit/s (1 changes, device configured 5 times)");
  EXPECT_EQ(lines[5], "connections  2 (1 refused)");
  EXPECT_EQ(lines[6], "sessions     3 started, 2 stopped, 0 restarts, 4 packed rings resumed");
  EXPECT_EQ(lines[7], "announced    7 RARP sent, 1 given up");
  EXPECT_EQ(lines[8], "refused      4 starts, 5 messages, 6 memory faults");
  EXPECT_EQ(lines[9], "rss table    0 1 1 0 (repeated, 8 entries)");
  EXPECT_EQ(lines[10], "queue pairs  2 running");
  EXPECT_EQ(lines[11], "");
  EXPECT_EQ(lines[12], "GUEST                                 TOTAL     QP 0     QP 1");
  EXPECT_EQ(lines[13], "worker lcore                                       1        2");
  EXPECT_EQ(lines[14], "guest_tx_packets                       2001     1000     1001");
  // Every counter of both lists has a row.
  for (const auto& c : s.ports[0].queue_pairs[0].guest) {
    EXPECT_NE(text.find("\n" + c.name + " "), std::string::npos) << c.name;
  }
  for (const auto& c : s.ports[0].queue_pairs[0].backend) {
    EXPECT_NE(text.find("\n" + c.name + " "), std::string::npos) << c.name;
  }
  EXPECT_NE(text.find("\nBACKEND "), std::string::npos);
  EXPECT_NE(text.find("\ntx_sw_tso           10     5     5\n"), std::string::npos) << text;
}

TEST(FormatTest, RetaTextShowsWhatTheTableRepeats) {
  EXPECT_EQ(reta_text({}), "-");
  const std::vector<uint16_t> four{0, 1, 2, 3};
  EXPECT_EQ(reta_text(four), "0 1 2 3 (4 entries)");
  std::vector<uint16_t> spread(128);
  for (size_t i = 0; i < spread.size(); ++i) spread[i] = static_cast<uint16_t>(i % 2);
  EXPECT_EQ(reta_text(spread), "0 1 (repeated, 128 entries)");
  EXPECT_EQ(reta_text(std::vector<uint16_t>(512, 3)), "3 (repeated, 512 entries)");
  // A period that is not a power of two does not count as one: the whole table is shown.
  const std::vector<uint16_t> three{0, 1, 2, 0, 1, 2, 0, 1};
  EXPECT_EQ(reta_text(three), "0 1 2 0 1 2 0 1 (8 entries)");
  // Long periods are cut at 64 entries.
  std::vector<uint16_t> ramp(128);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<uint16_t>(i);
  const std::string text = reta_text(ramp);
  EXPECT_TRUE(text.starts_with("0 1 2 3 ")) << text;
  EXPECT_TRUE(text.ends_with(" 62 63 ... (128 entries)")) << text;
}

TEST(FormatTest, PortShowsTheRingsTheGuestNegotiated) {
  auto p = sample_snapshot().ports[0];
  EXPECT_EQ(lines_of(format_port(p, false))[3], "guest        connected");
  p.ring_layout = "packed";
  p.in_order = true;
  EXPECT_EQ(lines_of(format_port(p, false))[3], "guest        connected (packed rings, in order)");
  p.ring_layout = "split";
  p.in_order = false;
  EXPECT_EQ(lines_of(format_port(p, false))[3], "guest        connected (split rings)");
  p.connected = false;
  EXPECT_EQ(lines_of(format_port(p, false))[3], "guest        not connected");
}

TEST(FormatTest, PortNonzeroOnlyDropsZeroRows) {
  const auto s = sample_snapshot();
  const std::string all = format_port(s.ports[0], false);
  const std::string nonzero = format_port(s.ports[0], true);
  EXPECT_NE(all.find("rx_ring_head_in_use"), std::string::npos);
  EXPECT_EQ(nonzero.find("rx_ring_head_in_use"), std::string::npos);
  EXPECT_NE(nonzero.find("tx_ring_head_in_use"), std::string::npos);
  EXPECT_NE(nonzero.find("worker lcore"), std::string::npos);
}

TEST(FormatTest, PortWithoutQueuePairsOrWithGaps) {
  auto s = sample_snapshot();
  s.ports[1].link_speed_bps = 0;
  s.ports[1].link_changes = 0;
  const std::string idle = format_port(s.ports[1], false);
  EXPECT_NE(idle.find("queue pairs  0 running"), std::string::npos);
  EXPECT_EQ(idle.find("GUEST "), std::string::npos);
  EXPECT_NE(idle.find("backend      loopback\n"), std::string::npos);
  EXPECT_NE(idle.find("link         up (0 changes, device configured 5 times)"), std::string::npos)
      << idle;

  // A counter only one pair reports shows "-" for the others; lcore -1 shows "none".
  auto p = s.ports[0];
  p.queue_pairs[1].guest.push_back({"only_on_qp1", 5});
  p.queue_pairs[0].worker_lcore = -1;
  const std::string text = format_port(p, false);
  EXPECT_NE(text.find("only_on_qp1                               5        -        5"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("worker lcore                                    none        2"),
            std::string::npos)
      << text;
  p.link_up = false;
  EXPECT_NE(format_port(p, false).find("link         down (1 changes, device configured 5 times)"),
            std::string::npos);
}

TEST(FormatTest, Workers) {
  const auto s = sample_snapshot();
  EXPECT_EQ(format_workers(s.workers),
            "LCORE  IDLE      QUEUE PAIRS  PASSES  BUSY %  PACKETS  CYCLES/PKT\n"
            "    1  busy                2    5000    75.0      200         1.5\n"
            "    2  adaptive            0       0     0.0        0           -\n");
  EXPECT_EQ(format_workers({}), "no workers\n");
}

PortSummary summary(std::string name, uint64_t tx_pkts, uint64_t tx_bytes, uint64_t rx_pkts,
                    uint64_t rx_bytes, uint64_t drops) {
  PortSummary s;
  s.name = std::move(name);
  s.guest_tx_packets = tx_pkts;
  s.guest_tx_bytes = tx_bytes;
  s.guest_rx_packets = rx_pkts;
  s.guest_rx_bytes = rx_bytes;
  s.drops = drops;
  return s;
}

TEST(RatesTest, DeltasOverTheInterval) {
  const auto rates = compute_rates({summary("a", 100, 1000, 10, 100, 0)},
                                   {summary("a", 300, 5000, 20, 300, 4)}, 2.0);
  ASSERT_EQ(rates.size(), 1u);
  EXPECT_EQ(rates[0], (PortRates{"a", true, 100, 16000, 5, 800, 2}));
}

TEST(RatesTest, MatchesByNameAndMarksNewPorts) {
  const auto rates =
      compute_rates({summary("b", 0, 0, 0, 0, 0), summary("gone", 1, 1, 1, 1, 1)},
                    {summary("new", 9, 9, 9, 9, 9), summary("b", 10, 10, 0, 0, 0)}, 1.0);
  ASSERT_EQ(rates.size(), 2u);
  EXPECT_EQ(rates[0].name, "new");
  EXPECT_FALSE(rates[0].valid);
  EXPECT_EQ(rates[0].guest_tx_pps, 0);
  EXPECT_EQ(rates[1].name, "b");
  EXPECT_TRUE(rates[1].valid);
  EXPECT_EQ(rates[1].guest_tx_pps, 10);
  EXPECT_EQ(rates[1].guest_tx_bps, 80);
}

TEST(RatesTest, ACounterThatWentDownCountsFromZero) {
  // The guest reconnected: the sums restarted from zero and are at 50 now.
  const auto rates =
      compute_rates({summary("a", 1000, 1000, 0, 0, 0)}, {summary("a", 50, 100, 0, 0, 0)}, 1.0);
  EXPECT_EQ(rates[0].guest_tx_pps, 50);
  EXPECT_EQ(rates[0].guest_tx_bps, 800);
}

TEST(RatesTest, NoElapsedTimeGivesZeroRates) {
  for (double seconds : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
    const auto rates =
        compute_rates({summary("a", 0, 0, 0, 0, 0)}, {summary("a", 5, 5, 5, 5, 5)}, seconds);
    EXPECT_TRUE(rates[0].valid);
    EXPECT_EQ(rates[0].guest_tx_pps, 0) << seconds;
  }
}

TEST(RatesTest, Text) {
  const std::vector<PortRates> rates = {{"vm1", true, 1.5e6, 12e9, 250, 2000, 0}, {"vm2", false}};
  EXPECT_EQ(format_rates(rates, "12:00:01", 1.0),
            "12:00:01  (1.00 s)\n"
            "PORT  GUEST TX PKT/S  GUEST TX BIT/S  GUEST RX PKT/S  GUEST RX BIT/S  DROPS/S\n"
            "vm1            1.50M           12.0G             250           2.00k        0\n"
            "vm2                -               -               -               -        -\n");
  EXPECT_EQ(format_rates({}, "t", 0.5), "t  (0.50 s)\nno ports\n");
}

TEST(RatesTest, Json) {
  const std::vector<PortRates> rates = {{"vm1", true, 1, 8, 2, 16, 0}, {"vm2", false}};
  const Json j = Json::parse(rates_json(rates, "12:00:01", 1.0));
  EXPECT_EQ(j["time"], "12:00:01");
  EXPECT_EQ(j["interval_s"], 1.0);
  ASSERT_EQ(j["ports"].size(), 2u);
  EXPECT_EQ(j["ports"][0]["name"], "vm1");
  EXPECT_EQ(j["ports"][0]["guest_tx_pps"], 1.0);
  EXPECT_EQ(j["ports"][0]["guest_rx_bps"], 16.0);
  EXPECT_EQ(j["ports"][1]["new"], true);
  EXPECT_EQ(rates_json(rates, "t", 1).find('\n'), std::string::npos);
}

}  // namespace
}  // namespace pmdnet::ctl
