// VirtioNetQueue: one virtio-net queue pair (guest RX ring 2k, guest TX ring 2k+1) driving one
// backend Queue in the seed's loop. It is the frontend of the net_backend boundary:
//
//   1. create() validates both rings and takes the backend Queue (from Endpoint::get_queues).
//   2. Each poll() is one worker pass:
//        a. guest RX refill: pop the guest's new receive chains, validate them, and hand receive
//           slots (RxIds) to the backend with rx_avail;
//        b. rx_poll: completed receives go to the used ring;
//        c. guest TX: pop transmit chains, translate virtio_net_hdr into TxMetadata, and post
//           TxSegments (guest addresses straight from the descriptors, no copy) with tx_avail;
//        d. tx_poll: asynchronous transmit completions go to the used ring;
//        e. publish both used rings and notify the guest where it asked to be.
//   3. drain() returns every chain still held, so the rings can be handed back (GET_VRING_BASE),
//      after the backend Queue has been destroyed (release_backend()).
//
// Receive slots: an RxId names a slot, not a chain. A slot binds guest chains when it is first
// written (or its addresses are asked for), taking them in the order the guest posted them: one
// chain without MRG_RXBUF, as many as the packet needs with it. That is what lets write_packet
// spread one packet over several chains, which the seed's push-style rx_avail cannot express.
//
// The guest is hostile: ring errors that make the ring untrustworthy break that ring (it is no
// longer polled); anything else drops one chain, returned to the guest as used with length 0. All
// of it is counted in VirtioNetQueueStats.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/base/counter.h"
#include "core/base/result.h"
#include "core/base/ring.h"
#include "core/guest_memory/guest_memory.h"
#include "core/net_backend/buffer_access.h"
#include "core/net_backend/queue.h"
#include "core/virtio/net_header.h"
#include "core/virtio/split_ring.h"

namespace pmdnet::virtio {

// How the frontend tells the guest "look at the used ring" (the vring's call fd).
class GuestNotifier {
 public:
  virtual ~GuestNotifier() = default;
  virtual void notify(uint16_t vring_index) noexcept = 0;
};

// Why a guest packet was dropped, beyond the ring errors.
enum class DropReason : uint8_t {
  kTxChainTooShort,     // fewer readable bytes than a virtio_net_hdr, or no frame after it
  kTxWritableBuffer,    // a device-writable descriptor in a transmit chain
  kTxBadHeader,         // virtio_net_hdr rejected (see tx_header_errors)
  kTxTooManySegments,   // more than 255 buffers after the header
  kRxNoBuffers,         // a receive needed more guest buffers than were posted
  kRxTooSmall,          // a receive chain with no room for the virtio_net_hdr
  kRxReadableBuffer,    // a device-readable descriptor in a receive chain
  kRxHeaderNotWritten,  // the backend completed a receive without writing it
  kRxCannotDeliver,     // a coalesced receive the guest cannot take (no GUEST_TSO/USO)
  kRxOverMtu,           // a receive that would go out without GSO, longer than MTU + 18
  kCount,
};

std::string_view to_string(DropReason r) noexcept;
// A short snake_case name for DropReason counters in telemetry, e.g. "tx_chain_too_short".
std::string_view to_key(DropReason e) noexcept;

// Counters of one queue pair, written by its worker and read by telemetry.
struct VirtioNetQueueStats {
  Counter guest_tx_packets;
  Counter guest_tx_bytes;
  Counter guest_rx_packets;
  Counter guest_rx_bytes;
  Counter guest_rx_merged_buffers;  // extra chains used by mergeable receives
  Counter notifications;
  std::array<Counter, static_cast<size_t>(RingError::kCount)> tx_ring_errors;
  std::array<Counter, static_cast<size_t>(RingError::kCount)> rx_ring_errors;
  std::array<Counter, static_cast<size_t>(DropReason::kCount)> drops;
  std::array<Counter, kHeaderErrorCount> tx_header_errors;  // by HeaderError
  Counter backend_errors;                                   // rx_poll/tx_avail/tx_poll failures
};

// Ring indexes to resume from, or that were reached.
struct RingIndexes {
  uint16_t last_avail_idx = 0;
  uint16_t used_idx = 0;
};

struct VirtioNetQueueConfig {
  const GuestMemory* mem = nullptr;
  uint64_t features = 0;       // negotiated
  SplitRingAddresses rx_ring;  // guest RX: the device writes
  SplitRingAddresses tx_ring;  // guest TX: the device reads
  RingIndexes rx_start;
  RingIndexes tx_start;
  uint16_t rx_vring_index = 0;  // for GuestNotifier::notify
  uint16_t tx_vring_index = 1;
  GuestNotifier* notifier = nullptr;  // may be null (no notifications)
  // The MTU the device offered, when the guest negotiated VIRTIO_NET_F_MTU (virtio_net_config
  // mtu); 0 when it did not, and receives are then bounded only by the guest's buffers. See
  // VirtioNetQueue::kMtuL2Overhead.
  uint16_t mtu = 0;
};

class VirtioNetQueue final : public BufferAccess {
 public:
  static constexpr size_t kTxBurst = 32;         // transmit chains popped per pass
  static constexpr size_t kRxPollBurst = 32;     // receives completed per pass
  static constexpr size_t kPrefixBytes = 256;    // frame bytes parsed for offload translation
  static constexpr size_t kMaxTxSegments = 255;  // TxMetadata::segment_count is a u8
  // With an MTU, the longest frame delivered without GSO is mtu + this: the Ethernet header and
  // one 802.1Q tag (Linux's ETH_HLEN + VLAN_HLEN).
  static constexpr uint32_t kMtuL2Overhead = 18;

