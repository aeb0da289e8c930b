// Tests of scan_arguments: options in every spelling, operands in place, each kind of bad argument
// with the argument it names, what comes back before an error, and getopt's process-wide state
// before and after a scan; and of error_message's formats.
#include "daemon/cli_options/cli_options.h"

#include <fmt/format.h>
#include <getopt.h>
#include <gtest/gtest.h>

#include <array>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace pmdnet::cli_options {
namespace {

enum Id : int { kFile, kVerbose, kHelp, kLevel };

constexpr std::array<OptionSpec, 4> kOptions{{
    {.id = kFile, .long_name = "file", .short_name = 'f', .takes_value = true},
    {.id = kVerbose, .long_name = "verbose"},
    {.id = kHelp, .long_name = "help", .short_name = 'h'},
    {.id = kLevel, .long_name = "level", .takes_value = true},
}};

Scan scan(std::initializer_list<std::string_view> args) {
  const std::vector<std::string_view> v(args);
  return scan_arguments(v, kOptions);
}

Argument option(int id, std::string_view text, std::string_view name) {
  return {.kind = Argument::Kind::kOption, .id = id, .text = text, .name = name};
}

Argument option(int id, std::string_view text, std::string_view name, std::string_view value,
                bool inline_value) {
  return {.kind = Argument::Kind::kOption,
          .id = id,
          .text = text,
          .name = name,
          .value = value,
          .inline_value = inline_value};
}

Argument operand(std::string_view text) { return {.kind = Argument::Kind::kOperand, .text = text}; }

// Scans `args`, expects an error, and returns it.
ScanError scan_error(std::initializer_list<std::string_view> args) {
  const Scan s = scan(args);
  if (!s.error) {
    ADD_FAILURE() << "scan succeeded";
    return {};
  }
  return *s.error;
}

TEST(ScanArgumentsTest, NothingGivesNothing) {
  const Scan s = scan({});
  EXPECT_TRUE(s.arguments.empty());
  EXPECT_FALSE(s.error);
}

TEST(ScanArgumentsTest, LongOptionWithSeparateValue) {
  const Scan s = scan({"--file", "/a.yaml"});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments,
            (std::vector<Argument>{option(kFile, "--file", "--file", "/a.yaml", false)}));
}

TEST(ScanArgumentsTest, LongOptionWithEqualsValueKeepsLaterEqualsSigns) {
  const Scan s = scan({"--file=/a=b.yaml"});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(
      s.arguments,
      (std::vector<Argument>{option(kFile, "--file=/a=b.yaml", "--file", "/a=b.yaml", true)}));
}

TEST(ScanArgumentsTest, ShortOptionWithSeparateValue) {
  const Scan s = scan({"-f", "x"});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments, (std::vector<Argument>{option(kFile, "-f", "-f", "x", false)}));
}

TEST(ScanArgumentsTest, FlagsInBothSpellings) {
  const Scan s = scan({"--verbose", "-h"});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments, (std::vector<Argument>{option(kVerbose, "--verbose", "--verbose"),
                                                option(kHelp, "-h", "-h")}));
  EXPECT_FALSE(s.arguments[0].value);
  EXPECT_FALSE(s.arguments[1].value);
}

TEST(ScanArgumentsTest, EmptyValuesAreValuesAllTheSame) {
  Scan s = scan({"--file="});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments, (std::vector<Argument>{option(kFile, "--file=", "--file", "", true)}));
  s = scan({"--file", ""});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments, (std::vector<Argument>{option(kFile, "--file", "--file", "", false)}));
}

TEST(ScanArgumentsTest, AValueIsTheNextArgumentWhateverItLooksLike) {
  // Judging values is the tool's part: "--file --verbose" gives --file the value "--verbose".
  Scan s = scan({"--file", "--verbose", "--level=-1"});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments,
            (std::vector<Argument>{option(kFile, "--file", "--file", "--verbose", false),
                                   option(kLevel, "--level=-1", "--level", "-1", true)}));
  s = scan({"-f", "-h"});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments, (std::vector<Argument>{option(kFile, "-f", "-f", "-h", false)}));
}

