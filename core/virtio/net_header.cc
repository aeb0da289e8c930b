// virtio_net_hdr <-> TxMetadata/RxMetadata translation and the bounded frame-header parser behind
// it; the rules and their spec sources are in net_header.h and next to the code below.
#include "core/virtio/net_header.h"

#include <algorithm>
#include <bit>

namespace pmdnet::virtio {

// VERSION_1 headers are little-endian and VirtioNetHdr is read as-is.
static_assert(std::endian::native == std::endian::little);

namespace {

using Result = std::expected<FrameHeaders, HeaderError>;

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q C-tag
constexpr uint16_t kEtherTypeQinQ = 0x88a8;  // 802.1ad S-tag
constexpr unsigned kMaxVlanTags = 2;
constexpr size_t kVlanTagLen = 4;

constexpr uint8_t kIpProtoHopByHop = 0;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint8_t kIpProtoRouting = 43;
constexpr uint8_t kIpProtoFragment = 44;
constexpr uint8_t kIpProtoDestOpts = 60;

constexpr size_t kTcpMinHeaderLen = 20;
constexpr size_t kTcpMaxHeaderLen = 60;
constexpr size_t kUdpHeaderLen = 8;
constexpr size_t kIpv4MaxHeaderLen = 60;
constexpr size_t kIpv6FragmentHeaderLen = 8;
constexpr size_t kIpv6MaxExtensionLen = 2048;  // (255 + 1) * 8

// The narrow FrameHeaders/TxMetadata fields cannot overflow: every length is bounded here.
constexpr size_t kMaxL2Len = ETHERNET_HEADER_LEN + kMaxVlanTags * kVlanTagLen;
static_assert(kMaxL2Len <= UINT8_MAX && kTcpMaxHeaderLen <= UINT8_MAX);
constexpr size_t kMaxL3Len = IPV6_MIN_HEADER_LEN + kMaxIpv6ExtensionHeaders * kIpv6MaxExtensionLen;
static_assert(kMaxL3Len >= kIpv4MaxHeaderLen && kMaxL2Len + kMaxL3Len <= UINT16_MAX);

// Bounds-checked big-endian reads: callers check `fits` first.
constexpr bool fits(std::span<const uint8_t> p, size_t offset, size_t len) noexcept {
  return offset <= p.size() && len <= p.size() - offset;
}
constexpr uint16_t be16(std::span<const uint8_t> p, size_t offset) noexcept {
  return static_cast<uint16_t>((p[offset] << 8) | p[offset + 1]);
}

// Parses the TCP or UDP header at `h.l4_offset` and fills l4/l4_len.
std::expected<void, HeaderError> parse_l4(std::span<const uint8_t> p, uint8_t protocol,
                                          FrameHeaders& h) noexcept {
  const size_t at = h.l4_offset;
  if (protocol == kIpProtoTcp) {
    if (!fits(p, at, kTcpMinHeaderLen)) return std::unexpected(HeaderError::kFrameTooShort);
    const size_t len = (size_t{p[at + 12]} >> 4) * 4;
    if (len < kTcpMinHeaderLen) return std::unexpected(HeaderError::kBadTcpHeader);
    if (!fits(p, at, len)) return std::unexpected(HeaderError::kFrameTooShort);
    h.l4 = L4Protocol::Tcp;
    h.l4_len = static_cast<uint8_t>(len);
  } else if (protocol == kIpProtoUdp) {
    if (!fits(p, at, kUdpHeaderLen)) return std::unexpected(HeaderError::kFrameTooShort);
    h.l4 = L4Protocol::Udp;
    h.l4_len = kUdpHeaderLen;
  }
  return {};
}

Result parse_ipv4(std::span<const uint8_t> p, FrameHeaders h) noexcept {
  const size_t at = h.l2_len;
  if (!fits(p, at, IPV4_MIN_HEADER_LEN)) return std::unexpected(HeaderError::kFrameTooShort);
  const size_t ihl = (size_t{p[at]} & 0xf) * 4;
  if ((p[at] >> 4) != 4 || ihl < IPV4_MIN_HEADER_LEN) {
    return std::unexpected(HeaderError::kBadIpv4Header);
  }
  if (!fits(p, at, ihl)) return std::unexpected(HeaderError::kFrameTooShort);
  const uint16_t total_len = be16(p, at + 2);
  if (total_len < ihl) return std::unexpected(HeaderError::kBadIpv4Header);
  h.l3 = L3Protocol::Ipv4;
  h.l3_len = static_cast<uint16_t>(ihl);
  h.l4_offset = static_cast<uint16_t>(at + ihl);
  // A fragment (MF set or a nonzero offset) has no L4 header, or one whose checksum covers bytes
  // that are not in this frame: neither can be offloaded.
  const uint16_t fragment = be16(p, at + 6) & 0x3fff;
  if (fragment != 0) return h;
  if (auto l4 = parse_l4(p, p[at + 9], h); !l4) return std::unexpected(l4.error());
  if (total_len < ihl + h.l4_len) return std::unexpected(HeaderError::kBadIpv4Header);
  return h;
}

Result parse_ipv6(std::span<const uint8_t> p, FrameHeaders h) noexcept {
  const size_t start = h.l2_len;
  if (!fits(p, start, IPV6_MIN_HEADER_LEN)) return std::unexpected(HeaderError::kFrameTooShort);
  if ((p[start] >> 4) != 6) return std::unexpected(HeaderError::kBadIpv6Header);
  h.l3 = L3Protocol::Ipv6;
  uint8_t next = p[start + 6];
  size_t at = start + IPV6_MIN_HEADER_LEN;
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
        return std::unexpected(HeaderError::kFrameTooShort);
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
      if (!fits(p, at, 2)) return std::unexpected(HeaderError::kFrameTooShort);
      const size_t len = (size_t{p[at + 1]} + 1) * 8;
      if (!fits(p, at, len)) return std::unexpected(HeaderError::kFrameTooShort);
      next = p[at];
      at += len;
    }
  }
  stop_here();
  if (auto l4 = parse_l4(p, next, h); !l4) return std::unexpected(l4.error());
  return h;
}

