// Tests of core/virtio_net/net_header: guest TX virtio_net_hdr -> TxMetadata (one test per offload
// case and one per bad input, as OpenVMM's virtio_net tests do), and RxMetadata -> guest RX
// virtio_net_hdr.
#include "core/virtio_net/net_header.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "core/net/segmentation_limits.h"
#include "tests/unit/core/net/frame_builder.h"

namespace pmdnet::virtio {
namespace {

using namespace net::testing;
using net::kMaxUdpGsoSegments;
using net::kMinTcpGsoSize;

constexpr uint64_t kCsum = bit(feature::kCsum);
constexpr uint64_t kAllHost = kCsum | bit(feature::kHostTso4) | bit(feature::kHostTso6) |
                              bit(feature::kHostUso) | bit(feature::kHostEcn);
constexpr uint64_t kGuestCsum = bit(feature::kGuestCsum);
constexpr uint64_t kAllGuest = kGuestCsum | bit(feature::kGuestTso4) | bit(feature::kGuestTso6) |
                               bit(feature::kGuestUso4) | bit(feature::kGuestUso6);

VirtioNetHdr csum_hdr(uint16_t start, uint16_t offset) {
  VirtioNetHdr h{};
  h.flags = kHdrFNeedsCsum;
  h.csum_start = start;
  h.csum_offset = offset;
  return h;
}

VirtioNetHdr gso_hdr(uint8_t type, uint16_t size, uint16_t start, uint16_t offset,
                     uint16_t hdr_len = 0) {
  VirtioNetHdr h = csum_hdr(start, offset);
  h.gso_type = type;
  h.gso_size = size;
  h.hdr_len = hdr_len;
  return h;
}

// parse_tx_offloads over a whole built frame, with the prefix the frontend would copy (<= 256).
std::expected<TxMetadata, HeaderError> offloads(const VirtioNetHdr& h,
                                                const std::vector<uint8_t>& frame,
                                                uint64_t features) {
  std::span<const uint8_t> prefix(frame);
  return parse_tx_offloads(h, prefix.first(std::min<size_t>(prefix.size(), 256)),
                           static_cast<uint32_t>(frame.size()), features);
}

HeaderError offload_error(const VirtioNetHdr& h, const std::vector<uint8_t>& frame,
                          uint64_t features) {
  auto r = offloads(h, frame, features);
  EXPECT_FALSE(r.has_value());
  return r.has_value() ? HeaderError{} : r.error();
}

// ---------------------------------------------------------------------------------------------
// parse_tx_offloads: offload cases

TEST(TxOffloads, PlainPacketHasNoOffloads) {
  // Even a runt with garbage in the checksum fields and no features: nothing is parsed or checked.
  VirtioNetHdr h{};
  h.csum_start = 0xffff;
  h.csum_offset = 0xffff;
  h.hdr_len = 0xffff;
  std::vector<uint8_t> runt = {1, 2, 3};
  auto m = parse_tx_offloads(h, runt, 3, 0);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(*m, TxMetadata{});
  auto full = offloads(VirtioNetHdr{}, tcp4(), kAllHost);
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(*full, TxMetadata{});
}

TEST(TxOffloads, UnrecognizedTxFlagsAreIgnored) {
  VirtioNetHdr h{};
  h.flags = kHdrFDataValid | kHdrFRscInfo | 0x80;
  auto m = offloads(h, tcp4(), 0);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->flags, TxFlags());
}

TEST(TxOffloads, TcpV4Checksum) {
  auto m = offloads(csum_hdr(34, 16), tcp4(), kCsum);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->flags, TxFlags().with_offload_tcp_checksum(true).with_is_ipv4(true));
  EXPECT_FALSE(m->flags.offload_ip_header_checksum()) << "the guest fills the IPv4 checksum";
  EXPECT_EQ(m->l2_len, 14);
  EXPECT_EQ(m->l3_len, 20);
  EXPECT_EQ(m->l4_len, 20);
  EXPECT_EQ(m->transport_header_offset, 34);
  EXPECT_EQ(m->max_segment_size, 0);
  EXPECT_EQ(m->len, 0u) << "the caller fills len";
}

TEST(TxOffloads, UdpV4Checksum) {
  auto m = offloads(csum_hdr(34, 6), udp4(), kCsum);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->flags, TxFlags().with_offload_udp_checksum(true).with_is_ipv4(true));
  EXPECT_EQ(m->l3_len, 20);
  EXPECT_EQ(m->l4_len, 8);
  EXPECT_EQ(m->transport_header_offset, 34);
}

