// Tests of config/: every default, every validation error with its exact line:col and the key it
// names, several errors in one report, the examples in config/examples, and the built-in default.
#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "config/names.h"

namespace pmdnet::config {
namespace {

using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kSource = "test.yaml";

Result<Config> parse(std::string_view yaml) { return parse_config(yaml, kSource); }

Config parse_ok(std::string_view yaml) {
  auto r = parse(yaml);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r.value_or(Config{});
}

// The error lines of a file that must fail.
std::vector<std::string> errors_of(std::string_view yaml) {
  auto r = parse(yaml);
  if (r.has_value()) return {};
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  std::vector<std::string> lines;
  std::string_view rest = r.error().message;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    lines.emplace_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out.empty() ? " (the file was accepted)" : out;
}

bool line_matches(const std::string& line, std::string_view position, std::string_view path,
                  std::string_view fragment) {
  std::string prefix = std::string(kSource) + ":" + std::string(position) + ": " +
                       std::string(path) + (path.empty() ? "" : ":");
  return line.starts_with(prefix) && line.find(fragment) != std::string::npos;
}

// The file fails with exactly one problem, at `position` ("line:col"), naming `path`, with
// `fragment` somewhere in the message.
AssertionResult OneError(std::string_view yaml, std::string_view position, std::string_view path,
                         std::string_view fragment) {
  std::vector<std::string> lines = errors_of(yaml);
  if (lines.size() == 1 && line_matches(lines[0], position, path, fragment)) {
    return AssertionSuccess();
  }
  return AssertionFailure() << "expected exactly one error at " << position << " on '" << path
                            << "' containing '" << fragment << "', got:" << joined(lines);
}

// Like OneError, but other problems may be reported too.
AssertionResult HasError(std::string_view yaml, std::string_view position, std::string_view path,
                         std::string_view fragment) {
  std::vector<std::string> lines = errors_of(yaml);
  for (const auto& line : lines) {
    if (line_matches(line, position, path, fragment)) return AssertionSuccess();
  }
  return AssertionFailure() << "expected an error at " << position << " on '" << path
                            << "' containing '" << fragment << "', got:" << joined(lines);
}

// A valid file to start from: one worker, one loopback port.
constexpr std::string_view kValid = R"(workers: [1]
ports:
  - name: vm0
    vhost_user:
      socket: /run/pmdnet/vm0.sock
    backend:
      type: loopback
)";

// ---- Defaults ----

TEST(DefaultsTest, SmallestFileGetsEveryDefault) {
  Config c = parse_ok(kValid);
  EXPECT_EQ(c.eal.lcores, "0,1");
  EXPECT_EQ(c.eal.main_lcore, 0u);
  EXPECT_FALSE(c.eal.no_huge);
  EXPECT_EQ(c.eal.memory_mb, 0u);
  EXPECT_EQ(c.eal.file_prefix, "pmdnet");
  EXPECT_TRUE(c.eal.extra_args.empty());
  ASSERT_EQ(c.workers.size(), 1u);
  EXPECT_EQ(c.workers[0].lcore, 1u);
  EXPECT_EQ(c.workers[0].idle, IdlePolicy::kAdaptive);
  ASSERT_EQ(c.ports.size(), 1u);
  const Port& p = c.ports[0];
  EXPECT_EQ(p.name, "vm0");
  EXPECT_EQ(p.vhost_user.socket, "/run/pmdnet/vm0.sock");
  EXPECT_EQ(p.vhost_user.mode, VhostMode::kServer);
  EXPECT_EQ(p.vhost_user.queue_pairs, 1u);
  EXPECT_EQ(p.vhost_user.mtu, 1500u);
  EXPECT_FALSE(p.vhost_user.mac.has_value());
  EXPECT_TRUE(p.vhost_user.disabled_features.empty());
  EXPECT_EQ(p.backend.type, BackendType::kLoopback);
  EXPECT_EQ(p.backend.device, "");
  EXPECT_EQ(p.backend.device_kind, DeviceKind::kNone);
  EXPECT_EQ(p.backend.queues, 1u);
  EXPECT_TRUE(p.backend.rss.key.empty());
  EXPECT_EQ(p.backend.rss.hash_types, kRssGroupIp | kRssGroupTcp | kRssGroupUdp);
  EXPECT_EQ(p.backend.offloads, (Offloads{true, true, true, true, false}));
  EXPECT_EQ(p.backend.rx_descriptors, 1024u);
  EXPECT_EQ(p.backend.tx_descriptors, 1024u);
  EXPECT_EQ(p.backend.mempool_size, 8191u);
  EXPECT_TRUE(p.backend.tx_zero_copy);
  EXPECT_TRUE(c.affinity.empty());
  EXPECT_EQ(c.logging.level, LogLevel::kInfo);
  EXPECT_EQ(c.logging.sink, LogSink::kStderr);
  EXPECT_TRUE(c.logging.file.empty());
  EXPECT_TRUE(c.telemetry.enabled);
}

TEST(DefaultsTest, DefaultRssHashTypesAreIpTcpUdp) {
  RssHashTypes expected{RssHashType::kIpv4,      RssHashType::kIpv4Frag, RssHashType::kIpv4Other,
                        RssHashType::kIpv6,      RssHashType::kIpv6Frag, RssHashType::kIpv6Other,
                        RssHashType::kIpv6Ex,    RssHashType::kIpv4Tcp,  RssHashType::kIpv6Tcp,
                        RssHashType::kIpv6TcpEx, RssHashType::kIpv4Udp,  RssHashType::kIpv6Udp,
                        RssHashType::kIpv6UdpEx};
  EXPECT_EQ(kDefaultRssHashTypes, expected);
  EXPECT_FALSE(kDefaultRssHashTypes.contains(RssHashType::kIpv4Sctp));
  EXPECT_EQ(Rss{}.hash_types, expected);
}

TEST(DefaultsTest, NoHugeMakesMemoryDefaultTo256) {
  Config c = parse_ok(R"(eal: {no_huge: true}
workers: [1]
)");
  EXPECT_TRUE(c.eal.no_huge);
  EXPECT_EQ(c.eal.memory_mb, 256u);
}

TEST(DefaultsTest, PortsMayBeOmitted) {
  Config c = parse_ok("workers: [1]\n");
  EXPECT_TRUE(c.ports.empty());
  EXPECT_EQ(c.workers.size(), 1u);
}

TEST(DefaultsTest, LcoresAreDerivedSortedFromMainLcoreAndWorkers) {
  Config c = parse_ok(R"(eal: {main_lcore: 3}
workers: [5, 1]
)");
  EXPECT_EQ(c.eal.lcores, "1,3,5");
}

TEST(DefaultsTest, DpdkQueuesFollowQueuePairsAndMempoolScalesWithRings) {
  Config c = parse_ok(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: {socket: /run/vm0.sock, queue_pairs: 4}
    backend:
      type: dpdk
      device: net_null0
      rx_descriptors: 2048
      tx_descriptors: 2048
)");
  ASSERT_EQ(c.ports.size(), 1u);
  const Backend& b = c.ports[0].backend;
  EXPECT_EQ(b.queues, 4u);
  // 2 * 4 * (2048 + 2048) = 32768 -> the smallest 2^n - 1 at or above it.
  EXPECT_EQ(b.mempool_size, 65535u);
  EXPECT_EQ(b.device_kind, DeviceKind::kVdev);
}

TEST(DefaultsTest, MempoolDefaultIsAtLeast8191) {
  Config c = parse_ok(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: {socket: /run/vm0.sock}
    backend: {type: dpdk, device: net_null0, rx_descriptors: 64, tx_descriptors: 64}
)");
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].backend.mempool_size, 8191u);
}

TEST(DefaultsTest, WorkerShortFormTakesDefaultIdlePolicy) {
  Config c = parse_ok(R"(workers:
  - 2
  - {lcore: 3, idle: busy}
)");
  EXPECT_THAT(c.workers,
              ElementsAre(Worker{2, IdlePolicy::kAdaptive}, Worker{3, IdlePolicy::kBusy}));
}

// ---- YAML syntax and document shape ----

TEST(SyntaxTest, UnclosedFlowListReportsItsPosition) {
  EXPECT_TRUE(OneError("workers: [1, 2\nports: []\n", "2:6", "YAML syntax error",
                       "end of sequence flow not found"));
}

TEST(SyntaxTest, TabIndentationIsASyntaxError) {
  EXPECT_TRUE(OneError("workers: [1]\neal:\n\tno_huge: true\n", "3:9", "YAML syntax error",
                       "illegal map value"));
}

TEST(SyntaxTest, UndefinedAliasIsASyntaxError) {
  EXPECT_TRUE(OneError("workers: *lcores\n", "1:10", "YAML syntax error",
                       "the referenced anchor is not defined"));
}

