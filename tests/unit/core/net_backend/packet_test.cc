// Tests of the seed's data types: bit layouts, TCI conversion, defaults, and the segment-list
// helpers packet_count, next_packet and linearize on good and malformed lists.
#include "core/net_backend/packet.h"

#include <gtest/gtest.h>

#include <numeric>

#include "core/net_backend/endpoint.h"
#include "tests/unit/core/net_backend/test_buffer_access.h"

namespace pmdnet {
namespace {

using testing::TestBufferAccess;
using testing::TestGuestMemory;

TEST(Constants, MatchTheSeed) {
  EXPECT_EQ(ETHERNET_HEADER_LEN, 14u);
  EXPECT_EQ(ETHERNET_VLAN_HEADER_LEN, 18u);
  EXPECT_EQ(IPV4_MIN_HEADER_LEN, 20u);
  EXPECT_EQ(IPV6_MIN_HEADER_LEN, 40u);
}

TEST(TxFlags, EachFlagHasTheSeedBitPosition) {
  EXPECT_EQ(TxFlags().with_offload_ip_header_checksum(true).into_bits(), 1u << 0);
  EXPECT_EQ(TxFlags().with_offload_tcp_checksum(true).into_bits(), 1u << 1);
  EXPECT_EQ(TxFlags().with_offload_udp_checksum(true).into_bits(), 1u << 2);
  EXPECT_EQ(TxFlags().with_offload_tcp_segmentation(true).into_bits(), 1u << 3);
  EXPECT_EQ(TxFlags().with_is_ipv4(true).into_bits(), 1u << 4);
  EXPECT_EQ(TxFlags().with_is_ipv6(true).into_bits(), 1u << 5);
  EXPECT_EQ(TxFlags().with_offload_udp_segmentation(true).into_bits(), 1u << 6);
}

TEST(TxFlags, GettersReadTheirOwnBitOnly) {
  for (unsigned bits = 0; bits < 256; ++bits) {
    TxFlags f = TxFlags::from_bits(static_cast<uint8_t>(bits));
    EXPECT_EQ(f.into_bits(), bits);
    EXPECT_EQ(f.offload_ip_header_checksum(), (bits >> 0) & 1);
    EXPECT_EQ(f.offload_tcp_checksum(), (bits >> 1) & 1);
    EXPECT_EQ(f.offload_udp_checksum(), (bits >> 2) & 1);
    EXPECT_EQ(f.offload_tcp_segmentation(), (bits >> 3) & 1);
    EXPECT_EQ(f.is_ipv4(), (bits >> 4) & 1);
    EXPECT_EQ(f.is_ipv6(), (bits >> 5) & 1);
    EXPECT_EQ(f.offload_udp_segmentation(), (bits >> 6) & 1);
  }
}

TEST(TxFlags, ClearingAFlagLeavesTheOthersAndTheReservedBit) {
  TxFlags all = TxFlags::from_bits(0xff);
  EXPECT_EQ(all.with_is_ipv4(false).into_bits(), 0xffu & ~(1u << 4));
  EXPECT_EQ(all.with_offload_udp_segmentation(false).into_bits(), 0xffu & ~(1u << 6));
  EXPECT_EQ(TxFlags().into_bits(), 0u);
}

TEST(VlanMetadata, SeedBitLayout) {
  EXPECT_EQ(VlanMetadata().with_priority(7).into_bits(), 0x0007u);
  EXPECT_EQ(VlanMetadata().with_drop_eligible_indicator(true).into_bits(), 0x0008u);
  EXPECT_EQ(VlanMetadata().with_vlan_id(0xfff).into_bits(), 0xfff0u);
  VlanMetadata v = VlanMetadata::from_bits(0x1235);
  EXPECT_EQ(v.priority(), 5);
  EXPECT_FALSE(v.drop_eligible_indicator());
  EXPECT_EQ(v.vlan_id(), 0x123);
}

TEST(VlanMetadata, OutOfRangeValuesDoNotSpillIntoNeighbours) {
  VlanMetadata v = VlanMetadata().with_vlan_id(0x0abc).with_priority(0xff);
  EXPECT_EQ(v.priority(), 7);
  EXPECT_EQ(v.vlan_id(), 0xabc);
  EXPECT_FALSE(v.drop_eligible_indicator());
  v = VlanMetadata().with_priority(3).with_vlan_id(0xffff);
  EXPECT_EQ(v.vlan_id(), 0xfff);
  EXPECT_EQ(v.priority(), 3);
  EXPECT_FALSE(v.drop_eligible_indicator());
}

TEST(VlanMetadata, TciLayoutIsPcpDeiVid) {
  VlanMetadata v =
      VlanMetadata().with_priority(5).with_drop_eligible_indicator(true).with_vlan_id(100);
  EXPECT_EQ(v.to_tci(), (5u << 13) | (1u << 12) | 100u);
  VlanMetadata w = VlanMetadata::from_tci(0xe00a);  // PCP 7, DEI 0, VID 10
  EXPECT_EQ(w.priority(), 7);
  EXPECT_FALSE(w.drop_eligible_indicator());
  EXPECT_EQ(w.vlan_id(), 10);
}

TEST(VlanMetadata, EveryTciRoundTrips) {
  for (uint32_t tci = 0; tci <= 0xffff; ++tci) {
    VlanMetadata v = VlanMetadata::from_tci(static_cast<uint16_t>(tci));
    ASSERT_EQ(v.to_tci(), tci);
    ASSERT_EQ(VlanMetadata::from_bits(v.into_bits()), v);
  }
}

TEST(RxChecksumState, IsValid) {
  EXPECT_FALSE(is_valid(RxChecksumState::Unknown));
  EXPECT_TRUE(is_valid(RxChecksumState::Good));
  EXPECT_FALSE(is_valid(RxChecksumState::Bad));
  EXPECT_TRUE(is_valid(RxChecksumState::ValidatedButWrong));
}

TEST(Defaults, RxMetadata) {
  RxMetadata m;
  EXPECT_EQ(m.offset, 0u);
  EXPECT_EQ(m.len, 0u);
  EXPECT_EQ(m.ip_checksum, RxChecksumState::Unknown);
  EXPECT_EQ(m.l4_checksum, RxChecksumState::Unknown);
  EXPECT_EQ(m.l4_protocol, L4Protocol::Unknown);
  EXPECT_FALSE(m.vlan.has_value());
  EXPECT_EQ(m.l3_protocol, L3Protocol::Unknown);
  EXPECT_EQ(m.l2_len, 0);
  EXPECT_EQ(m.l3_len, 0);
  EXPECT_EQ(m.l4_len, 0);
  EXPECT_EQ(m.gso_size, 0);
}

TEST(Defaults, TxMetadata) {
  TxMetadata m;
  EXPECT_EQ(m.id, TxId{0});
  EXPECT_EQ(m.segment_count, 0);
  EXPECT_EQ(m.flags.into_bits(), 0);
  EXPECT_EQ(m.len, 0u);
  EXPECT_EQ(m.l2_len, 0);
  EXPECT_EQ(m.l3_len, 0);
  EXPECT_EQ(m.l4_len, 0);
  EXPECT_EQ(m.transport_header_offset, 0);
  EXPECT_EQ(m.max_segment_size, 0);
  EXPECT_FALSE(m.vlan.has_value());
}

TEST(Defaults, CapabilityTypes) {
  EXPECT_EQ(MultiQueueSupport{}, (MultiQueueSupport{1, 0}));
  TxOffloadSupport t;
  EXPECT_FALSE(t.ipv4_header || t.tcp || t.udp || t.tso || t.uso);
  RxOffloadSupport r;
  EXPECT_FALSE(r.checksum || r.coalesced_tcp || r.coalesced_udp);
  EXPECT_EQ(QueueConfig{}.numa_socket, QueueConfig::kAnySocket);
  RssConfig rss;
  EXPECT_TRUE(rss.key.empty());
  EXPECT_TRUE(rss.indirection_table.empty());
  EXPECT_EQ(rss.flags, 0u);
}

TEST(Defaults, EndpointActionEquality) {
  EXPECT_EQ(EndpointAction::restart_required(), EndpointAction::restart_required());
  EXPECT_EQ(EndpointAction::link_status_notify(true), EndpointAction::link_status_notify(true));
  EXPECT_NE(EndpointAction::link_status_notify(true), EndpointAction::link_status_notify(false));
  EXPECT_NE(EndpointAction::restart_required(), EndpointAction::link_status_notify(false));
}

// An endpoint and a queue that override only what they must, to see the seed's defaults.
class MinimalEndpoint final : public Endpoint {
 public:
  std::string_view endpoint_type() const noexcept override { return "minimal"; }
  Result<void> get_queues(std::span<const QueueConfig>, const RssConfig*,
                          std::vector<std::unique_ptr<Queue>>&) override {
    return {};
  }
  void stop() override {}
};

class MinimalQueue final : public Queue {
 public:
  bool poll_ready(BufferAccess&) noexcept override { return false; }
  void rx_avail(BufferAccess&, std::span<const RxId>) noexcept override {}
  QueueResult<size_t> rx_poll(BufferAccess&, std::span<RxId>) noexcept override { return 0; }
  QueueResult<TxAvailResult> tx_avail(BufferAccess&, std::span<const TxSegment>) noexcept override {
    return TxAvailResult{};
  }
  std::expected<size_t, TxError> tx_poll(BufferAccess&, std::span<TxId>) noexcept override {
    return 0;
  }
};

class MinimalStats final : public BackendQueueStats {
 public:
  uint64_t rx_errors() const noexcept override { return 1; }
  uint64_t tx_errors() const noexcept override { return 2; }
  uint64_t rx_packets() const noexcept override { return 3; }
  uint64_t tx_packets() const noexcept override { return 4; }
};

TEST(Defaults, EndpointInterface) {
  MinimalEndpoint e;
  EXPECT_FALSE(e.is_ordered());
  EXPECT_EQ(e.tx_offload_support(), TxOffloadSupport{});
  EXPECT_EQ(e.rx_offload_support(), RxOffloadSupport{});
  EXPECT_EQ(e.multiqueue_support(), (MultiQueueSupport{1, 0}));
  EXPECT_FALSE(e.tx_fast_completions());
  EXPECT_EQ(e.link_speed(), 10'000'000'000ull);
  auto set = e.set_data_path_to_guest_vf(true);
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(set.error().code, Errc::kUnsupported);
  EXPECT_EQ(set.error().message, "Unsupported in current endpoint");
  auto get = e.get_data_path_to_guest_vf();
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.error().code, Errc::kUnsupported);
  EXPECT_FALSE(e.poll_endpoint_action().has_value());
  EXPECT_EQ(e.endpoint_action_fd(), -1);
}

TEST(Defaults, QueueAndStatsInterfaces) {
  MinimalQueue q;
  EXPECT_EQ(q.queue_stats(), nullptr);
  q.update_target_vp(3);  // a hint with no effect by default; must not crash
  MinimalStats s;
  EXPECT_EQ(s.tx_vlan_packets(), 0u);
  EXPECT_EQ(s.rx_vlan_packets(), 0u);
  EXPECT_EQ(s.rx_errors() + s.tx_errors() + s.rx_packets() + s.tx_packets(), 10u);
}

// Records the order of the calls that write_packet's default makes.
class RecordingBufferAccess final : public BufferAccess {
 public:
  const GuestMemory& guest_memory() const noexcept override { return mem_; }
  void write_data(RxId id, std::span<const uint8_t> data) noexcept override {
    calls.push_back("data:" + std::to_string(id.value) + ":" + std::to_string(data.size()));
  }
  void push_guest_addresses(RxId, std::vector<RxBufferSegment>&) const override {}
  uint32_t capacity(RxId) const noexcept override { return 0; }
  void write_header(RxId id, const RxMetadata& m) noexcept override {
    calls.push_back("header:" + std::to_string(id.value) + ":" + std::to_string(m.len));
  }
  std::vector<std::string> calls;

