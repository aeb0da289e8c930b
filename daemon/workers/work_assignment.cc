// WorkAssignment (see work_assignment.h for the handshake).
#include "daemon/workers/work_assignment.h"

#include <thread>

namespace pmdnet::workers {

namespace {
const std::vector<PollTarget*> kNoTargets;
}

WorkAssignment::WorkAssignment() : in_use_(&kNoTargets) {}

void WorkAssignment::assign(std::vector<PollTarget*> targets) {
  auto next = std::make_unique<std::vector<PollTarget*>>(std::move(targets));
  published_.store(next.get(), std::memory_order_release);
  const uint64_t gen = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
  // The old list stays alive until the worker has moved past it.
  while (acked_.load(std::memory_order_acquire) < gen && !exited_.load(std::memory_order_acquire)) {
    std::this_thread::yield();
  }
  current_ = std::move(next);
}

void WorkAssignment::worker_exited() noexcept {
  in_use_ = &kNoTargets;
  exited_.store(true, std::memory_order_release);
}

}  // namespace pmdnet::workers
