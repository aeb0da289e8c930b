// A move-only owner of a Linux eventfd: the readiness signal that stands in for a Rust waker when
// a control loop waits for something another thread produces.
#pragma once

#include <chrono>

#include "core/base/result.h"

namespace pmdnet {

class EventFd {
 public:
  // A non-blocking, close-on-exec eventfd.
  static Result<EventFd> create();

  EventFd() = default;
  EventFd(EventFd&& other) noexcept;
  EventFd& operator=(EventFd&& other) noexcept;
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;
  ~EventFd();

  int fd() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }

  // Makes the fd readable. Safe from any thread.
  void signal() const noexcept;
  // Resets the fd; returns true if it was signalled.
  bool drain() const noexcept;

 private:
  explicit EventFd(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
};

// Waits until `fd` is readable or `timeout` passes; returns true if readable.
bool wait_readable(int fd, std::chrono::milliseconds timeout) noexcept;

}  // namespace pmdnet
