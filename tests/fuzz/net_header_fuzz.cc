// Fuzz target for core/virtio_net/net_header: arbitrary virtio_net_hdr + features + frame prefix
// through parse_tx_offloads, and arbitrary RxMetadata through make_rx_header. Nothing may crash or
// read past the prefix (each prefix is its own exact-size allocation), and every success must
// satisfy the contracts in net_header.h: offsets inside the frame, consistent flags, features
// honoured.
//
// Input layout: 12-byte VirtioNetHdr, u64 features, u32 frame_len, u8 shape, u8 steer, 24 bytes
// of RxMetadata for make_rx_header, then the frame prefix (up to 256 bytes). `shape` optionally
// patches the prefix into a plausible Ethernet/IP/L4 frame and `steer` optionally aims
// csum_start/csum_offset/gso_type at it, so that random inputs reach the success paths too.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/net/frame.h"
#include "core/net/segmentation_limits.h"
#include "core/virtio_net/net_header.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace pmdnet;
using namespace pmdnet::virtio;

void require(bool ok) {
  if (!ok) std::abort();
}

void put16(std::vector<uint8_t>& p, size_t at, uint16_t v) {
  if (at + 2 > p.size()) return;
  p[at] = static_cast<uint8_t>(v >> 8);
  p[at + 1] = static_cast<uint8_t>(v);
}

// Rewrites a few key fields so the prefix parses further than random bytes usually do.
void shape_prefix(std::vector<uint8_t>& p, uint8_t shape) {
  static constexpr uint16_t kTypes[] = {0x0800, 0x86dd, 0x8100, 0x88a8};
  static constexpr uint8_t kNext[] = {6, 17, 0, 43, 44, 60, 1, 59};
  size_t at = 12;
  const unsigned tags = (shape >> 2) % 3;
  for (unsigned i = 0; i < tags; ++i, at += 4) put16(p, at, i == 0 ? 0x88a8 : 0x8100);
  const bool v6 = (shape & 1) != 0;
  put16(p, at, (shape & 0x80) ? kTypes[(shape >> 4) & 3] : (v6 ? 0x86dd : 0x0800));
  const size_t ip = at + 2;
  if (ip + 40 > p.size()) return;
  if (v6) {
    p[ip] = static_cast<uint8_t>(0x60 | (p[ip] & 0xf));
    p[ip + 6] = kNext[(shape >> 4) & 7];
  } else {
    p[ip] = static_cast<uint8_t>(0x40 | std::max<uint8_t>(p[ip] & 0xf, 5));
    put16(p, ip + 2, 0xffff);                            // total length: sane for any header
    if (shape & 0x40) put16(p, ip + 6, 0);               // not a fragment
    p[ip + 9] = (shape & 2) ? uint8_t{17} : uint8_t{6};  // UDP or TCP
  }
}

