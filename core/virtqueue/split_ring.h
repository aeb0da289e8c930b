// SplitRing: the device side of one split virtqueue (virtio 1.2, 2.7) over memory shared with a
// hostile guest, the split layout of the Virtqueue seam (virtqueue.h). It pops available heads,
// walks descriptor chains (direct and indirect) into validated guest buffers, keeps which heads
// the device holds, publishes used elements, and decides when the guest needs a notification
// (EVENT_IDX or NO_INTERRUPT); with IN_ORDER it returns heads in the order it took them, and a
// guest TX ring's batch as one used element (2.7.9). It owns the ring indexes; the vhost-user glue
// restores and saves them (SET/GET_VRING_BASE).
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

// kInOrder: VIRTIO_F_IN_ORDER was negotiated (VirtioNetQueue picks the type by the feature); the
// layout without it pays nothing for it.
template <bool kInOrder>
class BasicSplitRing {
 public:
  // Offsets inside the avail and used rings (2.7.6, 2.7.8).
  static constexpr size_t kRingIdxOffset = 2;
  static constexpr size_t kRingEntriesOffset = 4;

  BasicSplitRing() = default;

  // Checks sizes, alignment, and that each ring part lies inside one region of `mem` for this size.
  // `last_avail_idx` and `used_idx` are the indexes to resume from (0 for a new ring).
  // `features` are the negotiated ones (INDIRECT_DESC and EVENT_IDX matter; their IN_ORDER bit
  // must be kInOrder); `role` matters with IN_ORDER only (RingRole).
  static Result<BasicSplitRing> create(const RingAddresses& addresses, const GuestMemory& mem,
                                       uint64_t features, uint16_t last_avail_idx,
                                       uint16_t used_idx, RingRole role = RingRole::kDeviceWrites);

  uint16_t size() const noexcept { return size_; }
  uint16_t last_avail_idx() const noexcept { return last_avail_idx_; }
  uint16_t used_idx() const noexcept { return used_idx_; }
  RingIndexes indexes() const noexcept { return {last_avail_idx_, used_idx_}; }
  bool event_idx() const noexcept { return event_idx_; }

  // Heads the driver made available that have not been popped, or kAvailIndexJump.
  std::expected<uint16_t, RingError> avail_count() const noexcept;

  // Pops the next available head; call only while avail_count() > 0. The head is not checked
  // here: walk() does that.
  uint16_t pop_avail() noexcept {
    const uint16_t slot = last_avail_idx_ & (size_ - 1);
    ++last_avail_idx_;
    // Relaxed: avail_count()'s acquire load of avail->idx ordered the entries before it.
    return std::atomic_ref<uint16_t>(
               *reinterpret_cast<uint16_t*>(avail_ + kRingEntriesOffset + size_t{2} * slot))
        .load(std::memory_order_relaxed);
  }
  // A hint: prefetches the descriptor whose head is `ahead` entries past the next one pop_avail
  // returns. Call only for entries avail_count() covers; the head is masked into the table.
  void prefetch_desc(uint16_t ahead) const noexcept {
    const uint16_t slot = static_cast<uint16_t>(last_avail_idx_ + ahead) & (size_ - 1);
    const uint16_t head =
        std::atomic_ref<uint16_t>(
            *reinterpret_cast<uint16_t*>(avail_ + kRingEntriesOffset + size_t{2} * slot))
            .load(std::memory_order_relaxed) &
        (size_ - 1);
    __builtin_prefetch(desc_ + sizeof(VirtqDesc) * head);
  }

  // Walks the chain at `head` into `scratch` (which should hold size() entries: enough for any
  // chain in the ring, or in one indirect table at its head; a chain of more buffers fails with
  // kChainTooLong, nothing is written past the scratch). The ring's descriptors are bounded by
  // size(), an indirect table's by its own length and size(). Every buffer is checked against
  // guest memory.
  // A chain of one direct descriptor inside one region (what Linux posts on a mergeable RX
  // ring) is walked inline; any other goes to walk_chain(), which runs every check.
  std::expected<Chain, RingError> walk(uint16_t head,
                                       std::span<ChainBuffer> scratch) const noexcept {
    if (head < size_ && !scratch.empty()) {
      VirtqDesc d;  // NOLINT(cppcoreguidelines-pro-type-member-init): the memcpy below fills it
      std::memcpy(&d, desc_ + sizeof(VirtqDesc) * head, sizeof(d));
      if ((d.flags & (kDescFNext | kDescFIndirect)) == 0 && d.len > 0) {
        if (uint8_t* host = mem_->map(d.addr, d.len)) {
          const bool w = (d.flags & kDescFWrite) != 0;
          scratch[0] = ChainBuffer{d.addr, d.len, w, host};
          return Chain{head, scratch.first(1), w ? 0 : d.len, w ? d.len : 0};
        }
      }
    }
    return walk_chain(head, scratch);
  }

