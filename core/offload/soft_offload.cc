// Software TX offloads: validation of TxMetadata against the frame, checksum filling, TSO/USO
// segmentation and 802.1Q tag insertion (see soft_offload.h for the contract).
#include "core/offload/soft_offload.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>

#include "core/base/enum_names.h"
#include "core/net/frame.h"
#include "core/net/segmentation_limits.h"
#include "core/offload/checksum.h"

namespace pmdnet::offload {

namespace {

using net::kEthernetHeaderLen;
using net::kIpProtoFragment;
using net::kIpProtoRouting;
using net::kIpProtoTcp;
using net::kIpProtoUdp;
using net::kIpv6HeaderLen;
using net::kMacAddressesLen;
constexpr uint16_t kTpidVlan = net::kEtherTypeVlan;

// Field offsets inside their headers.
constexpr size_t kIpv4TotalLength = 2;
constexpr size_t kIpv4Id = 4;
constexpr size_t kIpv4Checksum = 10;
constexpr size_t kIpv4Src = 12;
constexpr size_t kIpv4Dst = 16;
constexpr size_t kIpv6PayloadLength = 4;
constexpr size_t kIpv6NextHeader = 6;
constexpr size_t kIpv6Src = 8;
constexpr size_t kIpv6Dst = 24;
constexpr size_t kTcpSeq = 4;
constexpr size_t kTcpFlags = 13;
constexpr size_t kTcpChecksum = 16;
constexpr size_t kUdpLength = 4;
constexpr size_t kUdpChecksum = 6;

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;

std::unexpected<OffloadError> fail(OffloadError e) noexcept { return std::unexpected(e); }

// A frame validated against its metadata: where its headers are and what they hold.
struct Layout {
  bool offload = false;  // false: no offload flag set, nothing else is filled in
  bool ipv4 = false;
  bool tcp = false;  // the L4 header the flags act on, if any
  bool udp = false;
  size_t l3_offset = 0;
  size_t l3_len = 0;
  size_t l4_offset = 0;
  size_t l4_len = 0;      // parsed: TCP data offset * 4, or 8
  size_t src_offset = 0;  // the pseudo-header's addresses (IPv4: 4 bytes, IPv6: 16)
  size_t dst_offset = 0;
};

constexpr EnumNameTable<OffloadError, kOffloadErrorCount> kOffloadErrorNames{{
    {OffloadError::kBothIpVersions, "both_ip_versions", "both is_ipv4 and is_ipv6"},
    {OffloadError::kNoIpVersion, "no_ip_version", "offload without is_ipv4 or is_ipv6"},
    {OffloadError::kBothL4Checksums, "both_l4_checksums", "both TCP and UDP checksum offload"},
    {OffloadError::kBothSegmentations, "both_segmentations", "both TSO and USO"},
    {OffloadError::kNotSegmentation, "not_segmentation", "segmentation without TSO or USO"},
    {OffloadError::kMaxSegmentSizeZero, "max_segment_size_zero", "TSO/USO with max_segment_size 0"},
    {OffloadError::kSegmentSizeTooSmall, "segment_size_too_small",
     "TSO with max_segment_size below 88"},
    {OffloadError::kTooManySegments, "too_many_segments", "USO into more than 128 datagrams"},
    {OffloadError::kMetadataPastEnd, "metadata_past_end",
     "header lengths past the end of the frame"},
    {OffloadError::kFrameTooShort, "frame_too_short", "frame too short for its headers"},
    {OffloadError::kBadIpv4Header, "bad_ipv4_header", "bad IPv4 header"},
    {OffloadError::kBadIpv6Header, "bad_ipv6_header", "bad IPv6 header"},
    {OffloadError::kBadTcpHeader, "bad_tcp_header", "bad TCP header"},
    {OffloadError::kIpVersionMismatch, "ip_version_mismatch",
     "is_ipv4/is_ipv6 does not match the frame"},
    {OffloadError::kIpChecksumNotIpv4, "ip_checksum_not_ipv4",
     "IP header checksum offload on a non-IPv4 frame"},
    {OffloadError::kNotTcp, "not_tcp", "TCP offload on a frame without a TCP header"},
    {OffloadError::kNotUdp, "not_udp", "UDP offload on a frame without a UDP header"},
    {OffloadError::kHeaderLengthMismatch, "header_length_mismatch",
     "header lengths do not match the frame"},
    {OffloadError::kIpLengthMismatch, "ip_length_mismatch", "IP length does not match the frame"},
    {OffloadError::kUdpLengthMismatch, "udp_length_mismatch",
     "UDP length does not match the IP length"},
    {OffloadError::kHeadersTooLong, "headers_too_long", "headers too long to segment"},
    {OffloadError::kSegmentTooLarge, "segment_too_large",
     "segment too large for its length fields"},
    {OffloadError::kUnsupportedRoutingHeader, "unsupported_routing_header",
     "IPv6 routing header with an unknown final destination"},
    {OffloadError::kOutputTooSmall, "output_too_small", "output buffer too small"},
    {OffloadError::kSinkStopped, "sink_stopped", "segment sink stopped"},
}};
static_assert(covers_in_order(kOffloadErrorNames) && has_distinct_keys(kOffloadErrorNames));

// The OffloadError a frame the parser refuses is counted under.
constexpr OffloadError offload_error(net::FrameError e) noexcept {
  return net::map_frame_error(e, OffloadError::kFrameTooShort, OffloadError::kBadIpv4Header,
                              OffloadError::kBadIpv6Header, OffloadError::kBadTcpHeader);
}

// The offset of the IPv6 pseudo-header's destination: RFC 8200 8.1, "If the IPv6 packet contains
// a Routing header, the Destination Address used in the pseudo-header is that of the final
// destination." The extension headers were bounds-checked by parse_frame_headers (they lie inside
// l3_len); this only walks them to find a Routing header that still has segments to visit.
std::expected<size_t, OffloadError> ipv6_final_destination(std::span<const uint8_t> frame,
                                                           const Layout& l) noexcept {
  const size_t end = l.l3_offset + l.l3_len;
  uint8_t next = frame[l.l3_offset + kIpv6NextHeader];
  size_t at = l.l3_offset + kIpv6HeaderLen;
  while (at + 8 <= end) {
    const size_t len = next == kIpProtoFragment ? 8 : (size_t{frame[at + 1]} + 1) * 8;
    if (next == kIpProtoRouting && frame[at + 3] != 0) {  // Segments Left
      const uint8_t type = frame[at + 2];
      const size_t ext_len = frame[at + 1];  // in 8-byte units, not counting the first 8 bytes
      // Types 0 (deprecated, RFC 5095) and 2 (Mobile IPv6, RFC 6275) list addresses after 8
      // bytes; the final destination is the last. Type 4 (SRv6, RFC 8754 2): "Segment List[0]
      // ... the last segment of the path", right after the 8 fixed bytes.
      if ((type == 0 || type == 2) && ext_len >= 2) return at + 8 + 16 * (ext_len / 2 - 1);
      if (type == 4 && ext_len >= 2) return at + 8;
      return fail(OffloadError::kUnsupportedRoutingHeader);
    }
    next = frame[at];
    at += len;
  }
  return l.l3_offset + kIpv6Dst;
}

// Checks `m` against `frame` (contract point 1).
std::expected<Layout, OffloadError> validate(std::span<const uint8_t> frame,
                                             const TxMetadata& m) noexcept {
  const TxFlags f = m.flags;
  if (f.is_ipv4() && f.is_ipv6()) return fail(OffloadError::kBothIpVersions);
  const bool want_tcp = f.offload_tcp_checksum() || f.offload_tcp_segmentation();
  const bool want_udp = f.offload_udp_checksum() || f.offload_udp_segmentation();
  Layout l;
  if (!want_tcp && !want_udp && !f.offload_ip_header_checksum()) return l;
  l.offload = true;
  if (!f.is_ipv4() && !f.is_ipv6()) return fail(OffloadError::kNoIpVersion);
  if (f.offload_tcp_checksum() && f.offload_udp_checksum()) {
    return fail(OffloadError::kBothL4Checksums);
  }
  if (f.offload_tcp_segmentation() && f.offload_udp_segmentation()) {
    return fail(OffloadError::kBothSegmentations);
  }
  if (size_t{m.l2_len} + m.l3_len + m.l4_len > frame.size() ||
      m.transport_header_offset > frame.size()) {
    return fail(OffloadError::kMetadataPastEnd);
  }

  auto parsed = net::parse_frame_headers(frame);
  if (!parsed) return fail(offload_error(parsed.error()));
  const net::FrameHeaders& h = *parsed;
  if (h.l3 != (f.is_ipv4() ? net::L3Protocol::Ipv4 : net::L3Protocol::Ipv6)) {
    return fail(OffloadError::kIpVersionMismatch);
  }
  l.ipv4 = f.is_ipv4();
  if (f.offload_ip_header_checksum() && !l.ipv4) return fail(OffloadError::kIpChecksumNotIpv4);
  if (want_tcp && h.l4 != net::L4Protocol::Tcp) return fail(OffloadError::kNotTcp);
  if (want_udp && h.l4 != net::L4Protocol::Udp) return fail(OffloadError::kNotUdp);

  // The metadata must describe these headers. l4_len is required with TSO only (TxFlags), and
  // transport_header_offset is optional (0), as frontends other than virtio may leave them unset.
  const bool l4_len_ok =
      f.offload_tcp_segmentation()
          ? m.l4_len == h.l4_len
          : m.l4_len == 0 || (h.l4 != net::L4Protocol::Unknown && m.l4_len == h.l4_len);
  if (m.l2_len != h.l2_len || m.l3_len != h.l3_len || !l4_len_ok ||
      (m.transport_header_offset != 0 && m.transport_header_offset != h.l4_offset)) {
    return fail(OffloadError::kHeaderLengthMismatch);
  }

  l.tcp = want_tcp;
  l.udp = want_udp;
  l.l3_offset = h.l2_len;
  l.l3_len = h.l3_len;
  l.l4_offset = h.l4_offset;
  l.l4_len = h.l4_len;
  if (l.ipv4) {
    l.src_offset = l.l3_offset + kIpv4Src;
    l.dst_offset = l.l3_offset + kIpv4Dst;
  } else if (l.tcp || l.udp) {
    l.src_offset = l.l3_offset + kIpv6Src;
    auto dst = ipv6_final_destination(frame, l);
    if (!dst) return fail(dst.error());
    l.dst_offset = *dst;
  }
  return l;
}

// The pseudo-header sum for an L4 length of `l4_len` bytes.
uint16_t pseudo_header_sum(std::span<const uint8_t> frame, const Layout& l,
                           uint32_t l4_len) noexcept {
  const uint8_t proto = l.tcp ? kIpProtoTcp : kIpProtoUdp;
  if (l.ipv4) {
    return ipv4_pseudo_header_sum(frame.subspan(l.src_offset).first<4>(),
                                  frame.subspan(l.dst_offset).first<4>(), proto,
                                  static_cast<uint16_t>(l4_len));
  }
  return ipv6_pseudo_header_sum(frame.subspan(l.src_offset).first<16>(),
                                frame.subspan(l.dst_offset).first<16>(), proto, l4_len);
}

// What segment() will do, once validated.
struct Plan {
  Layout layout;
  size_t headers_len = 0;  // l2 + l3 + l4, as in the input frame
  size_t payload_len = 0;
  size_t mss = 0;
  uint32_t count = 0;
};

std::expected<Plan, OffloadError> plan_segments(std::span<const uint8_t> frame,
                                                const TxMetadata& m) noexcept {
  const TxFlags f = m.flags;
  if (f.is_ipv4() && f.is_ipv6()) return fail(OffloadError::kBothIpVersions);
  if (!f.offload_tcp_segmentation() && !f.offload_udp_segmentation()) {
    return fail(OffloadError::kNotSegmentation);
  }
  if (f.offload_tcp_segmentation() && f.offload_udp_segmentation()) {
    return fail(OffloadError::kBothSegmentations);
  }
  if (m.max_segment_size == 0) return fail(OffloadError::kMaxSegmentSizeZero);
  auto layout = validate(frame, m);
  if (!layout) return fail(layout.error());

  Plan p;
  p.layout = *layout;
  const Layout& l = p.layout;
  p.headers_len = l.l4_offset + l.l4_len;
  if (p.headers_len > kMaxHeaderLen) return fail(OffloadError::kHeadersTooLong);
  p.payload_len = frame.size() - p.headers_len;
  p.mss = m.max_segment_size;
  // The largest segment's IPv4 total length, or IPv6 payload length (which also bounds the UDP
  // length), must fit in its 16-bit field.
  const size_t largest = std::min(p.mss, p.payload_len);
  const size_t ip_len = (l.ipv4 ? l.l3_len : l.l3_len - kIpv6HeaderLen) + l.l4_len + largest;
  if (ip_len > UINT16_MAX) return fail(OffloadError::kSegmentTooLarge);
  // The bounds of net/segmentation_limits.h (Linux's TCP_MIN_MSS and UDP_MAX_SEGMENTS), which the
  // guest-TX translation applies too, checked again for metadata from anywhere else: a tiny MSS
  // would make every byte of a 64 KB frame its own packet.
  const bool tso = f.offload_tcp_segmentation();
  if (tso && p.mss < net::kMinTcpGsoSize) return fail(OffloadError::kSegmentSizeTooSmall);
  const size_t count = p.payload_len == 0 ? 1 : (p.payload_len + p.mss - 1) / p.mss;
  if (!tso && count > net::kMaxUdpGsoSegments) return fail(OffloadError::kTooManySegments);
  if (count > UINT32_MAX) return fail(OffloadError::kSegmentTooLarge);
  p.count = static_cast<uint32_t>(count);
  return p;
}

}  // namespace

std::string_view to_string(OffloadError e) noexcept {
  return description_of(kOffloadErrorNames, e, "unknown offload error");
}

std::string_view to_key(OffloadError e) noexcept {
  return key_of(kOffloadErrorNames, e, "unknown");
}

std::expected<void, OffloadError> apply_checksums(std::span<uint8_t> frame,
                                                  const TxMetadata& m) noexcept {
  auto layout = validate(frame, m);
  if (!layout) return fail(layout.error());
  const Layout& l = *layout;
  if (!l.offload) return {};

  // TSO/USO alone (without the checksum flag) only had its protocol checked.
  if (m.flags.offload_tcp_checksum() || m.flags.offload_udp_checksum()) {
    // The datagram ends where the IP header says (anything after it is Ethernet padding).
    const uint8_t* ip = frame.data() + l.l3_offset;
    size_t ip_end;
    if (l.ipv4) {
      ip_end = l.l3_offset + load_be16(ip + kIpv4TotalLength);  // >= IHL + l4_len (parser)
    } else {
      const size_t payload = load_be16(ip + kIpv6PayloadLength);
      if (payload < l.l3_len - kIpv6HeaderLen + l.l4_len) {
        return fail(OffloadError::kIpLengthMismatch);
      }
      ip_end = l.l3_offset + kIpv6HeaderLen + payload;
    }
    if (ip_end > frame.size()) return fail(OffloadError::kIpLengthMismatch);
    const size_t l4_total = ip_end - l.l4_offset;
    uint8_t* l4 = frame.data() + l.l4_offset;
    // RFC 768: the pseudo-header holds "the UDP length" (the header's), which must then be the
    // datagram's length for a receiver to agree.
    if (l.udp && load_be16(l4 + kUdpLength) != l4_total) {
      return fail(OffloadError::kUdpLengthMismatch);
    }
    const size_t field = l.tcp ? kTcpChecksum : kUdpChecksum;
    store_be16(l4 + field, 0);
    const uint16_t pseudo = pseudo_header_sum(frame, l, static_cast<uint32_t>(l4_total));
    const uint16_t sum = ones_sum(frame.subspan(l.l4_offset, l4_total));
    store_be16(l4 + field, l.tcp ? tcp_checksum(pseudo, sum) : udp_checksum(pseudo, sum));
  }
  if (m.flags.offload_ip_header_checksum()) {
    std::span<uint8_t> ip = frame.subspan(l.l3_offset, l.l3_len);
    store_be16(ip.data() + kIpv4Checksum, ipv4_header_checksum(ip));
  }
  return {};
}

std::expected<uint32_t, OffloadError> count_segments(std::span<const uint8_t> frame,
                                                     const TxMetadata& m) noexcept {
  auto plan = plan_segments(frame, m);
  if (!plan) return fail(plan.error());
  return plan->count;
}

std::expected<uint32_t, OffloadError> segment(std::span<const uint8_t> frame, const TxMetadata& m,
                                              SegmentSink& out,
                                              const SegmentOptions& options) noexcept {
  auto planned = plan_segments(frame, m);
  if (!planned) return fail(planned.error());
  const Plan& p = *planned;
  const Layout& l = p.layout;

  // The header template: the input's headers, with the VLAN tag spliced in if asked for.
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): only the bytes copied in below are read
  std::array<uint8_t, kMaxHeaderLen + kVlanTagLen> scratch;
  const bool tag = options.insert_vlan && m.vlan.has_value();
  const size_t shift = tag ? kVlanTagLen : 0;
  if (tag) {
    std::memcpy(scratch.data(), frame.data(), kMacAddressesLen);
    store_be16(scratch.data() + kMacAddressesLen, kTpidVlan);
    store_be16(scratch.data() + kMacAddressesLen + 2, m.vlan->to_tci());
    std::memcpy(scratch.data() + kMacAddressesLen + kVlanTagLen, frame.data() + kMacAddressesLen,
                p.headers_len - kMacAddressesLen);
  } else {
    std::memcpy(scratch.data(), frame.data(), p.headers_len);
  }
  const std::span<const uint8_t> headers(scratch.data(), p.headers_len + shift);
  uint8_t* const ip = scratch.data() + l.l3_offset + shift;
  uint8_t* const l4 = scratch.data() + l.l4_offset + shift;

