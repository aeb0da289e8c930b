// TelemetryClient: one connection to DPDK's telemetry v2 socket (SOCK_SEQPACKET): a JSON greeting
// on connect, then one request message ("/cmd" or "/cmd,params") and one JSON reply message each.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "core/base/result.h"

namespace pmdnet::ctl {

class TelemetryClient {
 public:
  // Connects to `path` and reads the greeting. Each read waits at most `timeout`.
  // Errors: kClosed when nobody listens there (no such file, or connection refused: a socket
  // left by a dead process) or the server hangs up at once (DPDK does past 10 clients); kIo for
  // other failures; kMalformed for a greeting that is not DPDK's.
  static Result<TelemetryClient> connect(
      const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  TelemetryClient(TelemetryClient&& other) noexcept;
  TelemetryClient& operator=(TelemetryClient&& other) noexcept;
  TelemetryClient(const TelemetryClient&) = delete;
  TelemetryClient& operator=(const TelemetryClient&) = delete;
  ~TelemetryClient();

  // Sends `request` and returns the reply's text. Errors: kInvalidArgument for a request DPDK
  // cannot take (empty, not starting with '/', 1024 bytes or more), kIo, kClosed.
  Result<std::string> request(std::string_view request);

  // The greeting: {"version":"DPDK 22.11.x","pid":N,"max_output_len":16384}.
  const std::string& greeting() const { return greeting_; }

 private:
  explicit TelemetryClient(int fd) : fd_(fd) {}
  Result<std::string> receive();

  int fd_ = -1;
  std::string greeting_;
};

}  // namespace pmdnet::ctl
