// Tests of the enum name tables: the compile-time checks accept a complete table in order and
// refuse missing, reordered, duplicate and empty entries; lookups index the table and fall back to
// the caller's name for a kCount enumerator or a cast integer.
#include "core/base/enum_names.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace pmdnet {
namespace {

enum class Fruit : uint8_t { kApple, kBanana, kCherry, kCount };
enum class Temperature : int8_t { kCold = -1, kMild, kHot };

constexpr EnumNameTable<Fruit, static_cast<size_t>(Fruit::kCount)> kFruitNames{{
    {Fruit::kApple, "apple", "an apple"},
    {Fruit::kBanana, "banana", "a banana"},
    {Fruit::kCherry, "cherry", "a cherry"},
}};

// The checks are meant for static_assert: they must be constant expressions.
static_assert(covers_in_order(kFruitNames));
static_assert(has_distinct_keys(kFruitNames));
static_assert(key_of(kFruitNames, Fruit::kBanana, "?") == "banana");
static_assert(description_of(kFruitNames, Fruit::kCherry, "?") == "a cherry");

TEST(EnumNames, LooksUpEveryEnumerator) {
  EXPECT_EQ(key_of(kFruitNames, Fruit::kApple, "unknown"), "apple");
  EXPECT_EQ(key_of(kFruitNames, Fruit::kBanana, "unknown"), "banana");
  EXPECT_EQ(key_of(kFruitNames, Fruit::kCherry, "unknown"), "cherry");
  EXPECT_EQ(description_of(kFruitNames, Fruit::kApple, "unknown"), "an apple");
  ASSERT_NE(find_name(kFruitNames, Fruit::kCherry), nullptr);
  EXPECT_EQ(find_name(kFruitNames, Fruit::kCherry)->value, Fruit::kCherry);
}

TEST(EnumNames, ValuesPastTheTableGetTheFallback) {
  EXPECT_EQ(find_name(kFruitNames, Fruit::kCount), nullptr);
  EXPECT_EQ(key_of(kFruitNames, Fruit::kCount, "unknown"), "unknown");
  EXPECT_EQ(description_of(kFruitNames, static_cast<Fruit>(200), "no fruit"), "no fruit");
}

TEST(EnumNames, AMissingEntryIsNotCovered) {
  // Sized for every enumerator but given two: the third entry is value-initialised (kApple, "").
  constexpr EnumNameTable<Fruit, 3> missing{{
      {Fruit::kApple, "apple", "an apple"},
      {Fruit::kBanana, "banana", "a banana"},
  }};
  EXPECT_FALSE(covers_in_order(missing));
  EXPECT_FALSE(has_distinct_keys(missing));
}

TEST(EnumNames, EntriesOutOfOrderAreNotCovered) {
  constexpr EnumNameTable<Fruit, 3> swapped{{
      {Fruit::kBanana, "banana", "a banana"},
      {Fruit::kApple, "apple", "an apple"},
      {Fruit::kCherry, "cherry", "a cherry"},
  }};
  EXPECT_FALSE(covers_in_order(swapped));
  EXPECT_TRUE(has_distinct_keys(swapped));
}

TEST(EnumNames, DuplicateOrEmptyNamesAreRefused) {
  constexpr EnumNameTable<Fruit, 3> duplicate_key{{
      {Fruit::kApple, "apple", "an apple"},
      {Fruit::kBanana, "apple", "a banana"},
      {Fruit::kCherry, "cherry", "a cherry"},
  }};
  EXPECT_TRUE(covers_in_order(duplicate_key));
  EXPECT_FALSE(has_distinct_keys(duplicate_key));
  constexpr EnumNameTable<Fruit, 3> no_description{{
      {Fruit::kApple, "apple", "an apple"},
      {Fruit::kBanana, "banana", ""},
      {Fruit::kCherry, "cherry", "a cherry"},
  }};
  EXPECT_FALSE(has_distinct_keys(no_description));
}

TEST(EnumNames, NegativeEnumeratorsAreNeverInTheTable) {
  // A table indexes from 0: an enumeration starting at -1 cannot be covered, and a negative value
  // is past the table, not a wrapped-around index.
  constexpr EnumNameTable<Temperature, 2> temperatures{{
      {Temperature::kCold, "cold", "cold"},
      {Temperature::kMild, "mild", "mild"},
  }};
  EXPECT_FALSE(covers_in_order(temperatures));
  EXPECT_EQ(find_name(temperatures, Temperature::kCold), nullptr);
  EXPECT_EQ(key_of(temperatures, Temperature::kCold, "?"), "?");
}

}  // namespace
}  // namespace pmdnet
