// Tests of GuestMemory: region-table validation, access at region edges, gaps and the top of the
// address space, translation into spans, dirty logging, and a randomized check against a model.
#include "core/guest_memory/guest_memory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace pmdnet {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

GuestMemory make_memory(const std::vector<GuestMemoryRegion>& regions) {
  auto m = GuestMemory::create(regions);
  if (!m) {
    ADD_FAILURE() << "GuestMemory::create: " << m.error().message;
    return GuestMemory();
  }
  return std::move(*m);
}

Errc create_error(const std::vector<GuestMemoryRegion>& regions) {
  auto m = GuestMemory::create(regions);
  if (m) {
    ADD_FAILURE() << "GuestMemory::create accepted the table";
    return Errc::kDevice;  // an Errc create never returns
  }
  return m.error().code;
}

GuestMemoryError unmapped(uint64_t gpa, uint64_t len) {
  return {GuestMemoryErrc::kUnmapped, gpa, len};
}
GuestMemoryError overflow(uint64_t gpa, uint64_t len) {
  return {GuestMemoryErrc::kOverflow, gpa, len};
}

// Records every range write_at reports.
class RecordingDirtyLog final : public DirtyLog {
 public:
  void log_write(uint64_t gpa, uint64_t len) noexcept override { writes.emplace_back(gpa, len); }
  std::vector<std::pair<uint64_t, uint64_t>> writes;
};

// ---------------------------------------------------------------------------------------------
// create()

TEST(GuestMemoryCreateTest, DefaultHasNoRegions) {
  GuestMemory mem;
  EXPECT_TRUE(mem.regions().empty());
  EXPECT_EQ(mem.dirty_log(), nullptr);
  uint8_t b = 0;
  EXPECT_EQ(mem.read_at(0, {&b, 1}).error(), unmapped(0, 1));
}

TEST(GuestMemoryCreateTest, EmptyTableIsAccepted) {
  auto mem = GuestMemory::create({});
  ASSERT_TRUE(mem.has_value());
  EXPECT_TRUE(mem->regions().empty());
  uint8_t b = 0;
  EXPECT_EQ(mem->read_at(0x1000, {&b, 1}).error(), unmapped(0x1000, 1));
  EXPECT_TRUE(mem->read_at(0x1000, {}).has_value());
  EXPECT_EQ(mem->contiguous(0, 1).error(), unmapped(0, 1));
}

TEST(GuestMemoryCreateTest, SortsRegionsByGpa) {
  std::vector<uint8_t> a(16), b(16), c(16);
  auto mem = make_memory({{0x3000, 16, c.data()}, {0x1000, 16, a.data()}, {0x2000, 16, b.data()}});
  auto r = mem.regions();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].gpa, 0x1000u);
  EXPECT_EQ(r[0].host, a.data());
  EXPECT_EQ(r[1].gpa, 0x2000u);
  EXPECT_EQ(r[1].host, b.data());
  EXPECT_EQ(r[2].gpa, 0x3000u);
  EXPECT_EQ(r[2].host, c.data());
  // Lookups go to the right buffer after sorting.
  a[0] = 1;
  b[0] = 2;
  c[0] = 3;
  for (auto [gpa, want] : {std::pair<uint64_t, uint8_t>{0x1000, 1}, {0x2000, 2}, {0x3000, 3}}) {
    uint8_t got = 0;
    ASSERT_TRUE(mem.read_at(gpa, {&got, 1}).has_value());
    EXPECT_EQ(got, want) << std::hex << gpa;
  }
}

TEST(GuestMemoryCreateTest, RefusesAnEmptyRegion) {
  std::vector<uint8_t> a(16);
  auto mem = GuestMemory::create(std::vector<GuestMemoryRegion>{{0x1000, 0, a.data()}});
  ASSERT_FALSE(mem.has_value());
  EXPECT_EQ(mem.error().code, Errc::kInvalidArgument);
  EXPECT_NE(mem.error().message.find("0x1000"), std::string::npos) << mem.error().message;
  // Also when it is not the first one.
  EXPECT_EQ(create_error({{0x0, 16, a.data()}, {0x1000, 0, a.data()}}), Errc::kInvalidArgument);
}

TEST(GuestMemoryCreateTest, RefusesANullHost) {
  std::vector<uint8_t> a(16);
  EXPECT_EQ(create_error({{0x1000, 16, nullptr}}), Errc::kInvalidArgument);
  EXPECT_EQ(create_error({{0x0, 16, a.data()}, {0x1000, 16, nullptr}}), Errc::kInvalidArgument);
}

TEST(GuestMemoryCreateTest, RefusesAGpaRangeThatWraps) {
  std::vector<uint8_t> a(32);
  EXPECT_EQ(create_error({{kMax, 2, a.data()}}), Errc::kOverflow);
  EXPECT_EQ(create_error({{kMax - 15, 17, a.data()}}), Errc::kOverflow);
  EXPECT_EQ(create_error({{1, kMax, a.data()}}), Errc::kOverflow);
}