void check_tx(const VirtioNetHdr& hdr, std::span<const uint8_t> prefix, uint32_t frame_len,
              uint64_t features) {
  auto r = parse_tx_offloads(hdr, prefix, frame_len, features);
  // Deterministic and pure.
  auto again = parse_tx_offloads(hdr, prefix, frame_len, features);
  require(r.has_value() == again.has_value());
  if (!r) {
    require(r.error() == again.error());
    require(!to_string(r.error()).empty());
    return;
  }
  require(*r == *again);
  const TxMetadata& m = *r;
  const TxFlags f = m.flags;
  // The caller's fields are untouched.
  require(m.id == TxId{} && m.segment_count == 0 && m.len == 0 && !m.vlan.has_value());
  require((f.into_bits() & TxFlags::kReservedMask) == 0);

  const bool plain = (hdr.flags & kHdrFNeedsCsum) == 0 && hdr.gso_type == kGsoNone;
  if (plain) {
    require(m == TxMetadata{});
    return;
  }
  // Every offload request that succeeds is a TCP or UDP checksum, maybe with segmentation.
  require(f.offload_tcp_checksum() != f.offload_udp_checksum());
  require(f.is_ipv4() != f.is_ipv6());
  require(!f.offload_tcp_segmentation() ||
          (f.offload_tcp_checksum() && !f.offload_udp_segmentation()));
  require(!f.offload_udp_segmentation() || f.offload_udp_checksum());
  const bool segmenting = f.offload_tcp_segmentation() || f.offload_udp_segmentation();
  require(segmenting == (hdr.gso_type != kGsoNone));
  require(segmenting == (m.max_segment_size != 0));
  require(!segmenting || m.max_segment_size == hdr.gso_size);
  require(f.offload_ip_header_checksum() == (segmenting && f.is_ipv4()));
  // Features honoured.
  require(has(features, feature::kCsum));
  const uint8_t base = hdr.gso_type & static_cast<uint8_t>(~kGsoEcn);
  if (f.offload_tcp_segmentation()) {
    require(base == (f.is_ipv4() ? kGsoTcpv4 : kGsoTcpv6));
    require(has(features, f.is_ipv4() ? feature::kHostTso4 : feature::kHostTso6));
  }
  if (f.offload_udp_segmentation()) require(base == kGsoUdpL4 && has(features, feature::kHostUso));
  if (hdr.gso_type & kGsoEcn) require(has(features, feature::kHostEcn));
  // Segment counts bounded as Linux bounds them (core/net/segmentation_limits.h).
  if (f.offload_tcp_segmentation()) require(m.max_segment_size >= net::kMinTcpGsoSize);
  // Offsets lie inside the frame and the prefix, and agree with the header and with the parser.
  require(m.l2_len >= ETHERNET_HEADER_LEN);
  require(m.l3_len >= (f.is_ipv4() ? IPV4_MIN_HEADER_LEN : IPV6_MIN_HEADER_LEN));
  require(f.offload_tcp_checksum() || m.l4_len == 8);
  require(!f.offload_tcp_checksum() || (m.l4_len >= 20 && m.l4_len <= 60));
  require(m.transport_header_offset == m.l2_len + m.l3_len);
  require(m.transport_header_offset == hdr.csum_start);
  require(hdr.csum_offset == (f.offload_tcp_checksum() ? 16 : 6));
  const size_t headers_end = size_t{m.transport_header_offset} + m.l4_len;
  require(headers_end <= frame_len && headers_end <= prefix.size());
  require(uint32_t{hdr.csum_start} + hdr.csum_offset + 2 <= frame_len);
  if (segmenting && has(features, feature::kGuestHdrlen)) require(hdr.hdr_len == headers_end);
  if (f.offload_udp_segmentation()) {
    require(frame_len - headers_end <= size_t{m.max_segment_size} * net::kMaxUdpGsoSegments);
  }
  auto parsed = net::parse_frame_headers(prefix.first(std::min<size_t>(prefix.size(), frame_len)));
  require(parsed.has_value());
  require(parsed->l2_len == m.l2_len && parsed->l3_len == m.l3_len && parsed->l4_len == m.l4_len &&
          parsed->l4_offset == m.transport_header_offset);
}

void check_parse(std::span<const uint8_t> prefix) {
  auto h = net::parse_frame_headers(prefix);
  if (!h) return;
  require(h->l2_len == 14 || h->l2_len == 18 || h->l2_len == 22);
  if (h->l3 == net::L3Protocol::Unknown) {
    require(h->l3_len == 0 && h->l4 == net::L4Protocol::Unknown && h->l4_offset == 0);
    return;
  }
  require(h->l4_offset == h->l2_len + h->l3_len);
  require(h->l4 != net::L4Protocol::Unknown || h->l4_len == 0);
  require(h->l4 != net::L4Protocol::Udp || h->l4_len == 8);
  require(h->l4 != net::L4Protocol::Tcp || (h->l4_len >= 20 && h->l4_len <= 60));
  require(size_t{h->l4_offset} + h->l4_len <= prefix.size());
}