// The feature a GSO type (without the ECN bit) needs, or kNoFeature for an unknown type.
constexpr unsigned kNoFeature = ~0u;
constexpr unsigned gso_feature(uint8_t gso_type) noexcept {
  switch (gso_type) {
    case kGsoTcpv4:
      return feature::kHostTso4;
    case kGsoTcpv6:
      return feature::kHostTso6;
    case kGsoUdpL4:
      return feature::kHostUso;
    default:
      return kNoFeature;
  }
}

}  // namespace

std::string_view to_string(HeaderError e) noexcept {
  switch (e) {
    case HeaderError::kFrameTooShort:
      return "frame too short for its headers";
    case HeaderError::kBadIpv4Header:
      return "bad IPv4 header";
    case HeaderError::kBadIpv6Header:
      return "bad IPv6 header";
    case HeaderError::kBadTcpHeader:
      return "bad TCP header";
    case HeaderError::kCsumNotNegotiated:
      return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
    case HeaderError::kCsumOffsetsPastPacket:
      return "csum_start/csum_offset past the packet";
    case HeaderError::kCsumNotTcpOrUdp:
      return "csum_start/csum_offset not a TCP/UDP checksum";
    case HeaderError::kGsoUnknownType:
      return "unknown gso_type";
    case HeaderError::kGsoNotNegotiated:
      return "gso_type without its HOST_TSO/HOST_USO feature";
    case HeaderError::kGsoEcnNotNegotiated:
      return "GSO_ECN without VIRTIO_NET_F_HOST_ECN";
    case HeaderError::kGsoWithoutNeedsCsum:
      return "gso_type without NEEDS_CSUM";
    case HeaderError::kGsoSizeZero:
      return "gso_type with gso_size 0";
    case HeaderError::kGsoSizeTooSmall:
      return "TCP gso_size below 88 (Linux's TCP_MIN_MSS)";
    case HeaderError::kGsoTooManySegments:
      return "UDP gso_size that needs more than 128 segments";
    case HeaderError::kGsoWithoutHeaders:
      return "gso_type on a frame without IP and TCP/UDP headers";
    case HeaderError::kGsoProtocolMismatch:
      return "gso_type does not match the frame's protocols";
    case HeaderError::kGsoHdrLenMismatch:
      return "hdr_len differs from the headers (GUEST_HDRLEN)";
    case HeaderError::kRxGsoNotNegotiated:
      return "coalesced frame for a guest without GUEST_TSO/GUEST_USO";
    case HeaderError::kRxGsoBadMetadata:
      return "coalesced frame with bad protocol or header lengths";
    case HeaderError::kRxGsoChecksumInvalid:
      return "coalesced frame with unvalidated checksums";
  }
  return "unknown header error";
}