// yaml-cpp 0.7's LoadAll loops forever on this (docs/fuzzing.md); the parser must answer.
TEST(SyntaxTest, StrayCommaAtDocumentLevelIsASyntaxErrorNotAHang) {
  for (const char* text : {",", ", workers: [1]", "# comment\n,\n"}) {
    auto r = parse_config(text, "t.yaml");
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.error().message.find("YAML syntax error"), std::string::npos) << r.error().message;
  }
}

TEST(SyntaxTest, ControlCharactersInKeysAreEscapedInTheReport) {
  // A quoted key with a newline and an escape character in it: one problem, one line.
  auto r = parse_config("workers: [1]\n\"bad\\nkey\\e[31m\": 1\n", "t.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find('\x1b'), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("bad\\x0akey\\x1b[31m"), std::string::npos) << r.error().message;
}

TEST(SyntaxTest, AnchorsAndAliasesWork) {
  Config c = parse_ok(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend: &lo {type: loopback}
  - name: b
    vhost_user: {socket: /run/b.sock}
    backend: *lo
)");
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[1].backend.type, BackendType::kLoopback);
}

TEST(SyntaxTest, EmptyFileIsRefused) {
  EXPECT_TRUE(OneError("", "1:1", "", "the file has no configuration"));
}

TEST(SyntaxTest, CommentOnlyFileIsRefused) {
  EXPECT_TRUE(OneError("# nothing here\n", "1:1", "", "the file has no configuration"));
}

TEST(SyntaxTest, TopLevelListIsRefused) {
  EXPECT_TRUE(OneError("- workers\n", "1:1", "", "the top level must be a map"));
}

TEST(SyntaxTest, SecondDocumentIsRefused) {
  EXPECT_TRUE(OneError("workers: [1]\n---\nworkers: [2]\n", "2:1", "", "a second YAML document"));
}

// ---- Keys ----

TEST(KeyTest, UnknownTopLevelKeySuggestsTheClosest) {
  EXPECT_TRUE(HasError("wokers: [1]\n", "1:1", "wokers", "unknown key; did you mean 'workers'?"));
}

TEST(KeyTest, UnknownNestedKeySuggestsTheClosest) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user:
      socket: /run/vm0.sock
      queue_pair: 2
    backend: {type: loopback}
)",
                       "6:7", "ports[0].vhost_user.queue_pair",
                       "unknown key; did you mean 'queue_pairs'?"));
}

TEST(KeyTest, UnknownKeyFarFromAnyListsTheKnownOnes) {
  EXPECT_TRUE(OneError("workers: [1]\ntelemetry: {port: 9}\n", "2:13", "telemetry.port",
                       "unknown key; expected one of enabled"));
}

TEST(KeyTest, DuplicateKeyIsRefused) {
  EXPECT_TRUE(OneError("workers: [1]\nlogging:\n  level: info\n  level: debug\n", "4:3",
                       "logging.level", "duplicate key (first at line 3)"));
}

TEST(KeyTest, KeyMustBeAName) {
  EXPECT_TRUE(OneError("workers: [1]\n? [a, b]\n: 1\n", "2:3", "top level",
                       "a key must be a name, got a list"));
}

TEST(KeyTest, KeyWithoutValueIsReportedAtTheKey) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user:
      socket: /run/vm0.sock
      mtu:
    backend: {type: loopback}
)",
                       "6:7", "ports[0].vhost_user.mtu", "expected an integer, got no value"));
}

TEST(RequiredTest, WorkersAreRequired) {
  EXPECT_TRUE(
      OneError("eal: {no_huge: true}\n", "1:1", "top level", "missing required key 'workers'"));
}

TEST(RequiredTest, PortNeedsNameVhostUserAndBackend) {
  std::vector<std::string> lines = errors_of("workers: [1]\nports:\n  - {}\n");
  EXPECT_THAT(lines, ElementsAre("test.yaml:3:5: ports[0]: missing required key 'name'",
                                 "test.yaml:3:5: ports[0]: missing required key 'vhost_user'",
                                 "test.yaml:3:5: ports[0]: missing required key 'backend'"));
}

TEST(RequiredTest, SocketIsRequired) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user:
      mtu: 9000
    backend: {type: loopback}
)",
                       "5:7", "ports[0].vhost_user", "missing required key 'socket'"));
}

TEST(RequiredTest, BackendTypeIsRequired) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: {socket: /run/vm0.sock}
    backend: {}
)",
                       "5:14", "ports[0].backend", "missing required key 'type'"));
}

TEST(RequiredTest, AffinityEntryNeedsPortQueueAndLcore) {
  EXPECT_THAT(errors_of("workers: [1]\naffinity:\n  - {port: vm0}\n"),
              ElementsAre("test.yaml:3:5: affinity[0]: missing required key 'queue'",
                          "test.yaml:3:5: affinity[0]: missing required key 'lcore'"));
}

// ---- Types ----

TEST(TypeTest, WordWhereIntegerExpected) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {main_lcore: zero}\n", "2:19", "eal.main_lcore",
                       "expected an integer, got 'zero'"));
}

TEST(TypeTest, QuotedNumberIsNotAnInteger) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {memory_mb: \"512\"}\n", "2:18", "eal.memory_mb",
                       "expected an integer, got the quoted string \"512\""));
}

TEST(TypeTest, FractionIsNotAnInteger) {
  EXPECT_TRUE(
      OneError("workers: [1]\neal: {memory_mb: 1.5}\n", "2:18", "eal.memory_mb", "got '1.5'"));
}

TEST(TypeTest, HexIsNotAnInteger) {
  EXPECT_TRUE(
      OneError("workers: [1]\neal: {memory_mb: 0x10}\n", "2:18", "eal.memory_mb", "got '0x10'"));
}

TEST(TypeTest, MapWhereListExpected) {
  EXPECT_TRUE(OneError("workers:\n  lcore: 1\n", "2:3", "workers", "expected a list, got a map"));
}

TEST(TypeTest, ListWhereMapExpected) {
  EXPECT_TRUE(
      OneError("workers: [1]\neal: [no_huge]\n", "2:6", "eal", "expected a map, got a list"));
}

TEST(TypeTest, ScalarWhereMapExpected) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: /run/vm0.sock
    backend: {type: loopback}
)",
                       "4:17", "ports[0].vhost_user", "expected a map, got '/run/vm0.sock'"));
}

TEST(TypeTest, ListWhereStringExpected) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {file_prefix: [a]}\n", "2:20", "eal.file_prefix",
                       "expected a string, got a list"));
}

TEST(TypeTest, YesIsNotABoolean) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {no_huge: yes}\n", "2:16", "eal.no_huge",
                       "expected true or false, got 'yes'"));
}

TEST(TypeTest, QuotedTrueIsNotABoolean) {
  EXPECT_TRUE(OneError("workers: [1]\ntelemetry: {enabled: \"true\"}\n", "2:22",
                       "telemetry.enabled", "expected true or false"));
}

TEST(TypeTest, BooleanSpellingsOfYaml12) {
  EXPECT_FALSE(parse_ok("workers: [1]\ntelemetry: {enabled: False}\n").telemetry.enabled);
  EXPECT_FALSE(parse_ok("workers: [1]\ntelemetry: {enabled: FALSE}\n").telemetry.enabled);
  EXPECT_TRUE(parse_ok("workers: [1]\neal: {no_huge: True}\n").eal.no_huge);
  EXPECT_TRUE(parse_ok("workers: [1]\neal: {no_huge: TRUE}\n").eal.no_huge);
}

TEST(TypeTest, TheWordNullNamesTheNullBackend) {
  Config c = parse_ok(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend: {type: null}
  - name: b
    vhost_user: {socket: /run/b.sock}
    backend:
      type: null   # a comment
)");
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[0].backend.type, BackendType::kNull);
  EXPECT_EQ(c.ports[1].backend.type, BackendType::kNull);
}

TEST(TypeTest, TheWordNullIsFoundAfterAByteOrderMarkAndMultiByteCharacters) {
  Config c = parse_ok(
      "\xEF\xBB\xBFworkers: [1]  # h\xC3\xA9llo \xE2\x82\xAC\n"
      "ports:\n"
      "  - name: a\n"
      "    vhost_user: {socket: /run/a.sock}\n"
      "    backend: {type: null}\n");
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].backend.type, BackendType::kNull);
}

TEST(TypeTest, EmptyTypeIsNotTheNullBackend) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend:
      type:
)",
                       "6:7", "ports[0].backend.type", "expected a string, got no value"));
}

TEST(TypeTest, UnknownEnumValueSuggestsTheClosest) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: {socket: /run/vm0.sock, mode: sever}
    backend: {type: loopback}
)",
                       "4:47", "ports[0].vhost_user.mode",
                       "unknown value 'sever'; expected one of server, client (did you mean "
                       "'server'?)"));
}

// ---- Ranges ----

TEST(RangeTest, QueuePairsZero) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user:
      socket: /run/vm0.sock
      queue_pairs: 0
    backend: {type: loopback}
)",
                       "6:20", "ports[0].vhost_user.queue_pairs",
                       "0 is out of range; expected 1..128"));
}

