// The /pmdnet/* telemetry replies as plain values, without DPDK: TelDict, a tree of the shapes
// DPDK 22.11's rte_tel_data can hold, with the exact JSON DPDK prints for it; the builders that
// turn a DaemonSnapshot into each command's reply within DPDK's limits; and answer_command, which
// the DPDK glue (telemetry_commands.cc) and the tests call. The layout is described in README.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "daemon/telemetry/snapshot.h"

namespace pmdnet::telemetry {

// DPDK 22.11's limits (lib/telemetry: rte_telemetry.h, telemetry_data.c, telemetry.c).
// Dict names and string values: RTE_TEL_MAX_STRING_LEN (128) including the NUL.
inline constexpr size_t kMaxNameLength = 127;
inline constexpr size_t kMaxStringLength = 127;
// RTE_TEL_MAX_DICT_ENTRIES and RTE_TEL_MAX_ARRAY_ENTRIES.
inline constexpr size_t kMaxDictEntries = 256;
inline constexpr size_t kMaxArrayEntries = 512;
// What one reply's JSON may take. DPDK writes `{"<command>":<json>}` into MAX_OUTPUT_LEN (16384)
// bytes and silently leaves out any entry that would not fit, so every builder below keeps the
// <json> part within this budget and says where the next page starts instead.
inline constexpr size_t kMaxReplyJsonLength = 16000;

// A telemetry dictionary: named values in insertion order. Values are u64, int, string, arrays
// of u64 or strings, and nested dicts (DPDK 22.11 cannot put a dict inside an array, so lists of
// records are dicts keyed "port<i>", "qp<index>", "lcore<id>"). Names and strings are sanitized
// on the way in (sanitize_name, sanitize_string), so DPDK accepts every entry unchanged.
class TelDict {
 public:
  using Value = std::variant<uint64_t, int32_t, std::string, std::vector<uint64_t>,
                             std::vector<std::string>, std::unique_ptr<TelDict>>;
  struct Entry {
    std::string name;
    Value value;
  };

  TelDict() = default;
  TelDict(TelDict&&) noexcept = default;
  TelDict& operator=(TelDict&&) noexcept = default;
  TelDict(const TelDict&) = delete;
  TelDict& operator=(const TelDict&) = delete;
  ~TelDict() = default;

  // Each add_* appends one entry and returns true; with kMaxDictEntries entries already it adds
  // nothing and returns false. Arrays keep their first kMaxArrayEntries values.
  bool add_u64(std::string_view name, uint64_t value);
  bool add_int(std::string_view name, int32_t value);
  bool add_bool(std::string_view name, bool value) { return add_u64(name, value ? 1 : 0); }
  bool add_string(std::string_view name, std::string_view value);
  bool add_u64_array(std::string_view name, std::vector<uint64_t> values);
  bool add_string_array(std::string_view name, std::vector<std::string> values);
  bool add_dict(std::string_view name, TelDict value);

  // Removes the last entry (none: no-op).
  void pop_back();
  // Replaces the value of the u64 entry `name`; false if there is none.
  bool set_u64(std::string_view name, uint64_t value);

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(std::string_view name) const;
  size_t size() const { return entries_.size(); }
  bool full() const { return entries_.size() >= kMaxDictEntries; }

  // The JSON DPDK prints for this dict: no whitespace, names unescaped (they need none),
  // strings with '"' and '\\' escaped. json_length() == to_json().size(), kept as entries come.
  std::string to_json() const;
  size_t json_length() const { return json_length_; }

 private:
  bool add(std::string_view name, Value value);

  std::vector<Entry> entries_;
  size_t json_length_ = 2;  // "{}"
};

// A valid telemetry name: characters other than [A-Za-z0-9_/] become '_', cut to
// kMaxNameLength; empty becomes "_".
std::string sanitize_name(std::string_view name);
// A string DPDK prints intact: bytes outside printable ASCII become '?' (DPDK 22.11's escaper
// mangles the rest), cut to kMaxStringLength.
std::string sanitize_string(std::string_view value);
// The JSON length of a sanitized string value, quotes and escapes included.
size_t json_string_length(std::string_view sanitized);

// ---- The replies ----

// /pmdnet/info.
TelDict info_reply(const DaemonSnapshot& snapshot);
// /pmdnet/ports[,<first>]: one page of port summaries, from position `first` in the port list.
TelDict ports_reply(const DaemonSnapshot& snapshot, size_t first);
// /pmdnet/port,<name>[,<first>]: the port's fields and one page of its queue pairs, from
// position `first` in its queue pair list. nullopt if there is no port `name`.
std::optional<TelDict> port_reply(const DaemonSnapshot& snapshot, std::string_view name,
                                  size_t first);
// /pmdnet/workers[,<first>]: one page of workers, from position `first`.
TelDict workers_reply(const DaemonSnapshot& snapshot, size_t first);

// The pieces, for the tests. A queue pair's dict, its counters cut (and counted in
// "counters_omitted") only if the whole would take more than `budget` bytes of JSON.
TelDict queue_pair_dict(const QueuePairSnapshot& qp, size_t budget);
TelDict port_summary_dict(const PortSummary& summary);
TelDict worker_dict(const WorkerSnapshot& worker);

// ---- The commands ----

struct CommandSpec {
  const char* name;
  const char* help;  // shorter than RTE_TEL_MAX_STRING_LEN
};

inline constexpr std::array<CommandSpec, 4> kCommands{{
    {"/pmdnet/info", "pmdnetd version, TSC rate, reloads, port and worker counts. No parameters"},
    {"/pmdnet/ports",
     "pmdnetd port names and summaries. Parameter: first position (default 0) of a page"},
    {"/pmdnet/port",
     "One pmdnetd port with per-queue-pair counters. Parameters: name[,first queue pair position]"},
    {"/pmdnet/workers",
     "pmdnetd workers: lcore, idle policy, cycles. Parameter: first position (default 0)"},
}};

// Parses a page position parameter: absent means 0; otherwise 1 to 9 decimal digits.
std::optional<size_t> parse_first_param(std::optional<std::string_view> params);
// Parses /pmdnet/port's "<name>" or "<name>,<first>".
struct PortParams {
  std::string_view name;
  size_t first = 0;
};
std::optional<PortParams> parse_port_params(std::optional<std::string_view> params);

// Answers `command` with `params` (DPDK's text after the first comma; nullopt when there is
// none) from `snapshot`. nullopt for an unknown command, malformed parameters or an unknown port:
// DPDK then replies {"<command>":null}.
std::optional<TelDict> answer_command(std::string_view command,
                                      std::optional<std::string_view> params,
                                      const DaemonSnapshot& snapshot);
// Whether answer_command needs a snapshot for these arguments: false when the command is unknown
// or the parameters are malformed, so the provider is not called for nothing.
bool command_accepts(std::string_view command, std::optional<std::string_view> params);

}  // namespace pmdnet::telemetry