 private:
  GuestMemory mem_;
};

TEST(Defaults, WritePacketWritesDataThenHeader) {
  RecordingBufferAccess pool;
  std::vector<uint8_t> data(9);
  pool.write_packet(RxId{4}, RxMetadata{.len = 9}, data);
  EXPECT_EQ(pool.calls, (std::vector<std::string>{"data:4:9", "header:4:9"}));
}

TxMetadata meta(uint32_t id, uint8_t count, uint32_t len) {
  return TxMetadata{.id = TxId{id}, .segment_count = count, .len = len};
}

TEST(SegmentList, CountsAndSplitsWellFormedLists) {
  std::vector<TxSegment> segs = {
      TxSegment::make_head(meta(1, 1, 10), 0x1000, 10),
      TxSegment::make_head(meta(2, 3, 30), 0x2000, 10),
      TxSegment::make_tail(0x3000, 10),
      TxSegment::make_tail(0x4000, 10),
      TxSegment::make_head(meta(3, 2, 20), 0x5000, 10),
      TxSegment::make_tail(0x6000, 10),
  };
  EXPECT_EQ(packet_count(segs), 3u);
  EXPECT_EQ(packet_count({}), 0u);

  auto p = next_packet(segs);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->metadata->id, TxId{1});
  EXPECT_EQ(p->segments.size(), 1u);
  EXPECT_EQ(p->rest.size(), 5u);
  p = next_packet(p->rest);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->metadata->id, TxId{2});
  ASSERT_EQ(p->segments.size(), 3u);
  EXPECT_EQ(p->segments[2].gpa, 0x4000u);
  p = next_packet(p->rest);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->metadata->id, TxId{3});
  EXPECT_TRUE(p->rest.empty());
}