TEST(RangeTest, QueuePairsAboveRteVhostLimit) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: {socket: /run/vm0.sock, queue_pairs: 129}
    backend: {type: loopback}
)",
                       "4:54", "ports[0].vhost_user.queue_pairs", "129 is out of range"));
}

TEST(RangeTest, NegativeNumber) {
  EXPECT_TRUE(
      OneError("workers: [-1]\n", "1:11", "workers[0]", "-1 is out of range; expected 0..127"));
}

TEST(RangeTest, NumberTooLargeForAnyInteger) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {memory_mb: 99999999999999999999999}\n", "2:18",
                       "eal.memory_mb", "is out of range; expected 0..1048576"));
}

TEST(RangeTest, MtuBelow68) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: {socket: /run/vm0.sock, mtu: 67}
    backend: {type: loopback}
)",
                       "4:46", "ports[0].vhost_user.mtu",
                       "67 is out of range; expected 68..65535"));
}

TEST(RangeTest, MtuAbove65535) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: {socket: /run/vm0.sock, mtu: 65536}
    backend: {type: loopback}
)",
                       "4:46", "ports[0].vhost_user.mtu", "65536 is out of range"));
}

TEST(RangeTest, MtuBoundsAccepted) {
  for (std::string_view mtu : {"68", "65535"}) {
    Config c = parse_ok(std::string(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: {socket: /run/vm0.sock, mtu: )") +
                        std::string(mtu) + R"(}
    backend: {type: loopback}
)");
    ASSERT_EQ(c.ports.size(), 1u);
    EXPECT_EQ(std::to_string(c.ports[0].vhost_user.mtu), mtu);
  }
}

TEST(RangeTest, MainLcoreAboveRteMaxLcore) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {main_lcore: 128}\n", "2:19", "eal.main_lcore",
                       "128 is out of range; expected 0..127"));
}

TEST(RangeTest, MemoryAboveLimit) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {memory_mb: 1048577}\n", "2:18", "eal.memory_mb",
                       "out of range"));
}

// ---- eal ----

TEST(EalTest, LcoresSyntaxError) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {lcores: 0-3x}\n", "2:15", "eal.lcores",
                       "'0-3x' is not a DPDK lcore list: unexpected 'x' at offset 3"));
}

TEST(EalTest, LcoresBackwardsRange) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {lcores: 3-1}\n", "2:15", "eal.lcores",
                       "range 3-1 runs backwards"));
}

TEST(EalTest, LcoresIdAboveLimit) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {lcores: \"0,1,200\"}\n", "2:15", "eal.lcores",
                       "lcore id 200 is out of range; expected 0..127"));
}

TEST(EalTest, LcoresUnclosedGroup) {
  EXPECT_TRUE(
      OneError("workers: [1]\neal: {lcores: \"(0,1\"}\n", "2:15", "eal.lcores", "missing ')'"));
}

TEST(EalTest, LcoresEmptyString) {
  EXPECT_TRUE(
      OneError("workers: [1]\neal: {lcores: \"\"}\n", "2:15", "eal.lcores", "must not be empty"));
}

TEST(EalTest, LcoreMapSyntaxIsAccepted) {
  Config c = parse_ok(R"(eal:
  lcores: "0@0,(1-2)@(4-5),3@7"
workers: [1, 2, 3]
)");
  EXPECT_EQ(c.eal.lcores, "0@0,(1-2)@(4-5),3@7");
}

TEST(EalTest, MainLcoreOutsideLcores) {
  EXPECT_TRUE(OneError("eal: {lcores: 1-2, main_lcore: 0}\nworkers: [1]\n", "1:32",
                       "eal.main_lcore", "lcore 0 is not in eal.lcores '1-2'"));
}

TEST(EalTest, DefaultMainLcoreOutsideLcoresIsReportedAtLcores) {
  EXPECT_TRUE(OneError("eal: {lcores: 1-2}\nworkers: [1]\n", "1:15", "eal.main_lcore",
                       "lcore 0 is not in eal.lcores"));
}

TEST(EalTest, WorkerOutsideLcores) {
  EXPECT_TRUE(OneError("eal: {lcores: 0-1}\nworkers: [1, 2]\n", "2:14", "workers[1]",
                       "lcore 2 is not in eal.lcores '0-1'"));
}

TEST(EalTest, NoHugeNeedsMemory) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {no_huge: true, memory_mb: 0}\n", "2:33",
                       "eal.memory_mb", "must be positive with no_huge"));
}

TEST(EalTest, FilePrefixWithSlash) {
  EXPECT_TRUE(OneError("workers: [1]\neal: {file_prefix: a/b}\n", "2:20", "eal.file_prefix",
                       "'a/b' is not a usable file prefix"));
}

TEST(EalTest, FilePrefixTooLong) {
  std::string yaml = "workers: [1]\neal: {file_prefix: " + std::string(65, 'p') + "}\n";
  EXPECT_TRUE(OneError(yaml, "2:20", "eal.file_prefix", "expected 1..64 characters"));
  yaml = "workers: [1]\neal: {file_prefix: " + std::string(64, 'p') + "}\n";
  EXPECT_EQ(parse_ok(yaml).eal.file_prefix, std::string(64, 'p'));
}

TEST(EalTest, ExtraArgsOwnedByOtherKeysAreRefused) {
  EXPECT_THAT(
      errors_of(R"(workers: [1]
eal:
  extra_args: ["-l", "0-3", "--file-prefix=x", "-m512", "--lcores=0@1", "--no-telemetry", ""]
)"),
      ElementsAre(
          "test.yaml:3:16: eal.extra_args[0]: '-l' is set by eal.lcores; use that key instead",
          "test.yaml:3:29: eal.extra_args[2]: '--file-prefix=x' is set by eal.file_prefix; use "
          "that key instead",
          "test.yaml:3:48: eal.extra_args[3]: '-m512' is set by eal.memory_mb; use that key "
          "instead",
          "test.yaml:3:57: eal.extra_args[4]: '--lcores=0@1' is set by eal.lcores; use that key "
          "instead",
          "test.yaml:3:73: eal.extra_args[5]: '--no-telemetry' is set by telemetry.enabled; use "
          "that key instead",
          "test.yaml:3:91: eal.extra_args[6]: an EAL argument must not be empty"));
}

TEST(EalTest, OtherExtraArgsAreKeptInOrder) {
  Config c =
      parse_ok("workers: [1]\neal: {extra_args: [--in-memory, -n, \"4\", --vdev=net_null9]}\n");
  EXPECT_THAT(c.eal.extra_args, ElementsAre("--in-memory", "-n", "4", "--vdev=net_null9"));
}

TEST(EalTest, PoolsMustFitInMemory) {
  // Two ports of 65535 mbufs: at least 2 * 65535 * 2304 bytes, 288 MB rounded up, more than 256.
  EXPECT_TRUE(
      OneError(R"(eal: {no_huge: true, memory_mb: 256}
workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend: {type: dpdk, device: net_null0, mempool_size: 65535}
  - name: b
    vhost_user: {socket: /run/b.sock}
    backend: {type: dpdk, device: net_null1, mempool_size: 65535}
)",
               "1:33", "eal.memory_mb",
               "256 MB cannot hold the dpdk ports' mbuf pools, which need at least 288 MB"));
}

TEST(EalTest, PoolsMustFitInDefaultMemory) {
  EXPECT_TRUE(OneError(R"(eal: {no_huge: true}
workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend: {type: dpdk, device: net_null0, mempool_size: 131071}
)",
                       "1:6", "eal.memory_mb", "256 MB (the default) cannot hold"));
}

TEST(EalTest, DynamicMemorySkipsThePoolCheck) {
  Config c = parse_ok(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend: {type: dpdk, device: net_null0, mempool_size: 4194303}
)");
  EXPECT_EQ(c.eal.memory_mb, 0u);
}

// ---- workers ----

TEST(WorkersTest, EmptyListIsRefused) {
  EXPECT_TRUE(OneError("workers: []\n", "1:10", "workers", "at least one worker is required"));
}

TEST(WorkersTest, DuplicateLcore) {
  EXPECT_TRUE(OneError("workers:\n  - 1\n  - lcore: 1\n", "3:12", "workers[1].lcore",
                       "lcore 1 is already a worker (line 2)"));
}

TEST(WorkersTest, WorkerOnTheMainLcore) {
  EXPECT_TRUE(OneError("eal: {main_lcore: 2}\nworkers:\n  - lcore: 1\n  - lcore: 2\n", "4:12",
                       "workers[1].lcore", "lcore 2 is eal.main_lcore"));
}

TEST(WorkersTest, WorkerOnTheDefaultMainLcore) {
  EXPECT_TRUE(OneError("workers: [0]\n", "1:11", "workers[0]", "lcore 0 is eal.main_lcore"));
}

