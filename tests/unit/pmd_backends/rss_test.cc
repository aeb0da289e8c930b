// Unit tests of the RSS hash type translations (rss.h): each RssHashType's RTE_ETH_RSS_* flag, and
// the hash types virtio's VIRTIO_NET_RSS_HASH_TYPE_* bits stand for. The DPDK header is included
// only for the flag values; no EAL runs.
#include "pmd_backends/rss.h"

#include <gtest/gtest.h>
#include <rte_ethdev.h>

#include <bit>
#include <cstddef>
#include <utility>

#include "core/net_backend/endpoint.h"

namespace pmdnet {
namespace {

using T = RssHashType;

uint64_t hf(RssHashType t) {
  return rss_hash_functions(RssHashTypes().set(static_cast<size_t>(t)));
}

TEST(RssHashFunctions, EachTypeIsItsOwnFlag) {
  EXPECT_EQ(hf(T::kIpv4), RTE_ETH_RSS_IPV4);
  EXPECT_EQ(hf(T::kIpv4Frag), RTE_ETH_RSS_FRAG_IPV4);
  EXPECT_EQ(hf(T::kIpv4Tcp), RTE_ETH_RSS_NONFRAG_IPV4_TCP);
  EXPECT_EQ(hf(T::kIpv4Udp), RTE_ETH_RSS_NONFRAG_IPV4_UDP);
  EXPECT_EQ(hf(T::kIpv4Sctp), RTE_ETH_RSS_NONFRAG_IPV4_SCTP);
  EXPECT_EQ(hf(T::kIpv4Other), RTE_ETH_RSS_NONFRAG_IPV4_OTHER);
  EXPECT_EQ(hf(T::kIpv6), RTE_ETH_RSS_IPV6);
  EXPECT_EQ(hf(T::kIpv6Frag), RTE_ETH_RSS_FRAG_IPV6);
  EXPECT_EQ(hf(T::kIpv6Tcp), RTE_ETH_RSS_NONFRAG_IPV6_TCP);
  EXPECT_EQ(hf(T::kIpv6Udp), RTE_ETH_RSS_NONFRAG_IPV6_UDP);
  EXPECT_EQ(hf(T::kIpv6Sctp), RTE_ETH_RSS_NONFRAG_IPV6_SCTP);
  EXPECT_EQ(hf(T::kIpv6Other), RTE_ETH_RSS_NONFRAG_IPV6_OTHER);
  EXPECT_EQ(hf(T::kIpv6Ex), RTE_ETH_RSS_IPV6_EX);
  EXPECT_EQ(hf(T::kIpv6TcpEx), RTE_ETH_RSS_IPV6_TCP_EX);
  EXPECT_EQ(hf(T::kIpv6UdpEx), RTE_ETH_RSS_IPV6_UDP_EX);
}

TEST(RssHashFunctions, ASetIsTheUnionOfItsFlags) {
  EXPECT_EQ(rss_hash_functions(RssHashTypes()), 0u);
  const uint64_t all = rss_hash_functions(RssHashTypes().set());
  EXPECT_EQ(all, RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_SCTP);
  EXPECT_EQ(std::popcount(all), static_cast<int>(RssHashType::kCount));
}

TEST(RssHashFunctions, NoVirtioTypesMeanIpTcpAndUdp) {
  EXPECT_EQ(rss_hash_functions(rss_hash_types_from_virtio(0)),
            RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
}

TEST(RssHashFunctions, EachVirtioTypeStandsForItsFlowTypes) {
  const std::pair<uint32_t, uint64_t> expected[] = {
      {rss_hash::kIpv4, RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER},
      {rss_hash::kTcpIpv4, RTE_ETH_RSS_NONFRAG_IPV4_TCP},
      {rss_hash::kUdpIpv4, RTE_ETH_RSS_NONFRAG_IPV4_UDP},
      {rss_hash::kIpv6, RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_OTHER},
      {rss_hash::kTcpIpv6, RTE_ETH_RSS_NONFRAG_IPV6_TCP},
      {rss_hash::kUdpIpv6, RTE_ETH_RSS_NONFRAG_IPV6_UDP},
      {rss_hash::kIpv6Ex, RTE_ETH_RSS_IPV6_EX},
      {rss_hash::kTcpIpv6Ex, RTE_ETH_RSS_IPV6_TCP_EX},
      {rss_hash::kUdpIpv6Ex, RTE_ETH_RSS_IPV6_UDP_EX},
  };
  uint32_t all_flags = 0;
  uint64_t all_hf = 0;
  for (const auto& [flag, hf] : expected) {
    EXPECT_EQ(rss_hash_functions(rss_hash_types_from_virtio(flag)), hf) << flag;
    all_flags |= flag;
    all_hf |= hf;
  }
  EXPECT_EQ(rss_hash_functions(rss_hash_types_from_virtio(all_flags)), all_hf);
  // A combination is the union of its parts; bits virtio does not define add nothing.
  EXPECT_EQ(rss_hash_functions(rss_hash_types_from_virtio(rss_hash::kTcpIpv4 | rss_hash::kIpv6)),
            RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_FRAG_IPV6 |
                RTE_ETH_RSS_NONFRAG_IPV6_OTHER);
  EXPECT_EQ(rss_hash_functions(rss_hash_types_from_virtio(rss_hash::kUdpIpv4 | (1u << 20))),
            RTE_ETH_RSS_NONFRAG_IPV4_UDP);
}

}  // namespace
}  // namespace pmdnet
