// Tests of VirtioNetQueue over packed rings (VIRTIO_F_RING_PACKED): the fake packed driver on one
// side, a scripted backend Queue or the LoopbackEndpoint on the other. Guest TX and RX byte for
// byte (direct and indirect chains, one and many mergeable buffers, multi-buffer receive chains
// written through rewalk), out-of-order and in-order completion, the wrap of both rings, a ring
// that breaks, and drain.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/net_backend/loopback_endpoint.h"
#include "core/virtio_net/virtio_net_queue.h"
#include "tests/unit/core/virtio_net/scripted_queue.h"
#include "tests/unit/core/virtqueue/fake_packed_driver.h"

namespace pmdnet::virtio {
namespace {

using testing::Buf;
using testing::CountingNotifier;
using testing::FakePackedQueue;
using testing::pattern;
using testing::ScriptedQueue;
using testing::TestMemory;

constexpr uint64_t kRxRing = 0x100000;
constexpr uint64_t kTxRing = 0x108000;
constexpr uint64_t kRxData = 0x200000;
constexpr uint64_t kTxData = 0x300000;
constexpr uint64_t kBase =
    bit(feature::kVersion1) | bit(feature::kRingIndirectDesc) | bit(feature::kRingPacked);
constexpr uint32_t kHdr = sizeof(VirtioNetHdr);

class PackedQueueTest : public ::testing::Test {
 protected:
  void start(uint64_t features, std::unique_ptr<Queue> backend = nullptr) {
    if (!backend) {
      auto s = std::make_unique<ScriptedQueue>();
      scripted_ = s.get();
      backend = std::move(s);
    }
    VirtioNetQueueConfig c;
    c.mem = &m_.mem();
    c.features = features;
    c.rx_ring = rxq_.addresses();
    c.tx_ring = txq_.addresses();
    c.rx_start = c.tx_start = {kPackedWrapBit, kPackedWrapBit};
    c.rx_vring_index = 0;
    c.tx_vring_index = 1;
    c.notifier = &notifier_;
    auto q = VirtioNetQueue::create(c, std::move(backend));
    ASSERT_TRUE(q) << q.error().message;
    q_ = std::move(*q);
  }

  // Guest TX: header + frame in guest memory, a chain split at `split` bytes of frame.
  uint16_t send(std::span<const uint8_t> frame, size_t split = 0) {
    const uint64_t gpa = kTxData + next_tx_ * 0x4000;
    next_tx_ = (next_tx_ + 1) % 128;  // more than a batch of GuestTxThroughSeveralWraps
    const VirtioNetHdr hdr{};
    std::memcpy(m_.host(gpa), &hdr, kHdr);
    std::memcpy(m_.host(gpa + 0x100), frame.data(), frame.size());
    std::vector<Buf> bufs = {{gpa, kHdr, false}};
    if (split > 0 && split < frame.size()) {
      bufs.push_back({gpa + 0x100, static_cast<uint32_t>(split), false});
      bufs.push_back({gpa + 0x100 + split, static_cast<uint32_t>(frame.size() - split), false});
    } else {
      bufs.push_back({gpa + 0x100, static_cast<uint32_t>(frame.size()), false});
    }
    return txq_.post(bufs);
  }

  // Guest RX: `n` single-buffer chains of `size` bytes.
  void post_rx(size_t n, uint32_t size) {
    for (size_t i = 0; i < n; ++i) {
      const uint64_t gpa = kRxData + rx_next_ * 0x4000;
      rx_next_ = (rx_next_ + 1) % 64;
      const Buf b{gpa, size, true};
      rx_gpa_[rxq_.post(std::span(&b, 1))] = gpa;
    }
  }

  // What the device wrote for a used RX descriptor (a single-buffer chain).
  std::vector<uint8_t> rx_bytes(const FakePackedQueue::Used& u) {
    const uint8_t* p = m_.host(rx_gpa_.at(u.id));
    return std::vector<uint8_t>(p, p + u.len);
  }

