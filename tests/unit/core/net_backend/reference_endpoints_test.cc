// Tests of the reference endpoints: NullEndpoint (drops everything) and LoopbackEndpoint
// (reflects transmits back as receives), driven through a TestBufferAccess over guest memory, and
// the receive offloads each reference endpoint (DisconnectableEndpoint too) reports.
#include <gtest/gtest.h>

#include <chrono>
#include <numeric>

#include "core/base/event_fd.h"
#include "core/net_backend/disconnectable_endpoint.h"
#include "core/net_backend/loopback_endpoint.h"
#include "core/net_backend/null_endpoint.h"
#include "tests/unit/core/net_backend/test_buffer_access.h"

namespace pmdnet {
namespace {

using testing::TestBufferAccess;
using testing::TestGuestMemory;

std::vector<std::unique_ptr<Queue>> make_queues(Endpoint& e, size_t n) {
  std::vector<QueueConfig> config(n);
  std::vector<std::unique_ptr<Queue>> queues;
  EXPECT_TRUE(e.get_queues(config, nullptr, queues));
  return queues;
}

TxMetadata meta(uint32_t id, uint8_t count, uint32_t len) {
  return TxMetadata{.id = TxId{id}, .segment_count = count, .len = len};
}

TEST(NullEndpoint, Capabilities) {
  NullEndpoint e;
  EXPECT_EQ(e.endpoint_type(), "null");
  EXPECT_TRUE(e.is_ordered());
  EXPECT_EQ(e.tx_offload_support(), (TxOffloadSupport{true, true, true, true, true}));
  EXPECT_EQ(e.multiqueue_support(), (MultiQueueSupport{UINT16_MAX, 128}));
  EXPECT_FALSE(e.tx_fast_completions());
  EXPECT_EQ(e.link_speed(), Endpoint::kDefaultLinkSpeed);
  EXPECT_FALSE(e.poll_endpoint_action());
}

TEST(NullEndpoint, QueuesDropEveryTransmitAndNeverReceive) {
  NullEndpoint e;
  auto queues = make_queues(e, 3);
  ASSERT_EQ(queues.size(), 3u);
  TestGuestMemory g({0x1000}, 0x1000);
  TestBufferAccess pool(g.mem());
  Queue& q = *queues[1];
  std::vector<RxId> posted = {RxId{1}, RxId{2}};
  q.rx_avail(pool, posted);
  std::vector<TxSegment> segs = {TxSegment::make_head(meta(1, 2, 20), 0x1000, 10),
                                 TxSegment::make_tail(0x1010, 10),
                                 TxSegment::make_head(meta(2, 1, 5), 0x1000, 5)};
  auto r = q.tx_avail(pool, segs);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (TxAvailResult{.completed_synchronously = true, .segments_consumed = 3}));
  std::vector<RxId> ids(8);
  EXPECT_EQ(q.rx_poll(pool, ids), 0u);
  std::vector<TxId> done(8);
  EXPECT_EQ(q.tx_poll(pool, done), 0u);
  EXPECT_FALSE(q.poll_ready(pool));
  ASSERT_NE(q.queue_stats(), nullptr);
  EXPECT_EQ(q.queue_stats()->tx_packets(), 2u);
  EXPECT_EQ(q.queue_stats()->tx_errors(), 0u);
  EXPECT_EQ(q.queue_stats()->rx_packets(), 0u);
  queues.clear();
  e.stop();
}

TEST(NullEndpoint, ADeviceFrameIsSentAndCounted) {
  NullEndpoint e;
  auto queues = make_queues(e, 1);
  TestGuestMemory g({0x1000}, 0x1000);
  TestBufferAccess pool(g.mem());
  const std::vector<uint8_t> frame(60, 0xab);
  EXPECT_TRUE(queues[0]->tx_frame(pool, frame));
  EXPECT_EQ(queues[0]->queue_stats()->tx_packets(), 1u);
}

TEST(NullEndpoint, MalformedListIsConsumedAndCounted) {
  NullEndpoint e;
  auto queues = make_queues(e, 1);
  TestGuestMemory g({0x1000}, 0x1000);
  TestBufferAccess pool(g.mem());
  std::vector<TxSegment> segs = {TxSegment::make_tail(0x1000, 1)};
  auto r = queues[0]->tx_avail(pool, segs);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->segments_consumed, 1u);
  EXPECT_EQ(queues[0]->queue_stats()->tx_errors(), 1u);
  EXPECT_EQ(queues[0]->queue_stats()->tx_packets(), 0u);
}

