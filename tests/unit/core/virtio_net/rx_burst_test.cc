// Tests of the guest RX burst, BufferAccess::write_packets as VirtioNetQueue implements it, on
// every ring layout (split, split IN_ORDER, packed, packed IN_ORDER): a backend whose rx_poll
// writes frames with write_packets, as EthdevQueue does, and a fake guest driver reading the used
// ring and the bytes. Frames in one piece and in several, into single buffers and merged chains;
// coalesced frames with and without GUEST_TSO4; a frame too large mid-burst; frames over the
// MTU; bad ids; dirty logging; drain before the backend hands the ids back.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/virtio_net/net_header.h"
#include "core/virtio_net/virtio_net_queue.h"
#include "tests/unit/core/virtio_net/guest_ring.h"
#include "tests/unit/core/virtio_net/scripted_queue.h"

namespace pmdnet::virtio {
namespace {

using testing::Buf;
using testing::CountingNotifier;
using testing::GuestRing;
using testing::is_in_order;
using testing::is_packed;
using testing::Layout;
using testing::pattern;
using testing::TestMemory;
using testing::UsedElem;

constexpr uint64_t kRxRing = 0x100000;
constexpr uint64_t kTxRing = 0x108000;
constexpr uint64_t kRxData = 0x200000;
constexpr uint64_t kSlot = 0x10000;  // guest memory per posted chain
constexpr uint16_t kRingSize = 256;
constexpr uint64_t kBase = bit(feature::kVersion1) | bit(feature::kRingIndirectDesc);
constexpr uint32_t kHdr = sizeof(VirtioNetHdr);
constexpr uint8_t kUntouched = 0x5a;  // what guest buffers hold before the device writes them

// A backend whose rx_poll runs what the test scripts for it (a burst written with write_packets,
// as EthdevQueue does) and hands back the ids that returns. rx_avail keeps the posted ids in
// order. No transmit.
class BurstBackend final : public Queue {
 public:
  using RxPoll = std::function<std::vector<RxId>(BufferAccess&)>;

  bool poll_ready(BufferAccess&) noexcept override { return false; }
  void rx_avail(BufferAccess&, std::span<const RxId> ids) noexcept override {
    posted.insert(posted.end(), ids.begin(), ids.end());
  }
  QueueResult<size_t> rx_poll(BufferAccess& pool, std::span<RxId> out) noexcept override {
    if (!on_rx_poll) return size_t{0};
    const RxPoll run = std::move(on_rx_poll);
    on_rx_poll = nullptr;
    const std::vector<RxId> done = run(pool);
    const size_t n = std::min(out.size(), done.size());
    std::copy_n(done.begin(), n, out.begin());
    return n;
  }
  QueueResult<TxAvailResult> tx_avail(BufferAccess&, std::span<const TxSegment>) noexcept override {
    return TxAvailResult{};
  }
  std::expected<size_t, TxError> tx_poll(BufferAccess&, std::span<TxId>) noexcept override {
    return size_t{0};
  }

  std::vector<RxId> posted;
  RxPoll on_rx_poll;  // the next rx_poll's work, run once
};

// A frame's bytes and the pieces write_packets gets them in.
struct Frame {
  std::vector<uint8_t> bytes;
  std::vector<std::span<const uint8_t>> pieces;
  RxMetadata meta;

  // `bytes` cut at `cuts` (offsets into it, ascending; equal ones make empty pieces).
  Frame(std::vector<uint8_t> b, std::vector<size_t> cuts = {}, RxMetadata m = {})
      : bytes(std::move(b)), meta(m) {
    meta.len = bytes.size();
    size_t from = 0;
    cuts.push_back(bytes.size());
    for (size_t to : cuts) {
      pieces.push_back(std::span<const uint8_t>(bytes).subspan(from, to - from));
      from = to;
    }
  }
  Frame(const Frame&) = delete;  // pieces point into bytes
  RxFrame rx() const { return RxFrame{meta, pieces}; }
};

std::vector<RxFrame> rx_frames(std::initializer_list<const Frame*> frames) {
  std::vector<RxFrame> out;
  for (const Frame* f : frames) out.push_back(f->rx());
  return out;
}

// Records every range the queue reports as written.
class RecordingDirtyLog final : public DirtyLog {
 public:
  void log_write(uint64_t gpa, uint64_t len) noexcept override { writes.emplace_back(gpa, len); }
  // Whether every byte of [gpa, gpa + len) is in a logged range.
  bool covers(uint64_t gpa, uint64_t len) const {
    for (uint64_t b = gpa; b < gpa + len; ++b) {
      const bool in = std::any_of(writes.begin(), writes.end(), [b](const auto& w) {
        return b >= w.first && b < w.first + w.second;
      });
      if (!in) return false;
    }
    return true;
  }
  std::vector<std::pair<uint64_t, uint64_t>> writes;
};

class RxBurstTest : public ::testing::TestWithParam<Layout> {
 protected:
  // What one pass did: write_packets' results in its rx_poll, what poll() returned, and what the
  // guest could see of the used ring, and the device's used position, at the end of rx_poll.
  struct Pass {
    std::vector<size_t> written;
    size_t polled = 0;
    bool guest_saw_used = false;
    uint16_t used_position = 0;
  };

