// The RSS hash types an ethdev port can be asked to hash on, without DPDK: RssHashType names one
// RTE_ETH_RSS_* flow type each and RssHashTypes is a set of them. rss.cc holds the one table from
// them to the RTE_ETH_RSS_* bits, and the set each of virtio's hash types stands for.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>

namespace pmdnet {

// The RTE_ETH_RSS_* flag of each is named after it.
enum class RssHashType : uint8_t {
  kIpv4,       // IPV4
  kIpv4Frag,   // FRAG_IPV4
  kIpv4Tcp,    // NONFRAG_IPV4_TCP
  kIpv4Udp,    // NONFRAG_IPV4_UDP
  kIpv4Sctp,   // NONFRAG_IPV4_SCTP
  kIpv4Other,  // NONFRAG_IPV4_OTHER
  kIpv6,       // IPV6
  kIpv6Frag,   // FRAG_IPV6
  kIpv6Tcp,    // NONFRAG_IPV6_TCP
  kIpv6Udp,    // NONFRAG_IPV6_UDP
  kIpv6Sctp,   // NONFRAG_IPV6_SCTP
  kIpv6Other,  // NONFRAG_IPV6_OTHER
  kIpv6Ex,     // IPV6_EX
  kIpv6TcpEx,  // IPV6_TCP_EX
  kIpv6UdpEx,  // IPV6_UDP_EX
  kCount,
};

// Bit i set: the RssHashType whose value is i is in the set.
using RssHashTypes = std::bitset<static_cast<size_t>(RssHashType::kCount)>;

// The hash types virtio's VIRTIO_NET_RSS_HASH_TYPE_* bits (rss_hash::, RssConfig::flags) stand
// for: IPv4 and IPv6 each for their plain, fragment and other flow types. No bits: IP, TCP and
// UDP, which are RTE_ETH_RSS_IP, RTE_ETH_RSS_TCP and RTE_ETH_RSS_UDP.
RssHashTypes rss_hash_types_from_virtio(uint32_t flags) noexcept;

// The RTE_ETH_RSS_* bits of `types` (rte_eth_rss_conf::rss_hf).
uint64_t rss_hash_functions(const RssHashTypes& types) noexcept;

}  // namespace pmdnet