TEST(GuestMemoryCreateTest, AcceptsARegionEndingExactlyAt2To64) {
  std::vector<uint8_t> a(16);
  auto mem = GuestMemory::create(std::vector<GuestMemoryRegion>{{kMax - 15, 16, a.data()}});
  ASSERT_TRUE(mem.has_value()) << mem.error().message;
  auto single = GuestMemory::create(std::vector<GuestMemoryRegion>{{kMax, 1, a.data()}});
  EXPECT_TRUE(single.has_value());
}

TEST(GuestMemoryCreateTest, RefusesAHostRangeThatWraps) {
  // Never dereferenced: create only does arithmetic on the address.
  auto* near_top = reinterpret_cast<uint8_t*>(std::numeric_limits<uintptr_t>::max() - 7);
  EXPECT_EQ(create_error({{0x1000, 16, near_top}}), Errc::kOverflow);
  auto* exact = reinterpret_cast<uint8_t*>(std::numeric_limits<uintptr_t>::max() - 15);
  EXPECT_TRUE(GuestMemory::create(std::vector<GuestMemoryRegion>{{0x1000, 16, exact}}).has_value());
}

TEST(GuestMemoryCreateTest, RefusesOverlappingRegions) {
  std::vector<uint8_t> a(0x100), b(0x100);
  // Partial overlap by one byte, in either order.
  EXPECT_EQ(create_error({{0x1000, 0x100, a.data()}, {0x10ff, 0x10, b.data()}}),
            Errc::kInvalidArgument);
  EXPECT_EQ(create_error({{0x10ff, 0x10, b.data()}, {0x1000, 0x100, a.data()}}),
            Errc::kInvalidArgument);
  // The same start.
  EXPECT_EQ(create_error({{0x1000, 0x10, a.data()}, {0x1000, 0x10, b.data()}}),
            Errc::kInvalidArgument);
}

TEST(GuestMemoryCreateTest, RefusesARegionInsideAnother) {
  std::vector<uint8_t> big(0x1000), small(0x10), other(0x10);
  EXPECT_EQ(create_error({{0x1000, 0x1000, big.data()}, {0x1400, 0x10, small.data()}}),
            Errc::kInvalidArgument);
  EXPECT_EQ(create_error({{0x1400, 0x10, small.data()}, {0x1000, 0x1000, big.data()}}),
            Errc::kInvalidArgument);
  // The big region overlaps two small ones, and the overlapping pair is not adjacent in the input.
  EXPECT_EQ(create_error({{0x1000, 0x1000, big.data()},
                          {0x3000, 0x10, other.data()},
                          {0x1ff0, 0x10, small.data()}}),
            Errc::kInvalidArgument);
}

TEST(GuestMemoryCreateTest, AcceptsTouchingRegions) {
  std::vector<uint8_t> a(0x100), b(0x100), c(0x100);
  auto mem = GuestMemory::create(std::vector<GuestMemoryRegion>{
      {0x1100, 0x100, b.data()}, {0x1000, 0x100, a.data()}, {0x1200, 0x100, c.data()}});
  ASSERT_TRUE(mem.has_value()) << mem.error().message;
  EXPECT_EQ(mem->regions().size(), 3u);
}

TEST(GuestMemoryCreateTest, RegionsAreCopied) {
  std::vector<uint8_t> a(16);
  std::vector<GuestMemoryRegion> table{{0x1000, 16, a.data()}};
  GuestMemory mem = make_memory(table);
  table[0].gpa = 0x9000;  // the caller's table is not referenced afterwards
  EXPECT_EQ(mem.regions()[0].gpa, 0x1000u);
}

// ---------------------------------------------------------------------------------------------
// Access. Layout:
//   A [0x1000, 0x1100)  B [0x1100, 0x1180)  gap  C [0x2000, 0x2040)
// A and B are gpa-contiguous but live in separate host buffers.

class GuestMemoryAccessTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kA = 0x1000, kASize = 0x100;
  static constexpr uint64_t kB = 0x1100, kBSize = 0x80;
  static constexpr uint64_t kC = 0x2000, kCSize = 0x40;

  void SetUp() override {
    mem_ = make_memory({{kC, kCSize, c_.data()}, {kA, kASize, a_.data()}, {kB, kBSize, b_.data()}});
    ASSERT_EQ(mem_.regions().size(), 3u);
  }

  // True if no guest buffer differs from its initial pattern.
  bool guest_untouched() const {
    return a_ == pattern(kASize, 0x10) && b_ == pattern(kBSize, 0x80) &&
           c_ == pattern(kCSize, 0xc0);
  }

  std::vector<uint8_t> a_ = pattern(kASize, 0x10);
  std::vector<uint8_t> b_ = pattern(kBSize, 0x80);
  std::vector<uint8_t> c_ = pattern(kCSize, 0xc0);
  GuestMemory mem_;
};

TEST_F(GuestMemoryAccessTest, FirstAndLastByteOfEachRegion) {
  struct Edge {
    uint64_t gpa;
    uint8_t want;
  };
  for (auto [gpa, want] :
       {Edge{kA, a_.front()}, Edge{kA + kASize - 1, a_.back()}, Edge{kB, b_.front()},
        Edge{kB + kBSize - 1, b_.back()}, Edge{kC, c_.front()}, Edge{kC + kCSize - 1, c_.back()}}) {
    uint8_t got = 0;
    ASSERT_TRUE(mem_.read_at(gpa, {&got, 1}).has_value()) << std::hex << gpa;
    EXPECT_EQ(got, want) << std::hex << gpa;
    auto span = mem_.contiguous(gpa, 1);
    ASSERT_TRUE(span.has_value());
    EXPECT_EQ(span->size(), 1u);
    EXPECT_EQ((*span)[0], want);
  }
}

