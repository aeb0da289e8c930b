// SplitRing: index handling with the memory ordering the spec requires, and the chain walk that
// checks every descriptor the guest wrote before using it.
#include "core/virtqueue/split_ring.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>

namespace pmdnet::virtio {

namespace {

uint16_t load_u16(const uint8_t* p, std::memory_order order) noexcept {
  // The guest writes these concurrently; the spec guarantees their alignment.
  return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(const_cast<uint8_t*>(p)))
      .load(order);
}

void store_u16(uint8_t* p, uint16_t v, std::memory_order order) noexcept {
  std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).store(v, order);
}

// A descriptor, copied out once: later guest writes cannot change what was validated.
VirtqDesc load_desc(const uint8_t* table, uint16_t index) noexcept {
  VirtqDesc d;  // NOLINT(cppcoreguidelines-pro-type-member-init): the memcpy below fills it
  std::memcpy(&d, table + size_t{16} * index, sizeof(d));
  return d;
}

}  // namespace

template <bool kInOrder>
Result<BasicSplitRing<kInOrder>> BasicSplitRing<kInOrder>::create(
    const RingAddresses& a, const GuestMemory& mem, uint64_t features, uint16_t last_avail_idx,
    uint16_t used_idx, RingRole role) {
  if (a.size == 0 || a.size > kMaxQueueSize || !std::has_single_bit(a.size)) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("ring size {} is not a power of two in 1..32768", a.size));
  }
  if (auto parts = check_ring_parts(a, 2, 4); !parts) return std::unexpected(parts.error());
  // 2.7: each part, with its event word where EVENT_IDX puts one, for the size in force. rte_vhost
  // hands over host pointers that it translated once (and keeps after a failed length check, or
  // across a later SET_VRING_NUM), so they are checked here, at every start, against the regions
  // this ring's memory holds: a part that runs past its region would have the device read heads
  // from, and write used elements to, whatever is mapped next.
  const bool event_idx = has(features, feature::kRingEventIdx);
  const size_t event_word = event_idx ? 2 : 0;
  const size_t desc_bytes = sizeof(VirtqDesc) * size_t{a.size};
  const size_t avail_bytes = kRingEntriesOffset + size_t{2} * a.size + event_word;
  const size_t used_bytes = kRingEntriesOffset + sizeof(VirtqUsedElem) * a.size + event_word;
  if (!mem.contains_host(a.desc, desc_bytes) || !mem.contains_host(a.avail, avail_bytes) ||
      !mem.contains_host(a.used, used_bytes)) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("ring of size {} does not lie in guest memory (descriptor table "
                                  "{} B, avail ring {} B, used ring {} B, each in one region)",
                                  a.size, desc_bytes, avail_bytes, used_bytes));
  }
  if (has(features, feature::kInOrder) != kInOrder) {
    return make_error(Errc::kInvalidArgument, kInOrder
                                                  ? "IN_ORDER not negotiated: use SplitRing"
                                                  : "IN_ORDER negotiated: use SplitRingInOrder");
  }
  BasicSplitRing r;
  r.desc_ = a.desc;
  r.avail_ = a.avail;
  r.used_ = a.used;
  r.mem_ = &mem;
  r.size_ = a.size;
  r.last_avail_idx_ = last_avail_idx;
  r.used_idx_ = used_idx;
  r.signalled_used_idx_ = used_idx;
  r.event_idx_ = event_idx;
  r.indirect_ = has(features, feature::kRingIndirectDesc);
  r.batch_used_ = kInOrder && role == RingRole::kDeviceReads;
  r.held_.assign(a.size, 0);
  if (kInOrder) r.order_ = InOrderUsed(a.size);
  return r;
}

template <bool kInOrder>
uint16_t BasicSplitRing<kInOrder>::load_avail_idx() const noexcept {
  // Acquire: the ring entries the driver wrote before bumping idx are visible after this.
  return load_u16(avail_ + kRingIdxOffset, std::memory_order_acquire);
}

template <bool kInOrder>
std::expected<uint16_t, RingError> BasicSplitRing<kInOrder>::avail_count() const noexcept {
  auto n = static_cast<uint16_t>(load_avail_idx() - last_avail_idx_);
  if (n > size_) return std::unexpected(RingError::kAvailIndexJump);
  return n;
}

