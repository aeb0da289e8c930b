// PackedRing: availability by flags and wrap counters, the chain walk that checks every descriptor
// the guest wrote before using it, used descriptors written flags-last, and the event suppression
// structures.
#include "core/virtqueue/packed_ring.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace pmdnet::virtio {

namespace {

constexpr size_t kFlagsOffset = offsetof(PackedDesc, flags);
constexpr size_t kEventFlagsOffset = offsetof(PackedEventSuppress, flags);

uint16_t load_u16(const uint8_t* p, std::memory_order order) noexcept {
  // The guest writes these concurrently; the spec guarantees their alignment.
  return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(const_cast<uint8_t*>(p)))
      .load(order);
}

void store_u16(uint8_t* p, uint16_t v, std::memory_order order) noexcept {
  std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).store(v, order);
}

}  // namespace

Result<PackedRing> PackedRing::create(const RingAddresses& a, const GuestMemory& mem,
                                      uint64_t features, RingIndexes start, RingRole role) {
  if (a.size == 0 || a.size > kMaxQueueSize) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("packed ring size {} is not in 1..32768", a.size));
  }
  if (auto parts = check_ring_parts(a, 4, 4); !parts) return std::unexpected(parts.error());
  // 2.8.10: the ring and both event suppression structures, each inside one region (rte_vhost's
  // translation is not trusted: see SplitRing::create).
  const size_t ring_bytes = sizeof(PackedDesc) * size_t{a.size};
  if (!mem.contains_host(a.desc, ring_bytes) ||
      !mem.contains_host(a.avail, sizeof(PackedEventSuppress)) ||
      !mem.contains_host(a.used, sizeof(PackedEventSuppress))) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("packed ring of size {} does not lie in guest memory (descriptor "
                                  "ring {} B, event suppression 4 B each, each in one region)",
                                  a.size, ring_bytes));
  }
  const uint16_t avail_position = start.last_avail_idx & ~kPackedWrapBit;
  const uint16_t used_position = start.used_idx & ~kPackedWrapBit;
  if (avail_position >= a.size || used_position >= a.size) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("packed ring base (avail {:#x}, used {:#x}) past ring size {}",
                                  start.last_avail_idx, start.used_idx, a.size));
  }
  PackedRing r;
  r.ring_ = a.desc;
  r.driver_event_ = a.avail;
  r.device_event_ = a.used;
  r.mem_ = &mem;
  r.size_ = a.size;
  r.next_avail_ = avail_position;
  r.avail_wrap_ = (start.last_avail_idx & kPackedWrapBit) != 0;
  r.next_used_ = used_position;
  r.used_wrap_ = (start.used_idx & kPackedWrapBit) != 0;
  r.signalled_used_ = used_position;
  r.event_idx_ = has(features, feature::kRingEventIdx);
  r.indirect_ = has(features, feature::kRingIndirectDesc);
  r.in_order_ = has(features, feature::kInOrder);
  r.batch_used_ = r.in_order_ && role == RingRole::kDeviceReads;
  r.held_.resize(a.size);
  r.pop_descs_.resize(a.size);
  if (r.in_order_) r.order_ = InOrderUsed(a.size);
  return r;
}

