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
//     each held chain's ring descriptors; rewalk() walks that copy (and any indirect table, in
//     guest memory, again).
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
  void prefetch(uint16_t ahead) const noexcept;
  // A held chain walked again from the copy pop() kept, with every check again.
  std::expected<Chain, RingError> rewalk(uint16_t id,
                                         std::span<ChainBuffer> scratch) const noexcept;
  bool held(uint16_t id) const noexcept { return id < size_ && held_[id].held; }

  // Returns held chain `id` with `len` bytes written; visible at publish_used().
  void push_used(uint32_t id, uint32_t len) noexcept;
  // Makes every returned chain visible: the used descriptors' flags, the first one last.
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
  struct Held {
    std::vector<PackedDesc> descs;  // the chain's ring descriptors, as validated at pop()
    bool held = false;
  };
  // Where a pending used descriptor was written (its flags are stored at publish_used()).
  struct PendingFlags {
    uint16_t position;
    uint16_t flags;
  };

  // The flags word of the descriptor at `position`, read with acquire ordering (the rest of the
  // descriptor, written before it, is visible after).
  uint16_t load_flags(uint16_t position) const noexcept;
  bool is_avail(uint16_t flags, bool wrap) const noexcept {
    return ((flags & kPackedDescFAvail) != 0) == wrap && ((flags & kPackedDescFUsed) != 0) != wrap;
  }
  // Descriptors from (from, from_wrap) to (to, to_wrap), going forward (at most 2 * size()).
  uint32_t distance(uint16_t from, bool from_wrap, uint16_t to, bool to_wrap) const noexcept;
  // Walks `descs` (ring descriptors of one chain, the last without NEXT) into `scratch`.
  std::expected<Chain, RingError> walk(uint16_t id, std::span<const PackedDesc> descs,
                                       std::span<ChainBuffer> scratch) const noexcept;
  // Writes id and len of a used descriptor at `position`; its flags (for `wrap`) are stored at
  // publish_used().
  void write_used(uint16_t position, bool wrap, uint16_t id, uint32_t len) noexcept;
  // Moves a position and its wrap counter on by `n` descriptors.
  void advance(uint16_t& position, bool& wrap, uint32_t n) const noexcept {
    position = static_cast<uint16_t>(position + n);
    if (position >= size_) {
      position = static_cast<uint16_t>(position - size_);
      wrap = !wrap;
    }
  }
  // A held chain is finished: written now, or (IN_ORDER) when the chains before it are.
  void release(uint16_t id, uint32_t len) noexcept;
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
  // What avail_count() counted and pop() has not taken: whole chains, ending at scan_position_.
  mutable uint16_t scan_chains_ = 0;
  mutable uint16_t scan_position_ = 0;
  mutable bool scan_wrap_ = true;
  bool event_idx_ = false;
  bool indirect_ = false;
  bool in_order_ = false;
  bool batch_used_ = false;    // IN_ORDER on a kDeviceReads ring
  uint16_t device_flags_ = 0;  // what suppress_kicks/enable_kicks last wrote
  bool device_flags_known_ = false;
  std::vector<Held> held_;              // by buffer id
  std::vector<PendingFlags> pending_;   // used descriptors written, flags not yet stored
  std::vector<PackedDesc> walk_descs_;  // pop(): the chain's ring descriptors
  InOrderUsed order_;                   // IN_ORDER: ids in the order taken
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
