// WorkAssignment: the lock-free handshake by which a control thread hands one poll loop
// (poll_loop.h) a new set of targets and learns that the old set is no longer touched.
// rte_vhost's callbacks use it, through a PollScheduler, to attach and detach queue pairs
// (docs/vhost_user.md: quiesce before the library acts; callbacks run on the library's threads).
//
// Handshake, for one worker:
//   1. The control side (one thread at a time; callers serialise) publishes a new target list:
//      a pointer and a generation, both atomics, release order.
//   2. At the top of each pass the worker compares the generation with the one it last saw; if it
//      moved, it loads the new list and stores the generation as acknowledged (release). It
//      touches targets only between two such checks, so once the ack for generation g is out it
//      will never again touch a target that is not in list g.
//   3. assign() returns when the ack reaches its generation (or the worker has exited). Only
//      then may the caller tear down targets that left the list.
// The worker takes no lock and makes no syscall for this; the control side waits by yielding.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "daemon/workers/poll_target.h"

namespace pmdnet::workers {

// The single-worker mailbox of the handshake above.
class WorkAssignment {
 public:
  WorkAssignment();
  WorkAssignment(const WorkAssignment&) = delete;
  WorkAssignment& operator=(const WorkAssignment&) = delete;

  // Control side: publishes `targets` and waits until the worker uses them (or has exited).
  void assign(std::vector<PollTarget*> targets);

  // Worker side: the current list, picking up (and acknowledging) a new one if there is one.
  // Once per pass, so inline: one acquire load when nothing changed.
  std::span<PollTarget* const> acquire() noexcept {
    const uint64_t gen = generation_.load(std::memory_order_acquire);
    if (gen != seen_) {
      in_use_ = published_.load(std::memory_order_acquire);
      seen_ = gen;
      acked_.store(gen, std::memory_order_release);
    }
    return *in_use_;
  }
  // Worker side: the worker will poll no more; every later assign() returns at once.
  void worker_exited() noexcept;

  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  uint64_t acknowledged() const noexcept { return acked_.load(std::memory_order_acquire); }

 private:
  std::unique_ptr<std::vector<PollTarget*>> current_;  // control side: the published list
  std::atomic<const std::vector<PollTarget*>*> published_{nullptr};
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> acked_{0};
  std::atomic<bool> exited_{false};
  // Worker side.
  const std::vector<PollTarget*>* in_use_ = nullptr;
  uint64_t seen_ = 0;
};

}  // namespace pmdnet::workers