  bool packed() const { return is_packed(GetParam()); }

  void start(uint64_t features, uint16_t mtu = 0) {
    auto b = std::make_unique<BurstBackend>();
    backend_ = b.get();
    VirtioNetQueueConfig c;
    c.mem = &m_.mem();
    c.features = kBase | features | (packed() ? bit(feature::kRingPacked) : 0) |
                 (is_in_order(GetParam()) ? bit(feature::kInOrder) : 0);
    c.rx_ring = rxq_.addresses();
    c.tx_ring = txq_.addresses();
    c.rx_start = rxq_.start();
    c.tx_start = txq_.start();
    c.rx_vring_index = 0;
    c.tx_vring_index = 1;
    c.notifier = &notifier_;
    c.mtu = mtu;
    auto q = VirtioNetQueue::create(c, std::move(b));
    ASSERT_TRUE(q) << q.error().message;
    q_ = std::move(*q);
  }

  // Guest RX: `n` chains of one `size`-byte buffer, each in its own kSlot of guest memory, filled
  // with kUntouched (and a little past its end); then a pass hands them to the backend. Returns
  // their heads (ids) in the order posted.
  std::vector<uint16_t> post(size_t n, uint32_t size) {
    std::vector<uint16_t> heads;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t gpa = next_gpa();
      std::memset(m_.host(gpa), kUntouched, size + 64);
      const Buf b{gpa, size, true};
      heads.push_back(rxq_.post(std::span(&b, 1)));
      bufs_[heads.back()] = {b};
    }
    q_->poll();
    return heads;
  }
  // Guest RX: one chain over `sizes.size()` buffers, each in its own kSlot.
  uint16_t post_chain(std::vector<uint32_t> sizes) {
    std::vector<Buf> bufs;
    for (uint32_t size : sizes) {
      bufs.push_back({next_gpa(), size, true});
      std::memset(m_.host(bufs.back().gpa), kUntouched, size + 64);
    }
    const uint16_t head = rxq_.post(bufs);
    bufs_[head] = bufs;
    q_->poll();
    return head;
  }

  // One pass whose rx_poll runs `work` (given the BufferAccess rx_poll got) and hands back the
  // ids it returns.
  Pass pass(const std::function<std::vector<RxId>(BufferAccess&, Pass&)>& work) {
    Pass p;
    backend_->on_rx_poll = [&](BufferAccess& pool) {
      std::vector<RxId> done = work(pool, p);
      p.guest_saw_used = rxq_.has_used();
      p.used_position = q_->rx_indexes().used_idx;
      return done;
    };
    p.polled = q_->poll();
    return p;
  }
  // One pass whose rx_poll writes `frames` into `ids` with one write_packets call and hands back
  // the ids it wrote.
  Pass burst(std::vector<RxId> to, std::vector<RxFrame> frames) {
    return pass([&](BufferAccess& pool, Pass& p) {
      p.written.push_back(pool.write_packets(to, frames));
      return std::vector<RxId>(to.begin(), to.begin() + static_cast<long>(p.written.back()));
    });
  }
  // The first `n` ids the backend was given, from `from`.
  std::vector<RxId> ids(size_t from, size_t n) const {
    return std::vector<RxId>(backend_->posted.begin() + static_cast<long>(from),
                             backend_->posted.begin() + static_cast<long>(from + n));
  }

