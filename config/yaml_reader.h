// A generic reader of one YAML document over yaml-cpp: nodes as Values with their key path and
// position, typed reads that report whatever does not fit, and a map reader that reports unknown
// and duplicate keys with "did you mean" suggestions. It knows no configuration key; the schema
// (parse_*.cc) is written with it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/problems.h"

namespace pmdnet::config {

// The position of a yaml-cpp mark; 1:1 for a mark that has none.
Pos pos_of(const YAML::Mark& mark);

// A node, the key path that names it ("ports[0].vhost_user.mtu") and the position to report
// problems at: the value's own, or its key's when the value is empty (yaml-cpp places an empty
// value at the next token, which may be lines away).
// YAML::Node's assignment throws InvalidNode; every read runs inside read_document's catch.
// NOLINTNEXTLINE(bugprone-exception-escape): see above
struct Value {
  std::string path;
  YAML::Node node;
  Pos pos;
};

// What a node is, for messages: "no value", "a list", "a map", "'text'" or "the quoted string
// \"text\"".
std::string describe(const YAML::Node& node);

// Typed reads of values; whatever does not fit is reported, with its path and position.
class Reader {
 public:
  // `source` is the document's text, as yaml-cpp read it.
  Reader(Problems& problems, std::string_view source) : problems_(problems), source_(source) {}

  void error(Pos pos, std::string message) { problems_.add(pos, std::move(message)); }
  // Reported as `path: message`.
  void error(const Value& v, std::string_view message);

  bool expect_map(const Value& v);
  bool expect_list(const Value& v);

  // The list's items, as Values named path[i].
  std::vector<Value> items(const Value& list);

  // Any scalar. The word `null` (which YAML reads as "no value") is read as the string "null",
  // so that `type: null` can name something: no string-valued key has a "no value" meaning.
  std::optional<std::string> string(const Value& v);

  // A decimal integer in lo..hi, written unquoted.
  std::optional<uint64_t> integer(const Value& v, uint64_t lo, uint64_t hi);

  // `true` or `false` (YAML 1.2 core schema spellings), unquoted.
  std::optional<bool> boolean(const Value& v);

  // A string that is exactly one of `names`: its index there. Any other string is reported with
  // the names and the closest of them.
  std::optional<size_t> one_of(const Value& v, const std::vector<std::string_view>& names);

 private:
  bool is_null_word(const YAML::Mark& mark) const;

  Problems& problems_;
  std::string_view source_;
};

// The keys of one map: reports keys that are not names, appear twice or are unknown (with the
// closest known key), and hands out the values of the known ones.
class MapReader {
 public:
  MapReader(Reader& reader, const Value& map, std::vector<std::string_view> known);

  std::optional<Value> get(std::string_view key) const;

  // Like get, but a missing key is a problem.
  std::optional<Value> require(std::string_view key);

 private:
  std::string where() const;
  std::string child_path(std::string_view key) const;

  Reader& reader_;
  Value map_;
  std::map<std::string, Value, std::less<>> values_;
};

// Loads `yaml` as one YAML document and calls `read` with a Reader over it and the root Value
// (path "", at the root node's position, or 1:1 for an empty document). A UTF-8 byte order mark
// is skipped. A second document and YAML syntax errors, whether found while loading or thrown
// while `read` walks the nodes, become problems.
void read_document(std::string_view yaml, Problems& problems,
                   const std::function<void(Reader&, const Value&)>& read);

}  // namespace pmdnet::config
