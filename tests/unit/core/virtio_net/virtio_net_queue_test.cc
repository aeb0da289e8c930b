// Tests of VirtioNetQueue: a fake guest driver on one side, a scripted backend Queue or the
// LoopbackEndpoint on the other. Covers guest TX (plain, offloaded, indirect, asynchronous
// completion, backpressure), guest RX (one, two and many mergeable buffers), notifications, and
// every bad input a guest can hand the queue.
#include "core/virtio_net/virtio_net_queue.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "core/net_backend/loopback_endpoint.h"
#include "core/virtio_net/guest_error_report.h"
#include "core/virtio_net/net_header.h"
#include "tests/unit/core/virtio_net/scripted_queue.h"
#include "tests/unit/core/virtqueue/fake_driver.h"

namespace pmdnet::virtio {
namespace {

using testing::Buf;
using testing::CountingNotifier;
using testing::FakeVirtqueue;
using testing::pattern;
using testing::ScriptedQueue;
using testing::TestMemory;

constexpr uint64_t kRxRing = 0x100000;
constexpr uint64_t kTxRing = 0x108000;
constexpr uint64_t kRxData = 0x200000;
constexpr uint64_t kTxData = 0x300000;
constexpr uint64_t kBase = bit(feature::kVersion1) | bit(feature::kRingIndirectDesc);
constexpr uint32_t kHdr = sizeof(VirtioNetHdr);

// A minimal Ethernet + IPv4 + TCP frame of `len` bytes (headers valid enough to parse).
std::vector<uint8_t> tcp4_frame(size_t len) {
  std::vector<uint8_t> f = pattern(len, 7);
  f[12] = 0x08;
  f[13] = 0x00;  // IPv4
  f[14] = 0x45;  // version 4, IHL 5
  uint16_t total = static_cast<uint16_t>(len - 14);
  f[16] = static_cast<uint8_t>(total >> 8);
  f[17] = static_cast<uint8_t>(total);
  f[20] = 0x40;  // DF, fragment offset 0: a whole datagram
  f[21] = 0;
  f[23] = 6;               // TCP
  f[14 + 20 + 12] = 0x50;  // data offset 5
  return f;
}

// Records every range the queue reports as written.
class RecordingDirtyLog final : public DirtyLog {
 public:
  void log_write(uint64_t gpa, uint64_t len) noexcept override { writes.emplace_back(gpa, len); }
  std::vector<std::pair<uint64_t, uint64_t>> writes;
};

class VirtioNetQueueTest : public ::testing::Test {
 protected:
  // `split`: guest memory in two regions that touch at 0x100000 + split (fake_driver.h).
  explicit VirtioNetQueueTest(uint64_t split = 0) : m_{0x100000, 8 << 20, split} {}

  void start(uint64_t features, std::unique_ptr<Queue> backend = nullptr, uint16_t mtu = 0) {
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
    c.rx_vring_index = 0;
    c.tx_vring_index = 1;
    c.notifier = &notifier_;
    c.mtu = mtu;
    auto q = VirtioNetQueue::create(c, std::move(backend));
    ASSERT_TRUE(q) << q.error().message;
    q_ = std::move(*q);
  }

  // Guest TX: header + frame in guest memory, posted as a chain split at `split` bytes of frame.
  uint16_t send(std::span<const uint8_t> frame, VirtioNetHdr hdr = {}, size_t split = 0) {
    uint64_t gpa = kTxData + next_tx_ * 0x10000;
    next_tx_ = (next_tx_ + 1) % 16;
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
      uint64_t gpa = kRxData + rx_next_ * 0x4000;
      rx_next_ = (rx_next_ + 1) % 64;
      std::vector<Buf> bufs = {{gpa, size, true}};
      rx_heads_gpa_[rxq_.post(bufs)] = gpa;
    }
  }

  // Guest RX: one single-buffer chain of `size` bytes at `gpa`.
  void post_rx_at(uint64_t gpa, uint32_t size) {
    std::vector<Buf> bufs = {{gpa, size, true}};
    rx_heads_gpa_[rxq_.post(bufs)] = gpa;
  }

  // The frame bytes of a used RX element (after its header).
  std::vector<uint8_t> payload_of(const VirtqUsedElem& e) {
    auto b = rx_bytes(e);
    return std::vector<uint8_t>(b.begin() + kHdr, b.end());
  }

  uint64_t total_drops() const {
    uint64_t n = 0;
    for (const Counter& c : q_->stats().drops) n += c.get();
    return n;
  }

  // Reads back what the device wrote for a used RX element.
  std::vector<uint8_t> rx_bytes(const VirtqUsedElem& e) {
    uint8_t* p = m_.host(rx_heads_gpa_.at(static_cast<uint16_t>(e.id)));
    return std::vector<uint8_t>(p, p + e.len);
  }

  TestMemory m_;
  FakeVirtqueue rxq_{m_, kRxRing, 256};
  FakeVirtqueue txq_{m_, kTxRing, 512};
  CountingNotifier notifier_;
  ScriptedQueue* scripted_ = nullptr;
  std::unique_ptr<VirtioNetQueue> q_;
  size_t next_tx_ = 0;
  size_t rx_next_ = 0;
  std::map<uint16_t, uint64_t> rx_heads_gpa_;
};

TEST_F(VirtioNetQueueTest, CreateRefusesBadConfigs) {
  VirtioNetQueueConfig c;
  c.mem = &m_.mem();
  c.features = kBase;
  c.rx_ring = rxq_.addresses();
  c.tx_ring = txq_.addresses();
  EXPECT_FALSE(VirtioNetQueue::create(c, nullptr));
  c.features = 0;  // legacy devices are not supported
  EXPECT_FALSE(VirtioNetQueue::create(c, std::make_unique<ScriptedQueue>()));
  c.features = kBase;
  c.tx_ring.size = 100;
  auto r = VirtioNetQueue::create(c, std::make_unique<ScriptedQueue>());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("tx ring"), std::string::npos);
  c.tx_ring = txq_.addresses();
  c.mem = nullptr;
  EXPECT_FALSE(VirtioNetQueue::create(c, std::make_unique<ScriptedQueue>()));
}