  // What changes per segment starts from the input's values.
  const uint16_t ip_id = l.ipv4 ? load_be16(ip + kIpv4Id) : 0;
  const uint32_t seq = l.tcp ? load_be32(l4 + kTcpSeq) : 0;
  const uint8_t tcp_flags = l.tcp ? l4[kTcpFlags] : 0;
  const size_t ip_fixed = l.ipv4 ? l.l3_len : l.l3_len - kIpv6HeaderLen;
  // The pseudo-header without its length, which ones_add supplies per segment (the length is a
  // single 16-bit word: plan_segments bounds it).
  const uint16_t pseudo_base = pseudo_header_sum(frame, l, 0);
  const std::span<const uint8_t> l4_header(l4, l.l4_len);

  for (uint32_t i = 0; i < p.count; ++i) {
    const size_t offset = size_t{i} * p.mss;
    const size_t len = std::min(p.mss, p.payload_len - offset);
    const bool first = i == 0;
    const bool last = i + 1 == p.count;
    const uint16_t l4_len = static_cast<uint16_t>(l.l4_len + len);

    if (l.ipv4) {
      store_be16(ip + kIpv4TotalLength, static_cast<uint16_t>(ip_fixed + l4_len));
      // Every segment is its own datagram and needs its own id (RFC 6864 4.1 leaves atomic
      // datagrams' ids free, but receivers and middleboxes expect what Linux and NICs do).
      store_be16(ip + kIpv4Id, static_cast<uint16_t>(ip_id + i));
      store_be16(ip + kIpv4Checksum, 0);
      if (options.compute_ip_checksum) {
        store_be16(ip + kIpv4Checksum, ipv4_header_checksum({ip, l.l3_len}));
      }
    } else {
      store_be16(ip + kIpv6PayloadLength, static_cast<uint16_t>(ip_fixed + l4_len));
    }

    size_t field;
    if (l.tcp) {
      // The sequence number is that of the segment's first data byte (RFC 9293 3.4), mod 2^32.
      store_be32(l4 + kTcpSeq, static_cast<uint32_t>(seq + offset));
      uint8_t flags = tcp_flags;
      // FIN and PSH belong to the end of the data, so only the last segment keeps them.
      if (!last) flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
      // RFC 3168 6.1.2: after reducing its window the sender sets CWR "only on the first new
      // data packet"; TSO replicates headers, so the others must have it cleared (as Linux's
      // tcp_gso_segment and NICs do).
      if (!first) flags &= static_cast<uint8_t>(~kTcpCwr);
      l4[kTcpFlags] = flags;
      field = kTcpChecksum;
    } else {
      // Each datagram is a whole UDP datagram: its own length and checksum, not an IP fragment.
      store_be16(l4 + kUdpLength, l4_len);
      field = kUdpChecksum;
    }
    const std::span<const uint8_t> payload = frame.subspan(p.headers_len + offset, len);
    const uint16_t pseudo = ones_add(pseudo_base, l4_len);
    if (options.compute_l4_checksum) {
      store_be16(l4 + field, 0);
      const uint16_t sum = ones_sum(payload, ones_sum(l4_header));
      store_be16(l4 + field, l.tcp ? tcp_checksum(pseudo, sum) : udp_checksum(pseudo, sum));
    } else {
      store_be16(l4 + field, pseudo);
    }

    if (!out.on_segment(Segment{headers, payload, i, last})) {
      return fail(OffloadError::kSinkStopped);
    }
  }
  return p.count;
}

