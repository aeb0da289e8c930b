// FuzzInput: pulls integers out of a fuzzer's byte string; an exhausted input reads as zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace pmdnet::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <class T>
  T take() {
    T v{};
    size_t n = sizeof(T) < size_ - pos_ ? sizeof(T) : size_ - pos_;
    if (n > 0) std::memcpy(&v, data_ + pos_, n);
    pos_ += n;
    return v;
  }
  // A value in [0, bound) (bound > 0).
  uint64_t below(uint64_t bound) { return take<uint64_t>() % bound; }
  bool empty() const { return pos_ >= size_; }
  // How many bytes have been taken (at most the input's size).
  size_t position() const { return pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace pmdnet::fuzz