TEST_F(VirtioNetQueueTest, GuestTxBecomesZeroCopySegmentsAndCompletes) {
  start(kBase);
  auto frame = pattern(1000);
  uint16_t head = send(frame, {}, 300);
  EXPECT_EQ(q_->poll(), 1u);
  ASSERT_EQ(scripted_->sent.size(), 1u);
  const auto& s = scripted_->sent[0];
  EXPECT_EQ(s.frame, frame);
  EXPECT_EQ(s.meta.id, TxId{head});
  EXPECT_EQ(s.meta.len, 1000u);
  EXPECT_EQ(s.meta.segment_count, 2);
  EXPECT_FALSE(s.meta.flags.offload_tcp_checksum());
  auto used = txq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, head);
  EXPECT_EQ(used[0].len, 0u);
  EXPECT_EQ(q_->stats().guest_tx_packets.get(), 1u);
  EXPECT_EQ(q_->stats().guest_tx_bytes.get(), 1000u);
  EXPECT_EQ(notifier_.count[1], 1);
}

TEST_F(VirtioNetQueueTest, HeaderSharingADescriptorWithTheFrame) {
  start(kBase);
  auto frame = pattern(200);
  uint64_t gpa = kTxData;
  VirtioNetHdr hdr{};
  std::memcpy(m_.host(gpa), &hdr, kHdr);
  std::memcpy(m_.host(gpa + kHdr), frame.data(), frame.size());
  std::vector<Buf> one = {{gpa, kHdr + 200, false}};
  txq_.post(one);
  q_->poll();
  ASSERT_EQ(scripted_->sent.size(), 1u);
  EXPECT_EQ(scripted_->sent[0].frame, frame);
  EXPECT_EQ(scripted_->segment_counts[0], 1u);
}

TEST_F(VirtioNetQueueTest, ChecksumOffloadIsTranslated) {
  start(kBase | bit(feature::kCsum));
  auto frame = tcp4_frame(200);
  VirtioNetHdr hdr{.flags = kHdrFNeedsCsum, .csum_start = 34, .csum_offset = kTcpCsumOffset};
  send(frame, hdr);
  q_->poll();
  ASSERT_EQ(scripted_->sent.size(), 1u);
  const TxMetadata& m = scripted_->sent[0].meta;
  EXPECT_TRUE(m.flags.offload_tcp_checksum());
  EXPECT_TRUE(m.flags.is_ipv4());
  EXPECT_EQ(m.l2_len, 14);
  EXPECT_EQ(m.l3_len, 20);
  EXPECT_EQ(m.transport_header_offset, 34);
}

TEST_F(VirtioNetQueueTest, TsoIsTranslated) {
  start(kBase | bit(feature::kCsum) | bit(feature::kHostTso4));
  auto frame = tcp4_frame(9000);
  VirtioNetHdr hdr{.flags = kHdrFNeedsCsum,
                   .gso_type = kGsoTcpv4,
                   .hdr_len = 54,
                   .gso_size = 1448,
                   .csum_start = 34,
                   .csum_offset = kTcpCsumOffset};
  send(frame, hdr, 54);
  q_->poll();
  ASSERT_EQ(scripted_->sent.size(), 1u);
  const TxMetadata& m = scripted_->sent[0].meta;
  EXPECT_TRUE(m.flags.offload_tcp_segmentation());
  EXPECT_EQ(m.max_segment_size, 1448);
  EXPECT_EQ(m.l4_len, 20);
  EXPECT_EQ(scripted_->sent[0].frame, frame);
}

TEST_F(VirtioNetQueueTest, IndirectTxChain) {
  start(kBase);
  auto frame = pattern(3000);
  VirtioNetHdr hdr{};
  std::memcpy(m_.host(kTxData), &hdr, kHdr);
  std::memcpy(m_.host(kTxData + 0x1000), frame.data(), 3000);
  std::vector<Buf> bufs = {{kTxData, kHdr, false},
                           {kTxData + 0x1000, 1000, false},
                           {kTxData + 0x1000 + 1000, 2000, false}};
  uint16_t head = txq_.add_indirect(kTxData + 0x8000, bufs);
  txq_.make_available(head);
  q_->poll();
  ASSERT_EQ(scripted_->sent.size(), 1u);
  EXPECT_EQ(scripted_->sent[0].frame, frame);
  EXPECT_EQ(txq_.drain_used().size(), 1u);
}

TEST_F(VirtioNetQueueTest, AsynchronousCompletionsWaitForTxPoll) {
  start(kBase);
  scripted_->sync = false;
  uint16_t a = send(pattern(64));
  uint16_t b = send(pattern(64));
  q_->poll();
  EXPECT_TRUE(txq_.drain_used().empty());  // in flight
  scripted_->complete_now = {TxId{b}};
  q_->poll();
  auto used = txq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, b);
  scripted_->complete_now = {TxId{a}, TxId{a}, TxId{999}};  // duplicates and junk are counted
  q_->poll();
  used = txq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, a);
  EXPECT_EQ(q_->stats().backend_errors.get(), 2u);
}