  // The first `len` bytes of chain `head`, across its buffers.
  std::vector<uint8_t> chain_bytes(uint32_t head, size_t len) const {
    std::vector<uint8_t> out;
    for (const Buf& b : bufs_.at(head)) {
      const size_t n = std::min<size_t>(b.len, len - out.size());
      out.insert(out.end(), m_.host(b.gpa), m_.host(b.gpa) + n);
      if (out.size() == len) break;
    }
    return out;
  }
  // Whether chain `head` holds nothing the device wrote.
  bool untouched(uint32_t head) const {
    for (const Buf& b : bufs_.at(head)) {
      const uint8_t* p = m_.host(b.gpa);
      if (std::any_of(p, p + b.len, [](uint8_t v) { return v != kUntouched; })) return false;
    }
    return true;
  }
  // Whether the bytes just past what a used element says was written are untouched.
  bool nothing_past(const UsedElem& e) const {
    const Buf& b = bufs_.at(e.id).front();
    return bufs_.at(e.id).size() > 1 || *m_.host(b.gpa + e.len) == kUntouched;
  }
  static VirtioNetHdr header_of(const std::vector<uint8_t>& bytes) {
    VirtioNetHdr h{};
    std::memcpy(&h, bytes.data(), kHdr);
    return h;
  }
  // What the guest received in used elements `used[first, first + count)`: the header of the
  // first, and the frame bytes after it across all of them.
  std::pair<VirtioNetHdr, std::vector<uint8_t>> received(const std::vector<UsedElem>& used,
                                                         size_t first, size_t count) const {
    std::vector<uint8_t> all;
    for (size_t i = first; i < first + count; ++i) {
      const auto b = chain_bytes(used[i].id, used[i].len);
      all.insert(all.end(), b.begin(), b.end());
    }
    if (all.size() < kHdr) return {};
    return {header_of(all), std::vector<uint8_t>(all.begin() + kHdr, all.end())};
  }

  // Four 512-byte chains; a burst of a 100-byte frame, one of `large` bytes (in three pieces) and
  // a 200-byte one; then the last frame alone. `room`: what the second posted slot can hold
  // after the first frame.
  void too_large_mid_burst(size_t large_len, uint32_t room) {
    const auto heads = post(4, 512);
    const Frame f0(pattern(100, 1));
    const Frame large(pattern(large_len, 2), {20, 300});
    const Frame f2(pattern(200, 3));

    const Pass p = burst(ids(0, 3), rx_frames({&f0, &large, &f2}));
    ASSERT_EQ(p.written, std::vector<size_t>{1});
    EXPECT_EQ(p.polled, 1u);
    auto used = rxq_.drain_used();
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].id, heads[0]);
    EXPECT_EQ(received(used, 0, 1).second, f0.bytes);
    for (size_t i = 1; i < 4; ++i) EXPECT_TRUE(untouched(heads[i])) << i;
    EXPECT_EQ(total_drops(), 0u) << "the backend counts what does not fit";
    EXPECT_EQ(q_->stats().backend_errors.get(), 0u);
    EXPECT_EQ(q_->capacity(backend_->posted[1]), room);

    const Pass next = burst(ids(1, 1), rx_frames({&f2}));
    ASSERT_EQ(next.written, std::vector<size_t>{1});
    used = rxq_.drain_used();
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].id, heads[1]);
    EXPECT_EQ(received(used, 0, 1).second, f2.bytes);
    EXPECT_EQ(q_->stats().guest_rx_packets.get(), 2u);
  }

  uint64_t drops(DropReason r) const { return q_->stats().drops[static_cast<size_t>(r)].get(); }
  uint64_t total_drops() const {
    uint64_t n = 0;
    for (const Counter& c : q_->stats().drops) n += c.get();
    return n;
  }

  uint64_t next_gpa() {
    const uint64_t gpa = kRxData + next_slot_ * kSlot;
    next_slot_ = (next_slot_ + 1) % 64;
    return gpa;
  }

  TestMemory m_{0x100000, 8 << 20};
  GuestRing rxq_{m_, kRxRing, GetParam(), kRingSize};
  GuestRing txq_{m_, kTxRing, GetParam(), kRingSize};
  CountingNotifier notifier_;
  BurstBackend* backend_ = nullptr;
  std::unique_ptr<VirtioNetQueue> q_;
  std::map<uint32_t, std::vector<Buf>> bufs_;  // by head: the chain's buffers
  uint64_t next_slot_ = 0;
};

constexpr RxMetadata kGood{.ip_checksum = RxChecksumState::Good,
                           .l4_checksum = RxChecksumState::Good};