TEST(TxOffloads, TcpV6Checksum) {
  auto m = offloads(csum_hdr(54, 16), tcp6(), kCsum);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->flags, TxFlags().with_offload_tcp_checksum(true).with_is_ipv6(true));
  EXPECT_EQ(m->l2_len, 14);
  EXPECT_EQ(m->l3_len, 40);
  EXPECT_EQ(m->l4_len, 20);
  EXPECT_EQ(m->transport_header_offset, 54);
}

TEST(TxOffloads, UdpV6Checksum) {
  auto m = offloads(csum_hdr(54, 6), udp6(), kCsum);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->flags, TxFlags().with_offload_udp_checksum(true).with_is_ipv6(true));
  EXPECT_EQ(m->l3_len, 40);
  EXPECT_EQ(m->l4_len, 8);
}

TEST(TxOffloads, Tso4) {
  auto f = FrameBuilder().eth(0x0800).ipv4(kTcp).tcp(12).payload(20000).build();
  auto m = offloads(gso_hdr(kGsoTcpv4, 1448, 34, 16, 66), f, kCsum | bit(feature::kHostTso4));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->flags, TxFlags()
                          .with_offload_tcp_segmentation(true)
                          .with_offload_tcp_checksum(true)
                          .with_offload_ip_header_checksum(true)
                          .with_is_ipv4(true));
  EXPECT_EQ(m->l2_len, 14);
  EXPECT_EQ(m->l3_len, 20);
  EXPECT_EQ(m->l4_len, 32);
  EXPECT_EQ(m->transport_header_offset, 34);
  EXPECT_EQ(m->max_segment_size, 1448);
}

TEST(TxOffloads, Tso6) {
  auto f = tcp6(20000);
  auto m = offloads(gso_hdr(kGsoTcpv6, 1440, 54, 16, 74), f, kCsum | bit(feature::kHostTso6));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(
      m->flags,
      TxFlags().with_offload_tcp_segmentation(true).with_offload_tcp_checksum(true).with_is_ipv6(
          true));
  EXPECT_EQ(m->l3_len, 40);
  EXPECT_EQ(m->l4_len, 20);
  EXPECT_EQ(m->max_segment_size, 1440);
}

TEST(TxOffloads, Uso4) {
  auto m =
      offloads(gso_hdr(kGsoUdpL4, 1472, 34, 6, 42), udp4(30000), kCsum | bit(feature::kHostUso));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->flags, TxFlags()
                          .with_offload_udp_segmentation(true)
                          .with_offload_udp_checksum(true)
                          .with_offload_ip_header_checksum(true)
                          .with_is_ipv4(true));
  EXPECT_EQ(m->l4_len, 8);
  EXPECT_EQ(m->transport_header_offset, 34);
  EXPECT_EQ(m->max_segment_size, 1472);
}

TEST(TxOffloads, Uso6) {
  auto m =
      offloads(gso_hdr(kGsoUdpL4, 1452, 54, 6, 62), udp6(30000), kCsum | bit(feature::kHostUso));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(
      m->flags,
      TxFlags().with_offload_udp_segmentation(true).with_offload_udp_checksum(true).with_is_ipv6(
          true));
  EXPECT_EQ(m->l3_len, 40);
  EXPECT_EQ(m->max_segment_size, 1452);
}

TEST(TxOffloads, EcnWithHostEcn) {
  auto m = offloads(gso_hdr(kGsoTcpv4 | kGsoEcn, 1448, 34, 16), tcp4(5000),
                    kCsum | bit(feature::kHostTso4) | bit(feature::kHostEcn));
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->flags.offload_tcp_segmentation());
  auto m6 = offloads(gso_hdr(kGsoTcpv6 | kGsoEcn, 1448, 54, 16), tcp6(5000),
                     kCsum | bit(feature::kHostTso6) | bit(feature::kHostEcn));
  ASSERT_TRUE(m6.has_value());
  EXPECT_TRUE(m6->flags.offload_tcp_segmentation());
}

TEST(TxOffloads, EcnWithoutHostEcn) {
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4 | kGsoEcn, 1448, 34, 16), tcp4(5000),
                          kCsum | bit(feature::kHostTso4)),
            HeaderError::kGsoEcnNotNegotiated);
}

