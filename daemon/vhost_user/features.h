// The virtio-net and vhost-user protocol features a pmdnet port offers, as pure functions of what
// its backend can do and of the operator's switches. The offered set depends on nothing a guest
// does, so it is identical across reconnects (docs/vhost_user.md, the feature list is ours).
#pragma once

#include <cstdint>

#include "core/net_backend/endpoint.h"

namespace pmdnet::vhost_user {

// What the backend hands the frontend on guest RX: whoever builds the port fills it from
// Endpoint::rx_offload_support() (the port manager does).
struct GuestRxOffloads {
  // Frames whose checksums the backend validated (RxMetadata checksum state Good): lets us offer
  // VIRTIO_NET_F_GUEST_CSUM so the guest may skip verifying them.
  bool checksum = false;
  // Coalesced TCP frames (RxMetadata gso_size > 0): GUEST_TSO4/6. Needs checksum.
  bool tso = false;
  // Coalesced UDP frames: GUEST_USO4/6. Needs checksum.
  bool uso = false;
};

struct FeatureOptions {
  TxOffloadSupport guest_tx;  // Endpoint::tx_offload_support(), natively or in software
  GuestRxOffloads guest_rx;
  uint16_t max_queue_pairs = 1;  // MQ is offered when > 1
  bool dirty_logging = true;     // VHOST_F_LOG_ALL + PROTOCOL_F_LOG_SHMFD (live migration)
  bool mtu = true;               // VIRTIO_NET_F_MTU + PROTOCOL_F_NET_MTU (the VMM owns the value)
  bool packed_ring = true;       // VIRTIO_F_RING_PACKED: the guest may lay its rings out packed
  bool in_order = true;          // VIRTIO_F_IN_ORDER
  uint64_t disabled = 0;         // virtio feature bits the operator withholds
};

// The virtio feature bits to pass to rte_vhost_driver_set_features:
//   always:  VERSION_1, VHOST_USER_F_PROTOCOL_FEATURES (30), MRG_RXBUF, RING_INDIRECT_DESC,
//            RING_EVENT_IDX (the core does all of them), GUEST_ANNOUNCE (the guest announces
//            itself after a live migration: the VMM sets the status bit and handles the
//            acknowledgement on the control queue it emulates; it also needs CTRL_VQ, which the
//            VMM offers, never the back-end);
//   options: MQ (max_queue_pairs > 1), LOG_ALL (dirty_logging), MTU (mtu), RING_PACKED
//            (packed_ring), IN_ORDER (in_order);
//   guest TX (5.1.3.1 dependencies): CSUM needs TCP and UDP checksums; HOST_TSO4 needs CSUM, TSO
//            and IPv4 header checksums (every segment gets a new IPv4 header); HOST_TSO6 needs CSUM
//            and TSO; HOST_USO needs CSUM, USO and IPv4 header checksums;
//   guest RX: GUEST_CSUM from guest_rx.checksum; GUEST_TSO4/6 and GUEST_USO4/6 need GUEST_CSUM.
// Then `disabled` is removed, and with it whatever depends on a removed bit. Never offered:
// CTRL_VQ and MAC (the VMM emulates the control queue and owns the config space), ACCESS_PLATFORM
// (no vIOMMU), UFO, HOST_ECN/GUEST_ECN.
uint64_t offered_features(const FeatureOptions& options) noexcept;

// The vhost-user protocol feature bits to pass to rte_vhost_driver_set_protocol_features: MQ,
// REPLY_ACK, RARP (SEND_RARP: after a live migration of a guest without GUEST_ANNOUNCE, the port
// sends a RARP for the guest's MAC out of its backend; VhostSession), plus LOG_SHMFD with dirty
// logging and NET_MTU with mtu. Not CONFIG, SLAVE_REQ, HOST_NOTIFIER, PAGEFAULT (postcopy),
// INFLIGHT_SHMFD or STATUS.
uint64_t offered_protocol_features(const FeatureOptions& options) noexcept;

// vhost-user protocol feature bits (spec "Protocol features").
namespace protocol_feature {
inline constexpr unsigned kMq = 0;
inline constexpr unsigned kLogShmfd = 1;
inline constexpr unsigned kRarp = 2;
inline constexpr unsigned kReplyAck = 3;
inline constexpr unsigned kNetMtu = 4;
inline constexpr unsigned kSlaveReq = 5;
inline constexpr unsigned kConfig = 9;
inline constexpr unsigned kStatus = 16;
}  // namespace protocol_feature

}  // namespace pmdnet::vhost_user
