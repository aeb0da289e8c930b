// Tests of core/offload/soft_offload: checksum filling, TSO and USO over IPv4 and IPv6 (64 KB
// frames into 1448-byte segments, every field of every segment checked against the input and
// against naive checksums), TCP flag handling, IPv4 options, IPv6 extension and Routing headers,
// VLAN-tagged input, VLAN insertion, and every bad input (each OffloadError at least once).
#include "core/offload/soft_offload.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "core/offload/checksum.h"
#include "tests/unit/core/offload/test_frames.h"

namespace pmdnet::offload {
namespace {

using testing::BuiltFrame;
using testing::FrameSpec;
using testing::get16;
using testing::get32;
using testing::naive_ipv4_header_checksum;
using testing::naive_l4_checksum;
using testing::put16;

using Bytes = std::vector<uint8_t>;

constexpr uint8_t kFin = 0x01, kPsh = 0x08, kAck = 0x10, kEce = 0x40, kCwr = 0x80;

struct Collected {
  std::expected<uint32_t, OffloadError> result;
  std::vector<Bytes> segments;
  std::vector<size_t> header_sizes;
  std::vector<bool> last;
};

Collected collect(std::span<const uint8_t> frame, const TxMetadata& m,
                  const SegmentOptions& options = {}) {
  Collected c;
  uint32_t expected_index = 0;
  c.result = segment(
      frame, m,
      [&](const Segment& s) noexcept {
        EXPECT_EQ(s.index, expected_index++);
        Bytes b(s.size());
        EXPECT_EQ(copy_segment(s, b), s.size());
        c.segments.push_back(std::move(b));
        c.header_sizes.push_back(s.headers.size());
        c.last.push_back(s.last);
        return true;
      },
      options);
  return c;
}

// Checks every field of every segment of `in` (built by build_frame, segmented with `m`): see
// soft_offload.h, contract point 3. `shift` is 4 when a VLAN tag was inserted.
void check_segments(const BuiltFrame& in, const TxMetadata& m, const Collected& c,
                    size_t shift = 0) {
  ASSERT_TRUE(c.result.has_value()) << to_string(c.result.error());
  const std::span<const uint8_t> src(in.bytes);
  const bool ipv4 = m.flags.is_ipv4();
  const bool tcp = m.flags.offload_tcp_segmentation();
  const size_t mss = m.max_segment_size;
  const size_t payload_len = in.bytes.size() - in.headers;
  const size_t count = payload_len == 0 ? 1 : (payload_len + mss - 1) / mss;
  ASSERT_EQ(*c.result, count);
  ASSERT_EQ(c.segments.size(), count);
  const size_t l3 = in.l3 + shift, l4 = in.l4 + shift, headers = in.headers + shift;
  const size_t l3_len = in.l4 - in.l3;
  Bytes payload;
  for (size_t i = 0; i < count; ++i) {
    SCOPED_TRACE(::testing::Message() << "segment " << i);
    const Bytes& s = c.segments[i];
    const std::span<const uint8_t> seg(s);
    const bool first = i == 0, last = i + 1 == count;
    EXPECT_EQ(c.last[i], last);
    EXPECT_EQ(c.header_sizes[i], headers);
    ASSERT_LE(s.size(), headers + mss);
    ASSERT_GE(s.size(), headers);
    const size_t seg_payload = s.size() - headers;
    EXPECT_EQ(seg_payload, last ? payload_len - i * mss : mss);
    // L2: MAC addresses, any tags and the EtherType are the input's.
    EXPECT_TRUE(std::equal(src.begin(), src.begin() + 12, seg.begin()));
    EXPECT_TRUE(std::equal(src.begin() + 12, src.begin() + in.l3, seg.begin() + 12 + shift));
    if (ipv4) {
      EXPECT_EQ(seg[l3], src[in.l3]);                // version, IHL
      EXPECT_EQ(get16(seg, l3 + 2), s.size() - l3);  // total length
      EXPECT_EQ(get16(seg, l3 + 4), static_cast<uint16_t>(get16(src, in.l3 + 4) + i));  // id
      EXPECT_EQ(get16(seg, l3 + 6), get16(src, in.l3 + 6));  // flags + fragment offset: unchanged
      EXPECT_EQ(get16(seg, l3 + 6) & 0x3fff, 0);             // never a fragment
      EXPECT_TRUE(
          std::equal(src.begin() + in.l3 + 8, src.begin() + in.l3 + 10, seg.begin() + l3 + 8));
      EXPECT_TRUE(std::equal(src.begin() + in.l3 + 12, src.begin() + in.l4, seg.begin() + l3 + 12));
      EXPECT_EQ(get16(seg, l3 + 10), naive_ipv4_header_checksum(seg, l3, l3_len));
    } else {
      EXPECT_TRUE(std::equal(src.begin() + in.l3, src.begin() + in.l3 + 4, seg.begin() + l3));
      EXPECT_EQ(get16(seg, l3 + 4), s.size() - l3 - 40);  // payload length
      EXPECT_TRUE(std::equal(src.begin() + in.l3 + 6, src.begin() + in.l4, seg.begin() + l3 + 6));
    }
    EXPECT_EQ(get32(seg, l4), get32(src, in.l4));  // ports
    if (tcp) {
      EXPECT_EQ(get32(seg, l4 + 4), static_cast<uint32_t>(get32(src, in.l4 + 4) + i * mss));
      EXPECT_EQ(get32(seg, l4 + 8), get32(src, in.l4 + 8));  // ack
      EXPECT_EQ(seg[l4 + 12], src[in.l4 + 12]);              // data offset
      uint8_t flags = src[in.l4 + 13];
      if (!last) flags &= static_cast<uint8_t>(~(kFin | kPsh));
      if (!first) flags &= static_cast<uint8_t>(~kCwr);
      EXPECT_EQ(seg[l4 + 13], flags);
      EXPECT_EQ(get16(seg, l4 + 14), get16(src, in.l4 + 14));  // window
      EXPECT_EQ(get16(seg, l4 + 18), get16(src, in.l4 + 18));  // urgent pointer
      EXPECT_TRUE(
          std::equal(src.begin() + in.l4 + 20, src.begin() + in.headers, seg.begin() + l4 + 20));
    } else {
      EXPECT_EQ(get16(seg, l4 + 4), s.size() - l4);  // UDP length
      EXPECT_NE(get16(seg, l4 + 6), 0);
    }
    const testing::L4Place place{
        .ipv4 = ipv4, .tcp = tcp, .l3 = l3, .l4 = l4, .l4_len = s.size() - l4};
    EXPECT_EQ(get16(seg, l4 + (tcp ? 16 : 6)), naive_l4_checksum(seg, place));
    EXPECT_TRUE(std::equal(src.begin() + in.headers + i * mss,
                           src.begin() + in.headers + i * mss + seg_payload,
                           seg.begin() + headers));
    payload.insert(payload.end(), s.begin() + headers, s.end());
  }
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), src.begin() + in.headers, src.end()));
  EXPECT_EQ(payload.size(), payload_len);
}