TEST(TxOffloads, VlanTaggedFrame) {
  auto f = FrameBuilder().eth(0x0800, {0x8100}).ipv4(kTcp).tcp().payload(50).build();
  auto m = offloads(csum_hdr(38, 16), f, kCsum);
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->flags.offload_tcp_checksum());
  EXPECT_TRUE(m->flags.is_ipv4());
  EXPECT_EQ(m->l2_len, 18);
  EXPECT_EQ(m->transport_header_offset, 38);
}

TEST(TxOffloads, VlanTaggedIpv6Tso) {
  auto f = FrameBuilder().eth(0x86dd, {0x8100}).ipv6(kTcp).tcp().payload(5000).build();
  auto m = offloads(gso_hdr(kGsoTcpv6, 1400, 58, 16), f, kAllHost);
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->flags.offload_tcp_segmentation());
  EXPECT_EQ(m->l2_len, 18);
  EXPECT_EQ(m->transport_header_offset, 58);
}

TEST(TxOffloads, DoubleTaggedFrame) {
  auto f = FrameBuilder().eth(0x86dd, {0x88a8, 0x8100}).ipv6(kUdp).udp().payload(50).build();
  auto m = offloads(csum_hdr(62, 6), f, kCsum);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->flags, TxFlags().with_offload_udp_checksum(true).with_is_ipv6(true));
  EXPECT_EQ(m->l2_len, 22);
  EXPECT_EQ(m->l3_len, 40);
  EXPECT_EQ(m->transport_header_offset, 62);
}

TEST(TxOffloads, Ipv4Options) {
  auto f = FrameBuilder().eth(0x0800).ipv4(kTcp, 40).tcp().payload(3000).build();
  auto m = offloads(gso_hdr(kGsoTcpv4, 1000, 74, 16), f, kAllHost);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->l3_len, 60);
  EXPECT_EQ(m->transport_header_offset, 74);
  EXPECT_TRUE(m->flags.offload_ip_header_checksum());
}

TEST(TxOffloads, Ipv6ExtensionHeaders) {
  auto f = FrameBuilder()
               .eth(0x86dd)
               .ipv6(kHopByHop)
               .ipv6_ext(kDestOpts, 8)
               .ipv6_ext(kUdp, 16)
               .udp()
               .payload(100)
               .build();
  auto m = offloads(csum_hdr(14 + 64, 6), f, kCsum);
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->flags.offload_udp_checksum());
  EXPECT_EQ(m->l3_len, 64);
  EXPECT_EQ(m->transport_header_offset, 78);
  // csum_start at the end of the fixed header (ignoring the extensions) is not the UDP header.
  EXPECT_EQ(offload_error(csum_hdr(54, 6), f, kCsum), HeaderError::kCsumNotTcpOrUdp);
}

TEST(TxOffloads, HdrLenIsOnlyAHintWithoutGuestHdrlen) {
  auto m = offloads(gso_hdr(kGsoTcpv4, 1448, 34, 16, 9999), tcp4(5000), kAllHost);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->l4_len, 20) << "lengths come from the frame, not from hdr_len";
}

TEST(TxOffloads, ExactHdrLenWithGuestHdrlen) {
  auto m = offloads(gso_hdr(kGsoTcpv4, 1448, 34, 16, 54), tcp4(5000),
                    kAllHost | bit(feature::kGuestHdrlen));
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->flags.offload_tcp_segmentation());
}

TEST(TxOffloads, PrefixPastFrameLenIsIgnored) {
  // The caller's prefix may be longer than the frame; bytes past frame_len do not count.
  auto f = tcp4(0);
  auto m = parse_tx_offloads(csum_hdr(34, 16), f, 54, kCsum);
  ASSERT_TRUE(m.has_value());
  auto cut = parse_tx_offloads(csum_hdr(34, 16), f, 53, kCsum);
  ASSERT_FALSE(cut.has_value());
  EXPECT_EQ(cut.error(), HeaderError::kFrameTooShort);
}

// ---------------------------------------------------------------------------------------------
// parse_tx_offloads: one test per bad input

TEST(TxOffloadErrors, FrameTooShort) {
  auto f = tcp4(0);
  std::span<const uint8_t> prefix(f);
  auto r = parse_tx_offloads(csum_hdr(34, 16), prefix.first(40), 1000, kCsum);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), HeaderError::kFrameTooShort);
}

