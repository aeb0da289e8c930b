// Fuzz target for core/offload: frames and TxMetadata through apply_checksums, count_segments,
// segment and insert_vlan. Nothing may crash or read past the frame (each frame is its own
// exact-size allocation), and every success must satisfy the contract in soft_offload.h: every
// segment at most headers + max_segment_size bytes, the payloads concatenating to the original,
// lengths consistent, and every checksum verifying with the naive reference in test_frames.h.
//
// Input layout: u8 mode, u8 shape, u16 payload length, u16 mss, u8 flag mask, u8 meta tweak,
// u8 options, u16 vlan, u8 mutation count, then mutations (u16 offset, u8 value) and, in raw mode,
// the frame itself. Structured mode builds a well-formed frame (FrameSpec from `shape`) so that
// random inputs reach segmentation, then applies the mutations; raw mode takes the bytes as they
// come.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/net/frame.h"
#include "core/net/segmentation_limits.h"
#include "core/offload/checksum.h"
#include "core/offload/soft_offload.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/unit/core/offload/test_frames.h"

namespace {

using namespace pmdnet;
using namespace pmdnet::offload;
using pmdnet::offload::testing::get16;
using pmdnet::offload::testing::naive_sum;

// Aborts, naming the failed check's line (GCC's __builtin_LINE is the caller's).
void require(bool ok, int line = __builtin_LINE()) {
  if (ok) return;
  std::fprintf(stderr, "soft_offload_fuzz.cc:%d: invariant failed\n", line);
  std::abort();
}

// True if an IPv6 header at `l3` is followed (within l3_len) by a Routing header with segments
// left, whose pseudo-header destination the naive checker does not work out.
bool has_active_routing(std::span<const uint8_t> f, size_t l3, size_t l3_len) {
  uint8_t next = f[l3 + 6];
  size_t at = l3 + 40;
  while (at + 8 <= l3 + l3_len) {
    if (next == 43 && f[at + 3] != 0) return true;
    const size_t len = next == 44 ? 8 : (size_t{f[at + 1]} + 1) * 8;
    next = f[at];
    at += len;
  }
  return false;
}

// Checks the checksums of one finished frame (a segment, or a frame after apply_checksums) with
// the naive reference. `l4_len` is the transport header + data length.
void verify_frame(std::span<const uint8_t> f, const net::FrameHeaders& h, bool check_ip,
                  bool check_l4, size_t l4_len) {
  if (check_ip && h.l3 == net::L3Protocol::Ipv4) {
    require(naive_sum(f.subspan(h.l2_len, h.l3_len)) == 0xffff);
  }
  if (!check_l4 || h.l4 == net::L4Protocol::Unknown) return;
  const bool ipv4 = h.l3 == net::L3Protocol::Ipv4;
  if (!ipv4 && has_active_routing(f, h.l2_len, h.l3_len)) return;
  const testing::L4Place p{.ipv4 = ipv4,
                           .tcp = h.l4 == net::L4Protocol::Tcp,
                           .l3 = h.l2_len,
                           .l4 = h.l4_offset,
                           .l4_len = l4_len};
  const uint16_t field = get16(f, h.l4_offset + (p.tcp ? 16 : 6));
  require(field == testing::naive_l4_checksum(f, p));
  if (!p.tcp) require(field != 0);
}

void check_apply(const std::vector<uint8_t>& frame, const TxMetadata& m) {
  std::vector<uint8_t> out = frame;
  auto r = apply_checksums(out, m);
  if (!r) {
    require(out == frame);  // refused: untouched
    require(!to_string(r.error()).empty());
    return;
  }
  const TxFlags f = m.flags;
  const bool l4 = f.offload_tcp_checksum() || f.offload_udp_checksum();
  if (!l4 && !f.offload_ip_header_checksum()) {
    require(out == frame);
    return;
  }
  auto h = net::parse_frame_headers(out);
  require(h.has_value());
  if (!l4) {
    verify_frame(out, *h, true, false, 0);
  } else {
    // The L4 checksum covers what the IP header declares, which must then lie in the frame.
    const size_t ip_end = h->l3 == net::L3Protocol::Ipv4
                              ? h->l2_len + size_t{get16(out, h->l2_len + 2)}
                              : h->l2_len + 40 + size_t{get16(out, h->l2_len + 4)};
    require(ip_end <= out.size());
    verify_frame(out, *h, f.offload_ip_header_checksum(), true, ip_end - h->l4_offset);
  }
  // Only checksum fields changed.
  for (size_t i = 0; i < out.size(); ++i) {
    const bool ip_field = i == h->l2_len + 10u || i == h->l2_len + 11u;
    const size_t l4_field = h->l4_offset + (f.offload_tcp_checksum() ? 16u : 6u);
    if (!ip_field && i != l4_field && i != l4_field + 1) require(out[i] == frame[i]);
  }
}

void check_segment(const std::vector<uint8_t>& frame, const TxMetadata& m, uint8_t options) {
  const SegmentOptions o{
      .compute_l4_checksum = true, .compute_ip_checksum = true, .insert_vlan = (options & 1) != 0};
  const auto count = count_segments(frame, m);
  std::vector<uint8_t> payload;
  size_t emitted = 0;
  size_t headers_len = 0;
  const size_t shift = o.insert_vlan && m.vlan ? 4 : 0;
  auto r = segment(
      frame, m,
      [&](const Segment& s) noexcept {
        require(s.index == emitted);
        ++emitted;
        headers_len = s.headers.size();
        require(s.payload.size() <= m.max_segment_size);
        require(s.size() <= headers_len + m.max_segment_size);
        payload.insert(payload.end(), s.payload.begin(), s.payload.end());
        std::vector<uint8_t> seg(s.size());
        require(copy_segment(s, seg) == s.size());
        if (shift) {
          // The inserted tag, then the frame as it would be without it (a third tag would stop
          // the parser).
          require(get16(seg, 12) == 0x8100 && get16(seg, 14) == m.vlan->to_tci());
          seg.erase(seg.begin() + 12, seg.begin() + 16);
        }
        auto h = net::parse_frame_headers(seg);
        require(h.has_value());
        require(size_t{h->l4_offset} + h->l4_len + shift == headers_len);
        require(h->l2_len == m.l2_len && h->l3_len == m.l3_len);
        if (h->l3 == net::L3Protocol::Ipv4) {
          require(get16(seg, h->l2_len + 2) == seg.size() - h->l2_len);
          require((get16(seg, h->l2_len + 6) & 0x3fff) == 0);
        } else {
          require(get16(seg, h->l2_len + 4) == seg.size() - h->l2_len - 40);
        }
        if (h->l4 == net::L4Protocol::Udp) {
          require(get16(seg, h->l4_offset + 4) == seg.size() - h->l4_offset);
        }
        verify_frame(seg, *h, true, true, seg.size() - h->l4_offset);
        return true;
      },
      o);
  require(r.has_value() == count.has_value());
  if (!r) {
    require(r.error() == count.error() && emitted == 0);
    return;
  }
  require(*r == *count && *r == emitted && emitted >= 1);
  // Segment counts bounded as on guest TX (virtio/net_header.h).
  require(!m.flags.offload_tcp_segmentation() || m.max_segment_size >= net::kMinTcpGsoSize);
  require(!m.flags.offload_udp_segmentation() || emitted <= net::kMaxUdpGsoSegments);
  const size_t in_headers = headers_len - shift;
  require(in_headers <= frame.size() && in_headers <= kMaxHeaderLen);
  require(std::equal(payload.begin(), payload.end(),
                     frame.begin() + static_cast<ptrdiff_t>(in_headers), frame.end()));
  require(payload.size() == frame.size() - in_headers);
}

void check_vlan(const std::vector<uint8_t>& frame, uint16_t tci) {
  std::vector<uint8_t> out(frame.size() + 4);
  auto r = insert_vlan(frame, out, VlanMetadata::from_tci(tci));
  require(r.has_value() == (frame.size() >= 14));
  if (!r) return;
  require(*r == frame.size() + 4);
  require(std::equal(frame.begin(), frame.begin() + 12, out.begin()));
  require(get16(out, 12) == 0x8100 && get16(out, 14) == VlanMetadata::from_tci(tci).to_tci());
  require(std::equal(frame.begin() + 12, frame.end(), out.begin() + 16));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.take<uint8_t>();
  const uint8_t shape = in.take<uint8_t>();
  const uint16_t payload_len = in.take<uint16_t>();
  const uint16_t mss = in.take<uint16_t>();
  const uint8_t flag_mask = in.take<uint8_t>();
  const uint8_t tweak = in.take<uint8_t>();
  const uint8_t options = in.take<uint8_t>();
  const uint16_t tci = in.take<uint16_t>();
  const uint8_t mutations = in.take<uint8_t>() % 8;
  std::vector<std::pair<uint16_t, uint8_t>> edits;
  for (uint8_t i = 0; i < mutations; ++i) {
    const uint16_t at = in.take<uint16_t>();
    edits.emplace_back(at, in.take<uint8_t>());
  }

  std::vector<uint8_t> frame;
  TxMetadata m;
  if ((mode & 1) == 0) {
    // Structured: a well-formed frame of the shape's kind.
    testing::FrameSpec s;
    s.ipv6 = (shape & 1) != 0;
    s.udp = (shape & 2) != 0;
    s.vlan_tags = (shape >> 2) % 3;
    s.ipv4_options = s.ipv6 ? 0 : ((shape >> 4) & 3) * 4;
    s.tcp_options = ((shape >> 6) & 3) * 4;
    if (s.ipv6 && (mode & 2)) s.ipv6_ext.push_back({0, {0, 0, 1, 4, 0, 0, 0, 0}});
    if (s.ipv6 && (mode & 4)) {
      std::vector<uint8_t> rh(40, 0x5a);
      rh[1] = 4;
      rh[2] = (mode & 8) ? 4 : 2;
      rh[3] = (mode >> 4) & 1;
      s.ipv6_ext.push_back({43, rh});
    }
    s.payload = payload_len % (mode & 0x80 ? 66000 : 3000);
    s.tcp_flags = tweak;
    s.seq = payload_len * 0x10001u;
    s.ip_id = tci;
    const testing::BuiltFrame b = testing::build_frame(s);
    frame = b.bytes;
    // Usually an MSS segment() takes (TSO needs 88 or more), else whatever the input says.
    uint16_t m_mss = mss % 4 == 0 ? static_cast<uint16_t>(88 + mss % 1912) : mss;
    // Big frames get big segments, to keep a replay run short.
    if (s.payload > 3000) m_mss = std::max<uint16_t>(m_mss, 536);
    m = (mode & 0x40) ? testing::with_checksums(b.meta) : testing::with_segmentation(b.meta, m_mss);
  } else {
    // Raw: whatever follows, with metadata from the input.
    while (!in.empty() && frame.size() < 4096) frame.push_back(in.take<uint8_t>());
    m.flags = TxFlags::from_bits(flag_mask);
    m.l2_len = static_cast<uint8_t>(shape);
    m.l3_len = payload_len % 512;
    m.l4_len = tweak;
    m.transport_header_offset = static_cast<uint16_t>(options) * 2;
    m.max_segment_size = mss;
    if (auto h = net::parse_frame_headers(frame); h && (mode & 2)) {
      // Usually metadata that matches the frame, so that success paths are reached.
      m.l2_len = h->l2_len;
      m.l3_len = h->l3_len;
      m.l4_len = h->l4_len;
      m.transport_header_offset = (mode & 4) ? h->l4_offset : 0;
      m.flags = m.flags.with_is_ipv4(h->l3 == net::L3Protocol::Ipv4)
                    .with_is_ipv6(h->l3 == net::L3Protocol::Ipv6);
    }
  }
  // Flags and lengths the input wants changed, then byte edits.
  if (tweak & 0x80) m.flags = TxFlags::from_bits(m.flags.into_bits() ^ (flag_mask & 0x7f));
  if (options & 0x80) m.l4_len = static_cast<uint8_t>(m.l4_len + (options & 0x7));
  if (options & 2) m.vlan = VlanMetadata::from_tci(tci);
  for (auto [at, value] : edits) {
    if (!frame.empty()) frame[at % frame.size()] = value;
  }

  check_apply(frame, m);
  check_segment(frame, m, options);
  check_vlan(frame, tci);
  // The fast sum against the RFC's loop.
  require(ones_sum(frame) == ones_sum_reference(frame));
  return 0;
}
