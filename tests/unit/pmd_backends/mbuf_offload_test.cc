// Unit tests of the pure mbuf offload translations (mbuf_offload.h): port capabilities, the
// TxMetadata -> ol_flags plan with its software remainder, and mbuf RX flags -> RxMetadata. The
// DPDK headers are included only for the flag values; no EAL runs.
#include "pmd_backends/mbuf_offload.h"

#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_ptype.h>

namespace pmdnet {
namespace {

using offload::OffloadError;

constexpr NativeTxOffloads kAll{.ipv4_checksum = true,
                                .tcp_checksum = true,
                                .udp_checksum = true,
                                .tso = true,
                                .uso = true,
                                .vlan_insert = true};

TxMetadata tcp4(TxFlags extra) {
  return TxMetadata{.segment_count = 1,
                    .flags = TxFlags::from_bits(extra.into_bits() | TxFlags::kIsIpv4),
                    .len = 1000,
                    .l2_len = 14,
                    .l3_len = 20,
                    .l4_len = 20,
                    .transport_header_offset = 34};
}

TEST(NativeTxOffloadsTest, FromCapabilities) {
  EXPECT_EQ(native_tx_offloads(0), NativeTxOffloads{});
  const uint64_t all = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                       RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_TSO |
                       RTE_ETH_TX_OFFLOAD_UDP_TSO | RTE_ETH_TX_OFFLOAD_VLAN_INSERT;
  EXPECT_EQ(native_tx_offloads(all), kAll);
  // TSO without the checksums it implies is not trusted.
  const auto tso_only = native_tx_offloads(RTE_ETH_TX_OFFLOAD_TCP_TSO);
  EXPECT_FALSE(tso_only.tso);
  EXPECT_EQ(tx_offload_conf(kAll) & all, all);
  EXPECT_EQ(tx_offload_conf(NativeTxOffloads{}), RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
}

TEST(PlanTxOffloadsTest, PlainFrameNeedsNothing) {
  const auto p = plan_tx_offloads(TxMetadata{.segment_count = 1, .len = 60}, kAll);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ol_flags, 0u);
  EXPECT_EQ(p->software_checksums.flags.into_bits() & 0x7, 0);
  EXPECT_FALSE(p->software_segmentation);
  EXPECT_FALSE(p->software_vlan);
}

TEST(PlanTxOffloadsTest, ChecksumsInSoftwareWithoutNativeSupport) {
  const auto p = plan_tx_offloads(
      tcp4(TxFlags().with_offload_tcp_checksum(true).with_offload_ip_header_checksum(true)), {});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ol_flags, 0u);
  EXPECT_TRUE(p->software_checksums.flags.offload_tcp_checksum());
  EXPECT_TRUE(p->software_checksums.flags.offload_ip_header_checksum());
  EXPECT_TRUE(p->software_checksums.flags.is_ipv4());
}

TEST(PlanTxOffloadsTest, NativeChecksums) {
  const auto p = plan_tx_offloads(
      tcp4(TxFlags().with_offload_tcp_checksum(true).with_offload_ip_header_checksum(true)), kAll);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ol_flags, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM);
  EXPECT_EQ(p->l2_len, 14);
  EXPECT_EQ(p->l3_len, 20);
  EXPECT_EQ(p->software_checksums.flags.into_bits() & 0x7, 0);
}

TEST(PlanTxOffloadsTest, NativeUdpChecksumOverIpv6) {
  TxMetadata m{.segment_count = 1,
               .flags = TxFlags().with_is_ipv6(true).with_offload_udp_checksum(true),
               .len = 200,
               .l2_len = 14,
               .l3_len = 40,
               .transport_header_offset = 54};
  const auto p = plan_tx_offloads(m, kAll);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ol_flags, RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM);
}

TEST(PlanTxOffloadsTest, NativeTso) {
  TxMetadata m = tcp4(TxFlags().with_offload_tcp_segmentation(true));
  m.max_segment_size = 1448;
  const auto p = plan_tx_offloads(m, kAll);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ol_flags, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_SEG);
  EXPECT_EQ(p->tso_segsz, 1448);
  EXPECT_EQ(p->l4_len, 20);
  EXPECT_FALSE(p->software_segmentation);
}

TEST(PlanTxOffloadsTest, SoftwareTsoAndUso) {
  TxMetadata m = tcp4(TxFlags().with_offload_tcp_segmentation(true));
  m.max_segment_size = 1448;
  auto p = plan_tx_offloads(m, {});
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->software_segmentation);
  EXPECT_EQ(p->ol_flags, 0u);
  m.flags = TxFlags().with_is_ipv4(true).with_offload_udp_segmentation(true);
  p = plan_tx_offloads(m, {});
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->software_segmentation);
  p = plan_tx_offloads(m, kAll);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ol_flags, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_SEG);
  EXPECT_EQ(p->l4_len, 8);
}