TEST(TxOffloadErrors, BadIpv4Header) {
  auto f = tcp4();
  f[14] = 0x43;
  EXPECT_EQ(offload_error(csum_hdr(34, 16), f, kCsum), HeaderError::kBadIpv4Header);
}

TEST(TxOffloadErrors, BadIpv6Header) {
  auto f = tcp6();
  f[14] = 0x00;
  EXPECT_EQ(offload_error(csum_hdr(54, 16), f, kCsum), HeaderError::kBadIpv6Header);
}

TEST(TxOffloadErrors, BadTcpHeader) {
  auto f = tcp4();
  f[34 + 12] = 0x10;
  EXPECT_EQ(offload_error(csum_hdr(34, 16), f, kCsum), HeaderError::kBadTcpHeader);
}

TEST(TxOffloadErrors, CsumNotNegotiated) {
  EXPECT_EQ(offload_error(csum_hdr(34, 16), tcp4(), 0), HeaderError::kCsumNotNegotiated);
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4, 1448, 34, 16), tcp4(5000), bit(feature::kHostTso4)),
            HeaderError::kCsumNotNegotiated);
}

TEST(TxOffloadErrors, CsumOffsetsPastPacket) {
  auto f = tcp4(0);  // 54 bytes: the TCP checksum field is bytes 50..51
  EXPECT_EQ(offload_error(csum_hdr(34, 19), f, kCsum), HeaderError::kCsumOffsetsPastPacket);
  EXPECT_EQ(offload_error(csum_hdr(0xffff, 0xffff), f, kCsum), HeaderError::kCsumOffsetsPastPacket);
  EXPECT_TRUE(offloads(csum_hdr(34, 16), f, kCsum).has_value());  // 34 + 16 + 2 <= 54
}

TEST(TxOffloadErrors, CsumNotTcpOrUdp) {
  EXPECT_EQ(offload_error(csum_hdr(35, 16), tcp4(), kCsum), HeaderError::kCsumNotTcpOrUdp);
  EXPECT_EQ(offload_error(csum_hdr(34, 6), tcp4(), kCsum), HeaderError::kCsumNotTcpOrUdp);
  EXPECT_EQ(offload_error(csum_hdr(34, 16), udp4(), kCsum), HeaderError::kCsumNotTcpOrUdp);
  EXPECT_EQ(offload_error(csum_hdr(14, 10), tcp4(), kCsum), HeaderError::kCsumNotTcpOrUdp)
      << "an IPv4 header checksum is not an L4 checksum";
  auto icmp = FrameBuilder().eth(0x0800).ipv4(kIcmp).payload(64).build();
  EXPECT_EQ(offload_error(csum_hdr(34, 2), icmp, kCsum), HeaderError::kCsumNotTcpOrUdp);
  auto arp = FrameBuilder().eth(0x0806).payload(64).build();
  EXPECT_EQ(offload_error(csum_hdr(14, 16), arp, kCsum), HeaderError::kCsumNotTcpOrUdp);
  auto fragment = FrameBuilder().eth(0x0800).ipv4(kUdp, 0, 0x2000).udp().payload(64).build();
  EXPECT_EQ(offload_error(csum_hdr(34, 6), fragment, kCsum), HeaderError::kCsumNotTcpOrUdp);
}

TEST(TxOffloadErrors, GsoUnknownType) {
  for (uint8_t type : {uint8_t{kGsoUdp}, uint8_t{2}, uint8_t{6}, uint8_t{0x7f}, uint8_t{kGsoEcn},
                       uint8_t{kGsoUdp | kGsoEcn}, uint8_t{kGsoUdpL4 | kGsoEcn}}) {
    EXPECT_EQ(
        offload_error(gso_hdr(type, 1400, 34, 6), udp4(5000), kAllHost | bit(feature::kHostUfo)),
        HeaderError::kGsoUnknownType)
        << int{type};
  }
}

TEST(TxOffloadErrors, GsoNotNegotiated) {
  const uint64_t all_but = kAllHost;
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4, 1448, 34, 16), tcp4(5000),
                          all_but & ~bit(feature::kHostTso4)),
            HeaderError::kGsoNotNegotiated);
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv6, 1448, 54, 16), tcp6(5000),
                          all_but & ~bit(feature::kHostTso6)),
            HeaderError::kGsoNotNegotiated);
  EXPECT_EQ(
      offload_error(gso_hdr(kGsoUdpL4, 1448, 34, 6), udp4(5000), all_but & ~bit(feature::kHostUso)),
      HeaderError::kGsoNotNegotiated);
}