// Plain frames, each into the next single-buffer chain: returned at once with the header's 12
// bytes and the frame, published at the end of the pass (one notification), counted once.
TEST_P(RxBurstTest, PlainFramesIntoSingleBufferChains) {
  start(bit(feature::kGuestCsum));
  const auto heads = post(4, 2048);
  ASSERT_EQ(backend_->posted.size(), 4u);
  const Frame f0(pattern(60, 1), {}, kGood);
  const Frame f1(pattern(1500, 2));  // checksums unknown: no DATA_VALID
  const Frame f2(pattern(1024, 3), {},
                 {.ip_checksum = RxChecksumState::Good, .l4_checksum = RxChecksumState::Bad});
  const Frame f3(pattern(0, 4), {},
                 {.ip_checksum = RxChecksumState::ValidatedButWrong,
                  .l4_checksum = RxChecksumState::ValidatedButWrong});
  const Frame* frames[] = {&f0, &f1, &f2};
  const uint8_t flags[] = {kHdrFDataValid, 0, 0};

  const Pass p = burst(ids(0, 3), rx_frames({&f0, &f1, &f2}));
  ASSERT_EQ(p.written, std::vector<size_t>{3});
  EXPECT_EQ(p.polled, 3u);
  EXPECT_FALSE(p.guest_saw_used) << "published only at the end of the pass";
  EXPECT_EQ(p.used_position, GuestRing::used_position(packed(), 3)) << "returned at once";
  EXPECT_EQ(notifier_.count[0], 1);

  const auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(used[i].id, heads[i]);
    EXPECT_EQ(used[i].len, kHdr + frames[i]->bytes.size());
    const auto [hdr, data] = received(used, i, 1);
    EXPECT_EQ(hdr.flags, flags[i]);
    EXPECT_EQ(hdr.gso_type, kGsoNone);
    EXPECT_EQ(hdr.hdr_len, 0);
    EXPECT_EQ(hdr.gso_size, 0);
    EXPECT_EQ(hdr.csum_start, 0);
    EXPECT_EQ(hdr.csum_offset, 0);
    EXPECT_EQ(hdr.num_buffers, 1);
    EXPECT_EQ(data, frames[i]->bytes);
    EXPECT_TRUE(nothing_past(used[i]));
  }
  EXPECT_TRUE(untouched(heads[3]));
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 3u);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 60u + 1500 + 1024);
  EXPECT_EQ(q_->stats().guest_rx_merged_buffers.get(), 0u);
  EXPECT_EQ(total_drops(), 0u);
  EXPECT_EQ(q_->stats().backend_errors.get(), 0u);

  // The fourth chain is still posted: an empty frame with validated checksums takes it.
  const Pass next = burst(ids(3, 1), rx_frames({&f3}));
  EXPECT_EQ(next.written, std::vector<size_t>{1});
  EXPECT_EQ(next.polled, 1u);
  const auto last = rxq_.drain_used();
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].id, heads[3]);
  EXPECT_EQ(last[0].len, kHdr);
  EXPECT_EQ(received(last, 0, 1).first.flags, kHdrFDataValid);
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 4u);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 60u + 1500 + 1024);
  EXPECT_EQ(notifier_.count[0], 2);
}

// A frame in pieces (one of them empty) lands byte for byte, both into a single buffer and into
// a chain of two buffers whose first holds little more than the header.
TEST_P(RxBurstTest, PiecesAreWrittenOneAfterTheOther) {
  start(0);
  const auto heads = post(1, 2048);
  const uint16_t two = post_chain({kHdr + 5, 2048});
  const Frame a(pattern(1000, 11), {14, 14, 600});
  const Frame b(pattern(1000, 99), {14, 14, 600});

  const Pass p = burst(ids(0, 2), rx_frames({&a, &b}));
  ASSERT_EQ(p.written, std::vector<size_t>{2});
  EXPECT_EQ(p.polled, 2u);
  EXPECT_FALSE(p.guest_saw_used);
  EXPECT_EQ(p.used_position, GuestRing::used_position(packed(), packed() ? 3 : 2));
  const auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, heads[0]);
  EXPECT_EQ(used[1].id, two);
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(used[i].len, kHdr + 1000);
    const auto [hdr, data] = received(used, i, 1);
    EXPECT_EQ(hdr.num_buffers, 1);
    EXPECT_EQ(data, (i == 0 ? a : b).bytes);
  }
  EXPECT_TRUE(nothing_past(used[0]));
  const Buf& second = bufs_.at(two)[1];
  EXPECT_EQ(*m_.host(second.gpa + 1000 - 5), kUntouched);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 2000u);
}

// MRG_RXBUF: a frame in pieces spread over 512-byte chains, then a small one into the next
// chain, in one burst.
TEST_P(RxBurstTest, PiecesSpreadOverMergeableChains) {
  start(bit(feature::kMrgRxbuf));
  const auto heads = post(8, 512);
  const Frame big(pattern(1400, 5), {100, 800});
  const Frame small(pattern(200, 6));

  const Pass p = burst(ids(0, 2), rx_frames({&big, &small}));
  ASSERT_EQ(p.written, std::vector<size_t>{2});
  EXPECT_EQ(p.polled, 2u);
  EXPECT_FALSE(p.guest_saw_used);
  EXPECT_EQ(p.used_position, GuestRing::used_position(packed(), 4)) << "returned at once";
  const auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 4u);
  const uint32_t lens[] = {512, 512, kHdr + 1400 - 1024, kHdr + 200};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(used[i].id, heads[i]) << i;
    EXPECT_EQ(used[i].len, lens[i]) << i;
  }
  const auto [hdr, data] = received(used, 0, 3);
  EXPECT_EQ(hdr.num_buffers, 3);
  EXPECT_EQ(data, big.bytes);
  const auto [small_hdr, small_data] = received(used, 3, 1);
  EXPECT_EQ(small_hdr.num_buffers, 1);
  EXPECT_EQ(small_data, small.bytes);
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 2u);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 1600u);
  EXPECT_EQ(q_->stats().guest_rx_merged_buffers.get(), 2u);
  // The other four chains are still there for the backend's next frames.
  EXPECT_EQ(q_->capacity(backend_->posted[2]), 4 * 512u - kHdr);
}