TEST_F(GuestMemoryAccessTest, WholeRegion) {
  std::vector<uint8_t> dest(kCSize);
  ASSERT_TRUE(mem_.read_at(kC, dest).has_value());
  EXPECT_EQ(dest, c_);
}

TEST_F(GuestMemoryAccessTest, OnePastTheEndFails) {
  uint8_t got = 0xee;
  EXPECT_EQ(mem_.read_at(kC + kCSize, {&got, 1}).error(), unmapped(kC + kCSize, 1));
  EXPECT_EQ(got, 0xee);
  // Last byte plus one more.
  std::vector<uint8_t> two(2, 0xee);
  EXPECT_EQ(mem_.read_at(kC + kCSize - 1, two).error(), unmapped(kC + kCSize - 1, 2));
  EXPECT_EQ(two, std::vector<uint8_t>(2, 0xee));
  // The whole region plus one byte.
  std::vector<uint8_t> more(kCSize + 1, 0xee);
  EXPECT_EQ(mem_.read_at(kC, more).error(), unmapped(kC, kCSize + 1));
  EXPECT_EQ(more, std::vector<uint8_t>(kCSize + 1, 0xee));
}

TEST_F(GuestMemoryAccessTest, BeforeTheFirstRegionFails) {
  uint8_t got = 0xee;
  EXPECT_EQ(mem_.read_at(0, {&got, 1}).error(), unmapped(0, 1));
  EXPECT_EQ(mem_.read_at(kA - 1, {&got, 1}).error(), unmapped(kA - 1, 1));
  EXPECT_EQ(got, 0xee);
  // Starts just before A and ends inside it.
  std::vector<uint8_t> dest(8, 0xee);
  EXPECT_EQ(mem_.read_at(kA - 1, dest).error(), unmapped(kA - 1, 8));
  EXPECT_EQ(dest, std::vector<uint8_t>(8, 0xee));
  std::vector<uint8_t> src(8, 0x55);
  EXPECT_EQ(mem_.write_at(kA - 1, src).error(), unmapped(kA - 1, 8));
  EXPECT_TRUE(guest_untouched());
}

TEST_F(GuestMemoryAccessTest, ReadAcrossAdjacentRegionsTakesBytesFromBothBuffersInOrder) {
  std::vector<uint8_t> dest(8);
  ASSERT_TRUE(mem_.read_at(kB - 4, dest).has_value());
  std::vector<uint8_t> want(a_.end() - 4, a_.end());
  want.insert(want.end(), b_.begin(), b_.begin() + 4);
  EXPECT_EQ(dest, want);

  // All of A and all of B in one read.
  std::vector<uint8_t> all(kASize + kBSize);
  ASSERT_TRUE(mem_.read_at(kA, all).has_value());
  std::vector<uint8_t> both = a_;
  both.insert(both.end(), b_.begin(), b_.end());
  EXPECT_EQ(all, both);
}

TEST_F(GuestMemoryAccessTest, WriteAcrossAdjacentRegionsLandsInBothBuffersInOrder) {
  std::vector<uint8_t> src = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE(mem_.write_at(kB - 3, src).has_value());
  EXPECT_EQ(a_[kASize - 3], 1);
  EXPECT_EQ(a_[kASize - 2], 2);
  EXPECT_EQ(a_[kASize - 1], 3);
  EXPECT_EQ(b_[0], 4);
  EXPECT_EQ(b_[4], 8);
  EXPECT_EQ(b_[5], pattern(kBSize, 0x80)[5]);  // no further
  EXPECT_EQ(a_[kASize - 4], pattern(kASize, 0x10)[kASize - 4]);
  EXPECT_EQ(c_, pattern(kCSize, 0xc0));
}

TEST_F(GuestMemoryAccessTest, CrossingIntoAGapFailsAndTouchesNothing) {
  // From the end of B into the gap.
  std::vector<uint8_t> dest(8, 0xee);
  EXPECT_EQ(mem_.read_at(kB + kBSize - 4, dest).error(), unmapped(kB + kBSize - 4, 8));
  EXPECT_EQ(dest, std::vector<uint8_t>(8, 0xee));

  std::vector<uint8_t> src(8, 0x55);
  EXPECT_EQ(mem_.write_at(kB + kBSize - 4, src).error(), unmapped(kB + kBSize - 4, 8));
  EXPECT_TRUE(guest_untouched());

  // From the gap into C.
  EXPECT_EQ(mem_.write_at(kC - 4, src).error(), unmapped(kC - 4, 8));
  EXPECT_TRUE(guest_untouched());

  // A, B, the gap and C: the mapped prefix spans two regions and still nothing is written.
  std::vector<uint8_t> big(kC + kCSize - kA, 0x55);
  EXPECT_EQ(mem_.write_at(kA, big).error(), unmapped(kA, big.size()));
  EXPECT_TRUE(guest_untouched());
  std::vector<uint8_t> big_dest(big.size(), 0xee);
  EXPECT_FALSE(mem_.read_at(kA, big_dest).has_value());
  EXPECT_EQ(big_dest, std::vector<uint8_t>(big.size(), 0xee));
}