TEST(TxOffloadErrors, GsoEcnNotNegotiated) {
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv6 | kGsoEcn, 1448, 54, 16), tcp6(5000),
                          kAllHost & ~bit(feature::kHostEcn)),
            HeaderError::kGsoEcnNotNegotiated);
}

TEST(TxOffloadErrors, GsoWithoutNeedsCsum) {
  VirtioNetHdr h = gso_hdr(kGsoTcpv4, 1448, 34, 16);
  h.flags = 0;
  EXPECT_EQ(offload_error(h, tcp4(5000), kAllHost), HeaderError::kGsoWithoutNeedsCsum);
}

TEST(TxOffloadErrors, GsoSizeZero) {
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4, 0, 34, 16), tcp4(5000), kAllHost),
            HeaderError::kGsoSizeZero);
  EXPECT_EQ(offload_error(gso_hdr(kGsoUdpL4, 0, 54, 6), udp6(5000), kAllHost),
            HeaderError::kGsoSizeZero);
}

// gso_size 1 would turn a 64 KB frame into 65,000 segments. TCP segmentation needs gso_size >=
// Linux's TCP_MIN_MSS (88), for IPv4 and IPv6 alike, whatever the frame's length.
TEST(TxOffloadErrors, TcpGsoSizeBelowTheMinimumMss) {
  for (uint16_t size : {uint16_t{1}, uint16_t{87}}) {
    SCOPED_TRACE(size);
    EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4, size, 34, 16), tcp4(60000), kAllHost),
              HeaderError::kGsoSizeTooSmall);
    EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv6, size, 54, 16), tcp6(60000), kAllHost),
              HeaderError::kGsoSizeTooSmall);
    EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4 | kGsoEcn, size, 34, 16), tcp4(50), kAllHost),
              HeaderError::kGsoSizeTooSmall);
  }
  EXPECT_EQ(kMinTcpGsoSize, 88);
  auto m4 = offloads(gso_hdr(kGsoTcpv4, 88, 34, 16), tcp4(60000), kAllHost);
  ASSERT_TRUE(m4.has_value()) << to_string(m4.error());
  EXPECT_EQ(m4->max_segment_size, 88);
  auto m6 = offloads(gso_hdr(kGsoTcpv6, 88, 54, 16), tcp6(60000), kAllHost);
  ASSERT_TRUE(m6.has_value()) << to_string(m6.error());
  EXPECT_EQ(m6->max_segment_size, 88);
  // gso_size 0 keeps its own kind.
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4, 0, 34, 16), tcp4(5000), kAllHost),
            HeaderError::kGsoSizeZero);
}

// UDP segmentation is bounded as Linux bounds it: a payload that needs more than 128
// (UDP_MAX_SEGMENTS) segments of gso_size bytes is refused; 128 is fine.
TEST(TxOffloadErrors, UdpGsoNeedingMoreThan128Segments) {
  EXPECT_EQ(kMaxUdpGsoSegments, 128u);
  for (uint16_t size : {uint16_t{1}, uint16_t{8}, uint16_t{87}, uint16_t{1472}}) {
    SCOPED_TRACE(size);
    const size_t edge = size_t{128} * size;
    auto ok4 = offloads(gso_hdr(kGsoUdpL4, size, 34, 6), udp4(edge), kAllHost);
    ASSERT_TRUE(ok4.has_value()) << to_string(ok4.error());
    EXPECT_EQ(ok4->max_segment_size, size);
    EXPECT_EQ(offload_error(gso_hdr(kGsoUdpL4, size, 34, 6), udp4(edge + 1), kAllHost),
              HeaderError::kGsoTooManySegments);
    auto ok6 = offloads(gso_hdr(kGsoUdpL4, size, 54, 6), udp6(edge), kAllHost);
    ASSERT_TRUE(ok6.has_value()) << to_string(ok6.error());
    EXPECT_EQ(offload_error(gso_hdr(kGsoUdpL4, size, 54, 6), udp6(edge + 1), kAllHost),
              HeaderError::kGsoTooManySegments);
  }
  // A 60 KB datagram in 1-byte segments: 60,000 of them.
  EXPECT_EQ(offload_error(gso_hdr(kGsoUdpL4, 1, 34, 6), udp4(60000), kAllHost),
            HeaderError::kGsoTooManySegments);
  // The payload is what follows the UDP header, wherever the IP header ends.
  auto opts = FrameBuilder().eth(0x0800, {0x8100}).ipv4(kUdp, 40).udp().payload(128 * 10).build();
  EXPECT_TRUE(offloads(gso_hdr(kGsoUdpL4, 10, 78, 6), opts, kAllHost).has_value());
  opts.push_back(0);
  EXPECT_EQ(offload_error(gso_hdr(kGsoUdpL4, 10, 78, 6), opts, kAllHost),
            HeaderError::kGsoTooManySegments);
}

