// pmdnetctl's command line: the options as a struct, a pure parser, the --help text, and where
// to look for DPDK's telemetry socket.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"

namespace pmdnet::ctl {

enum class Command : uint8_t { kInfo, kPorts, kPort, kWorkers, kWatch };

struct CtlOptions {
  Command command = Command::kPorts;
  std::string port;                    // kPort: the port name
  std::string file_prefix = "pmdnet";  // --file-prefix P / -f P
  std::string socket;                  // --socket PATH: overrides the file prefix
  bool json = false;                   // --json: print the raw replies (watch: one JSON line each)
  bool nonzero = false;                // --nonzero (port): leave out counters zero on every pair
  double interval_s = 1.0;             // --interval S (watch)
  uint64_t count = 0;                  // --count N (watch): reports to print, 0 = until killed
  bool help = false;                   // --help / -h
  bool version = false;                // --version

  bool operator==(const CtlOptions&) const = default;
};

// Parses argv[1..]: one command (info, ports, port NAME, workers, watch) and options before or
// after it, each at most once, as "--opt VALUE" or "--opt=VALUE". Pure. Errors: kInvalidArgument
// with a one-line message naming the bad argument (the caller prints usage and exits 2).
Result<CtlOptions> parse_ctl_args(std::span<const std::string_view> args);

std::vector<std::string_view> ctl_arguments(int argc, const char* const* argv);

// The --help text, ending in a newline.
std::string ctl_usage_text();

// What decides where EAL put the runtime directory (DPDK 22.11 eal_create_runtime_dir).
struct RuntimeEnv {
  std::optional<std::string> runtime_directory;  // $RUNTIME_DIRECTORY (systemd)
  std::optional<std::string> xdg_runtime_dir;    // $XDG_RUNTIME_DIR
  bool root = false;
};

RuntimeEnv current_runtime_env();

// Where pmdnetd's dpdk_telemetry.v2 may be for `file_prefix`, most likely first:
// $RUNTIME_DIRECTORY/dpdk/P (set when this shell is inside the unit's environment); EAL's default
// (/var/run/dpdk/P as root, else $XDG_RUNTIME_DIR or /tmp); and, as root, /run/pmdnet/dpdk/P,
// where pmdnetd.service's RuntimeDirectory=pmdnet makes EAL put it.
std::vector<std::string> telemetry_socket_candidates(std::string_view file_prefix,
                                                     const RuntimeEnv& env);

}  // namespace pmdnet::ctl