TEST_F(GuestMemoryAccessTest, ReadWriteRoundTrip) {
  for (auto [gpa, len] : {std::pair<uint64_t, size_t>{kA, 1},
                          {kA + 5, 100},
                          {kB - 50, 100},
                          {kA, kASize + kBSize},
                          {kC + 1, kCSize - 2}}) {
    std::vector<uint8_t> src = pattern(len, static_cast<uint8_t>(gpa ^ len));
    ASSERT_TRUE(mem_.write_at(gpa, src).has_value()) << std::hex << gpa;
    std::vector<uint8_t> back(len);
    ASSERT_TRUE(mem_.read_at(gpa, back).has_value()) << std::hex << gpa;
    EXPECT_EQ(back, src) << std::hex << gpa;
  }
}

TEST_F(GuestMemoryAccessTest, ZeroLengthIsValidAnywhereAndTouchesNothing) {
  for (uint64_t gpa : {uint64_t{0}, kA, kA + kASize - 1, kB + kBSize, kC - 1, kC + kCSize,
                       uint64_t{0x123456789}, kMax - 1, kMax}) {
    EXPECT_TRUE(mem_.read_at(gpa, {}).has_value()) << std::hex << gpa;
    EXPECT_TRUE(mem_.write_at(gpa, {}).has_value()) << std::hex << gpa;
    // A zero-length span over a real buffer must not be written either.
    uint8_t sentinel = 0xee;
    EXPECT_TRUE(mem_.read_at(gpa, std::span<uint8_t>(&sentinel, 0)).has_value());
    EXPECT_EQ(sentinel, 0xee);

    std::vector<std::span<uint8_t>> out;
    EXPECT_TRUE(mem_.translate(gpa, 0, out).has_value()) << std::hex << gpa;
    EXPECT_TRUE(out.empty());

    auto span = mem_.contiguous(gpa, 0);
    ASSERT_TRUE(span.has_value()) << std::hex << gpa;
    EXPECT_TRUE(span->empty());

    int calls = 0;
    EXPECT_TRUE(mem_.for_each_span(gpa, 0, [&](std::span<uint8_t>) { ++calls; }).has_value());
    EXPECT_EQ(calls, 0);
  }
  EXPECT_TRUE(guest_untouched());
}

TEST_F(GuestMemoryAccessTest, NearTheTopWithoutATopRegion) {
  uint8_t got = 0xee;
  EXPECT_EQ(mem_.read_at(kMax, {&got, 1}).error(), unmapped(kMax, 1));
  uint8_t two[2] = {0xee, 0xee};
  EXPECT_EQ(mem_.read_at(kMax, two).error(), overflow(kMax, 2));
  EXPECT_EQ(mem_.contiguous(kMax, 2).error(), overflow(kMax, 2));
  EXPECT_EQ(mem_.contiguous(kA, kMax).error(), overflow(kA, kMax));
  std::vector<std::span<uint8_t>> out;
  EXPECT_EQ(mem_.translate(kA, kMax, out).error(), overflow(kA, kMax));
  EXPECT_EQ(mem_.translate(2, kMax, out).error(), overflow(2, kMax));
  EXPECT_TRUE(out.empty());
  // A range that ends exactly at 2^64 does not wrap, but is unmapped here.
  EXPECT_EQ(mem_.translate(1, kMax, out).error(), unmapped(1, kMax));
  EXPECT_EQ(mem_.translate(kA, kMax - kA + 1, out).error(), unmapped(kA, kMax - kA + 1));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(mem_.contiguous(0, kMax).error(), unmapped(0, kMax));
}

TEST_F(GuestMemoryAccessTest, TranslateSplitsAtRegionEdgesAndAppends) {
  uint8_t sentinel_byte = 0;
  std::span<uint8_t> sentinel(&sentinel_byte, 1);
  std::vector<std::span<uint8_t>> out{sentinel};

  ASSERT_TRUE(mem_.translate(kB - 4, 8, out).has_value());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].data(), sentinel.data());
  EXPECT_EQ(out[1].data(), a_.data() + kASize - 4);
  EXPECT_EQ(out[1].size(), 4u);
  EXPECT_EQ(out[2].data(), b_.data());
  EXPECT_EQ(out[2].size(), 4u);

  // Inside one region: one span.
  ASSERT_TRUE(mem_.translate(kC + 2, 10, out).has_value());
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[3].data(), c_.data() + 2);
  EXPECT_EQ(out[3].size(), 10u);

  // Both whole regions.
  out.clear();
  ASSERT_TRUE(mem_.translate(kA, kASize + kBSize, out).has_value());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].data(), a_.data());
  EXPECT_EQ(out[0].size(), kASize);
  EXPECT_EQ(out[1].data(), b_.data());
  EXPECT_EQ(out[1].size(), kBSize);
}

