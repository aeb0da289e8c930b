// YAML text -> Config: walks yaml-cpp's node tree, checks every key's type and range, resolves the
// defaults, then checks the relations between keys, collecting every problem with its position.
#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <compare>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/names.h"

namespace pmdnet::config {
namespace {

using Node = YAML::Node;

// ---- Positions and the problem list ----

// A 1-based line and column.
struct Pos {
  int line = 1;
  int column = 1;

  auto operator<=>(const Pos&) const = default;
};

Pos pos_of(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return Pos{};
  return Pos{mark.line + 1, mark.column + 1};
}

struct Problem {
  Pos pos;
  std::string message;
};

// Control characters from the file (a key with a newline in it, say) must not break the report's
// one-line-per-problem shape, nor reach a log as terminal escapes: they are written as \xNN.
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

class Problems {
 public:
  void add(Pos pos, std::string message) { items_.push_back({pos, std::move(message)}); }
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }

  // One `source:line:col: message` line per problem, by position; at most kMaxReportedErrors.
  std::string render(std::string_view raw_source) {
    std::ranges::stable_sort(items_, {}, &Problem::pos);
    std::string source = escape_controls(raw_source);
    std::string out;
    size_t shown = std::min(items_.size(), kMaxReportedErrors);
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

 private:
  std::vector<Problem> items_;
};

// ---- Small text helpers ----

// Edit distance counting insertions, deletions, substitutions and transpositions of adjacent
// characters (optimal string alignment), for "did you mean" suggestions: `dpkd` is one edit from
// `dpdk`.
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

// The candidate closest to `word`, if it is close enough to be a likely typo.
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

std::string join(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::string_view s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

template <NamedEnum E>
std::vector<std::string_view> names_of() {
  std::vector<std::string_view> out;
  for (const auto& entry : EnumNames<E>::kTable) out.push_back(entry.name);
  return out;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

uint8_t hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
  return static_cast<uint8_t>(std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
}

bool has_space_or_control(std::string_view s) {
  return std::ranges::any_of(s, [](unsigned char c) { return std::isspace(c) || std::iscntrl(c); });
}

// Parses a whole string as an unsigned decimal number.
std::optional<uint64_t> parse_decimal(std::string_view s) {
  uint64_t value = 0;
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s.front()))) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::string list_numbers(const std::vector<uint32_t>& numbers) {
  std::string out;
  for (uint32_t n : numbers) {
    if (!out.empty()) out += ", ";
    out += std::to_string(n);
  }
  return out;
}

// ---- Values of the grammar-checked strings ----

// DPDK's -l/--lcores syntax: element (',' element)*, where element is set ['@' set] and set is
// a number, a range a-b, or a parenthesised list of those. Returns the lcore ids (the part
// before each '@'), or a description of what is wrong.
class LcoreSetParser {
 public:
  explicit LcoreSetParser(std::string_view text) : text_(text) {}

  std::expected<std::set<uint32_t>, std::string> parse() {
    std::set<uint32_t> lcores;
    do {
      auto ids = parse_set(kMaxLcores, "lcore");
      if (!ids) return std::unexpected(ids.error());
      lcores.insert(ids->begin(), ids->end());
      if (peek() == '@') {
        ++at_;
        auto cpus = parse_set(kMaxCpus, "CPU");
        if (!cpus) return std::unexpected(cpus.error());
      }
    } while (accept(','));
    if (at_ != text_.size()) {
      return std::unexpected(fmt::format("unexpected '{}' at offset {}", text_[at_], at_));
    }
    return lcores;
  }

 private:
  char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }
  bool accept(char c) {
    if (peek() != c) return false;
    ++at_;
    return true;
  }

  std::expected<std::set<uint32_t>, std::string> parse_set(uint32_t limit, std::string_view what) {
    std::set<uint32_t> ids;
    if (accept('(')) {
      do {
        if (auto r = parse_range(ids, limit, what); !r) return std::unexpected(r.error());
      } while (accept(','));
      if (!accept(')')) return std::unexpected(fmt::format("missing ')' at offset {}", at_));
      return ids;
    }
    if (auto r = parse_range(ids, limit, what); !r) return std::unexpected(r.error());
    return ids;
  }

  std::expected<void, std::string> parse_range(std::set<uint32_t>& ids, uint32_t limit,
                                               std::string_view what) {
    auto first = parse_number(limit, what);
    if (!first) return std::unexpected(first.error());
    uint32_t last = *first;
    if (accept('-')) {
      auto second = parse_number(limit, what);
      if (!second) return std::unexpected(second.error());
      if (*second < *first) {
        return std::unexpected(fmt::format("range {}-{} runs backwards", *first, *second));
      }
      last = *second;
    }
    for (uint32_t id = *first; id <= last; ++id) ids.insert(id);
    return {};
  }

  std::expected<uint32_t, std::string> parse_number(uint32_t limit, std::string_view what) {
    size_t start = at_;
    while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) ++at_;
    if (start == at_) {
      if (at_ == text_.size())
        return std::unexpected(fmt::format("{} id missing at the end", what));
      return std::unexpected(
          fmt::format("expected a {} id at offset {}, got '{}'", what, start, text_[start]));
    }
    auto value = parse_decimal(text_.substr(start, at_ - start));
    if (!value || *value >= limit) {
      return std::unexpected(fmt::format("{} id {} is out of range; expected 0..{}", what,
                                         text_.substr(start, at_ - start), limit - 1));
    }
    return static_cast<uint32_t>(*value);
  }

  std::string_view text_;
  size_t at_ = 0;
};

// "aa:bb:cc:dd:ee:ff", hex digits in either case.
std::optional<MacAddress> parse_mac(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  MacAddress mac{};
  for (size_t i = 0; i < 6; ++i) {
    char hi = s[i * 3];
    char lo = s[i * 3 + 1];
    if (!is_hex(hi) || !is_hex(lo)) return std::nullopt;
    if (i < 5 && s[i * 3 + 2] != ':') return std::nullopt;
    mac[i] = static_cast<uint8_t>(hex_value(hi) << 4 | hex_value(lo));
  }
  return mac;
}