TEST(NullEndpoint, ZeroQueuesIsFine) {
  NullEndpoint e;
  EXPECT_TRUE(make_queues(e, 0).empty());
}

class LoopbackTest : public ::testing::Test {
 protected:
  // Guest memory: TX payloads at 0x10000.. (two adjacent regions), RX buffers at 0x40000..
  TestGuestMemory g_{{0x10000, 0x11000, 0x40000}, 0x1000};
  TestBufferAccess pool_{g_.mem()};
  LoopbackEndpoint endpoint_;
  std::vector<std::unique_ptr<Queue>> queues_ = make_queues(endpoint_, 1);
  Queue& q_ = *queues_[0];

  // Posts `n` receive buffers of `size` bytes, each split into two guest segments.
  void post(uint32_t first_id, size_t n, uint32_t size) {
    std::vector<RxId> ids;
    for (size_t i = 0; i < n; ++i) {
      RxId id{first_id + static_cast<uint32_t>(i)};
      uint64_t gpa = 0x40000 + (id.value % 8) * 0x200;
      pool_.add_buffer(id, {{gpa, size / 2}, {gpa + 0x100, size - size / 2}});
      ids.push_back(id);
    }
    q_.rx_avail(pool_, ids);
  }

  std::vector<RxId> poll_rx() {
    std::vector<RxId> ids(16);
    auto n = q_.rx_poll(pool_, ids);
    EXPECT_TRUE(n);
    ids.resize(n.value_or(0));
    return ids;
  }

  std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    std::iota(v.begin(), v.end(), seed);
    return v;
  }
};

TEST_F(LoopbackTest, Capabilities) {
  EXPECT_EQ(endpoint_.endpoint_type(), "loopback");
  EXPECT_TRUE(endpoint_.is_ordered());
  EXPECT_EQ(endpoint_.tx_offload_support(), TxOffloadSupport{});
  EXPECT_EQ(endpoint_.multiqueue_support(), (MultiQueueSupport{UINT16_MAX, 64}));
}

TEST_F(LoopbackTest, PacketsSpanningRegionsComeBackByteExact) {
  post(1, 2, 0x100);
  // Packet 1: 0x60 bytes in three segments, the first straddling the 0x11000 region edge.
  auto p1 = pattern(0x60, 1);
  ASSERT_TRUE(g_.mem().write_at(0x10ff0, std::span(p1).first(0x20)));
  ASSERT_TRUE(g_.mem().write_at(0x11800, std::span(p1).subspan(0x20, 0x30)));
  ASSERT_TRUE(g_.mem().write_at(0x10100, std::span(p1).subspan(0x50)));
  // Packet 2: 0x10 bytes, one segment, VLAN tagged.
  auto p2 = pattern(0x10, 0x80);
  ASSERT_TRUE(g_.mem().write_at(0x10400, p2));
  VlanMetadata vlan = VlanMetadata().with_vlan_id(42).with_priority(3);
  TxMetadata m2 = meta(2, 1, 0x10);
  m2.vlan = vlan;
  std::vector<TxSegment> segs = {
      TxSegment::make_head(meta(1, 3, 0x60), 0x10ff0, 0x20), TxSegment::make_tail(0x11800, 0x30),
      TxSegment::make_tail(0x10100, 0x10), TxSegment::make_head(m2, 0x10400, 0x10)};

  EXPECT_FALSE(q_.poll_ready(pool_));
  auto r = q_.tx_avail(pool_, segs);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (TxAvailResult{.completed_synchronously = true, .segments_consumed = 4}));
  EXPECT_TRUE(q_.poll_ready(pool_));

  auto ids = poll_rx();
  ASSERT_EQ(ids, (std::vector<RxId>{RxId{1}, RxId{2}}));  // in posting order
  EXPECT_FALSE(q_.poll_ready(pool_));
  EXPECT_EQ(pool_.read_back(RxId{1}, 0x60), p1);
  EXPECT_EQ(pool_.read_back(RxId{2}, 0x10), p2);
  EXPECT_TRUE(pool_.all_writes_ok());
  EXPECT_EQ(pool_.header(RxId{1}), (RxMetadata{.offset = 0, .len = 0x60}));
  EXPECT_EQ(pool_.header(RxId{2}), (RxMetadata{.offset = 0, .len = 0x10, .vlan = vlan}));

  const BackendQueueStats& s = *q_.queue_stats();
  EXPECT_EQ(s.tx_packets(), 2u);
  EXPECT_EQ(s.rx_packets(), 2u);
  EXPECT_EQ(s.tx_vlan_packets(), 1u);
  EXPECT_EQ(s.rx_vlan_packets(), 1u);
  EXPECT_EQ(s.tx_errors() + s.rx_errors(), 0u);

  std::vector<TxId> done(4);
  EXPECT_EQ(q_.tx_poll(pool_, done), 0u);  // completions are synchronous
}

