// TxTranslation: the guest-TX side of a virtio-net queue pair. It pops the guest's transmit
// chains, translates each virtio_net_hdr into TxMetadata, posts the frames to the backend as
// TxSegments (the descriptors' own guest addresses and host mappings, no copy) with tx_avail,
// and returns completed chains to the used ring, synchronously or through tx_poll.
//
// A template on the ring layout (virtqueue.h); tx_translation.cc instantiates it for each layout.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/guest_memory/guest_memory.h"
#include "core/net_backend/buffer_access.h"
#include "core/net_backend/queue.h"
#include "core/virtio_net/net_header.h"
#include "core/virtio_net/net_queue_stats.h"
#include "core/virtqueue/virtqueue.h"

namespace pmdnet::virtio {

template <Virtqueue Vq>
class TxTranslation {
 public:
  static constexpr size_t kBurst = 32;         // transmit chains popped per pass
  static constexpr size_t kPrefixBytes = 256;  // frame bytes parsed for offload translation
  static constexpr size_t kMaxSegments = 255;  // TxMetadata::segment_count is a u8

  TxTranslation(Vq ring, const GuestMemory& mem, uint64_t features, VirtioNetQueueStats& stats);

  // Pops and translates up to kBurst chains when nothing is left over from the last pass, then
  // offers what is pending to the backend. Returns the packets it consumed.
  size_t transmit(Queue& backend, BufferAccess& buffers) noexcept;
  // Asynchronous completions (tx_poll) go to the used ring.
  void complete(Queue& backend, BufferAccess& buffers) noexcept;
  // Returns every chain still held (pending or in flight) to the guest as used with length 0
  // (unless the ring broke), and forgets what was pending.
  void drain() noexcept;

  Vq& ring() noexcept { return ring_; }
  const Vq& ring() const noexcept { return ring_; }
  bool broken() const noexcept { return broken_; }

 private:
  // Pops up to kBurst chains and appends their segments.
  void pop_burst() noexcept;
  // Appends one chain's segments, its head carrying the translated header; or drops it.
  void translate(const Chain& chain) noexcept;
  // Copies the first out.size() bytes of a chain's buffers into `out`; returns how many.
  size_t gather(std::span<const ChainBuffer> buffers, std::span<uint8_t> out) const noexcept;
  void drop(uint16_t head, DropReason reason) noexcept;
  void count_ring_error(RingError e) noexcept;

  Vq ring_;
  const GuestMemory* mem_;
  uint64_t features_;
  VirtioNetQueueStats* stats_;
  bool broken_ = false;

  std::vector<ChainBuffer> scratch_;
  std::vector<TxSegment> segments_;  // built this pass or left over from the last
  size_t pending_ = 0;               // index of the first segment not yet consumed
  std::vector<TxId> done_;
  std::array<uint8_t, sizeof(VirtioNetHdr) + kPrefixBytes> prefix_{};
};

}  // namespace pmdnet::virtio
