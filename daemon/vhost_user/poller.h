// Poller: one thread that runs poll() passes over the targets it has been handed, and the
// lock-free handshake (WorkAssignment) by which a control thread hands it a new set of targets and
// learns that the old set is no longer touched. rte_vhost's callbacks use it to attach and detach
// queue pairs (daemon/README.md, rte_vhost traps 4 and 5); pmdnetd's pinned workers reuse
// WorkAssignment.
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
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace pmdnet::vhost_user {

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

// Where a session's running queue pairs get polled: a port's own Poller thread, or the daemon's
// pinned workers (daemon/workers). Control plane; callers serialise per owner.
class PollScheduler {
 public:
  virtual ~PollScheduler() = default;
  // Replaces `owner`'s targets (a VhostSession, typically) and returns once no thread touches
  // the targets that left.
  virtual void set_targets(const void* owner, std::vector<PollTarget*> targets) = 0;
  void clear_targets(const void* owner) { set_targets(owner, {}); }
};

// The single-worker mailbox of the handshake above.
class WorkAssignment {
 public:
  WorkAssignment();
  WorkAssignment(const WorkAssignment&) = delete;
  WorkAssignment& operator=(const WorkAssignment&) = delete;

  // Control side: publishes `targets` and waits until the worker uses them (or has exited).
  void assign(std::vector<PollTarget*> targets);

  // Worker side: the current list, picking up (and acknowledging) a new one if there is one.
  std::span<PollTarget* const> acquire() noexcept;
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

struct PollerOptions {
  // CPUs the thread may run on; empty: inherit the creating thread's affinity (after
  // rte_eal_init that is the main lcore's CPU, which the EAL thread busy-polls too).
  std::vector<int> cpus;
  // After this many idle passes in a row the thread sleeps `idle_sleep_us` between passes, so a
  // port with no traffic does not burn a CPU. 0: never sleep (pure busy polling).
  uint32_t idle_passes_before_sleep = 1024;
  uint32_t idle_sleep_us = 50;
};

// A std::thread that polls the union of the target sets its owners have handed it. Owners are
// keys (a VhostSession, typically); set_targets() replaces one owner's set and returns once the
// thread no longer touches that owner's old targets. pmdnetd uses pinned workers instead
// (daemon/workers); a port without a scheduler of its own (tests, tools) uses this.
class Poller final : public PollScheduler {
 public:
  explicit Poller(PollerOptions options = {});
  ~Poller() override;  // stops the thread
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void set_targets(const void* owner, std::vector<PollTarget*> targets) override;
  // Stops and joins the thread; afterwards set_targets() only records.
  void stop();

  uint64_t passes() const noexcept { return passes_.load(std::memory_order_relaxed); }
  size_t target_count() const;

 private:
  void run() noexcept;

  PollerOptions options_;
  WorkAssignment assignment_;
  mutable std::mutex control_mutex_;  // control plane only; the thread never takes it
  std::map<const void*, std::vector<PollTarget*>> by_owner_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> passes_{0};
  std::thread thread_;
};

}  // namespace pmdnet::vhost_user
