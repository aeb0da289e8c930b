// EalOptions → EAL argv, and the Eal owner around rte_eal_init()/rte_eal_cleanup().
#include "pmd_backends/eal.h"

#include <fmt/format.h>
#include <rte_build_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstddef>
#include <utility>

namespace pmdnet {
namespace {

bool has_whitespace(std::string_view s) {
  return std::ranges::any_of(s, [](unsigned char c) { return std::isspace(c) != 0; });
}

std::string quoted(std::string_view s) { return fmt::format("\"{}\"", s); }

// -l takes a plain set ("0-3,5"); anything that maps lcores to CPUs needs --lcores.
bool is_plain_lcore_set(std::string_view s) {
  return std::ranges::all_of(
      s, [](unsigned char c) { return std::isdigit(c) || c == ',' || c == '-'; });
}

bool is_lcore_map(std::string_view s) {
  return std::ranges::all_of(s, [](unsigned char c) {
    return std::isdigit(c) || c == ',' || c == '-' || c == '@' || c == '(' || c == ')';
  });
}

std::unexpected<Error> invalid(std::string message) {
  return make_error(Errc::kInvalidArgument, "EalOptions." + std::move(message));
}

// Where the process stands with EAL. DPDK allows one successful rte_eal_init per process and no
// second one after rte_eal_cleanup, so the only way forward is kNone → kInitialising → kLive →
// kCleanedUp, or kInitialising → kFailed.
enum class EalState : uint8_t { kNone, kInitialising, kLive, kCleanedUp, kFailed };

std::atomic<EalState> g_state{EalState::kNone};

std::string refusal(EalState state) {
  switch (state) {
    case EalState::kInitialising:
      return "EAL is being initialised on another thread";
    case EalState::kLive:
      return "EAL is already initialised in this process; only one Eal may be live";
    case EalState::kCleanedUp:
      return "EAL was cleaned up; DPDK cannot initialise it again in the same process";
    case EalState::kFailed:
      return "an earlier rte_eal_init failed; DPDK cannot initialise EAL again in the same process";
    case EalState::kNone:
      break;
  }
  return "EAL is in an unexpected state";
}

// The argv handed to rte_eal_init. It must outlive EAL: getopt permutes the pointer array in
// place and DPDK may keep pointers into the strings, so both live here for the rest of the
// process, allocated on first use and deliberately never freed (no static destructor can run
// while EAL threads still exist). Written once: g_state lets only one init reach rte_eal_init.
struct EalArgv {
  std::vector<std::string> strings;
  std::vector<char*> pointers;
};

EalArgv& eal_argv() {
  static auto* argv = new EalArgv();
  return *argv;
}

std::string join(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> build_eal_args(const EalOptions& options,
                                                std::string_view program_name) {
  if (program_name.empty()) {
    return make_error(Errc::kInvalidArgument, "program_name must not be empty");
  }
  if (options.file_prefix.empty()) {
    return invalid("file_prefix must not be empty");
  }
  if (options.file_prefix.find('/') != std::string::npos || has_whitespace(options.file_prefix)) {
    return invalid("file_prefix " + quoted(options.file_prefix) +
                   " must not contain '/' or whitespace");
  }
  if (options.no_huge && options.memory_mb == 0) {
    return invalid("memory_mb must be positive with no_huge");
  }
  if (!is_lcore_map(options.lcores)) {
    return invalid("lcores " + quoted(options.lcores) +
                   " may hold only digits and the characters ,-@()");
  }
  if (options.main_lcore < -1) {
    return invalid(
        fmt::format("main_lcore {} must be -1 (the default) or a lcore id", options.main_lcore));
  }
  for (std::size_t i = 0; i < options.driver_dirs.size(); ++i) {
    if (options.driver_dirs[i].empty()) {
      return invalid(fmt::format("driver_dirs[{}] must not be empty", i));
    }
  }
  for (std::size_t i = 0; i < options.vdevs.size(); ++i) {
    const std::string& vdev = options.vdevs[i];
    if (vdev.empty()) {
      return invalid(fmt::format("vdevs[{}] must not be empty", i));
    }
    if (has_whitespace(vdev)) {
      return invalid(fmt::format("vdevs[{}] {} must not contain whitespace", i, quoted(vdev)));
    }
  }
  if (has_whitespace(options.log_level)) {
    return invalid("log_level " + quoted(options.log_level) + " must not contain whitespace");
  }
  for (std::size_t i = 0; i < options.extra_args.size(); ++i) {
    if (options.extra_args[i].empty()) {
      return invalid(fmt::format("extra_args[{}] must not be empty", i));
    }
  }

  std::vector<std::string> args;
  args.emplace_back(program_name);
  if (options.no_huge) args.emplace_back("--no-huge");
  if (options.memory_mb > 0) {
    args.emplace_back("-m");
    args.push_back(std::to_string(options.memory_mb));
  }
  args.push_back("--file-prefix=" + options.file_prefix);
  if (!options.lcores.empty()) {
    if (is_plain_lcore_set(options.lcores)) {
      args.emplace_back("-l");
      args.push_back(options.lcores);
    } else {
      args.push_back("--lcores=" + options.lcores);
    }
  }
  if (options.main_lcore >= 0) {
    args.push_back(fmt::format("--main-lcore={}", options.main_lcore));
  }
  for (const auto& dir : options.driver_dirs) {
    args.emplace_back("-d");
    args.push_back(dir);
  }
  for (const auto& vdev : options.vdevs) args.push_back("--vdev=" + vdev);
  if (options.no_pci) args.emplace_back("--no-pci");
  if (!options.log_level.empty()) args.push_back("--log-level=" + options.log_level);
  if (options.no_telemetry) args.emplace_back("--no-telemetry");
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  return args;
}

// Debian sets RTE_EAL_PMD_PATH here and shared-linked EAL autoloads it without -d; -d is harmless.
const char* default_pmd_dir() { return RTE_EAL_PMD_PATH; }

int lcore_numa_socket(uint32_t lcore) noexcept {
  return static_cast<int>(rte_lcore_to_socket_id(lcore));
}

Result<Eal> Eal::init(const EalOptions& options, std::string_view program_name) {
  auto args = build_eal_args(options, program_name);
  if (!args) return std::unexpected(std::move(args.error()));

  EalState expected = EalState::kNone;
  if (!g_state.compare_exchange_strong(expected, EalState::kInitialising)) {
    return make_error(Errc::kState, refusal(expected));
  }

  EalArgv& argv = eal_argv();
  argv.strings = std::move(*args);
  argv.pointers.clear();
  for (auto& s : argv.strings) argv.pointers.push_back(s.data());
  argv.pointers.push_back(nullptr);

  if (rte_eal_init(static_cast<int>(argv.strings.size()), argv.pointers.data()) < 0) {
    const int err = rte_errno;
    g_state.store(EalState::kFailed);
    return make_error(Errc::kDevice, fmt::format("rte_eal_init failed: {} (rte_errno {}); argv: {}",
                                                 rte_strerror(err), err, join(argv.strings)));
  }
  g_state.store(EalState::kLive);
  Eal eal;
  eal.owns_ = true;
  return eal;
}

Eal::Eal(Eal&& other) noexcept : owns_(std::exchange(other.owns_, false)) {}

Eal& Eal::operator=(Eal&& other) noexcept {
  if (this != &other) {
    reset();
    owns_ = std::exchange(other.owns_, false);
  }
  return *this;
}

Eal::~Eal() { reset(); }

void Eal::reset() noexcept {
  if (!owns_) return;
  owns_ = false;
  // rte_eal_cleanup can only fail with -EFAULT (some resource not released); nothing better can
  // be done about that here. It closes the vdev ports and unlinks mp_socket, but leaves the
  // runtime directory with its config, fbarray_* files and the telemetry socket.
  (void)rte_eal_cleanup();
  g_state.store(EalState::kCleanedUp);
}

}  // namespace pmdnet
