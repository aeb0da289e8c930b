// A FIFO of trivially copyable values in a power-of-two ring that doubles when full: it allocates
// only while growing, so in a steady state push and pop never touch the allocator.
#pragma once

#include <bit>
#include <cstddef>
#include <type_traits>
#include <vector>

namespace pmdnet {

template <class T>
class Ring {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  // bit_ceil(0) is 1, so the ring always has at least one slot.
  explicit Ring(size_t initial_capacity = 64) : slots_(std::bit_ceil(initial_capacity)) {}

  size_t size() const noexcept { return tail_ - head_; }
  bool empty() const noexcept { return head_ == tail_; }
  size_t capacity() const noexcept { return slots_.size(); }

  void push_back(T v) {
    if (size() == slots_.size()) grow();
    slots_[tail_++ & mask()] = v;
  }
  // Precondition: !empty().
  T pop_front() noexcept { return slots_[head_++ & mask()]; }
  const T& front() const noexcept { return slots_[head_ & mask()]; }
  // The value `i` places behind the front. Precondition: i < size().
  const T& operator[](size_t i) const noexcept { return slots_[(head_ + i) & mask()]; }
  // Removes the first `n` values. Precondition: n <= size().
  void drop_front(size_t n) noexcept { head_ += n; }
  void clear() noexcept { head_ = tail_ = 0; }

 private:
  size_t mask() const noexcept { return slots_.size() - 1; }
  void grow() {
    std::vector<T> bigger(slots_.size() * 2);
    size_t n = size();
    for (size_t i = 0; i < n; ++i) bigger[i] = slots_[(head_ + i) & mask()];
    slots_.swap(bigger);
    head_ = 0;
    tail_ = n;
  }

  std::vector<T> slots_;
  size_t head_ = 0;  // free-running; indexes are masked on use
  size_t tail_ = 0;
};

}  // namespace pmdnet