// Checks that apply_checksums filled exactly the requested checksums and nothing else.
void check_applied(const BuiltFrame& in, const Bytes& out, bool ip, bool l4,
                   const testing::L4Place& place) {
  ASSERT_EQ(out.size(), in.bytes.size());
  Bytes expect = in.bytes;
  if (ip) put16(expect, in.l3 + 10, naive_ipv4_header_checksum(in.bytes, in.l3, in.l4 - in.l3));
  if (l4) put16(expect, in.l4 + (place.tcp ? 16 : 6), naive_l4_checksum(in.bytes, place));
  EXPECT_EQ(out, expect);
}

// --- apply_checksums ---------------------------------------------------------------------------

struct ChecksumCase {
  const char* name;
  FrameSpec spec;
};

TEST(ApplyChecksums, FillsTcpAndUdpOverIpv4AndIpv6) {
  const ChecksumCase cases[] = {
      {"tcp4", {.payload = 1000}},
      {"udp4", {.udp = true, .payload = 999}},
      {"tcp6", {.ipv6 = true, .payload = 1001}},
      {"udp6", {.ipv6 = true, .udp = true, .payload = 3}},
      {"tcp4 options", {.ipv4_options = 12, .tcp_options = 40, .payload = 77}},
      {"tcp4 vlan", {.vlan_tags = 1, .payload = 500}},
      {"udp6 qinq", {.ipv6 = true, .udp = true, .vlan_tags = 2, .payload = 501}},
      {"tcp4 empty", {.tcp_options = 0}},
      {"udp4 empty", {.udp = true}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const BuiltFrame f = testing::build_frame(c.spec);
    const TxMetadata m = testing::with_checksums(f.meta);
    Bytes out = f.bytes;
    ASSERT_TRUE(apply_checksums(out, m).has_value());
    check_applied(f, out, !c.spec.ipv6, true, f.place());
    // The result verifies: every checksum sums to 0xffff.
    if (!c.spec.ipv6) {
      EXPECT_EQ(internet_checksum(std::span(out).subspan(f.l3, f.l4 - f.l3)), 0);
    }
  }
}

TEST(ApplyChecksums, OnlyWhatIsAsked) {
  const BuiltFrame f = testing::build_frame({.payload = 100});
  Bytes out = f.bytes;
  TxMetadata m = f.meta;
  m.flags = m.flags.with_offload_ip_header_checksum(true);
  ASSERT_TRUE(apply_checksums(out, m).has_value());
  check_applied(f, out, true, false, f.place());

  out = f.bytes;
  m.flags = f.meta.flags.with_offload_tcp_checksum(true);
  ASSERT_TRUE(apply_checksums(out, m).has_value());
  check_applied(f, out, false, true, f.place());
}

TEST(ApplyChecksums, PlainFrameIsNotParsed) {
  // No offload flag: any bytes at all, even a runt, pass through untouched.
  Bytes runt = {1, 2, 3};
  ASSERT_TRUE(apply_checksums(runt, TxMetadata{}).has_value());
  EXPECT_EQ(runt, (Bytes{1, 2, 3}));
  TxMetadata v4only;
  v4only.flags = TxFlags().with_is_ipv4(true);
  ASSERT_TRUE(apply_checksums(runt, v4only).has_value());
}

TEST(ApplyChecksums, StopsAtTheIpLengthNotAtPadding) {
  // A short frame padded to 60 bytes with non-zero bytes: the checksum covers the datagram only.
  const BuiltFrame f = testing::build_frame({.udp = true, .payload = 4});
  BuiltFrame padded = f;
  padded.bytes.resize(60, 0xee);
  TxMetadata m = testing::with_checksums(f.meta);
  Bytes out = padded.bytes;
  ASSERT_TRUE(apply_checksums(out, m).has_value());
  check_applied(padded, out, true, true, f.place());
}

TEST(ApplyChecksums, UdpChecksumZeroBecomesAllOnes) {
  // Choose the last payload word so that the datagram's sum is 0xffff: the computed checksum is
  // then 0, which UDP must send as 0xffff.
  BuiltFrame f = testing::build_frame({.udp = true, .payload = 10});
  put16(f.bytes, f.bytes.size() - 2, 0);
  put16(f.bytes, f.bytes.size() - 2, naive_l4_checksum(f.bytes, f.place()));
  Bytes out = f.bytes;
  ASSERT_TRUE(apply_checksums(out, testing::with_checksums(f.meta)).has_value());
  EXPECT_EQ(get16(out, f.l4 + 6), 0xffff);
  EXPECT_EQ(naive_l4_checksum(f.bytes, f.place()), 0xffff);  // the naive reference agrees

  // TCP keeps its 0.
  BuiltFrame t = testing::build_frame({.payload = 10});
  put16(t.bytes, t.bytes.size() - 2, 0);
  put16(t.bytes, t.bytes.size() - 2, naive_l4_checksum(t.bytes, t.place()));
  out = t.bytes;
  ASSERT_TRUE(apply_checksums(out, testing::with_checksums(t.meta)).has_value());
  EXPECT_EQ(get16(out, t.l4 + 16), 0);
}

// IPv6 extension headers: hop-by-hop (8 bytes), destination options (16 bytes).
std::pair<uint8_t, Bytes> hop_by_hop() { return {0, {0, 0, 1, 4, 0, 0, 0, 0}}; }
std::pair<uint8_t, Bytes> dest_opts16() {
  return {60, {0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
}
// A Routing header of `type` with `segments_left` and `n` addresses 0xa0+k..., as types 0/2/4
// lay them out (8 fixed bytes, then 16 bytes per address).
std::pair<uint8_t, Bytes> routing(uint8_t type, uint8_t segments_left, size_t n) {
  Bytes b(8 + 16 * n, 0);
  b[1] = static_cast<uint8_t>(2 * n);
  b[2] = type;
  b[3] = segments_left;
  if (type == 4) b[4] = static_cast<uint8_t>(n - 1);  // last entry
  for (size_t k = 0; k < n; ++k) {
    for (size_t j = 0; j < 16; ++j) b[8 + 16 * k + j] = static_cast<uint8_t>(0xa0 + 16 * k + j);
  }
  return {43, b};
}

TEST(ApplyChecksums, Ipv6ExtensionAndRoutingHeaders) {
  struct Case {
    const char* name;
    std::vector<std::pair<uint8_t, Bytes>> ext;
    int final_address;  // -1: the IPv6 header's destination; else the routing header's address k
  };
  const Case cases[] = {
      {"hbh + dstopts", {hop_by_hop(), dest_opts16()}, -1},
      {"type 2, segments left 1", {routing(2, 1, 1)}, 0},
      {"type 0, 3 addresses", {hop_by_hop(), routing(0, 2, 3)}, 2},
      {"SRH, segment list[0] is final", {routing(4, 1, 2)}, 0},
      {"routing done (segments left 0)", {routing(4, 0, 2), dest_opts16()}, -1},
  };
  for (const auto& c : cases) {
    for (bool udp : {false, true}) {
      SCOPED_TRACE(::testing::Message() << c.name << (udp ? " udp" : " tcp"));
      const BuiltFrame f =
          testing::build_frame({.ipv6 = true, .udp = udp, .ipv6_ext = c.ext, .payload = 333});
      testing::L4Place place = f.place();
      if (c.final_address >= 0) {
        size_t at = f.l3 + 40;
        for (const auto& e : c.ext) {
          if (e.first == 43) break;
          at += e.second.size();
        }
        place.dst = at + 8 + 16 * static_cast<size_t>(c.final_address);
      }
      Bytes out = f.bytes;
      ASSERT_TRUE(apply_checksums(out, testing::with_checksums(f.meta)).has_value());
      check_applied(f, out, false, true, place);
      // And the same frame segments with the same pseudo-header.
      const TxMetadata m = testing::with_segmentation(f.meta, 100);
      const Collected seg = collect(f.bytes, m);
      ASSERT_TRUE(seg.result.has_value());
      ASSERT_EQ(seg.segments.size(), 4u);
      for (const Bytes& s : seg.segments) {
        testing::L4Place p = place;
        p.l4_len = s.size() - f.l4;
        EXPECT_EQ(get16(s, f.l4 + (udp ? 6 : 16)), naive_l4_checksum(s, p));
      }
    }
  }
}

// --- segmentation ------------------------------------------------------------------------------

TEST(Segment, Tso64KIpv4Into1448) {
  // The largest IPv4 datagram: total length 65535 with 20 + 32 header bytes.
  const BuiltFrame f = testing::build_frame({.payload = 65535 - 20 - 32, .tcp_flags = kAck | kPsh});
  const TxMetadata m = testing::with_segmentation(f.meta, 1448);
  ASSERT_EQ(count_segments(f.bytes, m), 46u);
  const Collected c = collect(f.bytes, m);
  check_segments(f, m, c);
  EXPECT_EQ(c.segments.back().size(), f.headers + (65483 - 45 * 1448));
}

TEST(Segment, Tso64KIpv6Into1448) {
  const BuiltFrame f = testing::build_frame({.ipv6 = true, .payload = 65535 - 32});
  const TxMetadata m = testing::with_segmentation(f.meta, 1448);
  const Collected c = collect(f.bytes, m);
  check_segments(f, m, c);
  EXPECT_EQ(c.segments.size(), 46u);
}

TEST(Segment, Uso64KIpv4) {
  const BuiltFrame f = testing::build_frame({.udp = true, .payload = 65535 - 20 - 8});
  const TxMetadata m = testing::with_segmentation(f.meta, 1448);
  const Collected c = collect(f.bytes, m);
  check_segments(f, m, c);
  EXPECT_EQ(c.segments.size(), 46u);  // 65507 / 1448, rounded up
}

TEST(Segment, Uso64KIpv6) {
  const BuiltFrame f = testing::build_frame({.ipv6 = true, .udp = true, .payload = 65535 - 8});
  const TxMetadata m = testing::with_segmentation(f.meta, 1472);
  const Collected c = collect(f.bytes, m);
  check_segments(f, m, c);
  EXPECT_EQ(c.segments.size(), 45u);  // 65527 / 1472, rounded up
}

TEST(Segment, TcpFlags) {
  // FIN and PSH only on the last segment; CWR only on the first; ACK and ECE everywhere.
  const BuiltFrame f =
      testing::build_frame({.payload = 5000, .tcp_flags = kFin | kPsh | kAck | kEce | kCwr});
  const TxMetadata m = testing::with_segmentation(f.meta, 1448);
  const Collected c = collect(f.bytes, m);
  check_segments(f, m, c);
  ASSERT_EQ(c.segments.size(), 4u);
  EXPECT_EQ(c.segments[0][f.l4 + 13], kAck | kEce | kCwr);
  EXPECT_EQ(c.segments[1][f.l4 + 13], kAck | kEce);
  EXPECT_EQ(c.segments[2][f.l4 + 13], kAck | kEce);
  EXPECT_EQ(c.segments[3][f.l4 + 13], kFin | kPsh | kAck | kEce);
  // One segment is first and last: it keeps everything.
  const BuiltFrame one =
      testing::build_frame({.payload = 100, .tcp_flags = kFin | kPsh | kAck | kCwr});
  const Collected c1 = collect(one.bytes, testing::with_segmentation(one.meta, 1448));
  ASSERT_EQ(c1.segments.size(), 1u);
  EXPECT_EQ(c1.segments[0][one.l4 + 13], kFin | kPsh | kAck | kCwr);
}

TEST(Segment, Ipv4OptionsTcpOptionsAndVlanTags) {
  const FrameSpec specs[] = {
      {.ipv4_options = 40, .tcp_options = 40, .payload = 10000},
      {.vlan_tags = 1, .payload = 10000},
      {.vlan_tags = 2, .ipv4_options = 8, .payload = 10001},
      {.ipv6 = true, .vlan_tags = 1, .ipv6_ext = {hop_by_hop()}, .payload = 9999},
      {.udp = true, .vlan_tags = 2, .ipv4_options = 4, .payload = 7777},
      {.ipv6 = true, .udp = true, .vlan_tags = 1, .payload = 7777},
  };
  for (const auto& s : specs) {
    const BuiltFrame f = testing::build_frame(s);
    for (uint16_t mss : {88u, 536u, 1448u, 9000u}) {
      SCOPED_TRACE(::testing::Message() << "l2 " << f.l3 << " l4 " << f.l4 << " mss " << mss);
      const TxMetadata m = testing::with_segmentation(f.meta, mss);
      check_segments(f, m, collect(f.bytes, m));
    }
  }
}

// segment() refuses what parse_tx_offloads refuses, for callers that build TxMetadata themselves:
// TSO below Linux's TCP_MIN_MSS (88), USO into more than UDP_MAX_SEGMENTS (128) datagrams.
TEST(Segment, RefusesTinySegments) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6);
    const BuiltFrame tcp = testing::build_frame({.ipv6 = v6, .payload = 60000});
    for (uint16_t mss : {1u, 87u}) {
      const TxMetadata m = testing::with_segmentation(tcp.meta, mss);
      EXPECT_EQ(count_segments(tcp.bytes, m), std::unexpected(OffloadError::kSegmentSizeTooSmall));
      EXPECT_EQ(collect(tcp.bytes, m).result, std::unexpected(OffloadError::kSegmentSizeTooSmall));
    }
    const TxMetadata at_min = testing::with_segmentation(tcp.meta, 88);
    check_segments(tcp, at_min, collect(tcp.bytes, at_min));
    EXPECT_EQ(count_segments(tcp.bytes, at_min), (60000 + 87) / 88);

    for (uint16_t mss : {1u, 8u, 500u}) {
      SCOPED_TRACE(mss);
      const BuiltFrame edge =
          testing::build_frame({.ipv6 = v6, .udp = true, .payload = 128u * mss});
      const TxMetadata m = testing::with_segmentation(edge.meta, mss);
      const Collected c = collect(edge.bytes, m);
      check_segments(edge, m, c);
      EXPECT_EQ(c.segments.size(), 128u);
      const BuiltFrame over =
          testing::build_frame({.ipv6 = v6, .udp = true, .payload = 128u * mss + 1});
      const TxMetadata m2 = testing::with_segmentation(over.meta, mss);
      EXPECT_EQ(count_segments(over.bytes, m2), std::unexpected(OffloadError::kTooManySegments));
      EXPECT_EQ(collect(over.bytes, m2).result, std::unexpected(OffloadError::kTooManySegments));
    }
  }
}

