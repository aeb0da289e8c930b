// Tests that live-migration dirty logging covers every byte VirtioNetQueue writes to guest memory,
// on every ring layout. A DirtyLog keeps vhost-user's bitmap (one bit per 4 KiB guest page); each
// pass snapshots the whole guest memory before and compares after: every changed byte outside the
// rings must lie in a logged page, and every changed byte of a ring in the part of it the device
// writes (the used ring, or the packed descriptor ring and device event area), which the ring's
// owner logs whole on each pass. Only pages the returned chains' lengths cover may be logged.
// Receives through write_packets, write_packet, and write_data with write_header; frames across
// page and region edges and over several descriptors; merged buffers; GSO headers; EVENT_IDX;
// transmit; the log detached.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/guest_memory/guest_memory.h"
#include "core/virtio_net/net_header.h"
#include "core/virtio_net/virtio_net_queue.h"
#include "tests/unit/core/virtio_net/guest_ring.h"
#include "tests/unit/core/virtio_net/scripted_queue.h"

namespace pmdnet::virtio {
namespace {

using testing::Buf;
using testing::GpaRange;
using testing::GuestRing;
using testing::Layout;
using testing::pattern;
using testing::TestMemory;
using testing::UsedElem;

constexpr uint64_t kPage = 4096;  // vhost-user's log page
constexpr uint64_t kMemGpa = 0x100000;
constexpr uint64_t kMemSize = 4 << 20;
constexpr uint64_t kRegionEdge = 0x400000;  // where the guest memory's two regions meet
constexpr uint64_t kRxRing = 0x100000;
constexpr uint64_t kTxRing = 0x108000;
constexpr uint64_t kRxData = 0x200000;
constexpr uint64_t kTxData = 0x300000;
constexpr uint64_t kSlot = 0x8000;  // guest memory per receive buffer
constexpr uint16_t kRingSize = 256;
constexpr uint64_t kBase = bit(feature::kVersion1) | bit(feature::kRingIndirectDesc);
constexpr uint32_t kHdr = sizeof(VirtioNetHdr);
constexpr uint8_t kUntouched = 0x5a;  // what receive buffers hold before the device writes them

// vhost-user's dirty log: a bit per 4 KiB page of guest-physical memory.
class PageBitmapLog final : public DirtyLog {
 public:
  explicit PageBitmapLog(uint64_t memory_end) : bits_(memory_end / kPage) {}
  void log_write(uint64_t gpa, uint64_t len) noexcept override {
    if (len == 0 || gpa + len < gpa || gpa + len > bits_.size() * kPage) {
      ++out_of_range;
      return;
    }
    for (uint64_t p = gpa / kPage; p <= (gpa + len - 1) / kPage; ++p) bits_[p] = true;
  }
  bool logged(uint64_t gpa) const { return bits_[gpa / kPage]; }
  // The first address of every logged page.
  std::set<uint64_t> pages() const {
    std::set<uint64_t> out;
    for (size_t p = 0; p < bits_.size(); ++p) {
      if (bits_[p]) out.insert(p * kPage);
    }
    return out;
  }
  void clear() {
    std::fill(bits_.begin(), bits_.end(), false);
    out_of_range = 0;
  }
  int out_of_range = 0;  // calls for an empty range or one past the memory

 private:
  std::vector<bool> bits_;
};

// How the backend writes its frames.
enum class Write { kBurst, kPacket, kDataThenHeader };
constexpr Write kWrites[] = {Write::kBurst, Write::kPacket, Write::kDataThenHeader};
const char* name(Write w) {
  switch (w) {
    case Write::kBurst:
      return "write_packets";
    case Write::kPacket:
      return "write_packet";
    case Write::kDataThenHeader:
      return "write_data + write_header";
  }
  return "";
}

// A backend whose rx_poll writes the frames queued on it into the slots it was given, in order,
// the way `how` says; its transmit takes every packet and completes it at once.
class WritingBackend final : public Queue {
 public:
  struct Frame {
    std::vector<uint8_t> bytes;
    RxMetadata meta;
    size_t cut = 0;  // write_packets: a second piece from this offset (0: one piece)
  };

