// Integration tests of pmdnetd's pieces under a real EAL (lcores 0 and 1, no hugepages): the
// WorkerPool's pinned loops and their attach/detach handshake, PortScheduler's placement, and the
// PortManager's reconciliation of the running ports with a configuration (added, kept, removed,
// re-added when changed; one port's failure naming it and leaving the others). Each test runs in a
// forked child, since EAL initialises once per process.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "daemon/ports/port_manager.h"
#include "daemon/workers/worker_pool.h"
#include "pmd_backends/eal.h"
#include "tests/integration/eal_child.h"

namespace pmdnet {
namespace {

namespace fs = std::filesystem;
using pmdnet::testing::eal_runtime_dir;
using pmdnet::testing::run_in_child;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using workers::IdlePolicy;
using workers::Placement;
using workers::PortScheduler;
using workers::WorkerPool;

// Counts its polls and remembers the lcore that ran the last one.
class CountingTarget final : public workers::PollTarget {
 public:
  explicit CountingTarget(uint32_t pair = 0, size_t work = 0) : pair_(pair), work_(work) {}
  size_t poll() noexcept override {
    polls_.fetch_add(1, std::memory_order_relaxed);
    cpu_.store(sched_getcpu(), std::memory_order_relaxed);
    return work_;
  }
  uint32_t queue_pair() const noexcept override { return pair_; }
  uint64_t polls() const { return polls_.load(std::memory_order_relaxed); }

 private:
  uint32_t pair_;
  size_t work_;
  std::atomic<uint64_t> polls_{0};
  std::atomic<int> cpu_{-1};
};

bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class DaemonPartsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int serial = 0;
    prefix_ = fmt::format("pmdnet-parts-{}-{}", getpid(), serial++);
    dir_ = fs::temp_directory_path() / prefix_;
    fs::create_directories(dir_);
    options_.no_huge = true;
    options_.memory_mb = 256;
    options_.file_prefix = prefix_;
    options_.lcores = "0,1";
    options_.main_lcore = 0;
    options_.no_pci = true;
    options_.log_level = "*:error";
    options_.no_telemetry = true;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(eal_runtime_dir(prefix_), ec);
    fs::remove_all(dir_, ec);
  }

  std::string socket(const std::string& name) const { return (dir_ / (name + ".sock")).string(); }

  config::Config config_with(const std::vector<std::string>& names) const {
    std::string y = "workers:\n  - lcore: 1\nports:\n";
    for (const auto& n : names) {
      y += fmt::format(
          "  - name: {}\n    vhost_user:\n      socket: {}\n    backend:\n"
          "      type: loopback\n",
          n, socket(n));
    }
    auto c = config::parse_config(y, "test.yaml");
    EXPECT_TRUE(c.has_value()) << c.error().message;
    return c ? *c : config::Config{};
  }

  std::string prefix_;
  fs::path dir_;
  EalOptions options_;
};

TEST_F(DaemonPartsTest, AWorkerPollsItsTargetsOnItsLcoreAndLetsGoOnDetach) {
  run_in_child([&] {
    auto eal = Eal::init(options_, "parts_test");
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    auto pool = WorkerPool::start({{.lcore = 1, .idle = IdlePolicy::kBusy}});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    ASSERT_EQ((*pool)->size(), 1u);
    EXPECT_EQ((*pool)->lcore(0), 1u);
    EXPECT_EQ((*pool)->index_of_lcore(1), 0);
    EXPECT_EQ((*pool)->index_of_lcore(0), -1);

    CountingTarget a(0, 1), b(1, 0);
    const int owner = 0;
    const Placement placed[] = {{&a, 0}, {&b, 0}};
    (*pool)->set_targets(&owner, placed);
    EXPECT_TRUE(eventually([&] { return a.polls() > 100 && b.polls() > 100; }));
    (*pool)->set_targets(&owner, {});
    // set_targets returned: the loop has let go, so the counts no longer move.
    const uint64_t a_after = a.polls();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(a.polls(), a_after);

    const auto snap = (*pool)->snapshot();
    ASSERT_EQ(snap.size(), 1u);
    EXPECT_EQ(snap[0].lcore, 1u);
    EXPECT_EQ(snap[0].idle, "busy");
    EXPECT_EQ(snap[0].queue_pairs, 0u);
    EXPECT_GT(snap[0].passes, 100u);
    EXPECT_GT(snap[0].busy_cycles, 0u);     // `a` reported work
    EXPECT_GT(snap[0].idle_cycles, 0u);     // once detached, every pass is idle
    EXPECT_EQ(snap[0].packets, a.polls());  // each pass: 1 from `a`, 0 from `b`
    pool->reset();                          // stops the loop (rte_eal_wait_lcore)
  });
}