TEST(PmdQuirksTest, NetTapTsoLimits) {
  const NativeTxOffloads tap = apply_pmd_quirks(kAll, "net_tap", 1500);
  EXPECT_TRUE(tap.tso);
  EXPECT_TRUE(tap.tso_ipv4_only);
  EXPECT_TRUE(tap.tso_even_mss_only);
  EXPECT_EQ(tap.tso_max_frame, 1500u);
  // Only TSO is limited.
  NativeTxOffloads rest = tap;
  rest.tso_ipv4_only = rest.tso_even_mss_only = false;
  rest.tso_max_frame = 0;
  EXPECT_EQ(rest, kAll);
  // An unknown MTU leaves nothing known to fit; a port without TSO gets no limits.
  EXPECT_FALSE(apply_pmd_quirks(kAll, "net_tap", 0).tso);
  NativeTxOffloads no_tso = kAll;
  no_tso.tso = false;
  EXPECT_EQ(apply_pmd_quirks(no_tso, "net_tap", 1500), no_tso);
  // Other PMDs are trusted as they advertise.
  EXPECT_EQ(apply_pmd_quirks(kAll, "net_ring", 1500), kAll);
  EXPECT_EQ(apply_pmd_quirks(kAll, "net_tap_other", 1500), kAll);
}

TEST(PlanTxOffloadsTest, TsoOutsideThePmdLimitsGoesToSoftware) {
  NativeTxOffloads caps = kAll;
  caps.vlan_insert = false;  // as net_tap
  const NativeTxOffloads tap = apply_pmd_quirks(caps, "net_tap", 1500);
  auto plan = [&](TxMetadata m, uint16_t mss) {
    m.max_segment_size = mss;
    m.len = 65000;
    const auto p = plan_tx_offloads(m, tap);
    EXPECT_TRUE(p.has_value());
    return p.value_or(TxOffloadPlan{});
  };
  const TxMetadata v4 = tcp4(TxFlags().with_offload_tcp_segmentation(true));
  // 14 + 20 + 20 + 1446 = 1500: the largest that fits.
  auto p = plan(v4, 1446);
  EXPECT_FALSE(p.software_segmentation);
  EXPECT_EQ(p.tso_segsz, 1446);
  EXPECT_TRUE(plan(v4, 1448).software_segmentation);
  // An odd mss.
  EXPECT_TRUE(plan(v4, 1399).software_segmentation);
  EXPECT_FALSE(plan(v4, 1400).software_segmentation);
  // A tag inserted in software counts: 18 + 20 + 20 + 1444 = 1502.
  TxMetadata tagged = v4;
  tagged.vlan = VlanMetadata().with_vlan_id(7);
  EXPECT_TRUE(plan(tagged, 1444).software_segmentation);
  p = plan(tagged, 1442);
  EXPECT_FALSE(p.software_segmentation);
  EXPECT_TRUE(p.software_vlan);
  EXPECT_EQ(p.l2_len, 18);
  // IPv6 never (while a port without the quirk takes it).
  TxMetadata v6 = v4;
  v6.flags = TxFlags().with_is_ipv6(true).with_offload_tcp_segmentation(true);
  v6.l3_len = 40;
  v6.transport_header_offset = 54;
  EXPECT_TRUE(plan(v6, 1200).software_segmentation);
  v6.max_segment_size = 1200;
  const auto native_v6 = plan_tx_offloads(v6, kAll);
  ASSERT_TRUE(native_v6.has_value());
  EXPECT_FALSE(native_v6->software_segmentation);
  // USO is not limited.
  TxMetadata uso = v4;
  uso.flags = TxFlags().with_is_ipv4(true).with_offload_udp_segmentation(true);
  EXPECT_FALSE(plan(uso, 1999).software_segmentation);
}

TEST(PlanTxOffloadsTest, Vlan) {
  TxMetadata m = tcp4(TxFlags().with_offload_tcp_checksum(true));
  m.vlan = VlanMetadata().with_vlan_id(100).with_priority(5);
  auto p = plan_tx_offloads(m, kAll);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->ol_flags & RTE_MBUF_F_TX_VLAN);
  EXPECT_EQ(p->vlan_tci, (5 << 13) | 100);
  EXPECT_FALSE(p->software_vlan);
  // Software tag, native checksum: the port sees the tag in the L2 header.
  NativeTxOffloads no_vlan = kAll;
  no_vlan.vlan_insert = false;
  p = plan_tx_offloads(m, no_vlan);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->software_vlan);
  EXPECT_FALSE(p->ol_flags & RTE_MBUF_F_TX_VLAN);
  EXPECT_EQ(p->l2_len, 18);
  EXPECT_FALSE(p->software_checksums.vlan.has_value());
}