// A coalesced TCP/IPv4 frame (gso_size > 0), in pieces, then a plain one.
constexpr RxMetadata kCoalesced = testing::kCoalescedTcp4;

TEST_P(RxBurstTest, CoalescedFrameForAGuestWithTso4) {
  start(bit(feature::kGuestCsum) | bit(feature::kGuestTso4));
  const auto heads = post(2, 0x8000);
  const Frame gso(pattern(4000, 7), {54, 2054}, kCoalesced);
  const Frame plain(pattern(100, 8));

  const Pass p = burst(ids(0, 2), rx_frames({&gso, &plain}));
  ASSERT_EQ(p.written, std::vector<size_t>{2});
  EXPECT_EQ(p.polled, 2u);
  const auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, heads[0]);
  EXPECT_EQ(used[0].len, kHdr + 4000);
  const auto [hdr, data] = received(used, 0, 1);
  EXPECT_EQ(hdr.flags, kHdrFNeedsCsum | kHdrFDataValid);
  EXPECT_EQ(hdr.gso_type, kGsoTcpv4);
  EXPECT_EQ(hdr.gso_size, 1448);
  EXPECT_EQ(hdr.hdr_len, 54);
  EXPECT_EQ(hdr.csum_start, 34);
  EXPECT_EQ(hdr.csum_offset, kTcpCsumOffset);
  EXPECT_EQ(hdr.num_buffers, 1);
  EXPECT_EQ(data, gso.bytes);
  EXPECT_EQ(used[1].id, heads[1]);
  EXPECT_EQ(received(used, 1, 1).second, plain.bytes);
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 2u);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 4100u);
  EXPECT_EQ(total_drops(), 0u);
}

// Without GUEST_TSO4 the coalesced frame is dropped, yet counted as written: the burst goes on
// past it, and the frame after it is delivered in the same pass.
TEST_P(RxBurstTest, CoalescedFrameForAGuestWithoutTso4IsDroppedAndCountedAsWritten) {
  start(bit(feature::kGuestCsum));
  const auto heads = post(3, 0x8000);
  const Frame gso(pattern(4000, 7), {54, 2054}, kCoalesced);
  const Frame plain(pattern(100, 8));

  const Pass p = burst(ids(0, 2), rx_frames({&gso, &plain}));
  ASSERT_EQ(p.written, std::vector<size_t>{2});
  EXPECT_EQ(p.polled, 1u);
  EXPECT_EQ(drops(DropReason::kRxCannotDeliver), 1u);
  EXPECT_EQ(total_drops(), 1u);
  std::map<uint32_t, uint32_t> len_of;
  for (const UsedElem& e : rxq_.drain_used()) {
    EXPECT_TRUE(len_of.emplace(e.id, e.len).second) << "id " << e.id << " used twice";
  }
  const std::map<uint32_t, uint32_t> expect = {{heads[0], 0}, {heads[1], kHdr + 100}};
  EXPECT_EQ(len_of, expect);
  const auto [hdr, data] = received({{heads[1], kHdr + 100}}, 0, 1);
  EXPECT_EQ(hdr.flags, 0);
  EXPECT_EQ(hdr.gso_type, kGsoNone);
  EXPECT_EQ(hdr.num_buffers, 1);
  EXPECT_EQ(data, plain.bytes);
  EXPECT_TRUE(untouched(heads[2]));
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 1u);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 100u);
}

// A frame larger than its buffer in the middle of a burst: write_packets returns its index,
// nothing of it is written, and the chains after stay posted; the next frame takes the chain it
// could not.
TEST_P(RxBurstTest, AFrameTooLargeStopsTheBurstBeforeIt) {
  start(0);
  too_large_mid_burst(512 - kHdr + 1, 512 - kHdr);
}

// With MRG_RXBUF: a frame larger than all the chains posted after the first frame's.
TEST_P(RxBurstTest, AFrameLargerThanEveryMergeableChainStopsTheBurstBeforeIt) {
  start(bit(feature::kMrgRxbuf));
  too_large_mid_burst(3 * 512, 3 * 512 - kHdr);
}

