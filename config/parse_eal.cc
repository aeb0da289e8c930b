// The `eal` section: DPDK's lcores, main lcore, memory, file prefix and extra arguments.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "config/formats.h"
#include "config/schema.h"

namespace pmdnet::config {
namespace {

void parse_extra_args(Reader& reader, const Value& v, EalSettings& eal) {
  if (!reader.expect_list(v)) return;
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
  for (const Value& item : reader.items(v)) {
    auto arg = reader.string(item);
    if (!arg) continue;
    if (arg->empty()) {
      reader.error(item, "an EAL argument must not be empty");
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
      reader.error(item,
                   fmt::format("'{}' is set by {}; use that key instead", *arg, owned->second));
      continue;
    }
    eal.extra_args.push_back(*arg);
  }
}

}  // namespace

void parse_eal(Reader& reader, const Value& v, EalSettings& eal, EalNotes& notes) {
  if (!reader.expect_map(v)) return;
  MapReader keys(reader, v,
                 {"lcores", "main_lcore", "no_huge", "memory_mb", "file_prefix", "extra_args"});
  if (auto lcores = keys.get("lcores")) {
    if (auto text = reader.string(*lcores)) {
      if (text->empty()) {
        reader.error(*lcores,
                     "must not be empty (remove it to derive the lcore set from "
                     "main_lcore and the workers)");
      } else if (auto set = parse_lcore_list(*text); !set) {
        reader.error(*lcores, fmt::format("'{}' is not a DPDK lcore list: {}", *text, set.error()));
      } else {
        eal.lcores = *text;
        notes.lcore_set = std::move(*set);
        notes.lcores = lcores->pos;
      }
    }
  }
  if (auto main = keys.get("main_lcore")) {
    notes.main_lcore = main->pos;
    if (auto n = reader.integer(*main, 0, kMaxLcores - 1)) {
      eal.main_lcore = static_cast<uint32_t>(*n);
    } else {
      notes.main_lcore_ok = false;
    }
  }
  if (auto no_huge = keys.get("no_huge")) {
    if (auto b = reader.boolean(*no_huge)) eal.no_huge = *b;
  }
  bool memory_ok = true;
  if (auto memory = keys.get("memory_mb")) {
    notes.memory_mb = memory->pos;
    if (auto n = reader.integer(*memory, 0, kMaxMemoryMb)) {
      eal.memory_mb = static_cast<uint32_t>(*n);
      if (eal.no_huge && eal.memory_mb == 0) {
        reader.error(*memory,
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
  notes.memory_ok = memory_ok;
  if (auto prefix = keys.get("file_prefix")) {
    if (auto text = reader.string(*prefix)) {
      bool charset_ok = std::ranges::all_of(*text, [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '-';
      });
      if (text->empty() || text->size() > kMaxFilePrefixLength || !charset_ok || *text == "." ||
          *text == "..") {
        reader.error(*prefix,
                     fmt::format("'{}' is not a usable file prefix: expected 1..{} characters "
                                 "from A-Z a-z 0-9 . _ - (it names a directory)",
                                 *text, kMaxFilePrefixLength));
      } else {
        eal.file_prefix = *text;
      }
    }
  }
  if (auto extra = keys.get("extra_args")) parse_extra_args(reader, *extra, eal);
}

}  // namespace pmdnet::config