TEST(Segment, SmallFramesAreEmittedAsIs) {
  for (bool udp : {false, true}) {
    for (bool v6 : {false, true}) {
      for (size_t payload : {0u, 1u, 1447u, 1448u}) {
        SCOPED_TRACE(::testing::Message() << udp << v6 << " " << payload);
        const BuiltFrame f = testing::build_frame({.ipv6 = v6, .udp = udp, .payload = payload});
        const TxMetadata m = testing::with_segmentation(f.meta, 1448);
        const Collected c = collect(f.bytes, m);
        ASSERT_EQ(c.result, 1u);
        EXPECT_TRUE(c.last[0]);
        // Byte for byte the frame with its checksums filled.
        Bytes filled = f.bytes;
        ASSERT_TRUE(apply_checksums(filled, m).has_value());
        EXPECT_EQ(c.segments[0], filled);
      }
    }
  }
  // One byte more than the MSS: two segments, the second carrying one byte.
  const BuiltFrame f = testing::build_frame({.payload = 1449});
  const TxMetadata m = testing::with_segmentation(f.meta, 1448);
  const Collected c = collect(f.bytes, m);
  check_segments(f, m, c);
  EXPECT_EQ(c.segments[1].size(), f.headers + 1);
}

TEST(Segment, SequenceAndIdWrapAround) {
  const BuiltFrame f = testing::build_frame({.payload = 6000, .seq = 0xfffffc00u, .ip_id = 0xfffe});
  const TxMetadata m = testing::with_segmentation(f.meta, 1448);
  const Collected c = collect(f.bytes, m);
  check_segments(f, m, c);
  EXPECT_EQ(get16(c.segments[2], f.l3 + 4), 0x0000);
  EXPECT_EQ(get32(c.segments[1], f.l4 + 4), 0xfffffc00u + 1448u);
  EXPECT_EQ(get32(c.segments[1], f.l4 + 4), 0x000001a8u);
}

