// The generic YAML reader: typed reads, map keys, and loading one document with yaml-cpp.
#include "config/yaml_reader.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <utility>

#include "config/text.h"

namespace pmdnet::config {

Pos pos_of(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return Pos{};
  return Pos{mark.line + 1, mark.column + 1};
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return "no value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") return fmt::format("the quoted string \"{}\"", node.Scalar());
      return fmt::format("'{}'", node.Scalar());
  }
  return "something else";
}

// ---- Reader ----

void Reader::error(const Value& v, std::string_view message) {
  problems_.add(v.pos, fmt::format("{}: {}", v.path, message));
}

bool Reader::expect_map(const Value& v) {
  if (v.node.IsMap()) return true;
  error(v, fmt::format("expected a map, got {}", describe(v.node)));
  return false;
}

bool Reader::expect_list(const Value& v) {
  if (v.node.IsSequence()) return true;
  error(v, fmt::format("expected a list, got {}", describe(v.node)));
  return false;
}

std::vector<Value> Reader::items(const Value& list) {
  std::vector<Value> out;
  size_t i = 0;
  for (YAML::Node item : list.node) {
    Pos pos = item.IsNull() ? list.pos : pos_of(item.Mark());
    out.push_back(Value{fmt::format("{}[{}]", list.path, i++), item, pos});
  }
  return out;
}

std::optional<std::string> Reader::string(const Value& v) {
  if (v.node.IsScalar()) return v.node.Scalar();
  if (v.node.IsNull() && is_null_word(v.node.Mark())) return "null";
  error(v, fmt::format("expected a string, got {}", describe(v.node)));
  return std::nullopt;
}