  TestMemory m_{0x100000, 8 << 20};
  FakePackedQueue rxq_{m_, kRxRing, 256};
  FakePackedQueue txq_{m_, kTxRing, 512};
  CountingNotifier notifier_;
  ScriptedQueue* scripted_ = nullptr;
  std::unique_ptr<VirtioNetQueue> q_;
  size_t next_tx_ = 0;
  size_t rx_next_ = 0;
  std::map<uint16_t, uint64_t> rx_gpa_;
};

TEST_F(PackedQueueTest, CreateTakesThePackedLayoutFromTheFeatures) {
  VirtioNetQueueConfig c;
  c.mem = &m_.mem();
  c.features = kBase;
  c.rx_ring = rxq_.addresses();
  c.tx_ring = txq_.addresses();
  c.rx_start = c.tx_start = {kPackedWrapBit, kPackedWrapBit};
  c.tx_ring.size = 100;  // a packed ring need not be a power of two
  EXPECT_TRUE(VirtioNetQueue::create(c, std::make_unique<ScriptedQueue>()));
  c.features = kBase & ~bit(feature::kRingPacked);
  EXPECT_FALSE(VirtioNetQueue::create(c, std::make_unique<ScriptedQueue>()));  // split: no
  c.features = kBase;
  c.tx_ring = txq_.addresses();
  c.rx_ring.avail += 2;  // driver event suppression misaligned
  auto r = VirtioNetQueue::create(c, std::make_unique<ScriptedQueue>());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("rx ring"), std::string::npos);
  c.rx_ring = rxq_.addresses();
  c.tx_start = {16 * 512, 0};  // a base past the ring
  r = VirtioNetQueue::create(c, std::make_unique<ScriptedQueue>());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("tx ring"), std::string::npos);
}

TEST_F(PackedQueueTest, GuestTxIsByteExactAndCompletes) {
  start(kBase);
  const auto frame = pattern(1000);
  const uint16_t id = send(frame, 300);
  EXPECT_EQ(q_->poll(), 1u);
  ASSERT_EQ(scripted_->sent.size(), 1u);
  EXPECT_EQ(scripted_->sent[0].frame, frame);
  EXPECT_EQ(scripted_->sent[0].meta.id, TxId{id});
  EXPECT_EQ(scripted_->sent[0].meta.len, 1000u);
  EXPECT_EQ(scripted_->sent[0].meta.segment_count, 2);
  auto used = txq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, id);
  EXPECT_EQ(used[0].len, 0u);
  EXPECT_EQ(used[0].flags, kPackedDescFAvail | kPackedDescFUsed);
  EXPECT_EQ(q_->stats().guest_tx_packets.get(), 1u);
  EXPECT_EQ(notifier_.count[1], 1);
  EXPECT_EQ(q_->tx_indexes().last_avail_idx, FakePackedQueue::encode(3, true));
  EXPECT_EQ(q_->tx_indexes().used_idx, FakePackedQueue::encode(3, true));
}

// Far more packets than the ring holds, in batches that end anywhere: both wrap counters flip
// several times, every frame arrives intact and in order.
TEST_F(PackedQueueTest, GuestTxThroughSeveralWrapsOfTheRing) {
  start(kBase);
  size_t sent = 0;
  for (int batch = 0; batch < 40; ++batch) {
    const int n = 1 + (batch * 37) % 90;
    for (int i = 0; i < n; ++i) {
      auto frame = pattern(60 + (sent + i) % 500, static_cast<uint8_t>(sent + i));
      send(frame, (sent + i) % 3 == 0 ? 0 : 20);
    }
    while (q_->poll() > 0) {
    }
    ASSERT_EQ(txq_.drain_used().size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const size_t k = sent + i;
      ASSERT_EQ(scripted_->sent[k].frame, pattern(60 + k % 500, static_cast<uint8_t>(k))) << k;
    }
    sent += n;
  }
  EXPECT_GT(sent, 4u * 512 / 3);  // more than four laps of three-descriptor chains
  EXPECT_EQ(q_->tx_indexes().used_idx, q_->tx_indexes().last_avail_idx);
  EXPECT_EQ(q_->tx_indexes().used_idx, txq_.indexes().used_idx);
}

