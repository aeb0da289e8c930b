// Tests of Ring: FIFO order, growth across the wrap point, clear, power-of-two capacity, and
// indexing from the front and dropping from it (operator[], drop_front).
#include "core/base/ring.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstddef>
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

TEST(RingTest, IndexesFromTheFront) {
  Ring<int> ring(8);
  for (int i = 0; i < 5; ++i) ring.push_back(10 + i);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(ring[i], 10 + static_cast<int>(i)) << i;
  EXPECT_EQ(&ring[0], &ring.front());
  EXPECT_EQ(ring.pop_front(), 10);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(ring[i], 11 + static_cast<int>(i)) << i;
  EXPECT_EQ(ring.size(), 4u);  // reading does not remove
}

TEST(RingTest, IndexesAcrossTheWrap) {
  Ring<int> ring(4);
  for (int i = 0; i < 3; ++i) ring.push_back(i);
  ring.drop_front(3);
  for (int i = 3; i < 7; ++i) ring.push_back(i);  // slots hold 4 5 6 3: full, front at slot 3
  ASSERT_EQ(ring.capacity(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(ring[i], 3 + static_cast<int>(i)) << i;
}

TEST(RingTest, IndexesAfterGrowingWhileWrapped) {
  Ring<int> ring(4);
  ring.push_back(0);
  ring.push_back(1);
  ring.pop_front();
  ring.pop_front();
  for (int i = 2; i < 6; ++i) ring.push_back(i);  // wrapped and full
  ring.push_back(6);                              // grows
  ASSERT_EQ(ring.capacity(), 8u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(ring[i], 2 + static_cast<int>(i)) << i;
  ring.drop_front(2);
  for (int i = 7; i < 12; ++i) ring.push_back(i);  // wraps in the grown slots
  ASSERT_EQ(ring.capacity(), 8u);
  ASSERT_EQ(ring.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(ring[i], 4 + static_cast<int>(i)) << i;
}

TEST(RingTest, DropFrontRemovesThatManyFromTheFront) {
  Ring<int> ring(4);
  for (int i = 0; i < 6; ++i) ring.push_back(i);
  ring.drop_front(0);
  EXPECT_EQ(ring.size(), 6u);
  EXPECT_EQ(ring.front(), 0);
  ring.drop_front(4);
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.front(), 4);
  EXPECT_EQ(ring[1], 5);
  ring.drop_front(2);
  EXPECT_TRUE(ring.empty());
  // The ring goes on from where the drop left it, and a full ring dropped whole is empty.
  for (int i = 0; i < 8; ++i) ring.push_back(100 + i);
  ring.drop_front(8);
  EXPECT_TRUE(ring.empty());
  ring.push_back(7);
  EXPECT_EQ(ring.pop_front(), 7);
  EXPECT_TRUE(ring.empty());
}

TEST(RingTest, IndexAndDropFrontMatchADeque) {
  std::mt19937 rng(7);
  Ring<uint32_t> ring(2);
  std::deque<uint32_t> model;
  uint32_t next = 0;
  for (int step = 0; step < 20000; ++step) {
    const uint32_t r = rng() % 100;
    if (model.empty() || r < (step < 10000 ? 55u : 35u)) {
      const uint32_t n = 1 + rng() % 5;
      for (uint32_t k = 0; k < n; ++k) {
        ring.push_back(next);
        model.push_back(next++);
      }
    } else {
      const size_t n = rng() % (model.size() + 1);
      ring.drop_front(n);
      model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(n));
    }
    ASSERT_EQ(ring.size(), model.size());
    for (size_t i = 0; i < model.size(); ++i) ASSERT_EQ(ring[i], model[i]) << step << " " << i;
  }
}

}  // namespace
}  // namespace pmdnet
