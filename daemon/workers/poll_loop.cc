// PollLoop: the pass loop and its idle policy (see poll_loop.h).
#include "daemon/workers/poll_loop.h"

#include <rte_cycles.h>
#include <sys/prctl.h>
#include <time.h>  // NOLINT(modernize-deprecated-headers): nanosleep is POSIX, not <ctime>

namespace pmdnet::workers {

void PollLoop::run() noexcept {
  const bool adaptive = idle_ == IdlePolicy::kAdaptive;
  (void)prctl(PR_SET_TIMERSLACK, kIdleTimerSlackNs, 0, 0, 0);
  const timespec nap{0, long{kIdleSleepUs} * 1000};
  uint32_t idle_passes = 0;
  uint64_t last = rte_rdtsc();
  while (!stop_.load(std::memory_order_acquire)) {
    size_t work = 0;
    for (PollTarget* t : assignment_.acquire()) work += t->poll();
    counters_.passes.increment();
    if (work != 0) {
      idle_passes = 0;
      const uint64_t now = rte_rdtsc();
      counters_.packets.add(work);
      counters_.busy_cycles.add(now - last);
      last = now;
      continue;
    }
    if (adaptive && ++idle_passes >= kIdlePassesBeforeSleep) (void)nanosleep(&nap, nullptr);
    const uint64_t now = rte_rdtsc();
    counters_.idle_cycles.add(now - last);
    last = now;
  }
  assignment_.worker_exited();
}

void PollLoop::set_targets(const void* owner, std::vector<PollTarget*> targets) {
  if (targets.empty()) {
    if (by_owner_.erase(owner) == 0) return;  // it had none: nothing changes
  } else {
    by_owner_[owner] = std::move(targets);
  }
  std::vector<PollTarget*> all;
  for (const auto& [key, list] : by_owner_) all.insert(all.end(), list.begin(), list.end());
  target_count_.store(all.size(), std::memory_order_relaxed);
  assignment_.assign(std::move(all));  // returns once the loop let go of the old list
}

}  // namespace pmdnet::workers