std::expected<size_t, OffloadError> copy_segment(const Segment& s,
                                                 std::span<uint8_t> out) noexcept {
  if (out.size() < s.size()) return fail(OffloadError::kOutputTooSmall);
  std::memcpy(out.data(), s.headers.data(), s.headers.size());
  if (!s.payload.empty()) {
    std::memcpy(out.data() + s.headers.size(), s.payload.data(), s.payload.size());
  }
  return s.size();
}

std::expected<size_t, OffloadError> insert_vlan(std::span<const uint8_t> in, std::span<uint8_t> out,
                                                VlanMetadata vlan) noexcept {
  if (in.size() < kEthernetHeaderLen) return fail(OffloadError::kFrameTooShort);
  if (out.size() < in.size() || out.size() - in.size() < kVlanTagLen) {
    return fail(OffloadError::kOutputTooSmall);
  }
  // IEEE 802.1Q 9.3: the tag (TPID 0x8100, then PCP 3 bits | DEI 1 bit | VID 12 bits) goes
  // between the source MAC address and the original EtherType. Copy order makes overlapping
  // buffers work: when out starts before in, the MAC addresses move first (towards the front);
  // otherwise the rest of the frame moves first (towards the back).
  const size_t rest = in.size() - kMacAddressesLen;
  uint8_t* const o = out.data();
  const uint8_t* const i = in.data();
  if (std::less<const uint8_t*>()(o, i)) {
    std::memmove(o, i, kMacAddressesLen);
    std::memmove(o + kMacAddressesLen + kVlanTagLen, i + kMacAddressesLen, rest);
  } else {
    std::memmove(o + kMacAddressesLen + kVlanTagLen, i + kMacAddressesLen, rest);
    std::memmove(o, i, kMacAddressesLen);
  }
  store_be16(o + kMacAddressesLen, kTpidVlan);
  store_be16(o + kMacAddressesLen + 2, vlan.to_tci());
  return in.size() + kVlanTagLen;
}

}  // namespace pmdnet::offload
