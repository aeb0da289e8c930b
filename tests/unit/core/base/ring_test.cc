// Tests of Ring: FIFO order, growth across the wrap point, clear, and power-of-two capacity.
#include "core/base/ring.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <deque>
#include <random>

namespace pmdnet {
namespace {

TEST(RingTest, StartsEmpty) {
  Ring<int> ring;
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.capacity(), 64u);
}

TEST(RingTest, PopsInFifoOrder) {
  Ring<int> ring(16);
  for (int i = 0; i < 10; ++i) ring.push_back(i);
  EXPECT_EQ(ring.size(), 10u);
  EXPECT_FALSE(ring.empty());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(ring.front(), i);
    EXPECT_EQ(ring.pop_front(), i);
  }
  EXPECT_TRUE(ring.empty());
}

TEST(RingTest, FrontDoesNotRemove) {
  Ring<int> ring(4);
  ring.push_back(7);
  ring.push_back(8);
  EXPECT_EQ(ring.front(), 7);
  EXPECT_EQ(ring.front(), 7);
  EXPECT_EQ(ring.size(), 2u);
}

TEST(RingTest, CapacityIsTheNextPowerOfTwo) {
  struct Case {
    size_t requested;
    size_t expected;
  };
  for (auto [requested, expected] : {Case{0, 1}, Case{1, 1}, Case{2, 2}, Case{3, 4}, Case{5, 8},
                                     Case{63, 64}, Case{64, 64}, Case{65, 128}, Case{1000, 1024}}) {
    Ring<uint32_t> ring(requested);
    EXPECT_EQ(ring.capacity(), expected) << "requested " << requested;
    EXPECT_TRUE(std::has_single_bit(ring.capacity()));
  }
}

TEST(RingTest, GrowsWhenFullAndStaysPowerOfTwo) {
  Ring<int> ring(4);
  for (int i = 0; i < 4; ++i) ring.push_back(i);
  EXPECT_EQ(ring.capacity(), 4u);
  ring.push_back(4);
  EXPECT_EQ(ring.capacity(), 8u);
  for (int i = 5; i < 100; ++i) ring.push_back(i);
  EXPECT_TRUE(std::has_single_bit(ring.capacity()));
  EXPECT_GE(ring.capacity(), 100u);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(ring.pop_front(), i);
}

TEST(RingTest, GrowthAcrossWraparoundKeepsOrder) {
  Ring<int> ring(4);
  // Move head and tail past the end of the slots so the live values wrap around.
  ring.push_back(0);
  ring.push_back(1);
  ring.push_back(2);
  EXPECT_EQ(ring.pop_front(), 0);
  EXPECT_EQ(ring.pop_front(), 1);
  for (int i = 3; i <= 5; ++i) ring.push_back(i);  // slots now hold 4 5 2 3: full and wrapped
  ASSERT_EQ(ring.size(), 4u);
  ASSERT_EQ(ring.capacity(), 4u);
  ring.push_back(6);  // grows while wrapped
  EXPECT_EQ(ring.capacity(), 8u);
  for (int i = 2; i <= 6; ++i) EXPECT_EQ(ring.pop_front(), i);
  EXPECT_TRUE(ring.empty());
}

TEST(RingTest, MatchesADequeUnderRandomPushesAndPops) {
  std::mt19937 rng(42);
  Ring<uint64_t> ring(2);
  std::deque<uint64_t> model;
  uint64_t next = 0;
  for (int step = 0; step < 20000; ++step) {
    // Bias towards pushing in the first half and popping in the second, so the ring both grows
    // and drains while its indexes sit at every offset.
    bool push = model.empty() || (rng() % 100) < (step < 10000 ? 60u : 40u);
    if (push) {
      ring.push_back(next);
      model.push_back(next);
      ++next;
    } else {
      ASSERT_EQ(ring.front(), model.front());
      ASSERT_EQ(ring.pop_front(), model.front());
      model.pop_front();
    }
    ASSERT_EQ(ring.size(), model.size());
    ASSERT_TRUE(std::has_single_bit(ring.capacity()));
    ASSERT_GE(ring.capacity(), ring.size());
  }
  while (!model.empty()) {
    ASSERT_EQ(ring.pop_front(), model.front());
    model.pop_front();
  }
  EXPECT_TRUE(ring.empty());
}

TEST(RingTest, SteadyStateDoesNotGrow) {
  Ring<int> ring(8);
  for (int i = 0; i < 10000; ++i) {
    ring.push_back(i);
    ring.push_back(i);
    ring.pop_front();
    ring.pop_front();
  }
  EXPECT_EQ(ring.capacity(), 8u);
  EXPECT_TRUE(ring.empty());
}

TEST(RingTest, ClearEmptiesButKeepsCapacity) {
  Ring<int> ring(4);
  for (int i = 0; i < 10; ++i) ring.push_back(i);
  size_t capacity = ring.capacity();
  ring.clear();
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.capacity(), capacity);
  ring.push_back(100);
  ring.push_back(101);
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.pop_front(), 100);
  EXPECT_EQ(ring.pop_front(), 101);
}

TEST(RingTest, HoldsTriviallyCopyableStructs) {
  struct Pair {
    uint32_t a;
    uint16_t b;
  };
  Ring<Pair> ring(1);
  for (uint32_t i = 0; i < 5; ++i) ring.push_back({i, static_cast<uint16_t>(i * 3)});
  for (uint32_t i = 0; i < 5; ++i) {
    Pair p = ring.pop_front();
    EXPECT_EQ(p.a, i);
    EXPECT_EQ(p.b, i * 3);
  }
}

}  // namespace
}  // namespace pmdnet
