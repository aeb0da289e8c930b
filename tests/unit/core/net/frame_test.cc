// Tests of core/net/frame: the bounded Ethernet/VLAN/IPv4/IPv6/TCP/UDP header parser and
// FrameError's names.
#include "core/net/frame.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>
#include <vector>

#include "tests/unit/core/net/frame_builder.h"

namespace pmdnet::net {
namespace {

using namespace testing;

TEST(ParseFrameHeaders, Ipv4Tcp) {
  auto f = tcp4();
  auto h = parse_frame_headers(f);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(*h, (FrameHeaders{14, L3Protocol::Ipv4, 20, L4Protocol::Tcp, 20, 34}));
}

TEST(ParseFrameHeaders, Ipv6Udp) {
  auto f = udp6();
  auto h = parse_frame_headers(f);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(*h, (FrameHeaders{14, L3Protocol::Ipv6, 40, L4Protocol::Udp, 8, 54}));
}

TEST(ParseFrameHeaders, TcpOptionsCountInL4Len) {
  auto f = FrameBuilder().eth(0x0800).ipv4(kTcp).tcp(40).build();
  auto h = parse_frame_headers(f);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->l4_len, 60);
}

TEST(ParseFrameHeaders, UnknownEthertypeIsL2Only) {
  auto f = FrameBuilder().eth(0x0806).payload(28).build();  // ARP
  auto h = parse_frame_headers(f);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(*h, (FrameHeaders{14, L3Protocol::Unknown, 0, L4Protocol::Unknown, 0, 0}));
}

TEST(ParseFrameHeaders, ThirdVlanTagEndsParsing) {
  auto f = FrameBuilder().eth(0x8100, {0x88a8, 0x8100}).payload(4).ipv4(kTcp).tcp().build();
  auto h = parse_frame_headers(f);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->l2_len, 22);
  EXPECT_EQ(h->l3, L3Protocol::Unknown);
}

TEST(ParseFrameHeaders, UnknownIpProtocolKeepsL3) {
  auto f = FrameBuilder().eth(0x0800).ipv4(kIcmp).payload(8).build();
  auto h = parse_frame_headers(f);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(*h, (FrameHeaders{14, L3Protocol::Ipv4, 20, L4Protocol::Unknown, 0, 34}));
}

TEST(ParseFrameHeaders, Ipv4FragmentsHaveNoL4) {
  for (uint16_t fragment : {uint16_t{0x2000}, uint16_t{0x0010}}) {  // MF; offset 16 * 8
    auto f = FrameBuilder().eth(0x0800).ipv4(kUdp, 0, fragment).udp().build();
    auto h = parse_frame_headers(f);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->l3, L3Protocol::Ipv4);
    EXPECT_EQ(h->l4, L4Protocol::Unknown) << fragment;
  }
  // DF alone is not a fragment.
  auto f = FrameBuilder().eth(0x0800).ipv4(kUdp, 0, 0x4000).udp().build();
  EXPECT_EQ(parse_frame_headers(f)->l4, L4Protocol::Udp);
}

TEST(ParseFrameHeaders, Ipv6ExtensionChain) {
  auto f = FrameBuilder()
               .eth(0x86dd)
               .ipv6(kHopByHop)
               .ipv6_ext(kRouting, 8)
               .ipv6_ext(kDestOpts, 24)
               .ipv6_ext(kFragment, 16)
               .ipv6_fragment(kTcp, 0, false)  // atomic fragment: a whole packet
               .tcp()
               .build();
  auto h = parse_frame_headers(f);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(
      *h, (FrameHeaders{14, L3Protocol::Ipv6, 40 + 8 + 24 + 16 + 8, L4Protocol::Tcp, 20, 14 + 96}));
}

TEST(ParseFrameHeaders, Ipv6NonAtomicFragmentHasNoL4) {
  auto f = FrameBuilder().eth(0x86dd).ipv6(kFragment).ipv6_fragment(kUdp, 0, true).udp().build();
  auto h = parse_frame_headers(f);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->l3_len, 48);
  EXPECT_EQ(h->l4, L4Protocol::Unknown);
}

TEST(ParseFrameHeaders, Ipv6ExtensionHeadersAreBounded) {
  FrameBuilder b;
  b.eth(0x86dd).ipv6(kDestOpts);
  for (unsigned i = 0; i < kMaxIpv6ExtensionHeaders; ++i) b.ipv6_ext(kDestOpts, 8);
  b.ipv6_ext(kUdp, 8).udp();
  auto f = b.build();
  auto h = parse_frame_headers(f);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->l4, L4Protocol::Unknown);
  EXPECT_EQ(h->l3_len, 40 + 8 * kMaxIpv6ExtensionHeaders);
}

TEST(ParseFrameHeaders, Ipv6UnknownNextHeaderEndsParsing) {
  auto f = FrameBuilder().eth(0x86dd).ipv6(kEsp).payload(16).build();
  auto h = parse_frame_headers(f);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(*h, (FrameHeaders{14, L3Protocol::Ipv6, 40, L4Protocol::Unknown, 0, 54}));
}

