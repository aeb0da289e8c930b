// VirtioNetQueue: one virtio-net queue pair (guest RX ring 2k, guest TX ring 2k+1) driving one
// backend Queue in the seed's loop. It is the frontend of the net_backend boundary, built from
// three parts, each a template on the ring layout (virtqueue.h):
//
//   - RxSlots (rx_slots.h): the receive-slot pool, the BufferAccess the backend writes through;
//   - TxTranslation (tx_translation.h): transmit chains into TxSegments, and their completions;
//   - the poll pass (virtio_net_queue.cc), one worker pass:
//        a. guest RX refill: the guest's new receive chains become slots for rx_avail;
//        b. rx_poll: completed receives go to the used ring;
//        c. guest TX: transmit chains are translated and posted with tx_avail;
//        d. tx_poll: asynchronous transmit completions go to the used ring;
//        e. both used rings are published, and the guest notified where it asked to be.
//
// create() validates both rings and takes the backend Queue (from Endpoint::get_queues).
// drain() returns every chain still held, so the rings can be handed back (GET_VRING_BASE),
// after the backend Queue has been destroyed (release_backend()).
//
// The guest is hostile: ring errors that make the ring untrustworthy break that ring (it is no
// longer polled); anything else drops one chain, returned to the guest as used with length 0. All
// of it is counted in VirtioNetQueueStats.
#pragma once

#include <cstdint>
#include <memory>

#include "core/base/result.h"
#include "core/guest_memory/guest_memory.h"
#include "core/net_backend/buffer_access.h"
#include "core/net_backend/queue.h"
#include "core/virtio_net/net_queue_stats.h"
#include "core/virtqueue/split_ring.h"
#include "core/virtqueue/virtqueue.h"

namespace pmdnet::virtio {

// How the frontend tells the guest "look at the used ring" (the vring's call fd).
class GuestNotifier {
 public:
  virtual ~GuestNotifier() = default;
  virtual void notify(uint16_t vring_index) noexcept = 0;
};

struct VirtioNetQueueConfig {
  const GuestMemory* mem = nullptr;
  uint64_t features = 0;  // negotiated
  RingAddresses rx_ring;  // guest RX: the device writes
  RingAddresses tx_ring;  // guest TX: the device reads
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

// The queue pair as its owner (the vhost-user session, tests) sees it, whatever its ring layout.
// It is also the BufferAccess of its receive slots.
class VirtioNetQueue : public BufferAccess {
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

  // One worker pass. Returns the number of packets moved in either direction (0: idle).
  virtual size_t poll() noexcept = 0;

  // Destroys the backend Queue (before Endpoint::stop), keeping the rings.
  void release_backend() noexcept { backend_.reset(); }
  // Returns every chain still held (posted receive chains, pending and in-flight transmits) to
  // the guest as used with length 0, and publishes. Call after release_backend().
  virtual void drain() noexcept = 0;

  virtual RingIndexes rx_indexes() const noexcept = 0;
  virtual RingIndexes tx_indexes() const noexcept = 0;
  virtual bool rx_broken() const noexcept = 0;
  virtual bool tx_broken() const noexcept = 0;
  const VirtioNetQueueStats& stats() const noexcept { return stats_; }
  Queue* backend() noexcept { return backend_.get(); }
  const Queue* backend() const noexcept { return backend_.get(); }

 protected:
  explicit VirtioNetQueue(std::unique_ptr<Queue> backend) : backend_(std::move(backend)) {}

  std::unique_ptr<Queue> backend_;
  VirtioNetQueueStats stats_;
};

}  // namespace pmdnet::virtio