// VIRTIO_NET_F_MTU: a plain frame over the MTU is dropped (kRxOverMtu) yet counted as written,
// and the chain it would have used takes the next frame.
TEST_P(RxBurstTest, AFrameOverTheMtuIsDroppedAndItsChainStaysPosted) {
  start(0, 1500);  // frames up to 1518 bytes
  const auto heads = post(3, 4096);
  const Frame over(pattern(1519, 1));
  const Frame fits(pattern(1518, 2));

  const Pass p = burst(ids(0, 2), rx_frames({&over, &fits}));
  ASSERT_EQ(p.written, std::vector<size_t>{2});
  EXPECT_EQ(p.polled, 1u);
  EXPECT_EQ(drops(DropReason::kRxOverMtu), 1u);
  EXPECT_EQ(total_drops(), 1u);
  const auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, heads[0]);
  EXPECT_EQ(used[0].len, kHdr + 1518);
  EXPECT_EQ(received(used, 0, 1).second, fits.bytes);
  EXPECT_TRUE(untouched(heads[1]));
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 1u);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 1518u);
}

// The same for a frame over the MTU in pieces (a scattered jumbo frame from an mbuf chain).
TEST_P(RxBurstTest, AFrameOverTheMtuInPiecesIsDroppedAndItsChainStaysPosted) {
  start(0, 1500);
  const auto heads = post(3, 4096);
  const Frame over(pattern(1519, 1), {1000});
  const Frame fits(pattern(1518, 2));

  const Pass p = burst(ids(0, 2), rx_frames({&over, &fits}));
  ASSERT_EQ(p.written, std::vector<size_t>{2});
  EXPECT_EQ(p.polled, 1u);
  EXPECT_EQ(drops(DropReason::kRxOverMtu), 1u);
  const auto used = rxq_.drain_used();
  std::string seen;
  for (const UsedElem& e : used)
    seen += " {id " + std::to_string(e.id) + " len " + std::to_string(e.len) + "}";
  ASSERT_EQ(used.size(), 1u) << "used:" << seen;
  EXPECT_EQ(used[0].id, heads[0]);
  EXPECT_EQ(used[0].len, kHdr + 1518);
  EXPECT_TRUE(untouched(heads[1]));
}

// A buffer whose frame was dropped (over the MTU) is used up: a frame written to it again, in a
// burst or alone, is not delivered, and the guest chain stays posted for the next frame.
TEST_P(RxBurstTest, AFrameWrittenAgainToADroppedBufferIsNotDelivered) {
  start(0, 1500);
  const auto heads = post(2, 4096);
  const std::vector<RxId> posted = ids(0, 2);
  const Frame over(pattern(1519, 1));
  const Frame again(pattern(64, 2));
  const Frame next(pattern(80, 3));

  Pass p = pass([&](BufferAccess& pool, Pass& pp) {
    const RxFrame first[] = {over.rx()};
    const RxFrame second[] = {again.rx()};
    pp.written.push_back(pool.write_packets(std::span(posted.data(), 1), first));
    pp.written.push_back(pool.write_packets(std::span(posted.data(), 1), second));
    pool.write_packet(posted[0], again.meta, again.bytes);
    return std::vector<RxId>{posted[0]};
  });
  EXPECT_EQ(p.written, (std::vector<size_t>{1, 1}));
  EXPECT_EQ(drops(DropReason::kRxOverMtu), 1u);
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 0u);
  EXPECT_FALSE(rxq_.has_used());
  EXPECT_TRUE(untouched(heads[0]));

  // Its chain is still posted: the next frame, through the buffer posted after it, gets it.
  p = pass([&](BufferAccess& pool, Pass& pp) {
    const RxId id = backend_->posted.back();
    const RxFrame one[] = {next.rx()};
    pp.written.push_back(pool.write_packets(std::span(&id, 1), one));
    return std::vector<RxId>{id};
  });
  EXPECT_EQ(p.written, std::vector<size_t>{1});
  const auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, heads[0]);
  EXPECT_EQ(received(used, 0, 1).second, next.bytes);
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 1u);
}