TEST_F(VirtioNetQueueTest, BackpressureKeepsPacketsPending) {
  start(kBase);
  scripted_->accept_packets = 0;
  for (int i = 0; i < 5; ++i) send(pattern(64, static_cast<uint8_t>(i)));
  EXPECT_EQ(q_->poll(), 0u);
  EXPECT_TRUE(txq_.drain_used().empty());
  scripted_->accept_packets = 3;
  EXPECT_EQ(q_->poll(), 3u);
  EXPECT_EQ(txq_.drain_used().size(), 3u);
  scripted_->accept_packets = SIZE_MAX;
  EXPECT_EQ(q_->poll(), 2u);
  EXPECT_EQ(txq_.drain_used().size(), 2u);
  ASSERT_EQ(scripted_->sent.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(scripted_->sent[i].frame[0], i);  // in order
}

TEST_F(VirtioNetQueueTest, GuestRxSingleBuffer) {
  start(kBase | bit(feature::kGuestCsum));
  post_rx(4, 2048);
  q_->poll();
  ASSERT_EQ(scripted_->posted.size(), 4u);
  auto frame = pattern(1500);
  RxMetadata meta{.ip_checksum = RxChecksumState::Good, .l4_checksum = RxChecksumState::Good};
  ASSERT_TRUE(scripted_->deliver(*q_, frame, meta));
  EXPECT_EQ(q_->poll(), 1u);
  auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].len, kHdr + 1500);
  auto bytes = rx_bytes(used[0]);
  VirtioNetHdr hdr;
  std::memcpy(&hdr, bytes.data(), kHdr);
  EXPECT_EQ(hdr.flags, kHdrFDataValid);
  EXPECT_EQ(hdr.num_buffers, 1);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + kHdr, bytes.end()), frame);
  EXPECT_EQ(notifier_.count[0], 1);
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 1u);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 1500u);
}

// A frame that fits one mapped buffer takes write_packet's direct path; a backend that calls
// write_data and write_header takes the general one. The guest must see the same bytes from both,
// for every checksum state, with and without GUEST_CSUM and MRG_RXBUF, and for an empty frame.
class ReceivePathsTest : public VirtioNetQueueTest,
                         public ::testing::WithParamInterface<uint64_t> {};

TEST_P(ReceivePathsTest, FastAndGeneralPathsWriteTheSameBytes) {
  start(kBase | GetParam());
  const RxChecksumState states[] = {RxChecksumState::Unknown, RxChecksumState::Good,
                                    RxChecksumState::Bad, RxChecksumState::ValidatedButWrong};
  for (size_t len : {size_t{0}, size_t{60}, size_t{1500}}) {
    for (RxChecksumState ip : states) {
      for (RxChecksumState l4 : states) {
        SCOPED_TRACE(::testing::Message() << "len " << len << " ip " << static_cast<int>(ip)
                                          << " l4 " << static_cast<int>(l4));
        post_rx(2, 2048);
        q_->poll();
        auto frame = pattern(len, static_cast<uint8_t>(len));
        RxMetadata meta{.ip_checksum = ip, .l4_checksum = l4};
        ASSERT_TRUE(scripted_->deliver(*q_, frame, meta, true));
        ASSERT_TRUE(scripted_->deliver(*q_, frame, meta, false));
        q_->poll();
        auto used = rxq_.drain_used();
        ASSERT_EQ(used.size(), 2u);
        EXPECT_EQ(used[0].len, kHdr + len);
        EXPECT_EQ(used[1].len, kHdr + len);
        EXPECT_EQ(rx_bytes(used[0]), rx_bytes(used[1]));
        VirtioNetHdr hdr;
        std::memcpy(&hdr, rx_bytes(used[0]).data(), kHdr);
        EXPECT_EQ(hdr.num_buffers, 1);
      }
    }
  }
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 2u * 3 * 16);
}

INSTANTIATE_TEST_SUITE_P(Features, ReceivePathsTest,
                         ::testing::Values(0, bit(feature::kGuestCsum), bit(feature::kMrgRxbuf),
                                           bit(feature::kGuestCsum) | bit(feature::kMrgRxbuf)),
                         [](const auto& p) { return "Features" + std::to_string(p.param); });

// A receive chain of two buffers, the first just big enough for the header: its capacity covers
// the frame, but the first buffer's mapping does not, so the frame must go to the second buffer
// and not past the end of the first (the guest chose where that is).
TEST_F(VirtioNetQueueTest, TwoBufferReceiveChainIsWrittenBufferByBuffer) {
  start(kBase);
  const uint64_t first = kRxData;
  const uint64_t second = kRxData + 0x8000;
  std::vector<Buf> bufs = {{first, kHdr, true}, {second, 2048, true}};
  std::memset(m_.host(first + kHdr), 0x5a, 64);  // what lies past the first buffer
  const uint16_t head = rxq_.post(bufs);
  q_->poll();
  const auto frame = pattern(100);
  ASSERT_TRUE(scripted_->deliver(*q_, frame));
  q_->poll();
  auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, head);
  EXPECT_EQ(used[0].len, kHdr + 100);
  EXPECT_EQ(std::vector<uint8_t>(m_.host(second), m_.host(second) + 100), frame);
  EXPECT_EQ(std::vector<uint8_t>(m_.host(first + kHdr), m_.host(first + kHdr) + 64),
            std::vector<uint8_t>(64, 0x5a));
  VirtioNetHdr hdr;
  std::memcpy(&hdr, m_.host(first), kHdr);
  EXPECT_EQ(hdr.num_buffers, 1);
}

TEST_F(VirtioNetQueueTest, FastReceivePathReportsWhatItWroteToTheDirtyLog) {
  RecordingDirtyLog log;
  m_.mutable_mem().set_dirty_log(&log);
  start(kBase | bit(feature::kMrgRxbuf));
  post_rx(1, 2048);
  q_->poll();
  ASSERT_TRUE(scripted_->deliver(*q_, pattern(100)));
  q_->poll();
  ASSERT_EQ(rxq_.drain_used().size(), 1u);
  ASSERT_EQ(log.writes.size(), 1u);
  EXPECT_EQ(log.writes[0], std::make_pair(kRxData, uint64_t{kHdr + 100}));
  m_.mutable_mem().set_dirty_log(nullptr);
}