TEST(PlanTxOffloadsTest, BadMetadata) {
  TxMetadata m = tcp4(TxFlags().with_offload_tcp_checksum(true).with_is_ipv6(true));
  EXPECT_EQ(plan_tx_offloads(m, kAll).error(), OffloadError::kBothIpVersions);
  m = tcp4(TxFlags().with_offload_tcp_checksum(true));
  m.flags = TxFlags().with_offload_tcp_checksum(true);
  EXPECT_EQ(plan_tx_offloads(m, kAll).error(), OffloadError::kNoIpVersion);
  m = tcp4(TxFlags().with_offload_tcp_segmentation(true));
  EXPECT_EQ(plan_tx_offloads(m, kAll).error(), OffloadError::kMaxSegmentSizeZero);
  m = tcp4(TxFlags().with_offload_tcp_segmentation(true).with_offload_udp_segmentation(true));
  m.max_segment_size = 100;
  EXPECT_EQ(plan_tx_offloads(m, kAll).error(), OffloadError::kBothSegmentations);
  m = tcp4(TxFlags().with_offload_tcp_checksum(true).with_offload_udp_checksum(true));
  EXPECT_EQ(plan_tx_offloads(m, kAll).error(), OffloadError::kBothL4Checksums);
  m = tcp4(TxFlags().with_offload_tcp_checksum(true));
  m.l3_len = 2000;
  EXPECT_EQ(plan_tx_offloads(m, kAll).error(), OffloadError::kMetadataPastEnd);
  m = tcp4(TxFlags().with_offload_tcp_segmentation(true));
  m.max_segment_size = 100;
  m.len = 50;
  EXPECT_EQ(plan_tx_offloads(m, kAll).error(), OffloadError::kMetadataPastEnd);
}

TEST(RxMetadataFromMbufTest, ChecksumStatesAndProtocols) {
  auto r =
      rx_metadata_from_mbuf(RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                            RTE_PTYPE_L2_ETHER | RTE_PTYPE_L3_IPV4 | RTE_PTYPE_L4_TCP, 0, 1514);
  EXPECT_EQ(r.len, 1514u);
  EXPECT_EQ(r.ip_checksum, RxChecksumState::Good);
  EXPECT_EQ(r.l4_checksum, RxChecksumState::Good);
  EXPECT_EQ(r.l4_protocol, L4Protocol::Tcp);
  EXPECT_EQ(r.l3_protocol, L3Protocol::Ipv4);
  EXPECT_FALSE(r.vlan.has_value());

  r = rx_metadata_from_mbuf(RTE_MBUF_F_RX_IP_CKSUM_BAD | RTE_MBUF_F_RX_L4_CKSUM_NONE,
                            RTE_PTYPE_L3_IPV6_EXT_UNKNOWN | RTE_PTYPE_L4_UDP, 0, 60);
  EXPECT_EQ(r.ip_checksum, RxChecksumState::Bad);
  EXPECT_EQ(r.l4_checksum, RxChecksumState::ValidatedButWrong);
  EXPECT_EQ(r.l4_protocol, L4Protocol::Udp);
  EXPECT_EQ(r.l3_protocol, L3Protocol::Ipv6);

  r = rx_metadata_from_mbuf(0, 0, 0, 60);
  EXPECT_EQ(r.ip_checksum, RxChecksumState::Unknown);
  EXPECT_EQ(r.l4_checksum, RxChecksumState::Unknown);
  EXPECT_EQ(r.l4_protocol, L4Protocol::Unknown);
  EXPECT_EQ(r.l3_protocol, L3Protocol::Unknown);
}

TEST(RxMetadataFromMbufTest, VlanOnlyWhenStripped) {
  const uint16_t tci = (3 << 13) | (1 << 12) | 42;
  auto r = rx_metadata_from_mbuf(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED, 0, tci, 60);
  ASSERT_TRUE(r.vlan.has_value());
  EXPECT_EQ(r.vlan->vlan_id(), 42);
  EXPECT_EQ(r.vlan->priority(), 3);
  EXPECT_TRUE(r.vlan->drop_eligible_indicator());
  r = rx_metadata_from_mbuf(RTE_MBUF_F_RX_VLAN, 0, tci, 60);
  EXPECT_FALSE(r.vlan.has_value());
}

}  // namespace
}  // namespace pmdnet