TEST_F(LoopbackTest, StopsWhenReceiveBuffersRunOutAndResumes) {
  std::vector<TxSegment> segs;
  for (uint32_t i = 0; i < 5; ++i)
    segs.push_back(TxSegment::make_head(meta(i, 1, 8), 0x10000 + 8 * i, 8));
  auto r = q_.tx_avail(pool_, segs);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->segments_consumed, 0u);  // nothing posted yet

  post(10, 2, 0x40);
  r = q_.tx_avail(pool_, segs);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->segments_consumed, 2u);
  EXPECT_EQ(poll_rx().size(), 2u);

  post(20, 8, 0x40);
  r = q_.tx_avail(pool_, std::span(segs).subspan(2));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->segments_consumed, 3u);
  auto ids = poll_rx();
  EXPECT_EQ(ids, (std::vector<RxId>{RxId{20}, RxId{21}, RxId{22}}));
}

TEST_F(LoopbackTest, ADeviceFrameComesBackInTheNextBuffer) {
  const auto frame = pattern(60, 7);
  EXPECT_FALSE(q_.tx_frame(pool_, frame)) << "no buffer posted yet: try again later";
  EXPECT_TRUE(poll_rx().empty());
  post(30, 2, 0x40);
  ASSERT_TRUE(q_.tx_frame(pool_, frame));
  EXPECT_EQ(poll_rx(), (std::vector<RxId>{RxId{30}}));
  EXPECT_EQ(pool_.read_back(RxId{30}, frame.size()), frame);
  ASSERT_TRUE(pool_.header(RxId{30}));
  EXPECT_EQ(pool_.header(RxId{30})->len, frame.size());
  // Larger than the next buffer: dropped and counted, the buffer kept for the next frame.
  EXPECT_TRUE(q_.tx_frame(pool_, pattern(0x41, 1)));
  EXPECT_EQ(q_.queue_stats()->rx_errors(), 1u);
  EXPECT_TRUE(poll_rx().empty());
  ASSERT_TRUE(q_.tx_frame(pool_, frame));
  EXPECT_EQ(poll_rx(), (std::vector<RxId>{RxId{31}}));
  EXPECT_EQ(q_.queue_stats()->tx_packets(), 2u);
}

TEST_F(LoopbackTest, RxPollHonoursTheCallersSpan) {
  post(1, 4, 0x40);
  std::vector<TxSegment> segs;
  for (uint32_t i = 0; i < 4; ++i) segs.push_back(TxSegment::make_head(meta(i, 1, 8), 0x10000, 8));
  ASSERT_TRUE(q_.tx_avail(pool_, segs));
  std::vector<RxId> two(2);
  EXPECT_EQ(q_.rx_poll(pool_, two), 2u);
  EXPECT_EQ(two, (std::vector<RxId>{RxId{1}, RxId{2}}));
  EXPECT_EQ(q_.rx_poll(pool_, std::span<RxId>()), 0u);
  EXPECT_EQ(poll_rx(), (std::vector<RxId>{RxId{3}, RxId{4}}));
}

TEST_F(LoopbackTest, BadPacketsAreDroppedAndCountedAndTheRestGoThrough) {
  post(1, 3, 0x40);
  std::vector<TxSegment> segs = {
      TxSegment::make_head(meta(1, 1, 8), 0x90000, 8),        // outside guest memory
      TxSegment::make_head(meta(2, 1, 99), 0x10000, 8),       // len disagrees with the segment
      TxSegment::make_head(meta(3, 1, 0x80), 0x10000, 0x80),  // larger than the 0x40 buffer
      TxSegment::make_head(meta(4, 1, 8), 0x10000, 8),        // fine
  };
  auto r = q_.tx_avail(pool_, segs);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->segments_consumed, 4u);
  EXPECT_EQ(poll_rx(), (std::vector<RxId>{RxId{1}}));  // the good packet used the first buffer
  const BackendQueueStats& s = *q_.queue_stats();
  EXPECT_EQ(s.tx_errors(), 2u);
  EXPECT_EQ(s.rx_errors(), 1u);
  EXPECT_EQ(s.tx_packets(), 1u);
}

