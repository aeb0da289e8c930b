// PollLoop: the one poll loop of pmdnetd. A pinned worker (worker_pool.h) runs it on an EAL
// worker lcore, a PollThread (poll_thread.h) on a std::thread of its own.
//
// Each pass picks up a new target list if the control side published one (the WorkAssignment
// handshake, work_assignment.h), polls every target, and counts: passes, the TSC cycles of passes
// that moved packets (busy) and of those that did not (idle), and the packets moved (the work the
// passes returned), so that busy_cycles / packets is the loop's cost per packet (telemetry's
// cycles_per_packet). No lock, allocation or syscall while there is traffic.
//
// Idle policy: busy (pure polling) or adaptive (after kIdlePassesBeforeSleep empty passes in a
// row, sleep kIdleSleepUs per pass with a kIdleTimerSlackNs timer slack, so traffic is seen within
// ~50 us).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "core/base/counter.h"
#include "daemon/workers/poll_target.h"
#include "daemon/workers/work_assignment.h"

namespace pmdnet::workers {

enum class IdlePolicy : uint8_t { kBusy, kAdaptive };

inline constexpr uint32_t kIdlePassesBeforeSleep = 256;
inline constexpr uint32_t kIdleSleepUs = 20;
// The idle sleep must not be stretched by the default 50 us timer slack.
inline constexpr unsigned long kIdleTimerSlackNs = 1000;

// What a loop counts. One writer (the loop), any readers.
struct PollCounters {
  Counter busy_cycles;
  Counter idle_cycles;
  Counter passes;
  Counter packets;  // the sum of what poll() returned: packets moved, both directions
};

class PollLoop {
 public:
  explicit PollLoop(IdlePolicy idle) noexcept : idle_(idle) {}
  PollLoop(const PollLoop&) = delete;
  PollLoop& operator=(const PollLoop&) = delete;

  // On the thread that polls, once: runs passes until stop(), then lets go of every target (and
  // every later set_targets() returns at once).
  void run() noexcept;
  // Any thread: run() returns after its current pass.
  void stop() noexcept { stop_.store(true, std::memory_order_release); }

  // Control side (callers serialise): replaces `owner`'s targets and returns once the loop no
  // longer touches the targets that left.
  void set_targets(const void* owner, std::vector<PollTarget*> targets);
  // The number of targets the loop polls (any thread).
  size_t target_count() const noexcept { return target_count_.load(std::memory_order_relaxed); }

  IdlePolicy idle() const noexcept { return idle_; }
  const PollCounters& counters() const noexcept { return counters_; }

 private:
  const IdlePolicy idle_;
  std::atomic<bool> stop_{false};
  WorkAssignment assignment_;
  PollCounters counters_;
  // Control side.
  std::map<const void*, std::vector<PollTarget*>> by_owner_;
  std::atomic<size_t> target_count_{0};
};

}  // namespace pmdnet::workers