TEST(Segment, ChecksumsLeftToTheNic) {
  const BuiltFrame f = testing::build_frame({.payload = 3000});
  const TxMetadata m = testing::with_segmentation(f.meta, 1448);
  const Collected c =
      collect(f.bytes, m, {.compute_l4_checksum = false, .compute_ip_checksum = false});
  ASSERT_EQ(c.segments.size(), 3u);
  for (const Bytes& s : c.segments) {
    EXPECT_EQ(get16(s, f.l3 + 10), 0);
    // The pseudo-header sum with this segment's length, not complemented, as DPDK expects.
    const uint8_t ph[12] = {s[f.l3 + 12],
                            s[f.l3 + 13],
                            s[f.l3 + 14],
                            s[f.l3 + 15],
                            s[f.l3 + 16],
                            s[f.l3 + 17],
                            s[f.l3 + 18],
                            s[f.l3 + 19],
                            0,
                            6,
                            static_cast<uint8_t>((s.size() - f.l4) >> 8),
                            static_cast<uint8_t>(s.size() - f.l4)};
    EXPECT_EQ(get16(s, f.l4 + 16), testing::naive_sum(ph));
    // Filling the checksum over the result (as the NIC would) gives the software answer.
    Bytes filled = s;
    TxMetadata one = testing::with_checksums(f.meta);
    ASSERT_TRUE(apply_checksums(filled, one).has_value());
    testing::L4Place p = f.place();
    p.l4_len = s.size() - f.l4;
    EXPECT_EQ(get16(filled, f.l4 + 16), naive_l4_checksum(s, p));
  }
}