TEST(WorkersTest, UnknownIdlePolicy) {
  EXPECT_TRUE(OneError("workers:\n  - {lcore: 1, idle: spin}\n", "2:22", "workers[0].idle",
                       "unknown value 'spin'; expected one of busy, adaptive"));
}

TEST(WorkersTest, WorkerMustBeANumberOrAMap) {
  EXPECT_TRUE(OneError("workers:\n  - [1]\n", "2:5", "workers[0]",
                       "expected an lcore number or a map with lcore and idle, got a list"));
}

TEST(WorkersTest, WorkerMapNeedsLcore) {
  EXPECT_TRUE(
      OneError("workers:\n  - idle: busy\n", "2:5", "workers[0]", "missing required key 'lcore'"));
}

// ---- ports: names and vhost_user ----

TEST(PortTest, DuplicateName) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: {socket: /run/a.sock}
    backend: {type: loopback}
  - name: vm0
    vhost_user: {socket: /run/b.sock}
    backend: {type: loopback}
)",
                       "6:11", "ports[1].name",
                       "port name 'vm0' is already used by ports[0] (line 3)"));
}

TEST(PortTest, InvalidNames) {
  for (const std::string& name :
       std::vector<std::string>{"\"vm 0\"", "-vm0", "\"vm,0\"", std::string(33, 'v')}) {
    std::string yaml = "workers: [1]\nports:\n  - name: " + name +
                       "\n    vhost_user: {socket: /run/a.sock}\n    backend: {type: loopback}\n";
    EXPECT_TRUE(OneError(yaml, "3:11", "ports[0].name", "is not a valid port name")) << name;
  }
  EXPECT_EQ(parse_ok("workers: [1]\nports:\n  - name: " + std::string(32, 'v') +
                     "\n    vhost_user: {socket: /run/a.sock}\n    backend: {type: loopback}\n")
                .ports.size(),
            1u);
}

TEST(PortTest, DuplicateSocket) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/pmdnet/vm.sock}
    backend: {type: loopback}
  - name: b
    vhost_user: {socket: /run/pmdnet//./vm.sock}
    backend: {type: loopback}
)",
                       "7:26", "ports[1].vhost_user.socket",
                       "socket '/run/pmdnet//./vm.sock' is already used by ports[0] (line 4)"));
}

TEST(PortTest, RelativeSocketPath) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: run/vm.sock}
    backend: {type: loopback}
)",
                       "4:26", "ports[0].vhost_user.socket", "'run/vm.sock' is a relative path"));
}

TEST(PortTest, SocketPathLongerThanSunPath) {
  std::string path107 = "/" + std::string(102, 's') + ".sck";  // 107 bytes
  ASSERT_EQ(path107.size(), 107u);
  std::string yaml = "workers: [1]\nports:\n  - name: a\n    vhost_user: {socket: " + path107 +
                     "}\n    backend: {type: loopback}\n";
  EXPECT_EQ(parse_ok(yaml).ports.at(0).vhost_user.socket, path107);
  std::string path108 = path107 + "k";
  yaml = "workers: [1]\nports:\n  - name: a\n    vhost_user: {socket: " + path108 +
         "}\n    backend: {type: loopback}\n";
  EXPECT_TRUE(OneError(yaml, "4:26", "ports[0].vhost_user.socket",
                       "is 108 bytes long; a unix socket path has at most 107"));
}

TEST(PortTest, SocketPathNamingADirectory) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/pmdnet/}
    backend: {type: loopback}
)",
                       "4:26", "ports[0].vhost_user.socket", "names a directory"));
}

TEST(PortTest, MulticastMac) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock, mac: "01:00:5e:00:00:01"}
    backend: {type: loopback}
)",
                       "4:44", "ports[0].vhost_user.mac",
                       "01:00:5e:00:00:01 is a multicast address; a port needs a unicast MAC"));
}

TEST(PortTest, BroadcastMacIsMulticast) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock, mac: "ff:ff:ff:ff:ff:ff"}
    backend: {type: loopback}
)",
                       "4:44", "ports[0].vhost_user.mac", "is a multicast address"));
}

TEST(PortTest, ZeroMac) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock, mac: "00:00:00:00:00:00"}
    backend: {type: loopback}
)",
                       "4:44", "ports[0].vhost_user.mac", "is not a usable MAC address"));
}

TEST(PortTest, MalformedMacs) {
  for (std::string_view mac : {"52:54:00:12:34", "52-54-00-12-34-56", "52:54:00:12:34:5g",
                               "525400123456", "52:54:00:12:34:56:78"}) {
    std::string yaml =
        "workers: [1]\nports:\n  - name: a\n    vhost_user: {socket: /run/a.sock, "
        "mac: \"" +
        std::string(mac) + "\"}\n    backend: {type: loopback}\n";
    EXPECT_TRUE(OneError(yaml, "4:44", "ports[0].vhost_user.mac", "is not a MAC address")) << mac;
  }
}

TEST(PortTest, MacIsParsedInEitherCase) {
  Config c = parse_ok(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock, mac: 02:AB:cd:00:00:0F}
    backend: {type: loopback}
)");
  ASSERT_EQ(c.ports.size(), 1u);
  ASSERT_TRUE(c.ports[0].vhost_user.mac.has_value());
  EXPECT_EQ(*c.ports[0].vhost_user.mac, (MacAddress{0x02, 0xab, 0xcd, 0x00, 0x00, 0x0f}));
}

TEST(PortTest, DuplicateMac) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock, mac: "52:54:00:00:00:01"}
    backend: {type: loopback}
  - name: b
    vhost_user: {socket: /run/b.sock, mac: "52:54:00:00:00:01"}
    backend: {type: loopback}
)",
                       "7:44", "ports[1].vhost_user.mac",
                       "MAC address '52:54:00:00:00:01' is already used by ports[0] (line 4)"));
}

TEST(PortTest, UnknownFeatureName) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock, disable_features: [event_idx, tso4]}
    backend: {type: loopback}
)",
                       "4:69", "ports[0].vhost_user.disable_features[1]",
                       "unknown value 'tso4'; expected one of csum, guest_csum, tso, uso"));
}

TEST(PortTest, FeatureListedTwice) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock, disable_features: [mrg_rxbuf, mrg_rxbuf]}
    backend: {type: loopback}
)",
                       "4:69", "ports[0].vhost_user.disable_features[1]",
                       "'mrg_rxbuf' is listed twice (first at line 4)"));
}

TEST(PortTest, DisablingCsumNeedsTsoAndUsoDisabled) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user:
      socket: /run/a.sock
      disable_features: [csum, tso]
    backend: {type: loopback}
)",
                       "6:25", "ports[0].vhost_user.disable_features",
                       "disabling 'csum' also requires disabling uso"));
}

TEST(PortTest, DisablingGuestCsumNeedsGuestTsoAndGuestUsoDisabled) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user:
      socket: /run/a.sock
      disable_features: [guest_csum]
    backend: {type: loopback}
)",
                       "6:25", "ports[0].vhost_user.disable_features",
                       "disabling 'guest_csum' also requires disabling guest_tso, guest_uso"));
}

TEST(PortTest, DisablingMqNeedsOneQueuePair) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user:
      socket: /run/a.sock
      queue_pairs: 2
      disable_features: [mq]
    backend: {type: loopback}
)",
                       "6:20", "ports[0].vhost_user.queue_pairs",
                       "2 queue pairs need the 'mq' feature"));
}

TEST(PortTest, ConsistentFeatureSetIsAccepted) {
  Config c = parse_ok(R"(workers: [1]
ports:
  - name: a
    vhost_user:
      socket: /run/a.sock
      disable_features: [csum, tso, uso, guest_csum, guest_tso, guest_uso, mq, mrg_rxbuf,
                         event_idx, indirect_desc, guest_announce]
    backend: {type: loopback}
)");
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].vhost_user.disabled_features.size(),
            static_cast<size_t>(VhostFeature::kCount));
}

TEST(PortTest, PackedRingAndInOrderAreOfferedUnlessWithheld) {
  const Config defaults = parse_ok(kValid);
  ASSERT_EQ(defaults.ports.size(), 1u);
  EXPECT_TRUE(defaults.ports[0].vhost_user.packed_ring);
  EXPECT_TRUE(defaults.ports[0].vhost_user.in_order);

  const Config off = parse_ok(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock, packed_ring: false, in_order: false}
    backend: {type: loopback}
  - name: b
    vhost_user: {socket: /run/b.sock, packed_ring: false}
    backend: {type: loopback}
)");
  ASSERT_EQ(off.ports.size(), 2u);
  EXPECT_FALSE(off.ports[0].vhost_user.packed_ring);
  EXPECT_FALSE(off.ports[0].vhost_user.in_order);
  EXPECT_FALSE(off.ports[1].vhost_user.packed_ring);
  EXPECT_TRUE(off.ports[1].vhost_user.in_order);
  // A changed switch is a changed port (a reload re-creates it).
  EXPECT_NE(off.ports[0].vhost_user, off.ports[1].vhost_user);
}

