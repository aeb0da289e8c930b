// RxSlots: the guest-RX side of a virtio-net queue pair, the BufferAccess the backend writes
// received packets through. It takes the receive chains the guest posts on its RX ring, hands
// receive slots (RxIds) to the backend, writes packets and virtio_net_hdrs into the chains, and
// returns them to the used ring when the backend completes them.
//
// An RxId names a slot, not a chain. A slot binds guest chains when it is first written (or its
// addresses are asked for), taking them in the order the guest posted them: one chain without
// MRG_RXBUF, as many as the packet needs with it. That is what lets write_packet spread one
// packet over several chains, which the seed's push-style rx_avail cannot express.
//
// A template on the ring layout (virtqueue.h); rx_slots.cc instantiates it for each layout.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/base/ring.h"
#include "core/guest_memory/guest_memory.h"
#include "core/net_backend/buffer_access.h"
#include "core/net_backend/queue.h"
#include "core/virtio_net/net_queue_stats.h"
#include "core/virtqueue/virtqueue.h"

namespace pmdnet::virtio {

template <Virtqueue Vq>
class RxSlots final : public BufferAccess {
 public:
  static constexpr size_t kPollBurst = 32;  // receives completed per pass

  // `max_plain_len`: the longest frame delivered without GSO (UINT32_MAX: no limit).
  RxSlots(Vq ring, const GuestMemory& mem, uint64_t features, uint32_t max_plain_len,
          VirtioNetQueueStats& stats);

  // Pops the guest's new receive chains, validates them, and hands a slot per chain to the
  // backend (rx_avail).
  void refill(Queue& backend) noexcept;
  // Completed receives (rx_poll) go to the used ring. Returns the packets delivered.
  size_t complete(Queue& backend) noexcept;
  // Returns every chain still held to the guest as used with length 0 (unless the ring broke)
  // and forgets every slot.
  void drain() noexcept;

  Vq& ring() noexcept { return ring_; }
  const Vq& ring() const noexcept { return ring_; }
  bool broken() const noexcept { return broken_; }

  // BufferAccess, over receive slots.
  const GuestMemory& guest_memory() const noexcept override { return *mem_; }
  void write_data(RxId id, std::span<const uint8_t> data) noexcept override;
  void push_guest_addresses(RxId id, std::vector<RxBufferSegment>& buf) const override;
  uint32_t capacity(RxId id) const noexcept override;
  void write_header(RxId id, const RxMetadata& metadata) noexcept override;
  // A plain frame (no GSO) that fits the next posted chain, a single mapped buffer, is written
  // straight to its mapping: header and data in one pass. Anything else: write_data, then
  // write_header. A plain frame longer than the MTU allows is dropped before anything is written
  // (kRxOverMtu); write_header drops one written through write_data, and a coalesced frame that
  // goes out without GSO, the same way.
  void write_packet(RxId id, const RxMetadata& metadata,
                    std::span<const uint8_t> data) noexcept override;
  // The burst: each frame written and its chains returned to the used ring in the same step (the
  // used index is published at the end of the pass). A plain frame that fits the next posted
  // chain, a single mapped buffer, is copied straight into it, piece after piece; any other goes
  // through write_packet (or write_data per piece and write_header).
  size_t write_packets(std::span<const RxId> ids,
                       std::span<const RxFrame> frames) noexcept override;

 private:
  // A validated receive chain the guest posted, not yet bound to a slot.
  struct PostedChain {
    uint16_t head;
    uint32_t capacity;  // writable bytes
    uint64_t gpa;       // the only buffer, when single_buffer
    uint8_t* host;      // its mapping, when single_buffer and inside one region (else nullptr)
    bool single_buffer;
  };
  // kDelivered: written by write_packets and its chains already returned; rx_poll frees it.
  enum class SlotState : uint8_t { kFree, kPosted, kBound, kDelivered };
  struct Slot {
    SlotState state = SlotState::kFree;
    uint16_t first_head = 0;  // bound chains, linked through chain_next_
    uint16_t last_head = 0;
    uint16_t chains = 0;
    uint64_t capacity = 0;  // writable bytes of the bound chains (several may pass 4 GiB)
    uint32_t data_len = 0;  // packet bytes written after the header
    bool header_written = false;
    bool dropped = false;  // counted as a drop: later writes are ignored, nothing is delivered
  };

  // The next posted chain when `slot` can take a plain frame of `total` bytes (header included)
  // straight into it: the slot is posted and not dropped, and the chain is a single mapped buffer
  // that holds the frame. Else nullptr.
  inline const PostedChain* direct_chain(const Slot& slot, uint64_t total) const noexcept;
  // Writes a plain frame (its pieces, `total` bytes with the header) and its header straight into
  // `c`, a single mapped buffer that holds them, and logs the write.
  inline void write_plain(const PostedChain& c, const RxMetadata& metadata,
                          std::span<const std::span<const uint8_t>> pieces,
                          uint64_t total) noexcept;
  // Binds posted chains to `slot` until it can hold `bytes` (header included); false if the
  // guest has not posted enough.
  bool bind(Slot& slot, uint64_t bytes) noexcept;
  // Copies `data` into the slot's chains at byte `offset` (header included in the offsets).
  void write_slot(const Slot& slot, uint64_t offset, std::span<const uint8_t> data) noexcept;
  // The buffers of a bound chain (a multi-buffer one is walked again).
  std::span<const ChainBuffer> buffers_of(const PostedChain& c) const noexcept;
  // Counts a receive as dropped, once; its bound chains (if any) go back unused on completion.
  void drop(Slot& slot, DropReason reason) noexcept;
  // Returns a bound slot's chains to the used ring, with the bytes written if its header was,
  // else with 0 (counting kRxHeaderNotWritten unless a drop was counted); true if delivered.
  bool return_chains(const Slot& slot) noexcept;
  // The packets and bytes delivered since the last call, into the stats.
  void count_delivered(size_t packets, uint64_t bytes, uint64_t merged) noexcept;
  void count_ring_error(RingError e) noexcept;
  void reset_slots() noexcept;

  Vq ring_;
  const GuestMemory* mem_;
  uint64_t features_;
  bool mergeable_;
  uint32_t max_plain_len_;
  VirtioNetQueueStats* stats_;
  bool broken_ = false;

  Ring<PostedChain> posted_;                // validated chains, in guest order, not yet bound
  uint64_t posted_capacity_ = 0;            // sum of their capacities
  std::vector<PostedChain> chain_of_head_;  // by head: the chain's record once bound
  std::vector<uint16_t> chain_next_;        // by head: next chain of the same slot
  std::vector<Slot> slots_;                 // by RxId
  std::vector<RxId> free_slots_;
  size_t unbound_posted_slots_ = 0;
  std::vector<RxId> ids_;  // scratch for rx_avail / rx_poll
  mutable std::vector<ChainBuffer> scratch_;
};

}  // namespace pmdnet::virtio