struct MalformedCase {
  const char* name;
  std::vector<TxSegment> segments;
  PacketError error;
};

class MalformedSegmentList : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedSegmentList, IsAnErrorNotACrash) {
  const auto& c = GetParam();
  auto count = packet_count(c.segments);
  ASSERT_FALSE(count.has_value());
  EXPECT_EQ(count.error(), c.error);
  // next_packet fails on the first bad packet: skip the good ones first.
  std::span<const TxSegment> s = c.segments;
  std::expected<TxPacket, PacketError> p;
  while ((p = next_packet(s))) s = p->rest;
  EXPECT_EQ(p.error(), c.error);
  // linearize leaves the list where the malformed packet starts.
  TestGuestMemory g({0x1000}, 0x1000);
  std::vector<uint8_t> out;
  std::span<const TxSegment> before = s;
  auto l = linearize(g.mem(), s, out);
  ASSERT_FALSE(l.has_value());
  EXPECT_EQ(l.error(), c.error);
  EXPECT_EQ(s.data(), before.data());
  EXPECT_FALSE(to_string(c.error).empty());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedSegmentList,
    ::testing::Values(
        MalformedCase{"TailFirst", {TxSegment::make_tail(0x1000, 1)}, PacketError::kTailFirst},
        MalformedCase{
            "TailAfterCompletePacket",
            {TxSegment::make_head(meta(1, 1, 1), 0x1000, 1), TxSegment::make_tail(0x1000, 1)},
            PacketError::kTailFirst},
        MalformedCase{"ZeroSegmentCount",
                      {TxSegment::make_head(meta(1, 0, 1), 0x1000, 1)},
                      PacketError::kZeroSegmentCount},
        MalformedCase{
            "CountPastEnd",
            {TxSegment::make_head(meta(1, 3, 2), 0x1000, 1), TxSegment::make_tail(0x1001, 1)},
            PacketError::kSegmentCountPastEnd},
        MalformedCase{"MaxCountPastEnd",
                      {TxSegment::make_head(meta(1, 255, 1), 0x1000, 1)},
                      PacketError::kSegmentCountPastEnd},
        MalformedCase{"HeadInsideTail",
                      {TxSegment::make_head(meta(1, 2, 2), 0x1000, 1),
                       TxSegment::make_head(meta(2, 1, 1), 0x1001, 1)},
                      PacketError::kHeadInsideTail}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(SegmentList, NextPacketOnEmptyList) {
  auto p = next_packet({});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error(), PacketError::kEmpty);
}

TEST(Linearize, GathersSegmentsAcrossRegions) {
  // Two adjacent regions backed by separate host buffers, and a third after a gap.
  TestGuestMemory g({0x10000, 0x11000, 0x20000}, 0x1000);
  std::vector<uint8_t> payload(0x1800);
  std::iota(payload.begin(), payload.end(), uint8_t{1});
  // One segment straddles the 0x11000 edge; a second lives in the third region.
  ASSERT_TRUE(g.mem().write_at(0x10c00, std::span(payload).first(0x1000)));
  ASSERT_TRUE(g.mem().write_at(0x20100, std::span(payload).subspan(0x1000)));
  std::vector<TxSegment> segs = {
      TxSegment::make_head(meta(7, 2, 0x1800), 0x10c00, 0x1000),
      TxSegment::make_tail(0x20100, 0x800),
      TxSegment::make_head(meta(8, 1, 4), 0x20000, 4),
  };
  std::span<const TxSegment> s = segs;
  std::vector<uint8_t> out;
  ASSERT_TRUE(linearize(g.mem(), s, out));
  EXPECT_EQ(out, payload);
  EXPECT_EQ(s.size(), 1u);
  TestBufferAccess pool(g.mem());  // the BufferAccess overload reads the same memory
  ASSERT_TRUE(linearize(pool, s, out));
  EXPECT_EQ(out.size(), 4u);
  EXPECT_TRUE(s.empty());
}

TEST(Linearize, LengthMismatchSkipsThePacket) {
  TestGuestMemory g({0x1000}, 0x1000);
  std::vector<TxSegment> segs = {
      TxSegment::make_head(meta(1, 2, 100), 0x1000, 10),  // 10 + 10 != 100
      TxSegment::make_tail(0x1100, 10),
      TxSegment::make_head(meta(2, 1, 5), 0x1000, 5),
  };
  std::span<const TxSegment> s = segs;
  std::vector<uint8_t> out;
  auto r = linearize(g.mem(), s, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), PacketError::kLengthMismatch);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_TRUE(linearize(g.mem(), s, out));
}