TEST(Segment, InsertsVlanTagPerSegment) {
  for (bool udp : {false, true}) {
    const BuiltFrame f = testing::build_frame({.udp = udp, .payload = 4000});
    TxMetadata m = testing::with_segmentation(f.meta, 1448);
    m.vlan = VlanMetadata().with_vlan_id(0x123).with_priority(5).with_drop_eligible_indicator(true);
    const Collected c = collect(f.bytes, m, {.insert_vlan = true});
    check_segments(f, m, c, 4);
    for (const Bytes& s : c.segments) {
      EXPECT_EQ(get16(s, 12), 0x8100);
      EXPECT_EQ(get16(s, 14), (5 << 13) | (1 << 12) | 0x123);
    }
    // Without the option the tag is not inserted.
    const Collected plain = collect(f.bytes, m);
    check_segments(f, m, plain);
  }
}

TEST(Segment, SinkCanStop) {
  const BuiltFrame f = testing::build_frame({.payload = 10000});
  const TxMetadata m = testing::with_segmentation(f.meta, 1000);
  int calls = 0;
  auto r = segment(f.bytes, m, [&](const Segment&) noexcept { return ++calls < 3; });
  EXPECT_EQ(r, std::unexpected(OffloadError::kSinkStopped));
  EXPECT_EQ(calls, 3);
}