TEST(TxOffloadErrors, GsoWithoutHeaders) {
  auto arp = FrameBuilder().eth(0x0806).payload(100).build();
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4, 1448, 34, 16), arp, kAllHost),
            HeaderError::kGsoWithoutHeaders);
  auto esp = FrameBuilder().eth(0x86dd).ipv6(kEsp).payload(100).build();
  EXPECT_EQ(offload_error(gso_hdr(kGsoUdpL4, 1448, 54, 6), esp, kAllHost),
            HeaderError::kGsoWithoutHeaders);
  auto fragment = FrameBuilder().eth(0x0800).ipv4(kTcp, 0, 0x0001).tcp().payload(100).build();
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4, 1448, 34, 16), fragment, kAllHost),
            HeaderError::kGsoWithoutHeaders);
}

TEST(TxOffloadErrors, GsoProtocolMismatch) {
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4, 1448, 54, 16), tcp6(5000), kAllHost),
            HeaderError::kGsoProtocolMismatch);
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv6, 1448, 34, 16), tcp4(5000), kAllHost),
            HeaderError::kGsoProtocolMismatch);
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4, 1448, 34, 6), udp4(5000), kAllHost),
            HeaderError::kGsoProtocolMismatch);
  EXPECT_EQ(offload_error(gso_hdr(kGsoUdpL4, 1448, 34, 16), tcp4(5000), kAllHost),
            HeaderError::kGsoProtocolMismatch);
}

TEST(TxOffloadErrors, GsoHdrLenMismatch) {
  const uint64_t f = kAllHost | bit(feature::kGuestHdrlen);
  EXPECT_EQ(offload_error(gso_hdr(kGsoTcpv4, 1448, 34, 16, 66), tcp4(5000), f),
            HeaderError::kGsoHdrLenMismatch);
  EXPECT_EQ(offload_error(gso_hdr(kGsoUdpL4, 1448, 54, 6, 0), udp6(5000), f),
            HeaderError::kGsoHdrLenMismatch);
}

TEST(HeaderError, EveryValueHasItsOwnName) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kHeaderErrorCount; ++i) {
    std::string_view name = to_string(static_cast<HeaderError>(i));
    EXPECT_NE(name, "unknown header error") << i;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), kHeaderErrorCount);
  EXPECT_EQ(to_string(static_cast<HeaderError>(kHeaderErrorCount)), "unknown header error");
  EXPECT_EQ(static_cast<size_t>(HeaderError::kRxGsoChecksumInvalid) + 1, kHeaderErrorCount);
  std::set<std::string_view> keys;
  for (size_t i = 0; i < kHeaderErrorCount; ++i) {
    std::string_view key = to_key(static_cast<HeaderError>(i));
    EXPECT_NE(key, "unknown") << i;
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), kHeaderErrorCount);
  EXPECT_EQ(to_key(HeaderError::kGsoSizeTooSmall), "gso_size_too_small");
  EXPECT_EQ(to_key(HeaderError::kGsoTooManySegments), "gso_too_many_segments");
}

// ---------------------------------------------------------------------------------------------
// make_rx_header

RxMetadata rx(RxChecksumState ip, RxChecksumState l4, size_t len = 100) {
  RxMetadata m;
  m.len = len;
  m.ip_checksum = ip;
  m.l4_checksum = l4;
  m.l4_protocol = L4Protocol::Tcp;
  return m;
}

// A coalesced frame: headers of the given shape plus `segments` full segments of 1448 bytes.
RxMetadata coalesced(L3Protocol l3, L4Protocol l4, size_t segments = 4) {
  RxMetadata m;
  m.ip_checksum = RxChecksumState::Good;
  m.l4_checksum = RxChecksumState::ValidatedButWrong;
  m.l3_protocol = l3;
  m.l4_protocol = l4;
  m.l2_len = 14;
  m.l3_len = l3 == L3Protocol::Ipv4 ? 20 : 40;
  m.l4_len = l4 == L4Protocol::Tcp ? 32 : 8;
  m.gso_size = 1448;
  m.len = m.l2_len + m.l3_len + m.l4_len + segments * m.gso_size;
  return m;
}

