// Integration tests of pmdnetd's telemetry: EAL with telemetry on (in a forked child, unique file
// prefix), register_telemetry_commands with a fake provider, then the /pmdnet/* commands read
// three ways: a raw SOCK_SEQPACKET client checking DPDK's exact JSON, the pmdnetctl binary, and
// dpdk-telemetry.py when it is installed.
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/pmdnetctl/fetch.h"
#include "daemon/pmdnetctl/format.h"
#include "daemon/telemetry/replies.h"
#include "daemon/telemetry/telemetry_commands.h"
#include "pmd_backends/eal.h"
#include "tests/integration/eal_child.h"
#include "tests/unit/daemon/telemetry/sample_snapshot.h"

#ifndef PMDNET_PMDNETCTL
#error "PMDNET_PMDNETCTL must name the pmdnetctl binary"
#endif

namespace pmdnet {
namespace {

namespace fs = std::filesystem;
using ctl::Json;
using pmdnet::testing::eal_runtime_dir;
using pmdnet::testing::run_in_child;
using telemetry::DaemonSnapshot;
using ::testing::HasSubstr;

constexpr const char* kPmdnetctl = PMDNET_PMDNETCTL;
constexpr const char* kDpdkTelemetryPy = "/usr/bin/dpdk-telemetry.py";
constexpr size_t kDpdkMaxOutput = 16384;  // MAX_OUTPUT_LEN in DPDK 22.11 telemetry.c

// ---- A raw client, independent of pmdnetctl's ----

class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
        << path << ": " << std::strerror(errno);
    greeting_ = receive();
  }
  ~RawClient() { close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  std::string query(const std::string& request) {
    EXPECT_EQ(send(fd_, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    return receive();
  }
  const std::string& greeting() const { return greeting_; }

 private:
  std::string receive() {
    std::vector<char> buf(1 << 17);
    const ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    EXPECT_GT(n, 0) << std::strerror(errno);
    return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : std::string();
  }

  int fd_ = -1;
  std::string greeting_;
};

// What DPDK should send for `request`: {"<command>":<our JSON>}, or null.
std::string expected_reply(const DaemonSnapshot& s, const std::string& request) {
  const size_t comma = request.find(',');
  const std::string command = request.substr(0, comma);
  std::optional<std::string_view> params;
  if (comma != std::string::npos) params = std::string_view(request).substr(comma + 1);
  auto reply = telemetry::answer_command(command, params, s);
  return fmt::format("{{\"{}\":{}}}", command, reply ? reply->to_json() : "null");
}

// ---- Running a program ----

struct ProcessResult {
  int exit_code = -1;  // -1: killed (timeout or signal)
  std::string out;
  std::string err;
};

// Runs argv[0] with `input` on its stdin, collecting stdout and stderr; kills it (by PID) past
// `timeout`. Always reaps it.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "",
                          std::chrono::seconds timeout = std::chrono::seconds(30)) {
  ProcessResult result;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return result;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return result;
  }
  if (!input.empty()) {
    EXPECT_EQ(write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  }
  close(in[1]);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_FALSE(killed) << argv[0] << " timed out";
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

ProcessResult pmdnetctl(const std::string& prefix, std::vector<std::string> args) {
  std::vector<std::string> argv = {kPmdnetctl, "--file-prefix", prefix};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    out.push_back(text.substr(start, nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

// ---- The fixture ----

class TelemetryIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // EAL and dpdk-telemetry.py would put the runtime directory under $RUNTIME_DIRECTORY;
    // eal_runtime_dir (the cleanup) assumes the default.
    unsetenv("RUNTIME_DIRECTORY");  // NOLINT(concurrency-mt-unsafe)
    static int serial = 0;
    prefix_ = fmt::format("pmdnet-tel-{}-{}", getpid(), serial++);
    options_.no_huge = true;
    options_.memory_mb = 128;
    options_.file_prefix = prefix_;
    options_.lcores = "0";
    options_.no_pci = true;
    options_.no_telemetry = false;
    socket_ = (eal_runtime_dir(prefix_) / "dpdk_telemetry.v2").string();
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(eal_runtime_dir(prefix_), ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(fs::exists(eal_runtime_dir(prefix_)));
  }

  // In the child: EAL up with telemetry, the commands registered with `provider`.
  ::testing::AssertionResult start(telemetry::SnapshotProvider provider) {
    auto eal = Eal::init(options_, "pmdnet_telemetry_test");
    if (!eal) return ::testing::AssertionFailure() << eal.error().message;
    eal_.emplace(std::move(*eal));
    auto registered = telemetry::register_telemetry_commands(std::move(provider));
    if (!registered) return ::testing::AssertionFailure() << registered.error().message;
    if (!fs::exists(socket_)) return ::testing::AssertionFailure() << "no " << socket_;
    return ::testing::AssertionSuccess();
  }

  std::string prefix_;
  std::string socket_;
  EalOptions options_;
  std::optional<Eal> eal_;  // lives until the child's _exit
};

TEST_F(TelemetryIntegrationTest, RawRepliesAreExactlyTheLayout) {
  run_in_child([&] {
    const DaemonSnapshot s = telemetry::testing::sample_snapshot();
    ASSERT_TRUE(start([s] { return s; }));
    RawClient client(socket_);
    EXPECT_THAT(client.greeting(), HasSubstr("\"max_output_len\":16384"));

    const Json commands = Json::parse(client.query("/"))["/"];
    for (const telemetry::CommandSpec& c : telemetry::kCommands) {
      EXPECT_NE(std::find(commands.begin(), commands.end(), c.name), commands.end()) << c.name;
      EXPECT_EQ(client.query(fmt::format("/help,{}", c.name)),
                fmt::format(R"({{"/help":{{"{}":"{}"}}}})", c.name, c.help));
    }
    for (const std::string request :
         {"/pmdnet/info", "/pmdnet/ports", "/pmdnet/ports,1", "/pmdnet/port,vm1",
          "/pmdnet/port,vm-2.eth0", "/pmdnet/port,vm1,1", "/pmdnet/workers", "/pmdnet/workers,1"}) {
      const std::string reply = client.query(request);
      EXPECT_EQ(reply, expected_reply(s, request)) << request;
      EXPECT_FALSE(Json::parse(reply, nullptr, false).is_discarded()) << reply;
    }
    EXPECT_THAT(client.query("/pmdnet/info"),
                HasSubstr(R"("/pmdnet/info":{"version":"0.1.0","tsc_hz":2400000000,)"));
    EXPECT_THAT(
        client.query("/pmdnet/port,vm1"),
        HasSubstr(R"("qp0":{"index":0,"worker_lcore":1,"guest":{"guest_tx_packets":1000,)"));
    // Errors are DPDK's null.
    for (const std::string request :
         {"/pmdnet/port,nope", "/pmdnet/port", "/pmdnet/port,vm1,x", "/pmdnet/ports,-1"}) {
      const std::string command = request.substr(0, request.find(','));
      EXPECT_EQ(client.query(request), fmt::format(R"({{"{}":null}})", command)) << request;
    }
  });
}

TEST_F(TelemetryIntegrationTest, LargeRepliesPageWithoutDpdkDroppingAnything) {
  run_in_child([&] {
    const DaemonSnapshot s = telemetry::testing::large_snapshot(120, 24, 200);
    ASSERT_TRUE(start([s] { return s; }));
    RawClient client(socket_);
    // Every page DPDK sends is exactly what the layout built: nothing cut for space.
    auto check_pages = [&](const std::string& base, const char* total_key) {
      size_t first = 0;
      int pages = 0;
      while (true) {
        const std::string request = first == 0 ? base : fmt::format("{},{}", base, first);
        const std::string reply = client.query(request);
        ASSERT_EQ(reply, expected_reply(s, request)) << request;
        EXPECT_LT(reply.size(), kDpdkMaxOutput);
        const Json value = Json::parse(reply).begin().value();
        ++pages;
        const size_t next = value["next"].get<size_t>();
        if (next >= value[total_key].get<size_t>()) break;
        ASSERT_GT(next, first);
        first = next;
      }
      EXPECT_GT(pages, 1) << base;
    };
    check_pages("/pmdnet/ports", "total");
    check_pages(fmt::format("/pmdnet/port,{}", s.ports[7].name), "queue_pairs");
    check_pages("/pmdnet/workers", "total");
  });
}

TEST_F(TelemetryIntegrationTest, ProviderCanBeReplacedAndCleared) {
  run_in_child([&] {
    DaemonSnapshot a = telemetry::testing::sample_snapshot();
    ASSERT_TRUE(start([a] { return a; }));
    DaemonSnapshot b = a;
    b.version = "9.9.9";
    ASSERT_TRUE(telemetry::register_telemetry_commands([b] { return b; }));
    RawClient client(socket_);
    EXPECT_THAT(client.query("/pmdnet/info"), HasSubstr(R"("version":"9.9.9")"));
    // Registered once: "/" lists each command once.
    const Json commands = Json::parse(client.query("/"))["/"];
    EXPECT_EQ(std::count(commands.begin(), commands.end(), "/pmdnet/info"), 1);
    EXPECT_FALSE(telemetry::register_telemetry_commands(nullptr));
    EXPECT_THAT(client.query("/pmdnet/info"), HasSubstr(R"("version":"9.9.9")"));
    telemetry::clear_telemetry_provider();
    EXPECT_EQ(client.query("/pmdnet/info"), R"({"/pmdnet/info":null})");
    // A throwing provider is a null reply, not a crash.
    ASSERT_TRUE(telemetry::register_telemetry_commands(
        []() -> DaemonSnapshot { throw std::runtime_error("boom"); }));
    EXPECT_EQ(client.query("/pmdnet/ports"), R"({"/pmdnet/ports":null})");
  });
}

TEST_F(TelemetryIntegrationTest, PmdnetctlPrintsTheTables) {
  run_in_child([&] {
    const DaemonSnapshot s = telemetry::testing::sample_snapshot();
    ASSERT_TRUE(start([s] { return s; }));

    ProcessResult r = pmdnetctl(prefix_, {"ports"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, ctl::format_ports({summarize(s.ports[0]), summarize(s.ports[1])}));
    EXPECT_THAT(r.out, HasSubstr("vm-2.eth0"));

    r = pmdnetctl(prefix_, {"port", "vm1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, ctl::format_port(s.ports[0], false));
    EXPECT_THAT(r.out, HasSubstr("drop_rx_no_buffers"));
    EXPECT_THAT(r.out, HasSubstr("tx_sw_tso"));

    r = pmdnetctl(prefix_, {"port", "vm1", "--nonzero"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, ctl::format_port(s.ports[0], true));

    r = pmdnetctl(prefix_, {"workers"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, ctl::format_workers(s.workers));
    EXPECT_THAT(r.out, HasSubstr("75.0"));

    r = pmdnetctl(prefix_, {"info"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("reloads      3 (1 failed)"));

    r = pmdnetctl(prefix_, {"--json", "ports"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, expected_reply(s, "/pmdnet/ports") + "\n");

    r = run_process({kPmdnetctl, "--socket", socket_, "port", "vm-2.eth0", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, expected_reply(s, "/pmdnet/port,vm-2.eth0") + "\n");

    r = pmdnetctl(prefix_, {"port", "nope"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, HasSubstr("no port named 'nope'"));
  });
}

TEST_F(TelemetryIntegrationTest, PmdnetctlPagesThroughLargeReplies) {
  run_in_child([&] {
    const DaemonSnapshot s = telemetry::testing::large_snapshot(90, 20, 150);
    ASSERT_TRUE(start([s] { return s; }));
    ProcessResult r = pmdnetctl(prefix_, {"ports"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<telemetry::PortSummary> summaries;
    for (const auto& p : s.ports) summaries.push_back(summarize(p));
    EXPECT_EQ(r.out, ctl::format_ports(summaries));
    EXPECT_EQ(lines_of(r.out).size(), 91u);

    r = pmdnetctl(prefix_, {"port", s.ports[3].name});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, ctl::format_port(s.ports[3], false));
    EXPECT_THAT(r.out, HasSubstr("QP 19"));

    r = pmdnetctl(prefix_, {"workers"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, ctl::format_workers(s.workers));
  });
}

TEST_F(TelemetryIntegrationTest, PmdnetctlWatchPrintsRates) {
  run_in_child([&] {
    // Each call sees counters further along: seed n has n * 1.5 MB of guest TX.
    auto calls = std::make_shared<std::atomic<uint64_t>>(0);
    ASSERT_TRUE(start([calls] { return telemetry::testing::sample_snapshot(++*calls); }));

    ProcessResult r = pmdnetctl(prefix_, {"watch", "--interval", "0.2", "--count", "2"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto lines = lines_of(r.out);
    // Two reports: "<time>  (<s> s)", the header, vm1, vm-2.eth0; a blank line between.
    ASSERT_EQ(lines.size(), 9u) << r.out;
    for (size_t base : {0u, 5u}) {
      EXPECT_THAT(lines[base], HasSubstr(" s)"));
      EXPECT_THAT(lines[base + 1], HasSubstr("GUEST TX PKT/S"));
      EXPECT_TRUE(lines[base + 2].starts_with("vm1 ")) << lines[base + 2];
      EXPECT_TRUE(lines[base + 3].starts_with("vm-2.eth0 ")) << lines[base + 3];
      // vm1's counters grew, so its rates are not zero; vm-2.eth0 has no queue pairs.
      EXPECT_THAT(lines[base + 2],
                  ::testing::MatchesRegex(R"(vm1 +[0-9.]+[kMG]? +[0-9.]+[kMG] .*)"));
    }
    EXPECT_EQ(lines[4], "");
    EXPECT_EQ(*calls, 3u);

    r = pmdnetctl(prefix_, {"watch", "--interval=0.1", "--count=1", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const Json j = Json::parse(r.out);
    ASSERT_EQ(j["ports"].size(), 2u);
    EXPECT_EQ(j["ports"][0]["name"], "vm1");
    EXPECT_GT(j["ports"][0]["guest_tx_bps"].get<double>(), 0);
    EXPECT_EQ(j["ports"][1]["guest_tx_bps"].get<double>(), 0);
  });
}

TEST_F(TelemetryIntegrationTest, PmdnetctlWithoutASocketSaysWhy) {
  // No EAL at all: nothing listens under this prefix.
  ProcessResult r = pmdnetctl(prefix_, {"ports"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr(fmt::format("no telemetry socket at {}", socket_)));
  EXPECT_THAT(r.err,
              HasSubstr(fmt::format(
                  "is pmdnetd running with telemetry enabled and --file-prefix {}?", prefix_)));
  r = run_process({kPmdnetctl, "--socket", "/nonexistent/t.sock", "info"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("is pmdnetd running with telemetry enabled?"));
  r = run_process({kPmdnetctl, "bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'bogus'"));
  EXPECT_THAT(r.err, HasSubstr("usage: pmdnetctl"));
}

TEST_F(TelemetryIntegrationTest, DpdkTelemetryPyReadsTheCommands) {
  if (!fs::exists(kDpdkTelemetryPy) || !fs::exists("/usr/bin/python3")) {
    GTEST_SKIP() << kDpdkTelemetryPy << " or python3 is not installed";
  }
  run_in_child([&] {
    const DaemonSnapshot s = telemetry::testing::sample_snapshot();
    ASSERT_TRUE(start([s] { return s; }));
    const std::vector<std::string> requests = {"/pmdnet/info", "/pmdnet/ports", "/pmdnet/port,vm1",
                                               "/pmdnet/workers"};
    std::string input;
    for (const std::string& r : requests) input += r + "\n";
    ProcessResult r = run_process({"/usr/bin/python3", kDpdkTelemetryPy, "-f", prefix_}, input);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // Non-interactive, it prints one JSON line per command (json.dumps spacing).
    const auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), requests.size()) << r.out << r.err;
    for (size_t i = 0; i < requests.size(); ++i) {
      const Json got = Json::parse(lines[i], nullptr, false);
      ASSERT_FALSE(got.is_discarded()) << lines[i];
      EXPECT_EQ(got, Json::parse(expected_reply(s, requests[i]))) << requests[i];
    }
    EXPECT_THAT(lines[1], HasSubstr(R"("names": ["vm1", "vm-2.eth0"])"));
  });
}

}  // namespace
}  // namespace pmdnet