std::string_view to_key(HeaderError e) noexcept {
  switch (e) {
    case HeaderError::kFrameTooShort:
      return "frame_too_short";
    case HeaderError::kBadIpv4Header:
      return "bad_ipv4_header";
    case HeaderError::kBadIpv6Header:
      return "bad_ipv6_header";
    case HeaderError::kBadTcpHeader:
      return "bad_tcp_header";
    case HeaderError::kCsumNotNegotiated:
      return "csum_not_negotiated";
    case HeaderError::kCsumOffsetsPastPacket:
      return "csum_offsets_past_packet";
    case HeaderError::kCsumNotTcpOrUdp:
      return "csum_not_tcp_or_udp";
    case HeaderError::kGsoUnknownType:
      return "gso_unknown_type";
    case HeaderError::kGsoNotNegotiated:
      return "gso_not_negotiated";
    case HeaderError::kGsoEcnNotNegotiated:
      return "gso_ecn_not_negotiated";
    case HeaderError::kGsoWithoutNeedsCsum:
      return "gso_without_needs_csum";
    case HeaderError::kGsoSizeZero:
      return "gso_size_zero";
    case HeaderError::kGsoSizeTooSmall:
      return "gso_size_too_small";
    case HeaderError::kGsoTooManySegments:
      return "gso_too_many_segments";
    case HeaderError::kGsoWithoutHeaders:
      return "gso_without_headers";
    case HeaderError::kGsoProtocolMismatch:
      return "gso_protocol_mismatch";
    case HeaderError::kGsoHdrLenMismatch:
      return "gso_hdr_len_mismatch";
    case HeaderError::kRxGsoNotNegotiated:
      return "rx_gso_not_negotiated";
    case HeaderError::kRxGsoBadMetadata:
      return "rx_gso_bad_metadata";
    case HeaderError::kRxGsoChecksumInvalid:
      return "rx_gso_checksum_invalid";
  }
  return "unknown";
}

