// pmdnetd's command line: the options as a struct, a pure parser over the arguments, and the
// --help and --version texts.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/base/result.h"

namespace pmdnet::service {

// What the command line asked for. Every field starts at "not given".
struct CliOptions {
  // --config PATH / --config=PATH: the YAML configuration file. Not given: the built-in default
  // configuration (config::default_config()).
  std::optional<std::filesystem::path> config_path;
  // --check-config: load and validate the configuration, report, and exit (0 valid, 2 invalid).
  bool check_config = false;
  // --version: print version_text() and exit 0.
  bool version = false;
  // --help / -h: print usage_text() and exit 0.
  bool help = false;
  // --log-level LEVEL / --log-level=LEVEL: overrides the configuration's logging.level, on start
  // and on every reload.
  std::optional<config::LogLevel> log_level;

  bool operator==(const CliOptions&) const = default;
};

// Parses pmdnetd's arguments, without the program name (argv[1..argc-1]). Pure: it reads nothing
// but `args`. Every flag may appear once, spelled in full; a value is refused when empty, or when
// it is a separate argument that looks like an option (starts with '-'). Errors:
// kInvalidArgument, with a one-line message that names the offending argument (the caller prints
// it with usage and exits 2).
Result<CliOptions> parse_cli(std::span<const std::string_view> args);

// argv[1..argc-1] as string_views, for parse_cli. They point into argv.
std::vector<std::string_view> cli_arguments(int argc, const char* const* argv);

// The --help text: a synopsis line and one line per option, ending in a newline.
std::string usage_text();

// "pmdnetd <version>" with the project version (CMake's project(VERSION)), ending in a newline.
std::string version_text();

// The bare version, e.g. "0.1.0".
std::string_view version();

}  // namespace pmdnet::service