// A receive buffer across two memory regions has no single mapping: it is written piecewise
// through GuestMemory, each byte landing in its own region's host buffer.
class SplitMemoryTest : public VirtioNetQueueTest {
 protected:
  static constexpr uint64_t kEdge = kRxData + 0x400;
  SplitMemoryTest() : VirtioNetQueueTest(kEdge - 0x100000) {}
};

TEST_F(SplitMemoryTest, ReceiveBufferAcrossARegionEdge) {
  start(kBase | bit(feature::kGuestCsum));
  post_rx(1, 2048);  // [kRxData, kRxData + 2048): the edge is 1 KB in
  q_->poll();
  auto frame = pattern(1500);
  RxMetadata meta{.ip_checksum = RxChecksumState::Good, .l4_checksum = RxChecksumState::Good};
  ASSERT_TRUE(scripted_->deliver(*q_, frame, meta));
  q_->poll();
  auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  ASSERT_EQ(used[0].len, kHdr + 1500);
  std::vector<uint8_t> bytes(kHdr + 1500);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = *m_.host(kRxData + i);
  VirtioNetHdr hdr;
  std::memcpy(&hdr, bytes.data(), kHdr);
  EXPECT_EQ(hdr.flags, kHdrFDataValid);
  EXPECT_EQ(hdr.num_buffers, 1);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + kHdr, bytes.end()), frame);
  EXPECT_NE(m_.host(kEdge - 1) + 1, m_.host(kEdge));  // really two host buffers
}

TEST_F(VirtioNetQueueTest, GuestRxTooLargeWithoutMergeableIsRefusedByCapacity) {
  start(kBase);
  post_rx(2, 1024);
  q_->poll();
  EXPECT_EQ(q_->capacity(scripted_->posted.front()), 1024u - kHdr);
  EXPECT_FALSE(scripted_->deliver(*q_, pattern(1024)));  // 1024 + 12 does not fit
  EXPECT_TRUE(scripted_->deliver(*q_, pattern(1024 - kHdr)));
}

class MergeableTest : public VirtioNetQueueTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(MergeableTest, SpreadsOverAsManyBuffersAsNeeded) {
  const size_t len = GetParam();
  const uint32_t buf = 256;
  start(kBase | bit(feature::kMrgRxbuf));
  post_rx(64, buf);
  q_->poll();
  auto frame = pattern(len);
  ASSERT_TRUE(scripted_->deliver(*q_, frame));
  q_->poll();
  auto used = rxq_.drain_used();
  size_t expect_buffers = (len + kHdr + buf - 1) / buf;
  ASSERT_EQ(used.size(), expect_buffers);
  std::vector<uint8_t> all;
  for (const auto& e : used) {
    auto b = rx_bytes(e);
    all.insert(all.end(), b.begin(), b.end());
  }
  ASSERT_EQ(all.size(), kHdr + len);
  VirtioNetHdr hdr;
  std::memcpy(&hdr, all.data(), kHdr);
  EXPECT_EQ(hdr.num_buffers, expect_buffers);
  EXPECT_EQ(std::vector<uint8_t>(all.begin() + kHdr, all.end()), frame);
  EXPECT_EQ(q_->stats().guest_rx_merged_buffers.get(), expect_buffers - 1);
  // The remaining buffers keep being offered.
  EXPECT_TRUE(scripted_->deliver(*q_, pattern(100)));
}

INSTANTIATE_TEST_SUITE_P(Buffers, MergeableTest, ::testing::Values(100, 300, 9000),
                         [](const auto& p) { return "Bytes" + std::to_string(p.param); });

TEST_F(VirtioNetQueueTest, MergeableCapacityIsWhatThePostedBuffersHold) {
  start(kBase | bit(feature::kMrgRxbuf));
  post_rx(3, 256);
  q_->poll();
  EXPECT_EQ(q_->capacity(scripted_->posted.front()), 3 * 256u - kHdr);
  EXPECT_FALSE(scripted_->deliver(*q_, pattern(3 * 256)));
  EXPECT_TRUE(scripted_->deliver(*q_, pattern(3 * 256 - kHdr)));
  q_->poll();
  EXPECT_EQ(rxq_.drain_used().size(), 3u);
}

TEST_F(VirtioNetQueueTest, LoopbackEndToEndWithMergeableBuffers) {
  LoopbackEndpoint ep;
  std::vector<QueueConfig> cfg(1);
  std::vector<std::unique_ptr<Queue>> queues;
  ASSERT_TRUE(ep.get_queues(cfg, nullptr, queues));
  start(kBase | bit(feature::kMrgRxbuf), std::move(queues[0]));
  post_rx(64, 1024);
  q_->poll();
  std::vector<std::vector<uint8_t>> frames = {pattern(64), pattern(1500, 3), pattern(9000, 5)};
  for (const auto& f : frames) send(f, {}, 20);
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
      auto more = rx_bytes(used[i + k]);
      got.insert(got.end(), more.begin(), more.end());
    }
    EXPECT_EQ(got, f);
    i += hdr.num_buffers;
  }
  EXPECT_EQ(i, used.size());
  EXPECT_EQ(txq_.drain_used().size(), 3u);
}

// ---- bad input ----

TEST_F(VirtioNetQueueTest, WritableDescriptorInTxIsDropped) {
  start(kBase);
  std::vector<Buf> bufs = {{kTxData, kHdr, false}, {kTxData + 0x100, 100, true}};
  uint16_t head = txq_.post(bufs);
  q_->poll();
  EXPECT_TRUE(scripted_->sent.empty());
  auto used = txq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, head);
  EXPECT_EQ(q_->stats().drops[static_cast<size_t>(DropReason::kTxWritableBuffer)].get(), 1u);
}

