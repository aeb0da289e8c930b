// End-to-end tests of pmdnetd as operators run it: the real binary as a child process (in a
// network namespace of its own, so its net_tap interfaces vanish with it) on a YAML file, and
// pmdnet_guest (DPDK's net_virtio_user) as the guest. Traffic, SIGHUP reloads that add and remove
// ports while another keeps forwarding, SIGTERM, a guest killed mid-traffic, telemetry, packed
// rings as the configuration offers them, and the refusals of bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/daemon_fixture.h"

namespace pmdnet::e2e {
namespace {

using ::testing::HasSubstr;

TEST_F(DaemonTest, LoopbackPortEchoesEveryFrame) {
  write_config(config({"vm0"}));
  start_daemon({socket("vm0")});
  std::string out;
  EXPECT_EQ(
      run_guest("vm0", {"--echo", "--packets", "20000", "--rate", "20000", "--size", "256"}, out),
      0)
      << out;
  EXPECT_THAT(out, HasSubstr("sent=20000 received=20000 lost=0 corrupt=0"));
}

// Guest TX through a net_tap backend reaches the kernel: the interface's receive counter (in the
// daemon's namespace) grows by what the guest sent.
TEST_F(DaemonTest, TapPortDeliversGuestFramesToTheKernel) {
  write_config(config({}, fmt::format("  - name: tap0\n    vhost_user:\n      socket: {}\n"
                                      "    backend:\n      type: dpdk\n"
                                      "      device: net_tap0,iface=pmde2e0\n",
                                      socket("tap0"))));
  start_daemon({socket("tap0")});
  // /proc/<pid>/net/dev is the table of that process's network namespace.
  auto rx_packets = [&]() -> int64_t {
    std::istringstream dev(read_file(fmt::format("/proc/{}/net/dev", daemon_->pid())));
    for (std::string line; std::getline(dev, line);) {
      const auto colon = line.find(':');
      if (colon == std::string::npos ||
          line.substr(0, colon).find("pmde2e0") == std::string::npos) {
        continue;
      }
      std::istringstream fields(line.substr(colon + 1));
      int64_t bytes = 0, packets = 0;
      fields >> bytes >> packets;
      return packets;
    }
    return -1;
  };
  const int64_t before = rx_packets();
  ASSERT_GE(before, 0) << read_file(fmt::format("/proc/{}/net/dev", daemon_->pid()));
  std::string out;
  ASSERT_EQ(run_guest("tap0", {"--packets", "5000", "--rate", "20000", "--drain-ms", "200"}, out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("sent=5000"));
  EXPECT_TRUE(eventually([&] { return rx_packets() - before >= 5000; }, milliseconds(3000)))
      << "kernel rx_packets grew by " << rx_packets() - before;
}

TEST_F(DaemonTest, SighupAddsAndRemovesAPortWhileTheFirstKeepsForwarding) {
  write_config(config({"vm0"}));
  start_daemon({socket("vm0")});
  // Six seconds of paced echo on vm0, across both reloads: not one frame may be lost.
  auto steady = guest("vm0", {"--echo", "--duration", "6", "--rate", "10000"});
  std::this_thread::sleep_for(milliseconds(1000));

  write_config(config({"vm0", "vm1"}));
  daemon_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return fs::exists(socket("vm1")); }, milliseconds(5000)))
      << daemon_->output();
  std::string out;
  EXPECT_EQ(run_guest("vm1", {"--echo", "--packets", "2000", "--rate", "10000"}, out), 0) << out;

  write_config(config({"vm0"}));
  daemon_->signal(SIGHUP);
  EXPECT_TRUE(eventually([&] { return !fs::exists(socket("vm1")); }, milliseconds(5000)))
      << daemon_->output();

  EXPECT_EQ(exit_code(steady->wait(milliseconds(30000))), 0) << steady->output();
  EXPECT_THAT(steady->output(), HasSubstr("lost=0 corrupt=0"));
  EXPECT_THAT(daemon_->output(), HasSubstr("reload: 1 added, 0 removed, 1 unchanged, 0 failed"));
  EXPECT_THAT(daemon_->output(), HasSubstr("reload: 0 added, 1 removed, 1 unchanged, 0 failed"));
}

// A reload naming a device that does not exist fails that port only, and says which and why.
TEST_F(DaemonTest, AReloadWithABadPortKeepsTheOthersRunning) {
  write_config(config({"vm0"}));
  start_daemon({socket("vm0")});
  write_config(config({"vm0"}, fmt::format("  - name: broken\n    vhost_user:\n      socket: {}\n"
                                           "    backend:\n      type: dpdk\n"
                                           "      device: net_bogus0\n",
                                           socket("broken"))));
  daemon_->signal(SIGHUP);
  EXPECT_TRUE(eventually([&] { return daemon_->output().find("failed") != std::string::npos; },
                         milliseconds(5000)));
  EXPECT_THAT(daemon_->output(), HasSubstr("port broken:"));
  EXPECT_THAT(daemon_->output(), HasSubstr("net_bogus0"));
  EXPECT_FALSE(fs::exists(socket("broken")));
  std::string out;
  EXPECT_EQ(run_guest("vm0", {"--echo", "--packets", "2000", "--rate", "10000"}, out), 0) << out;

  // An invalid file is refused whole; vm0 keeps forwarding.
  write_config("ports: [\n");
  daemon_->signal(SIGHUP);
  EXPECT_TRUE(
      eventually([&] { return daemon_->output().find("reload refused") != std::string::npos; },
                 milliseconds(5000)));
  EXPECT_EQ(run_guest("vm0", {"--echo", "--packets", "2000", "--rate", "10000"}, out), 0) << out;
}

