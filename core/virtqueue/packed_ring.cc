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
// A held chain's copy of its descriptors keeps its allocation up to this many; longer ones are
// freed when the chain is returned, so a driver cannot grow the copies to size() each.
constexpr size_t kKeptDescs = 8;

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
  r.pending_.reserve(a.size);
  r.walk_descs_.reserve(kKeptDescs);
  if (r.in_order_) r.order_ = InOrderUsed(a.size);
  return r;
}

uint16_t PackedRing::load_flags(uint16_t position) const noexcept {
  return load_u16(ring_ + sizeof(PackedDesc) * position + kFlagsOffset, std::memory_order_acquire);
}

uint32_t PackedRing::distance(uint16_t from, bool from_wrap, uint16_t to,
                              bool to_wrap) const noexcept {
  // (position, wrap) names a descriptor uniquely over two laps.
  const uint32_t a = from + (from_wrap ? 0u : size_);
  const uint32_t b = to + (to_wrap ? 0u : size_);
  return b >= a ? b - a : b + 2u * size_ - a;
}

std::expected<uint16_t, RingError> PackedRing::avail_count() const noexcept {
  // Counting reads every head's flags, so what was counted is remembered: the next call goes on
  // from the end of the last whole chain counted, and pop() takes chains off the front.
  if (scan_chains_ == 0) {
    scan_position_ = next_avail_;
    scan_wrap_ = avail_wrap_;
  }
  // The driver can have at most size() descriptors out; those the device holds are among them.
  const uint32_t budget = size_ - in_flight_;
  uint32_t seen = distance(next_avail_, avail_wrap_, scan_position_, scan_wrap_);
  uint16_t position = scan_position_;
  bool wrap = scan_wrap_;
  while (seen < budget) {
    uint16_t flags = load_flags(position);
    if (!is_avail(flags, wrap)) break;
    // The head is written last (2.8.21.1), so the rest of its chain is in place: follow NEXT.
    for (;;) {
      ++seen;
      advance(position, wrap, 1);
      if (!(flags & kDescFNext)) break;
      if (seen == budget) {
        if (scan_chains_ == 0) return std::unexpected(RingError::kChainUnterminated);
        return scan_chains_;
      }
      flags =
          load_u16(ring_ + sizeof(PackedDesc) * position + kFlagsOffset, std::memory_order_relaxed);
    }
    ++scan_chains_;
    scan_position_ = position;
    scan_wrap_ = wrap;
  }
  return scan_chains_;
}

void PackedRing::prefetch(uint16_t ahead) const noexcept {
  uint32_t position = uint32_t{next_avail_} + ahead;
  if (position >= size_) position %= size_;
  __builtin_prefetch(ring_ + sizeof(PackedDesc) * position);
}