TEST_F(VirtioNetQueueTest, TxChainWithoutAFrameIsDropped) {
  start(kBase);
  std::vector<Buf> bufs = {{kTxData, kHdr, false}};
  txq_.post(bufs);
  q_->poll();
  EXPECT_TRUE(scripted_->sent.empty());
  EXPECT_EQ(txq_.drain_used().size(), 1u);
  EXPECT_EQ(q_->stats().drops[static_cast<size_t>(DropReason::kTxChainTooShort)].get(), 1u);
}

TEST_F(VirtioNetQueueTest, BadHeaderIsDroppedAndCountedByKind) {
  start(kBase);  // no HOST_TSO4
  VirtioNetHdr hdr{.flags = kHdrFNeedsCsum,
                   .gso_type = kGsoTcpv4,
                   .gso_size = 1448,
                   .csum_start = 34,
                   .csum_offset = kTcpCsumOffset};
  send(tcp4_frame(3000), hdr);
  send(pattern(64));  // the next packet still goes
  q_->poll();
  ASSERT_EQ(scripted_->sent.size(), 1u);
  EXPECT_EQ(txq_.drain_used().size(), 2u);
  EXPECT_EQ(q_->stats().drops[static_cast<size_t>(DropReason::kTxBadHeader)].get(), 1u);
  uint64_t by_kind = 0;
  for (const auto& c : q_->stats().tx_header_errors) by_kind += c.get();
  EXPECT_EQ(by_kind, 1u);
}

TEST_F(VirtioNetQueueTest, TooManySegmentsIsDropped) {
  start(kBase);
  // An indirect chain of 300 one-byte buffers after the header (the TX ring holds 512, so the
  // chain is within the spec's bound; only the backend's segment_count limit is exceeded).
  std::vector<Buf> bufs = {{kTxData, kHdr, false}};
  for (int i = 0; i < 300; ++i) bufs.push_back({kTxData + 0x100 + i, 1, false});
  uint16_t head = txq_.add_indirect(kTxData + 0x8000, bufs);
  txq_.make_available(head);
  q_->poll();
  EXPECT_TRUE(scripted_->sent.empty());
  EXPECT_EQ(txq_.drain_used().size(), 1u);
  EXPECT_EQ(q_->stats().drops[static_cast<size_t>(DropReason::kTxTooManySegments)].get(), 1u);
}

TEST_F(VirtioNetQueueTest, LoopingTxChainIsDroppedNotFollowed) {
  start(kBase);
  txq_.set_desc(5, {kTxData, 64, kDescFNext, 5});
  txq_.make_available(5);
  send(pattern(64));
  q_->poll();
  EXPECT_EQ(scripted_->sent.size(), 1u);
  EXPECT_EQ(txq_.drain_used().size(), 2u);
  EXPECT_EQ(q_->stats().tx_ring_errors[static_cast<size_t>(RingError::kChainTooLong)].get(), 1u);
  EXPECT_FALSE(q_->tx_broken());
}

TEST_F(VirtioNetQueueTest, HeadOutOfRangeBreaksOnlyThatRing) {
  start(kBase);
  txq_.make_available(4000);
  post_rx(2, 2048);
  q_->poll();
  EXPECT_TRUE(q_->tx_broken());
  EXPECT_FALSE(q_->rx_broken());
  EXPECT_EQ(q_->stats().tx_ring_errors[static_cast<size_t>(RingError::kHeadOutOfRange)].get(), 1u);
  // Further TX is ignored; RX keeps working.
  send(pattern(64));
  q_->poll();
  EXPECT_TRUE(scripted_->sent.empty());
  EXPECT_TRUE(scripted_->deliver(*q_, pattern(64)));
  q_->poll();
  EXPECT_EQ(rxq_.drain_used().size(), 1u);
}

TEST_F(VirtioNetQueueTest, AvailIndexJumpBreaksTheRing) {
  start(kBase);
  rxq_.set_avail_idx(1000);
  q_->poll();
  EXPECT_TRUE(q_->rx_broken());
  EXPECT_EQ(q_->stats().rx_ring_errors[static_cast<size_t>(RingError::kAvailIndexJump)].get(), 1u);
}

TEST_F(VirtioNetQueueTest, ReadableDescriptorInRxIsDropped) {
  start(kBase);
  std::vector<Buf> bufs = {{kRxData, 100, false}, {kRxData + 0x100, 2048, true}};
  uint16_t head = rxq_.post(bufs);
  std::vector<Buf> tiny = {{kRxData + 0x1000, 8, true}};  // too small for a header
  uint16_t small = rxq_.post(tiny);
  q_->poll();
  EXPECT_TRUE(scripted_->posted.empty());
  auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, head);
  EXPECT_EQ(used[1].id, small);
  EXPECT_EQ(used[0].len + used[1].len, 0u);
  EXPECT_EQ(q_->stats().drops[static_cast<size_t>(DropReason::kRxReadableBuffer)].get(), 1u);
  EXPECT_EQ(q_->stats().drops[static_cast<size_t>(DropReason::kRxTooSmall)].get(), 1u);
}

TEST_F(VirtioNetQueueTest, RxBufferOutsideGuestMemoryIsDropped) {
  start(kBase);
  std::vector<Buf> bufs = {{0x10, 2048, true}};
  rxq_.post(bufs);
  q_->poll();
  EXPECT_TRUE(scripted_->posted.empty());
  EXPECT_EQ(rxq_.drain_used().size(), 1u);
  EXPECT_EQ(q_->stats().rx_ring_errors[static_cast<size_t>(RingError::kBufferOutOfMemory)].get(),
            1u);
}