TEST(Linearize, SegmentOutsideGuestMemorySkipsThePacket) {
  TestGuestMemory g({0x1000}, 0x1000);
  std::vector<TxSegment> segs = {
      TxSegment::make_head(meta(1, 2, 20), 0x1000, 10),
      TxSegment::make_tail(0x1ffa, 10),  // runs 4 bytes past the region
      TxSegment::make_head(meta(2, 1, 1), 0xffff'ffff'ffff'ffffull, 1),  // unmapped top byte
  };
  std::span<const TxSegment> s = segs;
  std::vector<uint8_t> out;
  auto r = linearize(g.mem(), s, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), PacketError::kGuestMemory);
  ASSERT_EQ(s.size(), 1u);
  r = linearize(g.mem(), s, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), PacketError::kGuestMemory);
  EXPECT_TRUE(s.empty());
}

TEST(Linearize, ReusesTheOutputBuffer) {
  TestGuestMemory g({0x1000}, 0x1000);
  std::vector<TxSegment> segs = {TxSegment::make_head(meta(1, 1, 64), 0x1000, 64),
                                 TxSegment::make_head(meta(2, 1, 16), 0x1000, 16)};
  std::span<const TxSegment> s = segs;
  std::vector<uint8_t> out;
  ASSERT_TRUE(linearize(g.mem(), s, out));
  const uint8_t* storage = out.data();
  ASSERT_TRUE(linearize(g.mem(), s, out));
  EXPECT_EQ(out.size(), 16u);
  EXPECT_EQ(out.data(), storage);
}

TEST(Linearize, ZeroLengthPacket) {
  TestGuestMemory g({0x1000}, 0x1000);
  std::vector<TxSegment> segs = {TxSegment::make_head(meta(1, 1, 0), 0x9999'0000, 0)};
  std::span<const TxSegment> s = segs;
  std::vector<uint8_t> out(3);
  ASSERT_TRUE(linearize(g.mem(), s, out));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace pmdnet
