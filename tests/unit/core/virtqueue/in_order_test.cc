// Tests of VIRTIO_F_IN_ORDER: InOrderUsed itself, and both ring layouts with it. Chains finished
// out of order become visible in the order they were popped; a ring the device writes (guest RX)
// returns each chain with its own length, a ring the device only reads (guest TX) returns each
// published batch as one used element or descriptor with the batch's last id; drain returns the
// rest in order and keeps the lengths of the chains already finished.
#include "core/virtqueue/in_order.h"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "core/virtqueue/packed_ring.h"
#include "core/virtqueue/split_ring.h"
#include "tests/unit/core/virtqueue/fake_driver.h"
#include "tests/unit/core/virtqueue/fake_packed_driver.h"

namespace pmdnet::virtio {
namespace {

using testing::Buf;
using testing::FakePackedQueue;
using testing::FakeVirtqueue;
using testing::TestMemory;

constexpr uint64_t kRing = 0x100000;
constexpr uint64_t kData = 0x200000;
constexpr uint64_t kInOrder =
    bit(feature::kVersion1) | bit(feature::kRingIndirectDesc) | bit(feature::kInOrder);

// The error of a failed pop, or nothing.
std::optional<RingError> error_of(const std::expected<Chain, RingError>& c) {
  return c ? std::nullopt : std::optional(c.error());
}

TEST(InOrderUsedTest, ReleasesInTheOrderTaken) {
  InOrderUsed order(8);
  for (uint16_t id : {5, 2, 7, 0}) order.taken(id);
  EXPECT_EQ(order.size(), 4u);
  std::vector<std::pair<uint16_t, uint32_t>> released;
  auto release = [&](uint16_t id, uint32_t len) { released.emplace_back(id, len); };
  order.finish(7, 70, release);
  order.finish(2, 20, release);
  EXPECT_TRUE(released.empty());
  EXPECT_TRUE(order.finished(7));
  EXPECT_FALSE(order.finished(5));
  order.finish(5, 50, release);
  EXPECT_EQ(released, (std::vector<std::pair<uint16_t, uint32_t>>{{5, 50}, {2, 20}, {7, 70}}));
  EXPECT_EQ(order.size(), 1u);
  std::vector<uint16_t> left;
  order.for_each_taken([&](uint16_t id) { left.push_back(id); });
  EXPECT_EQ(left, std::vector<uint16_t>{0});
  // Around its ring of ids more than once.
  released.clear();
  order.finish(0, 1, release);
  for (int lap = 0; lap < 3; ++lap) {
    for (uint16_t id = 0; id < 8; ++id) order.taken(id);
    for (uint16_t id = 8; id-- > 0;) order.finish(id, id, release);
  }
  ASSERT_EQ(released.size(), 25u);
  for (size_t i = 1; i < released.size(); ++i) EXPECT_EQ(released[i].first, (i - 1) % 8);
  order.taken(3);
  order.taken(4);
  order.finish(4, 4, release);
  order.clear();
  EXPECT_EQ(order.size(), 0u);
  EXPECT_FALSE(order.finished(4));
}

// ---- split ----

class SplitInOrderTest : public ::testing::Test {
 protected:
  SplitRingInOrder make(RingRole role) {
    auto r = SplitRingInOrder::create(q_.addresses(), m_.mem(), kInOrder, 0, 0, role);
    EXPECT_TRUE(r) << r.error().message;
    return std::move(*r);
  }
  std::vector<uint16_t> post_and_pop(SplitRingInOrder& r, size_t n) {
    std::vector<uint16_t> heads;
    for (size_t i = 0; i < n; ++i) {
      const std::vector<Buf> bufs(1 + i % 2, Buf{kData + 0x100 * i, 64, true});
      heads.push_back(q_.post(bufs));
    }
    for (size_t i = 0; i < n; ++i) {
      auto c = r.pop(scratch_);
      EXPECT_TRUE(c);
      if (c) {
        EXPECT_EQ(c->head, heads[i]);
      }
    }
    return heads;
  }
  VirtqUsedElem used_elem(uint16_t slot) const {
    VirtqUsedElem e;
    std::memcpy(&e, q_.addresses().used + 4 + 8 * slot, sizeof(e));
    return e;
  }