  bool poll_ready(BufferAccess&) noexcept override { return false; }
  void rx_avail(BufferAccess&, std::span<const RxId> ids) noexcept override {
    posted.insert(posted.end(), ids.begin(), ids.end());
  }
  QueueResult<size_t> rx_poll(BufferAccess& pool, std::span<RxId> out) noexcept override {
    const size_t n = std::min({out.size(), posted.size(), frames.size()});
    std::vector<RxId> ids(posted.begin(), posted.begin() + static_cast<ptrdiff_t>(n));
    for (size_t i = 0; i < n; ++i) frames[i].meta.len = frames[i].bytes.size();
    size_t written = n;
    if (how == Write::kBurst) {
      std::vector<std::vector<std::span<const uint8_t>>> pieces(n);
      std::vector<RxFrame> rx;
      for (size_t i = 0; i < n; ++i) {
        const std::span<const uint8_t> all(frames[i].bytes);
        const size_t cut = frames[i].cut;
        pieces[i] = cut != 0 ? std::vector{all.first(cut), all.subspan(cut)} : std::vector{all};
        rx.push_back(RxFrame{frames[i].meta, pieces[i]});
      }
      written = pool.write_packets(ids, rx);
    } else {
      for (size_t i = 0; i < n; ++i) {
        if (how == Write::kPacket) {
          pool.write_packet(ids[i], frames[i].meta, frames[i].bytes);
        } else {
          pool.write_data(ids[i], frames[i].bytes);
          pool.write_header(ids[i], frames[i].meta);
        }
      }
    }
    std::copy_n(ids.begin(), written, out.begin());
    posted.erase(posted.begin(), posted.begin() + static_cast<ptrdiff_t>(written));
    frames.erase(frames.begin(), frames.begin() + static_cast<ptrdiff_t>(written));
    return written;
  }
  QueueResult<TxAvailResult> tx_avail(BufferAccess&,
                                      std::span<const TxSegment> segs) noexcept override {
    return TxAvailResult{.completed_synchronously = true, .segments_consumed = segs.size()};
  }
  std::expected<size_t, TxError> tx_poll(BufferAccess&, std::span<TxId>) noexcept override {
    return size_t{0};
  }

  Write how = Write::kBurst;
  std::deque<RxId> posted;
  std::deque<Frame> frames;
};

class DirtyLogTest : public ::testing::TestWithParam<Layout> {
 protected:
  // What one pass did, as the guest sees it and as the comparison found it.
  struct Pass {
    std::vector<UsedElem> rx_used;
    std::vector<UsedElem> tx_used;
    std::set<uint64_t> ring_bytes;  // changed bytes in the rings' device-written parts
    std::set<uint64_t> data_pages;  // pages with changed bytes outside the rings
  };

  void SetUp() override { m_.mutable_mem().set_dirty_log(&log_); }
  void TearDown() override { m_.mutable_mem().set_dirty_log(nullptr); }

  bool packed() const { return testing::is_packed(GetParam()); }

  void start(uint64_t features) {
    auto b = std::make_unique<WritingBackend>();
    backend_ = b.get();
    VirtioNetQueueConfig c;
    c.mem = &m_.mem();
    c.features = kBase | features | testing::layout_features(GetParam());
    c.rx_ring = rxq_.addresses();
    c.tx_ring = txq_.addresses();
    c.rx_start = rxq_.start();
    c.tx_start = txq_.start();
    auto q = VirtioNetQueue::create(c, std::move(b));
    ASSERT_TRUE(q) << q.error().message;
    q_ = std::move(*q);
  }

  // A receive buffer of `len` bytes at `offset` into a fresh slot of guest memory.
  Buf buffer(uint64_t offset, uint32_t len) {
    const uint64_t gpa = kRxData + next_slot_++ * kSlot + offset;
    EXPECT_LE(gpa + len, kTxData) << "out of receive slots";
    return {gpa, len, true};
  }
  // Guest RX: a chain over `bufs`, each filled with kUntouched. Returns its id.
  uint16_t post_rx(std::vector<Buf> bufs) {
    for (const Buf& b : bufs) fill(b.gpa, b.len, kUntouched);
    const uint16_t id = rxq_.post(bufs);
    rx_bufs_[id] = std::move(bufs);
    return id;
  }
  // A frame of `len` pattern bytes for the backend's next rx_poll.
  void queue_frame(size_t len, uint8_t seed, RxMetadata meta = {}, size_t cut = 0) {
    backend_->frames.push_back({pattern(len, seed), meta, cut});
  }