TEST_F(GuestMemoryAccessTest, TranslateAppendsNothingOnFailure) {
  uint8_t sentinel_byte = 0;
  std::vector<std::span<uint8_t>> out{std::span<uint8_t>(&sentinel_byte, 1)};
  // Mapped prefix (A and B), then the gap.
  EXPECT_EQ(mem_.translate(kA, kC - kA + 1, out).error(), unmapped(kA, kC - kA + 1));
  EXPECT_EQ(mem_.translate(kB + kBSize, 1, out).error(), unmapped(kB + kBSize, 1));
  EXPECT_EQ(mem_.translate(kMax, 2, out).error(), overflow(kMax, 2));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data(), &sentinel_byte);
}

TEST_F(GuestMemoryAccessTest, ForEachSpanIsNotCalledWhenTheRangeFails) {
  int calls = 0;
  auto r = mem_.for_each_span(kB, kBSize + 1, [&](std::span<uint8_t>) { ++calls; });
  EXPECT_EQ(r.error(), unmapped(kB, kBSize + 1));
  EXPECT_EQ(calls, 0);
  uint64_t total = 0;
  ASSERT_TRUE(
      mem_.for_each_span(kA + 1, kASize + 2, [&](std::span<uint8_t> s) { total += s.size(); }));
  EXPECT_EQ(total, kASize + 2);
}

TEST_F(GuestMemoryAccessTest, Contiguous) {
  // Inside one region: a span into that region's buffer.
  auto inside = mem_.contiguous(kA + 0x10, 0x20);
  ASSERT_TRUE(inside.has_value());
  EXPECT_EQ(inside->data(), a_.data() + 0x10);
  EXPECT_EQ(inside->size(), 0x20u);
  // Exactly a whole region.
  auto whole = mem_.contiguous(kB, kBSize);
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->data(), b_.data());
  EXPECT_EQ(whole->size(), kBSize);
  // Mapped, but crossing the A/B edge: not one span.
  EXPECT_EQ(mem_.contiguous(kB - 1, 2).error(), unmapped(kB - 1, 2));
  // Unmapped start, and mapped start running into a gap.
  EXPECT_EQ(mem_.contiguous(kC - 1, 1).error(), unmapped(kC - 1, 1));
  EXPECT_EQ(mem_.contiguous(kC, kCSize + 1).error(), unmapped(kC, kCSize + 1));
  // Overflow.
  EXPECT_EQ(mem_.contiguous(kC, kMax).error(), overflow(kC, kMax));
  // map() says the same with a pointer: the mapping, or nullptr for each failure above.
  EXPECT_EQ(mem_.map(kA + 0x10, 0x20), a_.data() + 0x10);
  EXPECT_EQ(mem_.map(kB, kBSize), b_.data());
  EXPECT_EQ(mem_.map(kB - 1, 2), nullptr);
  EXPECT_EQ(mem_.map(kC - 1, 1), nullptr);
  EXPECT_EQ(mem_.map(kC, kCSize + 1), nullptr);
  EXPECT_EQ(mem_.map(kC, kMax), nullptr);
  EXPECT_EQ(mem_.map(kA - 1, 1), nullptr);
  // Zero length.
  auto empty = mem_.contiguous(kC - 1, 0);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST_F(GuestMemoryAccessTest, ContiguousSpanWritesReachGuestMemory) {
  auto span = mem_.contiguous(kC + 4, 2);
  ASSERT_TRUE(span.has_value());
  (*span)[0] = 0xab;
  (*span)[1] = 0xcd;
  uint8_t back[2] = {};
  ASSERT_TRUE(mem_.read_at(kC + 4, back).has_value());
  EXPECT_EQ(back[0], 0xab);
  EXPECT_EQ(back[1], 0xcd);
}

TEST_F(GuestMemoryAccessTest, ErrorCarriesTheWholeRequestedRange) {
  // The failing byte is at kB + kBSize, but the error names what the caller asked for.
  std::vector<uint8_t> dest(0x100);
  auto r = mem_.read_at(kB + 0x10, dest);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, GuestMemoryErrc::kUnmapped);
  EXPECT_EQ(r.error().gpa, kB + 0x10);
  EXPECT_EQ(r.error().len, 0x100u);
}

// ---------------------------------------------------------------------------------------------
// The top of the address space.

class GuestMemoryTopTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kTopSize = 16;
  static constexpr uint64_t kTop = kMax - kTopSize + 1;  // ends exactly at 2^64

  void SetUp() override {
    mem_ = make_memory({{kTop, kTopSize, top_.data()}, {0, kLowSize, low_.data()}});
  }

  static constexpr uint64_t kLowSize = 16;
  std::vector<uint8_t> top_ = pattern(kTopSize, 0x30);
  std::vector<uint8_t> low_ = pattern(kLowSize, 0x90);
  GuestMemory mem_;
};

TEST_F(GuestMemoryTopTest, LastByteOfTheAddressSpaceIsUsable) {
  uint8_t got = 0;
  ASSERT_TRUE(mem_.read_at(kMax, {&got, 1}).has_value());
  EXPECT_EQ(got, top_.back());
  uint8_t v = 0x77;
  ASSERT_TRUE(mem_.write_at(kMax, {&v, 1}).has_value());
  EXPECT_EQ(top_.back(), 0x77);
  auto span = mem_.contiguous(kMax, 1);
  ASSERT_TRUE(span.has_value());
  EXPECT_EQ(span->data(), top_.data() + kTopSize - 1);
}