std::expected<uint16_t, RingError> PackedRing::avail_count() const noexcept {
  // Counting reads every head's flags, so what was counted is remembered: the next call goes on
  // from the end of the last whole chain counted, and pop() takes chains off the front.
  if (scan_chains_ == 0) {
    scan_descs_ = 0;
    scan_position_ = next_avail_;
    scan_wrap_ = avail_wrap_;
  }
  // The driver can have at most size() descriptors out; those the device holds are among them.
  const uint32_t budget = size_ - in_flight_;
  // Locals: the flags loads (acquire) would make the compiler read members again after each.
  const uint8_t* const flags_at = ring_ + offsetof(PackedDesc, flags);
  const uint32_t size = size_;
  // At the top of the loop, these are at the end of the last whole chain counted.
  uint32_t seen = scan_descs_;
  uint16_t chains = scan_chains_;
  uint32_t position = scan_position_;
  uint16_t avail = avail_bits(scan_wrap_);  // what AVAIL/USED read in this lap
  auto step = [size](uint32_t& p, uint16_t& a) {
    if (++p == size) {
      p = 0;
      a ^= kPackedDescFAvailUsed;
    }
  };
  while (seen < budget) {
    uint16_t flags = load_u16(flags_at + sizeof(PackedDesc) * position, std::memory_order_acquire);
    if ((flags & kPackedDescFAvailUsed) != avail) break;
    if (flags & kDescFNext) {
      // The head is written last (2.8.21.1), so the rest of its chain is in place: follow NEXT.
      uint32_t chain_seen = seen + 1;
      uint32_t chain_position = position;
      uint16_t chain_avail = avail;
      step(chain_position, chain_avail);
      for (;;) {
        if (chain_seen == budget) {
          if (chains == 0) return std::unexpected(RingError::kChainUnterminated);
          goto counted;  // unterminated within the budget: not counted
        }
        flags = load_u16(flags_at + sizeof(PackedDesc) * chain_position, std::memory_order_relaxed);
        ++chain_seen;
        step(chain_position, chain_avail);
        if (!(flags & kDescFNext)) break;
      }
      seen = chain_seen;
      position = chain_position;
      avail = chain_avail;
    } else {
      ++seen;
      step(position, avail);
    }
    ++chains;
  }
counted:
  scan_chains_ = chains;
  scan_descs_ = seen;
  scan_position_ = static_cast<uint16_t>(position);
  scan_wrap_ = avail == kPackedDescFAvail;
  return chains;
}

// A chain's buffers as walk() collects them, with the checks every buffer passes.
struct PackedRing::ChainBuilder {
  const GuestMemory& mem;
  std::span<ChainBuffer> scratch;
  size_t n = 0;
  uint64_t total = 0;     // bytes of every buffer taken
  uint64_t writable = 0;  // of which device-writable (non-zero once one is taken)

  // RingError::kCount when the buffer is taken.
  [[gnu::always_inline]] RingError add(uint64_t addr, uint32_t len, bool w) noexcept {
    if (len == 0) return RingError::kCount;  // zero-length descriptors take no scratch entry
    // 2.8.4: device-writable descriptors come after device-readable ones.
    if (!w && writable != 0) return RingError::kReadableAfterWritable;
    uint8_t* host = mem.map(addr, len);
    if (host == nullptr && !mem.check_range(addr, len)) return RingError::kBufferOutOfMemory;
    if (n == scratch.size()) return RingError::kChainTooLong;
    scratch[n++] = ChainBuffer{addr, len, w, host};
    total += len;
    writable += w ? len : 0;
    if (total > UINT32_MAX) return RingError::kChainTooLarge;
    return RingError::kCount;
  }
  std::expected<Chain, RingError> chain(uint16_t id) const noexcept {
    return Chain{id, scratch.first(n), static_cast<uint32_t>(total - writable),
                 static_cast<uint32_t>(writable)};
  }
};

[[gnu::always_inline]] inline std::expected<Chain, RingError> PackedRing::walk(
    uint16_t id, std::span<const PackedDesc> descs, std::span<ChainBuffer> scratch) const noexcept {
  ChainBuilder b{*mem_, scratch};
  for (const PackedDesc& d : descs) {
    // An indirect descriptor ends the chain. The builder goes by value, so that it stays in
    // registers here.
    if (d.flags & kDescFIndirect) [[unlikely]]
      return walk_indirect(id, d, b);
    if (RingError e = b.add(d.addr, d.len, (d.flags & kDescFWrite) != 0); e != RingError::kCount) {
      return std::unexpected(e);
    }
  }
  return b.chain(id);
}

std::expected<Chain, RingError> PackedRing::walk_indirect(uint16_t id, const PackedDesc& d,
                                                          ChainBuilder b) const noexcept {
  // 2.8.19: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag unless the
  // VIRTIO_F_INDIRECT_DESC feature was negotiated." and not with NEXT; then it ends the chain.
  if (!indirect_) return std::unexpected(RingError::kIndirectNotNegotiated);
  if (d.flags & kDescFNext) return std::unexpected(RingError::kIndirectWithNext);
  if (d.len == 0 || d.len % sizeof(PackedDesc) != 0)
    return std::unexpected(RingError::kIndirectBadLength);
  // The whole table is one chain: at most size() descriptors, as for a chain in the ring.
  if (d.len / sizeof(PackedDesc) > size_) return std::unexpected(RingError::kChainTooLong);
  const uint8_t* table = mem_->map(d.addr, d.len);
  if (table == nullptr) return std::unexpected(RingError::kIndirectOutOfMemory);
  // 2.8.19: every entry of the table, in order; only WRITE counts, NEXT and the id are ignored.
  // An indirect entry inside the table is refused (nested tables are not allowed).
  for (size_t i = 0; i < d.len / sizeof(PackedDesc); ++i) {
    PackedDesc e;  // NOLINT(cppcoreguidelines-pro-type-member-init): the memcpy below fills it
    std::memcpy(&e, table + sizeof(PackedDesc) * i, sizeof(e));
    if (e.flags & kDescFIndirect) return std::unexpected(RingError::kIndirectNested);
    if (RingError r = b.add(e.addr, e.len, (e.flags & kDescFWrite) != 0); r != RingError::kCount) {
      return std::unexpected(r);
    }
  }
  return b.chain(id);
}

