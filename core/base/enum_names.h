// Names for the values of an enumeration, kept in one table per enumeration: each entry holds the
// enumerator, its snake_case key (telemetry counter names) and a description for people (logs,
// guest error reports). A table lists the enumerators 0, 1, 2, ... in order, which a
// static_assert(covers_in_order(table)) checks where the table is defined, so a lookup is an
// index.
//
//   constexpr EnumNameTable<Colour, 2> kColourNames{{
//       {Colour::kRed, "red", "the colour red"},
//       {Colour::kGreen, "green", "the colour green"},
//   }};
//   static_assert(covers_in_order(kColourNames) && has_distinct_keys(kColourNames));
//   std::string_view to_key(Colour c) noexcept { return key_of(kColourNames, c, "unknown"); }
//
// Sized by the enumeration's count (kCount or a separate constant), a table that misses an
// enumerator fails covers_in_order: the missing entries are value-initialised.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

namespace pmdnet {

template <class E>
requires std::is_enum_v<E>
struct EnumName {
  E value;
  std::string_view key;          // snake_case, unique in its table
  std::string_view description;  // a short phrase
};

template <class E, size_t N>
using EnumNameTable = std::array<EnumName<E>, N>;

// True if table[i] is the entry of the enumerator whose value is i, for every i < N.
template <class E, size_t N>
constexpr bool covers_in_order(const EnumNameTable<E, N>& table) noexcept {
  for (size_t i = 0; i < N; ++i) {
    if (!std::cmp_equal(std::to_underlying(table[i].value), i)) return false;
  }
  return true;
}

// True if every key and description is non-empty and no two keys are equal.
template <class E, size_t N>
constexpr bool has_distinct_keys(const EnumNameTable<E, N>& table) noexcept {
  for (size_t i = 0; i < N; ++i) {
    if (table[i].key.empty() || table[i].description.empty()) return false;
    for (size_t j = 0; j < i; ++j) {
      if (table[i].key == table[j].key) return false;
    }
  }
  return true;
}

// The entry of `value` in a table that covers_in_order, or nullptr for a value past its end (a
// kCount enumerator, or an integer cast to E).
template <class E, size_t N>
constexpr const EnumName<E>* find_name(const EnumNameTable<E, N>& table, E value) noexcept {
  const auto i = std::to_underlying(value);
  return std::in_range<size_t>(i) && static_cast<size_t>(i) < N ? &table[static_cast<size_t>(i)]
                                                                : nullptr;
}

// The key of `value`, or `unknown` for a value past the table's end.
template <class E, size_t N>
constexpr std::string_view key_of(const EnumNameTable<E, N>& table, E value,
                                  std::string_view unknown) noexcept {
  const EnumName<E>* name = find_name(table, value);
  return name != nullptr ? name->key : unknown;
}

// The description of `value`, or `unknown` for a value past the table's end.
template <class E, size_t N>
constexpr std::string_view description_of(const EnumNameTable<E, N>& table, E value,
                                          std::string_view unknown) noexcept {
  const EnumName<E>* name = find_name(table, value);
  return name != nullptr ? name->description : unknown;
}

}  // namespace pmdnet
