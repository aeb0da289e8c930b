// register_telemetry_commands: one rte_telemetry callback for the four /pmdnet/* commands, which
// takes a snapshot from the provider (under a shared lock, so swapping the provider waits for
// calls in flight), builds the reply (replies.h) and copies it into DPDK's rte_tel_data.
#include "daemon/telemetry/telemetry_commands.h"

#include <fmt/format.h>
#include <rte_telemetry.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "daemon/telemetry/replies.h"

namespace pmdnet::telemetry {
namespace {

struct State {
  // Shared: a command calling the provider. Exclusive: replacing or clearing it.
  std::shared_mutex mutex;
  SnapshotProvider provider;
  std::array<bool, kCommands.size()> registered{};
};

// Never destroyed: DPDK's telemetry threads may still run a command while the process exits.
State& state() {
  static State* s = new State;
  return *s;
}

// Copies `dict` into `d` (a dict). Nested containers are allocated here and listed in
// `allocated`; DPDK frees them once it has printed the reply, and the caller frees them if this
// fails (DPDK prints nothing then). Returns 0 or a negative errno.
// NOLINTNEXTLINE(misc-no-recursion): one level per nested TelDict, which replies.cc builds
int fill_dict(const TelDict& dict, rte_tel_data* d, std::vector<rte_tel_data*>& allocated) {
  rte_tel_data_start_dict(d);
  auto new_container = [&]() -> rte_tel_data* {
    rte_tel_data* c = rte_tel_data_alloc();
    if (c != nullptr) allocated.push_back(c);
    return c;
  };
  for (const TelDict::Entry& e : dict.entries()) {
    const char* name = e.name.c_str();
    int rc = 0;
    if (const auto* u = std::get_if<uint64_t>(&e.value)) {
      rc = rte_tel_data_add_dict_u64(d, name, *u);
    } else if (const auto* i = std::get_if<int32_t>(&e.value)) {
      rc = rte_tel_data_add_dict_int(d, name, *i);
    } else if (const auto* s = std::get_if<std::string>(&e.value)) {
      rc = rte_tel_data_add_dict_string(d, name, s->c_str());
    } else if (const auto* us = std::get_if<std::vector<uint64_t>>(&e.value)) {
      rte_tel_data* c = new_container();
      if (c == nullptr) return -ENOMEM;
      rte_tel_data_start_array(c, RTE_TEL_U64_VAL);
      for (uint64_t v : *us) {
        if (rc = rte_tel_data_add_array_u64(c, v); rc < 0) return rc;
      }
      rc = rte_tel_data_add_dict_container(d, name, c, 0);
    } else if (const auto* ss = std::get_if<std::vector<std::string>>(&e.value)) {
      rte_tel_data* c = new_container();
      if (c == nullptr) return -ENOMEM;
      rte_tel_data_start_array(c, RTE_TEL_STRING_VAL);
      for (const std::string& v : *ss) {
        if (rc = rte_tel_data_add_array_string(c, v.c_str()); rc < 0) return rc;
      }
      rc = rte_tel_data_add_dict_container(d, name, c, 0);
    } else if (const auto* nested = std::get_if<std::unique_ptr<TelDict>>(&e.value)) {
      rte_tel_data* c = new_container();
      if (c == nullptr) return -ENOMEM;
      if (rc = fill_dict(**nested, c, allocated); rc < 0) return rc;
      rc = rte_tel_data_add_dict_container(d, name, c, 0);
    }
    // A positive rc (E2BIG) is a truncation, which sanitized names and strings never cause.
    if (rc < 0) return rc;
  }
  return 0;
}

// The telemetry_cb of every /pmdnet/* command. A negative return makes DPDK reply null.
int handle_command(const char* cmd, const char* params, rte_tel_data* d) noexcept {
  try {
    const std::string_view command = cmd != nullptr ? cmd : "";
    std::optional<std::string_view> args;
    if (params != nullptr) args = params;
    if (!command_accepts(command, args)) return -1;
    DaemonSnapshot snapshot;
    {
      State& s = state();
      std::shared_lock lock(s.mutex);
      if (!s.provider) return -1;
      snapshot = s.provider();
    }
    std::optional<TelDict> reply = answer_command(command, args, snapshot);
    if (!reply) return -1;
    std::vector<rte_tel_data*> allocated;
    if (fill_dict(*reply, d, allocated) < 0) {
      for (rte_tel_data* c : allocated) rte_tel_data_free(c);
      return -1;
    }
    return 0;
  } catch (...) {
    // The provider or an allocation threw: nothing may cross into DPDK's C code.
    return -1;
  }
}

}  // namespace

Result<void> register_telemetry_commands(SnapshotProvider provider) {
  if (!provider) {
    return make_error(Errc::kInvalidArgument, "register_telemetry_commands: empty provider");
  }
  State& s = state();
  std::unique_lock lock(s.mutex);
  s.provider = std::move(provider);
  for (size_t i = 0; i < kCommands.size(); ++i) {
    if (s.registered[i]) continue;
    const int rc = rte_telemetry_register_cmd(kCommands[i].name, handle_command, kCommands[i].help);
    if (rc != 0) {
      return make_error(Errc::kResource, fmt::format("rte_telemetry_register_cmd({}): {}",
                                                     kCommands[i].name, std::strerror(-rc)));
    }
    s.registered[i] = true;
  }
  return {};
}

void clear_telemetry_provider() {
  State& s = state();
  SnapshotProvider old;
  {
    std::unique_lock lock(s.mutex);
    old = std::move(s.provider);
    s.provider = nullptr;
  }
}

}  // namespace pmdnet::telemetry