TEST_F(DaemonTest, SigtermStopsWithinTwoSecondsAndUnlinksTheSockets) {
  write_config(config({"vm0", "vm1"}));
  start_daemon({socket("vm0"), socket("vm1")});
  auto traffic = guest("vm0", {"--echo", "--duration", "20", "--rate", "10000"});
  std::this_thread::sleep_for(milliseconds(1000));
  const auto t0 = steady_clock::now();
  daemon_->signal(SIGTERM);
  const auto status = daemon_->wait(milliseconds(5000));
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0);
  ASSERT_TRUE(status.has_value()) << "pmdnetd did not exit";
  EXPECT_EQ(exit_code(status), 0) << daemon_->output();
  EXPECT_LT(took.count(), 2000);
  EXPECT_FALSE(fs::exists(socket("vm0")));
  EXPECT_FALSE(fs::exists(socket("vm1")));
  traffic->signal(SIGTERM);
  (void)traffic->wait(milliseconds(10000));
}

TEST_F(DaemonTest, AGuestKilledMidTrafficReconnectsAndForwards) {
  write_config(config({"vm0"}));
  start_daemon({socket("vm0")});
  auto doomed = guest("vm0", {"--duration", "30"});  // unpaced
  std::this_thread::sleep_for(milliseconds(1500));
  doomed->signal(SIGKILL);
  ASSERT_TRUE(doomed->wait(milliseconds(5000)).has_value());
  std::string out;
  EXPECT_EQ(run_guest("vm0", {"--echo", "--packets", "20000", "--rate", "20000"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("lost=0 corrupt=0"));
  EXPECT_TRUE(daemon_->running());
}

TEST_F(DaemonTest, TelemetryCountersMatchThePacketsSent) {
  write_config(config({"vm0"}));
  start_daemon({socket("vm0")});
  // The counters belong to the connected session: keep the guest connected while reading them.
  auto g = guest("vm0", {"--echo", "--packets", "12345", "--rate", "20000", "--linger-ms", "5000"});
  ASSERT_TRUE(
      eventually([&] { return sum_of(telemetry("/pmdnet/port,vm0"), "guest_rx_packets") == 12345; },
                 milliseconds(15000)))
      << telemetry("/pmdnet/port,vm0");
  const std::string json = telemetry("/pmdnet/port,vm0");
  EXPECT_EQ(sum_of(json, "guest_tx_packets"), 12345u) << json;
  EXPECT_EQ(sum_of(json, "guest_tx_bytes"), 12345u * 64) << json;
  EXPECT_THAT(telemetry("/pmdnet/ports"), HasSubstr("vm0"));
  EXPECT_THAT(telemetry("/pmdnet/workers"), HasSubstr("busy_cycles"));
  EXPECT_EQ(exit_code(g->wait(milliseconds(30000))), 0) << g->output();
}

// A guest asking for packed rings gets them from a port with the default (both offered), and
// split rings from a port with packed_ring: false and in_order: false, and forwards either way;
// telemetry says which layout each port's guest runs and whether IN_ORDER is on.
TEST_F(DaemonTest, PackedRingGuestsGetWhatThePortOffers) {
  write_config(config({}, fmt::format("  - name: vm0\n    vhost_user:\n      socket: {}\n"
                                      "    backend:\n      type: loopback\n"
                                      "  - name: vm1\n    vhost_user:\n      socket: {}\n"
                                      "      packed_ring: false\n      in_order: false\n"
                                      "    backend:\n      type: loopback\n",
                                      socket("vm0"), socket("vm1"))));
  start_daemon({socket("vm0"), socket("vm1")});
  const std::vector<std::string> args = {"--packed", "--echo", "--packets", "5000",        "--rate",
                                         "20000",    "--size", "1500",      "--linger-ms", "5000"};
  auto packed = guest("vm0", args);
  auto split = guest("vm1", args);
  // The layout and IN_ORDER come from the same negotiated features: one reply shows both.
  auto reply_once_running = [&](const std::string& port, const std::string& layout) {
    std::string json;
    EXPECT_TRUE(eventually(
        [&] {
          json = telemetry("/pmdnet/port," + port);
          return json.find("\"ring_layout\":\"" + layout + "\"") != std::string::npos;
        },
        milliseconds(15000)))
        << json;
    return json;
  };
  EXPECT_THAT(reply_once_running("vm0", "packed"), HasSubstr("\"in_order\":1"));
  EXPECT_THAT(reply_once_running("vm1", "split"), HasSubstr("\"in_order\":0"));
  EXPECT_EQ(exit_code(packed->wait(milliseconds(30000))), 0) << packed->output();
  EXPECT_EQ(exit_code(split->wait(milliseconds(30000))), 0) << split->output();
  EXPECT_THAT(packed->output(), HasSubstr("sent=5000 received=5000 lost=0 corrupt=0"));
  EXPECT_THAT(split->output(), HasSubstr("sent=5000 received=5000 lost=0 corrupt=0"));
}

// pmdnetd stopped under a packed-ring guest saves where the guest's rings stood in state_dir, and
// the next pmdnetd reads the file and removes it (a saved state serves one start only).
TEST_F(DaemonTest, ASigtermUnderAPackedGuestSavesItsRingPositionsForTheNextStart) {
  write_config(config({"vm0"}));
  start_daemon({socket("vm0")});
  auto g = guest("vm0", {"--packed", "--echo", "--duration", "20", "--rate", "10000"});
  ASSERT_TRUE(eventually(
      [&] {
        const std::string json = telemetry("/pmdnet/port,vm0");
        return json.find("\"ring_layout\":\"packed\"") != std::string::npos &&
               sum_of(json, "guest_tx_packets") > 1000;
      },
      milliseconds(15000)))
      << telemetry("/pmdnet/port,vm0");
  daemon_->signal(SIGTERM);
  ASSERT_TRUE(daemon_->wait(milliseconds(5000)).has_value());
  EXPECT_THAT(daemon_->output(), HasSubstr("saved the positions of 2 packed ring(s)"));
  g->signal(SIGTERM);
  (void)g->wait(milliseconds(10000));

  const fs::path file = dir_ / "state" / (prefix_ + ".vm0.rings");
  std::ifstream in(file);
  ASSERT_TRUE(in) << file;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "pmdnet-ring-state 1");
  const auto starting = [&](std::string_view prefix) {
    return std::count_if(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.starts_with(prefix); });
  };
  EXPECT_GE(starting("memory "), 1);
  EXPECT_EQ(starting("ring 0 "), 1);
  EXPECT_EQ(starting("ring 1 "), 1);
  EXPECT_EQ(lines.size(), 1 + starting("memory ") + 2);

  start_daemon({socket("vm0")});
  EXPECT_TRUE(eventually(
      [&] {
        return daemon_->output().find("2 saved packed ring position(s) read from") !=
               std::string::npos;
      },
      milliseconds(10000)))
      << daemon_->output();
  EXPECT_FALSE(fs::exists(file));
}