class CountingSink final : public SegmentSink {
 public:
  bool on_segment(const Segment& s) noexcept override {
    bytes += s.size();
    ++count;
    return true;
  }
  size_t bytes = 0;
  uint32_t count = 0;
};

TEST(Segment, VirtualSinkAndCountSegments) {
  const BuiltFrame f = testing::build_frame({.ipv6 = true, .udp = true, .payload = 9001});
  const TxMetadata m = testing::with_segmentation(f.meta, 1000);
  CountingSink sink;
  EXPECT_EQ(segment(f.bytes, m, sink), 10u);
  EXPECT_EQ(sink.count, 10u);
  EXPECT_EQ(sink.bytes, 9001 + 10 * f.headers);
  EXPECT_EQ(count_segments(f.bytes, m), 10u);
}

// --- insert_vlan -------------------------------------------------------------------------------

TEST(InsertVlan, TagAfterMacAddresses) {
  const BuiltFrame f = testing::build_frame({.payload = 20});
  Bytes out(f.bytes.size() + 4, 0xcc);
  const VlanMetadata v = VlanMetadata::from_tci(0xa00f);  // PCP 5, DEI 0, VID 15
  ASSERT_EQ(insert_vlan(f.bytes, out, v), f.bytes.size() + 4);
  Bytes expect(f.bytes.begin(), f.bytes.begin() + 12);
  expect.insert(expect.end(), {0x81, 0x00, 0xa0, 0x0f});
  expect.insert(expect.end(), f.bytes.begin() + 12, f.bytes.end());
  EXPECT_EQ(out, expect);
  // The result parses as a tagged frame whose checksums still verify after apply_checksums.
  TxMetadata m = testing::with_checksums(f.meta);
  m.l2_len = 18;
  m.transport_header_offset = static_cast<uint16_t>(f.l4 + 4);
  EXPECT_TRUE(apply_checksums(out, m).has_value());
}

TEST(InsertVlan, OverlappingBuffers) {
  const BuiltFrame f = testing::build_frame({.payload = 50});
  const VlanMetadata v = VlanMetadata().with_vlan_id(42);
  Bytes expect(f.bytes.size() + 4);
  ASSERT_TRUE(insert_vlan(f.bytes, expect, v).has_value());
  // Prepending into 4 bytes of headroom, as an mbuf would.
  Bytes buf(4, 0);
  buf.insert(buf.end(), f.bytes.begin(), f.bytes.end());
  ASSERT_TRUE(insert_vlan(std::span(buf).subspan(4), buf, v).has_value());
  EXPECT_EQ(buf, expect);
  // In place with 4 bytes of tailroom.
  Bytes tail = f.bytes;
  tail.resize(tail.size() + 4);
  ASSERT_TRUE(insert_vlan(std::span(tail).first(f.bytes.size()), tail, v).has_value());
  EXPECT_EQ(tail, expect);
}

// --- bad input ---------------------------------------------------------------------------------

