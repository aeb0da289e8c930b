// PackedRing: the device side of one packed virtqueue (virtio 1.2, 2.8) over memory shared with a
// hostile guest, the packed layout of the Virtqueue seam (virtqueue.h). One ring of descriptors:
// the driver makes a chain available by flipping its head's AVAIL/USED flags to its wrap counter;
// the device writes one used descriptor per chain (its buffer id and length, the flags last with
// release ordering) at its own used position, and skips forward by the chain's descriptors.
//
// What differs from the split ring, and how this class handles it:
//   - Positions are not chains. A descriptor the device has read may be overwritten by a used
//     descriptor for another chain, and then made available again by the driver, while the chain
//     it belonged to is still held (out-of-order completion). pop() therefore keeps a copy of
//     each held chain's ring descriptors (inside its per-id entry for chains of up to two);
//     rewalk() walks that copy (and any indirect table, in guest memory, again).
//   - Nothing bounds a chain but the ring: the driver can have at most size() descriptors out, so
//     a chain (or all available chains) longer than size() minus the descriptors the device holds
//     is a driver that lies (kChainUnterminated, which breaks the queue).
//   - The buffer id is the driver's, on the chain's last descriptor; an id >= size() breaks the
//     queue (kBufferIdOutOfRange), an id the device still holds is ignored (kHeadInUse).
//   - Notifications go through the two event suppression structures (2.8.10); with EVENT_IDX the
//     driver may ask for one at a given used position and wrap (DESC mode).
//   - Ring indexes (vhost-user GET/SET_VRING_BASE): the position in bits 0..14, the wrap counter
//     in bit 15, as rte_vhost carries them for packed rings.
//
// With VIRTIO_F_IN_ORDER, chains are returned in the order they were taken (InOrderUsed), and a
// kDeviceReads ring returns each published batch as one used descriptor (2.8.9).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <span>
#include <vector>

#include "core/base/result.h"
#include "core/guest_memory/guest_memory.h"
#include "core/virtqueue/in_order.h"
#include "core/virtqueue/virtio_defs.h"
#include "core/virtqueue/virtqueue.h"

namespace pmdnet::virtio {

class PackedRing {
 public:
  PackedRing() = default;

  // Checks the size (1..32768), alignment (descriptor ring 16, event structures 4), and that each
  // part lies inside one region of `mem`. `start` holds the positions and wrap counters to resume
  // from (bit 15: wrap; {kPackedWrapBit, kPackedWrapBit} for a new ring, whose counters start at
  // 1). `features`: INDIRECT_DESC, EVENT_IDX and IN_ORDER matter.
  static Result<PackedRing> create(const RingAddresses& addresses, const GuestMemory& mem,
                                   uint64_t features, RingIndexes start, RingRole role);

  uint16_t size() const noexcept { return size_; }
  // The used position and wrap counter, encoded as in indexes(): changes with every chain
  // returned (what the poll pass compares to see whether to publish).
  uint16_t used_idx() const noexcept { return encode(next_used_, used_wrap_); }
  RingIndexes indexes() const noexcept {
    return {encode(next_avail_, avail_wrap_), encode(next_used_, used_wrap_)};
  }
  bool event_idx() const noexcept { return event_idx_; }
  bool in_order() const noexcept { return in_order_; }

  // Whole chains the driver has made available past the device's position (counted up to the
  // descriptors the driver can have out), or kChainUnterminated.
  std::expected<uint16_t, RingError> avail_count() const noexcept;

  // The next available chain (call only while avail_count() > 0), its buffers in `scratch`. The
  // descriptors are consumed whatever the outcome; a chain that fails without breaking the queue
  // goes back to the driver as used with length 0 (when its buffer id is known and not held).
  std::expected<Chain, RingError> pop(std::span<ChainBuffer> scratch) noexcept;
  // A hint: the descriptor `ahead` positions past the next one is read soon.
  void prefetch(uint16_t ahead) const noexcept {
    uint32_t position = uint32_t{next_avail_} + ahead;
    if (position >= size_) {
      position -= size_;
      if (position >= size_) position %= size_;  // rings smaller than `ahead`
    }
    __builtin_prefetch(ring_ + sizeof(PackedDesc) * position);
  }
  // A held chain walked again from the copy pop() kept, with every check again.
  std::expected<Chain, RingError> rewalk(uint16_t id,
                                         std::span<ChainBuffer> scratch) const noexcept;
  bool held(uint16_t id) const noexcept { return id < size_ && held_[id].held; }