// Every proper prefix of a frame's headers is reported as too short; each prefix lives in its own
// exactly-sized allocation, so a read past it would trip AddressSanitizer.
TEST(ParseFrameHeaders, EveryTruncationIsTooShort) {
  std::vector<std::vector<uint8_t>> frames = {
      FrameBuilder().eth(0x0800, {0x88a8, 0x8100}).ipv4(kTcp, 12).tcp(12).build(),
      FrameBuilder()
          .eth(0x86dd, {0x8100})
          .ipv6(kHopByHop)
          .ipv6_ext(kFragment, 16)
          .ipv6_fragment(kUdp, 0, false)
          .udp()
          .build(),
  };
  for (const auto& f : frames) {
    ASSERT_TRUE(parse_frame_headers(f).has_value());
    for (size_t n = 0; n < f.size(); ++n) {
      std::vector<uint8_t> cut(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(n));
      auto h = parse_frame_headers(cut);
      ASSERT_FALSE(h.has_value()) << n;
      EXPECT_EQ(h.error(), FrameError::kTooShort) << n;
    }
  }
}

TEST(ParseFrameHeaders, BadIpv4Headers) {
  auto f = tcp4();
  auto ihl4 = f;
  ihl4[14] = 0x44;
  EXPECT_EQ(parse_frame_headers(ihl4).error(), FrameError::kBadIpv4Header);
  auto version6 = f;
  version6[14] = 0x65;
  EXPECT_EQ(parse_frame_headers(version6).error(), FrameError::kBadIpv4Header);
  auto short_total = f;  // total length 19 < IHL * 4
  short_total[16] = 0;
  short_total[17] = 19;
  EXPECT_EQ(parse_frame_headers(short_total).error(), FrameError::kBadIpv4Header);
  auto no_room_for_tcp = f;  // total length 39 < 20 + 20
  no_room_for_tcp[17] = 39;
  no_room_for_tcp[16] = 0;
  EXPECT_EQ(parse_frame_headers(no_room_for_tcp).error(), FrameError::kBadIpv4Header);
}

TEST(ParseFrameHeaders, BadIpv6Header) {
  auto f = tcp6();
  f[14] = 0x45;
  EXPECT_EQ(parse_frame_headers(f).error(), FrameError::kBadIpv6Header);
}

TEST(ParseFrameHeaders, BadTcpHeader) {
  auto f = tcp4();
  f[34 + 12] = 0x40;  // data offset 4
  EXPECT_EQ(parse_frame_headers(f).error(), FrameError::kBadTcpHeader);
}

TEST(FrameError, EveryValueHasItsOwnName) {
  std::set<std::string_view> names;
  std::set<std::string_view> keys;
  for (size_t i = 0; i < kFrameErrorCount; ++i) {
    names.insert(to_string(static_cast<FrameError>(i)));
    keys.insert(to_key(static_cast<FrameError>(i)));
  }
  EXPECT_EQ(names.size(), kFrameErrorCount);
  EXPECT_EQ(keys.size(), kFrameErrorCount);
  EXPECT_EQ(static_cast<size_t>(FrameError::kBadTcpHeader) + 1, kFrameErrorCount);
  EXPECT_EQ(to_key(FrameError::kTooShort), "too_short");
  EXPECT_EQ(to_string(static_cast<FrameError>(kFrameErrorCount)), "unknown frame error");
  EXPECT_EQ(to_key(static_cast<FrameError>(kFrameErrorCount)), "unknown");
}

TEST(FrameError, MapsOntoAnotherEnumeration) {
  enum class Counted : uint8_t { kShort, kIpv4, kIpv6, kTcp };
  auto map = [](FrameError e) {
    return map_frame_error(e, Counted::kShort, Counted::kIpv4, Counted::kIpv6, Counted::kTcp);
  };
  EXPECT_EQ(map(FrameError::kTooShort), Counted::kShort);
  EXPECT_EQ(map(FrameError::kBadIpv4Header), Counted::kIpv4);
  EXPECT_EQ(map(FrameError::kBadIpv6Header), Counted::kIpv6);
  EXPECT_EQ(map(FrameError::kBadTcpHeader), Counted::kTcp);
}

// The frame as RFC 903 lays it out and as tcpdump decodes it ("Reverse Request who-is MAC tell
// MAC"): written out byte by byte, not rebuilt with the function's own constants.
TEST(RarpAnnouncement, IsTheRfc903RequestReverseForTheMac) {
  const MacAddress mac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  const std::array<uint8_t, 60> expected{
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // broadcast
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // from the MAC
      0x80, 0x35,                          // RARP
      0x00, 0x01, 0x08, 0x00, 6,    4,     // Ethernet, IPv4, address lengths
      0x00, 0x03,                          // request reverse
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // sender hardware address
      0,    0,    0,    0,                 // sender protocol address
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // target hardware address
      0,    0,    0,    0,                 // target protocol address
  };                                       // the rest: zero padding to 60 bytes
  EXPECT_EQ(rarp_announcement(mac), expected);
}

TEST(RarpAnnouncement, CarriesWhicheverMacItIsGiven) {
  const MacAddress a{0x02, 0, 0, 0, 0, 1};
  const MacAddress b{0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54};
  const auto fa = rarp_announcement(a);
  const auto fb = rarp_announcement(b);
  for (size_t at : {size_t{6}, size_t{22}, size_t{32}}) {
    EXPECT_TRUE(std::equal(a.begin(), a.end(), fa.begin() + at)) << at;
    EXPECT_TRUE(std::equal(b.begin(), b.end(), fb.begin() + at)) << at;
  }
  EXPECT_EQ(fa.size(), kMinFrameLen);
}

}  // namespace
}  // namespace pmdnet::net