std::expected<FrameHeaders, HeaderError> parse_frame_headers(
    std::span<const uint8_t> prefix) noexcept {
  FrameHeaders h;
  if (!fits(prefix, 0, ETHERNET_HEADER_LEN)) return std::unexpected(HeaderError::kFrameTooShort);
  size_t type_at = 12;
  uint16_t ethertype = be16(prefix, type_at);
  for (unsigned tags = 0; tags < kMaxVlanTags; ++tags) {
    if (ethertype != kEtherTypeVlan && ethertype != kEtherTypeQinQ) break;
    type_at += kVlanTagLen;
    if (!fits(prefix, type_at, 2)) return std::unexpected(HeaderError::kFrameTooShort);
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

std::expected<TxMetadata, HeaderError> parse_tx_offloads(const VirtioNetHdr& hdr,
                                                         std::span<const uint8_t> prefix,
                                                         uint32_t frame_len,
                                                         uint64_t features) noexcept {
  const bool needs_csum = (hdr.flags & kHdrFNeedsCsum) != 0;
  const bool gso = hdr.gso_type != kGsoNone;
  // Spec 5.1.6.2 (1): "The driver can send a completely checksummed packet. In this case, flags
  // will be zero, and gso_type will be VIRTIO_NET_HDR_GSO_NONE." Other flag bits (DATA_VALID,
  // RSC_INFO) are ignored: "The device MUST ignore flag bits that it does not recognize."
  // "If VIRTIO_NET_HDR_F_NEEDS_CSUM bit in flags is not set, the device MUST NOT use the
  // csum_start and csum_offset."
  if (!needs_csum && !gso) return TxMetadata{};

  const uint8_t gso_base = hdr.gso_type & static_cast<uint8_t>(~kGsoEcn);
  const bool ecn = (hdr.gso_type & kGsoEcn) != 0;
  if (gso) {
    // "If VIRTIO_NET_F_HOST_TSO4 is negotiated, the driver MAY set gso_type to
    // VIRTIO_NET_HDR_GSO_TCPV4 ... otherwise the driver MUST NOT" (likewise TSO6 and USO/UDP_L4).
    // GSO_UDP (UFO) is never offered, and ECN "indicates that the TCP packet has the ECN bit set",
    // so it is meaningless on UDP_L4 or alone.
    const unsigned needed = gso_feature(gso_base);
    if (needed == kNoFeature || (ecn && gso_base == kGsoUdpL4)) {
      return std::unexpected(HeaderError::kGsoUnknownType);
    }
    if (!has(features, needed)) return std::unexpected(HeaderError::kGsoNotNegotiated);
    // "... unless the VIRTIO_NET_F_HOST_ECN feature is negotiated, in which case the driver MUST
    // set the VIRTIO_NET_HDR_GSO_ECN bit in gso_type."
    if (ecn && !has(features, feature::kHostEcn)) {
      return std::unexpected(HeaderError::kGsoEcnNotNegotiated);
    }
    // "If gso_type differs from VIRTIO_NET_HDR_GSO_NONE, then the driver MUST also set the
    // VIRTIO_NET_HDR_F_NEEDS_CSUM bit in flags and MUST set gso_size to indicate the desired MSS."
    if (!needs_csum) return std::unexpected(HeaderError::kGsoWithoutNeedsCsum);
    if (hdr.gso_size == 0) return std::unexpected(HeaderError::kGsoSizeZero);
    // The MSS decides how many packets one frame becomes: TCP's is at least kMinTcpGsoSize
    // (Linux's TCP_MIN_MSS, net_header.h), whatever the frame's length.
    if (gso_base != kGsoUdpL4 && hdr.gso_size < kMinTcpGsoSize) {
      return std::unexpected(HeaderError::kGsoSizeTooSmall);
    }
  }

  // "If VIRTIO_NET_F_CSUM is not negotiated, the driver MUST set flags to zero."
  if (!has(features, feature::kCsum)) return std::unexpected(HeaderError::kCsumNotNegotiated);
  // "calculating a ones' complement checksum from csum_start up until the end of the packet and
  // storing the result at offset csum_offset from csum_start will result in a fully checksummed
  // packet": the 2-byte field must lie inside the packet.
  if (uint32_t{hdr.csum_start} + hdr.csum_offset + 2 > frame_len) {
    return std::unexpected(HeaderError::kCsumOffsetsPastPacket);
  }

  prefix = prefix.first(std::min<size_t>(prefix.size(), frame_len));
  auto parsed = parse_frame_headers(prefix);
  if (!parsed) return std::unexpected(parsed.error());
  const FrameHeaders& h = *parsed;

  if (gso) {
    if (h.l3 == L3Protocol::Unknown || h.l4 == L4Protocol::Unknown) {
      return std::unexpected(HeaderError::kGsoWithoutHeaders);
    }
    const bool match = gso_base == kGsoTcpv4   ? h.l3 == L3Protocol::Ipv4 && h.l4 == L4Protocol::Tcp
                       : gso_base == kGsoTcpv6 ? h.l3 == L3Protocol::Ipv6 && h.l4 == L4Protocol::Tcp
                                               : h.l4 == L4Protocol::Udp;
    if (!match) return std::unexpected(HeaderError::kGsoProtocolMismatch);
  }

  // The backends offload TCP and UDP checksums only, so csum_start must be the parsed transport
  // header and csum_offset its checksum field (the spec's example: "csum_start will be 14+20 = 34
  // (the TCP checksum includes the header), and csum_offset will be 16"). A checksum anywhere else
  // (an inner header of a tunnel, another protocol) cannot be expressed in TxMetadata.
  if (h.l4 == L4Protocol::Unknown) return std::unexpected(HeaderError::kCsumNotTcpOrUdp);
  const bool tcp = h.l4 == L4Protocol::Tcp;
  if (hdr.csum_start != h.l4_offset || hdr.csum_offset != (tcp ? kTcpCsumOffset : kUdpCsumOffset)) {
    return std::unexpected(HeaderError::kCsumNotTcpOrUdp);
  }

  // "If the VIRTIO_NET_F_GUEST_HDRLEN feature has been negotiated, and gso_type differs from
  // VIRTIO_NET_HDR_GSO_NONE, the driver MUST set hdr_len to a value equal to the length of the
  // headers, including the transport header." Without it hdr_len is a hint: "The device MUST NOT
  // rely on hdr_len to be correct."
  const uint32_t headers_len = uint32_t{h.l4_offset} + h.l4_len;
  if (gso && has(features, feature::kGuestHdrlen) && hdr.hdr_len != headers_len) {
    return std::unexpected(HeaderError::kGsoHdrLenMismatch);
  }
  // UDP: at most kMaxUdpGsoSegments datagrams, Linux's check for GSO_UDP_L4 (net_header.h):
  // "if (skb->len - p_off > gso_size * UDP_MAX_SEGMENTS) return -EINVAL;". The headers were parsed
  // from the first frame_len bytes, so headers_len <= frame_len.
  if (gso && !tcp && frame_len - headers_len > uint32_t{hdr.gso_size} * kMaxUdpGsoSegments) {
    return std::unexpected(HeaderError::kGsoTooManySegments);
  }

  const bool ipv4 = h.l3 == L3Protocol::Ipv4;
  TxFlags flags = TxFlags().with_is_ipv4(ipv4).with_is_ipv6(!ipv4);
  TxMetadata m;
  if (gso) {
    // Every segment gets a fresh IPv4 header (total length, id), hence its header checksum too.
    flags = flags.with_offload_ip_header_checksum(ipv4)
                .with_offload_tcp_segmentation(tcp)
                .with_offload_udp_segmentation(!tcp);
    m.max_segment_size = hdr.gso_size;
  }
  m.flags = flags.with_offload_tcp_checksum(tcp).with_offload_udp_checksum(!tcp);
  m.l2_len = h.l2_len;
  m.l3_len = h.l3_len;
  m.l4_len = h.l4_len;
  m.transport_header_offset = h.l4_offset;
  return m;
}

std::expected<VirtioNetHdr, HeaderError> make_rx_header(const RxMetadata& m, uint64_t features,
                                                        uint16_t num_buffers) noexcept {
  VirtioNetHdr hdr{};
  // "If VIRTIO_NET_F_MRG_RXBUF has been negotiated, the device MUST set num_buffers to indicate
  // the number of buffers the packet (including the header) is spread over."
  hdr.num_buffers = num_buffers;
  // "If VIRTIO_NET_F_GUEST_CSUM is not negotiated, the device MUST set flags to zero and SHOULD
  // supply a fully checksummed packet to the driver."
  const bool guest_csum = has(features, feature::kGuestCsum);
  const bool checksums_valid = is_valid(m.ip_checksum) && is_valid(m.l4_checksum);

  if (m.gso_size > 0) {
    const bool tcp = m.l4_protocol == L4Protocol::Tcp;
    const bool ipv4 = m.l3_protocol == L3Protocol::Ipv4;
    const uint32_t l4_len = m.l4_protocol == L4Protocol::Udp && m.l4_len == 0 ? 8u : m.l4_len;
    const uint32_t l3_min = ipv4 ? IPV4_MIN_HEADER_LEN : IPV6_MIN_HEADER_LEN;
    const uint32_t headers_len = uint32_t{m.l2_len} + m.l3_len + l4_len;
    const bool l4_ok = tcp ? l4_len >= kTcpMinHeaderLen && l4_len <= kTcpMaxHeaderLen
                           : m.l4_protocol == L4Protocol::Udp && l4_len == kUdpHeaderLen;
    if (m.l3_protocol == L3Protocol::Unknown || !l4_ok || m.l2_len < ETHERNET_HEADER_LEN ||
        m.l3_len < l3_min || (ipv4 && m.l3_len > kIpv4MaxHeaderLen) || headers_len > m.len ||
        headers_len > UINT16_MAX) {
      return std::unexpected(HeaderError::kRxGsoBadMetadata);
    }
    if (m.len - headers_len > m.gso_size) {
      // "If VIRTIO_NET_F_GUEST_TSO4 is not negotiated, the device MUST NOT set gso_type to
      // VIRTIO_NET_HDR_GSO_TCPV4" (likewise TSO6, and USO4/USO6 for UDP_L4), and GSO implies
      // NEEDS_CSUM, which needs GUEST_CSUM.
      const unsigned needed = tcp ? (ipv4 ? feature::kGuestTso4 : feature::kGuestTso6)
                                  : (ipv4 ? feature::kGuestUso4 : feature::kGuestUso6);
      if (!guest_csum || !has(features, needed)) {
        return std::unexpected(HeaderError::kRxGsoNotNegotiated);
      }
      // NEEDS_CSUM on receive says "the packet checksum at offset csum_offset from csum_start and
      // any preceding checksums have been validated", so it may only be said of validated frames.
      if (!checksums_valid) return std::unexpected(HeaderError::kRxGsoChecksumInvalid);
      // "If gso_type differs from VIRTIO_NET_HDR_GSO_NONE, then the device MUST also set the
      // VIRTIO_NET_HDR_F_NEEDS_CSUM bit in flags MUST set gso_size to indicate the desired MSS."
      // "... the device SHOULD set hdr_len to a value not less than the length of the headers,
      // including the transport header." GSO_ECN is never set: coalescers do not merge CWR
      // segments, and RxMetadata carries no ECN state.
      hdr.flags = kHdrFNeedsCsum;
      hdr.gso_type = tcp ? (ipv4 ? kGsoTcpv4 : kGsoTcpv6) : kGsoUdpL4;
      hdr.gso_size = m.gso_size;
      hdr.hdr_len = static_cast<uint16_t>(headers_len);
      hdr.csum_start = static_cast<uint16_t>(m.l2_len + m.l3_len);
      hdr.csum_offset = tcp ? kTcpCsumOffset : kUdpCsumOffset;
    }
  }

  // "If the VIRTIO_NET_F_GUEST_CSUM feature has been negotiated, the device MAY set the
  // VIRTIO_NET_HDR_F_DATA_VALID bit in flags, if so, the device MUST validate the packet
  // checksum." ValidatedButWrong (RSC/LRO) is valid: the data was checked, the field is stale.
  hdr.flags |= rx_plain_flags(m, features);
  return hdr;
}

}  // namespace pmdnet::virtio