TEST_F(DaemonPartsTest, WorkerLcoresAreChecked) {
  run_in_child([&] {
    auto eal = Eal::init(options_, "parts_test");
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    auto main_lcore = WorkerPool::start({{.lcore = 0}});
    ASSERT_FALSE(main_lcore.has_value());
    EXPECT_THAT(main_lcore.error().message, HasSubstr("main lcore"));
    auto absent = WorkerPool::start({{.lcore = 5}});
    ASSERT_FALSE(absent.has_value());
    EXPECT_THAT(absent.error().message, HasSubstr("lcore 5 is not in EAL's lcore set"));
    auto twice = WorkerPool::start({{.lcore = 1}, {.lcore = 1}});
    ASSERT_FALSE(twice.has_value());
    EXPECT_THAT(twice.error().message, HasSubstr("twice"));
    // None of the failures left a loop running: lcore 1 can still be launched.
    auto ok = WorkerPool::start({{.lcore = 1}});
    EXPECT_TRUE(ok.has_value());
  });
}

TEST_F(DaemonPartsTest, PortSchedulerPlacesByAffinityElseRoundRobinFromItsBase) {
  run_in_child([&] {
    auto eal = Eal::init(options_, "parts_test");
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    auto pool = WorkerPool::start({{.lcore = 1, .idle = IdlePolicy::kAdaptive}});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    PortScheduler scheduler(**pool, {{3, 0}}, 7);
    EXPECT_EQ(scheduler.lcore_of(0), 1u);
    EXPECT_EQ(scheduler.lcore_of(3), 1u);
    CountingTarget p0(0), p3(3);
    const int owner = 0;
    scheduler.set_targets(&owner, {&p0, &p3});
    EXPECT_TRUE(eventually([&] { return p0.polls() > 10 && p3.polls() > 10; }));
    EXPECT_EQ((*pool)->snapshot()[0].queue_pairs, 2u);
    EXPECT_EQ((*pool)->snapshot()[0].idle, "adaptive");
    scheduler.clear_targets(&owner);
    EXPECT_EQ((*pool)->snapshot()[0].queue_pairs, 0u);
  });
}

TEST_F(DaemonPartsTest, PortManagerAddsKeepsRemovesAndReAddsChangedPorts) {
  run_in_child([&] {
    auto eal = Eal::init(options_, "parts_test");
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    auto pool = WorkerPool::start({{.lcore = 1}});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    ports::PortManager manager(**pool);

    auto r = manager.apply(config_with({"a", "b"}));
    EXPECT_THAT(r.added, ElementsAre("a", "b"));
    EXPECT_THAT(r.errors, IsEmpty());
    EXPECT_TRUE(fs::exists(socket("a")));
    EXPECT_TRUE(fs::exists(socket("b")));
    EXPECT_THAT(manager.names(), ElementsAre("a", "b"));

    config::Config next = config_with({"a", "c"});
    r = manager.apply(next);
    EXPECT_THAT(r.kept, ElementsAre("a"));
    EXPECT_THAT(r.removed, ElementsAre("b"));
    EXPECT_THAT(r.added, ElementsAre("c"));
    EXPECT_FALSE(fs::exists(socket("b")));

    next.ports[0].vhost_user.queue_pairs = 2;  // a changed: removed and added again
    r = manager.apply(next);
    EXPECT_THAT(r.removed, ElementsAre("a"));
    EXPECT_THAT(r.added, ElementsAre("a"));
    EXPECT_THAT(r.kept, ElementsAre("c"));
    EXPECT_TRUE(fs::exists(socket("a")));

    const auto snap = manager.snapshot();
    ASSERT_EQ(snap.size(), 2u);
    EXPECT_EQ(snap[0].name, "a");
    EXPECT_EQ(snap[0].backend, "loopback");
    EXPECT_EQ(snap[0].socket, socket("a"));
    EXPECT_FALSE(snap[0].connected);
    EXPECT_THAT(snap[0].queue_pairs, IsEmpty());

    manager.remove_all();
    EXPECT_THAT(manager.names(), IsEmpty());
    EXPECT_FALSE(fs::exists(socket("a")));
    EXPECT_FALSE(fs::exists(socket("c")));
  });
}

TEST_F(DaemonPartsTest, APortThatCannotStartIsNamedAndTheOthersRun) {
  run_in_child([&] {
    auto eal = Eal::init(options_, "parts_test");
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    auto pool = WorkerPool::start({{.lcore = 1}});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    ports::PortManager manager(**pool);
    config::Config cfg = config_with({"good", "nodev", "nodir"});
    cfg.ports[1].backend.type = config::BackendType::kDpdk;
    cfg.ports[1].backend.device = "net_bogus0";
    cfg.ports[1].backend.device_kind = config::DeviceKind::kVdev;
    cfg.ports[2].vhost_user.socket = (dir_ / "missing" / "dir.sock").string();
    const auto r = manager.apply(cfg);
    EXPECT_THAT(r.added, ElementsAre("good"));
    ASSERT_EQ(r.errors.size(), 2u);
    EXPECT_THAT(r.errors[0], HasSubstr("port nodev:"));
    EXPECT_THAT(r.errors[0], HasSubstr("net_bogus0"));
    EXPECT_THAT(r.errors[1], HasSubstr("port nodir:"));
    EXPECT_THAT(manager.names(), ElementsAre("good"));
    EXPECT_TRUE(fs::exists(socket("good")));
  });
}

}  // namespace
}  // namespace pmdnet
