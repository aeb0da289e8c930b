// offered_features / offered_protocol_features (see features.h for the rules).
#include "daemon/vhost_user/features.h"

#include "core/virtqueue/virtio_defs.h"

namespace pmdnet::vhost_user {

using virtio::bit;
namespace f = virtio::feature;

uint64_t offered_features(const FeatureOptions& o) noexcept {
  uint64_t v = bit(f::kVersion1) | bit(f::kProtocolFeatures) | bit(f::kMrgRxbuf) |
               bit(f::kRingIndirectDesc) | bit(f::kRingEventIdx) | bit(f::kGuestAnnounce);
  if (o.max_queue_pairs > 1) v |= bit(f::kMq);
  if (o.dirty_logging) v |= bit(f::kLogAll);
  if (o.mtu) v |= bit(f::kMtu);
  if (o.packed_ring) v |= bit(f::kRingPacked);
  if (o.in_order) v |= bit(f::kInOrder);

  const TxOffloadSupport& tx = o.guest_tx;
  if (tx.tcp && tx.udp) v |= bit(f::kCsum);
  if (tx.tso && tx.ipv4_header) v |= bit(f::kHostTso4);
  if (tx.tso) v |= bit(f::kHostTso6);
  if (tx.uso && tx.ipv4_header) v |= bit(f::kHostUso);

  if (o.guest_rx.checksum) v |= bit(f::kGuestCsum);
  if (o.guest_rx.tso) v |= bit(f::kGuestTso4) | bit(f::kGuestTso6);
  if (o.guest_rx.uso) v |= bit(f::kGuestUso4) | bit(f::kGuestUso6);

  // The operator's withheld bits; VERSION_1 and PROTOCOL_FEATURES are not negotiable.
  v &= ~(o.disabled & ~(bit(f::kVersion1) | bit(f::kProtocolFeatures)));

  // Virtio 1.2, 5.1.3.1: segmentation offloads require the checksum offload of their direction.
  if (!virtio::has(v, f::kCsum)) v &= ~(bit(f::kHostTso4) | bit(f::kHostTso6) | bit(f::kHostUso));
  if (!virtio::has(v, f::kGuestCsum)) {
    v &= ~(bit(f::kGuestTso4) | bit(f::kGuestTso6) | bit(f::kGuestUso4) | bit(f::kGuestUso6));
  }
  return v;
}

uint64_t offered_protocol_features(const FeatureOptions& o) noexcept {
  namespace p = protocol_feature;
  uint64_t v = bit(p::kMq) | bit(p::kReplyAck) | bit(p::kRarp);
  if (o.dirty_logging) v |= bit(p::kLogShmfd);
  if (o.mtu) v |= bit(p::kNetMtu);
  return v;
}

}  // namespace pmdnet::vhost_user