  TestMemory m_;
  FakeVirtqueue q_{m_, kRing, 16};
  std::vector<ChainBuffer> scratch_ = std::vector<ChainBuffer>(16);
};

// The split layout with IN_ORDER is its own type; each refuses the other's features.
TEST_F(SplitInOrderTest, EachSplitTypeTakesOnlyItsOwnFeatures) {
  const uint64_t without = kInOrder & ~bit(feature::kInOrder);
  EXPECT_FALSE(SplitRing::create(q_.addresses(), m_.mem(), kInOrder, 0, 0));
  EXPECT_TRUE(SplitRing::create(q_.addresses(), m_.mem(), without, 0, 0));
  EXPECT_FALSE(SplitRingInOrder::create(q_.addresses(), m_.mem(), without, 0, 0));
  EXPECT_TRUE(SplitRingInOrder::create(q_.addresses(), m_.mem(), kInOrder, 0, 0));
}

TEST_F(SplitInOrderTest, DeviceWritesRingReturnsChainsInPopOrderWithTheirLengths) {
  SplitRingInOrder r = make(RingRole::kDeviceWrites);
  auto heads = post_and_pop(r, 4);
  r.push_used(heads[2], 300);
  r.push_used(heads[1], 200);
  EXPECT_EQ(r.used_idx(), 0);  // waiting for heads[0]
  EXPECT_TRUE(r.held(heads[1]));
  r.publish_used();
  EXPECT_TRUE(q_.drain_used().empty());
  r.push_used(heads[0], 100);
  EXPECT_EQ(r.used_idx(), 3);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(used[i].id, heads[i]);
    EXPECT_EQ(used[i].len, 100 * (i + 1));
  }
  r.push_used(heads[3], 400);
  r.publish_used();
  used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, heads[3]);
  EXPECT_EQ(used[0].len, 400u);
}

// 2.7.8: one used element for the batch, with the id of its last chain; used->idx moves past the
// whole batch.
TEST_F(SplitInOrderTest, DeviceReadsRingWritesOneElementPerPublishedBatch) {
  SplitRingInOrder r = make(RingRole::kDeviceReads);
  std::memset(q_.addresses().used + 4, 0xff, 8 * 16);  // used elements never written stay so
  auto heads = post_and_pop(r, 5);
  r.push_used(heads[2], 0);
  r.push_used(heads[0], 0);
  r.publish_used();
  EXPECT_EQ(q_.used_idx(), 1);
  EXPECT_EQ(used_elem(0).id, heads[0]);
  r.push_used(heads[3], 0);
  r.push_used(heads[1], 0);  // releases 1, 2, 3
  r.publish_used();
  EXPECT_EQ(q_.used_idx(), 4);
  EXPECT_EQ(used_elem(1).id, heads[3]);
  EXPECT_EQ(used_elem(1).len, 0u);
  EXPECT_EQ(used_elem(2).id, 0xffffffffu);  // skipped: never written
  EXPECT_EQ(used_elem(3).id, 0xffffffffu);
  EXPECT_FALSE(r.held(heads[3]));
  EXPECT_TRUE(r.held(heads[4]));
  r.publish_used();  // nothing new: nothing written
  EXPECT_EQ(q_.used_idx(), 4);
}

TEST_F(SplitInOrderTest, DrainReturnsTheRestInOrderKeepingFinishedLengths) {
  SplitRingInOrder r = make(RingRole::kDeviceWrites);
  auto heads = post_and_pop(r, 4);
  r.push_used(heads[2], 50);
  r.drain();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(used[i].id, heads[i]);
    EXPECT_EQ(used[i].len, i == 2 ? 50u : 0u);
    EXPECT_FALSE(r.held(heads[i]));
  }
}

TEST_F(SplitInOrderTest, DrainOfADeviceReadsRingIsOneBatch) {
  SplitRingInOrder r = make(RingRole::kDeviceReads);
  auto heads = post_and_pop(r, 4);
  r.push_used(heads[1], 0);
  r.drain();
  EXPECT_EQ(q_.used_idx(), 4);
  EXPECT_EQ(used_elem(0).id, heads[3]);
}

// A chain that fails its walk goes back in its place.
TEST_F(SplitInOrderTest, ADroppedChainWaitsForTheChainsBeforeIt) {
  SplitRingInOrder r = make(RingRole::kDeviceWrites);
  const std::vector<Buf> good = {{kData, 64, true}};
  const std::vector<Buf> bad = {{0x10, 64, true}};
  const uint16_t a = q_.post(good);
  const uint16_t b = q_.post(bad);
  const uint16_t c = q_.post(good);
  ASSERT_TRUE(r.pop(scratch_));
  EXPECT_EQ(error_of(r.pop(scratch_)), RingError::kBufferOutOfMemory);
  ASSERT_TRUE(r.pop(scratch_));
  r.push_used(c, 30);
  r.publish_used();
  EXPECT_TRUE(q_.drain_used().empty());
  r.push_used(a, 10);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 3u);
  EXPECT_EQ(used[0].id, a);
  EXPECT_EQ(used[1].id, b);
  EXPECT_EQ(used[1].len, 0u);
  EXPECT_EQ(used[2].id, c);
  EXPECT_EQ(used[2].len, 30u);
}

