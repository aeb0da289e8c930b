// Parsers of the configuration's structured strings: lcore lists, MAC and PCI addresses, backend
// device strings.
#include "config/formats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "config/text.h"

namespace pmdnet::config {
namespace {

// A recursive-descent parser of one lcore list (see parse_lcore_list).
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

bool has_space_or_control(std::string_view s) {
  return std::ranges::any_of(s, [](unsigned char c) { return std::isspace(c) || std::iscntrl(c); });
}

}  // namespace

std::expected<std::set<uint32_t>, std::string> parse_lcore_list(std::string_view text) {
  return LcoreSetParser(text).parse();
}

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

std::expected<BackendDevice, std::string> classify_device(std::string_view s) {
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
    return BackendDevice{DeviceKind::kVdev, std::string(name)};
  }
  if (name.find(':') != std::string_view::npos) {
    auto pci = normalise_pci(name);
    if (!pci) {
      return std::unexpected(fmt::format("'{}' is not a PCI address: {}", name, pci.error()));
    }
    return BackendDevice{DeviceKind::kPci, *pci};
  }
  return std::unexpected(fmt::format(
      "'{}' is neither a PCI address (0000:01:00.0) nor a vdev string (net_tap0,iface=tap0)", s));
}

}  // namespace pmdnet::config
