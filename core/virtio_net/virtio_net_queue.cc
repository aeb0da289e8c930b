// VirtioNetQueue: the poll pass over one queue pair, on the ring layout the rings were made with.
#include "core/virtio_net/virtio_net_queue.h"

#include <type_traits>

#include "core/virtio_net/rx_slots.h"
#include "core/virtio_net/tx_translation.h"
#include "core/virtqueue/packed_ring.h"
#include "core/virtqueue/split_ring.h"

namespace pmdnet::virtio {

namespace {

static_assert(VirtioNetQueue::kTxBurst == TxTranslation<SplitRing>::kBurst);
static_assert(VirtioNetQueue::kRxPollBurst == RxSlots<SplitRing>::kPollBurst);
static_assert(VirtioNetQueue::kPrefixBytes == TxTranslation<SplitRing>::kPrefixBytes);
static_assert(VirtioNetQueue::kMaxTxSegments == TxTranslation<SplitRing>::kMaxSegments);

// A queue pair whose two rings have the layout Vq.
template <Virtqueue Vq>
class VirtioNetQueueOn final : public VirtioNetQueue {
 public:
  VirtioNetQueueOn(const VirtioNetQueueConfig& c, Vq rx, Vq tx, std::unique_ptr<Queue> backend)
      : VirtioNetQueue(std::move(backend)),
        rx_(std::move(rx), *c.mem, c.features,
            c.mtu != 0 ? uint32_t{c.mtu} + kMtuL2Overhead : UINT32_MAX, stats_),
        tx_(std::move(tx), *c.mem, c.features, stats_),
        rx_vring_index_(c.rx_vring_index),
        tx_vring_index_(c.tx_vring_index),
        notifier_(c.notifier) {}

  size_t poll() noexcept override {
    if (!backend_) return 0;
    const uint16_t rx_used_before = rx_.ring().used_idx();
    const uint16_t tx_used_before = tx_.ring().used_idx();
    rx_.refill(*backend_);
    size_t moved = rx_.complete(*backend_);
    moved += tx_.transmit(*backend_, rx_);
    tx_.complete(*backend_, rx_);
    publish(rx_.ring(), rx_.broken(), rx_used_before, rx_vring_index_);
    publish(tx_.ring(), tx_.broken(), tx_used_before, tx_vring_index_);
    return moved;
  }

  void drain() noexcept override {
    rx_.drain();
    tx_.drain();
    if (notifier_ != nullptr) {
      notifier_->notify(rx_vring_index_);
      notifier_->notify(tx_vring_index_);
    }
  }

  RingIndexes rx_indexes() const noexcept override { return rx_.ring().indexes(); }
  RingIndexes tx_indexes() const noexcept override { return tx_.ring().indexes(); }
  bool rx_broken() const noexcept override { return rx_.broken(); }
  bool tx_broken() const noexcept override { return tx_.broken(); }

  // BufferAccess: the receive slots'.
  const GuestMemory& guest_memory() const noexcept override { return rx_.guest_memory(); }
  void write_data(RxId id, std::span<const uint8_t> data) noexcept override {
    rx_.write_data(id, data);
  }
  void push_guest_addresses(RxId id, std::vector<RxBufferSegment>& buf) const override {
    rx_.push_guest_addresses(id, buf);
  }
  uint32_t capacity(RxId id) const noexcept override { return rx_.capacity(id); }
  void write_header(RxId id, const RxMetadata& metadata) noexcept override {
    rx_.write_header(id, metadata);
  }
  void write_packet(RxId id, const RxMetadata& metadata,
                    std::span<const uint8_t> data) noexcept override {
    rx_.write_packet(id, metadata, data);
  }
  size_t write_packets(std::span<const RxId> ids,
                       std::span<const RxFrame> frames) noexcept override {
    return rx_.write_packets(ids, frames);
  }

 private:
  // Makes what the pass returned to `ring` visible, and notifies the guest if it asked.
  void publish(Vq& ring, bool broken, uint16_t used_before, uint16_t vring_index) noexcept {
    if (broken || ring.used_idx() == used_before) return;
    ring.publish_used();
    if (ring.needs_notification() && notifier_ != nullptr) {
      notifier_->notify(vring_index);
      stats_.notifications.increment();
    }
  }

  RxSlots<Vq> rx_;
  TxTranslation<Vq> tx_;
  uint16_t rx_vring_index_;
  uint16_t tx_vring_index_;
  GuestNotifier* notifier_;
};

// One ring of the pair, in the layout Vq.
template <Virtqueue Vq>
Result<Vq> create_ring(const RingAddresses& a, const GuestMemory& mem, uint64_t features,
                       RingIndexes start, RingRole role) {
  if constexpr (std::is_same_v<Vq, PackedRing>) {
    return PackedRing::create(a, mem, features, start, role);
  } else {
    return Vq::create(a, mem, features, start.last_avail_idx, start.used_idx, role);
  }
}

// Both rings of the pair in the layout Vq, and the queue over them.
template <Virtqueue Vq>
Result<std::unique_ptr<VirtioNetQueue>> make(const VirtioNetQueueConfig& c,
                                             std::unique_ptr<Queue> backend) {
  auto rx = create_ring<Vq>(c.rx_ring, *c.mem, c.features, c.rx_start, RingRole::kDeviceWrites);
  if (!rx) return make_error(rx.error().code, "guest rx ring: " + rx.error().message);
  auto tx = create_ring<Vq>(c.tx_ring, *c.mem, c.features, c.tx_start, RingRole::kDeviceReads);
  if (!tx) return make_error(tx.error().code, "guest tx ring: " + tx.error().message);
  return std::unique_ptr<VirtioNetQueue>(
      new VirtioNetQueueOn<Vq>(c, std::move(*rx), std::move(*tx), std::move(backend)));
}

}  // namespace

Result<std::unique_ptr<VirtioNetQueue>> VirtioNetQueue::create(const VirtioNetQueueConfig& c,
                                                               std::unique_ptr<Queue> backend) {
  if (c.mem == nullptr) return make_error(Errc::kInvalidArgument, "no guest memory");
  if (!backend) return make_error(Errc::kInvalidArgument, "no backend queue");
  if (!has(c.features, feature::kVersion1)) {
    return make_error(Errc::kUnsupported, "only VIRTIO_F_VERSION_1 devices are supported");
  }
  if (has(c.features, feature::kRingPacked)) {
    return make<PackedRing>(c, std::move(backend));
  }
  if (has(c.features, feature::kInOrder)) return make<SplitRingInOrder>(c, std::move(backend));
  return make<SplitRing>(c, std::move(backend));
}

}  // namespace pmdnet::virtio
