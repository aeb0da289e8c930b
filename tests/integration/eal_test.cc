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

#include "tests/integration/eal_child.h"

namespace pmdnet {
namespace {

namespace fs = std::filesystem;
using pmdnet::testing::eal_runtime_dir;
using pmdnet::testing::run_in_child;
using ::testing::HasSubstr;

constexpr const char* kProgram = "pmdnet_integration_test";

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
    fs::remove_all(eal_runtime_dir(prefix_), ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(fs::exists(eal_runtime_dir(prefix_)));
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
    EXPECT_EQ(fs::path(rte_eal_get_runtime_dir()), eal_runtime_dir(prefix_));
    EXPECT_TRUE(fs::is_directory(eal_runtime_dir(prefix_)));
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
