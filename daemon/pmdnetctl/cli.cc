// parse_ctl_args: pmdnetctl's options as a table for daemon/cli_options' scanner, its command,
// and one error message per kind of bad argument; the usage text; and the telemetry socket's
// candidate paths.
#include "daemon/pmdnetctl/cli.h"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "daemon/cli_options/cli_options.h"

namespace pmdnet::ctl {
namespace {

using cli_options::Argument;

enum Flag : int {
  kFilePrefix,
  kSocket,
  kJson,
  kNonzero,
  kInterval,
  kCount,
  kHelp,
  kVersion,
  kNumFlags,
};

constexpr std::array<cli_options::OptionSpec, 8> kOptions{{
    {.id = kFilePrefix, .long_name = "file-prefix", .short_name = 'f', .takes_value = true},
    {.id = kSocket, .long_name = "socket", .takes_value = true},
    {.id = kJson, .long_name = "json"},
    {.id = kNonzero, .long_name = "nonzero"},
    {.id = kInterval, .long_name = "interval", .takes_value = true},
    {.id = kCount, .long_name = "count", .takes_value = true},
    {.id = kHelp, .long_name = "help", .short_name = 'h'},
    {.id = kVersion, .long_name = "version"},
}};

std::unexpected<Error> usage_error(std::string message) {
  return make_error(Errc::kInvalidArgument, std::move(message));
}

// What pmdnetctl says about an argument the scanner refused; it names the option as written.
constexpr cli_options::ErrorMessages kScanMessages{
    .unknown_option = "unknown option '{name}'",
    .duplicate = "option '{name}' given twice",
    .unexpected_value = "option '{name}' takes no value",
    .missing_value = "option '{name}' needs a value",
};

std::optional<Command> find_command(std::string_view word) {
  if (word == "info") return Command::kInfo;
  if (word == "ports") return Command::kPorts;
  if (word == "port") return Command::kPort;
  if (word == "workers") return Command::kWorkers;
  if (word == "watch") return Command::kWatch;
  return std::nullopt;
}

// pmdnetd's port names (config.h): [A-Za-z0-9][A-Za-z0-9_.-]*, at most 32 characters.
bool valid_port_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return false;
  }
  return true;
}

// EAL's --file-prefix as pmdnetd accepts it: non-empty, no '/', no whitespace, at most 64.
bool valid_file_prefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > 64) return false;
  for (char c : prefix) {
    if (c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<CtlOptions> parse_ctl_args(std::span<const std::string_view> args) {
  const cli_options::Scan scan = cli_options::scan_arguments(args, kOptions);
  CtlOptions options;
  std::array<bool, kNumFlags> seen{};
  std::vector<std::string_view> positional;

  for (const Argument& arg : scan.arguments) {
    if (arg.kind == Argument::Kind::kOperand) {
      positional.push_back(arg.text);
      continue;
    }
    seen[static_cast<size_t>(arg.id)] = true;
    const std::string_view value = arg.value.value_or(std::string_view{});
    if (arg.value && (value.empty() || value.starts_with('-'))) {
      return usage_error(fmt::format("option '{}' needs a value, got '{}'", arg.name, value));
    }

    switch (static_cast<Flag>(arg.id)) {
      case kFilePrefix:
        if (!valid_file_prefix(value)) {
          return usage_error(fmt::format(
              "bad --file-prefix '{}': 1 to 64 characters, no '/' and no whitespace", value));
        }
        options.file_prefix = std::string(value);
        break;
      case kSocket:
        options.socket = std::string(value);
        break;
      case kJson:
        options.json = true;
        break;
      case kNonzero:
        options.nonzero = true;
        break;
      case kInterval: {
        double s = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
        if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(s) ||
            s < 0.01 || s > 3600) {
          return usage_error(fmt::format("bad --interval '{}': seconds, from 0.01 to 3600", value));
        }
        options.interval_s = s;
        break;
      }
      case kCount: {
        uint64_t n = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || end != value.data() + value.size()) {
          return usage_error(
              fmt::format("bad --count '{}': a whole number (0: until interrupted)", value));
        }
        options.count = n;
        break;
      }
      case kHelp:
        options.help = true;
        break;
      case kVersion:
        options.version = true;
        break;
      case kNumFlags:
        break;
    }
  }
  if (scan.error) return usage_error(cli_options::error_message(*scan.error, kScanMessages));

  if (options.help || options.version) return options;
  if (seen[kFilePrefix] && seen[kSocket]) {
    return usage_error("--file-prefix and --socket exclude each other");
  }
  if (positional.empty()) {
    return usage_error("no command given: one of info, ports, port NAME, workers, watch");
  }
  const auto command = find_command(positional[0]);
  if (!command) {
    return usage_error(fmt::format(
        "unknown command '{}': one of info, ports, port NAME, workers, watch", positional[0]));
  }
  options.command = *command;
  const size_t operands = options.command == Command::kPort ? 1 : 0;
  if (positional.size() - 1 < operands) {
    return usage_error("'port' needs a port name (pmdnetctl ports lists them)");
  }
  if (positional.size() - 1 > operands) {
    return usage_error(fmt::format("unexpected argument '{}' after '{}'", positional[1 + operands],
                                   positional[0]));
  }
  if (options.command == Command::kPort) {
    if (!valid_port_name(positional[1])) {
      return usage_error(fmt::format(
          "bad port name '{}': [A-Za-z0-9][A-Za-z0-9_.-]*, at most 32 characters", positional[1]));
    }
    options.port = std::string(positional[1]);
  }
  if (options.command != Command::kWatch) {
    for (Flag f : {kInterval, kCount}) {
      if (seen[f]) {
        return usage_error(
            fmt::format("--{} is only for 'watch'", f == kInterval ? "interval" : "count"));
      }
    }
  }
  if (options.command != Command::kPort && options.nonzero) {
    return usage_error("--nonzero is only for 'port'");
  }
  return options;
}

