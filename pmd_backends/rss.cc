// RssHashType -> RTE_ETH_RSS_* bits, and virtio's hash types -> RssHashTypes.
#include "pmd_backends/rss.h"

#include <rte_ethdev.h>

#include <initializer_list>
#include <iterator>
#include <utility>

#include "core/net_backend/endpoint.h"

namespace pmdnet {
namespace {

using T = RssHashType;

RssHashTypes hash_types(std::initializer_list<RssHashType> types) noexcept {
  RssHashTypes set;
  for (RssHashType t : types) set.set(static_cast<size_t>(t));
  return set;
}

}  // namespace

RssHashTypes rss_hash_types_from_virtio(uint32_t flags) noexcept {
  if (flags == 0) {
    // The groups ip, tcp and udp.
    return hash_types({T::kIpv4, T::kIpv4Frag, T::kIpv4Other, T::kIpv6, T::kIpv6Frag, T::kIpv6Other,
                       T::kIpv6Ex, T::kIpv4Tcp, T::kIpv6Tcp, T::kIpv6TcpEx, T::kIpv4Udp,
                       T::kIpv6Udp, T::kIpv6UdpEx});
  }
  const std::pair<uint32_t, RssHashTypes> kVirtio[] = {
      {rss_hash::kIpv4, hash_types({T::kIpv4, T::kIpv4Frag, T::kIpv4Other})},
      {rss_hash::kTcpIpv4, hash_types({T::kIpv4Tcp})},
      {rss_hash::kUdpIpv4, hash_types({T::kIpv4Udp})},
      {rss_hash::kIpv6, hash_types({T::kIpv6, T::kIpv6Frag, T::kIpv6Other})},
      {rss_hash::kTcpIpv6, hash_types({T::kIpv6Tcp})},
      {rss_hash::kUdpIpv6, hash_types({T::kIpv6Udp})},
      {rss_hash::kIpv6Ex, hash_types({T::kIpv6Ex})},
      {rss_hash::kTcpIpv6Ex, hash_types({T::kIpv6TcpEx})},
      {rss_hash::kUdpIpv6Ex, hash_types({T::kIpv6UdpEx})},
  };
  RssHashTypes set;
  for (const auto& [flag, types] : kVirtio) {
    if ((flags & flag) != 0) set |= types;
  }
  return set;
}

uint64_t rss_hash_functions(const RssHashTypes& types) noexcept {
  static constexpr std::pair<RssHashType, uint64_t> kMap[] = {
      {T::kIpv4, RTE_ETH_RSS_IPV4},
      {T::kIpv4Frag, RTE_ETH_RSS_FRAG_IPV4},
      {T::kIpv4Tcp, RTE_ETH_RSS_NONFRAG_IPV4_TCP},
      {T::kIpv4Udp, RTE_ETH_RSS_NONFRAG_IPV4_UDP},
      {T::kIpv4Sctp, RTE_ETH_RSS_NONFRAG_IPV4_SCTP},
      {T::kIpv4Other, RTE_ETH_RSS_NONFRAG_IPV4_OTHER},
      {T::kIpv6, RTE_ETH_RSS_IPV6},
      {T::kIpv6Frag, RTE_ETH_RSS_FRAG_IPV6},
      {T::kIpv6Tcp, RTE_ETH_RSS_NONFRAG_IPV6_TCP},
      {T::kIpv6Udp, RTE_ETH_RSS_NONFRAG_IPV6_UDP},
      {T::kIpv6Sctp, RTE_ETH_RSS_NONFRAG_IPV6_SCTP},
      {T::kIpv6Other, RTE_ETH_RSS_NONFRAG_IPV6_OTHER},
      {T::kIpv6Ex, RTE_ETH_RSS_IPV6_EX},
      {T::kIpv6TcpEx, RTE_ETH_RSS_IPV6_TCP_EX},
      {T::kIpv6UdpEx, RTE_ETH_RSS_IPV6_UDP_EX},
  };
  static_assert(std::size(kMap) == static_cast<size_t>(RssHashType::kCount));
  uint64_t hf = 0;
  for (const auto& [type, bits] : kMap) {
    if (types.test(static_cast<size_t>(type))) hf |= bits;
  }
  return hf;
}

}  // namespace pmdnet