TEST(RxHeader, DataValidWhenBothChecksumsGood) {
  auto h = make_rx_header(rx(RxChecksumState::Good, RxChecksumState::Good), kGuestCsum, 1);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->flags, kHdrFDataValid);
  EXPECT_EQ(h->gso_type, kGsoNone);
  EXPECT_EQ(h->gso_size, 0);
  EXPECT_EQ(h->hdr_len, 0);
  EXPECT_EQ(h->csum_start, 0);
  EXPECT_EQ(h->csum_offset, 0);
}

TEST(RxHeader, ValidatedButWrongCountsAsValid) {
  auto h = make_rx_header(
      rx(RxChecksumState::ValidatedButWrong, RxChecksumState::ValidatedButWrong), kGuestCsum, 1);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->flags, kHdrFDataValid);
}

TEST(RxHeader, NoDataValidUnlessBothValid) {
  using S = RxChecksumState;
  for (auto [ip, l4] :
       {std::pair{S::Unknown, S::Good}, std::pair{S::Good, S::Unknown}, std::pair{S::Bad, S::Good},
        std::pair{S::Good, S::Bad}, std::pair{S::Unknown, S::Unknown}}) {
    auto h = make_rx_header(rx(ip, l4), kAllGuest, 1);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->flags, 0) << int(ip) << " " << int(l4);
  }
}

TEST(RxHeader, NoDataValidWithoutGuestCsum) {
  auto h =
      make_rx_header(rx(RxChecksumState::Good, RxChecksumState::Good), kAllGuest & ~kGuestCsum, 1);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->flags, 0);
}

TEST(RxHeader, NumBuffersAsGiven) {
  for (uint16_t n : {uint16_t{1}, uint16_t{3}, uint16_t{0xffff}}) {
    auto h = make_rx_header(rx(RxChecksumState::Good, RxChecksumState::Good), kAllGuest, n);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->num_buffers, n);
  }
  auto g = make_rx_header(coalesced(L3Protocol::Ipv4, L4Protocol::Tcp), kAllGuest, 7);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->num_buffers, 7);
}

TEST(RxHeader, GsoTso4) {
  auto h = make_rx_header(coalesced(L3Protocol::Ipv4, L4Protocol::Tcp), kAllGuest, 2);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->flags, kHdrFNeedsCsum | kHdrFDataValid);
  EXPECT_EQ(h->gso_type, kGsoTcpv4);
  EXPECT_EQ(h->gso_size, 1448);
  EXPECT_EQ(h->hdr_len, 14 + 20 + 32);
  EXPECT_EQ(h->csum_start, 34);
  EXPECT_EQ(h->csum_offset, 16);
}

TEST(RxHeader, GsoTso6) {
  auto h = make_rx_header(coalesced(L3Protocol::Ipv6, L4Protocol::Tcp), kAllGuest, 1);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->gso_type, kGsoTcpv6);
  EXPECT_EQ(h->hdr_len, 14 + 40 + 32);
  EXPECT_EQ(h->csum_start, 54);
  EXPECT_EQ(h->csum_offset, 16);
  EXPECT_TRUE(h->flags & kHdrFNeedsCsum);
}

TEST(RxHeader, GsoUso4AndUso6) {
  auto h4 = make_rx_header(coalesced(L3Protocol::Ipv4, L4Protocol::Udp), kAllGuest, 1);
  ASSERT_TRUE(h4.has_value());
  EXPECT_EQ(h4->gso_type, kGsoUdpL4);
  EXPECT_EQ(h4->hdr_len, 14 + 20 + 8);
  EXPECT_EQ(h4->csum_start, 34);
  EXPECT_EQ(h4->csum_offset, 6);
  auto m6 = coalesced(L3Protocol::Ipv6, L4Protocol::Udp);
  m6.l4_len = 0;  // UDP's header length may be left out
  auto h6 = make_rx_header(m6, kAllGuest, 1);
  ASSERT_TRUE(h6.has_value());
  EXPECT_EQ(h6->gso_type, kGsoUdpL4);
  EXPECT_EQ(h6->hdr_len, 14 + 40 + 8);
  EXPECT_EQ(h6->csum_offset, 6);
}