  static Result<std::unique_ptr<VirtioNetQueue>> create(const VirtioNetQueueConfig& config,
                                                        std::unique_ptr<Queue> backend);
  ~VirtioNetQueue() override;

  // One worker pass. Returns the number of packets moved in either direction (0: idle).
  size_t poll() noexcept;

  // Destroys the backend Queue (before Endpoint::stop), keeping the rings.
  void release_backend() noexcept;
  // Returns every chain still held (posted receive chains, pending and in-flight transmits) to
  // the guest as used with length 0, and publishes. Call after release_backend().
  void drain() noexcept;

  RingIndexes rx_indexes() const noexcept { return {rx_.last_avail_idx(), rx_.used_idx()}; }
  RingIndexes tx_indexes() const noexcept { return {tx_.last_avail_idx(), tx_.used_idx()}; }
  bool rx_broken() const noexcept { return rx_broken_; }
  bool tx_broken() const noexcept { return tx_broken_; }
  const VirtioNetQueueStats& stats() const noexcept { return stats_; }
  Queue* backend() noexcept { return backend_.get(); }
  const Queue* backend() const noexcept { return backend_.get(); }

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

 private:
  // A validated receive chain the guest posted, not yet bound to a slot.
  struct PostedChain {
    uint16_t head;
    uint32_t capacity;  // writable bytes
    uint64_t gpa;       // the only buffer, when single_buffer
    uint8_t* host;      // its mapping, when single_buffer and inside one region (else nullptr)
    bool single_buffer;
  };
  enum class SlotState : uint8_t { kFree, kPosted, kBound };
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

  explicit VirtioNetQueue(const VirtioNetQueueConfig& config);

  void refill_rx() noexcept;
  void complete_rx() noexcept;
  size_t transmit() noexcept;
  void complete_tx() noexcept;
  // Binds posted chains to `slot` until it can hold `bytes` (header included); false if the
  // guest has not posted enough.
  bool bind(Slot& slot, uint64_t bytes) noexcept;
  // Copies `data` into the slot's chains at byte `offset` (header included in the offsets).
  void write_slot(const Slot& slot, uint64_t offset, std::span<const uint8_t> data) noexcept;
  // Walks the chain at `head` again (receive chains that are not single-buffer).
  std::span<const ChainBuffer> rx_buffers(const PostedChain& c) const noexcept;
  // Copies the first out.size() bytes of a chain's buffers into `out`; returns how many.
  size_t gather(std::span<const ChainBuffer> buffers, std::span<uint8_t> out) const noexcept;
  void drop_tx(uint16_t head, DropReason reason) noexcept;
  // Counts a receive as dropped, once; its bound chains (if any) go back unused on completion.
  void drop_rx(Slot& slot, DropReason reason) noexcept;
  void count_ring_error(bool rx, RingError e) noexcept;

  const GuestMemory* mem_;
  uint64_t features_;
  bool mergeable_;
  uint32_t max_plain_len_;  // longest frame delivered without GSO: mtu + 18, or no limit
  SplitRing rx_;
  SplitRing tx_;
  uint16_t rx_vring_index_;
  uint16_t tx_vring_index_;
  GuestNotifier* notifier_;
  std::unique_ptr<Queue> backend_;
  bool rx_broken_ = false;
  bool tx_broken_ = false;

  // Guest RX.
  Ring<PostedChain> posted_;                // validated chains, in guest order, not yet bound
  uint64_t posted_capacity_ = 0;            // sum of their capacities
  std::vector<PostedChain> chain_of_head_;  // by head: the chain's record once bound
  std::vector<uint16_t> chain_next_;        // by head: next chain of the same slot
  std::vector<uint8_t> rx_held_;            // by head: popped and not yet returned
  std::vector<Slot> slots_;                 // by RxId
  std::vector<RxId> free_slots_;
  size_t unbound_posted_slots_ = 0;
  std::vector<RxId> rx_ids_;  // scratch for rx_avail / rx_poll
  mutable std::vector<ChainBuffer> rx_scratch_;

  // Guest TX.
  std::vector<ChainBuffer> tx_scratch_;
  std::vector<TxSegment> tx_segments_;  // built this pass or left over from the last
  size_t tx_pending_ = 0;               // index of the first segment not yet consumed
  std::vector<uint8_t> tx_held_;  // by head: popped and not yet returned (pending or in flight)
  std::vector<TxId> tx_done_;
  std::array<uint8_t, sizeof(VirtioNetHdr) + kPrefixBytes> tx_prefix_{};

  VirtioNetQueueStats stats_;
};

}  // namespace pmdnet::virtio
