// PollThread: a std::thread that runs a PollLoop (poll_loop.h) over the union of the target sets
// its owners have handed it. pmdnetd polls on its pinned workers (worker_pool.h) instead; a
// VhostUserPort without a scheduler of its own (tests, tools) uses this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "daemon/workers/poll_loop.h"
#include "daemon/workers/poll_target.h"

namespace pmdnet::workers {

struct PollThreadOptions {
  // CPUs the thread may run on; empty: inherit the creating thread's affinity (after
  // rte_eal_init that is the main lcore's CPU, which the EAL thread busy-polls too).
  std::vector<int> cpus;
  // Adaptive: a port with no traffic does not burn a CPU.
  IdlePolicy idle = IdlePolicy::kAdaptive;
};

// Owners are keys (a VhostSession, typically); set_targets() replaces one owner's set and returns
// once the thread no longer touches that owner's old targets.
class PollThread final : public PollScheduler {
 public:
  explicit PollThread(const PollThreadOptions& options = {});
  ~PollThread() override;  // stops the thread
  PollThread(const PollThread&) = delete;
  PollThread& operator=(const PollThread&) = delete;

  void set_targets(const void* owner, std::vector<PollTarget*> targets) override;
  // Stops and joins the thread; afterwards set_targets() only records.
  void stop();

  uint64_t passes() const noexcept { return loop_.counters().passes.get(); }
  size_t target_count() const noexcept { return loop_.target_count(); }

 private:
  std::mutex control_mutex_;  // control plane only; the thread never takes it
  PollLoop loop_;
  std::thread thread_;
};

}  // namespace pmdnet::workers
