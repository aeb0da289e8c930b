// Tests of pmdnetctl's command line: each command and option, option placement, and every kind of
// bad input with its message; and the telemetry socket's candidate paths.
#include "daemon/pmdnetctl/cli.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace pmdnet::ctl {
namespace {

Result<CtlOptions> parse(std::initializer_list<std::string_view> args) {
  const std::vector<std::string_view> v(args);
  return parse_ctl_args(v);
}

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

TEST(CtlCliTest, EachCommand) {
  auto r = parse({"info"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->command, Command::kInfo);
  r = parse({"ports"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->command, Command::kPorts);
  EXPECT_EQ(r->file_prefix, "pmdnet");
  EXPECT_EQ(r->socket, "");
  EXPECT_FALSE(r->json);
  r = parse({"port", "vm-1.eth0"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->command, Command::kPort);
  EXPECT_EQ(r->port, "vm-1.eth0");
  r = parse({"workers"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->command, Command::kWorkers);
  r = parse({"watch"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->command, Command::kWatch);
  EXPECT_DOUBLE_EQ(r->interval_s, 1.0);
  EXPECT_EQ(r->count, 0u);
}

TEST(CtlCliTest, OptionsBeforeAndAfterTheCommand) {
  auto r = parse({"--file-prefix", "demo", "port", "vm1", "--json", "--nonzero"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->file_prefix, "demo");
  EXPECT_TRUE(r->json);
  EXPECT_TRUE(r->nonzero);
  EXPECT_EQ(r->port, "vm1");
  r = parse({"-f", "x", "ports"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->file_prefix, "x");
  r = parse({"ports", "--socket=/tmp/t.sock"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->socket, "/tmp/t.sock");
}

TEST(CtlCliTest, WatchOptions) {
  auto r = parse({"watch", "--interval", "0.25", "--count=2"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_DOUBLE_EQ(r->interval_s, 0.25);
  EXPECT_EQ(r->count, 2u);
  r = parse({"watch", "--interval=3600", "--count", "0", "--json"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_DOUBLE_EQ(r->interval_s, 3600);
  EXPECT_TRUE(r->json);
}

TEST(CtlCliTest, HelpAndVersionNeedNoCommand) {
  auto r = parse({"--help"});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->help);
  r = parse({"-h", "bogus"});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->help);
  r = parse({"--version"});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->version);
  EXPECT_NE(ctl_usage_text().find("watch"), std::string::npos);
  EXPECT_TRUE(ctl_usage_text().ends_with('\n'));
}

TEST(CtlCliTest, BadCommands) {
  EXPECT_NE(parse_error({}).find("no command"), std::string::npos);
  EXPECT_NE(parse_error({"bogus"}).find("unknown command 'bogus'"), std::string::npos);
  EXPECT_NE(parse_error({"port"}).find("needs a port name"), std::string::npos);
  EXPECT_NE(parse_error({"port", "a", "b"}).find("unexpected argument 'b'"), std::string::npos);
  EXPECT_NE(parse_error({"ports", "extra"}).find("unexpected argument 'extra'"), std::string::npos);
  EXPECT_NE(parse_error({"port", "-"}).find("'-'"), std::string::npos);
}

TEST(CtlCliTest, BadPortNames) {
  for (std::string_view name :
       {"-x", ".x", "a,b", "a b", "a/b", "é", "123456789012345678901234567890123"}) {
    const std::vector<std::string_view> args = {"port", name};
    auto r = parse_ctl_args(args);
    if (name.starts_with('-')) {
      EXPECT_FALSE(r) << name;  // an unknown option
      continue;
    }
    ASSERT_FALSE(r) << name;
    EXPECT_NE(r.error().message.find("bad port name"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(parse({"port", "12345678901234567890123456789012"}));
  EXPECT_TRUE(parse({"port", "A_b-c.9"}));
}

TEST(CtlCliTest, BadOptions) {
  EXPECT_NE(parse_error({"ports", "--frobnicate"}).find("unknown option '--frobnicate'"),
            std::string::npos);
  EXPECT_NE(parse_error({"ports", "--json", "--json"}).find("given twice"), std::string::npos);
  EXPECT_NE(parse_error({"ports", "-f", "a", "--file-prefix", "b"}).find("given twice"),
            std::string::npos);
  EXPECT_NE(parse_error({"ports", "--file-prefix"}).find("needs a value"), std::string::npos);
  EXPECT_NE(parse_error({"ports", "--file-prefix="}).find("needs a value"), std::string::npos);
  EXPECT_NE(parse_error({"ports", "--json=yes"}).find("takes no value"), std::string::npos);
  EXPECT_NE(parse_error({"ports", "--file-prefix", "a/b"}).find("bad --file-prefix"),
            std::string::npos);
  EXPECT_NE(parse_error({"ports", "--file-prefix", "a b"}).find("bad --file-prefix"),
            std::string::npos);
  EXPECT_NE(parse_error({"ports", "--file-prefix", "--json"}).find("needs a value"),
            std::string::npos);
  EXPECT_NE(parse_error({"ports", "-f", "p", "--socket", "/s"}).find("exclude each other"),
            std::string::npos);
}

TEST(CtlCliTest, BadWatchValues) {
  for (std::string_view v : {"0", "0.001", "abc", "1s", "nan", "inf", "3601", "1e9"}) {
    const std::vector<std::string_view> args = {"watch", "--interval", v};
    auto r = parse_ctl_args(args);
    ASSERT_FALSE(r) << v;
    EXPECT_NE(r.error().message.find("bad --interval"), std::string::npos) << r.error().message;
  }
  EXPECT_NE(parse_error({"watch", "--interval", "-1"}).find("needs a value"), std::string::npos);
  for (std::string_view v : {"x", "1.5", "99999999999999999999999"}) {
    const std::vector<std::string_view> args = {"watch", "--count", v};
    auto r = parse_ctl_args(args);
    ASSERT_FALSE(r) << v;
    EXPECT_NE(r.error().message.find("bad --count"), std::string::npos) << r.error().message;
  }
}

TEST(CtlCliTest, WatchAndPortOptionsElsewhereAreRefused) {
  EXPECT_NE(parse_error({"ports", "--interval", "1"}).find("only for 'watch'"), std::string::npos);
  EXPECT_NE(parse_error({"port", "vm1", "--count", "1"}).find("only for 'watch'"),
            std::string::npos);
  EXPECT_NE(parse_error({"ports", "--nonzero"}).find("only for 'port'"), std::string::npos);
}

TEST(CtlCliTest, Arguments) {
  const char* argv[] = {"pmdnetctl", "port", "vm1"};
  const auto args = ctl_arguments(3, argv);
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0], "port");
  EXPECT_EQ(args[1], "vm1");
}

TEST(SocketCandidatesTest, RootUsesVarRunThenTheUnitsRuntimeDirectory) {
  const RuntimeEnv env{std::nullopt, std::nullopt, true};
  EXPECT_EQ(telemetry_socket_candidates("pmdnet", env),
            (std::vector<std::string>{"/var/run/dpdk/pmdnet/dpdk_telemetry.v2",
                                      "/run/pmdnet/dpdk/pmdnet/dpdk_telemetry.v2"}));
}

TEST(SocketCandidatesTest, RuntimeDirectoryComesFirst) {
  const RuntimeEnv env{"/run/pmdnet", std::nullopt, true};
  EXPECT_EQ(telemetry_socket_candidates("p", env),
            (std::vector<std::string>{"/run/pmdnet/dpdk/p/dpdk_telemetry.v2",
                                      "/var/run/dpdk/p/dpdk_telemetry.v2"}));
}

TEST(SocketCandidatesTest, NonRootUsesXdgOrTmp) {
  EXPECT_EQ(telemetry_socket_candidates("p", RuntimeEnv{std::nullopt, "/run/user/1000", false}),
            (std::vector<std::string>{"/run/user/1000/dpdk/p/dpdk_telemetry.v2"}));
  EXPECT_EQ(telemetry_socket_candidates("p", RuntimeEnv{std::nullopt, std::nullopt, false}),
            (std::vector<std::string>{"/tmp/dpdk/p/dpdk_telemetry.v2"}));
  EXPECT_EQ(telemetry_socket_candidates("p", RuntimeEnv{"", std::nullopt, false}),
            (std::vector<std::string>{"/tmp/dpdk/p/dpdk_telemetry.v2"}));
}

}  // namespace
}  // namespace pmdnet::ctl
