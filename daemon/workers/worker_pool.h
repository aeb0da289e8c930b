// WorkerPool: pmdnetd's pinned poll loops, one per configured worker lcore, and PortScheduler,
// which places one port's queue pairs on them (by affinity, else round-robin).
//
// Lifecycle:
//   1. After rte_eal_init (with the worker lcores in its lcore set), start() launches one loop on
//      each worker lcore with rte_eal_remote_launch. It must be called from the main lcore.
//   2. Each loop is a PollLoop (poll_loop.h): passes over the PollTargets assigned to it, new
//      assignments picked up at the top of a pass through the WorkAssignment handshake
//      (work_assignment.h), idle policy busy or adaptive per worker.
//   3. set_targets(owner, placed) replaces one owner's targets on every worker they were or are
//      on, and returns once none of those workers touches the targets that left.
//   4. The destructor stops every loop and waits for its lcore (rte_eal_wait_lcore).
// Per worker it reports the loop's counters: passes, busy and idle TSC cycles, packets moved.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/base/result.h"
#include "daemon/telemetry/snapshot.h"
#include "daemon/workers/poll_loop.h"
#include "daemon/workers/poll_target.h"

namespace pmdnet::workers {

struct WorkerSpec {
  uint32_t lcore = 0;
  IdlePolicy idle = IdlePolicy::kAdaptive;
};

// A target and the index (into the pool) of the worker that polls it.
struct Placement {
  PollTarget* target = nullptr;
  size_t worker = 0;
};

class WorkerPool {
 public:
  // Launches the loops. Errors: an lcore that EAL does not have, is the main lcore, or is busy.
  static Result<std::unique_ptr<WorkerPool>> start(const std::vector<WorkerSpec>& specs);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  size_t size() const noexcept { return workers_.size(); }
  uint32_t lcore(size_t worker) const noexcept;
  // The index of the worker on `lcore`, or -1.
  int index_of_lcore(uint32_t lcore) const noexcept;

  // Replaces `owner`'s targets with `placed` (control plane; thread-safe).
  void set_targets(const void* owner, std::span<const Placement> placed);

  std::vector<telemetry::WorkerSnapshot> snapshot() const;

 private:
  struct alignas(64) Worker {
    explicit Worker(WorkerSpec s) noexcept : spec(s), loop(s.idle) {}
    const WorkerSpec spec;
    PollLoop loop;
    bool launched = false;
  };

  WorkerPool() = default;
  static int run(void* worker) noexcept;
  void stop_all() noexcept;

  std::vector<std::unique_ptr<Worker>> workers_;
  mutable std::mutex control_mutex_;  // control plane only; loops never take it
};

// One port's view of the pool: a PollScheduler that places queue pair p on the worker its
// affinity names, else on worker (base + p) % size (base spreads ports over the workers).
class PortScheduler final : public PollScheduler {
 public:
  // `affinity`: queue pair -> worker index, for the pairs that have one.
  PortScheduler(WorkerPool& pool, std::map<uint32_t, size_t> affinity, size_t base);
  ~PortScheduler() override;

  void set_targets(const void* owner, std::vector<PollTarget*> targets) override;
  // The lcore that polls (or would poll) queue pair `pair`.
  uint32_t lcore_of(uint32_t pair) const noexcept;

 private:
  size_t worker_of(uint32_t pair) const noexcept;

  WorkerPool& pool_;
  const std::map<uint32_t, size_t> affinity_;
  const size_t base_;
  std::mutex mutex_;
  std::vector<const void*> owners_;  // owners with targets placed, cleared on destruction
};

}  // namespace pmdnet::workers