// Reads kRxInputBytes of RxMetadata, features and num_buffers, and checks make_rx_header on them.
constexpr size_t kRxInputBytes = 24;
void check_rx(fuzz::FuzzInput& in) {
  RxMetadata m;
  m.len = in.take<uint32_t>() & 0x1ffff;
  m.ip_checksum = static_cast<RxChecksumState>(in.take<uint8_t>() % 4);
  m.l4_checksum = static_cast<RxChecksumState>(in.take<uint8_t>() % 4);
  m.l3_protocol = static_cast<L3Protocol>(in.take<uint8_t>() % 3);
  m.l4_protocol = static_cast<L4Protocol>(in.take<uint8_t>() % 3);
  m.l2_len = in.take<uint8_t>();
  m.l3_len = in.take<uint16_t>();
  m.l4_len = in.take<uint8_t>();
  m.gso_size = in.take<uint16_t>();
  m.gso_size = m.gso_size & 0x8000 ? 0 : m.gso_size;          // often a plain frame
  m.l3_len = m.l3_len & 0x8000 ? m.l3_len : m.l3_len & 0x3f;  // usually a plausible length
  m.len = m.len & 0x10000 ? m.len : m.len + uint32_t{m.l2_len} + m.l3_len + m.l4_len;
  const uint64_t features = in.take<uint64_t>();
  const uint16_t num_buffers = in.take<uint16_t>();
  auto r = make_rx_header(m, features, num_buffers);
  if (!r) {
    require(m.gso_size > 0);
    return;
  }
  const VirtioNetHdr& h = *r;
  require(h.num_buffers == num_buffers);
  if (!has(features, feature::kGuestCsum)) require(h.flags == 0);
  require((h.flags & ~(kHdrFNeedsCsum | kHdrFDataValid)) == 0);
  require(
      ((h.flags & kHdrFDataValid) != 0) ==
      (has(features, feature::kGuestCsum) && is_valid(m.ip_checksum) && is_valid(m.l4_checksum)));
  if (h.gso_type == kGsoNone) {
    require(h.flags == (h.flags & kHdrFDataValid) && h.gso_size == 0 && h.hdr_len == 0 &&
            h.csum_start == 0 && h.csum_offset == 0);
    return;
  }
  const bool ipv4 = m.l3_protocol == L3Protocol::Ipv4;
  switch (h.gso_type) {
    case kGsoTcpv4:
      require(ipv4 && m.l4_protocol == L4Protocol::Tcp && has(features, feature::kGuestTso4));
      break;
    case kGsoTcpv6:
      require(!ipv4 && m.l4_protocol == L4Protocol::Tcp && has(features, feature::kGuestTso6));
      break;
    case kGsoUdpL4:
      require(m.l4_protocol == L4Protocol::Udp &&
              has(features, ipv4 ? feature::kGuestUso4 : feature::kGuestUso6));
      break;
    default:
      require(false);
  }
  require((h.flags & kHdrFNeedsCsum) != 0 && (h.flags & kHdrFDataValid) != 0);
  require(h.gso_size == m.gso_size && h.hdr_len <= m.len && h.hdr_len > h.csum_start);
  require(h.csum_start == m.l2_len + m.l3_len);
  require(h.csum_offset == (m.l4_protocol == L4Protocol::Tcp ? 16 : 6));
  require(m.len - h.hdr_len > m.gso_size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  VirtioNetHdr hdr{};
  hdr.flags = in.take<uint8_t>();
  hdr.gso_type = in.take<uint8_t>();
  hdr.hdr_len = in.take<uint16_t>();
  hdr.gso_size = in.take<uint16_t>();
  hdr.csum_start = in.take<uint16_t>();
  hdr.csum_offset = in.take<uint16_t>();
  hdr.num_buffers = in.take<uint16_t>();
  uint64_t features = in.take<uint64_t>();
  uint32_t frame_len = in.take<uint32_t>();
  const uint8_t shape = in.take<uint8_t>();
  const uint8_t steer = in.take<uint8_t>();
  check_rx(in);
  const size_t used = std::min<size_t>(size, 12 + 8 + 4 + 2 + kRxInputBytes);
  std::vector<uint8_t> prefix(data + used, data + std::min<size_t>(size, used + 256));

  if (shape & 0x20) shape_prefix(prefix, shape);
  // Usually a frame_len that matches the prefix, as the frontend would pass.
  if ((frame_len & 0x3) != 0) frame_len = static_cast<uint32_t>(prefix.size()) + (frame_len >> 18);
  if (steer & 1) {
    // Aim the header at what the frame really holds, with the needed features.
    auto h = net::parse_frame_headers(prefix);
    if (h && h->l4 != net::L4Protocol::Unknown) {
      const bool tcp = h->l4 == net::L4Protocol::Tcp;
      hdr.flags |= kHdrFNeedsCsum;
      hdr.csum_start = h->l4_offset;
      hdr.csum_offset = tcp ? kTcpCsumOffset : kUdpCsumOffset;
      if (steer & 2) {
        hdr.gso_type = !tcp ? kGsoUdpL4 : h->l3 == net::L3Protocol::Ipv4 ? kGsoTcpv4 : kGsoTcpv6;
        if (tcp && (steer & 4)) hdr.gso_type |= kGsoEcn;
      }
      if (steer & 8) hdr.hdr_len = static_cast<uint16_t>(h->l4_offset + h->l4_len);
      if (steer & 16) {
        features |= bit(feature::kCsum) | bit(feature::kHostTso4) | bit(feature::kHostTso6) |
                    bit(feature::kHostUso) | bit(feature::kHostEcn);
      }
    }
  }

  check_parse(prefix);
  check_tx(hdr, prefix, frame_len, features);
  return 0;
}
