// Pure text functions for the reader's and the schema's messages and values: "did you mean"
// suggestions, lists, strict decimal numbers and hex digits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pmdnet::config {

// Edit distance counting insertions, deletions, substitutions and transpositions of adjacent
// characters (optimal string alignment), for "did you mean" suggestions: `dpkd` is one edit from
// `dpdk`.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` (the first of equally close ones), if it is close enough to be
// a likely typo: at most word.size() / 3 edits, and at least 1, at most 2.
std::optional<std::string_view> closest(std::string_view word,
                                        const std::vector<std::string_view>& candidates);

// "unknown <what> '<word>'; expected one of <names>", with " (did you mean '<name>'?)" when one
// of `names` is closest to `word`.
std::string unknown_name_message(std::string_view what, std::string_view word,
                                 const std::vector<std::string_view>& names);

// The items separated by ", ".
std::string join(const std::vector<std::string_view>& items);
std::string list_numbers(const std::vector<uint32_t>& numbers);

// A whole string as an unsigned decimal number: digits only, no sign, no overflow.
std::optional<uint64_t> parse_decimal(std::string_view s);

bool is_hex(char c);
// The value of the hex digit `c` (which is_hex accepts).
uint8_t hex_value(char c);

}  // namespace pmdnet::config
