// Suggestions, lists and number conversions for the configuration reader's messages and values.
#include "config/text.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace pmdnet::config {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::optional<std::string_view> closest(std::string_view word,
                                        const std::vector<std::string_view>& candidates) {
  std::optional<std::string_view> best;
  size_t best_distance = 0;
  for (std::string_view c : candidates) {
    size_t d = edit_distance(word, c);
    if (!best || d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  size_t limit = std::max<size_t>(1, std::min<size_t>(2, word.size() / 3));
  if (best && best_distance <= limit) return best;
  return std::nullopt;
}

std::string unknown_name_message(std::string_view what, std::string_view word,
                                 const std::vector<std::string_view>& names) {
  std::string message = fmt::format("unknown {} '{}'; expected one of {}", what, word, join(names));
  if (auto near = closest(word, names)) message += fmt::format(" (did you mean '{}'?)", *near);
  return message;
}

std::string join(const std::vector<std::string_view>& items) {
  return fmt::format("{}", fmt::join(items, ", "));
}

std::string list_numbers(const std::vector<uint32_t>& numbers) {
  return fmt::format("{}", fmt::join(numbers, ", "));
}

std::optional<uint64_t> parse_decimal(std::string_view s) {
  uint64_t value = 0;
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s.front()))) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

uint8_t hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
  return static_cast<uint8_t>(std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
}

}  // namespace pmdnet::config