TEST_F(SplitInOrderTest, AbandonForgetsTheOrder) {
  SplitRingInOrder r = make(RingRole::kDeviceReads);
  auto heads = post_and_pop(r, 3);
  r.push_used(heads[1], 0);
  r.abandon();
  r.publish_used();
  EXPECT_EQ(q_.used_idx(), 0);
  for (uint16_t h : heads) EXPECT_FALSE(r.held(h));
}

// ---- packed ----

class PackedInOrderTest : public ::testing::Test {
 protected:
  PackedInOrderTest() { q_.set_in_order(true); }
  PackedRing make(RingRole role, RingIndexes start = {kPackedWrapBit, kPackedWrapBit}) {
    auto r = PackedRing::create(q_.addresses(), m_.mem(), kInOrder | bit(feature::kRingPacked),
                                start, role);
    EXPECT_TRUE(r) << r.error().message;
    return std::move(*r);
  }
  // Chains of `descs[i]` descriptors each, made available and popped.
  std::vector<uint16_t> post_and_pop(PackedRing& r, std::initializer_list<uint32_t> descs) {
    std::vector<uint16_t> ids;
    for (uint32_t n : descs) {
      const std::vector<Buf> bufs(n, Buf{kData + 0x100 * ids.size(), 64, true});
      ids.push_back(q_.post(bufs));
    }
    for (uint16_t id : ids) {
      auto c = r.pop(scratch_);
      EXPECT_TRUE(c);
      if (c) {
        EXPECT_EQ(c->head, id);
      }
    }
    return ids;
  }
  static uint16_t encode(uint16_t position, bool wrap) {
    return PackedRing::encode(position, wrap);
  }

  TestMemory m_;
  FakePackedQueue q_{m_, kRing, 16};
  std::vector<ChainBuffer> scratch_ = std::vector<ChainBuffer>(16);
};

TEST_F(PackedInOrderTest, DeviceWritesRingReturnsChainsInPopOrderWithTheirLengths) {
  PackedRing r = make(RingRole::kDeviceWrites);
  EXPECT_TRUE(r.in_order());
  auto ids = post_and_pop(r, {1, 2, 3, 1});
  const uint16_t before = r.used_idx();
  r.push_used(ids[3], 400);
  r.push_used(ids[1], 200);
  EXPECT_EQ(r.used_idx(), before);
  r.publish_used();
  EXPECT_FALSE(q_.has_used());
  r.push_used(ids[0], 100);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, ids[0]);
  EXPECT_EQ(used[0].len, 100u);
  EXPECT_EQ(used[1].id, ids[1]);
  EXPECT_EQ(used[1].len, 200u);
  EXPECT_EQ(used[1].position, 1);
  r.push_used(ids[2], 300);
  r.publish_used();
  used = q_.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, ids[2]);
  EXPECT_EQ(used[0].len, 300u);
  EXPECT_EQ(used[0].position, 3);
  EXPECT_EQ(used[1].id, ids[3]);
  EXPECT_EQ(used[1].len, 400u);
  EXPECT_EQ(used[1].position, 6);
  for (const auto& u : used) EXPECT_EQ(u.buffers, 1);
  EXPECT_EQ(r.indexes().used_idx, encode(7, true));
}

// 2.8.9: one used descriptor for the batch, with the last buffer's id, at the batch's first
// position; the device skips the batch's descriptors.
TEST_F(PackedInOrderTest, DeviceReadsRingWritesOneDescriptorPerPublishedBatch) {
  PackedRing r = make(RingRole::kDeviceReads);
  auto ids = post_and_pop(r, {1, 2, 3, 1, 2});
  r.push_used(ids[2], 0);
  r.push_used(ids[0], 0);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, ids[0]);
  EXPECT_EQ(used[0].position, 0);
  EXPECT_EQ(used[0].buffers, 1);
  r.push_used(ids[3], 0);
  r.push_used(ids[1], 0);  // releases 1, 2, 3: six descriptors from position 1
  EXPECT_EQ(r.indexes().used_idx, encode(7, true));
  r.publish_used();
  // Only position 1 was written; 2..6 still hold the chains' descriptors as made available.
  for (uint16_t p = 2; p < 7; ++p) {
    EXPECT_EQ(q_.desc(p).flags & (kPackedDescFAvail | kPackedDescFUsed), kPackedDescFAvail) << p;
  }
  used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, ids[3]);
  EXPECT_EQ(used[0].len, 0u);
  EXPECT_EQ(used[0].position, 1);
  EXPECT_EQ(used[0].buffers, 3);
  EXPECT_EQ(q_.next_used(), 7);
  EXPECT_TRUE(r.held(ids[4]));
  r.publish_used();  // nothing new
  EXPECT_FALSE(q_.has_used());
}

