// ConnectionSocket: /proc/self/fd scanned for the connection's socket, and the socket options and
// queries that guard it.
#include "daemon/vhost_user/connection_socket.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace pmdnet::vhost_user {

namespace {

// The path of a unix socket name, or "" (unnamed, abstract, or not a unix socket).
std::string unix_path(const sockaddr_un& addr, socklen_t len) {
  if (addr.sun_family != AF_UNIX || len <= offsetof(sockaddr_un, sun_path) ||
      addr.sun_path[0] == '\0') {
    return {};
  }
  const size_t max = len - offsetof(sockaddr_un, sun_path);
  return std::string(addr.sun_path, strnlen(addr.sun_path, max));
}

int int_option(int fd, int option) {
  int value = -1;
  socklen_t len = sizeof(value);
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &len) != 0) return -1;
  return value;
}

bool hung_up(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace

ConnectionSocket::~ConnectionSocket() {
  if (fd_ >= 0) ::close(fd_);
}

ConnectionSocket& ConnectionSocket::operator=(ConnectionSocket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

ConnectionSocket ConnectionSocket::find(const std::string& path, bool client_mode,
                                        const ConnectionSocket* other) {
  struct stat other_st {};
  const bool have_other =
      other != nullptr && other->valid() && ::fstat(other->fd(), &other_st) == 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return {};
  const int dir_fd = ::dirfd(dir);
  int best = -1;
  ino_t best_ino = 0;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long n = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || n < 0 || n == dir_fd) continue;
    const int fd = static_cast<int>(n);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (have_other && st.st_ino == other_st.st_ino && st.st_dev == other_st.st_dev) continue;
    if (int_option(fd, SO_DOMAIN) != AF_UNIX || int_option(fd, SO_TYPE) != SOCK_STREAM ||
        int_option(fd, SO_ACCEPTCONN) != 0) {
      continue;
    }
    sockaddr_un local{};
    sockaddr_un peer{};
    socklen_t local_len = sizeof(local);
    socklen_t peer_len = sizeof(peer);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
      continue;  // not connected
    }
    const std::string local_path = unix_path(local, local_len);
    // Server mode: accepted on `path`, so named after it. Client mode: connected to `path` from
    // an unnamed socket (the listener's own accepted end, in this process too, is named).
    const bool match =
        client_mode ? unix_path(peer, peer_len) == path && local_path != path : local_path == path;
    if (!match || hung_up(fd)) continue;
    if (best < 0 || st.st_ino > best_ino) {  // inode numbers grow: the newest socket
      best = fd;
      best_ino = st.st_ino;
    }
  }
  ConnectionSocket found;
  if (best >= 0) found.fd_ = ::fcntl(best, F_DUPFD_CLOEXEC, 0);
  ::closedir(dir);
  return found;
}

Result<void> ConnectionSocket::set_timeouts(std::chrono::milliseconds timeout) const {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  const timeval tv{.tv_sec = static_cast<time_t>(us / 1000000),
                   .tv_usec = static_cast<suseconds_t>(us % 1000000)};
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
    return make_error(Errc::kDevice, fmt::format("socket timeouts: {}", std::strerror(errno)));
  }
  return {};
}

std::optional<size_t> ConnectionSocket::unread_bytes() const {
  int queued = 0;
  if (fd_ < 0 || ::ioctl(fd_, SIOCOUTQ, &queued) != 0 || queued < 0) return std::nullopt;
  return static_cast<size_t>(queued);
}

bool ConnectionSocket::peer_gone() const { return fd_ < 0 || hung_up(fd_); }

void ConnectionSocket::shut_down() const {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

}  // namespace pmdnet::vhost_user
