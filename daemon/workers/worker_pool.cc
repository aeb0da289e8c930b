// WorkerPool and PortScheduler: the pinned poll loops on DPDK worker lcores (see worker_pool.h).
#include "daemon/workers/worker_pool.h"

#include <fmt/format.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <algorithm>

namespace pmdnet::workers {

Result<std::unique_ptr<WorkerPool>> WorkerPool::start(const std::vector<WorkerSpec>& specs) {
  std::unique_ptr<WorkerPool> pool(new WorkerPool());
  for (const WorkerSpec& spec : specs) {
    if (spec.lcore >= RTE_MAX_LCORE || !rte_lcore_is_enabled(spec.lcore)) {
      return make_error(Errc::kInvalidArgument,
                        fmt::format("worker lcore {} is not in EAL's lcore set", spec.lcore));
    }
    if (spec.lcore == rte_get_main_lcore()) {
      return make_error(Errc::kInvalidArgument,
                        fmt::format("worker lcore {} is EAL's main lcore", spec.lcore));
    }
    if (pool->index_of_lcore(spec.lcore) >= 0) {
      return make_error(Errc::kInvalidArgument,
                        fmt::format("worker lcore {} is listed twice", spec.lcore));
    }
    pool->workers_.push_back(std::make_unique<Worker>(spec));
  }
  for (auto& w : pool->workers_) {
    if (int ret = rte_eal_remote_launch(&WorkerPool::run, w.get(), w->spec.lcore); ret != 0) {
      return make_error(
          Errc::kResource,
          fmt::format("worker lcore {}: rte_eal_remote_launch failed ({})", w->spec.lcore, ret));
    }
    w->launched = true;
  }
  return pool;
}

WorkerPool::~WorkerPool() { stop_all(); }

void WorkerPool::stop_all() noexcept {
  for (auto& w : workers_) w->loop.stop();
  for (auto& w : workers_) {
    if (w->launched) (void)rte_eal_wait_lcore(w->spec.lcore);
    w->launched = false;
  }
}

uint32_t WorkerPool::lcore(size_t worker) const noexcept { return workers_[worker]->spec.lcore; }

int WorkerPool::index_of_lcore(uint32_t lcore) const noexcept {
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i]->spec.lcore == lcore) return static_cast<int>(i);
  }
  return -1;
}

int WorkerPool::run(void* worker) noexcept {
  static_cast<Worker*>(worker)->loop.run();
  return 0;
}

void WorkerPool::set_targets(const void* owner, std::span<const Placement> placed) {
  std::lock_guard lock(control_mutex_);
  if (workers_.empty()) return;  // nothing polls (the config requires a worker)
  std::vector<std::vector<PollTarget*>> next(workers_.size());
  for (const Placement& p : placed) next[p.worker % workers_.size()].push_back(p.target);
  for (size_t i = 0; i < workers_.size(); ++i)
    workers_[i]->loop.set_targets(owner, std::move(next[i]));
}

std::vector<telemetry::WorkerSnapshot> WorkerPool::snapshot() const {
  std::vector<telemetry::WorkerSnapshot> out;
  for (const auto& w : workers_) {
    const PollCounters& c = w->loop.counters();
    out.push_back(telemetry::WorkerSnapshot{
        .lcore = w->spec.lcore,
        .idle = w->spec.idle == IdlePolicy::kBusy ? "busy" : "adaptive",
        .busy_cycles = c.busy_cycles.get(),
        .idle_cycles = c.idle_cycles.get(),
        .passes = c.passes.get(),
        .queue_pairs = w->loop.target_count(),
        .packets = c.packets.get(),
    });
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.lcore < b.lcore; });
  return out;
}

PortScheduler::PortScheduler(WorkerPool& pool, std::map<uint32_t, size_t> affinity, size_t base)
    : pool_(pool), affinity_(std::move(affinity)), base_(base) {}

PortScheduler::~PortScheduler() {
  std::lock_guard lock(mutex_);
  for (const void* owner : owners_) pool_.set_targets(owner, {});
}

size_t PortScheduler::worker_of(uint32_t pair) const noexcept {
  if (auto it = affinity_.find(pair); it != affinity_.end()) return it->second;
  return (base_ + pair) % std::max<size_t>(pool_.size(), 1);
}

uint32_t PortScheduler::lcore_of(uint32_t pair) const noexcept {
  return pool_.lcore(worker_of(pair));
}

void PortScheduler::set_targets(const void* owner, std::vector<PollTarget*> targets) {
  std::lock_guard lock(mutex_);
  std::vector<Placement> placed;
  placed.reserve(targets.size());
  for (PollTarget* t : targets) placed.push_back({t, worker_of(t->queue_pair())});
  pool_.set_targets(owner, placed);
  std::erase(owners_, owner);
  if (!targets.empty()) owners_.push_back(owner);
}

}  // namespace pmdnet::workers