TEST_F(PackedQueueTest, IndirectTxChain) {
  start(kBase);
  const auto frame = pattern(3000);
  const VirtioNetHdr hdr{};
  std::memcpy(m_.host(kTxData), &hdr, kHdr);
  std::memcpy(m_.host(kTxData + 0x1000), frame.data(), 3000);
  const std::vector<Buf> bufs = {{kTxData, kHdr, false},
                                 {kTxData + 0x1000, 1000, false},
                                 {kTxData + 0x1000 + 1000, 2000, false}};
  const uint16_t id = txq_.post_indirect(kTxData + 0x8000, bufs);
  q_->poll();
  ASSERT_EQ(scripted_->sent.size(), 1u);
  EXPECT_EQ(scripted_->sent[0].frame, frame);
  auto used = txq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, id);
}

// Completions in the order the backend reports them; the used descriptors follow that order.
TEST_F(PackedQueueTest, AsynchronousCompletionsOutOfOrder) {
  start(kBase);
  scripted_->sync = false;
  const uint16_t a = send(pattern(64));
  const uint16_t b = send(pattern(64));
  q_->poll();
  EXPECT_TRUE(txq_.drain_used().empty());
  scripted_->complete_now = {TxId{b}};
  q_->poll();
  auto used = txq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, b);
  EXPECT_EQ(used[0].position, 0);
  // Another chain while a is still out.
  const uint16_t c = send(pattern(64, 9));
  q_->poll();
  ASSERT_EQ(scripted_->sent.size(), 3u);
  EXPECT_EQ(scripted_->sent[2].frame, pattern(64, 9));
  scripted_->complete_now = {TxId{c}, TxId{a}};
  q_->poll();
  used = txq_.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, c);
  EXPECT_EQ(used[1].id, a);
}

// With IN_ORDER the device reads guest TX chains and returns each pass's batch as one used
// descriptor with its last id, however the backend completed them.
TEST_F(PackedQueueTest, InOrderTxReturnsABatchAsOneUsedDescriptor) {
  txq_.set_in_order(true);
  start(kBase | bit(feature::kInOrder));
  scripted_->sync = false;
  std::vector<uint16_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(send(pattern(64, static_cast<uint8_t>(i)), 10));
  q_->poll();
  scripted_->complete_now = {TxId{ids[2]}, TxId{ids[1]}};
  q_->poll();
  EXPECT_TRUE(txq_.drain_used().empty());  // ids[0] is still out
  scripted_->complete_now = {TxId{ids[0]}, TxId{ids[3]}};
  q_->poll();
  auto used = txq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, ids[3]);
  EXPECT_EQ(used[0].buffers, 4);
  EXPECT_EQ(used[0].position, 0);
  EXPECT_EQ(q_->tx_indexes().used_idx, FakePackedQueue::encode(12, true));
}

TEST_F(PackedQueueTest, GuestRxSingleBufferIsByteExact) {
  start(kBase | bit(feature::kGuestCsum));
  post_rx(4, 2048);
  q_->poll();
  ASSERT_EQ(scripted_->posted.size(), 4u);
  const auto frame = pattern(1500);
  RxMetadata meta{.ip_checksum = RxChecksumState::Good, .l4_checksum = RxChecksumState::Good};
  ASSERT_TRUE(scripted_->deliver(*q_, frame, meta));
  ASSERT_TRUE(scripted_->deliver(*q_, pattern(60, 3), {}, false));
  EXPECT_EQ(q_->poll(), 2u);
  auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].len, kHdr + 1500);
  EXPECT_EQ(used[0].flags, kPackedDescFAvail | kPackedDescFUsed | kDescFWrite);
  auto bytes = rx_bytes(used[0]);
  VirtioNetHdr hdr;
  std::memcpy(&hdr, bytes.data(), kHdr);
  EXPECT_EQ(hdr.flags, kHdrFDataValid);
  EXPECT_EQ(hdr.num_buffers, 1);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + kHdr, bytes.end()), frame);
  bytes = rx_bytes(used[1]);
  ASSERT_EQ(bytes.size(), kHdr + 60);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + kHdr, bytes.end()), pattern(60, 3));
  EXPECT_EQ(notifier_.count[0], 1);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 1560u);
}

