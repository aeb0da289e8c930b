// Tests of Counter: add/increment/get, and exact totals while another thread reads.
#include "core/base/counter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>

namespace pmdnet {
namespace {

TEST(CounterTest, StartsAtZero) {
  Counter c;
  EXPECT_EQ(c.get(), 0u);
}

TEST(CounterTest, AddAndIncrementAccumulate) {
  Counter c;
  c.add(5);
  EXPECT_EQ(c.get(), 5u);
  c.increment();
  EXPECT_EQ(c.get(), 6u);
  c.add(0);
  EXPECT_EQ(c.get(), 6u);
  c.add(uint64_t{1} << 40);
  EXPECT_EQ(c.get(), (uint64_t{1} << 40) + 6);
}

TEST(CounterTest, ReaderOnAnotherThreadSeesMonotonicValuesAndWriterTotalIsExact) {
  constexpr uint64_t kIncrements = 200000;
  Counter c;
  std::atomic<bool> started{false};
  std::atomic<bool> done{false};
  bool monotonic = true;
  bool bounded = true;
  uint64_t reads = 0;
  std::thread reader([&] {
    uint64_t last = 0;
    started.store(true, std::memory_order_release);
    do {
      uint64_t v = c.get();
      if (v < last) monotonic = false;
      if (v > kIncrements * 2) bounded = false;
      last = v;
      ++reads;
    } while (!done.load(std::memory_order_acquire));
  });
  while (!started.load(std::memory_order_acquire)) std::this_thread::yield();  // overlap the reads
  for (uint64_t i = 0; i < kIncrements; ++i) {
    if (i % 2 == 0) {
      c.increment();
    } else {
      c.add(3);
    }
  }
  done.store(true, std::memory_order_release);
  reader.join();
  EXPECT_TRUE(monotonic);
  EXPECT_TRUE(bounded);
  EXPECT_GT(reads, 0u);
  EXPECT_EQ(c.get(), kIncrements / 2 * 1 + kIncrements / 2 * 3);
}

}  // namespace
}  // namespace pmdnet
