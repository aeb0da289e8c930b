// EnumSet<E>: a small value-type set over an enumeration whose last enumerator is kCount, stored
// as one 64-bit mask (feature lists, RSS hash types).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

namespace pmdnet::config {

template <class E>
requires std::is_enum_v<E> &&(static_cast<size_t>(E::kCount) <= 64) class EnumSet {
 public:
  constexpr EnumSet() noexcept = default;
  constexpr EnumSet(std::initializer_list<E> items) noexcept {
    for (E e : items) insert(e);
  }

  constexpr bool contains(E e) const noexcept { return (bits_ & bit(e)) != 0; }
  constexpr void insert(E e) noexcept { bits_ |= bit(e); }
  constexpr void erase(E e) noexcept { bits_ &= ~bit(e); }
  constexpr bool empty() const noexcept { return bits_ == 0; }
  constexpr size_t size() const noexcept {
    return static_cast<size_t>(__builtin_popcountll(bits_));
  }
  // Bit i set <=> the enumerator with value i is in the set.
  constexpr uint64_t bits() const noexcept { return bits_; }

  constexpr EnumSet operator|(EnumSet other) const noexcept {
    return from_bits(bits_ | other.bits_);
  }
  constexpr EnumSet& operator|=(EnumSet other) noexcept {
    bits_ |= other.bits_;
    return *this;
  }
  constexpr bool operator==(const EnumSet&) const noexcept = default;

  static constexpr EnumSet from_bits(uint64_t bits) noexcept {
    EnumSet s;
    s.bits_ = bits & kAll;
    return s;
  }

 private:
  static constexpr size_t kCount = static_cast<size_t>(E::kCount);
  static constexpr uint64_t kAll = kCount == 64 ? ~uint64_t{0} : (uint64_t{1} << kCount) - 1;
  static constexpr uint64_t bit(E e) noexcept { return uint64_t{1} << static_cast<size_t>(e); }

  uint64_t bits_ = 0;
};

}  // namespace pmdnet::config