std::vector<std::string_view> ctl_arguments(int argc, const char* const* argv) {
  return cli_options::program_arguments(argc, argv);
}

std::string ctl_usage_text() {
  return "usage: pmdnetctl [options] COMMAND\n"
         "Reads pmdnetd's counters from DPDK telemetry (its dpdk_telemetry.v2 socket).\n"
         "\n"
         "commands:\n"
         "  info               version, reloads, port and worker counts\n"
         "  ports              one line per port: link, queue pairs, guest packets, drops, errors\n"
         "  port NAME          one port's fields and every counter of each queue pair\n"
         "  workers            one line per worker: lcore, idle policy, queue pairs, busy %\n"
         "  watch              per port guest TX/RX packets/s and bits/s, once per interval\n"
         "\n"
         "options:\n"
         "  -f, --file-prefix P  pmdnetd's EAL file prefix (default pmdnet)\n"
         "  --socket PATH        the telemetry socket itself (instead of --file-prefix)\n"
         "  --json               print the raw JSON replies (watch: one JSON object per line)\n"
         "  --nonzero            port: leave out counters that are zero on every queue pair\n"
         "  --interval S         watch: seconds between reports (default 1, from 0.01)\n"
         "  --count N            watch: stop after N reports (default 0: until interrupted)\n"
         "  -h, --help           this text\n"
         "  --version            pmdnetctl's version\n"
         "\n"
         "exit status: 0 success, 1 failure (no socket, unknown port, bad reply), 2 bad usage\n";
}

RuntimeEnv current_runtime_env() {
  RuntimeEnv env;
  // NOLINTBEGIN(concurrency-mt-unsafe): single-threaded tool.
  if (const char* v = std::getenv("RUNTIME_DIRECTORY"); v != nullptr) env.runtime_directory = v;
  if (const char* v = std::getenv("XDG_RUNTIME_DIR"); v != nullptr) env.xdg_runtime_dir = v;
  // NOLINTEND(concurrency-mt-unsafe)
  env.root = getuid() == 0;
  return env;
}

std::vector<std::string> telemetry_socket_candidates(std::string_view file_prefix,
                                                     const RuntimeEnv& env) {
  std::vector<std::string> out;
  auto add = [&](std::string_view base) {
    std::string path = fmt::format("{}/dpdk/{}/dpdk_telemetry.v2", base, file_prefix);
    for (const std::string& p : out) {
      if (p == path) return;
    }
    out.push_back(std::move(path));
  };
  if (env.runtime_directory && !env.runtime_directory->empty()) add(*env.runtime_directory);
  if (env.root) {
    add("/var/run");
  } else {
    add(env.xdg_runtime_dir ? *env.xdg_runtime_dir : "/tmp");
  }
  if (env.root) add("/run/pmdnet");
  return out;
}

}  // namespace pmdnet::ctl
