// Tests of the snapshot helpers: port_total, the drop and error groupings, summarize,
// busy_percent and cycles_per_packet.
#include "daemon/telemetry/snapshot.h"

#include <gtest/gtest.h>

#include "tests/unit/daemon/telemetry/sample_snapshot.h"

namespace pmdnet::telemetry {
namespace {

using testing::sample_port;
using testing::sample_snapshot;

TEST(PortTotalTest, SumsGuestCountersOverQueuePairs) {
  const PortSnapshot p = sample_port("vm1", 3, 2);
  // guest_tx_packets = 1000 * seed + index.
  EXPECT_EQ(port_total(p, "guest_tx_packets"), 3 * 2000u + 0 + 1 + 2);
  EXPECT_EQ(port_total(p, "drop_rx_no_buffers"), 3 * 2u);
}

TEST(PortTotalTest, SumsBackendCountersToo) {
  const PortSnapshot p = sample_port("vm1", 2, 1);
  EXPECT_EQ(port_total(p, "rx_errors"), 2u);
  EXPECT_EQ(port_total(p, "tx_sw_tso"), 10u);
}

TEST(PortTotalTest, AddsANameFoundInBothListsAndRepeatedInOne) {
  PortSnapshot p;
  QueuePairSnapshot qp;
  qp.guest = {{"x", 1}, {"x", 2}};
  qp.backend = {{"x", 4}};
  p.queue_pairs = {qp, qp};
  EXPECT_EQ(port_total(p, "x"), 14u);
}

TEST(PortTotalTest, UnknownNameAndNoQueuePairsGiveZero) {
  EXPECT_EQ(port_total(sample_port("vm1", 2, 1), "no_such_counter"), 0u);
  EXPECT_EQ(port_total(sample_port("idle", 0, 1), "guest_tx_packets"), 0u);
  EXPECT_EQ(port_total(PortSnapshot{}, ""), 0u);
}

TEST(PortTotalTest, IsExactNotPrefix) {
  PortSnapshot p;
  QueuePairSnapshot qp;
  qp.guest = {{"guest_tx_packets", 1}, {"guest_tx_packets_extra", 100}};
  p.queue_pairs = {qp};
  EXPECT_EQ(port_total(p, "guest_tx_packets"), 1u);
  EXPECT_EQ(port_total(p, "guest_tx"), 0u);
}

TEST(CounterGroupsTest, ClassifiesByPrefix) {
  EXPECT_TRUE(is_drop_counter("drop_rx_no_buffers"));
  EXPECT_FALSE(is_drop_counter("rx_drop"));
  EXPECT_FALSE(is_drop_counter("drops"));
  EXPECT_TRUE(is_guest_error_counter("tx_header_bad_tcp_header"));
  EXPECT_TRUE(is_guest_error_counter("tx_ring_head_in_use"));
  EXPECT_TRUE(is_guest_error_counter("rx_ring_chain_too_long"));
  EXPECT_FALSE(is_guest_error_counter("backend_errors"));
  EXPECT_FALSE(is_guest_error_counter("rx_errors"));
  EXPECT_FALSE(is_guest_error_counter("drop_tx_bad_header"));
}

TEST(CounterGroupsTest, QueuePairSums) {
  const QueuePairSnapshot qp = testing::sample_queue_pair(0, 1, 4);
  EXPECT_EQ(queue_pair_drops(qp), 4u);                // drop_rx_no_buffers
  EXPECT_EQ(queue_pair_guest_errors(qp), 8u + 1u);    // tx_header_bad_tcp_header + head_in_use
  EXPECT_EQ(queue_pair_backend_errors(qp), 1u + 1u);  // backend_errors (4 % 3) + rx_errors
}

TEST(SummarizeTest, SumsThePortsQueuePairs) {
  const DaemonSnapshot s = sample_snapshot(1);
  const PortSummary a = summarize(s.ports[0]);
  EXPECT_EQ(a.name, "vm1");
  EXPECT_EQ(a.backend, "dpdk");
  EXPECT_TRUE(a.connected);
  EXPECT_TRUE(a.link_up);
  EXPECT_EQ(a.queue_pairs, 2u);
  EXPECT_EQ(a.guest_tx_packets, port_total(s.ports[0], "guest_tx_packets"));
  EXPECT_EQ(a.guest_tx_packets, 2001u);
  EXPECT_EQ(a.guest_tx_bytes, 3000001u);
  EXPECT_EQ(a.guest_rx_packets, 4001u);
  EXPECT_EQ(a.guest_rx_bytes, 6000001u);
  EXPECT_EQ(a.drops, 2u);
  EXPECT_EQ(a.guest_errors, 2u * (2 + 1));
  EXPECT_EQ(a.backend_errors, 2u * (1 + 1));

  const PortSummary b = summarize(s.ports[1]);
  EXPECT_EQ(b, (PortSummary{"vm-2.eth0", "loopback", false, true}));
}

TEST(BusyPercentTest, ShareOfCycles) {
  EXPECT_DOUBLE_EQ(busy_percent(WorkerSnapshot{1, "busy", 300, 100, 1, 1}), 75.0);
  EXPECT_DOUBLE_EQ(busy_percent(WorkerSnapshot{1, "busy", 0, 100, 1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(busy_percent(WorkerSnapshot{1, "busy", 5, 0, 1, 1}), 100.0);
  EXPECT_DOUBLE_EQ(busy_percent(WorkerSnapshot{}), 0.0);
}

TEST(CyclesPerPacketTest, BusyCyclesOverPackets) {
  EXPECT_DOUBLE_EQ(cycles_per_packet(WorkerSnapshot{1, "busy", 300, 100, 1, 1, 200}), 1.5);
  EXPECT_DOUBLE_EQ(cycles_per_packet(WorkerSnapshot{1, "busy", 300, 100, 1, 1, 0}), 0.0);
  EXPECT_DOUBLE_EQ(cycles_per_packet(WorkerSnapshot{1, "busy", 0, 100, 1, 1, 7}), 0.0);
  EXPECT_DOUBLE_EQ(cycles_per_packet(WorkerSnapshot{}), 0.0);
}

}  // namespace
}  // namespace pmdnet::telemetry
