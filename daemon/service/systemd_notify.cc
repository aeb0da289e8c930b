// SystemdNotifier: the notify messages as strings, sent with libsystemd's sd_notify.
#include "daemon/service/systemd_notify.h"

#include <fmt/format.h>
#include <systemd/sd-daemon.h>
#include <time.h>  // NOLINT(modernize-deprecated-headers): clock_gettime is POSIX, not <ctime>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace pmdnet::service {
namespace {

// CLOCK_MONOTONIC in microseconds, as systemd's now(CLOCK_MONOTONIC).
uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000;
}

// The notify protocol is newline-separated assignments: keep a value on one line.
std::string one_line(std::string_view text) {
  std::string line(text);
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return line;
}

}  // namespace

bool SystemdNotifier::enabled() const { return std::getenv("NOTIFY_SOCKET") != nullptr; }

Result<void> SystemdNotifier::ready(std::string_view status_text) {
  if (status_text.empty()) return notify("READY=1");
  return notify(fmt::format("READY=1\nSTATUS={}", one_line(status_text)));
}

Result<void> SystemdNotifier::reloading() {
  return notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
}

Result<void> SystemdNotifier::stopping() { return notify("STOPPING=1"); }

Result<void> SystemdNotifier::status(std::string_view text) {
  return notify(fmt::format("STATUS={}", one_line(text)));
}

Result<void> SystemdNotifier::watchdog() { return notify("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> SystemdNotifier::watchdog_interval() const {
  uint64_t usec = 0;
  if (::sd_watchdog_enabled(/*unset_environment=*/0, &usec) <= 0 || usec == 0) {
    return std::nullopt;
  }
  return std::chrono::microseconds(std::max<uint64_t>(usec / 2, 1));
}

Result<void> SystemdNotifier::notify(std::string_view state) {
  const char* notify_socket = std::getenv("NOTIFY_SOCKET");
  if (notify_socket == nullptr) return {};
  const std::string message(state);
  // > 0: sent; 0: nothing to send to; < 0: -errno (socket missing, bad address, ...).
  const int rc = ::sd_notify(/*unset_environment=*/0, message.c_str());
  if (rc < 0) {
    return make_error(Errc::kIo, fmt::format("sd_notify({}) to {}: {}", one_line(state),
                                             notify_socket, std::strerror(-rc)));
  }
  return {};
}

}  // namespace pmdnet::service