[[gnu::always_inline]] inline RingError PackedRing::take_descs(uint32_t& n) noexcept {
  // The chain's ring descriptors, each copied once: later writes by the guest (or used
  // descriptors the device writes over them) cannot change what is validated.
  const uint32_t budget = size_ - in_flight_;
  if (budget == 0) return RingError::kChainUnterminated;
  PackedDesc* descs = pop_descs_.data();
  const uint16_t head_flags = load_flags(next_avail_);  // acquire: the chain is visible after it
  if (!is_avail(head_flags, avail_wrap_)) return RingError::kChainUnterminated;
  std::memcpy(&descs[0], ring_ + sizeof(PackedDesc) * next_avail_, sizeof(PackedDesc));
  descs[0].flags = head_flags;  // the value availability was decided on
  n = 1;
  advance(next_avail_, avail_wrap_, 1);
  while (descs[n - 1].flags & kDescFNext) {
    if (n == budget) return RingError::kChainUnterminated;
    std::memcpy(&descs[n], ring_ + sizeof(PackedDesc) * next_avail_, sizeof(PackedDesc));
    ++n;
    advance(next_avail_, avail_wrap_, 1);
  }
  if (scan_chains_ > 0) {
    // Off the front of what avail_count() counted; a chain that grew since (the guest rewrote
    // it) makes the count void when it ran past the counted descriptors or left fewer of them
    // than chains counted (each chain has one at least).
    --scan_chains_;
    if (n > scan_descs_ || scan_descs_ - n < scan_chains_) {
      scan_chains_ = 0;
    } else {
      scan_descs_ -= n;
    }
  }
  const uint16_t id = descs[n - 1].id;
  // 2.8.6: the buffer id is the driver's; the device keeps per-id state, so it must be in range.
  if (id >= size_) return RingError::kBufferIdOutOfRange;
  if (held_[id].held) return RingError::kHeadInUse;  // consumed, ignored
  return RingError::kCount;
}

std::expected<Chain, RingError> PackedRing::pop(std::span<ChainBuffer> scratch) noexcept {
  uint32_t n = 0;
  const RingError taken = take_descs(n);
  const std::span<const PackedDesc> descs(pop_descs_.data(), n);
  const uint16_t id = taken == RingError::kCount ? descs.back().id : 0;
  // One named result, returned on every path, so that it is built in place (no copy).
  std::expected<Chain, RingError> chain =
      taken == RingError::kCount ? walk(id, descs, scratch)
                                 : std::expected<Chain, RingError>(std::unexpect, taken);
  if (taken != RingError::kCount) return chain;
  Held& h = held_[id];
  h.held = true;
  // The copy rewalk() uses.
  h.count = static_cast<uint16_t>(n);
  static_assert(kInlineDescs == 2);
  if (n <= kInlineDescs) {
    h.inline_descs[0] = descs[0];
    if (n == 2) h.inline_descs[1] = descs[1];
  } else {
    h.more.assign(descs.begin(), descs.end());
  }
  in_flight_ += n;
  if (in_order_) order_.taken(id);
  // A chain that fails the walk goes back at once (after the chains before it, with IN_ORDER).
  if (!chain && !breaks_queue(chain.error())) push_used(id, 0);
  return chain;
}

std::expected<Chain, RingError> PackedRing::rewalk(uint16_t id,
                                                   std::span<ChainBuffer> scratch) const noexcept {
  if (id >= size_ || !held_[id].held) return std::unexpected(RingError::kBufferIdOutOfRange);
  return walk(id, held_[id].descs(), scratch);
}

