// Positions in a text file and the list of problems found in it, rendered as one
// `source:line:col: message` line per problem.
#pragma once

#include <compare>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pmdnet::config {

// A 1-based line and column.
struct Pos {
  int line = 1;
  int column = 1;

  auto operator<=>(const Pos&) const = default;
};

struct Problem {
  Pos pos;
  std::string message;
};

// Control characters from the file (a key with a newline in it, say) must not break the report's
// one-line-per-problem shape, nor reach a log as terminal escapes: they are written as \xNN.
std::string escape_controls(std::string_view text);

// Every problem found in one file, each with its position.
class Problems {
 public:
  void add(Pos pos, std::string message) { items_.push_back({pos, std::move(message)}); }
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }

  // One `source:line:col: message` line per problem, by position (problems at one position in
  // the order they were added); at most `max_shown` of them, then `source: ... and N more
  // errors`. The source name and the messages have their control characters escaped.
  std::string render(std::string_view raw_source, size_t max_shown);

 private:
  std::vector<Problem> items_;
};

}  // namespace pmdnet::config