template <bool kInOrder>
std::expected<Chain, RingError> BasicSplitRing<kInOrder>::walk_chain(
    uint16_t head, std::span<ChainBuffer> scratch) const noexcept {
  if (head >= size_) return std::unexpected(RingError::kHeadOutOfRange);
  const uint8_t* table = desc_;
  uint32_t table_len = size_;
  uint16_t index = head;
  bool in_indirect = false;
  bool seen_writable = false;
  uint64_t readable = 0;
  uint64_t writable = 0;
  size_t n = 0;
  // Two bounds make every walk finite, and refuse loops:
  //   - The ring's descriptors, the one that refers to an indirect table included: at most size_.
  //     2.7.5.3.1: "A driver MUST NOT create a descriptor chain longer than the Queue Size of the
  //     device."
  //   - An indirect table's: at most its own entries, "struct virtq_desc desc[len / 16]"
  //     (2.7.5.3), and at most size_, the same sentence read for the chain inside one table, as
  //     DPDK's vhost reads it (it refuses tables longer than the ring). A longer table is
  //     accepted, as QEMU accepts it, but its chain is walked for size_ descriptors at most: a
  //     hostile table costs size_ reads, not 32768, and a whole walk at most 2 * size_.
  // Zero-length descriptors take no scratch entry, so only these bounds stop a loop of them.
  uint32_t limit = size_;
  uint32_t visited = 0;
  for (;;) {
    if (visited == limit) return std::unexpected(RingError::kChainTooLong);
    ++visited;
    VirtqDesc d = load_desc(table, index);
    if (d.flags & kDescFIndirect) {
      // 2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag unless the
      // VIRTIO_F_INDIRECT_DESC feature was negotiated. [...] A driver MUST NOT set both
      // VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT in flags." and no nested tables.
      if (!indirect_) return std::unexpected(RingError::kIndirectNotNegotiated);
      if (in_indirect) return std::unexpected(RingError::kIndirectNested);
      if (d.flags & kDescFNext) return std::unexpected(RingError::kIndirectWithNext);
      if (d.len == 0 || d.len % sizeof(VirtqDesc) != 0 ||
          d.len / sizeof(VirtqDesc) > size_t{kMaxQueueSize}) {
        return std::unexpected(RingError::kIndirectBadLength);
      }
      uint8_t* host = mem_->map(d.addr, d.len);
      if (host == nullptr) return std::unexpected(RingError::kIndirectOutOfMemory);
      table = host;
      table_len = d.len / sizeof(VirtqDesc);
      index = 0;
      in_indirect = true;
      limit = std::min<uint32_t>(table_len, size_);
      visited = 0;
      continue;
    }
    if (d.len > 0) {
      bool w = (d.flags & kDescFWrite) != 0;
      // 2.7.4.2: "A driver MUST place any device-writable descriptor elements after any
      // device-readable descriptor elements."
      if (!w && seen_writable) return std::unexpected(RingError::kReadableAfterWritable);
      seen_writable |= w;
      // One lookup for a buffer inside one region (nearly all), which also gives its mapping.
      uint8_t* host = mem_->map(d.addr, d.len);
      if (host == nullptr && !mem_->check_range(d.addr, d.len)) {
        return std::unexpected(RingError::kBufferOutOfMemory);
      }
      // A chain of more buffers than the caller's scratch holds (a ring-sized scratch holds a
      // ring-sized table, not direct buffers as well) fails here, before any write past it.
      if (n == scratch.size()) return std::unexpected(RingError::kChainTooLong);
      scratch[n++] = ChainBuffer{d.addr, d.len, w, host};
      (w ? writable : readable) += d.len;
      if (readable + writable > UINT32_MAX) return std::unexpected(RingError::kChainTooLarge);
    }
    if (!(d.flags & kDescFNext)) break;
    if (d.next >= table_len) return std::unexpected(RingError::kNextOutOfRange);
    index = d.next;
  }
  return Chain{head, scratch.first(n), static_cast<uint32_t>(readable),
               static_cast<uint32_t>(writable)};
}

