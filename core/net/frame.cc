// The bounded Ethernet/VLAN/IPv4/IPv6/TCP/UDP header parser and FrameError's names; the rules are
// in frame.h and next to the code below.
#include "core/net/frame.h"

#include <algorithm>

#include "core/base/enum_names.h"

namespace pmdnet::net {

namespace {

using Result = std::expected<FrameHeaders, FrameError>;

constexpr unsigned kMaxVlanTags = 2;
constexpr size_t kIpv6FragmentHeaderLen = 8;
constexpr size_t kIpv6MaxExtensionLen = 2048;  // (255 + 1) * 8

// The narrow FrameHeaders fields cannot overflow: every length is bounded here.
constexpr size_t kMaxL2Len = kEthernetHeaderLen + kMaxVlanTags * kVlanTagLen;
static_assert(kMaxL2Len <= UINT8_MAX && kTcpMaxHeaderLen <= UINT8_MAX);
constexpr size_t kMaxL3Len = kIpv6HeaderLen + kMaxIpv6ExtensionHeaders * kIpv6MaxExtensionLen;
static_assert(kMaxL3Len >= kIpv4MaxHeaderLen && kMaxL2Len + kMaxL3Len <= UINT16_MAX);

constexpr EnumNameTable<FrameError, kFrameErrorCount> kFrameErrorNames{{
    {FrameError::kTooShort, "too_short", "frame too short for its headers"},
    {FrameError::kBadIpv4Header, "bad_ipv4_header", "bad IPv4 header"},
    {FrameError::kBadIpv6Header, "bad_ipv6_header", "bad IPv6 header"},
    {FrameError::kBadTcpHeader, "bad_tcp_header", "bad TCP header"},
}};
static_assert(covers_in_order(kFrameErrorNames) && has_distinct_keys(kFrameErrorNames));

// Bounds-checked big-endian reads: callers check `fits` first.
constexpr bool fits(std::span<const uint8_t> p, size_t offset, size_t len) noexcept {
  return offset <= p.size() && len <= p.size() - offset;
}
constexpr uint16_t be16(std::span<const uint8_t> p, size_t offset) noexcept {
  return static_cast<uint16_t>((p[offset] << 8) | p[offset + 1]);
}

// Parses the TCP or UDP header at `h.l4_offset` and fills l4/l4_len.
std::expected<void, FrameError> parse_l4(std::span<const uint8_t> p, uint8_t protocol,
                                         FrameHeaders& h) noexcept {
  const size_t at = h.l4_offset;
  if (protocol == kIpProtoTcp) {
    if (!fits(p, at, kTcpMinHeaderLen)) return std::unexpected(FrameError::kTooShort);
    const size_t len = (size_t{p[at + 12]} >> 4) * 4;
    if (len < kTcpMinHeaderLen) return std::unexpected(FrameError::kBadTcpHeader);
    if (!fits(p, at, len)) return std::unexpected(FrameError::kTooShort);
    h.l4 = L4Protocol::Tcp;
    h.l4_len = static_cast<uint8_t>(len);
  } else if (protocol == kIpProtoUdp) {
    if (!fits(p, at, kUdpHeaderLen)) return std::unexpected(FrameError::kTooShort);
    h.l4 = L4Protocol::Udp;
    h.l4_len = kUdpHeaderLen;
  }
  return {};
}

Result parse_ipv4(std::span<const uint8_t> p, FrameHeaders h) noexcept {
  const size_t at = h.l2_len;
  if (!fits(p, at, kIpv4MinHeaderLen)) return std::unexpected(FrameError::kTooShort);
  const size_t ihl = (size_t{p[at]} & 0xf) * 4;
  if ((p[at] >> 4) != 4 || ihl < kIpv4MinHeaderLen) {
    return std::unexpected(FrameError::kBadIpv4Header);
  }
  if (!fits(p, at, ihl)) return std::unexpected(FrameError::kTooShort);
  const uint16_t total_len = be16(p, at + 2);
  if (total_len < ihl) return std::unexpected(FrameError::kBadIpv4Header);
  h.l3 = L3Protocol::Ipv4;
  h.l3_len = static_cast<uint16_t>(ihl);
  h.l4_offset = static_cast<uint16_t>(at + ihl);
  // A fragment (MF set or a nonzero offset) has no L4 header, or one whose checksum covers bytes
  // that are not in this frame: neither can be offloaded.
  const uint16_t fragment = be16(p, at + 6) & 0x3fff;
  if (fragment != 0) return h;
  if (auto l4 = parse_l4(p, p[at + 9], h); !l4) return std::unexpected(l4.error());
  if (total_len < ihl + h.l4_len) return std::unexpected(FrameError::kBadIpv4Header);
  return h;
}

Result parse_ipv6(std::span<const uint8_t> p, FrameHeaders h) noexcept {
  const size_t start = h.l2_len;
  if (!fits(p, start, kIpv6HeaderLen)) return std::unexpected(FrameError::kTooShort);
  if ((p[start] >> 4) != 6) return std::unexpected(FrameError::kBadIpv6Header);
  h.l3 = L3Protocol::Ipv6;
  uint8_t next = p[start + 6];
  size_t at = start + kIpv6HeaderLen;
  // Stops at the first header that is not a followed extension; `at` is where it starts.
  auto stop_here = [&]() noexcept {
    h.l3_len = static_cast<uint16_t>(at - start);
    h.l4_offset = static_cast<uint16_t>(at);
  };
  for (unsigned n = 0;; ++n) {
    const bool extension = next == kIpProtoHopByHop || next == kIpProtoRouting ||
                           next == kIpProtoDestOpts || next == kIpProtoFragment;
    if (!extension) break;
    if (n == kMaxIpv6ExtensionHeaders) {
      stop_here();
      return h;
    }
    if (next == kIpProtoFragment) {
      if (!fits(p, at, kIpv6FragmentHeaderLen)) {
        return std::unexpected(FrameError::kTooShort);
      }
      // Offset (13 bits) and M flag: only an atomic fragment (both 0) is a whole packet.
      const bool atomic = (be16(p, at + 2) & 0xfff9) == 0;
      next = p[at];
      at += kIpv6FragmentHeaderLen;
      if (!atomic) {
        stop_here();
        return h;
      }
    } else {
      if (!fits(p, at, 2)) return std::unexpected(FrameError::kTooShort);
      const size_t len = (size_t{p[at + 1]} + 1) * 8;
      if (!fits(p, at, len)) return std::unexpected(FrameError::kTooShort);
      next = p[at];
      at += len;
    }
  }
  stop_here();
  if (auto l4 = parse_l4(p, next, h); !l4) return std::unexpected(l4.error());
  return h;
}

}  // namespace

std::string_view to_string(FrameError e) noexcept {
  return description_of(kFrameErrorNames, e, "unknown frame error");
}

std::string_view to_key(FrameError e) noexcept { return key_of(kFrameErrorNames, e, "unknown"); }

std::expected<FrameHeaders, FrameError> parse_frame_headers(
    std::span<const uint8_t> prefix) noexcept {
  FrameHeaders h;
  if (!fits(prefix, 0, kEthernetHeaderLen)) return std::unexpected(FrameError::kTooShort);
  size_t type_at = kMacAddressesLen;
  uint16_t ethertype = be16(prefix, type_at);
  for (unsigned tags = 0; tags < kMaxVlanTags; ++tags) {
    if (ethertype != kEtherTypeVlan && ethertype != kEtherTypeQinQ) break;
    type_at += kVlanTagLen;
    if (!fits(prefix, type_at, 2)) return std::unexpected(FrameError::kTooShort);
    ethertype = be16(prefix, type_at);
  }
  h.l2_len = static_cast<uint8_t>(type_at + 2);
  switch (ethertype) {
    case kEtherTypeIpv4:
      return parse_ipv4(prefix, h);
    case kEtherTypeIpv6:
      return parse_ipv6(prefix, h);
    default:
      return h;  // a third tag, ARP, or anything else: L2 only
  }
}

std::array<uint8_t, kMinFrameLen> rarp_announcement(const MacAddress& mac) noexcept {
  std::array<uint8_t, kMinFrameLen> f{};
  auto put16 = [&f](size_t at, uint16_t v) {
    f[at] = static_cast<uint8_t>(v >> 8);
    f[at + 1] = static_cast<uint8_t>(v);
  };
  auto put_mac = [&f, &mac](size_t at) { std::copy(mac.begin(), mac.end(), f.begin() + at); };
  std::fill_n(f.begin(), 6, uint8_t{0xff});  // broadcast
  put_mac(6);
  put16(12, kEtherTypeRarp);
  put16(14, 1);               // hardware type: Ethernet
  put16(16, kEtherTypeIpv4);  // protocol type
  f[18] = 6;                  // hardware address length
  f[19] = 4;                  // protocol address length
  put16(20, 3);               // opcode: request reverse
  put_mac(22);                // sender hardware address; sender protocol address 0 (28..31)
  put_mac(32);                // target hardware address; target protocol address 0 (38..41)
  return f;
}

}  // namespace pmdnet::net
