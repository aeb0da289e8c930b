// Ethernet frames as bytes: the header constants of Ethernet, 802.1Q/802.1ad, IPv4, IPv6, TCP and
// UDP, and a bounded parser of the headers at the front of a frame (parse_frame_headers). No DPDK,
// no allocation, no exceptions: it runs on the fast path over guest-controlled bytes, for the
// virtio_net_hdr translation and for the software offloads alike.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string_view>

namespace pmdnet::net {

// Header lengths.
inline constexpr size_t kEthernetHeaderLen = 14;  // destination + source MAC, ethertype
inline constexpr size_t kMacAddressesLen = 12;    // destination + source MAC
inline constexpr size_t kVlanTagLen = 4;          // TPID + TCI
inline constexpr size_t kIpv4MinHeaderLen = 20;
inline constexpr size_t kIpv4MaxHeaderLen = 60;
inline constexpr size_t kIpv6HeaderLen = 40;  // the fixed header, without extension headers
inline constexpr size_t kTcpMinHeaderLen = 20;
inline constexpr size_t kTcpMaxHeaderLen = 60;
inline constexpr size_t kUdpHeaderLen = 8;

// Ethertypes.
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q C-tag
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;  // 802.1ad S-tag
inline constexpr uint16_t kEtherTypeRarp = 0x8035;  // reverse ARP (RFC 903)

// IP protocol numbers (IPv4 protocol, IPv6 next header).
inline constexpr uint8_t kIpProtoHopByHop = 0;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoRouting = 43;
inline constexpr uint8_t kIpProtoFragment = 44;
inline constexpr uint8_t kIpProtoDestOpts = 60;

// The IP layer of a frame.
enum class L3Protocol : uint8_t { Unknown, Ipv4, Ipv6 };

// The TCP/UDP layer of a frame.
enum class L4Protocol : uint8_t { Unknown, Tcp, Udp };

// Why a frame's headers could not be parsed. kFrameErrorCount sizes counter arrays.
enum class FrameError : uint8_t {
  kTooShort,       // the bytes end inside a header
  kBadIpv4Header,  // version != 4, IHL < 5, or total length shorter than the IP + L4 headers
  kBadIpv6Header,  // version != 6
  kBadTcpHeader,   // data offset < 5
};
inline constexpr size_t kFrameErrorCount = 4;

std::string_view to_string(FrameError e) noexcept;
// A short snake_case name for FrameError counters in telemetry, e.g. "too_short".
std::string_view to_key(FrameError e) noexcept;

// The value that stands for `e` in another error enumeration (a caller's own, for its counters),
// given one value per FrameError in order.
template <class E>
constexpr E map_frame_error(FrameError e, E too_short, E bad_ipv4_header, E bad_ipv6_header,
                            E bad_tcp_header) noexcept {
  switch (e) {
    case FrameError::kTooShort:
      return too_short;
    case FrameError::kBadIpv4Header:
      return bad_ipv4_header;
    case FrameError::kBadIpv6Header:
      return bad_ipv6_header;
    case FrameError::kBadTcpHeader:
      return bad_tcp_header;
  }
  return too_short;
}

// The headers at the front of an Ethernet frame.
//   l2_len     14, 18 or 22 (up to two 802.1Q/802.1ad tags); always set on success.
//   l3, l3_len IPv4 (IHL * 4) or IPv6 (40 + the extension headers followed); 0 when Unknown.
//   l4, l4_len TCP (data offset * 4) or UDP (8); l4_len 0 when Unknown.
//   l4_offset  l2_len + l3_len whenever l3 is known (where the next header starts), else 0.
// Unknown is not an error: a third VLAN tag, another ethertype, another IP protocol, an IP
// fragment (other than an IPv6 atomic fragment), or more IPv6 extension headers than
// kMaxIpv6ExtensionHeaders end parsing with the lengths known so far.
struct FrameHeaders {
  uint8_t l2_len = 0;
  L3Protocol l3 = L3Protocol::Unknown;
  uint16_t l3_len = 0;
  L4Protocol l4 = L4Protocol::Unknown;
  uint8_t l4_len = 0;
  uint16_t l4_offset = 0;

  constexpr bool operator==(const FrameHeaders&) const noexcept = default;
};

// IPv6 extension headers (hop-by-hop, routing, fragment, destination options) followed at most.
inline constexpr unsigned kMaxIpv6ExtensionHeaders = 6;

// Parses the headers at the start of `prefix`, the first bytes of a frame (callers copy up to 256
// bytes out of guest memory, or pass a whole linear frame). Every read is bounds-checked against
// prefix.size(): a header that does not fit is kTooShort, never a read past the end.
std::expected<FrameHeaders, FrameError> parse_frame_headers(
    std::span<const uint8_t> prefix) noexcept;

using MacAddress = std::array<uint8_t, 6>;

// The shortest Ethernet frame without its FCS: what a RARP announcement is padded to.
inline constexpr size_t kMinFrameLen = 60;

// The frame that announces `mac` from wherever it now is, after a live migration: a broadcast
// RARP "request reverse" (RFC 903, opcode 3, Ethernet and IPv4 address types) whose sender and
// target hardware addresses are `mac` and whose protocol addresses are 0, padded with zeros to
// kMinFrameLen. A learning switch moves `mac` to the port the frame came in on. QEMU and DPDK's
// vhost library send the same frame for a guest that cannot announce itself.
std::array<uint8_t, kMinFrameLen> rarp_announcement(const MacAddress& mac) noexcept;

}  // namespace pmdnet::net
