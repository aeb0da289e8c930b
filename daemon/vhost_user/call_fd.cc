// prepare_call_fd / notify_call_fd: an eventfd check through /proc/self/fd, and O_NONBLOCK.
#include "daemon/vhost_user/call_fd.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pmdnet::vhost_user {

Result<void> prepare_call_fd(int fd) {
  if (fd < 0) return {};
  // An eventfd's /proc/self/fd link reads "anon_inode:[eventfd]"; fstat cannot tell it from the
  // other anonymous inodes (signalfd, timerfd, epoll).
  char target[64] = {};
  const std::string link = fmt::format("/proc/self/fd/{}", fd);
  const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
  if (n < 0) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("call fd {} cannot be inspected: {}", fd, std::strerror(errno)));
  }
  const std::string_view kind(target, static_cast<size_t>(n));
  if (kind != "anon_inode:[eventfd]") {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("call fd {} is not an eventfd ({})", fd, kind));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ((flags & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)) {
    return make_error(
        Errc::kInvalidArgument,
        fmt::format("call fd {} cannot be made non-blocking: {}", fd, std::strerror(errno)));
  }
  return {};
}

void notify_call_fd(int fd) noexcept {
  if (fd < 0) return;
  const uint64_t one = 1;
  // EAGAIN: the counter is at its maximum, so the guest has a notification pending anyway.
  (void)::write(fd, &one, sizeof(one));
}

}  // namespace pmdnet::vhost_user
