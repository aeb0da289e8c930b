// Tests of core/offload/checksum: RFC 1071 known answers, the fast sum against the RFC's reference
// loop at every length and alignment, RFC 1624 incremental updates against recomputation, and the
// pseudo-header sums against sums over explicitly assembled pseudo-headers.
#include "core/offload/checksum.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "tests/unit/core/offload/test_frames.h"

namespace pmdnet::offload {
namespace {

using testing::naive_sum;

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 3: "byte-by-byte ... 00 01 f2 03 f4 f5 f6 f7" sums to ddf2 (end-around carry
  // included); the checksum is its complement.
  const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(ones_sum(d), 0xddf2);
  EXPECT_EQ(ones_sum_reference(d), 0xddf2);
  EXPECT_EQ(internet_checksum(d), 0x220d);
}

TEST(Checksum, KnownIpv4Header) {
  // A widely reproduced IPv4 header (192.168.0.1 -> 192.168.0.199, UDP, total length 0x73)
  // whose checksum is b861.
  uint8_t h[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(ipv4_header_checksum(h), 0xb861);
  // A stale value in the field is ignored.
  h[10] = 0x12;
  h[11] = 0x34;
  EXPECT_EQ(ipv4_header_checksum(h), 0xb861);
  // With the checksum in place the header verifies: its checksum is 0.
  h[10] = 0xb8;
  h[11] = 0x61;
  EXPECT_EQ(internet_checksum(h), 0);
}

TEST(Checksum, EmptyAndOddLengths) {
  EXPECT_EQ(ones_sum({}), 0);
  EXPECT_EQ(ones_sum({}, 0x1234), 0x1234);
  const uint8_t one[] = {0xab};
  EXPECT_EQ(ones_sum(one), 0xab00);  // padded with a zero octet
  const uint8_t three[] = {0x01, 0x02, 0x03};
  EXPECT_EQ(ones_sum(three), 0x0102 + 0x0300);
  const std::vector<uint8_t> ff(1001, 0xff);
  EXPECT_EQ(ones_sum(ff), ones_sum_reference(ff));
}

TEST(Checksum, FastMatchesReferenceAtEveryLengthAndAlignment) {
  const auto data = random_bytes(4096 + 64, 7);
  for (size_t align = 0; align < 16; ++align) {
    for (size_t len = 0; len <= 600; ++len) {
      std::span<const uint8_t> s(data.data() + align, len);
      ASSERT_EQ(ones_sum(s), ones_sum_reference(s)) << "align " << align << " len " << len;
      ASSERT_EQ(ones_sum(s), naive_sum(s));
      ASSERT_EQ(ones_sum(s, 0xfedc), ones_sum_reference(s, 0xfedc));
    }
  }
  for (size_t len : {1447u, 1448u, 1500u, 4096u, 4097u}) {
    std::span<const uint8_t> s(data.data() + 3, len);
    ASSERT_EQ(ones_sum(s), ones_sum_reference(s)) << len;
  }
}

TEST(Checksum, FastMatchesReferenceOnLargeAndExtremeBuffers) {
  const auto big = random_bytes(65536 + 7, 11);
  EXPECT_EQ(ones_sum(big), ones_sum_reference(big));
  // All ones: maximal carries in every accumulator.
  const std::vector<uint8_t> ones(1 << 20, 0xff);
  EXPECT_EQ(ones_sum(ones), 0xffff);
  EXPECT_EQ(ones_sum(ones), ones_sum_reference(ones));
  const std::vector<uint8_t> zeros(999, 0);
  EXPECT_EQ(ones_sum(zeros), 0);
}

TEST(Checksum, SplitSumsCombine) {
  // Summing pieces that start at even offsets and adding them equals summing the whole.
  const auto d = random_bytes(3001, 5);
  for (size_t cut = 0; cut <= d.size(); cut += 2) {
    std::span<const uint8_t> all(d);
    ASSERT_EQ(ones_sum(all.subspan(cut), ones_sum(all.first(cut))), ones_sum(all)) << cut;
  }
}

TEST(Checksum, Rfc1624IncrementalUpdate) {
  // RFC 1624 3's example: HC = 0xdd2f, a word m = 0x5555 becomes m' = 0x3285; eqn. 3 gives
  // ~(0x22d0 + 0xaaaa + 0x3285) = ~0xffff = 0x0000 (where eqn. 2 would give -0, 0xffff).
  EXPECT_EQ(checksum_update16(0xdd2f, 0x5555, 0x3285), 0x0000);
  std::mt19937 rng(3);
  for (int iter = 0; iter < 20000; ++iter) {
    auto d = random_bytes(40, static_cast<uint32_t>(iter));
    d[10] = d[11] = 0;
    const uint16_t before = internet_checksum(d);
    const size_t w = (rng() % 20) * 2;
    if (w == 10) continue;
    const uint16_t old_word = static_cast<uint16_t>((d[w] << 8) | d[w + 1]);
    const uint16_t new_word = static_cast<uint16_t>(rng());
    d[w] = static_cast<uint8_t>(new_word >> 8);
    d[w + 1] = static_cast<uint8_t>(new_word);
    const uint16_t updated = checksum_update16(before, old_word, new_word);
    // Eqn. 3 gives exactly the recomputed checksum (never the -0 of eqn. 2), except that both
    // 0x0000 and 0xffff are then valid representations of a zero sum.
    const uint16_t recomputed = internet_checksum(d);
    ASSERT_TRUE(updated == recomputed || (updated ^ recomputed) == 0xffff) << iter;
    d[10] = static_cast<uint8_t>(updated >> 8);
    d[11] = static_cast<uint8_t>(updated);
    ASSERT_EQ(ones_sum(d), 0xffff) << iter;  // verifies
  }
  // 32-bit fields (sequence numbers, addresses).
  for (int iter = 0; iter < 2000; ++iter) {
    auto d = random_bytes(24, static_cast<uint32_t>(iter) + 100000);
    d[16] = d[17] = 0;
    const uint16_t before = internet_checksum(d);
    const uint32_t old_value = testing::get32(d, 4);
    const uint32_t new_value = old_value + 1448u * static_cast<uint32_t>(iter);
    testing::put32(d, 4, new_value);
    const uint16_t updated = checksum_update32(before, old_value, new_value);
    d[16] = static_cast<uint8_t>(updated >> 8);
    d[17] = static_cast<uint8_t>(updated);
    ASSERT_EQ(ones_sum(d), 0xffff) << iter;
  }
}

TEST(Checksum, PseudoHeaders) {
  const uint8_t src4[4] = {192, 168, 1, 2}, dst4[4] = {10, 20, 30, 40};
  const uint8_t ph4[12] = {192, 168, 1, 2, 10, 20, 30, 40, 0, 6, 0x05, 0xdc};
  EXPECT_EQ(ipv4_pseudo_header_sum(src4, dst4, 6, 1500), naive_sum(ph4));
  uint8_t src6[16], dst6[16];
  for (int i = 0; i < 16; ++i) {
    src6[i] = static_cast<uint8_t>(0x20 + i * 17);
    dst6[i] = static_cast<uint8_t>(0xff - i * 3);
  }
  std::vector<uint8_t> ph6(src6, src6 + 16);
  ph6.insert(ph6.end(), dst6, dst6 + 16);
  ph6.insert(ph6.end(), {0x00, 0x01, 0x23, 0x45, 0, 0, 0, 17});
  EXPECT_EQ(ipv6_pseudo_header_sum(src6, dst6, 17, 0x12345), naive_sum(ph6));
}

TEST(Checksum, UdpZeroIsTransmittedAsAllOnes) {
  // A sum of 0xffff complements to 0: TCP sends 0, UDP sends 0xffff (RFC 768).
  EXPECT_EQ(tcp_checksum(0xfffe, 0x0001), 0x0000);
  EXPECT_EQ(udp_checksum(0xfffe, 0x0001), 0xffff);
  EXPECT_EQ(udp_checksum(0x1234, 0x0000), static_cast<uint16_t>(~0x1234));
}

}  // namespace
}  // namespace pmdnet::offload