TEST_F(GuestMemoryTopTest, WholeTopRegion) {
  std::vector<uint8_t> dest(kTopSize);
  ASSERT_TRUE(mem_.read_at(kTop, dest).has_value());
  EXPECT_EQ(dest, top_);
  auto span = mem_.contiguous(kTop, kTopSize);
  ASSERT_TRUE(span.has_value());
  EXPECT_EQ(span->data(), top_.data());
  EXPECT_EQ(span->size(), kTopSize);
  std::vector<std::span<uint8_t>> out;
  ASSERT_TRUE(mem_.translate(kTop, kTopSize, out).has_value());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data(), top_.data());
}

TEST_F(GuestMemoryTopTest, RangesThatWrapToZeroFailWithOverflowEvenThoughZeroIsMapped) {
  uint8_t two[2] = {0xee, 0xee};
  EXPECT_EQ(mem_.read_at(kMax, two).error(), overflow(kMax, 2));
  EXPECT_EQ(two[0], 0xee);
  EXPECT_EQ(mem_.write_at(kMax, two).error(), overflow(kMax, 2));
  EXPECT_EQ(top_, pattern(kTopSize, 0x30));
  EXPECT_EQ(low_, pattern(kLowSize, 0x90));

  std::vector<uint8_t> dest(kTopSize + 1);
  EXPECT_EQ(mem_.read_at(kTop, dest).error(), overflow(kTop, kTopSize + 1));
  EXPECT_EQ(mem_.contiguous(kTop, kTopSize + 1).error(), overflow(kTop, kTopSize + 1));
  EXPECT_EQ(mem_.map(kTop, kTopSize + 1), nullptr);
  EXPECT_EQ(mem_.map(kMax, 2), nullptr);
  EXPECT_EQ(mem_.map(kTop, kTopSize), top_.data());
  EXPECT_EQ(mem_.map(kMax, 1), top_.data() + kTopSize - 1);
  std::vector<std::span<uint8_t>> out;
  EXPECT_EQ(mem_.translate(kMax - 1, 4, out).error(), overflow(kMax - 1, 4));
  EXPECT_TRUE(out.empty());
}

TEST_F(GuestMemoryTopTest, ZeroLengthAtTheTop) {
  EXPECT_TRUE(mem_.read_at(kMax, {}).has_value());
  EXPECT_TRUE(mem_.contiguous(kMax, 0).has_value());
}

// ---------------------------------------------------------------------------------------------
// Host pointers back to guest-physical addresses.

TEST(GuestMemoryHostToGpaTest, InsideOneRegionOnly) {
  std::vector<uint8_t> low(0x100), high(0x100);
  const GuestMemory mem = make_memory({{0x1000, 0x100, low.data()}, {0x9000, 0x100, high.data()}});
  EXPECT_EQ(mem.host_to_gpa(low.data(), 0x100), 0x1000u);
  EXPECT_EQ(mem.host_to_gpa(low.data() + 0x10, 4), 0x1010u);
  EXPECT_EQ(mem.host_to_gpa(high.data() + 0xff, 1), 0x90ffu);
  EXPECT_TRUE(mem.contains_host(high.data() + 0xff, 1));
  // Past the region's end, before its start, and one past the last byte.
  EXPECT_EQ(mem.host_to_gpa(low.data() + 0xf0, 0x11), std::nullopt);
  EXPECT_FALSE(mem.contains_host(low.data() + 0xf0, 0x11));
  EXPECT_EQ(mem.host_to_gpa(low.data() - 1, 1), std::nullopt);
  EXPECT_EQ(mem.host_to_gpa(high.data() + 0x100, 0), std::nullopt);
  // A length that would wrap the address space.
  EXPECT_EQ(mem.host_to_gpa(low.data() + 1, kMax), std::nullopt);
}

TEST(GuestMemoryHostToGpaTest, AliasedMappingsResolveToTheLowerGpa) {
  std::vector<uint8_t> shared(0x100);
  const GuestMemory mem =
      make_memory({{0x40000, 0x100, shared.data()}, {0x2000, 0x80, shared.data()}});
  EXPECT_EQ(mem.host_to_gpa(shared.data() + 8, 8), 0x2008u);
}

// ---------------------------------------------------------------------------------------------
// Errors.

TEST(GuestMemoryErrorTest, ToStringNamesTheRangeInHex) {
  std::string s = to_string(GuestMemoryError{GuestMemoryErrc::kUnmapped, 0xdeadbeef000, 0x40});
  EXPECT_NE(s.find("0xdeadbeef000"), std::string::npos) << s;
  EXPECT_NE(s.find("0x40"), std::string::npos) << s;
  std::string o = to_string(GuestMemoryError{GuestMemoryErrc::kOverflow, kMax, 2});
  EXPECT_NE(o.find("0xffffffffffffffff"), std::string::npos) << o;
  // The two codes read differently.
  std::string u = to_string(GuestMemoryError{GuestMemoryErrc::kUnmapped, kMax, 2});
  EXPECT_NE(o, u);
}

