// TxMetadata -> mbuf TX offload fields and mbuf RX flags -> RxMetadata, as pure functions.
#include "pmd_backends/mbuf_offload.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_ptype.h>

namespace pmdnet {

using offload::OffloadError;

NativeTxOffloads native_tx_offloads(uint64_t capa) noexcept {
  NativeTxOffloads n;
  n.ipv4_checksum = (capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
  n.tcp_checksum = (capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) != 0;
  n.udp_checksum = (capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) != 0;
  // Segmentation offload also fills the checksums of every segment, so a port is trusted with it
  // only when it advertises those checksums too (a NIC with TSO but no IPv4 checksum is a quirk
  // we do not chase).
  n.tso = (capa & RTE_ETH_TX_OFFLOAD_TCP_TSO) != 0 && n.ipv4_checksum && n.tcp_checksum;
  n.uso = (capa & RTE_ETH_TX_OFFLOAD_UDP_TSO) != 0 && n.ipv4_checksum && n.udp_checksum;
  n.vlan_insert = (capa & RTE_ETH_TX_OFFLOAD_VLAN_INSERT) != 0;
  return n;
}

NativeTxOffloads apply_pmd_quirks(NativeTxOffloads n, std::string_view driver_name,
                                  uint16_t mtu) noexcept {
  if (driver_name == "net_tap" && n.tso) {
    // net_tap's TSO is rte_gso, which segments TCP over IPv4 only: IPv6 leaves as one frame.
    n.tso_ipv4_only = true;
    // net_tap sums each mbuf of a segment as if it began at an even offset: an odd mss cuts
    // rte_gso's segments at odd offsets and corrupts their TCP checksums.
    n.tso_even_mss_only = true;
    // net_tap refuses (ending the burst) a TSO packet whose mss plus L2-L4 headers exceeds the
    // MTU, which counts neither the Ethernet header nor the VLAN tag.
    n.tso_max_frame = mtu;
    if (mtu == 0) n.tso = false;  // unknown MTU: nothing is known to fit
  }
  return n;
}

uint64_t tx_offload_conf(const NativeTxOffloads& n) noexcept {
  uint64_t conf = RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  if (n.ipv4_checksum) conf |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
  if (n.tcp_checksum) conf |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
  if (n.udp_checksum) conf |= RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  if (n.tso) conf |= RTE_ETH_TX_OFFLOAD_TCP_TSO;
  if (n.uso) conf |= RTE_ETH_TX_OFFLOAD_UDP_TSO;
  if (n.vlan_insert) conf |= RTE_ETH_TX_OFFLOAD_VLAN_INSERT;
  return conf;
}

namespace {

// Whether `native`'s TSO takes `m` within the limits apply_pmd_quirks set.
bool native_tso_takes(const TxMetadata& m, const NativeTxOffloads& native,
                      bool software_vlan) noexcept {
  if (!native.tso) return false;
  if (native.tso_ipv4_only && !m.flags.is_ipv4()) return false;
  if (native.tso_even_mss_only && m.max_segment_size % 2 != 0) return false;
  const uint32_t frame = uint32_t{m.l2_len} + (software_vlan ? offload::kVlanTagLen : 0u) +
                         m.l3_len + m.l4_len + m.max_segment_size;
  return native.tso_max_frame == 0 || frame <= native.tso_max_frame;
}

}  // namespace

std::expected<TxOffloadPlan, OffloadError> plan_tx_offloads(
    const TxMetadata& m, const NativeTxOffloads& native) noexcept {
  const TxFlags f = m.flags;
  const bool tso = f.offload_tcp_segmentation();
  const bool uso = f.offload_udp_segmentation();
  const bool any = f.offload_ip_header_checksum() || f.offload_tcp_checksum() ||
                   f.offload_udp_checksum() || tso || uso;
  if (f.is_ipv4() && f.is_ipv6()) return std::unexpected(OffloadError::kBothIpVersions);
  // The common case, nothing to offload: skip building the plan (half of a 64-byte transmit's
  // cost when it was built field by field; docs/benchmarks.md).
  if (!any && !m.vlan) return TxOffloadPlan{};
  TxOffloadPlan p;
  p.software_checksums =
      TxMetadata{.id = m.id,
                 .segment_count = m.segment_count,
                 .flags = TxFlags().with_is_ipv4(f.is_ipv4()).with_is_ipv6(f.is_ipv6()),
                 .len = m.len,
                 .l2_len = m.l2_len,
                 .l3_len = m.l3_len,
                 .l4_len = m.l4_len,
                 .transport_header_offset = m.transport_header_offset,
                 .max_segment_size = m.max_segment_size,
                 .vlan = std::nullopt};
  if (any) {
    if (!f.is_ipv4() && !f.is_ipv6()) return std::unexpected(OffloadError::kNoIpVersion);
    if (tso && uso) return std::unexpected(OffloadError::kBothSegmentations);
    if (f.offload_tcp_checksum() && f.offload_udp_checksum()) {
      return std::unexpected(OffloadError::kBothL4Checksums);
    }
    if ((tso || uso) && m.max_segment_size == 0) {
      return std::unexpected(OffloadError::kMaxSegmentSizeZero);
    }
    const uint64_t headers = uint64_t{m.l2_len} + m.l3_len + (tso ? m.l4_len : 0u);
    if (headers > m.len) return std::unexpected(OffloadError::kMetadataPastEnd);
  }
  const uint64_t ip_flag = f.is_ipv4() ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6;
  if (tso || uso) {
    const bool software_vlan = m.vlan.has_value() && !native.vlan_insert;
    if ((tso && native_tso_takes(m, native, software_vlan)) || (uso && native.uso)) {
      p.ol_flags |= ip_flag | (tso ? RTE_MBUF_F_TX_TCP_SEG : RTE_MBUF_F_TX_UDP_SEG);
      if (f.is_ipv4()) p.ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
      p.tso_segsz = m.max_segment_size;
      // USO has no l4_len in TxMetadata: the UDP header is 8 bytes.
      p.l4_len = tso ? m.l4_len : 8;
    } else {
      p.software_segmentation = true;
    }
  } else {
    TxFlags sw = p.software_checksums.flags;
    if (f.offload_ip_header_checksum()) {
      if (native.ipv4_checksum && f.is_ipv4()) {
        p.ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
      } else {
        sw = sw.with_offload_ip_header_checksum(true);
      }
    }
    if (f.offload_tcp_checksum()) {
      if (native.tcp_checksum) {
        p.ol_flags |= ip_flag | RTE_MBUF_F_TX_TCP_CKSUM;
      } else {
        sw = sw.with_offload_tcp_checksum(true);
      }
    }
    if (f.offload_udp_checksum()) {
      if (native.udp_checksum) {
        p.ol_flags |= ip_flag | RTE_MBUF_F_TX_UDP_CKSUM;
      } else {
        sw = sw.with_offload_udp_checksum(true);
      }
    }
    p.software_checksums.flags = sw;
  }
  if (m.vlan) {
    if (native.vlan_insert) {
      p.ol_flags |= RTE_MBUF_F_TX_VLAN;
      p.vlan_tci = m.vlan->to_tci();
    } else {
      p.software_vlan = true;
    }
  }
  if (p.ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG |
                    RTE_MBUF_F_TX_UDP_SEG)) {
    p.l2_len = static_cast<uint8_t>(m.l2_len + (p.software_vlan ? offload::kVlanTagLen : 0));
    p.l3_len = m.l3_len;
    if (p.l4_len == 0) p.l4_len = m.l4_len;
  }
  return p;
}

namespace {

RxChecksumState checksum_state(uint64_t bits, uint64_t good, uint64_t bad, uint64_t none) {
  if (bits == good) return RxChecksumState::Good;
  if (bits == bad) return RxChecksumState::Bad;
  // NONE: "the checksum in the packet is not correct, but the data integrity is verified".
  if (bits == none) return RxChecksumState::ValidatedButWrong;
  return RxChecksumState::Unknown;
}

}  // namespace

RxMetadata rx_metadata_from_mbuf(uint64_t ol_flags, uint32_t packet_type, uint16_t vlan_tci,
                                 uint32_t pkt_len) noexcept {
  RxMetadata r;
  r.len = pkt_len;
  r.ip_checksum =
      checksum_state(ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
                     RTE_MBUF_F_RX_IP_CKSUM_BAD, RTE_MBUF_F_RX_IP_CKSUM_NONE);
  r.l4_checksum =
      checksum_state(ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                     RTE_MBUF_F_RX_L4_CKSUM_BAD, RTE_MBUF_F_RX_L4_CKSUM_NONE);
  switch (packet_type & RTE_PTYPE_L4_MASK) {
    case RTE_PTYPE_L4_TCP:
      r.l4_protocol = L4Protocol::Tcp;
      break;
    case RTE_PTYPE_L4_UDP:
      r.l4_protocol = L4Protocol::Udp;
      break;
    default:
      break;
  }
  if (RTE_ETH_IS_IPV4_HDR(packet_type)) {
    r.l3_protocol = L3Protocol::Ipv4;
  } else if (RTE_ETH_IS_IPV6_HDR(packet_type)) {
    r.l3_protocol = L3Protocol::Ipv6;
  }
  if (ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) r.vlan = VlanMetadata::from_tci(vlan_tci);
  return r;
}

}  // namespace pmdnet