TEST(RxHeader, GsoNeedsItsOwnFeature) {
  struct Case {
    L3Protocol l3;
    L4Protocol l4;
    unsigned feature_bit;
  };
  for (Case c : {Case{L3Protocol::Ipv4, L4Protocol::Tcp, feature::kGuestTso4},
                 Case{L3Protocol::Ipv6, L4Protocol::Tcp, feature::kGuestTso6},
                 Case{L3Protocol::Ipv4, L4Protocol::Udp, feature::kGuestUso4},
                 Case{L3Protocol::Ipv6, L4Protocol::Udp, feature::kGuestUso6}}) {
    auto m = coalesced(c.l3, c.l4);
    auto only = make_rx_header(m, kGuestCsum | bit(c.feature_bit), 1);
    EXPECT_TRUE(only.has_value()) << c.feature_bit;
    auto without = make_rx_header(m, kAllGuest & ~bit(c.feature_bit), 1);
    ASSERT_FALSE(without.has_value()) << c.feature_bit;
    EXPECT_EQ(without.error(), HeaderError::kRxGsoNotNegotiated);
  }
}

TEST(RxHeader, GsoNeedsGuestCsum) {
  auto h = make_rx_header(coalesced(L3Protocol::Ipv4, L4Protocol::Tcp), kAllGuest & ~kGuestCsum, 1);
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.error(), HeaderError::kRxGsoNotNegotiated);
}

TEST(RxHeader, SingleSegmentCoalescedFrameIsPlain) {
  auto m = coalesced(L3Protocol::Ipv4, L4Protocol::Tcp, 1);  // payload == gso_size
  auto h = make_rx_header(m, kGuestCsum, 1);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->gso_type, kGsoNone);
  EXPECT_EQ(h->gso_size, 0);
  EXPECT_EQ(h->flags, kHdrFDataValid);
  ++m.len;  // one byte more needs two segments
  auto h2 = make_rx_header(m, kGuestCsum, 1);
  ASSERT_FALSE(h2.has_value());
  EXPECT_EQ(h2.error(), HeaderError::kRxGsoNotNegotiated);
}

TEST(RxHeader, GsoBadMetadata) {
  std::vector<RxMetadata> bad;
  auto base = coalesced(L3Protocol::Ipv4, L4Protocol::Tcp);
  bad.push_back(base);
  bad.back().l3_protocol = L3Protocol::Unknown;
  bad.push_back(base);
  bad.back().l4_protocol = L4Protocol::Unknown;
  bad.push_back(base);
  bad.back().l4_len = 19;
  bad.push_back(base);
  bad.back().l4_len = 64;
  bad.push_back(base);
  bad.back().l2_len = 13;
  bad.push_back(base);
  bad.back().l3_len = 19;
  bad.push_back(base);
  bad.back().l3_len = 64;  // IPv4 headers stop at 60
  bad.push_back(base);
  bad.back().len = 14 + 20 + 31;  // shorter than its headers
  bad.push_back(coalesced(L3Protocol::Ipv6, L4Protocol::Tcp));
  bad.back().l3_len = 0xffff;  // hdr_len would not fit in 16 bits
  bad.back().len = 0x20000;
  auto udp = coalesced(L3Protocol::Ipv6, L4Protocol::Udp);
  bad.push_back(udp);
  bad.back().l4_len = 20;
  bad.push_back(udp);
  bad.back().l3_len = 39;
  for (size_t i = 0; i < bad.size(); ++i) {
    auto h = make_rx_header(bad[i], kAllGuest, 1);
    ASSERT_FALSE(h.has_value()) << i;
    EXPECT_EQ(h.error(), HeaderError::kRxGsoBadMetadata) << i;
  }
}

TEST(RxHeader, GsoChecksumInvalid) {
  using S = RxChecksumState;
  for (auto [ip, l4] : {std::pair{S::Unknown, S::Good}, std::pair{S::Good, S::Bad},
                        std::pair{S::Good, S::Unknown}}) {
    auto m = coalesced(L3Protocol::Ipv4, L4Protocol::Tcp);
    m.ip_checksum = ip;
    m.l4_checksum = l4;
    auto h = make_rx_header(m, kAllGuest, 1);
    ASSERT_FALSE(h.has_value());
    EXPECT_EQ(h.error(), HeaderError::kRxGsoChecksumInvalid);
  }
}

}  // namespace
}  // namespace pmdnet::virtio
