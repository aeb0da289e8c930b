// Integration tests of Eal against DPDK 22.11: EAL with net_null0 and net_ring0, no hugepages and
// no PCI, each test in a forked child because EAL can be initialised only once per process.
#include "pmd_backends/eal.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace pmdnet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr const char* kProgram = "pmdnet_integration_test";

// Where EAL puts its runtime files for `prefix` (DPDK 22.11 eal_create_runtime_dir): /var/run as
// root, else $XDG_RUNTIME_DIR, else /tmp; then dpdk/<prefix>.
fs::path runtime_dir(const std::string& prefix) {
  const char* base = "/var/run";
  if (getuid() != 0) {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");  // NOLINT(concurrency-mt-unsafe)
    base = xdg != nullptr ? xdg : "/tmp";
  }
  return fs::path(base) / "dpdk" / prefix;
}

// Runs `body` in a forked child and fails the current test unless the child exits 0. The child's
// gtest assertions print as usual to the shared stdout and make it exit 1; a crash or sanitizer
// report kills it. The parent never initialises EAL, so each test gets a fresh process whether
// ctest runs the tests one at a time or the binary runs them all. The child leaves with _exit:
// no static destructors or atexit handlers run under EAL's threads.
void run_in_child(const std::function<void()>& body) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << "fork failed";
  if (pid == 0) {
    body();
#if defined(__SANITIZE_ADDRESS__)
    // _exit skips LeakSanitizer's atexit check, so run it here.
    if (__lsan_do_recoverable_leak_check() != 0) ADD_FAILURE() << "LeakSanitizer found leaks";
#endif
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid) << "waitpid failed";
  if (WIFSIGNALED(status)) {
    ADD_FAILURE() << "the child was killed by signal " << WTERMSIG(status)
                  << "; its output is above";
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "the child failed with exit status " << WEXITSTATUS(status)
                  << "; its output is above";
  }
}

uint16_t port_by_name(const char* name) {
  uint16_t port = RTE_MAX_ETHPORTS;
  EXPECT_EQ(rte_eth_dev_get_port_by_name(name, &port), 0) << name;
  return port;
}

class EalIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int serial = 0;
    prefix_ = fmt::format("pmdnet-it-{}-{}", getpid(), serial++);
    options_.no_huge = true;
    options_.memory_mb = 256;
    options_.file_prefix = prefix_;
    options_.driver_dirs = {default_pmd_dir()};
    options_.vdevs = {"net_null0", "net_ring0"};
    options_.no_pci = true;
  }

  // rte_eal_cleanup leaves the runtime directory (config, fbarray_*, dpdk_telemetry.v2), and a
  // failed or crashed child leaves it too; remove it here, in the parent.
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(runtime_dir(prefix_), ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(fs::exists(runtime_dir(prefix_)));
  }

  std::string prefix_;
  EalOptions options_;
};

TEST_F(EalIntegrationTest, DefaultPmdDirHoldsTheVdevDrivers) {
  const fs::path dir = default_pmd_dir();
  EXPECT_TRUE(fs::is_directory(dir)) << dir;
  EXPECT_TRUE(fs::exists(dir / "librte_net_null.so")) << dir;
  EXPECT_TRUE(fs::exists(dir / "librte_net_ring.so")) << dir;
  EXPECT_TRUE(fs::exists(dir / "librte_bus_vdev.so")) << dir;
}

TEST_F(EalIntegrationTest, InitProbesTheNullAndRingVdevs) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    EXPECT_EQ(rte_eth_dev_count_avail(), 2u);
    const uint16_t null_port = port_by_name("net_null0");
    const uint16_t ring_port = port_by_name("net_ring0");
    EXPECT_NE(null_port, ring_port);
    // The teardown relies on knowing where EAL put its files.
    EXPECT_EQ(fs::path(rte_eal_get_runtime_dir()), runtime_dir(prefix_));
    EXPECT_TRUE(fs::is_directory(runtime_dir(prefix_)));
  });
}

// Debian's shared-linked EAL loads RTE_EAL_PMD_PATH (= default_pmd_dir()) by itself, so -d is
// optional on this platform. The daemon still passes it, so as not to depend on that.
TEST_F(EalIntegrationTest, PluginsLoadWithoutDashD) {
  options_.driver_dirs.clear();
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    EXPECT_EQ(rte_eth_dev_count_avail(), 2u);
  });
}

TEST_F(EalIntegrationTest, SecondInitWhileLiveFailsWithState) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;

    EalOptions other = options_;
    other.file_prefix = prefix_ + "-second";
    auto second = Eal::init(other, kProgram);
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().code, Errc::kState);
    EXPECT_THAT(second.error().message, HasSubstr("already initialised"));
    // The refused call did not disturb the live EAL.
    EXPECT_EQ(rte_eth_dev_count_avail(), 2u);
  });
}

TEST_F(EalIntegrationTest, InitAfterCleanupFailsWithState) {
  run_in_child([&] {
    {
      auto eal = Eal::init(options_, kProgram);
      ASSERT_TRUE(eal.has_value()) << eal.error().message;
    }  // rte_eal_cleanup()
    auto again = Eal::init(options_, kProgram);
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().code, Errc::kState);
    EXPECT_THAT(again.error().message, HasSubstr("cleaned up"));
  });
}

TEST_F(EalIntegrationTest, MovesKeepASingleOwner) {
  run_in_child([&] {
    auto first = Eal::init(options_, kProgram);
    ASSERT_TRUE(first.has_value()) << first.error().message;
    {
      Eal moved = std::move(*first);  // move construction
      *first = std::move(moved);      // move assignment back into the moved-from object
      // `moved` owns nothing now: destroying it must not clean up.
    }
    EXPECT_EQ(rte_eth_dev_count_avail(), 2u);
    auto again = Eal::init(options_, kProgram);
    ASSERT_FALSE(again.has_value());
    EXPECT_THAT(again.error().message, HasSubstr("already initialised"));
  });
}

// DPDK 22.11 fails an unknown vdev driver in rte_eal_init with ENODEV after it has loaded the
// plugins, and then accepts a second rte_eal_init that silently drops the device: Eal refuses it.
TEST_F(EalIntegrationTest, UnknownVdevFailsWithAClearErrorAndNoRetry) {
  options_.vdevs = {"net_null0", "net_bogus0"};
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_FALSE(eal.has_value());
    EXPECT_EQ(eal.error().code, Errc::kDevice);
    EXPECT_THAT(eal.error().message, HasSubstr("rte_eal_init failed"));
    EXPECT_THAT(eal.error().message, HasSubstr("No such device"));
    EXPECT_THAT(eal.error().message, HasSubstr("--vdev=net_bogus0"));

    EalOptions good = options_;
    good.vdevs = {"net_null0"};
    auto retry = Eal::init(good, kProgram);
    ASSERT_FALSE(retry.has_value());
    EXPECT_EQ(retry.error().code, Errc::kState);
    EXPECT_THAT(retry.error().message, HasSubstr("earlier rte_eal_init failed"));
  });
}

}  // namespace
}  // namespace pmdnet