TEST_F(PackedInOrderTest, DeviceReadsBatchAcrossTheEndOfTheRing) {
  q_.resume({encode(13, true), encode(13, true)});
  PackedRing r = make(RingRole::kDeviceReads, q_.indexes());
  auto ids = post_and_pop(r, {2, 2, 2});  // 13-14, 15-0, 1-2
  for (uint16_t id : ids) r.push_used(id, 0);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, ids[2]);
  EXPECT_EQ(used[0].position, 13);
  EXPECT_EQ(used[0].flags, kPackedDescFAvail | kPackedDescFUsed);
  EXPECT_EQ(used[0].buffers, 3);
  EXPECT_EQ(r.indexes().used_idx, encode(3, false));
  EXPECT_EQ(q_.indexes().used_idx, encode(3, false));
  // The next batch is written with wrap counter 0.
  auto more = post_and_pop(r, {1, 1});
  r.push_used(more[1], 0);
  r.push_used(more[0], 0);
  r.publish_used();
  used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, more[1]);
  EXPECT_EQ(used[0].position, 3);
  EXPECT_EQ(used[0].flags, 0);
}

TEST_F(PackedInOrderTest, DrainReturnsTheRestInOrderKeepingFinishedLengths) {
  PackedRing r = make(RingRole::kDeviceWrites);
  auto ids = post_and_pop(r, {1, 1, 2, 1});
  r.push_used(ids[2], 50);
  r.drain();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(used[i].id, ids[i]);
    EXPECT_EQ(used[i].len, i == 2 ? 50u : 0u);
    EXPECT_FALSE(r.held(ids[i]));
  }
  EXPECT_EQ(r.indexes().used_idx, r.indexes().last_avail_idx);
}

TEST_F(PackedInOrderTest, DrainOfADeviceReadsRingIsOneBatch) {
  PackedRing r = make(RingRole::kDeviceReads);
  auto ids = post_and_pop(r, {1, 3, 1});
  r.push_used(ids[1], 0);
  r.drain();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, ids[2]);
  EXPECT_EQ(used[0].buffers, 3);
  EXPECT_EQ(r.indexes().used_idx, encode(5, true));
}

TEST_F(PackedInOrderTest, ADroppedChainWaitsForTheChainsBeforeIt) {
  PackedRing r = make(RingRole::kDeviceWrites);
  const std::vector<Buf> good = {{kData, 64, true}};
  const std::vector<Buf> bad = {{0x10, 64, true}};
  const uint16_t a = q_.post(good);
  const uint16_t b = q_.post(bad);
  const uint16_t c = q_.post(good);
  ASSERT_TRUE(r.pop(scratch_));
  EXPECT_EQ(error_of(r.pop(scratch_)), RingError::kBufferOutOfMemory);
  ASSERT_TRUE(r.pop(scratch_));
  r.push_used(c, 30);
  r.publish_used();
  EXPECT_FALSE(q_.has_used());
  r.push_used(a, 10);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 3u);
  EXPECT_EQ(used[0].id, a);
  EXPECT_EQ(used[1].id, b);
  EXPECT_EQ(used[1].len, 0u);
  EXPECT_EQ(used[2].id, c);
  EXPECT_EQ(used[2].len, 30u);
}

TEST_F(PackedInOrderTest, AbandonForgetsTheOrderAndThePendingBatch) {
  PackedRing r = make(RingRole::kDeviceReads);
  auto ids = post_and_pop(r, {1, 1, 1});
  r.push_used(ids[0], 0);  // in the batch, not published
  r.push_used(ids[2], 0);  // waiting
  r.abandon();
  r.publish_used();
  EXPECT_FALSE(q_.has_used());
  for (uint16_t id : ids) EXPECT_FALSE(r.held(id));
}

}  // namespace
}  // namespace pmdnet::virtio
