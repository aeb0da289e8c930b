// TimerFd: timerfd(2) wrapped for RAII, armed periodic at creation.
#include "core/base/timer_fd.h"

#include <fmt/format.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace pmdnet {

Result<TimerFd> TimerFd::create(uint32_t period_ms) {
  const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) {
    return make_error(Errc::kResource, fmt::format("timerfd_create: {}", std::strerror(errno)));
  }
  TimerFd t(fd);
  const auto ms = std::max<uint32_t>(period_ms, 1);
  itimerspec spec{};
  spec.it_interval.tv_sec = ms / 1000;
  spec.it_interval.tv_nsec = static_cast<long>(ms % 1000) * 1000000;
  spec.it_value = spec.it_interval;
  if (::timerfd_settime(fd, 0, &spec, nullptr) != 0) {
    return make_error(Errc::kResource, fmt::format("timerfd_settime: {}", std::strerror(errno)));
  }
  return t;
}

TimerFd::TimerFd(TimerFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

// The old fd goes to `other`, which closes it.
TimerFd& TimerFd::operator=(TimerFd&& other) noexcept {
  std::swap(fd_, other.fd_);
  return *this;
}

TimerFd::~TimerFd() {
  if (fd_ >= 0) ::close(fd_);
}

bool TimerFd::drain() const noexcept {
  uint64_t expirations = 0;
  return ::read(fd_, &expirations, sizeof(expirations)) == sizeof(expirations);
}

}  // namespace pmdnet
