// virtio_net_hdr <-> TxMetadata/RxMetadata translation and HeaderError's names; the rules and
// their spec sources are in net_header.h and next to the code below.
#include "core/virtio_net/net_header.h"

#include <algorithm>
#include <bit>

#include "core/base/enum_names.h"
#include "core/net/frame.h"
#include "core/net/segmentation_limits.h"

namespace pmdnet::virtio {

// VERSION_1 headers are little-endian and VirtioNetHdr is read as-is.
static_assert(std::endian::native == std::endian::little);

namespace {

constexpr EnumNameTable<HeaderError, kHeaderErrorCount> kHeaderErrorNames{{
    {HeaderError::kFrameTooShort, "frame_too_short", "frame too short for its headers"},
    {HeaderError::kBadIpv4Header, "bad_ipv4_header", "bad IPv4 header"},
    {HeaderError::kBadIpv6Header, "bad_ipv6_header", "bad IPv6 header"},
    {HeaderError::kBadTcpHeader, "bad_tcp_header", "bad TCP header"},
    {HeaderError::kCsumNotNegotiated, "csum_not_negotiated",
     "NEEDS_CSUM without VIRTIO_NET_F_CSUM"},
    {HeaderError::kCsumOffsetsPastPacket, "csum_offsets_past_packet",
     "csum_start/csum_offset past the packet"},
    {HeaderError::kCsumNotTcpOrUdp, "csum_not_tcp_or_udp",
     "csum_start/csum_offset not a TCP/UDP checksum"},
    {HeaderError::kGsoUnknownType, "gso_unknown_type", "unknown gso_type"},
    {HeaderError::kGsoNotNegotiated, "gso_not_negotiated",
     "gso_type without its HOST_TSO/HOST_USO feature"},
    {HeaderError::kGsoEcnNotNegotiated, "gso_ecn_not_negotiated",
     "GSO_ECN without VIRTIO_NET_F_HOST_ECN"},
    {HeaderError::kGsoWithoutNeedsCsum, "gso_without_needs_csum", "gso_type without NEEDS_CSUM"},
    {HeaderError::kGsoSizeZero, "gso_size_zero", "gso_type with gso_size 0"},
    {HeaderError::kGsoSizeTooSmall, "gso_size_too_small",
     "TCP gso_size below 88 (Linux's TCP_MIN_MSS)"},
    {HeaderError::kGsoTooManySegments, "gso_too_many_segments",
     "UDP gso_size that needs more than 128 segments"},
    {HeaderError::kGsoWithoutHeaders, "gso_without_headers",
     "gso_type on a frame without IP and TCP/UDP headers"},
    {HeaderError::kGsoProtocolMismatch, "gso_protocol_mismatch",
     "gso_type does not match the frame's protocols"},
    {HeaderError::kGsoHdrLenMismatch, "gso_hdr_len_mismatch",
     "hdr_len differs from the headers (GUEST_HDRLEN)"},
    {HeaderError::kRxGsoNotNegotiated, "rx_gso_not_negotiated",
     "coalesced frame for a guest without GUEST_TSO/GUEST_USO"},
    {HeaderError::kRxGsoBadMetadata, "rx_gso_bad_metadata",
     "coalesced frame with bad protocol or header lengths"},
    {HeaderError::kRxGsoChecksumInvalid, "rx_gso_checksum_invalid",
     "coalesced frame with unvalidated checksums"},
}};
static_assert(covers_in_order(kHeaderErrorNames) && has_distinct_keys(kHeaderErrorNames));

// The HeaderError a frame the parser refuses is counted under.
constexpr HeaderError header_error(net::FrameError e) noexcept {
  return net::map_frame_error(e, HeaderError::kFrameTooShort, HeaderError::kBadIpv4Header,
                              HeaderError::kBadIpv6Header, HeaderError::kBadTcpHeader);
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
  return description_of(kHeaderErrorNames, e, "unknown header error");
}

std::string_view to_key(HeaderError e) noexcept { return key_of(kHeaderErrorNames, e, "unknown"); }

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
    // (Linux's TCP_MIN_MSS, core/net/segmentation_limits.h), whatever the frame's length.
    if (gso_base != kGsoUdpL4 && hdr.gso_size < net::kMinTcpGsoSize) {
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
  auto parsed = net::parse_frame_headers(prefix);
  if (!parsed) return std::unexpected(header_error(parsed.error()));
  const net::FrameHeaders& h = *parsed;

  if (gso) {
    if (h.l3 == net::L3Protocol::Unknown || h.l4 == net::L4Protocol::Unknown) {
      return std::unexpected(HeaderError::kGsoWithoutHeaders);
    }
    const bool tcp_frame = h.l4 == net::L4Protocol::Tcp;
    const bool match = gso_base == kGsoTcpv4   ? h.l3 == net::L3Protocol::Ipv4 && tcp_frame
                       : gso_base == kGsoTcpv6 ? h.l3 == net::L3Protocol::Ipv6 && tcp_frame
                                               : h.l4 == net::L4Protocol::Udp;
    if (!match) return std::unexpected(HeaderError::kGsoProtocolMismatch);
  }

  // The backends offload TCP and UDP checksums only, so csum_start must be the parsed transport
  // header and csum_offset its checksum field (the spec's example: "csum_start will be 14+20 = 34
  // (the TCP checksum includes the header), and csum_offset will be 16"). A checksum anywhere else
  // (an inner header of a tunnel, another protocol) cannot be expressed in TxMetadata.
  if (h.l4 == net::L4Protocol::Unknown) return std::unexpected(HeaderError::kCsumNotTcpOrUdp);
  const bool tcp = h.l4 == net::L4Protocol::Tcp;
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
  // UDP: at most kMaxUdpGsoSegments datagrams, Linux's check for GSO_UDP_L4
  // (segmentation_limits.h): "if (skb->len - p_off > gso_size * UDP_MAX_SEGMENTS) return -EINVAL;".
  // The headers were parsed from the first frame_len bytes, so headers_len <= frame_len.
  if (gso && !tcp && frame_len - headers_len > uint32_t{hdr.gso_size} * net::kMaxUdpGsoSegments) {
    return std::unexpected(HeaderError::kGsoTooManySegments);
  }

  const bool ipv4 = h.l3 == net::L3Protocol::Ipv4;
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
    const uint32_t l3_min = ipv4 ? net::kIpv4MinHeaderLen : net::kIpv6HeaderLen;
    const uint32_t headers_len = uint32_t{m.l2_len} + m.l3_len + l4_len;
    const bool l4_ok = tcp ? l4_len >= net::kTcpMinHeaderLen && l4_len <= net::kTcpMaxHeaderLen
                           : m.l4_protocol == L4Protocol::Udp && l4_len == net::kUdpHeaderLen;
    if (m.l3_protocol == L3Protocol::Unknown || !l4_ok || m.l2_len < net::kEthernetHeaderLen ||
        m.l3_len < l3_min || (ipv4 && m.l3_len > net::kIpv4MaxHeaderLen) || headers_len > m.len ||
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