std::expected<Chain, RingError> PackedRing::pop(std::span<ChainBuffer> scratch) noexcept {
  // The chain's ring descriptors, each copied once: later writes by the guest (or used
  // descriptors the device writes over them) cannot change what is validated.
  const uint32_t budget = size_ - in_flight_;
  walk_descs_.clear();
  for (;;) {
    if (walk_descs_.size() == budget) return std::unexpected(RingError::kChainUnterminated);
    const uint8_t* p = ring_ + sizeof(PackedDesc) * next_avail_;
    PackedDesc d;
    if (walk_descs_.empty()) {
      const uint16_t flags = load_flags(next_avail_);  // acquire: the chain is visible after it
      if (!is_avail(flags, avail_wrap_)) return std::unexpected(RingError::kChainUnterminated);
      std::memcpy(&d, p, sizeof(d));
      d.flags = flags;  // the value availability was decided on
    } else {
      std::memcpy(&d, p, sizeof(d));
    }
    walk_descs_.push_back(d);
    advance(next_avail_, avail_wrap_, 1);
    if (!(d.flags & kDescFNext)) break;
  }
  if (scan_chains_ > 0) {
    // Off the front of what avail_count() counted; a chain that grew since (the guest rewrote
    // it) makes the count void when it ran past the counted descriptors or left fewer of them
    // than chains counted (each chain has one at least).
    --scan_chains_;
    const uint32_t left = distance(next_avail_, avail_wrap_, scan_position_, scan_wrap_);
    if (left > size_ || left < scan_chains_) scan_chains_ = 0;
  }
  const uint16_t id = walk_descs_.back().id;
  // 2.8.6: the buffer id is the driver's; the device keeps per-id state, so it must be in range.
  if (id >= size_) return std::unexpected(RingError::kBufferIdOutOfRange);
  if (held_[id].held) return std::unexpected(RingError::kHeadInUse);  // consumed, ignored

  std::expected<Chain, RingError> chain = walk(id, walk_descs_, scratch);
  Held& h = held_[id];
  h.held = true;
  in_flight_ += static_cast<uint32_t>(walk_descs_.size());
  h.descs.swap(walk_descs_);  // the copy rewalk() uses; the buffers it had become the next walk's
  if (walk_descs_.capacity() > kKeptDescs) {
    std::vector<PackedDesc>().swap(walk_descs_);
    walk_descs_.reserve(kKeptDescs);
  }
  if (in_order_) order_.taken(id);
  // A chain that fails the walk goes back at once (after the chains before it, with IN_ORDER).
  if (!chain && !breaks_queue(chain.error())) push_used(id, 0);
  return chain;
}

std::expected<Chain, RingError> PackedRing::rewalk(uint16_t id,
                                                   std::span<ChainBuffer> scratch) const noexcept {
  if (id >= size_ || !held_[id].held) return std::unexpected(RingError::kBufferIdOutOfRange);
  return walk(id, held_[id].descs, scratch);
}

std::expected<Chain, RingError> PackedRing::walk(uint16_t id, std::span<const PackedDesc> descs,
                                                 std::span<ChainBuffer> scratch) const noexcept {
  uint64_t readable = 0;
  uint64_t writable = 0;
  bool seen_writable = false;
  size_t n = 0;
  auto add = [&](uint64_t addr, uint32_t len, bool w) -> std::expected<void, RingError> {
    if (len == 0) return {};  // zero-length descriptors take no scratch entry
    // 2.8.4: device-writable descriptors come after device-readable ones.
    if (!w && seen_writable) return std::unexpected(RingError::kReadableAfterWritable);
    seen_writable |= w;
    uint8_t* host = mem_->map(addr, len);
    if (host == nullptr && !mem_->check_range(addr, len)) {
      return std::unexpected(RingError::kBufferOutOfMemory);
    }
    if (n == scratch.size()) return std::unexpected(RingError::kChainTooLong);
    scratch[n++] = ChainBuffer{addr, len, w, host};
    (w ? writable : readable) += len;
    if (readable + writable > UINT32_MAX) return std::unexpected(RingError::kChainTooLarge);
    return {};
  };
  for (const PackedDesc& d : descs) {
    if (!(d.flags & kDescFIndirect)) {
      if (auto r = add(d.addr, d.len, (d.flags & kDescFWrite) != 0); !r) {
        return std::unexpected(r.error());
      }
      continue;
    }
    // 2.8.19: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag unless the
    // VIRTIO_F_INDIRECT_DESC feature was negotiated." and not with NEXT; then it ends the chain.
    if (!indirect_) return std::unexpected(RingError::kIndirectNotNegotiated);
    if (d.flags & kDescFNext) return std::unexpected(RingError::kIndirectWithNext);
    if (d.len == 0 || d.len % sizeof(PackedDesc) != 0) {
      return std::unexpected(RingError::kIndirectBadLength);
    }
    // The whole table is one chain: at most size() descriptors, as for a chain in the ring.
    if (d.len / sizeof(PackedDesc) > size_) return std::unexpected(RingError::kChainTooLong);
    const uint8_t* table = mem_->map(d.addr, d.len);
    if (table == nullptr) return std::unexpected(RingError::kIndirectOutOfMemory);
    // 2.8.19: every entry of the table, in order; only WRITE counts, NEXT and the id are ignored.
    // An indirect entry inside the table is refused (nested tables are not allowed).
    for (size_t i = 0; i < d.len / sizeof(PackedDesc); ++i) {
      PackedDesc e;
      std::memcpy(&e, table + sizeof(PackedDesc) * i, sizeof(e));
      if (e.flags & kDescFIndirect) return std::unexpected(RingError::kIndirectNested);
      if (auto r = add(e.addr, e.len, (e.flags & kDescFWrite) != 0); !r) {
        return std::unexpected(r.error());
      }
    }
  }
  return Chain{id, scratch.first(n), static_cast<uint32_t>(readable),
               static_cast<uint32_t>(writable)};
}