TEST(ScanArgumentsTest, OperandsComeBackInPlace) {
  // No permuting: options after an operand stay after it, and "-" and "" are operands.
  const Scan s = scan({"port", "--verbose", "vm1", "-", "", "-f", "p", "last"});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments,
            (std::vector<Argument>{operand("port"), option(kVerbose, "--verbose", "--verbose"),
                                   operand("vm1"), operand("-"), operand(""),
                                   option(kFile, "-f", "-f", "p", false), operand("last")}));
}

TEST(ScanArgumentsTest, ViewsPointIntoTheCallersArguments) {
  const std::vector<std::string_view> args = {"--file=x", "--level", "y", "z"};
  const Scan s = scan_arguments(args, kOptions);
  ASSERT_FALSE(s.error);
  ASSERT_EQ(s.arguments.size(), 3u);
  EXPECT_EQ(s.arguments[0].text.data(), args[0].data());
  EXPECT_EQ(s.arguments[0].value->data(), args[0].data() + 7);
  EXPECT_EQ(s.arguments[1].value->data(), args[2].data());
  EXPECT_EQ(s.arguments[2].text.data(), args[3].data());
}

TEST(ScanArgumentsTest, ArgumentsNeedNotBeNulTerminated) {
  const std::string line = "--file=abc--verbose";
  const std::vector<std::string_view> args = {std::string_view(line).substr(0, 10),
                                              std::string_view(line).substr(10)};
  const Scan s = scan_arguments(args, kOptions);
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments, (std::vector<Argument>{option(kFile, "--file=abc", "--file", "abc", true),
                                                option(kVerbose, "--verbose", "--verbose")}));
}

TEST(ScanArgumentsTest, UnknownLongOption) {
  EXPECT_EQ(scan_error({"--bogus"}),
            (ScanError{ScanErrorKind::kUnknownOption, "--bogus", "--bogus"}));
  EXPECT_EQ(scan_error({"--colour=red"}),
            (ScanError{ScanErrorKind::kUnknownOption, "--colour=red", "--colour"}));
}

TEST(ScanArgumentsTest, AbbreviationsAreUnknown) {
  // getopt_long alone would take these for --file, --verbose and --help.
  EXPECT_EQ(scan_error({"--fi", "x"}), (ScanError{ScanErrorKind::kUnknownOption, "--fi", "--fi"}));
  EXPECT_EQ(scan_error({"--verb"}), (ScanError{ScanErrorKind::kUnknownOption, "--verb", "--verb"}));
  EXPECT_EQ(scan_error({"--he=1"}), (ScanError{ScanErrorKind::kUnknownOption, "--he=1", "--he"}));
}

TEST(ScanArgumentsTest, UnknownShortOption) {
  EXPECT_EQ(scan_error({"-x"}), (ScanError{ScanErrorKind::kUnknownOption, "-x", "-x"}));
  EXPECT_EQ(scan_error({"-?"}), (ScanError{ScanErrorKind::kUnknownOption, "-?", "-?"}));
  EXPECT_EQ(scan_error({"-:"}), (ScanError{ScanErrorKind::kUnknownOption, "-:", "-:"}));
}

TEST(ScanArgumentsTest, ShortOptionsAreNeverClusteredOrAttached) {
  for (std::string_view text : {"-hh", "-fvalue", "-h=1", "-hf", "-f=x"}) {
    EXPECT_EQ(scan_error({text, "x"}), (ScanError{ScanErrorKind::kUnknownOption, text, text}))
        << text;
  }
}

TEST(ScanArgumentsTest, DoubleDashIsUnknown) {
  EXPECT_EQ(scan_error({"--"}), (ScanError{ScanErrorKind::kUnknownOption, "--", "--"}));
  EXPECT_EQ(scan_error({"--verbose", "--", "x"}),
            (ScanError{ScanErrorKind::kUnknownOption, "--", "--"}));
  EXPECT_EQ(scan_error({"--=x"}), (ScanError{ScanErrorKind::kUnknownOption, "--=x", "--"}));
}