TEST(ConfigTest, StateDirIsAnAbsoluteDirectory) {
  EXPECT_TRUE(parse_ok(kValid).state_dir.empty()) << "default: the daemon picks one";
  EXPECT_EQ(parse_ok(std::string(kValid) + "state_dir: /var/lib/pmdnet\n").state_dir,
            "/var/lib/pmdnet");
  EXPECT_TRUE(OneError(std::string(kValid) + "state_dir: var/lib\n", "8:12", "state_dir",
                       "'var/lib' is not an absolute directory path"));
  EXPECT_TRUE(OneError(std::string(kValid) + "state_dir: ''\n", "8:12", "state_dir",
                       "is not an absolute directory path"));
  EXPECT_TRUE(OneError(std::string(kValid) + "state_dir: [a]\n", "8:12", "state_dir", "expected"));
}

TEST(PortTest, PackedRingAndInOrderMustBeBooleans) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user:
      socket: /run/a.sock
      packed_ring: 1
    backend: {type: loopback}
)",
                       "6:20", "ports[0].vhost_user.packed_ring",
                       "expected true or false, got '1'"));
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user:
      socket: /run/a.sock
      in_order: [true]
    backend: {type: loopback}
)",
                       "6:17", "ports[0].vhost_user.in_order", "expected true or false"));
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user:
      socket: /run/a.sock
      in_order:
    backend: {type: loopback}
)",
                       "6:7", "ports[0].vhost_user.in_order",
                       "expected true or false, got no value"));
}

TEST(PortTest, MisspelledPackedRingAndInOrderSuggestTheKeys) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user:
      socket: /run/a.sock
      packed_rings: false
    backend: {type: loopback}
)",
                       "6:7", "ports[0].vhost_user.packed_rings",
                       "unknown key; did you mean 'packed_ring'?"));
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user:
      socket: /run/a.sock
      inorder: false
    backend: {type: loopback}
)",
                       "6:7", "ports[0].vhost_user.inorder",
                       "unknown key; did you mean 'in_order'?"));
}

// ---- ports: backend ----

TEST(BackendTest, UnknownType) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend: {type: dpkd}
)",
                       "5:21", "ports[0].backend.type",
                       "unknown value 'dpkd'; expected one of dpdk, loopback, null (did you mean "
                       "'dpdk'?)"));
}

TEST(BackendTest, DpdkNeedsDevice) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend:
      type: dpdk
)",
                       "6:7", "ports[0].backend", "missing required key 'device'"));
}

TEST(BackendTest, LoopbackWithDevice) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend:
      type: loopback
      device: net_null0
)",
                       "7:15", "ports[0].backend.device",
                       "only valid with type dpdk, and this backend is loopback"));
}

TEST(BackendTest, NullBackendRefusesEveryDpdkKey) {
  EXPECT_THAT(
      errors_of(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend:
      type: null
      queues: 1
      rss: {}
      offloads: {}
      rx_descriptors: 64
      tx_descriptors: 64
      mempool_size: 1024
      tx_zero_copy: false
)"),
      ElementsAre("test.yaml:7:15: ports[0].backend.queues: only valid with type dpdk, and this "
                  "backend is null",
                  "test.yaml:8:12: ports[0].backend.rss: only valid with type dpdk, and this "
                  "backend is null",
                  "test.yaml:9:17: ports[0].backend.offloads: only valid with type dpdk, and this "
                  "backend is null",
                  "test.yaml:10:23: ports[0].backend.rx_descriptors: only valid with type dpdk, "
                  "and this backend is null",
                  "test.yaml:11:23: ports[0].backend.tx_descriptors: only valid with type dpdk, "
                  "and this backend is null",
                  "test.yaml:12:21: ports[0].backend.mempool_size: only valid with type dpdk, and "
                  "this backend is null",
                  "test.yaml:13:21: ports[0].backend.tx_zero_copy: only valid with type dpdk, and "
                  "this backend is null"));
}

std::string dpdk_port(std::string_view device) {
  return "workers: [1]\nports:\n  - name: a\n    vhost_user: {socket: /run/a.sock}\n"
         "    backend:\n      type: dpdk\n      device: " +
         std::string(device) + "\n";
}

TEST(BackendTest, PciAddressesAccepted) {
  for (std::string_view device : {"0000:01:00.0", "01:00.0", "0000:AF:1f.7", "10000:3b:00.1",
                                  "0000:01:00.0,txq_inline=128"}) {
    Config c = parse_ok(dpdk_port(device));
    ASSERT_EQ(c.ports.size(), 1u) << device;
    EXPECT_EQ(c.ports[0].backend.device, device);
    EXPECT_EQ(c.ports[0].backend.device_kind, DeviceKind::kPci) << device;
  }
}

TEST(BackendTest, VdevsAccepted) {
  for (std::string_view device :
       {"net_null0", "net_tap0,iface=tap0", "net_ring0", "net_af_packet0,iface=eth0,qpairs=2"}) {
    Config c = parse_ok(dpdk_port(device));
    ASSERT_EQ(c.ports.size(), 1u) << device;
    EXPECT_EQ(c.ports[0].backend.device_kind, DeviceKind::kVdev) << device;
  }
}

TEST(BackendTest, BadPciAddresses) {
  EXPECT_TRUE(OneError(dpdk_port("0000:01:20.0"), "7:15", "ports[0].backend.device",
                       "device number 20 is above 1f"));
  EXPECT_TRUE(OneError(dpdk_port("0000:01:00.8"), "7:15", "ports[0].backend.device",
                       "function number 8 is above 7"));
  EXPECT_TRUE(OneError(dpdk_port("0000:1:00.0"), "7:15", "ports[0].backend.device",
                       "'0000:1:00.0' is not a PCI address: expected [dddd:]bb:dd.f"));
  EXPECT_TRUE(
      OneError(dpdk_port("0000:01:00"), "7:15", "ports[0].backend.device", "is not a PCI address"));
  EXPECT_TRUE(OneError(dpdk_port("0000:0g:00.0"), "7:15", "ports[0].backend.device",
                       "is not a PCI address"));
}

TEST(BackendTest, BadDeviceStrings) {
  EXPECT_TRUE(OneError(dpdk_port("eth0"), "7:15", "ports[0].backend.device",
                       "'eth0' is neither a PCI address (0000:01:00.0) nor a vdev string"));
  EXPECT_TRUE(OneError(dpdk_port("net_Tap0"), "7:15", "ports[0].backend.device",
                       "vdev name 'net_Tap0' must be net_ followed by"));
  EXPECT_TRUE(OneError(dpdk_port("net_"), "7:15", "ports[0].backend.device", "vdev name"));
  EXPECT_TRUE(OneError(dpdk_port("\"net_tap0,iface=a b\""), "7:15", "ports[0].backend.device",
                       "must not contain whitespace"));
  EXPECT_TRUE(
      OneError(dpdk_port("\"net_tap0,\""), "7:15", "ports[0].backend.device", "trailing ','"));
  EXPECT_TRUE(OneError(dpdk_port("\"\""), "7:15", "ports[0].backend.device", "must not be empty"));
}

TEST(BackendTest, DuplicateDeviceComparesNormalisedNames) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend: {type: dpdk, device: 0000:01:00.0}
  - name: b
    vhost_user: {socket: /run/b.sock}
    backend: {type: dpdk, device: "01:00.0"}
)",
                       "8:35", "ports[1].backend.device",
                       "device '01:00.0' is already used by ports[0] (line 5)"));
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend: {type: dpdk, device: "net_tap0,iface=x"}
  - name: b
    vhost_user: {socket: /run/b.sock}
    backend: {type: dpdk, device: "net_tap0,iface=y"}
)",
                       "8:35", "ports[1].backend.device", "is already used by ports[0]"));
}

TEST(BackendTest, QueuesMustEqualQueuePairs) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock, queue_pairs: 2}
    backend: {type: dpdk, device: net_null0, queues: 4}
)",
                       "5:54", "ports[0].backend.queues",
                       "4 does not match vhost_user.queue_pairs (2)"));
  Config c = parse_ok(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock, queue_pairs: 2}
    backend: {type: dpdk, device: net_null0, queues: 2}
)");
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].backend.queues, 2u);
}

std::string rss_port(std::string_view rss) {
  return "workers: [1]\nports:\n  - name: a\n    vhost_user: {socket: /run/a.sock}\n"
         "    backend:\n      type: dpdk\n      device: net_null0\n      rss:\n" +
         std::string(rss);
}