  // The Virtqueue seam's pop: pop_avail() and walk() of the next head into `scratch`, holding
  // the head until push_used(). A chain that fails the walk without breaking the queue goes back
  // to the guest as used with length 0 (unless its head is held), and a held head made available
  // again is ignored (kHeadInUse).
  std::expected<Chain, RingError> pop(std::span<ChainBuffer> scratch) noexcept {
    const uint16_t head = pop_avail();
    // One named result, returned on every path, so that it is built in place (no copy).
    std::expected<Chain, RingError> chain = walk(head, scratch);
    if (!chain) {
      if (!breaks_queue(chain.error()) && !held_[head]) {
        take(head);
        push_used(head, 0);
      }
    } else if (held_[head]) {
      chain = std::unexpected(RingError::kHeadInUse);
    } else {
      take(head);
    }
    return chain;
  }
  void prefetch(uint16_t ahead) const noexcept { prefetch_desc(ahead); }
  // Walks a held head's chain again (the guest may have rewritten it: every check runs again).
  std::expected<Chain, RingError> rewalk(uint16_t head,
                                         std::span<ChainBuffer> scratch) const noexcept {
    return walk(head, scratch);
  }
  bool held(uint16_t head) const noexcept { return head < size_ && held_[head] != 0; }

  // Returns a held head with `len` bytes written: a used element at the next used slot (with
  // IN_ORDER, once every head taken before it is returned too), not visible to the guest until
  // publish_used(). The head is no longer held.
  void push_used(uint32_t head, uint32_t len) noexcept {
    if constexpr (kInOrder) {
      push_used_in_order(head, len);
      return;
    }
    const uint16_t slot = used_idx_ & (size_ - 1);
    const VirtqUsedElem e{head, len};
    std::memcpy(used_ + kRingEntriesOffset + sizeof(VirtqUsedElem) * slot, &e, sizeof(e));
    ++used_idx_;
    if (head < size_) held_[head] = 0;
  }

  // Makes every pushed element visible (release store of used->idx).
  void publish_used() noexcept;

  // After publish_used(): whether the guest asked to be interrupted for what was published since
  // the last notification (EVENT_IDX: used_event; otherwise: avail->flags NO_INTERRUPT). Marks
  // everything published so far as signalled.
  bool needs_notification() noexcept;

  // Asks the guest not to kick us (we poll): NO_NOTIFY without EVENT_IDX; with EVENT_IDX, an
  // avail_event the guest will not cross for a long time.
  void suppress_kicks() noexcept;
  // Asks the guest to kick again for new heads (clears NO_NOTIFY; with EVENT_IDX, avail_event at
  // the next head), then looks once more: true if heads arrived before the guest could see that.
  bool enable_kicks() noexcept;

  // Returns every held head as used with length 0, and publishes.
  void drain() noexcept;
  // Forgets every held head without writing the ring.
  void abandon() noexcept;

 private:
  // walk() for any chain: indirect tables, several descriptors, buffers across regions, errors.
  std::expected<Chain, RingError> walk_chain(uint16_t head,
                                             std::span<ChainBuffer> scratch) const noexcept;
  uint16_t load_avail_idx() const noexcept;
  void take(uint16_t head) noexcept {
    held_[head] = 1;
    if constexpr (kInOrder) order_.taken(head);
  }
  // Inline: every chain goes through them, and a call each costs more than their usual path.
  void push_used_in_order(uint32_t head, uint32_t len) noexcept {
    if (head >= size_ || !held_[head]) return;  // only heads pop() handed out
    order_.finish(static_cast<uint16_t>(head), len,
                  [this](uint16_t h, uint32_t l) { release_in_order(h, l); });
  }
  // IN_ORDER: returns `head`, every head taken before it being returned already.
  void release_in_order(uint16_t head, uint32_t len) noexcept {
    held_[head] = 0;
    if (batch_used_) {
      // 2.7.9: "the device can just write out a single used ring entry with the id corresponding
      // to the head entry of the descriptor chain describing the last buffer in the batch".
      if (batch_count_ == 0) batch_slot_ = used_idx_;
      ++batch_count_;
      batch_head_ = head;
    } else {
      const VirtqUsedElem e{head, len};
      std::memcpy(used_ + kRingEntriesOffset + sizeof(VirtqUsedElem) * (used_idx_ & (size_ - 1)),
                  &e, sizeof(e));
    }
    ++used_idx_;
  }

  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  const GuestMemory* mem_ = nullptr;
  uint16_t size_ = 0;
  uint16_t last_avail_idx_ = 0;
  uint16_t used_idx_ = 0;            // next used slot (shadow of used->idx)
  uint16_t signalled_used_idx_ = 0;  // used->idx when we last decided about notifying
  bool event_idx_ = false;
  bool indirect_ = false;
  bool batch_used_ = false;    // IN_ORDER on a kDeviceReads ring: one used element per batch
  std::vector<uint8_t> held_;  // by head: popped and not yet returned
  InOrderUsed order_;          // IN_ORDER: heads in the order taken
  // The batch released since the last publish_used(): its first used slot and last head.
  uint16_t batch_count_ = 0;
  uint16_t batch_slot_ = 0;
  uint16_t batch_head_ = 0;
};

using SplitRing = BasicSplitRing<false>;
using SplitRingInOrder = BasicSplitRing<true>;

static_assert(Virtqueue<SplitRing> && Virtqueue<SplitRingInOrder>);

}  // namespace pmdnet::virtio