// Ids the backend must not write: out of range, never posted, already written by write_packets
// (in an earlier call, or earlier in the same burst). Each is counted as a backend error and ends
// the burst there; no guest memory is written for it.
TEST_P(RxBurstTest, BadIdsEndTheBurstAndAreCounted) {
  start(0);
  const auto heads = post(3, 2048);
  const std::vector<RxId> posted = ids(0, 3);
  RxId never_posted{0};
  while (std::find(posted.begin(), posted.end(), never_posted) != posted.end())
    ++never_posted.value;
  const Frame f0(pattern(100, 1));
  const Frame f1(pattern(200, 2));
  const Frame f2(pattern(300, 3));
  const Frame other(pattern(400, 4));

  Pass p = burst({posted[0], RxId{9999}, posted[1]}, rx_frames({&f0, &other, &f1}));
  EXPECT_EQ(p.written, std::vector<size_t>{1});
  EXPECT_EQ(q_->stats().backend_errors.get(), 1u);
  EXPECT_TRUE(untouched(heads[1]));

  p = burst({never_posted, posted[1]}, rx_frames({&other, &f1}));
  EXPECT_EQ(p.written, std::vector<size_t>{0});
  EXPECT_EQ(q_->stats().backend_errors.get(), 2u);
  EXPECT_TRUE(untouched(heads[1]));

  bool next_untouched = false;
  p = pass([&](BufferAccess& pool, Pass& pp) {
    const RxFrame one[] = {f1.rx()};
    const RxFrame again[] = {other.rx()};
    pp.written.push_back(pool.write_packets(std::span(&posted[1], 1), one));
    pp.written.push_back(pool.write_packets(std::span(&posted[1], 1), again));  // delivered
    next_untouched = untouched(heads[2]);
    const RxId twice[] = {posted[2], posted[2]};
    const RxFrame two[] = {f2.rx(), other.rx()};
    pp.written.push_back(pool.write_packets(twice, two));
    return std::vector<RxId>{posted[1], posted[2]};
  });
  EXPECT_EQ(p.written, (std::vector<size_t>{1, 0, 1}));
  EXPECT_TRUE(next_untouched);
  EXPECT_EQ(p.polled, 2u);
  EXPECT_EQ(q_->stats().backend_errors.get(), 4u);

  auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 3u);
  const Frame* want[] = {&f0, &f1, &f2};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(used[i].id, heads[i]) << i;
    EXPECT_EQ(used[i].len, kHdr + want[i]->bytes.size()) << i;
    EXPECT_EQ(received(used, i, 1).second, want[i]->bytes) << i;
    EXPECT_TRUE(nothing_past(used[i])) << i;
  }
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 3u);
  EXPECT_EQ(q_->stats().guest_rx_bytes.get(), 600u);
  EXPECT_EQ(total_drops(), 0u);
}

// The queue's own write_packets (VirtioNetQueue is a BufferAccess too) is its receive slots'.
TEST_P(RxBurstTest, TheQueueWritesThroughItsReceiveSlots) {
  start(0);
  const auto heads = post(2, 2048);
  const Frame f0(pattern(64, 1));
  const Frame f1(pattern(128, 2), {64});
  const std::vector<RxId> posted = ids(0, 2);
  const std::vector<RxFrame> frames = rx_frames({&f0, &f1});
  const Pass p = pass([&](BufferAccess&, Pass& pp) {
    pp.written.push_back(q_->write_packets(posted, frames));
    return posted;
  });
  EXPECT_EQ(p.written, std::vector<size_t>{2});
  EXPECT_EQ(p.polled, 2u);
  EXPECT_FALSE(p.guest_saw_used);
  const auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, heads[0]);
  EXPECT_EQ(received(used, 0, 1).second, f0.bytes);
  EXPECT_EQ(used[1].id, heads[1]);
  EXPECT_EQ(received(used, 1, 1).second, f1.bytes);
}

// With a DirtyLog on the guest memory, every byte a burst writes is logged: a frame written
// straight into a single buffer, and one merged over three chains.
TEST_P(RxBurstTest, EveryByteWrittenIsLogged) {
  RecordingDirtyLog log;
  m_.mutable_mem().set_dirty_log(&log);
  start(bit(feature::kMrgRxbuf));
  const auto first = post(1, 2048);
  const auto merged = post(3, 512);
  log.writes.clear();
  const Frame a(pattern(1000, 1), {400});
  const Frame b(pattern(1200, 2), {100, 700});

  const Pass p = burst(ids(0, 2), rx_frames({&a, &b}));
  ASSERT_EQ(p.written, std::vector<size_t>{2});
  const auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 4u);
  EXPECT_EQ(received(used, 0, 1).second, a.bytes);
  EXPECT_EQ(received(used, 1, 3).second, b.bytes);
  const uint64_t gpa0 = bufs_.at(first[0])[0].gpa;
  EXPECT_TRUE(std::find(log.writes.begin(), log.writes.end(),
                        std::make_pair(gpa0, uint64_t{kHdr + 1000})) != log.writes.end());
  EXPECT_TRUE(log.covers(gpa0, kHdr + 1000));
  const uint32_t lens[] = {512, 512, kHdr + 1200 - 1024};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(log.covers(bufs_.at(merged[i])[0].gpa, lens[i])) << i;
  }
  m_.mutable_mem().set_dirty_log(nullptr);
}

