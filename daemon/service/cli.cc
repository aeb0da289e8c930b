// parse_cli: pmdnetd's flags, table-driven, with one error message per kind of bad argument;
// and the --help / --version texts.
#include "daemon/service/cli.h"

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "config/names.h"

#ifndef PMDNET_VERSION
#define PMDNET_VERSION "0.1.0"
#endif

namespace pmdnet::service {
namespace {

enum class Flag : uint8_t { kConfig, kCheckConfig, kLogLevel, kVersion, kHelp, kCount };

struct FlagSpec {
  Flag flag = Flag::kCount;
  std::string_view name;  // as written on the command line
  bool takes_value = false;
};

constexpr std::array<FlagSpec, 6> kFlags{{
    {Flag::kConfig, "--config", true},
    {Flag::kCheckConfig, "--check-config", false},
    {Flag::kLogLevel, "--log-level", true},
    {Flag::kVersion, "--version", false},
    {Flag::kHelp, "--help", false},
    {Flag::kHelp, "-h", false},
}};

const FlagSpec* find_flag(std::string_view name) {
  for (const FlagSpec& spec : kFlags) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// "trace, debug, info, warn, error, critical, off".
std::string level_names() {
  std::string names;
  for (const auto& entry : config::EnumNames<config::LogLevel>::kTable) {
    if (!names.empty()) names += ", ";
    names += entry.name;
  }
  return names;
}

std::unexpected<Error> cli_error(std::string message) {
  return make_error(Errc::kInvalidArgument, std::move(message));
}

}  // namespace

Result<CliOptions> parse_cli(std::span<const std::string_view> args) {
  CliOptions options;
  std::array<bool, static_cast<size_t>(Flag::kCount)> seen{};

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (!arg.starts_with('-') || arg == "-") {
      return cli_error(
          fmt::format("unexpected argument '{}': pmdnetd takes no positional arguments", arg));
    }

    // Split "--name=value"; short options never carry an inline value.
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (arg.starts_with("--")) {
      if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
        name = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
      }
    }

    const FlagSpec* spec = find_flag(name);
    if (spec == nullptr) return cli_error(fmt::format("unknown option '{}'", arg));

    bool& was_seen = seen[static_cast<size_t>(spec->flag)];
    if (was_seen) return cli_error(fmt::format("duplicate option '{}'", arg));
    was_seen = true;

    std::string_view value;
    if (!spec->takes_value) {
      if (inline_value) {
        return cli_error(fmt::format("option '{}' takes no value, got '{}'", name, arg));
      }
    } else if (inline_value) {
      value = *inline_value;
    } else {
      if (i + 1 == args.size()) {
        return cli_error(fmt::format("option '{}' needs a value", name));
      }
      value = args[++i];
      // `--config --check-config` forgot the path; refuse rather than read a file named so.
      if (value.starts_with('-')) {
        return cli_error(
            fmt::format("option '{}' needs a value, got the option '{}'", name, value));
      }
    }
    if (spec->takes_value && value.empty()) {
      return cli_error(fmt::format("option '{}' needs a non-empty value", name));
    }

    switch (spec->flag) {
      case Flag::kConfig:
        options.config_path = std::filesystem::path(value);
        break;
      case Flag::kCheckConfig:
        options.check_config = true;
        break;
      case Flag::kLogLevel:
        options.log_level = config::from_string<config::LogLevel>(value);
        if (!options.log_level) {
          return cli_error(fmt::format("option '{}': unknown level '{}' (one of {})", name, value,
                                       level_names()));
        }
        break;
      case Flag::kVersion:
        options.version = true;
        break;
      case Flag::kHelp:
        options.help = true;
        break;
      case Flag::kCount:
        break;
    }
  }
  return options;
}

std::vector<std::string_view> cli_arguments(int argc, const char* const* argv) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return args;
}

std::string usage_text() {
  return fmt::format(
      "Usage: pmdnetd [--config PATH] [--check-config] [--log-level LEVEL]\n"
      "       pmdnetd --version | --help\n"
      "\n"
      "pmdnet's userspace vhost-user datapath daemon.\n"
      "\n"
      "Options:\n"
      "  --config PATH      the YAML configuration file; without it, the built-in\n"
      "                     default (one loopback port on /tmp/pmdnet-vm0.sock,\n"
      "                     no hugepages)\n"
      "  --check-config     validate the configuration and exit: 0 if valid, 2 if not\n"
      "  --log-level LEVEL  override the configuration's logging.level, one of:\n"
      "                     {}\n"
      "  --version          print the version and exit\n"
      "  -h, --help         print this help and exit\n"
      "\n"
      "SIGHUP reloads the configuration file; SIGTERM stops the daemon.\n"
      "Exit status: 0 success, 1 failure, 2 bad command line.\n",
      level_names());
}

std::string_view version() { return PMDNET_VERSION; }

std::string version_text() { return fmt::format("pmdnetd {}\n", version()); }

}  // namespace pmdnet::service