TEST(BackendTest, RssKeyOfWrongLength) {
  EXPECT_TRUE(OneError(rss_port("        key: " + std::string(78, 'a') + "\n"), "9:14",
                       "ports[0].backend.rss.key",
                       "the RSS key has 78 hex digits; expected 80 (40 bytes, the Toeplitz key) or "
                       "104 (52 bytes, i40e/ice)"));
  EXPECT_TRUE(OneError(rss_port("        key: " + std::string(81, 'a') + "\n"), "9:14",
                       "ports[0].backend.rss.key", "has 81 hex digits"));
}

TEST(BackendTest, RssKeyNotHex) {
  EXPECT_TRUE(OneError(
      rss_port("        key: " + std::string(40, 'a') + "zz" + std::string(38, 'a') + "\n"), "9:14",
      "ports[0].backend.rss.key", "the RSS key must be hex digits only; found 'z' at offset 40"));
}

TEST(BackendTest, RssKeysOf40And52BytesAreAccepted) {
  std::string key40 =
      "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73b"
      "beac01fa";
  Config c = parse_ok(rss_port("        key: " + key40 + "\n"));
  ASSERT_EQ(c.ports.size(), 1u);
  ASSERT_EQ(c.ports[0].backend.rss.key.size(), 40u);
  EXPECT_EQ(c.ports[0].backend.rss.key.front(), 0x6d);
  EXPECT_EQ(c.ports[0].backend.rss.key.back(), 0xfa);
  c = parse_ok(rss_port("        key: " + std::string(104, 'F') + "\n"));
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].backend.rss.key, std::vector<uint8_t>(52, 0xff));
}

TEST(BackendTest, UnknownRssHashType) {
  EXPECT_TRUE(OneError(rss_port("        hash_types: [ip, tpc]\n"), "9:26",
                       "ports[0].backend.rss.hash_types[1]",
                       "unknown hash type 'tpc'; expected one of ipv4,"));
  EXPECT_TRUE(HasError(rss_port("        hash_types: [ip, tpc]\n"), "9:26",
                       "ports[0].backend.rss.hash_types[1]", "(did you mean 'tcp'?)"));
}

TEST(BackendTest, EmptyRssHashTypes) {
  EXPECT_TRUE(OneError(rss_port("        hash_types: []\n"), "9:21",
                       "ports[0].backend.rss.hash_types", "must name at least one hash type"));
}

TEST(BackendTest, RssHashTypeListedTwice) {
  EXPECT_TRUE(OneError(rss_port("        hash_types: [ipv4, ipv4]\n"), "9:28",
                       "ports[0].backend.rss.hash_types[1]", "'ipv4' is listed twice"));
}

std::string reta_port(std::string_view reta) {
  return "workers: [1]\nports:\n  - name: a\n    vhost_user: {socket: /run/a.sock, queue_pairs: "
         "2}\n"
         "    backend:\n      type: dpdk\n      device: net_null0\n      rss:\n        reta: " +
         std::string(reta) + "\n";
}

TEST(BackendTest, RssRetaIsAListOfQueues) {
  Config c = parse_ok(reta_port("[0, 1, 1, 0]"));
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].backend.rss.reta, (std::vector<uint16_t>{0, 1, 1, 0}));
  c = parse_ok(reta_port("[1]"));
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].backend.rss.reta, (std::vector<uint16_t>{1}));
  std::string big = "[0";
  for (size_t i = 1; i < kMaxRssReta; ++i) big += i % 2 ? ", 1" : ", 0";
  c = parse_ok(reta_port(big + "]"));
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].backend.rss.reta.size(), kMaxRssReta);
  // Absent: the driver's own table.
  c = parse_ok(rss_port("        hash_types: [ip]\n"));
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_TRUE(c.ports[0].backend.rss.reta.empty());
}

TEST(BackendTest, RssRetaEntriesAreQueuesOfTheBackend) {
  EXPECT_TRUE(OneError(reta_port("[0, 2]"), "9:19", "ports[0].backend.rss.reta[1]",
                       "2 is out of range; expected 0..1"));
  EXPECT_TRUE(
      OneError(reta_port("[0, -1]"), "9:19", "ports[0].backend.rss.reta[1]", "out of range"));
  EXPECT_TRUE(OneError(reta_port("[0, one]"), "9:19", "ports[0].backend.rss.reta[1]",
                       "expected an integer"));
}

TEST(BackendTest, RssRetaLengthIsAPowerOfTwoUpTo512) {
  for (std::string_view bad : {"[]", "[0, 1, 0]", "[0, 1, 0, 1, 0, 1]"}) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(OneError(reta_port(bad), "9:15", "ports[0].backend.rss.reta",
                         "expected a power of two from 1 to 512"));
  }
  std::string too_long = "[0";
  for (size_t i = 1; i < 2 * kMaxRssReta; ++i) too_long += ", 0";
  EXPECT_TRUE(OneError(reta_port(too_long + "]"), "9:15", "ports[0].backend.rss.reta",
                       "the indirection table has 1024 entries"));
  EXPECT_TRUE(
      OneError(reta_port("{0: 1}"), "9:15", "ports[0].backend.rss.reta", "expected a list"));
}

TEST(BackendTest, RssGroupsExpand) {
  Config c = parse_ok(rss_port("        hash_types: [sctp, ipv6_udp]\n"));
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].backend.rss.hash_types,
            (RssHashTypes{RssHashType::kIpv4Sctp, RssHashType::kIpv6Sctp, RssHashType::kIpv6Udp}));
}

TEST(BackendTest, OffloadSwitchesMustBeBooleans) {
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: a
    vhost_user: {socket: /run/a.sock}
    backend:
      type: dpdk
      device: net_null0
      offloads: {checksum: off}
)",
                       "8:28", "ports[0].backend.offloads.checksum",
                       "expected true or false, got 'off'"));
}

TEST(BackendTest, TxZeroCopyIsABoolean) {
  Config c = parse_ok(dpdk_port("net_null0") + "      tx_zero_copy: false\n");
  EXPECT_FALSE(c.ports.at(0).backend.tx_zero_copy);
  EXPECT_TRUE(OneError(dpdk_port("net_null0") + "      tx_zero_copy: 1\n", "8:21",
                       "ports[0].backend.tx_zero_copy", "expected true or false, got '1'"));
}

std::string descriptors_port(std::string_view rx, std::string_view pool = "") {
  std::string yaml =
      "workers: [1]\nports:\n  - name: a\n    vhost_user: {socket: /run/a.sock}\n"
      "    backend:\n      type: dpdk\n      device: net_null0\n"
      "      rx_descriptors: " +
      std::string(rx) + "\n";
  if (!pool.empty()) yaml += "      mempool_size: " + std::string(pool) + "\n";
  return yaml;
}

TEST(BackendTest, DescriptorsOutOfRange) {
  EXPECT_TRUE(OneError(descriptors_port("32"), "8:23", "ports[0].backend.rx_descriptors",
                       "32 is out of range; expected 64..32768"));
  EXPECT_TRUE(OneError(descriptors_port("65536"), "8:23", "ports[0].backend.rx_descriptors",
                       "out of range"));
}

TEST(BackendTest, DescriptorsNotAPowerOfTwo) {
  EXPECT_TRUE(OneError(descriptors_port("1000"), "8:23", "ports[0].backend.rx_descriptors",
                       "1000 is not a power of two"));
}

TEST(BackendTest, MempoolTooSmallForTheRings) {
  EXPECT_TRUE(OneError(descriptors_port("4096", "5000"), "9:21", "ports[0].backend.mempool_size",
                       "5000 mbufs cannot fill the descriptor rings: queues (1) x (rx_descriptors "
                       "+ tx_descriptors) needs at least 5120"));
  EXPECT_EQ(parse_ok(descriptors_port("4096", "5120")).ports.at(0).backend.mempool_size, 5120u);
}

TEST(BackendTest, MempoolAboveLimit) {
  EXPECT_TRUE(OneError(descriptors_port("64", "4194304"), "9:21", "ports[0].backend.mempool_size",
                       "4194304 is out of range; expected 1..4194303"));
}

TEST(BackendTest, AtMost32DpdkPorts) {
  std::string yaml = "workers: [1]\nports:\n";
  for (int i = 0; i < 33; ++i) {
    yaml += "  - {name: p" + std::to_string(i) + ", vhost_user: {socket: /run/p" +
            std::to_string(i) + ".sock}, backend: {type: dpdk, device: net_null" +
            std::to_string(i) + "}}\n";
  }
  // Port 32 is on line 35; its `type` value starts at column 70.
  EXPECT_TRUE(
      OneError(yaml, "35:70", "ports[32].backend.type", "more than 32 ports have a dpdk backend"));
}

// ---- affinity ----

constexpr std::string_view kTwoPorts = R"(workers: [1, 2]
ports:
  - name: vm0
    vhost_user: {socket: /run/vm0.sock, queue_pairs: 2}
    backend: {type: loopback}
  - name: vm1
    vhost_user: {socket: /run/vm1.sock}
    backend: {type: loopback}
)";