// A PCI address, [domain:]bus:device.function in hex: domain 1-8 digits (4 usually), bus 2,
// device 2 (at most 1f), function 1 (at most 7). Returns it normalised as dddd:bb:dd.f, or a
// description of what is wrong.
std::expected<std::string, std::string> normalise_pci(std::string_view s) {
  constexpr std::string_view kForm = "expected [dddd:]bb:dd.f";
  size_t dot = s.rfind('.');
  if (dot == std::string_view::npos) return std::unexpected(std::string(kForm));
  std::string_view function = s.substr(dot + 1);
  std::string_view rest = s.substr(0, dot);
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t colon = rest.find(':', start);
    parts.push_back(rest.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() == 2) parts.insert(parts.begin(), "0000");
  if (parts.size() != 3) return std::unexpected(std::string(kForm));
  auto all_hex = [](std::string_view p) { return !p.empty() && std::ranges::all_of(p, is_hex); };
  std::string_view domain = parts[0];
  std::string_view bus = parts[1];
  std::string_view device = parts[2];
  if (!all_hex(domain) || domain.size() > 8 || !all_hex(bus) || bus.size() != 2 ||
      !all_hex(device) || device.size() != 2 || !all_hex(function) || function.size() != 1) {
    return std::unexpected(std::string(kForm));
  }
  if (hex_value(device[0]) * 16 + hex_value(device[1]) > 0x1f) {
    return std::unexpected(fmt::format("device number {} is above 1f", device));
  }
  if (hex_value(function[0]) > 7) {
    return std::unexpected(fmt::format("function number {} is above 7", function));
  }
  std::string out = fmt::format("{:0>4}:{}:{}.{}", domain, bus, device, function);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

struct Device {
  DeviceKind kind;
  std::string identity;  // what two ports must not share: the normalised PCI address or vdev name
};

// backend.device: a PCI address or a vdev, either optionally followed by ",key=value,...".
std::expected<Device, std::string> classify_device(std::string_view s) {
  if (s.empty()) return std::unexpected(std::string("must not be empty"));
  if (has_space_or_control(s)) return std::unexpected(std::string("must not contain whitespace"));
  size_t comma = s.find(',');
  std::string_view name = s.substr(0, comma);
  if (comma != std::string_view::npos && comma + 1 == s.size()) {
    return std::unexpected(std::string("has a trailing ',' with no device arguments after it"));
  }
  if (name.starts_with("net_")) {
    constexpr size_t kMaxVdevName = 63;  // RTE_DEV_NAME_MAX_LEN - 1
    bool ok = name.size() > 4 && name.size() <= kMaxVdevName &&
              std::ranges::all_of(name, [](unsigned char c) {
                return std::islower(c) || std::isdigit(c) || c == '_';
              });
    if (!ok) {
      return std::unexpected(fmt::format(
          "vdev name '{}' must be net_ followed by lower-case letters, digits or '_' (at most {} "
          "characters)",
          name, kMaxVdevName));
    }
    return Device{DeviceKind::kVdev, std::string(name)};
  }
  if (name.find(':') != std::string_view::npos) {
    auto pci = normalise_pci(name);
    if (!pci) {
      return std::unexpected(fmt::format("'{}' is not a PCI address: {}", name, pci.error()));
    }
    return Device{DeviceKind::kPci, *pci};
  }
  return std::unexpected(fmt::format(
      "'{}' is neither a PCI address (0000:01:00.0) nor a vdev string (net_tap0,iface=tap0)", s));
}

// ---- Values with their place in the file ----

// A node, the key path that names it ("ports[0].vhost_user.mtu") and the position to report
// problems at: the value's own, or its key's when the value is empty (yaml-cpp places an empty
// value at the next token, which may be lines away).
struct Value {
  std::string path;
  Node node;
  Pos pos;
};

std::string describe(const Node& node) {
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

// Typed reads of values; whatever does not fit is reported, with its path and position.
class Reader {
 public:
  Reader(Problems& problems, std::string_view source) : problems_(problems), source_(source) {}

  void error(Pos pos, std::string message) { problems_.add(pos, std::move(message)); }
  void error(const Value& v, std::string_view message) {
    problems_.add(v.pos, fmt::format("{}: {}", v.path, message));
  }

  bool expect_map(const Value& v) {
    if (v.node.IsMap()) return true;
    error(v, fmt::format("expected a map, got {}", describe(v.node)));
    return false;
  }

  bool expect_list(const Value& v) {
    if (v.node.IsSequence()) return true;
    error(v, fmt::format("expected a list, got {}", describe(v.node)));
    return false;
  }

  // The list's items, as Values named path[i].
  std::vector<Value> items(const Value& list) {
    std::vector<Value> out;
    size_t i = 0;
    for (Node item : list.node) {
      Pos pos = item.IsNull() ? list.pos : pos_of(item.Mark());
      out.push_back(Value{fmt::format("{}[{}]", list.path, i++), item, pos});
    }
    return out;
  }

  // Any scalar. The word `null` (which YAML reads as "no value") is read as the string "null",
  // so that `type: null` names the null backend: no string-valued key has a "no value" meaning.
  std::optional<std::string> string(const Value& v) {
    if (v.node.IsScalar()) return v.node.Scalar();
    if (v.node.IsNull() && is_null_word(v.node.Mark())) return "null";
    error(v, fmt::format("expected a string, got {}", describe(v.node)));
    return std::nullopt;
  }

  // A decimal integer in lo..hi, written unquoted.
  std::optional<uint64_t> integer(const Value& v, uint64_t lo, uint64_t hi) {
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

  // `true` or `false` (YAML 1.2 core schema spellings), unquoted.
  std::optional<bool> boolean(const Value& v) {
    if (v.node.IsScalar() && v.node.Tag() != "!") {
      const std::string& s = v.node.Scalar();
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
    }
    error(v, fmt::format("expected true or false, got {}", describe(v.node)));
    return std::nullopt;
  }

  template <NamedEnum E>
  std::optional<E> name(const Value& v) {
    auto text = string(v);
    if (!text) return std::nullopt;
    if (auto e = from_string<E>(*text)) return e;
    std::vector<std::string_view> names = names_of<E>();
    std::string message = fmt::format("unknown value '{}'; expected one of {}", *text, join(names));
    if (auto near = closest(*text, names)) message += fmt::format(" (did you mean '{}'?)", *near);
    error(v, message);
    return std::nullopt;
  }

 private:
  // Whether the source text at `mark` is the plain word null/Null/NULL, ending the value. An
  // empty value has the mark of the next token, which is never that word followed by the end
  // of a value (the next token would be a key, followed by ':').
  bool is_null_word(const YAML::Mark& mark) const {
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

  Problems& problems_;
  std::string_view source_;
};

// The keys of one map: reports keys that are not names, appear twice or are unknown (with the
// closest known key), and hands out the values of the known ones.
class MapReader {
 public:
  MapReader(Reader& reader, const Value& map, std::vector<std::string_view> known)
      : reader_(reader), map_(map) {
    std::map<std::string, Pos, std::less<>> seen;
    for (auto it = map.node.begin(); it != map.node.end(); ++it) {
      Node key = it->first;
      Pos key_pos = pos_of(key.Mark());
      if (!key.IsScalar()) {
        reader_.error(key_pos,
                      fmt::format("{}: a key must be a name, got {}", where(), describe(key)));
        continue;
      }
      const std::string& name = key.Scalar();
      std::string path = child_path(name);
      if (auto [first, inserted] = seen.emplace(name, key_pos); !inserted) {
        reader_.error(
            key_pos, fmt::format("{}: duplicate key (first at line {})", path, first->second.line));
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
      Node value = it->second;
      Pos pos = value.IsNull() ? key_pos : pos_of(value.Mark());
      values_.emplace(name, Value{std::move(path), value, pos});
    }
  }

  std::optional<Value> get(std::string_view key) const {
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

  // Like get, but a missing key is a problem.
  std::optional<Value> require(std::string_view key) {
    auto v = get(key);
    if (!v) reader_.error(map_.pos, fmt::format("{}: missing required key '{}'", where(), key));
    return v;
  }

 private:
  std::string where() const { return map_.path.empty() ? "top level" : map_.path; }
  std::string child_path(std::string_view key) const {
    return map_.path.empty() ? std::string(key) : fmt::format("{}.{}", map_.path, key);
  }

  Reader& reader_;
  Value map_;
  std::map<std::string, Value, std::less<>> values_;
};

// ---- The parser ----

// What the relation checks need to know about each port beyond its Port.
struct PortNotes {
  std::optional<Pos> name;  // set when the name is valid
  std::optional<Pos> socket;
  std::optional<Pos> mac;
  std::optional<Pos> device;
  std::string device_identity;
  std::optional<Pos> dpdk;      // the position of `type: dpdk`
  bool queue_pairs_ok = false;  // queue_pairs parsed (affinity may check queues against it)
  bool pool_ok = false;         // mempool_size is meaningful (memory check)
};

class Parser {
 public:
  Parser(Problems& problems, std::string_view source) : reader_(problems, source) {}

  Config parse(const Value& root) {
    if (root.node.IsNull()) {
      reader_.error(root.pos,
                    "the file has no configuration; at least `workers` is required (see "
                    "config/examples/minimal.yaml)");
      return config_;
    }
    if (!root.node.IsMap()) {
      reader_.error(root.pos, fmt::format("the top level must be a map of sections (eal, workers, "
                                          "ports, ...), got {}",
                                          describe(root.node)));
      return config_;
    }
    MapReader keys(reader_, root, {"eal", "workers", "ports", "affinity", "logging", "telemetry"});
    if (auto v = keys.get("eal")) parse_eal(*v);
    if (auto v = keys.require("workers")) parse_workers(*v);
    if (auto v = keys.get("ports")) parse_ports(*v);
    if (auto v = keys.get("affinity")) parse_affinity(*v);
    if (auto v = keys.get("logging")) parse_logging(*v);
    if (auto v = keys.get("telemetry")) parse_telemetry(*v);
    eal_pos_ = keys.get("eal") ? keys.get("eal")->pos : root.pos;

    check_lcores();
    check_ports();
    check_affinity();
    check_memory();
    return config_;
  }

 private:
  // ---- eal ----

  void parse_eal(const Value& v) {
    if (!reader_.expect_map(v)) return;
    MapReader keys(reader_, v,
                   {"lcores", "main_lcore", "no_huge", "memory_mb", "file_prefix", "extra_args"});
    EalSettings& eal = config_.eal;
    if (auto lcores = keys.get("lcores")) {
      if (auto text = reader_.string(*lcores)) {
        if (text->empty()) {
          reader_.error(*lcores,
                        "must not be empty (remove it to derive the lcore set from "
                        "main_lcore and the workers)");
        } else if (auto set = LcoreSetParser(*text).parse(); !set) {
          reader_.error(*lcores,
                        fmt::format("'{}' is not a DPDK lcore list: {}", *text, set.error()));
        } else {
          eal.lcores = *text;
          lcore_set_ = std::move(*set);
          lcores_pos_ = lcores->pos;
        }
      }
    }
    if (auto main = keys.get("main_lcore")) {
      main_lcore_pos_ = main->pos;
      if (auto n = reader_.integer(*main, 0, kMaxLcores - 1)) {
        eal.main_lcore = static_cast<uint32_t>(*n);
      } else {
        main_lcore_ok_ = false;
      }
    }
    if (auto no_huge = keys.get("no_huge")) {
      if (auto b = reader_.boolean(*no_huge)) eal.no_huge = *b;
    }
    bool memory_ok = true;
    if (auto memory = keys.get("memory_mb")) {
      memory_mb_pos_ = memory->pos;
      if (auto n = reader_.integer(*memory, 0, kMaxMemoryMb)) {
        eal.memory_mb = static_cast<uint32_t>(*n);
        if (eal.no_huge && eal.memory_mb == 0) {
          reader_.error(*memory,
                        "must be positive with no_huge: true (EAL needs -m to know how "
                        "much anonymous memory to reserve)");
          memory_ok = false;
        }
      } else {
        memory_ok = false;
      }
    } else {
      eal.memory_mb = eal.no_huge ? 256 : 0;
    }
    memory_ok_ = memory_ok;
    if (auto prefix = keys.get("file_prefix")) {
      if (auto text = reader_.string(*prefix)) {
        bool charset_ok = std::ranges::all_of(*text, [](unsigned char c) {
          return std::isalnum(c) || c == '.' || c == '_' || c == '-';
        });
        if (text->empty() || text->size() > kMaxFilePrefixLength || !charset_ok || *text == "." ||
            *text == "..") {
          reader_.error(*prefix,
                        fmt::format("'{}' is not a usable file prefix: expected 1..{} characters "
                                    "from A-Z a-z 0-9 . _ - (it names a directory)",
                                    *text, kMaxFilePrefixLength));
        } else {
          eal.file_prefix = *text;
        }
      }
    }
    if (auto extra = keys.get("extra_args")) parse_extra_args(*extra);
  }

  void parse_extra_args(const Value& v) {
    if (!reader_.expect_list(v)) return;
    // Options that other keys own, as EAL spells them, with the key to use instead.
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kOwned{{
        {"-l", "eal.lcores"},
        {"-c", "eal.lcores"},
        {"--lcores", "eal.lcores"},
        {"--main-lcore", "eal.main_lcore"},
        {"--master-lcore", "eal.main_lcore"},
        {"-m", "eal.memory_mb"},
        {"--no-huge", "eal.no_huge"},
        {"--file-prefix", "eal.file_prefix"},
        {"--no-telemetry", "telemetry.enabled"},
        {"--telemetry", "telemetry.enabled"},
    }};
    for (const Value& item : reader_.items(v)) {
      auto arg = reader_.string(item);
      if (!arg) continue;
      if (arg->empty()) {
        reader_.error(item, "an EAL argument must not be empty");
        continue;
      }
      std::string_view option = *arg;
      if (option.starts_with("--")) {
        option = option.substr(0, option.find('='));
      } else if (option.size() > 2 && option[0] == '-') {
        option = option.substr(0, 2);  // -m512, -l0-3: short option with its value attached
      }
      auto owned =
          std::ranges::find(kOwned, option, &std::pair<std::string_view, std::string_view>::first);
      if (owned != kOwned.end()) {
        reader_.error(item,
                      fmt::format("'{}' is set by {}; use that key instead", *arg, owned->second));
        continue;
      }
      config_.eal.extra_args.push_back(*arg);
    }
  }

  // ---- workers ----

  void parse_workers(const Value& v) {
    if (!reader_.expect_list(v)) {
      workers_ok_ = false;
      return;
    }
    std::vector<Value> items = reader_.items(v);
    if (items.empty()) {
      reader_.error(v, "at least one worker is required: workers poll the ports' queues");
      workers_ok_ = false;
      return;
    }
    std::map<uint32_t, Pos> seen;
    for (const Value& item : items) {
      Worker worker;
      std::optional<Value> lcore;
      if (item.node.IsMap()) {
        MapReader keys(reader_, item, {"lcore", "idle"});
        lcore = keys.require("lcore");
        if (auto idle = keys.get("idle")) {
          if (auto policy = reader_.name<IdlePolicy>(*idle)) worker.idle = *policy;
        }
      } else if (item.node.IsScalar()) {
        lcore = item;
      } else {
        reader_.error(item, fmt::format("expected an lcore number or a map with lcore and idle, "
                                        "got {}",
                                        describe(item.node)));
      }
      std::optional<uint64_t> n;
      if (lcore) n = reader_.integer(*lcore, 0, kMaxLcores - 1);
      if (!n) {
        workers_ok_ = false;
        continue;
      }
      worker.lcore = static_cast<uint32_t>(*n);
      if (auto [first, inserted] = seen.emplace(worker.lcore, lcore->pos); !inserted) {
        reader_.error(*lcore, fmt::format("lcore {} is already a worker (line {})", worker.lcore,
                                          first->second.line));
        continue;
      }
      config_.workers.push_back(worker);
      worker_pos_.push_back(lcore->pos);
      worker_path_.push_back(lcore->path);
    }
  }

  // ---- ports ----

  void parse_ports(const Value& v) {
    if (!reader_.expect_list(v)) return;
    for (const Value& item : reader_.items(v)) {
      Port port;
      PortNotes notes;
      if (reader_.expect_map(item)) {
        MapReader keys(reader_, item, {"name", "vhost_user", "backend"});
        if (auto name = keys.require("name")) parse_port_name(*name, port, notes);
        if (auto vhost = keys.require("vhost_user")) parse_vhost_user(*vhost, port, notes);
        if (auto backend = keys.require("backend")) parse_backend(*backend, port, notes);
      }
      config_.ports.push_back(std::move(port));
      port_notes_.push_back(std::move(notes));
    }
  }

  void parse_port_name(const Value& v, Port& port, PortNotes& notes) {
    auto name = reader_.string(v);
    if (!name) return;
    bool ok = !name->empty() && name->size() <= kMaxPortNameLength &&
              std::isalnum(static_cast<unsigned char>(name->front())) &&
              std::ranges::all_of(*name, [](unsigned char c) {
                return std::isalnum(c) || c == '_' || c == '.' || c == '-';
              });
    if (!ok) {
      reader_.error(v, fmt::format("'{}' is not a valid port name: expected 1..{} characters from "
                                   "A-Z a-z 0-9 _ . -, starting with a letter or digit",
                                   *name, kMaxPortNameLength));
      return;
    }
    port.name = *name;
    notes.name = v.pos;
  }

  void parse_vhost_user(const Value& v, Port& port, PortNotes& notes) {
    if (!reader_.expect_map(v)) return;
    MapReader keys(reader_, v, {"socket", "mode", "queue_pairs", "mtu", "mac", "disable_features"});
    VhostUser& vu = port.vhost_user;
    if (auto socket = keys.require("socket")) {
      if (auto path = reader_.string(*socket)) {
        if (auto problem = socket_path_problem(*path)) {
          reader_.error(*socket, *problem);
        } else {
          vu.socket = *path;
          notes.socket = socket->pos;
        }
      }
    }
    if (auto mode = keys.get("mode")) {
      if (auto m = reader_.name<VhostMode>(*mode)) vu.mode = *m;
    }
    notes.queue_pairs_ok = true;
    std::optional<Value> queue_pairs = keys.get("queue_pairs");
    if (queue_pairs) {
      if (auto n = reader_.integer(*queue_pairs, 1, kMaxQueuePairs)) {
        vu.queue_pairs = static_cast<uint32_t>(*n);
      } else {
        notes.queue_pairs_ok = false;
      }
    }
    if (auto mtu = keys.get("mtu")) {
      if (auto n = reader_.integer(*mtu, kMinMtu, kMaxMtu)) vu.mtu = static_cast<uint32_t>(*n);
    }
    if (auto mac = keys.get("mac")) {
      if (auto text = reader_.string(*mac)) {
        auto parsed = parse_mac(*text);
        if (!parsed) {
          reader_.error(*mac, fmt::format("'{}' is not a MAC address; expected six hex bytes "
                                          "separated by ':', e.g. 52:54:00:12:34:56",
                                          *text));
        } else if (((*parsed)[0] & 0x01) != 0) {
          reader_.error(*mac, fmt::format("{} is a multicast address; a port needs a unicast MAC "
                                          "(the lowest bit of the first byte clear)",
                                          *text));
        } else if (*parsed == MacAddress{}) {
          reader_.error(*mac, "00:00:00:00:00:00 is not a usable MAC address");
        } else {
          vu.mac = *parsed;
          notes.mac = mac->pos;
        }
      }
    }
    if (auto features = keys.get("disable_features")) {
      parse_disabled_features(*features, vu, queue_pairs, notes.queue_pairs_ok);
    }
  }

  static std::optional<std::string> socket_path_problem(std::string_view path) {
    if (path.empty()) return "must not be empty";
    if (path.find('\0') != std::string_view::npos) return "must not contain a NUL character";
    if (!path.starts_with('/')) {
      return fmt::format(
          "'{}' is a relative path; socket paths must be absolute (the daemon's "
          "working directory is not the operator's)",
          path);
    }
    if (path.ends_with('/')) return fmt::format("'{}' names a directory, not a socket", path);
    if (path.size() > kMaxSocketPathLength) {
      return fmt::format("is {} bytes long; a unix socket path has at most {} (sun_path)",
                         path.size(), kMaxSocketPathLength);
    }
    return std::nullopt;
  }

  void parse_disabled_features(const Value& v, VhostUser& vu,
                               const std::optional<Value>& queue_pairs, bool queue_pairs_ok) {
    if (!reader_.expect_list(v)) return;
    std::map<VhostFeature, Pos> seen;
    for (const Value& item : reader_.items(v)) {
      auto feature = reader_.name<VhostFeature>(item);
      if (!feature) continue;
      if (auto [first, inserted] = seen.emplace(*feature, item.pos); !inserted) {
        reader_.error(item, fmt::format("'{}' is listed twice (first at line {})",
                                        to_string(*feature), first->second.line));
        continue;
      }
      vu.disabled_features.insert(*feature);
    }
    // virtio 1.2 5.1.3.1: HOST_TSO4/6 and HOST_USO require CSUM; GUEST_TSO4/6 and GUEST_USO4/6
    // require GUEST_CSUM. A device must not offer a feature without the ones it requires.
    auto require_also = [&](VhostFeature base, std::initializer_list<VhostFeature> dependents) {
      if (!vu.disabled_features.contains(base)) return;
      std::vector<std::string_view> missing;
      for (VhostFeature d : dependents) {
        if (!vu.disabled_features.contains(d)) missing.push_back(to_string(d));
      }
      if (missing.empty()) return;
      reader_.error(v, fmt::format("disabling '{}' also requires disabling {}: virtio offers "
                                   "those only together with '{}' (virtio 1.2 5.1.3.1)",
                                   to_string(base), join(missing), to_string(base)));
    };
    require_also(VhostFeature::kCsum, {VhostFeature::kTso, VhostFeature::kUso});
    require_also(VhostFeature::kGuestCsum, {VhostFeature::kGuestTso, VhostFeature::kGuestUso});
    if (vu.disabled_features.contains(VhostFeature::kMq) && queue_pairs_ok && vu.queue_pairs > 1) {
      reader_.error(queue_pairs ? *queue_pairs : v,
                    fmt::format("{} queue pairs need the 'mq' feature, which disable_features "
                                "withholds; set queue_pairs: 1 or stop disabling 'mq'",
                                vu.queue_pairs));
    }
  }

  void parse_backend(const Value& v, Port& port, PortNotes& notes) {
    if (!reader_.expect_map(v)) return;
    MapReader keys(reader_, v,
                   {"type", "device", "queues", "rss", "offloads", "rx_descriptors",
                    "tx_descriptors", "mempool_size", "tx_zero_copy"});
    Backend& backend = port.backend;
    backend.queues = port.vhost_user.queue_pairs;
    std::optional<BackendType> type;
    if (auto t = keys.require("type")) type = reader_.name<BackendType>(*t);
    if (type) backend.type = *type;
    if (!type) return;  // the other keys' meaning depends on the type
    if (*type != BackendType::kDpdk) {
      for (std::string_view key : {"device", "queues", "rss", "offloads", "rx_descriptors",
                                   "tx_descriptors", "mempool_size", "tx_zero_copy"}) {
        if (auto extra = keys.get(key)) {
          reader_.error(*extra, fmt::format("only valid with type dpdk, and this backend is {}",
                                            to_string(*type)));
        }
      }
      return;
    }
    notes.dpdk = keys.get("type")->pos;

    if (auto device = keys.require("device")) {
      if (auto text = reader_.string(*device)) {
        if (auto d = classify_device(*text); !d) {
          reader_.error(*device, d.error());
        } else {
          backend.device = *text;
          backend.device_kind = d->kind;
          notes.device = device->pos;
          notes.device_identity = d->identity;
        }
      }
    }
    bool sizes_ok = notes.queue_pairs_ok;
    if (auto queues = keys.get("queues")) {
      if (auto n = reader_.integer(*queues, 1, kMaxQueuePairs)) {
        if (notes.queue_pairs_ok && *n != port.vhost_user.queue_pairs) {
          reader_.error(*queues, fmt::format("{} does not match vhost_user.queue_pairs ({}): each "
                                             "guest queue pair uses one ethdev queue pair",
                                             *n, port.vhost_user.queue_pairs));
        }
      }
    }
    if (auto rss = keys.get("rss")) parse_rss(*rss, backend.rss);
    if (auto offloads = keys.get("offloads")) parse_offloads(*offloads, backend.offloads);
    if (auto zero_copy = keys.get("tx_zero_copy")) {
      if (auto b = reader_.boolean(*zero_copy)) backend.tx_zero_copy = *b;
    }
    auto descriptors = [&](std::string_view key, uint32_t& out) {
      auto d = keys.get(key);
      if (!d) return;
      auto n = reader_.integer(*d, kMinDescriptors, kMaxDescriptors);
      if (!n) {
        sizes_ok = false;
      } else if ((*n & (*n - 1)) != 0) {
        reader_.error(*d, fmt::format("{} is not a power of two; expected one of 64, 128, ..., {}",
                                      *n, kMaxDescriptors));
        sizes_ok = false;
      } else {
        out = static_cast<uint32_t>(*n);
      }
    };
    descriptors("rx_descriptors", backend.rx_descriptors);
    descriptors("tx_descriptors", backend.tx_descriptors);

    uint64_t ring_mbufs =
        uint64_t{backend.queues} * (uint64_t{backend.rx_descriptors} + backend.tx_descriptors);
    if (auto pool = keys.get("mempool_size")) {
      if (auto n = reader_.integer(*pool, 1, kMaxMempoolSize)) {
        backend.mempool_size = static_cast<uint32_t>(*n);
        notes.pool_ok = true;
        if (sizes_ok && *n < ring_mbufs) {
          reader_.error(*pool, fmt::format("{} mbufs cannot fill the descriptor rings: queues ({}) "
                                           "x (rx_descriptors + tx_descriptors) needs at least {}",
                                           *n, backend.queues, ring_mbufs));
          notes.pool_ok = false;
        }
      }
    } else {
      uint64_t size = 8191;
      while (size < 2 * ring_mbufs) size = size * 2 + 1;
      backend.mempool_size = static_cast<uint32_t>(std::min<uint64_t>(size, kMaxMempoolSize));
      notes.pool_ok = sizes_ok;
    }
  }

  void parse_rss(const Value& v, Rss& rss) {
    if (!reader_.expect_map(v)) return;
    MapReader keys(reader_, v, {"key", "hash_types"});
    if (auto key = keys.get("key")) {
      if (auto text = reader_.string(*key)) parse_rss_key(*key, *text, rss);
    }
    if (auto types = keys.get("hash_types")) {
      if (!reader_.expect_list(*types)) return;
      std::vector<std::string_view> names = names_of<RssHashType>();
      for (const auto& group : kRssGroups) names.push_back(group.name);
      RssHashTypes set;
      std::map<std::string, Pos, std::less<>> seen;
      std::vector<Value> items = reader_.items(*types);
      bool all_ok = true;
      for (const Value& item : items) {
        auto name = reader_.string(item);
        if (!name) {
          all_ok = false;
          continue;
        }
        if (auto [first, inserted] = seen.emplace(*name, item.pos); !inserted) {
          reader_.error(item, fmt::format("'{}' is listed twice (first at line {})", *name,
                                          first->second.line));
          continue;
        }
        if (auto type = from_string<RssHashType>(*name)) {
          set.insert(*type);
        } else if (auto group = std::ranges::find(kRssGroups, *name, &RssGroupName::name);
                   group != kRssGroups.end()) {
          set |= group->types;
        } else {
          std::string message =
              fmt::format("unknown hash type '{}'; expected one of {}", *name, join(names));
          if (auto near = closest(*name, names)) {
            message += fmt::format(" (did you mean '{}'?)", *near);
          }
          reader_.error(item, message);
          all_ok = false;
        }
      }
      if (items.empty()) {
        reader_.error(*types,
                      "must name at least one hash type (remove the key for the default "
                      "[ip, tcp, udp])");
      } else if (all_ok) {
        rss.hash_types = set;
      }
    }
  }

  void parse_rss_key(const Value& v, std::string_view text, Rss& rss) {
    if (!std::ranges::all_of(text, is_hex)) {
      auto bad = std::ranges::find_if_not(text, is_hex);
      reader_.error(v, fmt::format("the RSS key must be hex digits only; found '{}' at offset {}",
                                   *bad, bad - text.begin()));
      return;
    }
    if (text.size() % 2 != 0 ||
        (text.size() != 2 * kRssKeyLength && text.size() != 2 * kRssKeyLengthLong)) {
      reader_.error(v, fmt::format("the RSS key has {} hex digits; expected {} ({} bytes, the "
                                   "Toeplitz key) or {} ({} bytes, i40e/ice)",
                                   text.size(), 2 * kRssKeyLength, kRssKeyLength,
                                   2 * kRssKeyLengthLong, kRssKeyLengthLong));
      return;
    }
    rss.key.clear();
    for (size_t i = 0; i < text.size(); i += 2) {
      rss.key.push_back(static_cast<uint8_t>(hex_value(text[i]) << 4 | hex_value(text[i + 1])));
    }
  }

  void parse_offloads(const Value& v, Offloads& offloads) {
    if (!reader_.expect_map(v)) return;
    MapReader keys(reader_, v, {"checksum", "tso", "uso", "vlan", "gro"});
    auto flag = [&](std::string_view key, bool& out) {
      if (auto f = keys.get(key)) {
        if (auto b = reader_.boolean(*f)) out = *b;
      }
    };
    flag("checksum", offloads.checksum);
    flag("tso", offloads.tso);
    flag("uso", offloads.uso);
    flag("vlan", offloads.vlan);
    flag("gro", offloads.gro);
  }

  // ---- affinity ----

  void parse_affinity(const Value& v) {
    if (!reader_.expect_list(v)) return;
    for (const Value& item : reader_.items(v)) {
      if (!reader_.expect_map(item)) continue;
      MapReader keys(reader_, item, {"port", "queue", "lcore"});
      auto port = keys.require("port");
      auto queue = keys.require("queue");
      auto lcore = keys.require("lcore");
      Affinity a;
      std::optional<std::string> port_name;
      std::optional<uint64_t> queue_n;
      std::optional<uint64_t> lcore_n;
      if (port) port_name = reader_.string(*port);
      if (queue) queue_n = reader_.integer(*queue, 0, kMaxQueuePairs - 1);
      if (lcore) lcore_n = reader_.integer(*lcore, 0, kMaxLcores - 1);
      if (!port_name || !queue_n || !lcore_n) continue;
      a.port = *port_name;
      a.queue = static_cast<uint32_t>(*queue_n);
      a.lcore = static_cast<uint32_t>(*lcore_n);
      config_.affinity.push_back(std::move(a));
      affinity_values_.push_back({*port, *queue, *lcore});
    }
  }

  // ---- logging, telemetry ----

  void parse_logging(const Value& v) {
    if (!reader_.expect_map(v)) return;
    MapReader keys(reader_, v, {"level", "sink", "file"});
    Logging& logging = config_.logging;
    if (auto level = keys.get("level")) {
      if (auto l = reader_.name<LogLevel>(*level)) logging.level = *l;
    }
    std::optional<LogSink> sink;
    if (auto s = keys.get("sink")) {
      sink = reader_.name<LogSink>(*s);
      if (!sink) return;  // whether `file` belongs depends on the sink
      logging.sink = *sink;
    }
    auto file = keys.get("file");
    if (logging.sink == LogSink::kFile && !file) {
      reader_.error(v, "logging.sink is file, so logging.file (an absolute path) is required");
    } else if (logging.sink != LogSink::kFile && file) {
      reader_.error(*file, fmt::format("only valid with sink: file, and the sink is {}",
                                       to_string(logging.sink)));
    } else if (file) {
      if (auto path = reader_.string(*file)) {
        if (path->empty() || !path->starts_with('/') || path->ends_with('/')) {
          reader_.error(*file, fmt::format("'{}' is not an absolute file path", *path));
        } else {
          logging.file = *path;
        }
      }
    }
  }

  void parse_telemetry(const Value& v) {
    if (!reader_.expect_map(v)) return;
    MapReader keys(reader_, v, {"enabled"});
    if (auto enabled = keys.get("enabled")) {
      if (auto b = reader_.boolean(*enabled)) config_.telemetry.enabled = *b;
    }
  }

  // ---- relations between keys ----

  std::vector<uint32_t> worker_lcores() const {
    std::vector<uint32_t> out;
    for (const Worker& w : config_.workers) out.push_back(w.lcore);
    return out;
  }

  void check_lcores() {
    const EalSettings& eal = config_.eal;
    for (size_t i = 0; i < config_.workers.size(); ++i) {
      if (main_lcore_ok_ && config_.workers[i].lcore == eal.main_lcore) {
        reader_.error(worker_pos_[i],
                      fmt::format("{}: lcore {} is eal.main_lcore, which runs the control thread; "
                                  "give the worker another lcore or move main_lcore",
                                  worker_path_[i], eal.main_lcore));
      }
    }
    if (lcore_set_) {
      if (main_lcore_ok_ && !lcore_set_->contains(eal.main_lcore)) {
        reader_.error(main_lcore_pos_.value_or(*lcores_pos_),
                      fmt::format("eal.main_lcore: lcore {} is not in eal.lcores '{}'",
                                  eal.main_lcore, eal.lcores));
      }
      for (size_t i = 0; i < config_.workers.size(); ++i) {
        if (!lcore_set_->contains(config_.workers[i].lcore)) {
          reader_.error(worker_pos_[i],
                        fmt::format("{}: lcore {} is not in eal.lcores '{}'", worker_path_[i],
                                    config_.workers[i].lcore, eal.lcores));
        }
      }
    } else {
      std::set<uint32_t> lcores{eal.main_lcore};
      for (const Worker& w : config_.workers) lcores.insert(w.lcore);
      std::vector<uint32_t> ordered(lcores.begin(), lcores.end());
      std::string derived;
      for (uint32_t id : ordered) {
        if (!derived.empty()) derived += ',';
        derived += std::to_string(id);
      }
      config_.eal.lcores = derived;
    }
  }

  // Reports the second and later ports that share a value with an earlier one.
  // Reports the second and later ports whose `key` (compared as `identity`) equals an earlier
  // port's. `get(i)` returns the identity and position of port i's value, if it is valid.
  template <class Identity, class GetIdentity>
  void check_unique(std::string_view what, std::string_view key, GetIdentity get) {
    std::map<Identity, std::pair<Pos, size_t>> seen;
    for (size_t i = 0; i < config_.ports.size(); ++i) {
      std::optional<std::tuple<Identity, Pos, std::string>> entry = get(i);
      if (!entry) continue;
      auto& [identity, pos, shown] = *entry;
      auto [first, inserted] = seen.emplace(identity, std::pair{pos, i});
      if (inserted) continue;
      reader_.error(
          pos, fmt::format("ports[{}].{}: {} '{}' is already used by ports[{}] (line {})", i, key,
                           what, shown, first->second.second, first->second.first.line));
    }
  }

  void check_ports() {
    using Entry = std::optional<std::tuple<std::string, Pos, std::string>>;
    check_unique<std::string>("port name", "name", [&](size_t i) -> Entry {
      const Port& p = config_.ports[i];
      if (!port_notes_[i].name) return std::nullopt;
      return std::tuple{p.name, *port_notes_[i].name, p.name};
    });
    // Compared after lexical normalisation: /run/pmdnet//a.sock and /run/pmdnet/./a.sock are one.
    check_unique<std::string>("socket", "vhost_user.socket", [&](size_t i) -> Entry {
      const std::string& socket = config_.ports[i].vhost_user.socket;
      if (!port_notes_[i].socket) return std::nullopt;
      return std::tuple{std::filesystem::path(socket).lexically_normal().string(),
                        *port_notes_[i].socket, socket};
    });
    check_unique<MacAddress>(
        "MAC address", "vhost_user.mac",
        [&](size_t i) -> std::optional<std::tuple<MacAddress, Pos, std::string>> {
          const auto& mac = config_.ports[i].vhost_user.mac;
          if (!port_notes_[i].mac || !mac) return std::nullopt;
          return std::tuple{*mac, *port_notes_[i].mac, format_mac(*mac)};
        });
    // Compared by device name: 01:00.0 and 0000:01:00.0 are one; so are net_tap0 and
    // net_tap0,iface=x.
    check_unique<std::string>("device", "backend.device", [&](size_t i) -> Entry {
      if (!port_notes_[i].device) return std::nullopt;
      return std::tuple{port_notes_[i].device_identity, *port_notes_[i].device,
                        config_.ports[i].backend.device};
    });
    uint32_t dpdk_ports = 0;
    for (size_t i = 0; i < config_.ports.size(); ++i) {
      if (!port_notes_[i].dpdk) continue;
      if (++dpdk_ports == kMaxDpdkPorts + 1) {
        reader_.error(*port_notes_[i].dpdk,
                      fmt::format("ports[{}].backend.type: more than {} ports have a dpdk backend; "
                                  "DPDK is built with RTE_MAX_ETHPORTS = {}",
                                  i, kMaxDpdkPorts, kMaxDpdkPorts));
      }
    }
  }

  struct AffinityValues {
    Value port;
    Value queue;
    Value lcore;
  };

  void check_affinity() {
    std::vector<std::string_view> port_names;
    for (size_t i = 0; i < config_.ports.size(); ++i) {
      if (port_notes_[i].name) port_names.push_back(config_.ports[i].name);
    }
    std::map<std::pair<std::string, uint32_t>, Pos> pinned;
    for (size_t i = 0; i < config_.affinity.size(); ++i) {
      const Affinity& a = config_.affinity[i];
      const AffinityValues& values = affinity_values_[i];
      auto port = std::ranges::find(config_.ports, a.port, &Port::name);
      if (port == config_.ports.end() || a.port.empty()) {
        std::string message = fmt::format("no port is named '{}'", a.port);
        if (auto near = closest(a.port, port_names)) {
          message += fmt::format("; did you mean '{}'?", *near);
        } else if (!port_names.empty()) {
          message += fmt::format("; the ports are {}", join(port_names));
        }
        reader_.error(values.port, message);
      } else {
        size_t index = static_cast<size_t>(port - config_.ports.begin());
        uint32_t pairs = port->vhost_user.queue_pairs;
        if (port_notes_[index].queue_pairs_ok && a.queue >= pairs) {
          reader_.error(values.queue,
                        fmt::format("port '{}' has {} queue pair{} (0..{}), so queue {} does "
                                    "not exist",
                                    a.port, pairs, pairs == 1 ? "" : "s", pairs - 1, a.queue));
        }
        if (auto [first, inserted] = pinned.emplace(std::pair{a.port, a.queue}, values.queue.pos);
            !inserted) {
          reader_.error(values.queue,
                        fmt::format("queue {} of port '{}' is already pinned (line {})", a.queue,
                                    a.port, first->second.line));
        }
      }
      std::vector<uint32_t> lcores = worker_lcores();
      if (workers_ok_ && std::ranges::find(lcores, a.lcore) == lcores.end()) {
        reader_.error(values.lcore, fmt::format("lcore {} is not a worker; the workers are {}",
                                                a.lcore, list_numbers(lcores)));
      }
    }
  }

  // The ports' mbuf pools must fit in -m when it is fixed.
  void check_memory() {
    const EalSettings& eal = config_.eal;
    if (!memory_ok_ || eal.memory_mb == 0) return;
    uint64_t bytes = 0;
    for (size_t i = 0; i < config_.ports.size(); ++i) {
      if (!port_notes_[i].dpdk) continue;
      if (!port_notes_[i].pool_ok) return;
      bytes += uint64_t{config_.ports[i].backend.mempool_size} * kMinBytesPerMbuf;
    }
    uint64_t needed_mb = (bytes + (1u << 20) - 1) >> 20;
    if (needed_mb <= eal.memory_mb) return;
    reader_.error(memory_mb_pos_.value_or(eal_pos_),
                  fmt::format("eal.memory_mb: {} MB{} cannot hold the dpdk ports' mbuf pools, "
                              "which need at least {} MB (mempool_size x {} bytes, summed)",
                              eal.memory_mb, memory_mb_pos_ ? "" : " (the default)", needed_mb,
                              kMinBytesPerMbuf));
  }

  Reader reader_;
  Config config_;

  std::optional<std::set<uint32_t>> lcore_set_;
  std::optional<Pos> lcores_pos_;
  std::optional<Pos> main_lcore_pos_;
  std::optional<Pos> memory_mb_pos_;
  Pos eal_pos_;
  bool main_lcore_ok_ = true;
  bool memory_ok_ = true;
  bool workers_ok_ = true;
  std::vector<Pos> worker_pos_;
  std::vector<std::string> worker_path_;
  std::vector<PortNotes> port_notes_;
  std::vector<AffinityValues> affinity_values_;
};

}  // namespace

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

Result<Config> parse_config(std::string_view yaml, std::string_view source_name) {
  Problems problems;
  Config config;
  // yaml-cpp skips a UTF-8 byte order mark and counts positions after it; strip it here so that
  // the positions index `yaml` as the Reader sees it.
  if (yaml.starts_with("\xEF\xBB\xBF")) yaml.remove_prefix(3);
  try {
    std::string text(yaml);
    if (auto second = second_document(text, problems)) {
      problems.add(pos_of(*second),
                   "a second YAML document ('---'); the configuration is one document");
    }
    Node root = YAML::Load(text);
    Pos root_pos = root.IsDefined() && !root.IsNull() ? pos_of(root.Mark()) : Pos{};
    config = Parser(problems, yaml).parse(Value{"", root, root_pos});
  } catch (const YAML::Exception& e) {
    problems.add(pos_of(e.mark), fmt::format("YAML syntax error: {}", e.msg));
  }
  if (!problems.empty()) {
    return make_error(Errc::kInvalidArgument, problems.render(source_name));
  }
  return config;
}

}  // namespace pmdnet::config