// A guest can post a chain of almost 4 GiB by pointing many descriptors at the same memory. Two
// such chains merged into one slot must not wrap its 32-bit capacity in bind(): a wrapped
// capacity would have the poller pop an empty FIFO.
TEST(VirtioNetQueueHugeChain, MergedCapacityPastFourGiBDoesNotWrap) {
  TestMemory m(0x100000, 20 << 20);
  FakeVirtqueue rxq(m, 0x100000, 256);
  FakeVirtqueue txq(m, 0x108000, 256);
  constexpr uint64_t kArea = 0x200000;
  constexpr uint32_t kPiece = 0x1111111;  // 240 pieces: 0xfffffff0 bytes, just under 4 GiB
  std::vector<Buf> small = {{kArea, 1500, true}};
  uint16_t a = rxq.post(small);
  std::vector<Buf> huge(240, Buf{kArea, kPiece, true});
  uint16_t b = rxq.post(huge);

  auto s = std::make_unique<ScriptedQueue>();
  ScriptedQueue* scripted = s.get();
  VirtioNetQueueConfig c;
  c.mem = &m.mem();
  c.features = kBase | bit(feature::kMrgRxbuf);
  c.rx_ring = rxq.addresses();
  c.tx_ring = txq.addresses();
  auto q = VirtioNetQueue::create(c, std::move(s));
  ASSERT_TRUE(q);
  (*q)->poll();
  ASSERT_EQ(scripted->posted.size(), 2u);
  EXPECT_GT(uint64_t{(*q)->capacity(scripted->posted.front())}, uint64_t{4} << 30 >> 1);
  auto frame = pattern(2000);
  ASSERT_TRUE(scripted->deliver(**q, frame));
  (*q)->poll();
  auto used = rxq.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, a);
  EXPECT_EQ(used[0].len, 1500u);
  EXPECT_EQ(used[1].id, b);
  EXPECT_EQ(used[1].len, kHdr + 2000u - 1500u);
  // The second slot, still posted, now reports nothing left to merge into.
  EXPECT_EQ((*q)->capacity(scripted->posted.front()), 0u);
  EXPECT_FALSE(scripted->deliver(**q, pattern(64)));
}

// An indirect table of exactly the ring size is a legal chain: on rings of 16, a transmit of a
// header and 15 frame buffers in one table, and a receive into 16 buffers in one table, whose
// buffers fill the ring-sized scratch the queue walks them into.
TEST(VirtioNetQueueIndirect, RingSizedIndirectTablesAreUsed) {
  TestMemory m(0x100000, 4 << 20);
  FakeVirtqueue rxq(m, 0x100000, 16);
  FakeVirtqueue txq(m, 0x108000, 16);
  auto s = std::make_unique<ScriptedQueue>();
  ScriptedQueue* scripted = s.get();
  VirtioNetQueueConfig c;
  c.mem = &m.mem();
  c.features = kBase | bit(feature::kMrgRxbuf);
  c.rx_ring = rxq.addresses();
  c.tx_ring = txq.addresses();
  auto q = VirtioNetQueue::create(c, std::move(s));
  ASSERT_TRUE(q);

  const auto frame = pattern(1500);
  VirtioNetHdr hdr{};
  std::memcpy(m.host(kTxData), &hdr, kHdr);
  std::memcpy(m.host(kTxData + 0x1000), frame.data(), frame.size());
  std::vector<Buf> tx = {{kTxData, kHdr, false}};
  for (uint32_t i = 0; i < 15; ++i) tx.push_back({kTxData + 0x1000 + 100 * i, 100, false});
  txq.make_available(txq.add_indirect(kTxData + 0x8000, tx));

  std::vector<Buf> rx;
  for (uint32_t i = 0; i < 16; ++i) rx.push_back({kRxData + 0x1000 * i, 256, true});
  const uint16_t rx_head = rxq.add_indirect(kRxData + 0x20000, rx);
  rxq.make_available(rx_head);

  (*q)->poll();
  ASSERT_EQ(scripted->sent.size(), 1u);
  EXPECT_EQ(scripted->sent[0].meta.segment_count, 15);
  EXPECT_EQ(scripted->sent[0].frame, frame);
  EXPECT_EQ(txq.drain_used().size(), 1u);

  ASSERT_EQ(scripted->posted.size(), 1u);
  EXPECT_EQ((*q)->capacity(scripted->posted.front()), 16u * 256 - kHdr);
  const auto in = pattern(16 * 256 - kHdr, 3);
  ASSERT_TRUE(scripted->deliver(**q, in));
  (*q)->poll();
  auto used = rxq.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, rx_head);
  EXPECT_EQ(used[0].len, 16u * 256);
  std::vector<uint8_t> got;
  for (uint32_t i = 0; i < 16; ++i) {
    const uint8_t* p = m.host(kRxData + 0x1000 * i);
    got.insert(got.end(), p, p + 256);
  }
  EXPECT_EQ(std::vector<uint8_t>(got.begin() + kHdr, got.end()), in);
  uint64_t errors = 0;
  for (const Counter& e : (*q)->stats().tx_ring_errors) errors += e.get();
  for (const Counter& e : (*q)->stats().rx_ring_errors) errors += e.get();
  EXPECT_EQ(errors, 0u);
}

TEST_F(VirtioNetQueueTest, HeadMadeAvailableTwiceIsIgnored) {
  start(kBase);
  std::vector<Buf> bufs = {{kRxData, 2048, true}};
  uint16_t head = rxq_.post(bufs);
  q_->poll();
  ASSERT_EQ(scripted_->posted.size(), 1u);
  rxq_.make_available(head);  // the device still holds it
  q_->poll();
  EXPECT_EQ(q_->stats().rx_ring_errors[static_cast<size_t>(RingError::kHeadInUse)].get(), 1u);
  EXPECT_EQ(scripted_->posted.size(), 1u);  // not offered twice
  EXPECT_TRUE(rxq_.drain_used().empty());   // and not returned while held
  ASSERT_TRUE(scripted_->deliver(*q_, pattern(64)));
  q_->poll();
  EXPECT_EQ(rxq_.drain_used().size(), 1u);
}

