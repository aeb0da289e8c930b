// PollTarget, what a poll loop polls (one queue pair), and PollScheduler, the seam through which
// a vhost-user session hands its running queue pairs to whatever polls them: pmdnetd's pinned
// workers (PortScheduler, worker_pool.h) or a PollThread (poll_thread.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pmdnet::workers {

// Something a worker polls: one queue pair, with whatever per-pass hooks it needs.
class PollTarget {
 public:
  virtual ~PollTarget() = default;
  // One pass. Returns the work done (packets moved); 0 means idle. Data plane: no locks, no
  // allocation, no exceptions.
  virtual size_t poll() noexcept = 0;
  // The virtio queue pair this target serves (for placement by affinity).
  virtual uint32_t queue_pair() const noexcept { return 0; }
};

// Where a session's running queue pairs get polled: a port's own PollThread, or the daemon's
// pinned workers (PortScheduler). Control plane; callers serialise per owner.
class PollScheduler {
 public:
  virtual ~PollScheduler() = default;
  // Replaces `owner`'s targets (a VhostSession, typically) and returns once no thread touches
  // the targets that left.
  virtual void set_targets(const void* owner, std::vector<PollTarget*> targets) = 0;
  void clear_targets(const void* owner) { set_targets(owner, {}); }
};

}  // namespace pmdnet::workers
