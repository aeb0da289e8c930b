// Rendering the problem list: escaped, sorted by position, capped.
#include "config/problems.h"

#include <fmt/format.h>

#include <algorithm>

namespace pmdnet::config {

std::string escape_controls(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

std::string Problems::render(std::string_view raw_source, size_t max_shown) {
  std::ranges::stable_sort(items_, {}, &Problem::pos);
  std::string source = escape_controls(raw_source);
  std::string out;
  size_t shown = std::min(items_.size(), max_shown);
  for (size_t i = 0; i < shown; ++i) {
    if (!out.empty()) out += '\n';
    out += fmt::format("{}:{}:{}: {}", source, items_[i].pos.line, items_[i].pos.column,
                       escape_controls(items_[i].message));
  }
  if (items_.size() > shown) {
    out += fmt::format("\n{}: ... and {} more errors", source, items_.size() - shown);
  }
  return out;
}

}  // namespace pmdnet::config
