// Test helpers for core/offload: a builder of Ethernet/VLAN/IPv4/IPv6/TCP/UDP frames with their
// TxMetadata, and naive checksum verifiers written independently of the library (byte-at-a-time
// sums over an explicitly assembled pseudo-header), shared by the unit tests, the fuzz target and
// the benchmarks. Allocates freely; never on a fast path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/net_backend/packet.h"

namespace pmdnet::offload::testing {

// RFC 1071 4.1, one big-endian word at a time, folding as it goes.
inline uint16_t naive_sum(std::span<const uint8_t> d) {
  uint32_t s = 0;
  for (size_t i = 0; i < d.size(); i += 2) {
    s += uint32_t{d[i]} << 8;
    if (i + 1 < d.size()) s += d[i + 1];
    while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
  }
  return static_cast<uint16_t>(s);
}

inline uint16_t get16(std::span<const uint8_t> p, size_t at) {
  return static_cast<uint16_t>((p[at] << 8) | p[at + 1]);
}
inline uint32_t get32(std::span<const uint8_t> p, size_t at) {
  return (uint32_t{get16(p, at)} << 16) | get16(p, at + 2);
}
inline void put16(std::span<uint8_t> p, size_t at, uint16_t v) {
  p[at] = static_cast<uint8_t>(v >> 8);
  p[at + 1] = static_cast<uint8_t>(v);
}
inline void put32(std::span<uint8_t> p, size_t at, uint32_t v) {
  put16(p, at, static_cast<uint16_t>(v >> 16));
  put16(p, at + 2, static_cast<uint16_t>(v));
}

// The checksum the IPv4 header at `l3` (ihl bytes) should carry.
inline uint16_t naive_ipv4_header_checksum(std::span<const uint8_t> frame, size_t l3, size_t ihl) {
  std::vector<uint8_t> h(frame.begin() + l3, frame.begin() + l3 + ihl);
  h[10] = h[11] = 0;
  return static_cast<uint16_t>(~naive_sum(h));
}

// Where a transport header lives and what its pseudo-header is made of.
struct L4Place {
  bool ipv4 = true;
  bool tcp = true;
  size_t l3 = 14;     // IP header offset
  size_t l4 = 34;     // TCP/UDP header offset
  size_t l4_len = 0;  // transport header + data
  size_t dst = 0;     // the pseudo-header's destination address offset; 0: the IP header's
};

// The checksum the TCP/UDP header should carry: pseudo-header + header (field zeroed) + data.
inline uint16_t naive_l4_checksum(std::span<const uint8_t> frame, const L4Place& p) {
  std::vector<uint8_t> b;
  const size_t src = p.l3 + (p.ipv4 ? 12 : 8);
  const size_t alen = p.ipv4 ? 4 : 16;
  const size_t dst = p.dst != 0 ? p.dst : p.l3 + (p.ipv4 ? 16 : 24);
  b.insert(b.end(), frame.begin() + src, frame.begin() + src + alen);
  b.insert(b.end(), frame.begin() + dst, frame.begin() + dst + alen);
  const uint8_t proto = p.tcp ? 6 : 17;
  if (p.ipv4) {
    b.insert(b.end(),
             {0, proto, static_cast<uint8_t>(p.l4_len >> 8), static_cast<uint8_t>(p.l4_len)});
  } else {
    b.insert(b.end(),
             {static_cast<uint8_t>(p.l4_len >> 24), static_cast<uint8_t>(p.l4_len >> 16),
              static_cast<uint8_t>(p.l4_len >> 8), static_cast<uint8_t>(p.l4_len), 0, 0, 0, proto});
  }
  const size_t start = b.size();
  b.insert(b.end(), frame.begin() + p.l4, frame.begin() + p.l4 + p.l4_len);
  const size_t field = start + (p.tcp ? 16 : 6);
  b[field] = b[field + 1] = 0;
  uint16_t c = static_cast<uint16_t>(~naive_sum(b));
  if (!p.tcp && c == 0) c = 0xffff;
  return c;
}

// A frame to build. Lengths in bytes.
struct FrameSpec {
  bool ipv6 = false;
  bool udp = false;
  unsigned vlan_tags = 0;   // 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q)
  size_t ipv4_options = 0;  // multiple of 4, at most 40
  // IPv6 extension headers, in order: {type, bytes}. The builder writes each one's next-header
  // byte; the caller fills the rest (hdr ext len included).
  std::vector<std::pair<uint8_t, std::vector<uint8_t>>> ipv6_ext;
  size_t tcp_options = 12;  // multiple of 4, at most 40 (12: a timestamp option)
  size_t payload = 0;
  uint8_t tcp_flags = 0x10;  // ACK
  uint32_t seq = 0x12345678;
  uint16_t ip_id = 0x1000;
  uint8_t payload_seed = 1;
};

struct BuiltFrame {
  std::vector<uint8_t> bytes;
  TxMetadata meta;  // is_ipv4/is_ipv6 and the lengths; the caller adds the offload flags
  size_t l3 = 0;
  size_t l4 = 0;
  size_t headers = 0;  // where the payload starts
  L4Place place() const {
    return L4Place{.ipv4 = meta.flags.is_ipv4(),
                   .tcp = meta.l4_len != 8,
                   .l3 = l3,
                   .l4 = l4,
                   .l4_len = bytes.size() - l4};
  }
};

// Payload bytes: a deterministic, non-repeating-looking pattern.
inline uint8_t payload_byte(size_t i, uint8_t seed) {
  return static_cast<uint8_t>((i * 131 + (i >> 8) * 7 + size_t{seed} * 29) ^ (i >> 3));
}

inline BuiltFrame build_frame(const FrameSpec& s) {
  BuiltFrame f;
  auto& b = f.bytes;
  // Ethernet: dst 02:00:00:00:00:01, src 02:00:00:00:00:02.
  b = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
  for (unsigned t = 0; t < s.vlan_tags; ++t) {
    const bool outer = s.vlan_tags == 2 && t == 0;
    b.insert(b.end(),
             {static_cast<uint8_t>(outer ? 0x88 : 0x81), static_cast<uint8_t>(outer ? 0xa8 : 0x00),
              0x20, static_cast<uint8_t>(10 + t)});
  }
  b.insert(b.end(), {static_cast<uint8_t>(s.ipv6 ? 0x86 : 0x08),
                     static_cast<uint8_t>(s.ipv6 ? 0xdd : 0x00)});
  f.l3 = b.size();
  const uint8_t proto = s.udp ? 17 : 6;
  const size_t l4_hdr = s.udp ? 8 : 20 + s.tcp_options;
  size_t ext_len = 0;
  for (auto& e : s.ipv6_ext) ext_len += e.second.size();
  const size_t l3_len = s.ipv6 ? 40 + ext_len : 20 + s.ipv4_options;
  const size_t l4_total = l4_hdr + s.payload;
  if (!s.ipv6) {
    const size_t total = l3_len + l4_total;
    b.insert(b.end(), {static_cast<uint8_t>(0x40 | (l3_len / 4)),
                       0x00,
                       static_cast<uint8_t>(total >> 8),
                       static_cast<uint8_t>(total),
                       static_cast<uint8_t>(s.ip_id >> 8),
                       static_cast<uint8_t>(s.ip_id),
                       0x40,
                       0x00,
                       64,
                       proto,
                       0,
                       0,
                       192,
                       168,
                       1,
                       2,
                       10,
                       20,
                       30,
                       40});
    for (size_t i = 0; i < s.ipv4_options; ++i)
      b.push_back(i + 1 == s.ipv4_options ? 0 : 1);  // NOPs, EOL
  } else {
    const size_t plen = ext_len + l4_total;
    const uint8_t first_next = s.ipv6_ext.empty() ? proto : s.ipv6_ext[0].first;
    b.insert(b.end(), {0x60, 0x01, 0x23, 0x45, static_cast<uint8_t>(plen >> 8),
                       static_cast<uint8_t>(plen), first_next, 64});
    for (int i = 0; i < 16; ++i) b.push_back(static_cast<uint8_t>(0x20 + i));  // src
    for (int i = 0; i < 16; ++i) b.push_back(static_cast<uint8_t>(0xf0 - i));  // dst
    for (size_t k = 0; k < s.ipv6_ext.size(); ++k) {
      const size_t at = b.size();
      b.insert(b.end(), s.ipv6_ext[k].second.begin(), s.ipv6_ext[k].second.end());
      b[at] = k + 1 < s.ipv6_ext.size() ? s.ipv6_ext[k + 1].first : proto;
    }
  }
  f.l4 = b.size();
  if (s.udp) {
    b.insert(b.end(), {0x30, 0x39, 0x00, 0x35, static_cast<uint8_t>(l4_total >> 8),
                       static_cast<uint8_t>(l4_total), 0xde, 0xad});
  } else {
    b.insert(b.end(), {0x30,
                       0x39,
                       0x01,
                       0xbb,
                       static_cast<uint8_t>(s.seq >> 24),
                       static_cast<uint8_t>(s.seq >> 16),
                       static_cast<uint8_t>(s.seq >> 8),
                       static_cast<uint8_t>(s.seq),
                       0xa0,
                       0xb0,
                       0xc0,
                       0xd0,
                       static_cast<uint8_t>((l4_hdr / 4) << 4),
                       s.tcp_flags,
                       0xff,
                       0xff,
                       0xbe,
                       0xef,
                       0,
                       0});
    for (size_t i = 0; i < s.tcp_options; ++i)
      b.push_back(static_cast<uint8_t>(i < 2 ? 1 : 0x80 + i));
    if (s.tcp_options >= 12) {  // NOP NOP TS(8, 10, tsval, tsecr)
      b[f.l4 + 22] = 8;
      b[f.l4 + 23] = 10;
    }
  }
  f.headers = b.size();
  for (size_t i = 0; i < s.payload; ++i) b.push_back(payload_byte(i, s.payload_seed));
  f.meta.flags = TxFlags().with_is_ipv4(!s.ipv6).with_is_ipv6(s.ipv6);
  f.meta.len = static_cast<uint32_t>(b.size());
  f.meta.l2_len = static_cast<uint8_t>(f.l3);
  f.meta.l3_len = static_cast<uint16_t>(l3_len);
  f.meta.l4_len = static_cast<uint8_t>(l4_hdr);
  f.meta.transport_header_offset = static_cast<uint16_t>(f.l4);
  return f;
}

// The flags for each offload, on top of a built frame's is_ipv4/is_ipv6.
inline TxMetadata with_checksums(TxMetadata m) {
  const bool tcp = m.l4_len != 8;
  m.flags = m.flags.with_offload_ip_header_checksum(m.flags.is_ipv4())
                .with_offload_tcp_checksum(tcp)
                .with_offload_udp_checksum(!tcp);
  return m;
}
inline TxMetadata with_segmentation(TxMetadata m, uint16_t mss) {
  const bool tcp = m.l4_len != 8;
  m = with_checksums(m);
  m.flags = m.flags.with_offload_tcp_segmentation(tcp).with_offload_udp_segmentation(!tcp);
  m.max_segment_size = mss;
  return m;
}

}  // namespace pmdnet::offload::testing