  void fill(uint64_t gpa, uint64_t len, uint8_t v) {
    const std::vector<uint8_t> bytes(len, v);
    ASSERT_TRUE(m_.mem().write_at(gpa, bytes));  // the guest's write: not the device's
  }
  std::vector<uint8_t> snapshot() const {
    std::vector<uint8_t> out(kMemSize);
    EXPECT_TRUE(m_.mem().read_at(kMemGpa, out));
    return out;
  }
  std::vector<uint8_t> read(uint64_t gpa, size_t len) const {
    std::vector<uint8_t> out(len);
    EXPECT_TRUE(m_.mem().read_at(gpa, out));
    return out;
  }

  // The pages of the first `len` bytes of receive chain `id`: what returning it with `len` says
  // the device wrote.
  std::set<uint64_t> pages_of(uint32_t id, uint64_t len) const {
    std::set<uint64_t> out;
    for (const Buf& b : rx_bufs_.at(id)) {
      const uint64_t n = std::min<uint64_t>(b.len, len);
      for (uint64_t p = b.gpa / kPage; n > 0 && p <= (b.gpa + n - 1) / kPage; ++p) {
        out.insert(p * kPage);
      }
      len -= n;
    }
    return out;
  }

  // One pass, with the guest memory compared before and after (see end()).
  Pass pass() {
    begin();
    q_->poll();
    return end();
  }
  // Clears the log and takes the guest memory as it is now.
  void begin() {
    log_.clear();
    before_ = snapshot();
  }
  // Compares the guest memory with what begin() took: every changed byte outside the rings is in
  // a logged page, every changed byte of a ring is in a part the device writes, and the log holds
  // only pages of the receive chains returned, within the lengths returned.
  Pass end() {
    Pass p;
    const std::vector<uint8_t>& before = before_;
    const std::vector<uint8_t> after = snapshot();
    p.rx_used = rxq_.drain_used();
    p.tx_used = txq_.drain_used(/*one_per_chain=*/false);

    std::vector<GpaRange> parts = rxq_.device_parts();
    for (const GpaRange& r : txq_.device_parts()) parts.push_back(r);
    const GpaRange rings[] = {rxq_.extent(), txq_.extent()};
    std::set<uint64_t> unlogged_pages;
    std::set<uint64_t> ring_bytes_not_device_written;
    for (uint64_t off = 0; off < kMemSize; ++off) {
      if (before[off] == after[off]) continue;
      const uint64_t gpa = kMemGpa + off;
      if (std::ranges::any_of(parts, [&](const GpaRange& r) { return r.contains(gpa); })) {
        p.ring_bytes.insert(gpa);
      } else if (std::ranges::any_of(rings, [&](const GpaRange& r) { return r.contains(gpa); })) {
        ring_bytes_not_device_written.insert(gpa);
      } else {
        p.data_pages.insert(gpa / kPage * kPage);
        if (!log_.logged(gpa)) unlogged_pages.insert(gpa / kPage * kPage);
      }
    }
    EXPECT_EQ(unlogged_pages, std::set<uint64_t>{}) << "pages written and not logged";
    EXPECT_EQ(ring_bytes_not_device_written, std::set<uint64_t>{})
        << "ring bytes written outside the parts the ring's owner logs";

    std::set<uint64_t> returned;
    for (const UsedElem& e : p.rx_used) returned.merge(pages_of(e.id, e.len));
    std::set<uint64_t> logged_elsewhere;
    std::ranges::set_difference(log_.pages(), returned,
                                std::inserter(logged_elsewhere, logged_elsewhere.end()));
    EXPECT_EQ(logged_elsewhere, std::set<uint64_t>{}) << "pages logged that nothing returned";
    EXPECT_EQ(log_.out_of_range, 0);
    return p;
  }

  // Whether the pass changed either byte of the u16 at `gpa` in a device-written ring part.
  static bool wrote_u16(const Pass& p, uint64_t gpa) {
    return p.ring_bytes.contains(gpa) || p.ring_bytes.contains(gpa + 1);
  }
  // The bytes the used elements returned.
  static uint64_t used_bytes(const std::vector<UsedElem>& used) {
    uint64_t n = 0;
    for (const UsedElem& e : used) n += e.len;
    return n;
  }