TEST(ScanArgumentsTest, ArgumentsAreReadToTheirEndNotToANul) {
  using namespace std::string_view_literals;
  for (std::string_view text : {"-\0x"sv, "--\0x"sv, "-h\0"sv, "--help\0"sv}) {
    EXPECT_EQ(scan_error({text}).text, text) << text;
  }
  EXPECT_EQ(scan_error({"--file=a\0b"sv, "\0"sv, "--x"}).text, "--x");
  const std::vector<std::string_view> args = {"--file\0x"sv};
  EXPECT_EQ(scan_arguments(args, kOptions).error,
            (ScanError{ScanErrorKind::kUnknownOption, "--file\0x"sv, "--file\0x"sv}));
  const Scan s = scan({"--level=a\0b"sv, "\0-x"sv, "-f", "c\0d"sv});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments,
            (std::vector<Argument>{option(kLevel, "--level=a\0b"sv, "--level", "a\0b"sv, true),
                                   operand("\0-x"sv), option(kFile, "-f", "-f", "c\0d"sv, false)}));
}

TEST(ScanArgumentsTest, DuplicateInEitherSpelling) {
  EXPECT_EQ(scan_error({"--verbose", "--verbose"}),
            (ScanError{ScanErrorKind::kDuplicate, "--verbose", "--verbose"}));
  EXPECT_EQ(scan_error({"--help", "-h"}), (ScanError{ScanErrorKind::kDuplicate, "-h", "-h"}));
  EXPECT_EQ(scan_error({"-f", "a", "--file=b"}),
            (ScanError{ScanErrorKind::kDuplicate, "--file=b", "--file"}));
}

TEST(ScanArgumentsTest, DuplicateComesBeforeAMissingOrUnexpectedValue) {
  EXPECT_EQ(scan_error({"--file", "a", "--file"}),
            (ScanError{ScanErrorKind::kDuplicate, "--file", "--file"}));
  EXPECT_EQ(scan_error({"--help", "--help=1"}),
            (ScanError{ScanErrorKind::kDuplicate, "--help=1", "--help"}));
}

TEST(ScanArgumentsTest, FlagGivenAValue) {
  EXPECT_EQ(scan_error({"--verbose=yes"}),
            (ScanError{ScanErrorKind::kUnexpectedValue, "--verbose=yes", "--verbose"}));
  EXPECT_EQ(scan_error({"--help="}),
            (ScanError{ScanErrorKind::kUnexpectedValue, "--help=", "--help"}));
}

TEST(ScanArgumentsTest, MissingValueAtTheEnd) {
  EXPECT_EQ(scan_error({"--verbose", "--file"}),
            (ScanError{ScanErrorKind::kMissingValue, "--file", "--file"}));
  EXPECT_EQ(scan_error({"-f"}), (ScanError{ScanErrorKind::kMissingValue, "-f", "-f"}));
}

TEST(ScanArgumentsTest, WhatCameBeforeTheErrorIsReturned) {
  const Scan s = scan({"cmd", "--level", "3", "--bogus", "after", "--verbose"});
  ASSERT_TRUE(s.error);
  EXPECT_EQ(*s.error, (ScanError{ScanErrorKind::kUnknownOption, "--bogus", "--bogus"}));
  EXPECT_EQ(s.arguments, (std::vector<Argument>{operand("cmd"),
                                                option(kLevel, "--level", "--level", "3", false)}));
}

TEST(ScanArgumentsTest, AnEmptyTableTakesOnlyOperands) {
  const std::vector<std::string_view> words = {"a", "-", "b"};
  Scan s = scan_arguments(words, {});
  ASSERT_FALSE(s.error);
  EXPECT_EQ(s.arguments, (std::vector<Argument>{operand("a"), operand("-"), operand("b")}));
  const std::vector<std::string_view> flag = {"a", "-h"};
  s = scan_arguments(flag, {});
  EXPECT_EQ(s.error, (ScanError{ScanErrorKind::kUnknownOption, "-h", "-h"}));
}