std::optional<uint64_t> Reader::integer(const Value& v, uint64_t lo, uint64_t hi) {
  if (!v.node.IsScalar() || v.node.Tag() == "!") {
    error(v, fmt::format("expected an integer, got {}", describe(v.node)));
    return std::nullopt;
  }
  const std::string& text = v.node.Scalar();
  std::string_view digits = text;
  bool negative = digits.starts_with('-');
  if (negative) digits.remove_prefix(1);
  bool all_digits = !digits.empty() && std::ranges::all_of(digits, [](unsigned char c) {
    return std::isdigit(c) != 0;
  });
  if (!all_digits) {
    error(v, fmt::format("expected an integer, got {}", describe(v.node)));
    return std::nullopt;
  }
  std::optional<uint64_t> value = negative ? std::nullopt : parse_decimal(digits);
  if (!value || *value < lo || *value > hi) {
    error(v, fmt::format("{} is out of range; expected {}..{}", text, lo, hi));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Reader::boolean(const Value& v) {
  if (v.node.IsScalar() && v.node.Tag() != "!") {
    const std::string& s = v.node.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  error(v, fmt::format("expected true or false, got {}", describe(v.node)));
  return std::nullopt;
}

std::optional<size_t> Reader::one_of(const Value& v, const std::vector<std::string_view>& names) {
  auto text = string(v);
  if (!text) return std::nullopt;
  if (auto it = std::ranges::find(names, *text); it != names.end()) {
    return static_cast<size_t>(it - names.begin());
  }
  error(v, unknown_name_message("value", *text, names));
  return std::nullopt;
}

// Whether the source text at `mark` is the plain word null/Null/NULL, ending the value. An empty
// value has the mark of the next token, which is never that word followed by the end of a value
// (the next token would be a key, followed by ':').
bool Reader::is_null_word(const YAML::Mark& mark) const {
  if (mark.is_null() || mark.pos < 0 || static_cast<size_t>(mark.pos) >= source_.size()) {
    return false;
  }
  std::string_view rest = source_.substr(static_cast<size_t>(mark.pos));
  if (!rest.starts_with("null") && !rest.starts_with("Null") && !rest.starts_with("NULL")) {
    return false;
  }
  rest.remove_prefix(4);
  size_t end = rest.find_first_not_of(" \t");
  return end == std::string_view::npos ||
         std::string_view("\r\n#,]}").find(rest[end]) != std::string_view::npos;
}

// ---- MapReader ----

MapReader::MapReader(Reader& reader, const Value& map, std::vector<std::string_view> known)
    : reader_(reader), map_(map) {
  std::map<std::string, Pos, std::less<>> seen;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    YAML::Node key = it->first;
    Pos key_pos = pos_of(key.Mark());
    if (!key.IsScalar()) {
      reader_.error(key_pos,
                    fmt::format("{}: a key must be a name, got {}", where(), describe(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    std::string path = child_path(name);
    if (auto [first, inserted] = seen.emplace(name, key_pos); !inserted) {
      reader_.error(key_pos,
                    fmt::format("{}: duplicate key (first at line {})", path, first->second.line));
      continue;
    }
    if (std::ranges::find(known, name) == known.end()) {
      std::string message = fmt::format("{}: unknown key", path);
      if (auto near = closest(name, known)) {
        message += fmt::format("; did you mean '{}'?", *near);
      } else {
        message += fmt::format("; expected one of {}", join(known));
      }
      reader_.error(key_pos, std::move(message));
      continue;
    }
    YAML::Node value = it->second;
    Pos pos = value.IsNull() ? key_pos : pos_of(value.Mark());
    values_.emplace(name, Value{std::move(path), value, pos});
  }
}

std::optional<Value> MapReader::get(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::optional<Value> MapReader::require(std::string_view key) {
  auto v = get(key);
  if (!v) reader_.error(map_.pos, fmt::format("{}: missing required key '{}'", where(), key));
  return v;
}

std::string MapReader::where() const { return map_.path.empty() ? "top level" : map_.path; }

std::string MapReader::child_path(std::string_view key) const {
  return map_.path.empty() ? std::string(key) : fmt::format("{}.{}", map_.path, key);
}

// ---- Loading the document ----

namespace {

// Records where each document starts, and nothing else.
class DocumentStarts final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<YAML::Mark> marks;
};

// Where a second document starts, if there is one. yaml-cpp 0.7's LoadAll never returns on a
// stream with a stray ',' at document level (its parser reports a new, empty document at the same
// place forever), so documents are counted here with a bounded loop: two are enough to know.
// A second "document" that starts where the first did is that bug's signature, reported as the
// syntax error it is.
std::optional<YAML::Mark> second_document(const std::string& text, Problems& problems) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
  }
  if (starts.marks.size() < 2) return std::nullopt;
  const YAML::Mark& a = starts.marks[0];
  const YAML::Mark& b = starts.marks[1];
  if (a.pos == b.pos) {
    problems.add(pos_of(b), "YAML syntax error: a token that cannot start a document (',')");
    return std::nullopt;
  }
  return b;
}

}  // namespace

void read_document(std::string_view yaml, Problems& problems,
                   const std::function<void(Reader&, const Value&)>& read) {
  // yaml-cpp skips a UTF-8 byte order mark and counts positions after it; strip it here so that
  // the positions index `yaml` as the Reader sees it.
  if (yaml.starts_with("\xEF\xBB\xBF")) yaml.remove_prefix(3);
  try {
    std::string text(yaml);
    if (auto second = second_document(text, problems)) {
      problems.add(pos_of(*second),
                   "a second YAML document ('---'); the configuration is one document");
    }
    YAML::Node root = YAML::Load(text);
    Pos root_pos = root.IsDefined() && !root.IsNull() ? pos_of(root.Mark()) : Pos{};
    Reader reader(problems, yaml);
    read(reader, Value{"", root, root_pos});
  } catch (const YAML::Exception& e) {
    problems.add(pos_of(e.mark), fmt::format("YAML syntax error: {}", e.msg));
  }
}

}  // namespace pmdnet::config