TEST(GuestMemoryErrorTest, ErrorsCompareByAllFields) {
  GuestMemoryError e{GuestMemoryErrc::kUnmapped, 1, 2};
  EXPECT_EQ(e, (GuestMemoryError{GuestMemoryErrc::kUnmapped, 1, 2}));
  EXPECT_NE(e, (GuestMemoryError{GuestMemoryErrc::kOverflow, 1, 2}));
  EXPECT_NE(e, (GuestMemoryError{GuestMemoryErrc::kUnmapped, 3, 2}));
  EXPECT_NE(e, (GuestMemoryError{GuestMemoryErrc::kUnmapped, 1, 3}));
}

// ---------------------------------------------------------------------------------------------
// Dirty logging.

class GuestMemoryDirtyLogTest : public GuestMemoryAccessTest {
 protected:
  void SetUp() override {
    GuestMemoryAccessTest::SetUp();
    mem_.set_dirty_log(&log_);
  }
  RecordingDirtyLog log_;
};

TEST_F(GuestMemoryDirtyLogTest, GetterReturnsTheLog) {
  EXPECT_EQ(mem_.dirty_log(), &log_);
  mem_.set_dirty_log(nullptr);
  EXPECT_EQ(mem_.dirty_log(), nullptr);
}

TEST_F(GuestMemoryDirtyLogTest, SuccessfulWriteIsLoggedOnce) {
  std::vector<uint8_t> src(8, 1);
  ASSERT_TRUE(mem_.write_at(kA + 3, src).has_value());
  ASSERT_EQ(log_.writes.size(), 1u);
  EXPECT_EQ(log_.writes[0], std::make_pair(kA + 3, uint64_t{8}));
}

TEST_F(GuestMemoryDirtyLogTest, WriteAcrossRegionsIsLoggedOnceAsOneRange) {
  std::vector<uint8_t> src(16, 1);
  ASSERT_TRUE(mem_.write_at(kB - 8, src).has_value());
  ASSERT_EQ(log_.writes.size(), 1u);
  EXPECT_EQ(log_.writes[0], std::make_pair(kB - 8, uint64_t{16}));
}

TEST_F(GuestMemoryDirtyLogTest, WritesAreLoggedInOrder) {
  uint8_t v = 1;
  ASSERT_TRUE(mem_.write_at(kC, {&v, 1}).has_value());
  ASSERT_TRUE(mem_.write_at(kA, {&v, 1}).has_value());
  std::vector<std::pair<uint64_t, uint64_t>> want{{kC, 1}, {kA, 1}};
  EXPECT_EQ(log_.writes, want);
}

TEST_F(GuestMemoryDirtyLogTest, FailedZeroLengthAndReadsAreNotLogged) {
  std::vector<uint8_t> src(8, 1);
  EXPECT_FALSE(mem_.write_at(kB + kBSize - 4, src).has_value());  // into the gap
  EXPECT_FALSE(mem_.write_at(kMax, src).has_value());             // wraps
  EXPECT_TRUE(mem_.write_at(kA, {}).has_value());                 // zero length, mapped
  EXPECT_TRUE(mem_.write_at(0, {}).has_value());                  // zero length, unmapped
  std::vector<uint8_t> dest(8);
  EXPECT_TRUE(mem_.read_at(kA, dest).has_value());
  EXPECT_TRUE(log_.writes.empty());
}