template <bool kInOrder>
void BasicSplitRing<kInOrder>::publish_used() noexcept {
  if (batch_count_ > 0) {
    const VirtqUsedElem e{batch_head_, 0};
    std::memcpy(used_ + kRingEntriesOffset + sizeof(VirtqUsedElem) * (batch_slot_ & (size_ - 1)),
                &e, sizeof(e));
    batch_count_ = 0;
  }
  // Release: the elements written above are visible before the new idx.
  store_u16(used_ + kRingIdxOffset, used_idx_, std::memory_order_release);
}

template <bool kInOrder>
bool BasicSplitRing<kInOrder>::needs_notification() noexcept {
  uint16_t old_idx = signalled_used_idx_;
  uint16_t new_idx = used_idx_;
  signalled_used_idx_ = new_idx;
  if (old_idx == new_idx) return false;
  // Order the used->idx store before reading the driver's suppression state (Linux: virtio_mb).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (event_idx_) {
    // 2.7.7.2: used_event lives after the avail ring's entries.
    uint16_t used_event =
        load_u16(avail_ + kRingEntriesOffset + size_t{2} * size_, std::memory_order_relaxed);
    return vring_need_event(used_event, new_idx, old_idx);
  }
  return (load_u16(avail_, std::memory_order_relaxed) & kAvailFNoInterrupt) == 0;
}

template <bool kInOrder>
void BasicSplitRing<kInOrder>::suppress_kicks() noexcept {
  // Called every pass that popped something, so it writes only when the value must change: a
  // store, even of the same value, takes the cache line from the driver, which reads the flags
  // (and used->idx beside them) on every refill (docs/benchmarks.md has the PVP loop's figure).
  if (event_idx_) {
    // The driver kicks when its idx crosses avail_event; half the index space away, it will not
    // for 32768 buffers. Moved again once a quarter of that margin is used up. The poll loop
    // does not need kicks at all (one that slips through costs the driver a syscall, no more).
    uint8_t* event = used_ + kRingEntriesOffset + sizeof(VirtqUsedElem) * size_;
    const auto margin =
        static_cast<uint16_t>(load_u16(event, std::memory_order_relaxed) - last_avail_idx_);
    if (margin < 0x6000 || margin > 0x8000) {
      store_u16(event, static_cast<uint16_t>(last_avail_idx_ + 0x8000), std::memory_order_relaxed);
    }
  } else if (load_u16(used_, std::memory_order_relaxed) != kUsedFNoNotify) {
    store_u16(used_, kUsedFNoNotify, std::memory_order_relaxed);
  }
}

template <bool kInOrder>
bool BasicSplitRing<kInOrder>::enable_kicks() noexcept {
  if (event_idx_) {
    // 2.7.10: the driver kicks once its idx passes avail_event.
    store_u16(used_ + kRingEntriesOffset + sizeof(VirtqUsedElem) * size_, last_avail_idx_,
              std::memory_order_relaxed);
  } else {
    store_u16(used_, 0, std::memory_order_relaxed);
  }
  // The request must be visible before avail->idx is read again, or a buffer the driver adds in
  // between would find kicks still off and never be kicked for (Linux: virtio_mb).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return load_avail_idx() != last_avail_idx_;
}

template <bool kInOrder>
void BasicSplitRing<kInOrder>::drain() noexcept {
  if constexpr (kInOrder) {
    std::vector<uint16_t> heads;
    heads.reserve(order_.size());
    order_.for_each_taken([&](uint16_t head) {
      if (!order_.finished(head)) heads.push_back(head);  // a finished one keeps its length
    });
    for (uint16_t head : heads) push_used(head, 0);
  } else {
    for (size_t head = 0; head < held_.size(); ++head) {
      if (held_[head]) push_used(static_cast<uint32_t>(head), 0);
    }
  }
  publish_used();
}

template <bool kInOrder>
void BasicSplitRing<kInOrder>::abandon() noexcept {
  std::fill(held_.begin(), held_.end(), 0);
  order_.clear();
  batch_count_ = 0;
}

template class BasicSplitRing<false>;
template class BasicSplitRing<true>;

}  // namespace pmdnet::virtio