  // Returns held chain `id` with `len` bytes written; visible at publish_used().
  void push_used(uint32_t id, uint32_t len) noexcept {
    if (id >= size_ || !held_[id].held) return;  // only chains pop() handed out
    if (in_order_) {
      push_used_in_order(static_cast<uint16_t>(id), len);
    } else {
      release(static_cast<uint16_t>(id), len);
    }
  }
  // Makes every returned chain visible: the flags of the first used descriptor written since the
  // last publish (those after it carry theirs already, but the driver reads from the first).
  void publish_used() noexcept;
  // After publish_used(): whether the driver's event suppression asks for a notification for
  // what was published since the last decision.
  bool needs_notification() noexcept;

  // The device's event suppression: DISABLE (the device polls), or ENABLE / DESC at the next
  // position; enable_kicks() then looks once more and returns true if a chain arrived meanwhile.
  void suppress_kicks() noexcept;
  bool enable_kicks() noexcept;

  // Returns every held chain as used with length 0 (in order, with IN_ORDER), and publishes.
  void drain() noexcept;
  // Forgets every held chain without writing the ring.
  void abandon() noexcept;

  static constexpr uint16_t encode(uint16_t position, bool wrap) noexcept {
    return static_cast<uint16_t>(position | (wrap ? kPackedWrapBit : 0));
  }

 private:
  // A held chain's ring descriptors, as validated at pop(): up to kInlineDescs inside the entry,
  // a longer chain's in `more` (kept up to kKeptDescs, so a driver cannot grow every id's copy to
  // size()).
  static constexpr uint16_t kInlineDescs = 2;
  static constexpr size_t kKeptDescs = 8;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): descs() reads only the first `count`
  struct Held {
    PackedDesc inline_descs[kInlineDescs];
    std::vector<PackedDesc> more;
    uint16_t count = 0;  // ring descriptors of the chain
    bool held = false;
    std::span<const PackedDesc> descs() const noexcept {
      return count <= kInlineDescs ? std::span<const PackedDesc>(inline_descs, count)
                                   : std::span<const PackedDesc>(more);
    }
  };