TEST_F(GuestMemoryDirtyLogTest, NothingIsLoggedWhenUnset) {
  mem_.set_dirty_log(nullptr);
  std::vector<uint8_t> src(8, 1);
  ASSERT_TRUE(mem_.write_at(kA, src).has_value());
  EXPECT_TRUE(log_.writes.empty());
  mem_.set_dirty_log(&log_);
  ASSERT_TRUE(mem_.write_at(kA, src).has_value());
  EXPECT_EQ(log_.writes.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Randomized: many regions against a byte-by-byte model.

// With up to 8 regions map() scans them; past that it searches. Both against the same model.
class GuestMemoryRandomTest : public ::testing::TestWithParam<int> {};

TEST_P(GuestMemoryRandomTest, RegionsMatchAReferenceModel) {
  const int kRegions = GetParam();
  constexpr uint64_t kBase = 0x10000;
  std::mt19937_64 rng(20240611);
  auto uniform = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };

  std::vector<std::vector<uint8_t>> buffers(kRegions);
  std::vector<GuestMemoryRegion> table;
  uint64_t at = kBase;
  for (int i = 0; i < kRegions; ++i) {
    if (i > 0 && uniform(0, 1) == 1) at += uniform(1, 64);  // a gap half the time, else adjacent
    uint64_t size = uniform(1, 300);
    buffers[i].resize(size);
    for (auto& b : buffers[i]) b = static_cast<uint8_t>(uniform(0, 255));
    table.push_back({at, size, buffers[i].data()});
    at += size;
  }
  const uint64_t end = at;

  // The model: for each gpa in [kBase, end), the owning region (or -1) and the byte.
  std::vector<int> owner(end - kBase, -1);
  std::vector<uint8_t> byte(end - kBase, 0);
  for (int i = 0; i < kRegions; ++i) {
    for (uint64_t k = 0; k < table[i].size; ++k) {
      owner[table[i].gpa + k - kBase] = i;
      byte[table[i].gpa + k - kBase] = buffers[i][k];
    }
  }
  auto owner_of = [&](uint64_t gpa) { return gpa >= kBase && gpa < end ? owner[gpa - kBase] : -1; };

  std::vector<GuestMemoryRegion> shuffled = table;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  GuestMemory mem = make_memory(shuffled);
  ASSERT_EQ(mem.regions().size(), static_cast<size_t>(kRegions));

  std::vector<uint8_t> dest;
  std::vector<std::span<uint8_t>> spans;
  int successes = 0, failures = 0;
  for (int q = 0; q < 4000; ++q) {
    uint64_t gpa;
    uint64_t len;
    switch (uniform(0, 3)) {
      case 0:
      case 1: {  // near a region edge
        const auto& r = table[uniform(0, kRegions - 1)];
        uint64_t edge = uniform(0, 1) == 0 ? r.gpa : r.gpa + r.size;
        gpa = edge + uniform(0, 16) - 8;
        len = uniform(0, 3) == 0 ? uniform(0, 600) : uniform(0, 16);
        break;
      }
      case 2:  // anywhere around the table
        gpa = uniform(kBase - 64, end + 64);
        len = uniform(0, 400);
        break;
      default:  // near the top of the address space
        gpa = kMax - uniform(0, 16);
        len = uniform(0, 20);
        break;
    }

    // What the model says.
    bool wraps = len > 0 && len - 1 > kMax - gpa;
    bool mapped = !wraps;
    bool one_region = !wraps;
    int first = len > 0 && !wraps ? owner_of(gpa) : -1;
    for (uint64_t k = 0; mapped && k < len; ++k) {
      int o = owner_of(gpa + k);
      if (o < 0) mapped = false;
      if (o != first) one_region = false;
    }

    SCOPED_TRACE(testing::Message() << "gpa=0x" << std::hex << gpa << " len=0x" << len);
    dest.assign(len, 0xee);
    auto r = mem.read_at(gpa, dest);
    ASSERT_EQ(mem.check_range(gpa, len),
              r.has_value() ? GuestMemory::Access<void>() : std::unexpected(r.error()));
    if (len == 0) {
      ASSERT_TRUE(r.has_value());
    } else if (wraps) {
      ASSERT_EQ(r.error(), overflow(gpa, len));
    } else if (!mapped) {
      ASSERT_EQ(r.error(), unmapped(gpa, len));
    } else {
      ASSERT_TRUE(r.has_value());
    }
    if (r && len > 0) {
      ++successes;
      for (uint64_t k = 0; k < len; ++k) ASSERT_EQ(dest[k], byte[gpa + k - kBase]) << "k=" << k;
    } else {
      if (!r) ++failures;
      ASSERT_TRUE(std::all_of(dest.begin(), dest.end(), [](uint8_t b) { return b == 0xee; }));
    }

    // translate: the same bytes, split exactly at region edges.
    spans.clear();
    auto t = mem.translate(gpa, len, spans);
    ASSERT_EQ(t.has_value(), r.has_value());
    if (!t) {
      ASSERT_EQ(t.error(), r.error());
      ASSERT_TRUE(spans.empty());
    } else {
      uint64_t k = 0;
      for (const auto& s : spans) {
        ASSERT_FALSE(s.empty());
        int o = owner_of(gpa + k);
        ASSERT_GE(o, 0);
        // Each span starts at the right host byte and stays in one region.
        ASSERT_EQ(s.data(), buffers[o].data() + (gpa + k - table[o].gpa));
        ASSERT_EQ(owner_of(gpa + k + s.size() - 1), o);
        k += s.size();
        // A span ends where the region ends or where the range ends.
        ASSERT_TRUE(k == len || gpa + k == table[o].gpa + table[o].size);
      }
      ASSERT_EQ(k, len);
    }

    // contiguous: succeeds exactly when the range lies in one region.
    auto c = mem.contiguous(gpa, len);
    if (len == 0) {
      ASSERT_TRUE(c.has_value());
    } else if (wraps) {
      ASSERT_EQ(c.error(), overflow(gpa, len));
    } else if (mapped && one_region) {
      ASSERT_TRUE(c.has_value());
      ASSERT_EQ(c->data(), buffers[first].data() + (gpa - table[first].gpa));
      ASSERT_EQ(c->size(), len);
    } else {
      ASSERT_EQ(c.error(), unmapped(gpa, len));
    }

    // map: contiguous's answer as a pointer (nullptr for every failure).
    if (len > 0) {
      uint8_t* expect = c.has_value() ? c->data() : nullptr;
      ASSERT_EQ(mem.map(gpa, len), expect);
    }
  }
  // The query mix must exercise both outcomes.
  EXPECT_GT(successes, 500);
  EXPECT_GT(failures, 500);
}

INSTANTIATE_TEST_SUITE_P(Regions, GuestMemoryRandomTest, ::testing::Values(1, 5, 8, 9, 64),
                         [](const auto& p) { return std::to_string(p.param); });

}  // namespace
}  // namespace pmdnet