TEST(ScanArgumentsTest, PrintsNothing) {
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  for (auto args : {std::initializer_list<std::string_view>{"--bogus"},
                    {"-x"},
                    {"--file"},
                    {"-f"},
                    {"--verbose=1"},
                    {"--fi", "x"},
                    {"--"}}) {
    EXPECT_TRUE(scan(args).error);
  }
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(ScanArgumentsTest, ManyScansInOneProcessAreIndependent) {
  // Each scan starts afresh, whether the one before ended early (inside "-h=1"), with an error or
  // after its last argument.
  for (int i = 0; i < 200; ++i) {
    EXPECT_TRUE(scan({"-h=1"}).error);
    EXPECT_EQ(scan({"-h"}).arguments, (std::vector<Argument>{option(kHelp, "-h", "-h")}));
    EXPECT_TRUE(scan({"--file"}).error);
    const Scan s = scan({"x", "--file", "y"});
    ASSERT_FALSE(s.error);
    EXPECT_EQ(s.arguments,
              (std::vector<Argument>{operand("x"), option(kFile, "--file", "--file", "y", false)}));
  }
}

TEST(ScanArgumentsTest, GetoptsVariablesAreRestored) {
  optind = 5;
  opterr = 1;
  optopt = 'q';
  char marker[] = "marker";
  optarg = marker;
  EXPECT_TRUE(scan({"-f"}).error);
  EXPECT_FALSE(scan({"--file=a", "b"}).error);
  EXPECT_EQ(optind, 5);
  EXPECT_EQ(opterr, 1);
  EXPECT_EQ(optopt, 'q');
  EXPECT_EQ(optarg, marker);
  optind = 1;
  optarg = nullptr;
}

TEST(ScanArgumentsTest, ALaterGetoptUserStartsClean) {
  // A scan that stopped inside "-h=1" leaves nothing behind for the next getopt_long caller (as
  // DPDK's EAL is in pmdnetd), even one that only sets optind = 1.
  EXPECT_TRUE(scan({"-h=1"}).error);
  char program[] = "eal";
  char verbose[] = "-v";
  char* argv[] = {program, verbose, nullptr};
  const ::option none[] = {{nullptr, 0, nullptr, 0}};
  optind = 1;
  const int saved_opterr = opterr;
  opterr = 0;
  // NOLINTBEGIN(concurrency-mt-unsafe): the test is the only thread.
  EXPECT_EQ(getopt_long(2, argv, "v", none, nullptr), 'v');
  EXPECT_EQ(getopt_long(2, argv, "v", none, nullptr), -1);
  // NOLINTEND(concurrency-mt-unsafe)
  opterr = saved_opterr;
  optind = 1;
}

constexpr ErrorMessages kMessages{
    .unknown_option = "unknown '{text}'",
    .duplicate = "twice: {name} (as '{text}')",
    .unexpected_value = "'{name}' takes no value",
    .missing_value = "'{name}' needs one",
};

TEST(ErrorMessageTest, EachKindInTheToolsWords) {
  EXPECT_EQ(error_message(scan_error({"--colour=red"}), kMessages), "unknown '--colour=red'");
  EXPECT_EQ(error_message(scan_error({"-f", "a", "--file=b"}), kMessages),
            "twice: --file (as '--file=b')");
  EXPECT_EQ(error_message(scan_error({"--verbose=1"}), kMessages), "'--verbose' takes no value");
  EXPECT_EQ(error_message(scan_error({"-f"}), kMessages), "'-f' needs one");
}

TEST(ErrorMessageTest, BracesInTheArgumentAreNotFormats) {
  EXPECT_EQ(error_message(scan_error({"--{name}={}"}), kMessages), "unknown '--{name}={}'");
}

TEST(ErrorMessageTest, AFormatNamingSomethingElseThrows) {
  const ErrorMessages bad{.unknown_option = "unknown {option}"};
  EXPECT_THROW((void)error_message(scan_error({"--bogus"}), bad), fmt::format_error);
}

TEST(ProgramArgumentsTest, SkipsTheProgramName) {
  const char* argv[] = {"prog", "--file", "x", nullptr};
  EXPECT_EQ(program_arguments(3, argv), (std::vector<std::string_view>{"--file", "x"}));
  EXPECT_TRUE(program_arguments(1, argv).empty());
  EXPECT_TRUE(program_arguments(0, argv).empty());
}

}  // namespace
}  // namespace pmdnet::cli_options