TEST_F(LoopbackTest, MalformedListIsAnError) {
  post(1, 4, 0x40);
  std::vector<TxSegment> tail_first = {TxSegment::make_tail(0x10000, 8)};
  auto r = q_.tx_avail(pool_, tail_first);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kMalformed);

  // After good packets, the good part is reported consumed and the next call fails.
  std::vector<TxSegment> segs = {TxSegment::make_head(meta(1, 1, 8), 0x10000, 8),
                                 TxSegment::make_head(meta(2, 0, 8), 0x10000, 8)};
  r = q_.tx_avail(pool_, segs);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->segments_consumed, 1u);
  r = q_.tx_avail(pool_, std::span(segs).subspan(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(q_.queue_stats()->tx_errors(), 3u);
}

TEST(LoopbackEndpoint, QueuesAreIndependent) {
  TestGuestMemory g({0x10000}, 0x1000);
  TestBufferAccess pool(g.mem());
  LoopbackEndpoint e;
  auto queues = make_queues(e, 2);
  pool.add_buffer(RxId{1}, {{0x10800, 0x100}});
  std::vector<RxId> one = {RxId{1}};
  queues[1]->rx_avail(pool, one);
  std::vector<TxSegment> segs = {TxSegment::make_head(meta(1, 1, 8), 0x10000, 8)};
  auto r0 = queues[0]->tx_avail(pool, segs);
  ASSERT_TRUE(r0);
  EXPECT_EQ(r0->segments_consumed, 0u);  // queue 0 has no buffers
  auto r1 = queues[1]->tx_avail(pool, segs);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->segments_consumed, 1u);
  EXPECT_FALSE(queues[0]->poll_ready(pool));
  EXPECT_TRUE(queues[1]->poll_ready(pool));
}

// The port manager offers a null or loopback port's guest no receive offload (no GUEST_CSUM,
// GUEST_TSO or GUEST_USO): neither endpoint delivers any.
TEST(ReferenceEndpoints, NullAndLoopbackDeliverNoReceiveOffloads) {
  EXPECT_EQ(NullEndpoint().rx_offload_support(), RxOffloadSupport{});
  EXPECT_EQ(LoopbackEndpoint().rx_offload_support(), RxOffloadSupport{});
}

// A NullEndpoint that says it delivers validated checksums and coalesced TCP frames.
class RxOffloadEndpoint final : public Endpoint {
 public:
  std::string_view endpoint_type() const noexcept override { return "rx-offload"; }
  Result<void> get_queues(std::span<const QueueConfig> config, const RssConfig* rss,
                          std::vector<std::unique_ptr<Queue>>& queues) override {
    return NullEndpoint().get_queues(config, rss, queues);
  }
  void stop() override {}
  RxOffloadSupport rx_offload_support() const noexcept override {
    return {.checksum = true, .coalesced_tcp = true, .coalesced_udp = false};
  }
};

// DisconnectableEndpoint reports the connected endpoint's answer, kept while disconnected like
// its other capabilities; before the first connect, none.
TEST(ReferenceEndpoints, DisconnectableReportsTheConnectedEndpointsReceiveOffloads) {
  using namespace std::chrono_literals;
  auto created = DisconnectableEndpoint::create();
  ASSERT_TRUE(created) << created.error().message;
  DisconnectableEndpoint& e = *created->first;
  DisconnectableEndpointControl& control = created->second;
  EXPECT_EQ(e.rx_offload_support(), RxOffloadSupport{});

  const RxOffloadSupport expected{.checksum = true, .coalesced_tcp = true, .coalesced_udp = false};
  ASSERT_TRUE(control.connect(std::make_unique<RxOffloadEndpoint>()));
  ASSERT_TRUE(wait_readable(e.endpoint_action_fd(), 5000ms));
  ASSERT_EQ(e.poll_endpoint_action(), EndpointAction::restart_required());
  EXPECT_EQ(e.rx_offload_support(), expected);

  auto done = control.disconnect();
  ASSERT_TRUE(done);
  ASSERT_TRUE(wait_readable(e.endpoint_action_fd(), 5000ms));
  ASSERT_EQ(e.poll_endpoint_action(), EndpointAction::restart_required());
  EXPECT_FALSE(e.is_connected());
  EXPECT_EQ(e.rx_offload_support(), expected);

  ASSERT_TRUE(control.connect(std::make_unique<LoopbackEndpoint>()));
  ASSERT_TRUE(wait_readable(e.endpoint_action_fd(), 5000ms));
  ASSERT_EQ(e.poll_endpoint_action(), EndpointAction::restart_required());
  EXPECT_EQ(e.rx_offload_support(), RxOffloadSupport{});
}

}  // namespace
}  // namespace pmdnet