TEST_F(VirtioNetQueueTest, CoalescedReceiveForAGuestWithoutTsoIsDropped) {
  start(kBase);
  post_rx(2, 65536 / 4);
  q_->poll();
  RxMetadata meta = testing::kCoalescedTcp4;
  ASSERT_TRUE(scripted_->deliver(*q_, tcp4_frame(4000), meta));
  q_->poll();
  auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].len, 0u);
  EXPECT_EQ(q_->stats().drops[static_cast<size_t>(DropReason::kRxCannotDeliver)].get(), 1u);
}

// VIRTIO_NET_F_MTU, 5.1.6.3.1: "the device MUST NOT pass received packets that exceed mtu (plus
// low level ethernet header length) size with gso_type NONE or ECN to the driver." With mtu 1500
// the longest plain frame delivered is 1518 bytes (Ethernet header and one VLAN tag). Longer ones
// are dropped and counted once, whichever write path the backend takes: through write_packet no
// guest buffer is consumed; through write_data and write_header the buffers written come back
// with length 0. Parameters: MRG_RXBUF, and whether the backend calls write_packet.
class MtuTest : public VirtioNetQueueTest,
                public ::testing::WithParamInterface<std::tuple<bool, bool>> {};

TEST_P(MtuTest, PlainFramesOverTheMtuAreDropped) {
  const auto [mergeable, whole] = GetParam();
  start(kBase | (mergeable ? bit(feature::kMrgRxbuf) : 0), nullptr, 1500);
  // Room for 65000 bytes either way: four 64 KB chains, or forty of 2 KB to merge.
  if (mergeable) {
    post_rx(40, 2048);
  } else {
    for (uint64_t i = 0; i < 4; ++i) post_rx_at(0x400000 + i * 0x10000, 0x10000);
  }
  q_->poll();
  const size_t over_1518 = whole ? 0 : 1;  // chains returned unused per dropped frame
  const size_t over_65000 = whole ? 0 : (mergeable ? (65000 + kHdr + 2047) / 2048 : 1);

  const auto fits = pattern(1518);
  ASSERT_TRUE(scripted_->deliver(*q_, fits, {}, whole));
  q_->poll();
  auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].len, kHdr + 1518);
  EXPECT_EQ(payload_of(used[0]), fits);

  ASSERT_TRUE(scripted_->deliver(*q_, pattern(1519), {}, whole));
  q_->poll();
  used = rxq_.drain_used();
  ASSERT_EQ(used.size(), over_1518);
  for (const auto& e : used) EXPECT_EQ(e.len, 0u);
  EXPECT_EQ(q_->stats().drops[static_cast<size_t>(DropReason::kRxOverMtu)].get(), 1u);

  ASSERT_TRUE(scripted_->deliver(*q_, pattern(65000), {}, whole));
  q_->poll();
  used = rxq_.drain_used();
  ASSERT_EQ(used.size(), over_65000);
  for (const auto& e : used) EXPECT_EQ(e.len, 0u);
  EXPECT_EQ(q_->stats().drops[static_cast<size_t>(DropReason::kRxOverMtu)].get(), 2u);
  EXPECT_EQ(total_drops(), 2u) << "each drop is counted once, under rx_over_mtu";
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 1u);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 1518u);

  // The guest's buffers are still there for the next frame.
  const auto next = pattern(1500, 9);
  ASSERT_TRUE(scripted_->deliver(*q_, next, {}, whole));
  q_->poll();
  used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(payload_of(used[0]), next);
  EXPECT_EQ(to_key(DropReason::kRxOverMtu), "rx_over_mtu");
}

INSTANTIATE_TEST_SUITE_P(Paths, MtuTest, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& p) {
                           return std::string(std::get<0>(p.param) ? "Mergeable" : "OneChain") +
                                  (std::get<1>(p.param) ? "WritePacket" : "WriteDataAndHeader");
                         });

// Without an MTU (mtu 0) a plain frame is bounded only by the buffers.
TEST_F(VirtioNetQueueTest, WithoutAnMtuLargePlainFramesAreDelivered) {
  start(kBase);
  post_rx_at(0x400000, 0x10000);
  post_rx_at(0x410000, 0x10000);
  q_->poll();
  for (bool whole : {true, false}) {
    const auto frame = pattern(65000, whole ? 1 : 2);
    ASSERT_TRUE(scripted_->deliver(*q_, frame, {}, whole));
    q_->poll();
    auto used = rxq_.drain_used();
    ASSERT_EQ(used.size(), 1u);
    ASSERT_EQ(used[0].len, kHdr + 65000);
    EXPECT_EQ(payload_of(used[0]), frame);
  }
  EXPECT_EQ(total_drops(), 0u);
}

