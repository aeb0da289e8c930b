// A move-only owner of a periodic Linux timerfd: readable once each period has passed, for a
// control loop that must look at something nobody signals (a port's link without LSC interrupts).
#pragma once

#include <cstdint>

#include "core/base/result.h"

namespace pmdnet {

class TimerFd {
 public:
  // A non-blocking, close-on-exec timerfd on CLOCK_MONOTONIC that fires every `period_ms`
  // milliseconds (at least 1), the first time one period from now.
  static Result<TimerFd> create(uint32_t period_ms);

  TimerFd() = default;
  TimerFd(TimerFd&& other) noexcept;
  TimerFd& operator=(TimerFd&& other) noexcept;
  TimerFd(const TimerFd&) = delete;
  TimerFd& operator=(const TimerFd&) = delete;
  ~TimerFd();

  int fd() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }

  // Resets the fd until the next expiry; returns true if it had fired since the last drain.
  bool drain() const noexcept;

 private:
  explicit TimerFd(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace pmdnet
