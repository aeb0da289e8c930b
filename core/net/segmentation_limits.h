// The bounds on segmentation requests (TSO/USO), Linux's own: one 64 KB frame may not become tens
// of thousands of segments (an MSS of 1), which would let a guest make the device send 1,000 times
// the packets it was handed. The virtio_net_hdr translation refuses guest requests outside them,
// and offload::segment refuses the same TxMetadata from any other caller.
//   - TCP: gso_size >= TCP_MIN_MSS. include/net/tcp.h: "Minimal accepted MSS. It is (60+60+8) -
//     (20+20)." #define TCP_MIN_MSS 88U, the smallest MSS a Linux socket can be set to
//     (TCP_MAXSEG: "if (val && (val < TCP_MIN_MSS || val > MAX_TCP_WINDOW)) return -EINVAL").
//     A 64 KB frame then makes at most 745 segments.
//   - UDP: at most UDP_MAX_SEGMENTS (include/linux/udp.h: #define UDP_MAX_SEGMENTS (1 << 7UL))
//     segments, as Linux's virtio_net_hdr_to_skb checks for VIRTIO_NET_HDR_GSO_UDP_L4:
//     "if (skb->len - p_off > gso_size * UDP_MAX_SEGMENTS) return -EINVAL;" (p_off: where the
//     payload starts). Linux's own UDP_SEGMENT sends are bounded the same way.
#pragma once

#include <cstdint>

namespace pmdnet::net {

inline constexpr uint16_t kMinTcpGsoSize = 88;
inline constexpr uint32_t kMaxUdpGsoSegments = 128;

}  // namespace pmdnet::net