  // The flags word of the descriptor at `position`, read with acquire ordering (the rest of the
  // descriptor, written before it, is visible after).
  uint16_t load_flags(uint16_t position) const noexcept {
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(ring_ +
                                                                  sizeof(PackedDesc) * position +
                                                                  offsetof(PackedDesc, flags)))
        .load(std::memory_order_acquire);
  }
  static constexpr uint16_t kPackedDescFAvailUsed = kPackedDescFAvail | kPackedDescFUsed;
  // 2.8.1: the AVAIL/USED bits of a descriptor available for a driver wrap counter `wrap`: AVAIL
  // equal to it, USED not.
  static uint16_t avail_bits(bool wrap) noexcept {
    return wrap ? kPackedDescFAvail : kPackedDescFUsed;
  }
  static bool is_avail(uint16_t flags, bool wrap) noexcept {
    return (flags & kPackedDescFAvailUsed) == avail_bits(wrap);
  }
  struct ChainBuilder;  // a walk's buffers so far, and the checks each one passes
  // Walks `descs` (ring descriptors of one chain, the last without NEXT) into `scratch`.
  std::expected<Chain, RingError> walk(uint16_t id, std::span<const PackedDesc> descs,
                                       std::span<ChainBuffer> scratch) const noexcept;
  // The rest of walk() from an INDIRECT descriptor (which ends a chain): its table's buffers
  // after those `b` holds.
  std::expected<Chain, RingError> walk_indirect(uint16_t id, const PackedDesc& d,
                                                ChainBuilder b) const noexcept;
  // pop(): copies the next chain's ring descriptors into pop_descs_ (`n` of them) and checks its
  // buffer id; kCount when the chain can be walked.
  RingError take_descs(uint32_t& n) noexcept;
  // Writes id and len of a used descriptor at `position`, and its flags (for `wrap`): at once,
  // or at publish_used() for the first one since the last publish.
  void write_used(uint16_t position, bool wrap, uint16_t id, uint32_t len) noexcept {
    uint8_t* p = ring_ + sizeof(PackedDesc) * position;
    std::memcpy(p + offsetof(PackedDesc, len), &len, sizeof(len));
    std::memcpy(p + offsetof(PackedDesc, id), &id, sizeof(id));
    // 2.8.1: a used descriptor's AVAIL and USED flags both equal the device's wrap counter. WRITE
    // says that the device wrote into the buffer, as DPDK's vhost sets it.
    uint16_t flags = wrap ? kPackedDescFAvailUsed : 0;
    if (len > 0) flags |= kDescFWrite;
    if (!first_pending_) {
      first_pending_ = true;
      first_position_ = position;
      first_flags_ = flags;
      return;
    }
    // Release: its id and length are visible before its flags.
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p + offsetof(PackedDesc, flags)))
        .store(flags, std::memory_order_release);
  }
  // Moves a position and its wrap counter on by `n` descriptors.
  void advance(uint16_t& position, bool& wrap, uint32_t n) const noexcept {
    position = static_cast<uint16_t>(position + n);
    if (position >= size_) {
      position = static_cast<uint16_t>(position - size_);
      wrap = !wrap;
    }
  }
  // A held chain is finished: written now, or (IN_ORDER) when the chains before it are.
  void release(uint16_t id, uint32_t len) noexcept {
    Held& h = held_[id];
    h.held = false;
    const uint32_t descs = h.count;
    in_flight_ -= descs;
    if (descs > kInlineDescs && h.more.capacity() > kKeptDescs) {
      std::vector<PackedDesc>().swap(h.more);
    }
    if (batch_used_) {
      add_to_batch(id, descs);
    } else {
      write_used(next_used_, used_wrap_, id, len);
    }
    advance(next_used_, used_wrap_, descs);
  }
  void add_to_batch(uint16_t id, uint32_t descs) noexcept {
    // 2.8.9: one used descriptor, with the last buffer's id, for the whole batch.
    if (batch_descs_ == 0) {
      batch_position_ = next_used_;
      batch_wrap_ = used_wrap_;
    }
    batch_descs_ += descs;
    batch_last_id_ = id;
  }
  void push_used_in_order(uint16_t id, uint32_t len) noexcept {
    order_.finish(id, len, [this](uint16_t i, uint32_t l) { release(i, l); });
  }
  void flush_batch() noexcept;

  uint8_t* ring_ = nullptr;          // descriptor ring
  uint8_t* driver_event_ = nullptr;  // the driver's event suppression (read)
  uint8_t* device_event_ = nullptr;  // the device's event suppression (written)
  const GuestMemory* mem_ = nullptr;
  uint16_t size_ = 0;
  uint16_t next_avail_ = 0;  // position of the next chain's head
  bool avail_wrap_ = true;
  uint16_t next_used_ = 0;  // position of the next used descriptor
  bool used_wrap_ = true;
  uint16_t signalled_used_ = 0;  // next_used_ when last decided about notifying (position)
  bool signalled_valid_ = false;
  uint32_t in_flight_ = 0;  // ring descriptors of the chains held (taken, not yet written back)
  // What avail_count() counted and pop() has not taken: whole chains of scan_descs_ descriptors
  // from next_avail_, ending at scan_position_.
  mutable uint16_t scan_chains_ = 0;
  mutable uint32_t scan_descs_ = 0;
  mutable uint16_t scan_position_ = 0;
  mutable bool scan_wrap_ = true;
  bool event_idx_ = false;
  bool indirect_ = false;
  bool in_order_ = false;
  bool batch_used_ = false;    // IN_ORDER on a kDeviceReads ring
  uint16_t device_flags_ = 0;  // what suppress_kicks/enable_kicks last wrote
  bool device_flags_known_ = false;
  // The first used descriptor written since the last publish: its flags, stored last.
  bool first_pending_ = false;
  uint16_t first_position_ = 0;
  uint16_t first_flags_ = 0;
  std::vector<Held> held_;             // by buffer id
  std::vector<PackedDesc> pop_descs_;  // pop(): the chain's ring descriptors (size() entries)
  InOrderUsed order_;                  // IN_ORDER: ids in the order taken
  // IN_ORDER batch on a kDeviceReads ring: the chains released since the last publish, written
  // as one used descriptor at the batch's first position.
  uint32_t batch_descs_ = 0;
  uint16_t batch_last_id_ = 0;
  uint16_t batch_position_ = 0;
  bool batch_wrap_ = false;
  bool unsignalled_ = false;  // published since the last needs_notification()
};

static_assert(Virtqueue<PackedRing>);

}  // namespace pmdnet::virtio