TEST_F(DaemonTest, ABadConfigIsRefusedWithExitCode2AndNothingStarts) {
  write_config(config({"vm0"}) + "bogus_key: 1\n");
  Child d({PMDNETD_PATH, "--config", (dir_ / "pmdnetd.yaml").string()}, dir_ / "bad.log");
  EXPECT_EQ(exit_code(d.wait(milliseconds(10000))), 2);
  EXPECT_THAT(d.output(), HasSubstr("pmdnetd.yaml:"));
  EXPECT_THAT(d.output(), HasSubstr("bogus_key"));
  EXPECT_FALSE(fs::exists(socket("vm0")));
  EXPECT_FALSE(fs::exists(fs::path("/var/run/dpdk") / prefix_));

  Child check({PMDNETD_PATH, "--check-config", "--config", (dir_ / "pmdnetd.yaml").string()},
              dir_ / "check.log");
  EXPECT_EQ(exit_code(check.wait(milliseconds(10000))), 2);

  write_config(config({"vm0"}));
  Child good({PMDNETD_PATH, "--check-config", "--config", (dir_ / "pmdnetd.yaml").string()},
             dir_ / "good.log");
  EXPECT_EQ(exit_code(good.wait(milliseconds(10000))), 0) << good.output();
  EXPECT_THAT(good.output(), HasSubstr("valid"));
}

// A socket another live daemon serves is not stolen: the second one names the port and fails.
TEST_F(DaemonTest, ASocketInUseFailsNamingThePort) {
  write_config(config({"vm0"}));
  start_daemon({socket("vm0")});
  const std::string other = prefix_ + "-other";
  prefixes_.push_back(other);
  std::string yaml = config({"vm0"});
  yaml.replace(yaml.find(prefix_), prefix_.size(), other);
  std::ofstream(dir_ / "other.yaml") << yaml;
  Child second({PMDNETD_PATH, "--config", (dir_ / "other.yaml").string()}, dir_ / "other.log");
  EXPECT_EQ(exit_code(second.wait(milliseconds(20000))), 1);
  EXPECT_THAT(second.output(), HasSubstr("port vm0:"));
  EXPECT_THAT(second.output(), HasSubstr("in use"));
  std::string out;
  EXPECT_EQ(run_guest("vm0", {"--echo", "--packets", "2000", "--rate", "10000"}, out), 0) << out;
}

}  // namespace
}  // namespace pmdnet::e2e
