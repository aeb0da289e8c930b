// parse_cli: pmdnetd's flags as a table for daemon/cli_options' scanner, what each one means, and
// one error message per kind of bad argument; and the --help / --version texts.
#include "daemon/service/cli.h"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "config/names.h"
#include "daemon/cli_options/cli_options.h"

#ifndef PMDNET_VERSION
#define PMDNET_VERSION "0.1.0"
#endif

namespace pmdnet::service {
namespace {

using cli_options::Argument;

enum Flag : int { kConfig, kCheckConfig, kLogLevel, kVersion, kHelp };

constexpr std::array<cli_options::OptionSpec, 5> kOptions{{
    {.id = kConfig, .long_name = "config", .takes_value = true},
    {.id = kCheckConfig, .long_name = "check-config"},
    {.id = kLogLevel, .long_name = "log-level", .takes_value = true},
    {.id = kVersion, .long_name = "version"},
    {.id = kHelp, .long_name = "help", .short_name = 'h'},
}};

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

// What pmdnetd says about an argument the scanner refused; it names the argument as written.
constexpr cli_options::ErrorMessages kScanMessages{
    .unknown_option = "unknown option '{text}'",
    .duplicate = "duplicate option '{text}'",
    .unexpected_value = "option '{name}' takes no value, got '{text}'",
    .missing_value = "option '{name}' needs a value",
};

// The value of an option that takes one: non-empty, and, when it is a separate argument, not
// something that looks like an option (`--config --check-config` forgot the path; refuse rather
// than read a file named so). With '=' the value is taken as written.
Result<std::string_view> checked_value(const Argument& arg) {
  const std::string_view value = arg.value.value_or(std::string_view{});
  if (!arg.inline_value && value.starts_with('-')) {
    return cli_error(
        fmt::format("option '{}' needs a value, got the option '{}'", arg.name, value));
  }
  if (value.empty()) return cli_error(fmt::format("option '{}' needs a non-empty value", arg.name));
  return value;
}

}  // namespace

Result<CliOptions> parse_cli(std::span<const std::string_view> args) {
  const cli_options::Scan scan = cli_options::scan_arguments(args, kOptions);
  CliOptions options;
  for (const Argument& arg : scan.arguments) {
    if (arg.kind == Argument::Kind::kOperand) {
      return cli_error(
          fmt::format("unexpected argument '{}': pmdnetd takes no positional arguments", arg.text));
    }
    switch (static_cast<Flag>(arg.id)) {
      case kConfig: {
        const auto value = checked_value(arg);
        if (!value) return std::unexpected(value.error());
        options.config_path = std::filesystem::path(*value);
        break;
      }
      case kCheckConfig:
        options.check_config = true;
        break;
      case kLogLevel: {
        const auto value = checked_value(arg);
        if (!value) return std::unexpected(value.error());
        options.log_level = config::from_string<config::LogLevel>(*value);
        if (!options.log_level) {
          return cli_error(fmt::format("option '{}': unknown level '{}' (one of {})", arg.name,
                                       *value, level_names()));
        }
        break;
      }
      case kVersion:
        options.version = true;
        break;
      case kHelp:
        options.help = true;
        break;
    }
  }
  if (scan.error) return cli_error(cli_options::error_message(*scan.error, kScanMessages));
  return options;
}

std::vector<std::string_view> cli_arguments(int argc, const char* const* argv) {
  return cli_options::program_arguments(argc, argv);
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
