// Tests of BufferAccess's default write_packets, over TestBufferAccess: frames written in order,
// each with one write_packet (a frame in several pieces joined first), stopping before the first
// frame its buffer cannot hold.
#include "core/net_backend/buffer_access.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "tests/unit/core/net_backend/test_buffer_access.h"

namespace pmdnet {
namespace {

using testing::TestBufferAccess;
using testing::TestGuestMemory;

// `n` bytes counting up from `seed`.
std::vector<uint8_t> bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), seed);
  return v;
}

class DefaultWritePacketsTest : public ::testing::Test {
 protected:
  DefaultWritePacketsTest() {
    pool_.add_buffer(RxId{0}, {{0x1000, 100}, {0x2000, 100}});  // 200 bytes, two segments
    pool_.add_buffer(RxId{1}, {{0x3000, 64}});
    pool_.add_buffer(RxId{2}, {{0x4000, 300}});
    pool_.add_buffer(RxId{3}, {{0x5000, 300}});
  }

  // The guest bytes at [gpa, gpa + n).
  std::vector<uint8_t> guest(uint64_t gpa, size_t n) const {
    std::vector<uint8_t> out(n);
    EXPECT_TRUE(gm_.mem().read_at(gpa, out).has_value());
    return out;
  }

  TestGuestMemory gm_{{0}, 1 << 20};  // filled with 0xee
  TestBufferAccess pool_{gm_.mem()};
};

TEST_F(DefaultWritePacketsTest, WritesInOrderAndStopsBeforeAFrameThatDoesNotFit) {
  // Frame 0: 150 bytes in three pieces (one empty), across buffer 0's two segments. Frame 1: as
  // long as buffer 1 holds. Frame 2: one byte more than buffer 2 holds. Frame 3 would fit.
  const auto a = bytes(10, 1);
  const auto c = bytes(140, 50);
  const std::span<const uint8_t> pieces0[] = {a, {}, c};
  const auto one = bytes(64, 9);
  const std::span<const uint8_t> pieces1[] = {one};
  const auto big = bytes(301, 3);
  const std::span<const uint8_t> pieces2[] = {big};
  const auto small = bytes(10, 4);
  const std::span<const uint8_t> pieces3[] = {small};
  const RxFrame frames[] = {
      {RxMetadata{.len = 150, .ip_checksum = RxChecksumState::Good}, pieces0},
      {RxMetadata{.len = 64, .l4_checksum = RxChecksumState::Bad}, pieces1},
      {RxMetadata{.len = 301}, pieces2},
      {RxMetadata{.len = 10}, pieces3},
  };
  const RxId ids[] = {RxId{0}, RxId{1}, RxId{2}, RxId{3}};

  EXPECT_EQ(pool_.write_packets(ids, frames), 2u);

  std::vector<uint8_t> joined = a;
  joined.insert(joined.end(), c.begin(), c.end());
  EXPECT_EQ(pool_.read_back(RxId{0}, 150), joined);
  EXPECT_EQ(pool_.data_writes(RxId{0}), 1) << "the pieces go in one write_packet, joined";
  ASSERT_TRUE(pool_.header(RxId{0}).has_value());
  EXPECT_EQ(*pool_.header(RxId{0}), frames[0].metadata);
  EXPECT_EQ(pool_.read_back(RxId{1}, 64), one);
  EXPECT_EQ(pool_.data_writes(RxId{1}), 1);
  ASSERT_TRUE(pool_.header(RxId{1}).has_value());
  EXPECT_EQ(*pool_.header(RxId{1}), frames[1].metadata);
  // Nothing of the frame that does not fit, nor of any after it.
  for (RxId id : {RxId{2}, RxId{3}}) {
    EXPECT_FALSE(pool_.header(id).has_value()) << id.value;
    EXPECT_EQ(pool_.data_writes(id), 0) << id.value;
  }
  EXPECT_EQ(guest(0x4000, 300), std::vector<uint8_t>(300, 0xee));
  EXPECT_EQ(guest(0x5000, 300), std::vector<uint8_t>(300, 0xee));
  EXPECT_TRUE(pool_.all_writes_ok());

  // The caller goes on from the frame that did not fit: the next one takes that buffer.
  EXPECT_EQ(pool_.write_packets(std::span(ids).subspan(2), std::span(frames).subspan(3)), 1u);
  EXPECT_EQ(pool_.read_back(RxId{2}, 10), small);
  EXPECT_EQ(pool_.header(RxId{2})->len, 10u);
  EXPECT_FALSE(pool_.header(RxId{3}).has_value());
}

TEST_F(DefaultWritePacketsTest, WritesAsManyAsTheShorterSpanHolds) {
  const auto f = bytes(20, 5);
  const std::span<const uint8_t> pieces[] = {f};
  const RxFrame frames[] = {{RxMetadata{.len = 20}, pieces},
                            {RxMetadata{.len = 20}, pieces},
                            {RxMetadata{.len = 20}, pieces}};
  const RxId two[] = {RxId{2}, RxId{3}};
  EXPECT_EQ(pool_.write_packets(two, frames), 2u);
  EXPECT_EQ(pool_.read_back(RxId{2}, 20), f);
  EXPECT_EQ(pool_.read_back(RxId{3}, 20), f);
  const RxId four[] = {RxId{0}, RxId{1}, RxId{2}, RxId{3}};
  EXPECT_EQ(pool_.write_packets(four, std::span(frames).first(1)), 1u);
  EXPECT_FALSE(pool_.header(RxId{1}).has_value());
  EXPECT_EQ(pool_.write_packets(four, {}), 0u);
  EXPECT_EQ(pool_.write_packets({}, frames), 0u);
}

// A frame of no pieces is an empty frame: written, with its header.
TEST_F(DefaultWritePacketsTest, AFrameOfNoPiecesIsWrittenEmpty) {
  const RxFrame frames[] = {{RxMetadata{.len = 0}, {}}};
  const RxId ids[] = {RxId{1}};
  EXPECT_EQ(pool_.write_packets(ids, frames), 1u);
  ASSERT_TRUE(pool_.header(RxId{1}).has_value());
  EXPECT_EQ(pool_.header(RxId{1})->len, 0u);
  EXPECT_EQ(guest(0x3000, 64), std::vector<uint8_t>(64, 0xee));
}

}  // namespace
}  // namespace pmdnet