  TestMemory m_{kMemGpa, kMemSize, kRegionEdge - kMemGpa};
  PageBitmapLog log_{kMemGpa + kMemSize};
  GuestRing rxq_{m_, kRxRing, GetParam(), kRingSize};
  GuestRing txq_{m_, kTxRing, GetParam(), kRingSize};
  WritingBackend* backend_ = nullptr;
  std::unique_ptr<VirtioNetQueue> q_;
  std::map<uint32_t, std::vector<Buf>> rx_bufs_;  // by id: the chain's buffers
  uint64_t next_slot_ = 0;
  std::vector<uint8_t> before_;  // the guest memory when begin() was called
};

// Small frames, each into a single-buffer chain of three pages (the one-pass path of
// write_packets and write_packet): the pages the frames reach are logged, the buffers' other
// pages are not.
TEST_P(DirtyLogTest, SmallFramesIntoSingleBuffers) {
  start(0);
  for (Write how : kWrites) {
    SCOPED_TRACE(name(how));
    backend_->how = how;
    for (int i = 0; i < 4; ++i) post_rx({buffer(0, 3 * kPage)});
    queue_frame(60, 1);
    queue_frame(200, 2, {}, 14);
    queue_frame(1000, 3);
    queue_frame(1514, 4, {}, 54);
    const Pass p = pass();
    ASSERT_EQ(p.rx_used.size(), 4u);
    EXPECT_EQ(used_bytes(p.rx_used), 4 * kHdr + 60 + 200 + 1000 + 1514);
    EXPECT_EQ(p.data_pages.size(), 4u) << "one page of each buffer";
  }
}

// A buffer starting a few bytes before a page boundary: the header straddles it; and one whose
// header ends just before it, so the frame alone crosses.
TEST_P(DirtyLogTest, SingleBufferAcrossAPageBoundary) {
  start(0);
  for (Write how : kWrites) {
    SCOPED_TRACE(name(how));
    backend_->how = how;
    post_rx({buffer(kPage - 6, 2 * kPage)});
    post_rx({buffer(kPage - kHdr, 2 * kPage)});
    queue_frame(3000, 5);
    queue_frame(100, 6);
    const Pass p = pass();
    ASSERT_EQ(p.rx_used.size(), 2u);
    EXPECT_EQ(used_bytes(p.rx_used), 2 * kHdr + 3100);
    EXPECT_EQ(p.data_pages.size(), 4u);
  }
}

// A chain of three descriptors in different slots, each crossing pages: the header splits over
// the first two.
TEST_P(DirtyLogTest, ChainOfSeveralDescriptorsAcrossPages) {
  start(0);
  for (Write how : kWrites) {
    SCOPED_TRACE(name(how));
    backend_->how = how;
    post_rx({buffer(kPage - 8, 8), buffer(kPage - 10, 5000), buffer(kPage - 1, 3000)});
    queue_frame(7000, 7, {}, 2500);
    const Pass p = pass();
    ASSERT_EQ(p.rx_used.size(), 1u);
    EXPECT_EQ(p.rx_used[0].len, kHdr + 7000);
    EXPECT_EQ(p.data_pages.size(), 1u + 3u + 2u);
  }
}

// A buffer across the edge between two guest memory regions: no single mapping.
TEST_P(DirtyLogTest, BufferAcrossARegionEdge) {
  start(0);
  const Buf across{kRegionEdge - 20, 2 * kPage, true};
  for (Write how : kWrites) {
    SCOPED_TRACE(name(how));
    backend_->how = how;
    post_rx({across});
    queue_frame(1000, static_cast<uint8_t>(8 + static_cast<int>(how)));
    const Pass p = pass();
    ASSERT_EQ(p.rx_used.size(), 1u);
    EXPECT_EQ(p.rx_used[0].len, kHdr + 1000);
    EXPECT_EQ(p.data_pages, (std::set<uint64_t>{kRegionEdge - kPage, kRegionEdge}));
  }
}

// MRG_RXBUF: a frame merged over four chains, each a buffer across a page boundary (the first
// page holding only header bytes in the first), with num_buffers 4 in the header of the first.
TEST_P(DirtyLogTest, MergedBuffers) {
  start(bit(feature::kMrgRxbuf));
  for (Write how : kWrites) {
    SCOPED_TRACE(name(how));
    backend_->how = how;
    std::vector<uint16_t> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(post_rx({buffer(kPage - 10, 1536)}));
    queue_frame(5000, 9, {}, 3000);
    const Pass p = pass();
    ASSERT_EQ(p.rx_used.size(), 4u);
    EXPECT_EQ(used_bytes(p.rx_used), kHdr + 5000);
    EXPECT_EQ(p.data_pages.size(), 8u);
    const auto hdr = read(rx_bufs_.at(ids[0])[0].gpa + offsetof(VirtioNetHdr, num_buffers), 2);
    EXPECT_EQ(hdr, (std::vector<uint8_t>{4, 0}));
  }
}

// A coalesced TCP/IPv4 frame: a GSO header, through the general path, in a buffer whose header
// straddles a page boundary.
TEST_P(DirtyLogTest, GsoHeader) {
  start(bit(feature::kGuestCsum) | bit(feature::kGuestTso4));
  for (Write how : kWrites) {
    SCOPED_TRACE(name(how));
    backend_->how = how;
    const uint16_t id = post_rx({buffer(kPage - 4, 3 * kPage)});
    queue_frame(4000, 10, testing::kCoalescedTcp4, 54);
    const Pass p = pass();
    ASSERT_EQ(p.rx_used.size(), 1u);
    EXPECT_EQ(p.rx_used[0].len, kHdr + 4000);
    EXPECT_EQ(p.data_pages.size(), 2u);
    VirtioNetHdr hdr{};
    std::memcpy(&hdr, read(rx_bufs_.at(id)[0].gpa, kHdr).data(), kHdr);
    EXPECT_EQ(hdr.gso_type, kGsoTcpv4);
    EXPECT_EQ(hdr.gso_size, 1448);
  }
}

// The used ring (split) or used descriptors (packed), the used index, and the device's request
// not to be kicked (avail_event with EVENT_IDX, the used ring's flags without; the device event
// area, packed), from the queue's creation on, are written inside the ring parts the owner logs,
// and never through the DirtyLog.
class DirtyLogRingTest : public DirtyLogTest {
 protected:
  void ring_writes(bool event_idx) {
    post_rx({buffer(0, 2048)});
    post_rx({buffer(0, 2048)});
    begin();
    start(event_idx ? bit(feature::kRingEventIdx) : 0);
    queue_frame(64, 11);
    q_->poll();
    const Pass p = end();
    ASSERT_EQ(p.rx_used.size(), 1u);
    EXPECT_TRUE(wrote_u16(p, rxq_.used_index_gpa()));
    EXPECT_TRUE(wrote_u16(p, rxq_.kick_request_gpa(event_idx)));
    EXPECT_TRUE(wrote_u16(p, txq_.kick_request_gpa(event_idx)));
    EXPECT_EQ(p.data_pages.size(), 1u);
  }
};

TEST_P(DirtyLogRingTest, WithoutEventIdx) { ring_writes(false); }
TEST_P(DirtyLogRingTest, WithEventIdx) { ring_writes(true); }

// Transmit: the device writes only used elements, in the TX ring's device-written part; nothing
// goes through the DirtyLog.
TEST_P(DirtyLogTest, TransmitWritesOnlyUsedElements) {
  start(0);
  for (uint64_t i = 0; i < 3; ++i) {
    const std::vector<uint8_t> frame = pattern(kHdr + 200, static_cast<uint8_t>(i));
    const uint64_t gpa = kTxData + i * kSlot + kPage - 50;
    ASSERT_TRUE(m_.mem().write_at(gpa, frame));
    const Buf b{gpa, static_cast<uint32_t>(frame.size()), false};
    txq_.post(std::span(&b, 1));
  }
  const Pass p = pass();
  EXPECT_FALSE(p.tx_used.empty());
  EXPECT_TRUE(wrote_u16(p, txq_.used_index_gpa()));
  EXPECT_EQ(p.data_pages, std::set<uint64_t>{});
  EXPECT_EQ(log_.pages(), std::set<uint64_t>{});
}

// The log is looked up on every write: detached, nothing more is logged on any path; attached
// again, logging resumes.
TEST_P(DirtyLogTest, DetachedLogGetsNothing) {
  start(0);
  for (Write how : kWrites) {
    SCOPED_TRACE(name(how));
    backend_->how = how;
    m_.mutable_mem().set_dirty_log(nullptr);
    post_rx({buffer(0, 2048)});
    post_rx({buffer(kPage - 8, 8), buffer(0, 2048)});
    queue_frame(100, 12);
    queue_frame(1000, 13);
    log_.clear();
    q_->poll();
    EXPECT_EQ(rxq_.drain_used().size(), 2u);
    EXPECT_EQ(log_.pages(), std::set<uint64_t>{});
    m_.mutable_mem().set_dirty_log(&log_);
    post_rx({buffer(0, 2048)});
    queue_frame(100, 14);
    EXPECT_EQ(pass().data_pages.size(), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, DirtyLogTest, testing::kAllLayouts, testing::layout_name);
INSTANTIATE_TEST_SUITE_P(Layouts, DirtyLogRingTest, testing::kAllLayouts, testing::layout_name);

}  // namespace
}  // namespace pmdnet::virtio
