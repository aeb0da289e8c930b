// Tests of parse_cli: every flag in both spellings, and every kind of bad argument with the
// argument named in the message; plus the usage and version texts.
#include "daemon/service/cli.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace pmdnet::service {
namespace {

using config::LogLevel;

Result<CliOptions> parse(std::initializer_list<std::string_view> args) {
  const std::vector<std::string_view> v(args);
  return parse_cli(v);
}

// Parses `args`, expects an error, and returns its message.
std::string parse_error(std::initializer_list<std::string_view> args) {
  auto r = parse(args);
  if (r) {
    ADD_FAILURE() << "parse succeeded";
    return {};
  }
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  return r.error().message;
}

TEST(CliTest, NoArgumentsGivesDefaults) {
  auto r = parse({});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, CliOptions{});
  EXPECT_FALSE(r->config_path);
  EXPECT_FALSE(r->check_config);
  EXPECT_FALSE(r->version);
  EXPECT_FALSE(r->help);
  EXPECT_FALSE(r->log_level);
}

TEST(CliTest, ConfigWithSeparateValue) {
  auto r = parse({"--config", "/etc/pmdnet/pmdnetd.yaml"});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->config_path);
  EXPECT_EQ(*r->config_path, "/etc/pmdnet/pmdnetd.yaml");
}

TEST(CliTest, ConfigWithEqualsValue) {
  auto r = parse({"--config=relative/dir/p.yaml"});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->config_path);
  EXPECT_EQ(*r->config_path, "relative/dir/p.yaml");
}

