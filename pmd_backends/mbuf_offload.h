// Pure translations between pmdnet's packet metadata and DPDK mbuf offload fields, over plain
// integers (no DPDK type here; the .cc includes the DPDK headers for the flag values): which
// transmit offloads a port does natively (within its PMD's known quirks), the TxMetadata ->
// ol_flags/l2_len/... plan with what is left for software, and mbuf ol_flags/packet_type ->
// RxMetadata.
#pragma once

#include <cstdint>
#include <expected>
#include <string_view>

#include "core/net_backend/packet.h"
#include "core/offload/soft_offload.h"

namespace pmdnet {

// The transmit offloads a port performs itself (after pmdnet's own switches are applied).
struct NativeTxOffloads {
  bool ipv4_checksum = false;
  bool tcp_checksum = false;
  bool udp_checksum = false;
  bool tso = false;  // counted only with the checksums it implies (see native_tx_offloads)
  bool uso = false;
  bool vlan_insert = false;
  // Limits of the native TSO that no capability bit shows (see apply_pmd_quirks); a packet
  // outside them is segmented in software.
  bool tso_ipv4_only = false;      // TCP over IPv6 is not segmented
  bool tso_even_mss_only = false;  // an odd max_segment_size corrupts the segments
  uint32_t tso_max_frame = 0;      // l2_len + l3_len + l4_len + mss at most (0: no limit)
  constexpr bool operator==(const NativeTxOffloads&) const noexcept = default;
};

// From dev_info.tx_offload_capa (RTE_ETH_TX_OFFLOAD_* bits).
NativeTxOffloads native_tx_offloads(uint64_t tx_offload_capa) noexcept;

// `native` with the known limits of the PMD `driver_name` (dev_info.driver_name, e.g. "net_tap")
// for a port whose MTU is `mtu`: what its capability bits claim but it does not do right.
NativeTxOffloads apply_pmd_quirks(NativeTxOffloads native, std::string_view driver_name,
                                  uint16_t mtu) noexcept;

// The RTE_ETH_TX_OFFLOAD_* bits to enable in txmode.offloads for `native`.
uint64_t tx_offload_conf(const NativeTxOffloads& native) noexcept;

// How one packet leaves: the mbuf fields for what the port does, and what software must do first.
struct TxOffloadPlan {
  uint64_t ol_flags = 0;  // RTE_MBUF_F_TX_* bits
  uint8_t l2_len = 0;     // as the port sees the frame (+4 when software inserts the tag)
  uint16_t l3_len = 0;
  uint8_t l4_len = 0;
  uint16_t tso_segsz = 0;
  uint16_t vlan_tci = 0;
  // The metadata for offload::apply_checksums: only the checksum flags left to software (plus
  // is_ipv4/is_ipv6); no VLAN.
  TxMetadata software_checksums;
  bool software_segmentation = false;  // run offload::segment on the original metadata
  bool software_vlan = false;          // insert the 802.1Q tag in software
};

// Plans `m` for a port doing `native`. Checks what the port would otherwise trust blindly
// (exclusive flags, max_segment_size, header lengths inside the packet); the software fallbacks
// parse the headers themselves. Errors are the offload::OffloadError the packet is counted under.
std::expected<TxOffloadPlan, offload::OffloadError> plan_tx_offloads(
    const TxMetadata& m, const NativeTxOffloads& native) noexcept;

// Receive metadata from an mbuf's ol_flags, packet_type and vlan_tci.
RxMetadata rx_metadata_from_mbuf(uint64_t ol_flags, uint32_t packet_type, uint16_t vlan_tci,
                                 uint32_t pkt_len) noexcept;

}  // namespace pmdnet
