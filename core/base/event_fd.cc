// EventFd: eventfd(2) wrapped for RAII, plus a poll(2)-based wait.
#include "core/base/event_fd.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

namespace pmdnet {

Result<EventFd> EventFd::create() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    return make_error(Errc::kIo, std::string("eventfd: ") + std::strerror(errno));
  }
  return EventFd(fd);
}

EventFd::EventFd(EventFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

EventFd& EventFd::operator=(EventFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

EventFd::~EventFd() {
  if (fd_ >= 0) ::close(fd_);
}

void EventFd::signal() const noexcept {
  uint64_t one = 1;
  // EAGAIN means the counter is saturated, which is still "signalled".
  [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof(one));
}

bool EventFd::drain() const noexcept {
  uint64_t value = 0;
  return ::read(fd_, &value, sizeof(value)) == sizeof(value);
}

bool wait_readable(int fd, std::chrono::milliseconds timeout) noexcept {
  // poll(2) takes an int and reads a negative one as "forever": clamp, so a timeout that has
  // already passed returns at once and a huge one cannot wrap negative.
  const int ms = static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(
      timeout.count(), 0, std::numeric_limits<int>::max()));
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  int rc;
  do {
    rc = ::poll(&p, 1, ms);
  } while (rc < 0 && errno == EINTR);
  return rc > 0 && (p.revents & POLLIN) != 0;
}

}  // namespace pmdnet