// Every OffloadError, each from the smallest contradiction that causes it. The input must be
// untouched afterwards, and nothing is emitted.
TEST(BadInput, EveryErrorKind) {
  std::set<OffloadError> seen;
  const BuiltFrame tcp4 = testing::build_frame({.payload = 3000});
  const BuiltFrame udp4 = testing::build_frame({.udp = true, .payload = 3000});
  const BuiltFrame tcp6 = testing::build_frame({.ipv6 = true, .payload = 3000});
  const BuiltFrame udp6 = testing::build_frame({.ipv6 = true, .udp = true, .payload = 3000});

  // Runs both entry points that apply; `segmenting` says which one must report `want`.
  auto expect_error = [&](const char* what, const Bytes& frame, const TxMetadata& m,
                          OffloadError want) {
    SCOPED_TRACE(what);
    seen.insert(want);
    const bool seg = m.flags.offload_tcp_segmentation() || m.flags.offload_udp_segmentation() ||
                     want == OffloadError::kNotSegmentation;
    if (seg) {
      size_t emitted = 0;
      auto r = segment(frame, m, [&](const Segment&) noexcept {
        ++emitted;
        return true;
      });
      EXPECT_EQ(r, std::unexpected(want)) << (r ? "ok" : to_string(r.error()));
      EXPECT_EQ(emitted, 0u);
      EXPECT_EQ(count_segments(frame, m), std::unexpected(want));
    }
    const bool checksum_error =
        want != OffloadError::kNotSegmentation && want != OffloadError::kMaxSegmentSizeZero &&
        want != OffloadError::kBothSegmentations && want != OffloadError::kHeadersTooLong &&
        want != OffloadError::kSegmentTooLarge && want != OffloadError::kSegmentSizeTooSmall &&
        want != OffloadError::kTooManySegments;
    if (!seg || checksum_error) {
      Bytes copy = frame;
      auto r = apply_checksums(copy, m);
      if (!seg || want != OffloadError::kIpLengthMismatch) {
        EXPECT_EQ(r, std::unexpected(want)) << (r ? "ok" : to_string(r.error()));
      }
      if (!r) {
        EXPECT_EQ(copy, frame);
      }
    }
  };

  TxMetadata m = testing::with_checksums(tcp4.meta);
  expect_error("both IP versions", tcp4.bytes, {.flags = m.flags.with_is_ipv6(true)},
               OffloadError::kBothIpVersions);
  TxMetadata none = m;
  none.flags = m.flags.with_is_ipv4(false);
  expect_error("no IP version", tcp4.bytes, none, OffloadError::kNoIpVersion);
  TxMetadata both_l4 = m;
  both_l4.flags = m.flags.with_offload_udp_checksum(true);
  expect_error("both L4 checksums", tcp4.bytes, both_l4, OffloadError::kBothL4Checksums);
  TxMetadata both_seg = testing::with_segmentation(tcp4.meta, 1448);
  both_seg.flags = both_seg.flags.with_offload_udp_segmentation(true);
  expect_error("TSO and USO", tcp4.bytes, both_seg, OffloadError::kBothSegmentations);
  expect_error("segment without TSO/USO", tcp4.bytes, m, OffloadError::kNotSegmentation);
  expect_error("mss 0", tcp4.bytes, testing::with_segmentation(tcp4.meta, 0),
               OffloadError::kMaxSegmentSizeZero);
  expect_error("uso mss 0", udp6.bytes, testing::with_segmentation(udp6.meta, 0),
               OffloadError::kMaxSegmentSizeZero);
  expect_error("tso mss 87", tcp4.bytes, testing::with_segmentation(tcp4.meta, 87),
               OffloadError::kSegmentSizeTooSmall);
  expect_error("uso into 129 datagrams", udp6.bytes,
               testing::with_segmentation(udp6.meta, 3000 / 129), OffloadError::kTooManySegments);

  TxMetadata past = m;
  past.l3_len = 60000;
  expect_error("l3_len past the end", tcp4.bytes, past, OffloadError::kMetadataPastEnd);
  const Bytes truncated(tcp4.bytes.begin(), tcp4.bytes.begin() + 50);  // headers end at 66
  expect_error("frame shorter than the metadata's headers", truncated,
               testing::with_segmentation(tcp4.meta, 1448), OffloadError::kMetadataPastEnd);
  TxMetadata past_offset = m;
  past_offset.transport_header_offset = 60000;
  expect_error("transport offset past the end", tcp4.bytes, past_offset,
               OffloadError::kMetadataPastEnd);
  TxMetadata no_l4 = m;
  no_l4.l4_len = 0;
  expect_error("frame ends inside the TCP header",
               Bytes(tcp4.bytes.begin(), tcp4.bytes.begin() + 60), no_l4,
               OffloadError::kFrameTooShort);

  Bytes bad4 = tcp4.bytes;
  bad4[tcp4.l3] = 0x55;
  expect_error("IPv4 version 5", bad4, m, OffloadError::kBadIpv4Header);
  bad4 = tcp4.bytes;
  put16(bad4, tcp4.l3 + 2, 30);  // total length shorter than IP + TCP headers
  expect_error("IPv4 total length too short", bad4, m, OffloadError::kBadIpv4Header);
  Bytes bad6 = tcp6.bytes;
  bad6[tcp6.l3] = 0x40;
  expect_error("IPv6 version 4", bad6, testing::with_checksums(tcp6.meta),
               OffloadError::kBadIpv6Header);
  Bytes bad_tcp = tcp4.bytes;
  bad_tcp[tcp4.l4 + 12] = 0x40;
  expect_error("TCP data offset 4", bad_tcp, m, OffloadError::kBadTcpHeader);

  TxMetadata v6_on_v4 = m;
  v6_on_v4.flags =
      m.flags.with_is_ipv4(false).with_is_ipv6(true).with_offload_ip_header_checksum(false);
  expect_error("is_ipv6 on an IPv4 frame", tcp4.bytes, v6_on_v4, OffloadError::kIpVersionMismatch);
  Bytes arp = tcp4.bytes;
  put16(arp, 12, 0x0806);
  expect_error("not IP at all", arp, m, OffloadError::kIpVersionMismatch);
  TxMetadata ip_csum_v6 = testing::with_checksums(tcp6.meta);
  ip_csum_v6.flags = ip_csum_v6.flags.with_offload_ip_header_checksum(true);
  expect_error("IP header checksum on IPv6", tcp6.bytes, ip_csum_v6,
               OffloadError::kIpChecksumNotIpv4);

  TxMetadata tcp_on_udp = testing::with_checksums(udp4.meta);
  tcp_on_udp.flags =
      tcp_on_udp.flags.with_offload_udp_checksum(false).with_offload_tcp_checksum(true);
  expect_error("TCP checksum on UDP", udp4.bytes, tcp_on_udp, OffloadError::kNotTcp);
  TxMetadata tso_on_udp = udp6.meta;
  tso_on_udp.flags = tso_on_udp.flags.with_offload_tcp_segmentation(true);
  tso_on_udp.max_segment_size = 1000;
  tso_on_udp.l4_len = 20;
  expect_error("TSO on UDP", udp6.bytes, tso_on_udp, OffloadError::kNotTcp);
  Bytes fragment = tcp4.bytes;
  put16(fragment, tcp4.l3 + 6, 0x2000);  // MF
  expect_error("TCP checksum on an IPv4 fragment", fragment, m, OffloadError::kNotTcp);
  TxMetadata uso_on_tcp = tcp4.meta;
  uso_on_tcp.flags = uso_on_tcp.flags.with_offload_udp_segmentation(true);
  uso_on_tcp.max_segment_size = 1000;
  expect_error("USO on TCP", tcp4.bytes, uso_on_tcp, OffloadError::kNotUdp);

  TxMetadata l2 = m;
  l2.l2_len = 18;
  expect_error("l2_len 18 on an untagged frame", tcp4.bytes, l2,
               OffloadError::kHeaderLengthMismatch);
  TxMetadata l3 = m;
  l3.l3_len = 24;
  expect_error("l3_len 24 for a 20-byte header", tcp4.bytes, l3,
               OffloadError::kHeaderLengthMismatch);
  TxMetadata l4 = testing::with_segmentation(tcp4.meta, 1448);
  l4.l4_len = 20;
  expect_error("TSO l4_len 20 for a 32-byte TCP header", tcp4.bytes, l4,
               OffloadError::kHeaderLengthMismatch);
  TxMetadata l4_missing = testing::with_segmentation(tcp4.meta, 1448);
  l4_missing.l4_len = 0;
  expect_error("TSO without l4_len", tcp4.bytes, l4_missing, OffloadError::kHeaderLengthMismatch);
  TxMetadata th = m;
  th.transport_header_offset = 40;
  expect_error("transport offset 40", tcp4.bytes, th, OffloadError::kHeaderLengthMismatch);

  Bytes long4 = tcp4.bytes;
  put16(long4, tcp4.l3 + 2, static_cast<uint16_t>(get16(long4, tcp4.l3 + 2) + 1));
  expect_error("IPv4 total length past the frame", long4, m, OffloadError::kIpLengthMismatch);
  Bytes long6 = udp6.bytes;
  put16(long6, udp6.l3 + 4, static_cast<uint16_t>(get16(long6, udp6.l3 + 4) + 2));
  expect_error("IPv6 payload length past the frame", long6, testing::with_checksums(udp6.meta),
               OffloadError::kIpLengthMismatch);
  Bytes short6 = tcp6.bytes;
  put16(short6, tcp6.l3 + 4, 10);
  expect_error("IPv6 payload length shorter than TCP's header", short6,
               testing::with_checksums(tcp6.meta), OffloadError::kIpLengthMismatch);
  Bytes udp_len = udp4.bytes;
  put16(udp_len, udp4.l4 + 4, 100);
  expect_error("UDP length differs from the IP length", udp_len, testing::with_checksums(udp4.meta),
               OffloadError::kUdpLengthMismatch);

  std::vector<std::pair<uint8_t, Bytes>> big_ext;
  for (int i = 0; i < 3; ++i) big_ext.push_back(routing(4, 0, 5));  // 3 * 88 bytes
  const BuiltFrame tall = testing::build_frame({.ipv6 = true, .ipv6_ext = big_ext, .payload = 100});
  expect_error("headers longer than kMaxHeaderLen", tall.bytes,
               testing::with_segmentation(tall.meta, 50), OffloadError::kHeadersTooLong);
  const BuiltFrame huge = testing::build_frame({.payload = 70000});
  expect_error("segment IP length > 65535", huge.bytes,
               testing::with_segmentation(huge.meta, 65535), OffloadError::kSegmentTooLarge);
  const BuiltFrame rpl = testing::build_frame({.ipv6 = true, .ipv6_ext = {routing(3, 1, 1)}});
  expect_error("RPL routing header", rpl.bytes, testing::with_checksums(rpl.meta),
               OffloadError::kUnsupportedRoutingHeader);

  // insert_vlan and copy_segment.
  Bytes small(tcp4.bytes.size() + 3);
  EXPECT_EQ(insert_vlan(tcp4.bytes, small, {}), std::unexpected(OffloadError::kOutputTooSmall));
  seen.insert(OffloadError::kOutputTooSmall);
  Bytes out(20);
  EXPECT_EQ(insert_vlan(std::span(tcp4.bytes).first(13), out, {}),
            std::unexpected(OffloadError::kFrameTooShort));
  const Segment s{
      .headers = std::span(tcp4.bytes).first(66), .payload = {}, .index = 0, .last = true};
  EXPECT_EQ(copy_segment(s, std::span(out).first(20)),
            std::unexpected(OffloadError::kOutputTooSmall));

  int calls = 0;
  EXPECT_EQ(segment(tcp4.bytes, testing::with_segmentation(tcp4.meta, 1448),
                    [&](const Segment&) noexcept { return ++calls > 1; }),
            std::unexpected(OffloadError::kSinkStopped));
  seen.insert(OffloadError::kSinkStopped);

  EXPECT_EQ(seen.size(), kOffloadErrorCount);
  for (size_t e = 0; e < kOffloadErrorCount; ++e) {
    EXPECT_NE(to_string(static_cast<OffloadError>(e)), "unknown offload error");
  }
}

}  // namespace
}  // namespace pmdnet::offload