// A receive chain of two buffers is written through the ring's rewalk of the chain.
TEST_F(PackedQueueTest, TwoBufferReceiveChainIsWrittenBufferByBuffer) {
  start(kBase);
  const uint64_t first = kRxData;
  const uint64_t second = kRxData + 0x8000;
  const std::vector<Buf> bufs = {{first, kHdr, true}, {second, 2048, true}};
  std::memset(m_.host(first + kHdr), 0x5a, 64);
  const uint16_t id = rxq_.post(bufs);
  q_->poll();
  // The driver scribbles over the chain's ring slots: what the device writes follows the chain
  // as it was made available.
  for (uint16_t p = 0; p < 2; ++p) rxq_.set_desc(p, {0x10, 4096, 77, kDescFWrite});
  const auto frame = pattern(100);
  ASSERT_TRUE(scripted_->deliver(*q_, frame));
  q_->poll();
  auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, id);
  EXPECT_EQ(used[0].len, kHdr + 100);
  EXPECT_EQ(std::vector<uint8_t>(m_.host(second), m_.host(second) + 100), frame);
  EXPECT_EQ(std::vector<uint8_t>(m_.host(first + kHdr), m_.host(first + kHdr) + 64),
            std::vector<uint8_t>(64, 0x5a));
}

class PackedMergeableTest : public PackedQueueTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(PackedMergeableTest, SpreadsOverAsManyBuffersAsNeeded) {
  const size_t len = GetParam();
  const uint32_t buf = 256;
  start(kBase | bit(feature::kMrgRxbuf));
  post_rx(64, buf);
  q_->poll();
  const auto frame = pattern(len);
  ASSERT_TRUE(scripted_->deliver(*q_, frame));
  q_->poll();
  auto used = rxq_.drain_used();
  const size_t expect_buffers = (len + kHdr + buf - 1) / buf;
  ASSERT_EQ(used.size(), expect_buffers);
  std::vector<uint8_t> all;
  for (const auto& u : used) {
    auto b = rx_bytes(u);
    all.insert(all.end(), b.begin(), b.end());
  }
  ASSERT_EQ(all.size(), kHdr + len);
  VirtioNetHdr hdr;
  std::memcpy(&hdr, all.data(), kHdr);
  EXPECT_EQ(hdr.num_buffers, expect_buffers);
  EXPECT_EQ(std::vector<uint8_t>(all.begin() + kHdr, all.end()), frame);
  EXPECT_EQ(q_->stats().guest_rx_merged_buffers.get(), expect_buffers - 1);
}

INSTANTIATE_TEST_SUITE_P(Buffers, PackedMergeableTest, ::testing::Values(100, 300, 9000),
                         [](const auto& p) { return "Bytes" + std::to_string(p.param); });