TEST(AffinityTest, ValidAffinityIsKept) {
  Config c = parse_ok(std::string(kTwoPorts) + R"(affinity:
  - {port: vm0, queue: 1, lcore: 2}
  - {port: vm1, queue: 0, lcore: 1}
)");
  EXPECT_THAT(c.affinity, ElementsAre(Affinity{"vm0", 1, 2}, Affinity{"vm1", 0, 1}));
}

TEST(AffinityTest, UnknownPortSuggestsTheClosest) {
  EXPECT_TRUE(OneError(std::string(kTwoPorts) + "affinity:\n  - {port: vm2, queue: 0, lcore: 1}\n",
                       "10:12", "affinity[0].port", "no port is named 'vm2'; did you mean 'vm0'?"));
}

TEST(AffinityTest, UnknownPortListsThePorts) {
  EXPECT_TRUE(
      OneError(std::string(kTwoPorts) + "affinity:\n  - {port: database, queue: 0, lcore: 1}\n",
               "10:12", "affinity[0].port", "no port is named 'database'; the ports are vm0, vm1"));
}

TEST(AffinityTest, QueueBeyondThePortsQueuePairs) {
  EXPECT_TRUE(OneError(std::string(kTwoPorts) + "affinity:\n  - {port: vm0, queue: 2, lcore: 1}\n",
                       "10:24", "affinity[0].queue",
                       "port 'vm0' has 2 queue pairs (0..1), so queue 2 does not exist"));
}

TEST(AffinityTest, LcoreThatIsNotAWorker) {
  EXPECT_TRUE(OneError(std::string(kTwoPorts) + "affinity:\n  - {port: vm0, queue: 0, lcore: 0}\n",
                       "10:34", "affinity[0].lcore",
                       "lcore 0 is not a worker; the workers are 1, 2"));
}

TEST(AffinityTest, QueuePinnedTwice) {
  EXPECT_TRUE(OneError(std::string(kTwoPorts) + R"(affinity:
  - {port: vm0, queue: 0, lcore: 1}
  - {port: vm0, queue: 0, lcore: 2}
)",
                       "11:24", "affinity[1].queue",
                       "queue 0 of port 'vm0' is already pinned (line 10)"));
}

TEST(AffinityTest, MustBeAListOfMaps) {
  EXPECT_TRUE(OneError(std::string(kTwoPorts) + "affinity: {port: vm0}\n", "9:11", "affinity",
                       "expected a list, got a map"));
  EXPECT_TRUE(OneError(std::string(kTwoPorts) + "affinity: [vm0]\n", "9:12", "affinity[0]",
                       "expected a map, got 'vm0'"));
}

// ---- logging and telemetry ----

TEST(LoggingTest, UnknownLevel) {
  EXPECT_TRUE(OneError("workers: [1]\nlogging: {level: verbose}\n", "2:18", "logging.level",
                       "unknown value 'verbose'; expected one of trace, debug, info, warn, error, "
                       "critical, off"));
}

TEST(LoggingTest, FileSinkNeedsAFile) {
  EXPECT_TRUE(OneError("workers: [1]\nlogging:\n  sink: file\n", "3:3", "logging",
                       "logging.sink is file, so logging.file (an absolute path) is required"));
}

TEST(LoggingTest, FileWithAnotherSink) {
  EXPECT_TRUE(OneError("workers: [1]\nlogging: {sink: journal, file: /var/log/p.log}\n", "2:32",
                       "logging.file", "only valid with sink: file, and the sink is journal"));
  EXPECT_TRUE(OneError("workers: [1]\nlogging: {file: /var/log/p.log}\n", "2:17", "logging.file",
                       "the sink is stderr"));
}

TEST(LoggingTest, RelativeLogFile) {
  EXPECT_TRUE(OneError("workers: [1]\nlogging: {sink: file, file: pmdnetd.log}\n", "2:29",
                       "logging.file", "'pmdnetd.log' is not an absolute file path"));
}

TEST(LoggingTest, EveryLevelAndSinkIsAccepted) {
  for (const auto& [level, name] : EnumNames<LogLevel>::kTable) {
    Config c = parse_ok("workers: [1]\nlogging: {level: " + std::string(name) + "}\n");
    EXPECT_EQ(c.logging.level, level) << name;
  }
  EXPECT_EQ(parse_ok("workers: [1]\nlogging: {sink: journal}\n").logging.sink, LogSink::kJournal);
  Config c = parse_ok("workers: [1]\nlogging: {sink: file, file: /var/log/p.log}\n");
  EXPECT_EQ(c.logging.sink, LogSink::kFile);
  EXPECT_EQ(c.logging.file, "/var/log/p.log");
}

TEST(TelemetryTest, EnabledMustBeABoolean) {
  EXPECT_TRUE(OneError("workers: [1]\ntelemetry: {enabled: 1}\n", "2:22", "telemetry.enabled",
                       "expected true or false, got '1'"));
}

// ---- several problems at once ----

TEST(MultipleErrorsTest, EveryProblemIsReportedInFileOrder) {
  EXPECT_THAT(errors_of(R"(telemetry: {enabled: maybe}
workers: [0, 1, 1]
eal:
  memory_mb: lots
ports:
  - name: vm0
    vhost_user: {socket: vm0.sock, queue_pairs: 0}
    backend: {type: dpdk}
)"),
              ElementsAre("test.yaml:1:22: telemetry.enabled: expected true or false, got 'maybe'",
                          "test.yaml:2:11: workers[0]: lcore 0 is eal.main_lcore, which runs the "
                          "control thread; give the worker another lcore or move main_lcore",
                          "test.yaml:2:17: workers[2]: lcore 1 is already a worker (line 2)",
                          "test.yaml:4:14: eal.memory_mb: expected an integer, got 'lots'",
                          "test.yaml:7:26: ports[0].vhost_user.socket: 'vm0.sock' is a relative "
                          "path; socket paths must be absolute (the daemon's working directory is "
                          "not the operator's)",
                          "test.yaml:7:49: ports[0].vhost_user.queue_pairs: 0 is out of range; "
                          "expected 1..128",
                          "test.yaml:8:14: ports[0].backend: missing required key 'device'"));
}

TEST(MultipleErrorsTest, ReportIsCappedWithACount) {
  std::string yaml = "workers:\n";
  for (int i = 0; i < 60; ++i) yaml += "  - x\n";
  std::vector<std::string> lines = errors_of(yaml);
  ASSERT_EQ(lines.size(), kMaxReportedErrors + 1);
  EXPECT_THAT(lines.front(), StartsWith("test.yaml:2:5: workers[0]: expected an integer"));
  EXPECT_EQ(lines.back(), "test.yaml: ... and 10 more errors");
}

TEST(MultipleErrorsTest, OneBadValueDoesNotCascade) {
  // queue_pairs is invalid, so the affinity's queue cannot be checked against it; only the
  // queue_pairs problem is reported.
  EXPECT_TRUE(OneError(R"(workers: [1]
ports:
  - name: vm0
    vhost_user: {socket: /run/vm0.sock, queue_pairs: many}
    backend: {type: loopback}
affinity:
  - {port: vm0, queue: 3, lcore: 1}
)",
                       "4:54", "ports[0].vhost_user.queue_pairs", "expected an integer"));
}

// ---- files ----

class LoadFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pmdnet-config-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(std::string_view name, std::string_view text) {
    std::filesystem::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  std::filesystem::path dir_;
};

TEST_F(LoadFileTest, ValidFileLoads) {
  auto r = load_config_file(write("ok.yaml", kValid));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->ports.at(0).name, "vm0");
}

TEST_F(LoadFileTest, ErrorsStartWithThePath) {
  std::filesystem::path p = write("bad.yaml", "workers: [0]\n");
  auto r = load_config_file(p);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(r.error().message, StartsWith(p.string() + ":1:11: workers[0]: lcore 0 is"));
}

TEST_F(LoadFileTest, MissingFileIsAnIoError) {
  auto r = load_config_file(dir_ / "absent.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kIo);
  EXPECT_EQ(r.error().message,
            (dir_ / "absent.yaml").string() + ": cannot read: No such file or directory");
}

TEST_F(LoadFileTest, DirectoryIsAnIoError) {
  auto r = load_config_file(dir_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kIo);
  EXPECT_THAT(r.error().message, HasSubstr("it is a directory"));
}

TEST_F(LoadFileTest, OversizedFileIsRefused) {
  std::string big = "workers: [1]\n" + std::string(kMaxConfigFileSize, '#') + "\n";
  auto r = load_config_file(write("big.yaml", big));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kIo);
  EXPECT_THAT(r.error().message, HasSubstr("larger than 1048576 bytes"));
}

// ---- the examples and the built-in default ----

TEST(ExamplesTest, EveryExampleValidates) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(PMDNET_CONFIG_EXAMPLES_DIR)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::ranges::sort(files);
  // minimal, full, multi_port and demo at least; an empty directory must not pass.
  ASSERT_GE(files.size(), 4u);
  for (const auto& file : files) {
    auto r = load_config_file(file);
    EXPECT_TRUE(r.has_value()) << r.error().message;
  }
}