// A coalesced frame the guest negotiated GUEST_TSO4 for is delivered with gso_type TCPV4: the MTU
// bounds its segments, not the frame. One that fits a single segment is delivered as a plain
// frame (gso_type NONE), and the MTU bounds it like one.
TEST_F(VirtioNetQueueTest, CoalescedFramesAreNotBoundByTheMtu) {
  start(kBase | bit(feature::kMrgRxbuf) | bit(feature::kGuestCsum) | bit(feature::kGuestTso4),
        nullptr, 1500);
  post_rx(40, 2048);
  q_->poll();
  RxMetadata meta = testing::kCoalescedTcp4;
  const auto frame = tcp4_frame(65000);
  for (bool whole : {true, false}) {
    SCOPED_TRACE(whole);
    if (!whole) {
      post_rx(32, 2048);
      q_->poll();
    }
    ASSERT_TRUE(scripted_->deliver(*q_, frame, meta, whole));
    q_->poll();
    auto used = rxq_.drain_used();
    ASSERT_EQ(used.size(), (65000 + kHdr + 2047) / 2048);
    VirtioNetHdr hdr;
    std::memcpy(&hdr, rx_bytes(used[0]).data(), kHdr);
    EXPECT_EQ(hdr.gso_type, kGsoTcpv4);
    EXPECT_EQ(hdr.gso_size, 1448);
    EXPECT_EQ(hdr.num_buffers, used.size());
    size_t total = 0;
    for (const auto& e : used) total += e.len;
    EXPECT_EQ(total, kHdr + 65000);
  }
  EXPECT_EQ(total_drops(), 0u);
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 2u);

  // One segment's worth (payload <= gso_size) goes out with gso_type NONE: over the MTU, dropped.
  RxMetadata one = meta;
  one.gso_size = 9000;
  ASSERT_TRUE(scripted_->deliver(*q_, tcp4_frame(14 + 20 + 20 + 9000), one));
  q_->poll();
  for (const auto& e : rxq_.drain_used()) EXPECT_EQ(e.len, 0u);
  EXPECT_EQ(q_->stats().drops[static_cast<size_t>(DropReason::kRxOverMtu)].get(), 1u);
  EXPECT_EQ(total_drops(), 1u);
}

TEST_F(VirtioNetQueueTest, GuestErrorsAreReportedOncePerSnapshot) {
  start(kBase);
  GuestErrorCounts before = snapshot_guest_errors(q_->stats());
  std::vector<Buf> writable = {{kTxData, kHdr, false}, {kTxData + 0x100, 100, true}};
  txq_.post(writable);
  txq_.post(writable);
  txq_.set_desc(9, {kTxData, 64, kDescFNext, 9});
  txq_.make_available(9);
  q_->poll();
  GuestErrorCounts now = snapshot_guest_errors(q_->stats());
  std::vector<std::string> lines;
  describe_guest_errors(before, now, lines);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "guest tx ring: descriptor chain longer than its ring or table (loop?): +1 (1 total)");
  EXPECT_EQ(lines[1], "dropped: device-writable buffer in a tx chain: +2 (2 total)");
  lines.clear();
  describe_guest_errors(now, snapshot_guest_errors(q_->stats()), lines);
  EXPECT_TRUE(lines.empty());  // nothing new, nothing said
  describe_guest_errors({}, now, lines);
  EXPECT_EQ(lines.size(), 2u);  // an empty snapshot counts as zeros
}

// ---- notifications and teardown ----

TEST_F(VirtioNetQueueTest, EventIdxSuppressesNotifications) {
  start(kBase | bit(feature::kRingEventIdx));
  txq_.set_used_event(2);  // the guest wants an interrupt once used idx passes 2
  send(pattern(64));
  q_->poll();
  EXPECT_EQ(notifier_.count[1], 0);  // used idx 1
  send(pattern(64));
  q_->poll();
  EXPECT_EQ(notifier_.count[1], 0);  // used idx 2
  send(pattern(64));
  q_->poll();
  EXPECT_EQ(notifier_.count[1], 1);  // used idx 3 crosses 2
  // The guest is never asked to kick: avail_event stays far ahead.
  EXPECT_GE(static_cast<uint16_t>(txq_.avail_event() - txq_.avail_idx()), 0x7000);
}

TEST_F(VirtioNetQueueTest, NoInterruptWithoutEventIdx) {
  start(kBase);
  txq_.set_avail_flags(kAvailFNoInterrupt);
  send(pattern(64));
  q_->poll();
  EXPECT_EQ(notifier_.count[1], 0);
  EXPECT_EQ(txq_.used_flags(), kUsedFNoNotify);
  EXPECT_EQ(txq_.drain_used().size(), 1u);
}

TEST_F(VirtioNetQueueTest, DrainReturnsEveryHeldChain) {
  start(kBase);
  scripted_->sync = false;
  post_rx(5, 2048);
  send(pattern(64));
  send(pattern(64));
  q_->poll();
  ASSERT_TRUE(scripted_->deliver(*q_, pattern(100)));  // bound, never completed
  EXPECT_EQ(rxq_.drain_used().size(), 0u);
  EXPECT_EQ(txq_.drain_used().size(), 0u);
  q_->release_backend();
  EXPECT_EQ(q_->poll(), 0u);  // no backend: nothing happens
  q_->drain();
  EXPECT_EQ(rxq_.drain_used().size(), 5u);
  EXPECT_EQ(txq_.drain_used().size(), 2u);
  auto rx = q_->rx_indexes();
  EXPECT_EQ(rx.last_avail_idx, 5);
  EXPECT_EQ(rx.used_idx, 5);
  EXPECT_EQ(q_->tx_indexes().used_idx, 2);
}

TEST_F(VirtioNetQueueTest, ResumesFromSavedIndexes) {
  // A ring that already went around: indexes near the wrap.
  rxq_.set_avail_idx(65530);
  txq_.set_avail_idx(65534);
  VirtioNetQueueConfig c;
  c.mem = &m_.mem();
  c.features = kBase;
  c.rx_ring = rxq_.addresses();
  c.tx_ring = txq_.addresses();
  c.rx_start = {65530, 65530};
  c.tx_start = {65534, 65534};
  auto s = std::make_unique<ScriptedQueue>();
  ScriptedQueue* scripted = s.get();
  auto q = VirtioNetQueue::create(c, std::move(s));
  ASSERT_TRUE(q);
  for (int i = 0; i < 4; ++i) send(pattern(64));
  (*q)->poll();
  EXPECT_EQ(scripted->sent.size(), 4u);
  EXPECT_EQ((*q)->tx_indexes().last_avail_idx, 2);
}

}  // namespace
}  // namespace pmdnet::virtio