TEST_F(PackedQueueTest, LoopbackEndToEndWithMergeableBuffersAcrossTheWrap) {
  LoopbackEndpoint ep;
  std::vector<QueueConfig> cfg(1);
  std::vector<std::unique_ptr<Queue>> queues;
  ASSERT_TRUE(ep.get_queues(cfg, nullptr, queues));
  start(kBase | bit(feature::kMrgRxbuf), std::move(queues[0]));
  // Enough rounds for the 256-entry receive ring to wrap twice.
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE(round);
    post_rx(64, 1024);
    q_->poll();
    const std::vector<std::vector<uint8_t>> frames = {pattern(64, static_cast<uint8_t>(round)),
                                                      pattern(1500, 3), pattern(9000, 5)};
    for (const auto& f : frames) send(f, 20);
    q_->poll();  // TX into the loopback, which writes the receives
    q_->poll();  // receives completed
    auto used = rxq_.drain_used();
    size_t i = 0;
    for (const auto& f : frames) {
      ASSERT_LT(i, used.size());
      auto first = rx_bytes(used[i]);
      VirtioNetHdr hdr;
      std::memcpy(&hdr, first.data(), kHdr);
      std::vector<uint8_t> got(first.begin() + kHdr, first.end());
      for (uint16_t k = 1; k < hdr.num_buffers; ++k) {
        ASSERT_LT(i + k, used.size());
        auto more = rx_bytes(used[i + k]);
        got.insert(got.end(), more.begin(), more.end());
      }
      EXPECT_EQ(got, f);
      i += hdr.num_buffers;
    }
    EXPECT_EQ(i, used.size());
    EXPECT_EQ(txq_.drain_used().size(), 3u);
    // What the loopback did not need goes back (drain), and the queue resumes from its indexes.
    q_->release_backend();
    q_->drain();
    rxq_.drain_used();
    queues.clear();
    ASSERT_TRUE(ep.get_queues(cfg, nullptr, queues));
    RingIndexes rx = q_->rx_indexes();
    RingIndexes tx = q_->tx_indexes();
    VirtioNetQueueConfig c;
    c.mem = &m_.mem();
    c.features = kBase | bit(feature::kMrgRxbuf);
    c.rx_ring = rxq_.addresses();
    c.tx_ring = txq_.addresses();
    c.rx_start = rx;
    c.tx_start = tx;
    auto q = VirtioNetQueue::create(c, std::move(queues[0]));
    ASSERT_TRUE(q);
    q_ = std::move(*q);
    EXPECT_EQ(rx.used_idx, rxq_.indexes().used_idx);
    EXPECT_EQ(rx.last_avail_idx, rxq_.indexes().last_avail_idx);
  }
}

TEST_F(PackedQueueTest, DrainReturnsEveryHeldChain) {
  start(kBase);
  scripted_->sync = false;
  post_rx(5, 2048);
  send(pattern(64));
  send(pattern(64));
  q_->poll();
  ASSERT_TRUE(scripted_->deliver(*q_, pattern(100)));  // bound, never completed
  EXPECT_TRUE(rxq_.drain_used().empty());
  EXPECT_TRUE(txq_.drain_used().empty());
  q_->release_backend();
  EXPECT_EQ(q_->poll(), 0u);
  q_->drain();
  auto rx_used = rxq_.drain_used();
  EXPECT_EQ(rx_used.size(), 5u);
  for (const auto& u : rx_used) EXPECT_EQ(u.len, 0u);
  EXPECT_EQ(txq_.drain_used().size(), 2u);
  EXPECT_EQ(q_->rx_indexes().last_avail_idx, FakePackedQueue::encode(5, true));
  EXPECT_EQ(q_->rx_indexes().used_idx, FakePackedQueue::encode(5, true));
  EXPECT_EQ(q_->tx_indexes().used_idx, FakePackedQueue::encode(4, true));
  EXPECT_EQ(rxq_.free_descs(), 256u);
  EXPECT_EQ(txq_.free_descs(), 512u);
}

// A guest TX ring with a buffer id past its size breaks that ring only; RX goes on.
TEST_F(PackedQueueTest, ABadBufferIdBreaksOnlyThatRing) {
  start(kBase);
  const Buf b[] = {{kTxData, kHdr, false}, {kTxData + 0x100, 64, false}};
  txq_.post_as(b, 600);
  post_rx(1, 2048);
  q_->poll();
  EXPECT_TRUE(q_->tx_broken());
  EXPECT_FALSE(q_->rx_broken());
  EXPECT_TRUE(scripted_->sent.empty());
  ASSERT_TRUE(scripted_->deliver(*q_, pattern(80)));
  q_->poll();
  EXPECT_EQ(rxq_.drain_used().size(), 1u);
  EXPECT_FALSE(txq_.has_used());
  q_->release_backend();
  q_->drain();  // the broken ring is not written
  EXPECT_FALSE(txq_.has_used());
}

}  // namespace
}  // namespace pmdnet::virtio
