// TelemetryClient over a SOCK_SEQPACKET AF_UNIX socket, with receive timeouts and MSG_NOSIGNAL
// so a daemon that goes away is an error, not a hang or a SIGPIPE.
#include "daemon/pmdnetctl/client.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace pmdnet::ctl {
namespace {

// DPDK replies fit in MAX_OUTPUT_LEN (16384); a bigger buffer makes truncation impossible.
constexpr size_t kReceiveBuffer = 1 << 17;
// DPDK reads requests into a 1024-byte buffer, NUL included.
constexpr size_t kMaxRequest = 1023;

}  // namespace

Result<TelemetryClient> TelemetryClient::connect(const std::string& path,
                                                 std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return make_error(Errc::kInvalidArgument, fmt::format("bad socket path '{}': 1 to {} bytes",
                                                          path, sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return make_error(Errc::kIo, fmt::format("socket(): {}", std::strerror(errno)));
  }
  TelemetryClient client(fd);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    const Errc code = err == ENOENT || err == ECONNREFUSED ? Errc::kClosed : Errc::kIo;
    return make_error(code, fmt::format("connect({}): {}", path, std::strerror(err)));
  }
  auto greeting = client.receive();
  if (!greeting) return std::unexpected(greeting.error());
  if (!greeting->starts_with('{') || greeting->find("\"max_output_len\"") == std::string::npos) {
    return make_error(Errc::kMalformed,
                      fmt::format("{} is not a DPDK telemetry v2 socket: greeting '{}'", path,
                                  greeting->substr(0, 200)));
  }
  client.greeting_ = std::move(*greeting);
  return client;
}

TelemetryClient::TelemetryClient(TelemetryClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), greeting_(std::move(other.greeting_)) {}

TelemetryClient& TelemetryClient::operator=(TelemetryClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    greeting_ = std::move(other.greeting_);
  }
  return *this;
}

TelemetryClient::~TelemetryClient() {
  if (fd_ >= 0) ::close(fd_);
}

// NOLINTNEXTLINE(readability-make-member-function-const): a read consumes the socket
Result<std::string> TelemetryClient::receive() {
  std::vector<char> buffer(kReceiveBuffer);
  ssize_t n = 0;
  do {
    n = ::recv(fd_, buffer.data(), buffer.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return make_error(Errc::kIo, "timed out waiting for the telemetry reply");
    }
    return make_error(Errc::kIo, fmt::format("recv: {}", std::strerror(errno)));
  }
  if (n == 0) {
    return make_error(Errc::kClosed,
                      "the telemetry socket closed the connection (too many clients, or the "
                      "process is exiting)");
  }
  return std::string(buffer.data(), static_cast<size_t>(n));
}

Result<std::string> TelemetryClient::request(std::string_view request) {
  if (request.empty() || request.front() != '/' || request.size() > kMaxRequest) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("bad telemetry request '{}'", request.substr(0, 80)));
  }
  ssize_t n = 0;
  do {
    n = ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EPIPE || errno == ECONNRESET) {
      return make_error(Errc::kClosed, "the telemetry socket closed the connection");
    }
    return make_error(Errc::kIo, fmt::format("send: {}", std::strerror(errno)));
  }
  return receive();
}

}  // namespace pmdnet::ctl