TEST(CliTest, ConfigEqualsKeepsLaterEqualsSigns) {
  auto r = parse({"--config=/tmp/a=b.yaml"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r->config_path, "/tmp/a=b.yaml");
}

TEST(CliTest, ConfigEqualsMayStartWithDash) {
  // With '=' the value is unambiguous, so an odd file name is taken as written.
  auto r = parse({"--config=-odd.yaml"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r->config_path, "-odd.yaml");
}

TEST(CliTest, CheckConfig) {
  auto r = parse({"--check-config", "--config", "/x.yaml"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->check_config);
  EXPECT_EQ(*r->config_path, "/x.yaml");
}

TEST(CliTest, CheckConfigAlone) {
  auto r = parse({"--check-config"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->check_config);
  EXPECT_FALSE(r->config_path);
}

TEST(CliTest, Version) {
  auto r = parse({"--version"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->version);
  EXPECT_FALSE(r->help);
}

TEST(CliTest, LongHelp) {
  auto r = parse({"--help"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->help);
}

TEST(CliTest, ShortHelp) {
  auto r = parse({"-h"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->help);
}

TEST(CliTest, EveryLogLevel) {
  const std::vector<std::pair<std::string_view, LogLevel>> levels = {
      {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
      {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}, {"critical", LogLevel::kCritical},
      {"off", LogLevel::kOff},
  };
  for (const auto& [name, level] : levels) {
    auto separate = parse({"--log-level", name});
    ASSERT_TRUE(separate) << name << ": " << separate.error().message;
    EXPECT_EQ(separate->log_level, level) << name;
    const std::string joined = "--log-level=" + std::string(name);
    auto equals = parse({joined});
    ASSERT_TRUE(equals) << joined << ": " << equals.error().message;
    EXPECT_EQ(equals->log_level, level) << joined;
  }
}

TEST(CliTest, AllFlagsTogetherInAnyOrder) {
  auto r = parse({"--log-level", "debug", "--check-config", "--config=/c.yaml"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(
      *r,
      (CliOptions{.config_path = "/c.yaml", .check_config = true, .log_level = LogLevel::kDebug}));
}

TEST(CliTest, UnknownLongOption) {
  const std::string m = parse_error({"--config", "/c.yaml", "--frobnicate"});
  EXPECT_NE(m.find("unknown option '--frobnicate'"), std::string::npos) << m;
}

TEST(CliTest, UnknownLongOptionWithValue) {
  const std::string m = parse_error({"--colour=red"});
  EXPECT_NE(m.find("unknown option '--colour=red'"), std::string::npos) << m;
}

TEST(CliTest, UnknownShortOption) {
  const std::string m = parse_error({"-c", "/c.yaml"});
  EXPECT_NE(m.find("unknown option '-c'"), std::string::npos) << m;
}

TEST(CliTest, ShortHelpTakesNoInlineValue) {
  const std::string m = parse_error({"-h=1"});
  EXPECT_NE(m.find("'-h=1'"), std::string::npos) << m;
}

TEST(CliTest, PrefixOfAnOptionIsUnknown) {
  const std::string m = parse_error({"--conf", "/c.yaml"});
  EXPECT_NE(m.find("unknown option '--conf'"), std::string::npos) << m;
}

TEST(CliTest, DoubleDashAloneIsUnknown) {
  const std::string m = parse_error({"--"});
  EXPECT_NE(m.find("'--'"), std::string::npos) << m;
}

TEST(CliTest, ConfigMissingValueAtEnd) {
  const std::string m = parse_error({"--check-config", "--config"});
  EXPECT_NE(m.find("'--config' needs a value"), std::string::npos) << m;
}

TEST(CliTest, ConfigFollowedByAnOption) {
  const std::string m = parse_error({"--config", "--check-config"});
  EXPECT_NE(m.find("'--config' needs a value"), std::string::npos) << m;
  EXPECT_NE(m.find("'--check-config'"), std::string::npos) << m;
}

TEST(CliTest, ConfigEmptyValue) {
  EXPECT_NE(parse_error({"--config="}).find("'--config' needs a non-empty value"),
            std::string::npos);
  EXPECT_NE(parse_error({"--config", ""}).find("'--config' needs a non-empty value"),
            std::string::npos);
}

TEST(CliTest, LogLevelMissingValue) {
  const std::string m = parse_error({"--log-level"});
  EXPECT_NE(m.find("'--log-level' needs a value"), std::string::npos) << m;
}

TEST(CliTest, LogLevelEmptyValue) {
  const std::string m = parse_error({"--log-level="});
  EXPECT_NE(m.find("'--log-level' needs a non-empty value"), std::string::npos) << m;
}

TEST(CliTest, LogLevelFollowedByAnOption) {
  const std::string m = parse_error({"--log-level", "--version"});
  EXPECT_NE(m.find("'--log-level' needs a value"), std::string::npos) << m;
}

TEST(CliTest, UnknownLogLevel) {
  const std::string m = parse_error({"--log-level", "verbose"});
  EXPECT_NE(m.find("unknown level 'verbose'"), std::string::npos) << m;
  // The message lists what is accepted.
  EXPECT_NE(m.find("trace, debug, info, warn, error, critical, off"), std::string::npos) << m;
}

TEST(CliTest, LogLevelIsCaseSensitive) {
  const std::string m = parse_error({"--log-level=INFO"});
  EXPECT_NE(m.find("unknown level 'INFO'"), std::string::npos) << m;
}

TEST(CliTest, SpdlogSpellingOfWarningIsRefused) {
  // The config file says `warn`; the command line takes the same names only.
  const std::string m = parse_error({"--log-level", "warning"});
  EXPECT_NE(m.find("'warning'"), std::string::npos) << m;
}

TEST(CliTest, FlagsTakeNoValue) {
  for (std::string_view arg : {"--check-config=yes", "--version=2", "--help=me"}) {
    const std::string m = parse_error({arg});
    EXPECT_NE(m.find("takes no value"), std::string::npos) << m;
    EXPECT_NE(m.find(std::string(arg)), std::string::npos) << m;
  }
}

TEST(CliTest, DuplicateConfig) {
  const std::string m = parse_error({"--config", "/a.yaml", "--config=/b.yaml"});
  EXPECT_NE(m.find("duplicate option '--config=/b.yaml'"), std::string::npos) << m;
}

TEST(CliTest, DuplicateLogLevel) {
  const std::string m = parse_error({"--log-level=info", "--log-level", "info"});
  EXPECT_NE(m.find("duplicate option '--log-level'"), std::string::npos) << m;
}

TEST(CliTest, DuplicateBooleanFlags) {
  EXPECT_NE(parse_error({"--check-config", "--check-config"}).find("duplicate option"),
            std::string::npos);
  EXPECT_NE(parse_error({"--version", "--version"}).find("duplicate option '--version'"),
            std::string::npos);
}

TEST(CliTest, HelpGivenTwiceInEitherSpelling) {
  const std::string m = parse_error({"--help", "-h"});
  EXPECT_NE(m.find("duplicate option '-h'"), std::string::npos) << m;
}

TEST(CliTest, StrayPositional) {
  const std::string m = parse_error({"--config", "/a.yaml", "extra"});
  EXPECT_NE(m.find("unexpected argument 'extra'"), std::string::npos) << m;
}

TEST(CliTest, PositionalConfigPathIsRefused) {
  // `pmdnetd /etc/pmdnet/pmdnetd.yaml` forgot --config.
  const std::string m = parse_error({"/etc/pmdnet/pmdnetd.yaml"});
  EXPECT_NE(m.find("unexpected argument '/etc/pmdnet/pmdnetd.yaml'"), std::string::npos) << m;
}

TEST(CliTest, LoneDashIsAPositional) {
  const std::string m = parse_error({"-"});
  EXPECT_NE(m.find("unexpected argument '-'"), std::string::npos) << m;
}

TEST(CliTest, ErrorStopsAtTheFirstBadArgument) {
  const std::string m = parse_error({"--bogus", "stray"});
  EXPECT_NE(m.find("'--bogus'"), std::string::npos) << m;
  EXPECT_EQ(m.find("stray"), std::string::npos) << m;
}

TEST(CliTest, CliArgumentsSkipsTheProgramName) {
  const char* argv[] = {"pmdnetd", "--config", "/c.yaml", nullptr};
  const auto args = cli_arguments(3, argv);
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0], "--config");
  EXPECT_EQ(args[1], "/c.yaml");
  EXPECT_TRUE(cli_arguments(1, argv).empty());
  auto r = parse_cli(args);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r->config_path, "/c.yaml");
}

TEST(CliTest, UsageMentionsEveryOption) {
  const std::string usage = usage_text();
  for (std::string_view option :
       {"--config PATH", "--check-config", "--log-level LEVEL", "--version", "-h, --help"}) {
    EXPECT_NE(usage.find(option), std::string::npos) << option;
  }
  EXPECT_NE(usage.find("trace, debug, info, warn, error, critical, off"), std::string::npos);
  EXPECT_TRUE(usage.starts_with("Usage: pmdnetd"));
  EXPECT_TRUE(usage.ends_with("\n"));
  // 80 columns, so it reads well in a terminal.
  size_t start = 0;
  while (start < usage.size()) {
    const size_t end = usage.find('\n', start);
    EXPECT_LE(end - start, 80u) << usage.substr(start, end - start);
    start = end + 1;
  }
}

TEST(CliTest, VersionIsTheProjectVersion) {
  EXPECT_EQ(version(), PMDNET_EXPECTED_VERSION);
  EXPECT_EQ(version_text(), std::string("pmdnetd ") + PMDNET_EXPECTED_VERSION + "\n");
}

}  // namespace
}  // namespace pmdnet::service
