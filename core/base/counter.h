// A statistics counter with one writer (the worker that owns it) and any number of readers
// (telemetry on another thread): relaxed atomics, so increments cost a plain add, not a lock.
#pragma once

#include <atomic>
#include <cstdint>

namespace pmdnet {

class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Single writer only: a load and a store, not a read-modify-write.
  void add(uint64_t n) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void increment() noexcept { add(1); }
  uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace pmdnet
