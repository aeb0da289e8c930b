// The command-line scanner pmdnetd and pmdnetctl share: getopt_long over a table of options,
// giving back the options and operands in the order they were written, up to the first argument
// that is not a well-formed use of the table. What the options mean, and the words of every
// message, stay with each tool.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pmdnet::cli_options {

// One option of a tool. A table may give an option a long name, a short name, or both (two
// spellings of one option: `--help` and `-h`).
struct OptionSpec {
  int id = 0;                  // the tool's own name for the option, returned in Argument::id
  std::string_view long_name;  // without the dashes ("config"); empty: no long spelling
  char short_name = '\0';      // a letter or digit ('h'); '\0': no short spelling
  bool takes_value = false;    // "--name VALUE", "--name=VALUE", "-n VALUE"
};

// One well-formed argument: an option of the table (with its value, if it takes one) or an
// operand (a word that does not start with '-', or "-" alone).
struct Argument {
  enum class Kind : uint8_t { kOption, kOperand };

  Kind kind = Kind::kOperand;
  int id = 0;             // kOption: the OptionSpec::id
  std::string_view text;  // as written: "--config=/a.yaml", "-h", "ports"
  std::string_view name;  // kOption: the spelling used, without any "=VALUE": "--config"
  // An option that takes a value: the value, possibly empty; otherwise none.
  std::optional<std::string_view> value;
  bool inline_value = false;  // the value came after '=' in the same argument

  bool operator==(const Argument&) const = default;
};

// Why an argument is not a well-formed use of the table.
enum class ScanErrorKind : uint8_t {
  kUnknownOption,    // not in the table: also an abbreviation ("--conf"), clustered or attached
                     // short options ("-hf", "-fVALUE", "-h=1") and "--" itself
  kDuplicate,        // an option given a second time, in either spelling
  kUnexpectedValue,  // "--name=VALUE" for an option that takes no value
  kMissingValue,     // an option that takes a value is the last argument
};

struct ScanError {
  ScanErrorKind kind = ScanErrorKind::kUnknownOption;
  std::string_view text;  // the whole argument: "--colour=red"
  std::string_view name;  // a long option's text before '=' ("--colour"), else the whole text

  bool operator==(const ScanError&) const = default;
};

struct Scan {
  std::vector<Argument> arguments;  // in order, up to the first bad argument
  std::optional<ScanError> error;   // the first bad argument, if any
};

// Scans `args` (the program's arguments without its name) against `options`. An option that
// takes a value takes the next argument whatever it looks like ("--config --check-config" gives
// --config the value "--check-config"); judging values is the tool's part. Nothing is printed.
// The views in the result point into `args`.
//
// The table's names must be unique, and a short name a letter or digit. getopt_long's state is
// process-wide: calls are serialised here, getopt's variables (optind, opterr, optarg, optopt)
// are restored afterwards and its hidden state left as a fresh start would leave it, so a later
// getopt user (DPDK's EAL) is unaffected.
Scan scan_arguments(std::span<const std::string_view> args, std::span<const OptionSpec> options);

// What a tool says about each kind of refused argument: fmt format strings that may name
// {text} and {name} (ScanError's). A format that names anything else throws fmt::format_error.
struct ErrorMessages {
  std::string_view unknown_option;
  std::string_view duplicate;
  std::string_view unexpected_value;
  std::string_view missing_value;
};

// `error` in the tool's words: its message for that kind, with the argument filled in.
std::string error_message(const ScanError& error, const ErrorMessages& messages);

// argv[1..argc-1] as string_views: the program's arguments without its name. They point into
// argv.
std::vector<std::string_view> program_arguments(int argc, const char* const* argv);

}  // namespace pmdnet::cli_options