void PackedRing::write_used(uint16_t position, bool wrap, uint16_t id, uint32_t len) noexcept {
  uint8_t* p = ring_ + sizeof(PackedDesc) * position;
  std::memcpy(p + offsetof(PackedDesc, len), &len, sizeof(len));
  std::memcpy(p + offsetof(PackedDesc, id), &id, sizeof(id));
  // 2.8.1: a used descriptor's AVAIL and USED flags both equal the device's wrap counter. WRITE
  // says that the device wrote into the buffer, as DPDK's vhost sets it.
  uint16_t flags = wrap ? static_cast<uint16_t>(kPackedDescFAvail | kPackedDescFUsed) : 0;
  if (len > 0) flags |= kDescFWrite;
  pending_.push_back(PendingFlags{position, flags});
}

void PackedRing::release(uint16_t id, uint32_t len) noexcept {
  Held& h = held_[id];
  h.held = false;
  const auto descs = static_cast<uint32_t>(h.descs.size());
  in_flight_ -= descs;
  if (h.descs.capacity() > kKeptDescs) std::vector<PackedDesc>().swap(h.descs);
  if (batch_used_) {
    // 2.8.9: one used descriptor, with the last buffer's id, for the whole batch.
    if (batch_descs_ == 0) {
      batch_position_ = next_used_;
      batch_wrap_ = used_wrap_;
    }
    batch_descs_ += descs;
    batch_last_id_ = id;
  } else {
    write_used(next_used_, used_wrap_, id, len);
  }
  advance(next_used_, used_wrap_, descs);
}

void PackedRing::push_used(uint32_t id, uint32_t len) noexcept {
  if (id >= size_ || !held_[id].held) return;  // only chains pop() handed out
  if (in_order_) {
    order_.finish(static_cast<uint16_t>(id), len,
                  [this](uint16_t i, uint32_t l) { release(i, l); });
  } else {
    release(static_cast<uint16_t>(id), len);
  }
}

void PackedRing::flush_batch() noexcept {
  write_used(batch_position_, batch_wrap_, batch_last_id_, 0);
  batch_descs_ = 0;
}

void PackedRing::publish_used() noexcept {
  if (batch_descs_ > 0) flush_batch();
  if (pending_.empty()) return;
  // The ids and lengths above are visible before any flags (release); the first descriptor's
  // flags go last, so the driver, which reads from there, finds the whole batch at once.
  for (size_t i = pending_.size(); i-- > 1;) {
    store_u16(ring_ + sizeof(PackedDesc) * pending_[i].position + kFlagsOffset, pending_[i].flags,
              std::memory_order_release);
  }
  store_u16(ring_ + sizeof(PackedDesc) * pending_[0].position + kFlagsOffset, pending_[0].flags,
            std::memory_order_release);
  pending_.clear();
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
  pending_.clear();
  batch_descs_ = 0;
}

}  // namespace pmdnet::virtio
