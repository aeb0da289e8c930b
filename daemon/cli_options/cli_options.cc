// scan_arguments: getopt_long in return-in-order mode over a table of options, plus the checks
// getopt_long does not make (exact long names, one short option per argument, each option once,
// "--" refused), with getopt's process-wide state saved and restored around it.
#include "daemon/cli_options/cli_options.h"

#include <fmt/format.h>
#include <getopt.h>

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>

namespace pmdnet::cli_options {
namespace {

// getopt_long's return value for the long spelling of options[i] is kLongBase + i, above every
// char value, so it cannot be taken for a short option, 1 (an operand), '?' or ':'.
constexpr int kLongBase = 0x100;

// getopt_long keeps its state in globals; one scan at a time.
constinit std::mutex g_getopt_mutex;

// Sets getopt up for a fresh, silent scan and, when the scan ends, puts its variables back and
// leaves its hidden state (which would otherwise point into the scan's own copy of the
// arguments) as a fresh start would.
class GetoptSession {
 public:
  GetoptSession()
      : saved_optind_(optind), saved_opterr_(opterr), saved_optopt_(optopt), saved_optarg_(optarg) {
    optind = 0;  // glibc: 0 re-initialises getopt entirely, not just the index
    opterr = 0;  // no messages of getopt's own
  }

  ~GetoptSession() {
    static const option kNoOptions[] = {{nullptr, 0, nullptr, 0}};
    char program[] = "";
    char* argv[] = {program, nullptr};
    // A scan of no arguments from a fresh start: the hidden state no longer points into ours.
    optind = 0;
    getopt_long(1, argv, "", kNoOptions, nullptr);  // NOLINT(concurrency-mt-unsafe): under the lock
    optind = saved_optind_;
    opterr = saved_opterr_;
    optopt = saved_optopt_;
    optarg = saved_optarg_;
  }

  GetoptSession(const GetoptSession&) = delete;
  GetoptSession& operator=(const GetoptSession&) = delete;

 private:
  int saved_optind_;
  int saved_opterr_;
  int saved_optopt_;
  char* saved_optarg_;
};

// The option `text` spells exactly: "--name" or "--name=VALUE" for a long name, "-x" for a short
// one. getopt_long would also take abbreviations and clusters; the tools take neither.
std::optional<size_t> find_option(std::string_view text, std::span<const OptionSpec> options) {
  for (size_t i = 0; i < options.size(); ++i) {
    const OptionSpec& spec = options[i];
    if (text.starts_with("--")) {
      const std::string_view name = text.substr(2, text.find('=') - 2);
      if (!spec.long_name.empty() && name == spec.long_name) return i;
    } else if (text.size() == 2 && text[0] == '-') {
      if (spec.short_name != '\0' && text[1] == spec.short_name) return i;
    }
  }
  return std::nullopt;
}

// `text` without any "=VALUE" if it is a long option; otherwise all of it.
std::string_view option_name(std::string_view text) {
  return text.starts_with("--") ? text.substr(0, text.find('=')) : text;
}

// The tool's format for errors of `kind`.
std::string_view message_format(ScanErrorKind kind, const ErrorMessages& messages) {
  switch (kind) {
    case ScanErrorKind::kUnknownOption:
      return messages.unknown_option;
    case ScanErrorKind::kDuplicate:
      return messages.duplicate;
    case ScanErrorKind::kUnexpectedValue:
      return messages.unexpected_value;
    case ScanErrorKind::kMissingValue:
      return messages.missing_value;
  }
  return messages.unknown_option;
}

}  // namespace

Scan scan_arguments(std::span<const std::string_view> args, std::span<const OptionSpec> options) {
  // getopt_long wants argv[0] and NUL-terminated, writable strings.
  std::vector<std::string> storage;
  storage.reserve(args.size() + 1);
  storage.emplace_back("pmdnet");
  for (std::string_view arg : args) storage.emplace_back(arg);
  std::vector<char*> argv;
  argv.reserve(storage.size() + 1);
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(storage.size());

  // '-': operands come back in place, as 1 (no permuting, whatever POSIXLY_CORRECT says);
  // ':': a missing value comes back as ':' rather than '?'.
  std::string optstring = "-:";
  std::vector<std::string> long_names(options.size());
  std::vector<option> longopts;
  for (size_t i = 0; i < options.size(); ++i) {
    const OptionSpec& spec = options[i];
    if (spec.short_name != '\0') {
      optstring += spec.short_name;
      if (spec.takes_value) optstring += ':';
    }
    if (!spec.long_name.empty()) {
      long_names[i] = spec.long_name;
      longopts.push_back({long_names[i].c_str(), spec.takes_value ? required_argument : no_argument,
                          nullptr, kLongBase + static_cast<int>(i)});
    }
  }
  longopts.push_back({nullptr, 0, nullptr, 0});

  // argv[k] is args[k - 1].
  const auto arg = [&](int k) { return args[static_cast<size_t>(k) - 1]; };
  Scan scan;
  std::vector<bool> seen(options.size(), false);
  const std::lock_guard lock(g_getopt_mutex);
  const GetoptSession session;
  for (;;) {
    const int at = std::max(optind, 1);  // the argv index getopt_long is about to read
    // NOLINTNEXTLINE(concurrency-mt-unsafe): under g_getopt_mutex.
    const int c = getopt_long(argc, argv.data(), optstring.c_str(), longopts.data(), nullptr);
    if (c == -1) {
      // getopt_long ends at the last argument or at "--"; the tools have no use for "--".
      if (at < argc) {
        scan.error = ScanError{ScanErrorKind::kUnknownOption, arg(at), option_name(arg(at))};
      }
      break;
    }
    const std::string_view text = arg(at);
    const std::string_view name = option_name(text);
    // getopt_long reads up to a NUL: "-\0x" is "-" to it, but not an operand here.
    if (c == 1 && (!text.starts_with('-') || text == "-")) {
      scan.arguments.push_back({.kind = Argument::Kind::kOperand, .text = text});
      continue;
    }
    const std::optional<size_t> index = find_option(text, options);
    if (!index) {
      scan.error = ScanError{ScanErrorKind::kUnknownOption, text, name};
      break;
    }
    if (seen[*index]) {
      scan.error = ScanError{ScanErrorKind::kDuplicate, text, name};
      break;
    }
    seen[*index] = true;
    if (c == ':') {
      scan.error = ScanError{ScanErrorKind::kMissingValue, text, name};
      break;
    }
    if (c == '?') {  // an exact long name of an option without a value, given "=VALUE"
      scan.error = ScanError{ScanErrorKind::kUnexpectedValue, text, name};
      break;
    }
    Argument argument{
        .kind = Argument::Kind::kOption, .id = options[*index].id, .text = text, .name = name};
    if (options[*index].takes_value) {
      // getopt_long took the value from this argument (after '=') or took the next argument.
      if (optind == at + 2) {
        argument.value = arg(at + 1);
      } else {
        argument.value = text.substr(name.size() + 1);
        argument.inline_value = true;
      }
    }
    scan.arguments.push_back(argument);
  }
  return scan;
}

std::string error_message(const ScanError& error, const ErrorMessages& messages) {
  return fmt::format(fmt::runtime(message_format(error.kind, messages)),
                     fmt::arg("text", error.text), fmt::arg("name", error.name));
}

std::vector<std::string_view> program_arguments(int argc, const char* const* argv) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return args;
}

}  // namespace pmdnet::cli_options