void PackedRing::flush_batch() noexcept {
  write_used(batch_position_, batch_wrap_, batch_last_id_, 0);
  batch_descs_ = 0;
}

void PackedRing::publish_used() noexcept {
  if (batch_descs_ > 0) flush_batch();
  if (!first_pending_) return;
  // The ids and lengths, and the flags of every later used descriptor, are visible before these
  // flags (release): the driver, which reads from here, finds the whole batch at once.
  store_u16(ring_ + sizeof(PackedDesc) * first_position_ + kFlagsOffset, first_flags_,
            std::memory_order_release);
  first_pending_ = false;
  unsignalled_ = true;
}

bool PackedRing::needs_notification() noexcept {
  if (!unsignalled_) return false;
  unsignalled_ = false;
  // Order the flags stores before reading the driver's event suppression (Linux: virtio_mb).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint16_t old_used = signalled_used_;
  const uint16_t new_used = next_used_;
  const bool valid = signalled_valid_;
  signalled_used_ = new_used;
  signalled_valid_ = true;
  // Acquire: the driver writes off_wrap before the flags that make it count (Linux:
  // virtqueue_enable_cb_prepare_packed's virtio_wmb), so it is read after them.
  const uint16_t flags =
      load_u16(driver_event_ + kEventFlagsOffset, std::memory_order_acquire) & 0x3;
  if (!event_idx_ || flags != kPackedEventDesc) return flags != kPackedEventDisable;
  if (!valid) return true;
  // 2.8.10 DESC mode: notify once the used descriptor at off_wrap has been written. Positions
  // taken back by a lap, as DPDK's vhost_vring_call_packed does, then the split rule.
  const uint16_t off_wrap = load_u16(driver_event_, std::memory_order_relaxed);
  auto off = static_cast<uint16_t>(off_wrap & ~kPackedWrapBit);
  if (new_used <= old_used) old_used = static_cast<uint16_t>(old_used - size_);
  if (used_wrap_ != ((off_wrap & kPackedWrapBit) != 0)) off = static_cast<uint16_t>(off - size_);
  return vring_need_event(off, new_used, old_used);
}

void PackedRing::suppress_kicks() noexcept {
  // Written only when it changes: the store takes the line from the driver, which reads it on
  // every kick decision.
  if (device_flags_known_ && device_flags_ == kPackedEventDisable) return;
  store_u16(device_event_ + kEventFlagsOffset, kPackedEventDisable, std::memory_order_relaxed);
  device_flags_ = kPackedEventDisable;
  device_flags_known_ = true;
}

bool PackedRing::enable_kicks() noexcept {
  if (event_idx_) {
    // 2.8.10: kick when the descriptor at this position (and wrap) is made available.
    // Release: the driver that sees DESC sees this off_wrap with it (DPDK's
    // vhost_enable_notify_packed fences between them too).
    store_u16(device_event_, encode(next_avail_, avail_wrap_), std::memory_order_relaxed);
    store_u16(device_event_ + kEventFlagsOffset, kPackedEventDesc, std::memory_order_release);
    device_flags_ = kPackedEventDesc;
  } else {
    store_u16(device_event_ + kEventFlagsOffset, kPackedEventEnable, std::memory_order_relaxed);
    device_flags_ = kPackedEventEnable;
  }
  device_flags_known_ = true;
  // The request must be visible before the ring is read again (Linux: virtio_mb).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return is_avail(load_flags(next_avail_), avail_wrap_);
}

void PackedRing::drain() noexcept {
  if (in_order_) {
    std::vector<uint16_t> ids;
    ids.reserve(order_.size());
    order_.for_each_taken([&](uint16_t id) {
      if (!order_.finished(id)) ids.push_back(id);  // a finished one keeps its length
    });
    for (uint16_t id : ids) push_used(id, 0);
  } else {
    for (uint32_t id = 0; id < size_; ++id) {
      if (held_[id].held) release(static_cast<uint16_t>(id), 0);
    }
  }
  publish_used();
}

void PackedRing::abandon() noexcept {
  for (Held& h : held_) h.held = false;
  scan_chains_ = 0;
  in_flight_ = 0;
  order_.clear();
  first_pending_ = false;
  batch_descs_ = 0;
}

}  // namespace pmdnet::virtio