TEST(ExamplesTest, FullExampleRoundTrip) {
  auto r = load_config_file(std::filesystem::path(PMDNET_CONFIG_EXAMPLES_DIR) / "full.yaml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  Config expected;
  expected.eal = EalSettings{
      .lcores = "0-3",
      .main_lcore = 0,
      .no_huge = false,
      .memory_mb = 2048,
      .file_prefix = "pmdnet-prod",
      .extra_args = {"-n", "4", "--log-level=lib.eal:notice"},
  };
  expected.workers = {
      {2, IdlePolicy::kBusy}, {3, IdlePolicy::kAdaptive}, {1, IdlePolicy::kAdaptive}};
  Port web0;
  web0.name = "web0";
  web0.vhost_user = VhostUser{
      .socket = "/run/pmdnet/web0.sock",
      .mode = VhostMode::kClient,
      .queue_pairs = 2,
      .mtu = 9000,
      .mac = MacAddress{0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
      .disabled_features = {VhostFeature::kUso, VhostFeature::kGuestUso,
                            VhostFeature::kIndirectDesc},
      .packed_ring = false,
  };
  web0.backend = Backend{
      .type = BackendType::kDpdk,
      .device = "0000:01:00.0",
      .device_kind = DeviceKind::kPci,
      .queues = 2,
      .rss = Rss{.key = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
                         0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
                         0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
                         0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa},
                 .hash_types = kRssGroupIp | kRssGroupTcp | RssHashTypes{RssHashType::kIpv4Udp},
                 .reta = {0, 1, 0, 1, 0, 1, 1, 1}},
      .offloads = Offloads{.checksum = true, .tso = true, .uso = false, .vlan = false, .gro = true},
      .rx_descriptors = 2048,
      .tx_descriptors = 512,
      .mempool_size = 16383,
      .tx_zero_copy = false,
  };
  Port lo0;
  lo0.name = "lo0";
  lo0.vhost_user.socket = "/run/pmdnet/lo0.sock";
  lo0.backend.type = BackendType::kLoopback;
  expected.ports = {web0, lo0};
  expected.affinity = {{"web0", 0, 2}, {"web0", 1, 3}};
  expected.logging = Logging{LogLevel::kDebug, LogSink::kFile, "/var/log/pmdnet/pmdnetd.log"};
  expected.telemetry.enabled = false;
  expected.state_dir = "/run/pmdnet";

  // Field by field first, so a failure says which part differs.
  EXPECT_EQ(r->eal, expected.eal);
  EXPECT_EQ(r->workers, expected.workers);
  ASSERT_EQ(r->ports.size(), 2u);
  EXPECT_EQ(r->ports[0].vhost_user, expected.ports[0].vhost_user);
  EXPECT_EQ(r->ports[0].backend.rss, expected.ports[0].backend.rss);
  EXPECT_EQ(r->ports[0].backend, expected.ports[0].backend);
  EXPECT_EQ(r->ports[1], expected.ports[1]);
  EXPECT_EQ(r->affinity, expected.affinity);
  EXPECT_EQ(r->logging, expected.logging);
  EXPECT_EQ(r->telemetry, expected.telemetry);
  EXPECT_EQ(*r, expected);
}

TEST(ExamplesTest, FullExampleDiffersFromTheDefaultsEverywhereItCan) {
  // Each section of full.yaml must change something, or the round trip proves nothing about it.
  auto r = load_config_file(std::filesystem::path(PMDNET_CONFIG_EXAMPLES_DIR) / "full.yaml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const Backend defaults;
  const Backend& b = r->ports.at(0).backend;
  EXPECT_NE(b.rss, defaults.rss);
  EXPECT_NE(b.offloads, defaults.offloads);
  EXPECT_NE(b.rx_descriptors, defaults.rx_descriptors);
  EXPECT_NE(b.tx_descriptors, defaults.tx_descriptors);
  EXPECT_NE(b.tx_zero_copy, defaults.tx_zero_copy);
  EXPECT_NE(r->ports.at(0).vhost_user.mode, VhostUser{}.mode);
  EXPECT_NE(r->logging, Logging{});
  EXPECT_NE(r->telemetry, Telemetry{});
  EXPECT_NE(r->eal.file_prefix, EalSettings{}.file_prefix);
  EXPECT_NE(r->state_dir, Config{}.state_dir);
  EXPECT_NE(r->ports.at(0).vhost_user.packed_ring, VhostUser{}.packed_ring);
}

TEST(DefaultConfigTest, Validates) {
  auto r = default_config();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->eal.no_huge);
  EXPECT_EQ(r->eal.memory_mb, 256u);
  EXPECT_EQ(r->eal.lcores, "0,1");
  EXPECT_THAT(r->workers, ElementsAre(Worker{1, IdlePolicy::kAdaptive}));
  ASSERT_EQ(r->ports.size(), 1u);
  EXPECT_EQ(r->ports[0].name, "vm0");
  EXPECT_EQ(r->ports[0].vhost_user.socket, "/tmp/pmdnet-vm0.sock");
  EXPECT_EQ(r->ports[0].vhost_user.mode, VhostMode::kServer);
  EXPECT_EQ(r->ports[0].backend.type, BackendType::kLoopback);
  EXPECT_TRUE(r->telemetry.enabled);
}

TEST(DefaultConfigTest, IsItsYamlParsed) {
  auto parsed = parse_config(default_config_yaml(), "x");
  auto r = default_config();
  ASSERT_TRUE(parsed.has_value());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*parsed, *r);
  EXPECT_THAT(default_config_yaml(), StartsWith("# pmdnetd's built-in default configuration."));
}

TEST(DocsTest, ErrorExampleInDocsMatchesTheParser) {
  // docs/config.md shows a bad file (its first ```yaml block) and the errors it gets (the next
  // ``` block); the two must stay in step with the parser.
  std::ifstream in(std::filesystem::path(PMDNET_DOCS_DIR) / "config.md");
  ASSERT_TRUE(in.good());
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t yaml_start = doc.find("```yaml\n");
  ASSERT_NE(yaml_start, std::string::npos);
  yaml_start += 8;
  size_t yaml_end = doc.find("```", yaml_start);
  size_t errors_start = doc.find("```\n", yaml_end + 3);
  ASSERT_NE(errors_start, std::string::npos);
  errors_start += 4;
  size_t errors_end = doc.find("```", errors_start);
  ASSERT_NE(errors_end, std::string::npos);
  std::string yaml = doc.substr(yaml_start, yaml_end - yaml_start);
  std::string errors = doc.substr(errors_start, errors_end - errors_start);
  auto r = parse_config(yaml, "/etc/pmdnet/pmdnetd.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message + "\n", errors);
}

// ---- names and helpers ----

template <class E>
void expect_names_round_trip() {
  for (const auto& [value, name] : EnumNames<E>::kTable) {
    EXPECT_EQ(to_string(value), name);
    EXPECT_EQ(from_string<E>(name), value) << name;
  }
  EXPECT_EQ(to_string(E::kCount), "?");
  EXPECT_EQ(from_string<E>("no-such-name"), std::nullopt);
}

TEST(NamesTest, EveryEnumRoundTrips) {
  expect_names_round_trip<IdlePolicy>();
  expect_names_round_trip<VhostMode>();
  expect_names_round_trip<VhostFeature>();
  expect_names_round_trip<BackendType>();
  expect_names_round_trip<DeviceKind>();
  expect_names_round_trip<RssHashType>();
  expect_names_round_trip<LogLevel>();
  expect_names_round_trip<LogSink>();
}

TEST(NamesTest, NamesAreCaseSensitive) {
  EXPECT_EQ(from_string<BackendType>("DPDK"), std::nullopt);
  EXPECT_EQ(from_string<BackendType>("dpdk"), BackendType::kDpdk);
}

TEST(EnumSetTest, InsertEraseAndBits) {
  VhostFeatureSet s{VhostFeature::kCsum, VhostFeature::kMq};
  EXPECT_TRUE(s.contains(VhostFeature::kCsum));
  EXPECT_TRUE(s.contains(VhostFeature::kMq));
  EXPECT_FALSE(s.contains(VhostFeature::kTso));
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.bits(), (1u << 0) | (1u << 9));
  s.erase(VhostFeature::kCsum);
  EXPECT_EQ(s, VhostFeatureSet{VhostFeature::kMq});
  EXPECT_TRUE(VhostFeatureSet{}.empty());
  // Bits beyond kCount are dropped.
  EXPECT_EQ(VhostFeatureSet::from_bits(~uint64_t{0}).size(),
            static_cast<size_t>(VhostFeature::kCount));
}

TEST(HelpersTest, FormatMac) {
  EXPECT_EQ(format_mac({0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f}), "52:54:00:ab:cd:0f");
}

}  // namespace
}  // namespace pmdnet::config