// drain() after write_packets, before the backend handed the ids back in rx_poll: the chains
// write_packets returned are not returned again; the rest come back with length 0.
TEST_P(RxBurstTest, DrainDoesNotReturnWrittenChainsTwice) {
  start(0);
  const auto heads = post(3, 2048);
  const Frame f0(pattern(100, 1));
  const Frame f1(pattern(200, 2), {50});
  const std::vector<RxId> two = ids(0, 2);
  const std::vector<RxFrame> frames = rx_frames({&f0, &f1});
  const Pass p = pass([&](BufferAccess& pool, Pass& pp) {
    pp.written.push_back(pool.write_packets(two, frames));
    return std::vector<RxId>{};  // the backend keeps them
  });
  EXPECT_EQ(p.written, std::vector<size_t>{2});
  EXPECT_EQ(p.polled, 0u);
  auto used = rxq_.drain_used();
  ASSERT_EQ(used.size(), 2u) << "handed to the guest when written";
  EXPECT_EQ(used[0].id, heads[0]);
  EXPECT_EQ(used[0].len, kHdr + 100);
  EXPECT_EQ(used[1].id, heads[1]);
  EXPECT_EQ(used[1].len, kHdr + 200);
  EXPECT_EQ(q_->stats().guest_rx_packets.get(), 2u);

  q_->release_backend();
  q_->drain();
  const auto rest = rxq_.drain_used();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].id, heads[2]);
  EXPECT_EQ(rest[0].len, 0u);
  EXPECT_FALSE(rxq_.has_used());
  EXPECT_EQ(q_->rx_indexes().used_idx, GuestRing::used_position(packed(), 3));
  EXPECT_EQ(q_->rx_indexes().last_avail_idx, GuestRing::used_position(packed(), 3));
  EXPECT_EQ(received(used, 0, 1).second, f0.bytes);
  EXPECT_EQ(received(used, 1, 1).second, f1.bytes);
}

// Round after round, each chain the guest posted and no burst used yet backs exactly one slot
// the backend holds, however the bursts used the chains before: written whole, dropped over the
// MTU before binding (the chain stays posted), dropped after binding (a coalesced frame for a
// guest without GUEST_TSO4: the chain comes back with length 0). The rings wrap meanwhile.
TEST_P(RxBurstTest, EachChainNotYetUsedBacksOneSlotRoundAfterRound) {
  start(0, 1500);
  RxMetadata coalesced = kCoalesced;
  coalesced.gso_size = 500;
  size_t handed = 0;                          // ids of backend_->posted written so far
  size_t chains_out = 0;                      // chains posted and not yet used
  for (int round = 0; round < 15; ++round) {  // a burst stays within rx_poll's 32 ids
    SCOPED_TRACE(round);
    post(20, 2048);
    chains_out += 20;
    const size_t held = backend_->posted.size() - handed;
    ASSERT_EQ(held, chains_out) << "one slot per chain not yet used";
    std::vector<std::unique_ptr<Frame>> frames;
    size_t over_mtu = 0;
    size_t coalesced_drops = 0;
    for (size_t k = 0; k < held; ++k) {
      if (k % 10 == 9) {
        frames.push_back(std::make_unique<Frame>(pattern(1519, 1)));
        ++over_mtu;
      } else if (k % 10 == 4) {
        frames.push_back(
            std::make_unique<Frame>(pattern(1000, 2), std::vector<size_t>{54}, coalesced));
        ++coalesced_drops;
      } else {
        frames.push_back(std::make_unique<Frame>(pattern(64 + k, 3), std::vector<size_t>{10}));
      }
    }
    std::vector<RxFrame> rx;
    for (const auto& f : frames) rx.push_back(f->rx());
    const Pass p = burst(ids(handed, held), rx);
    ASSERT_EQ(p.written, std::vector<size_t>{held});
    EXPECT_EQ(p.polled, held - over_mtu - coalesced_drops);
    handed += held;
    const auto used = rxq_.drain_used();
    ASSERT_EQ(used.size(), held - over_mtu);
    EXPECT_EQ(std::count_if(used.begin(), used.end(), [](const UsedElem& e) { return e.len == 0; }),
              static_cast<long>(coalesced_drops));
    chains_out -= used.size();
  }
  EXPECT_EQ(drops(DropReason::kRxOverMtu), 30u);
  EXPECT_EQ(drops(DropReason::kRxCannotDeliver), 30u);
  EXPECT_EQ(q_->stats().backend_errors.get(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Layouts, RxBurstTest, testing::kAllLayouts, testing::layout_name);

}  // namespace
}  // namespace pmdnet::virtio
