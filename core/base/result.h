// Result types: `Result<T>` with a message for the control plane, `QueueResult<T>` for the data
// plane, whose error is a code plus a static description and never allocates.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace pmdnet {

// What went wrong, coarse enough for callers to branch on and counters to key on.
enum class Errc : uint8_t {
  kInvalidArgument,  // the caller passed something malformed
  kOutOfRange,       // an address, index or length outside what exists
  kOverflow,         // arithmetic on caller-supplied values would wrap
  kMalformed,        // a structure (segment list, descriptor chain, header) is inconsistent
  kUnsupported,      // the operation or feature is not available here
  kState,            // the object is in the wrong state for the call
  kClosed,           // the other side has gone away
  kResource,         // out of memory, descriptors, mbufs, file descriptors
  kIo,               // a system call failed
  kDevice,           // the device or its driver reported a failure
};

std::string_view to_string(Errc code) noexcept;

// A control-plane error: a code and a human-readable message.
struct Error {
  Errc code;
  std::string message;

  bool operator==(const Error&) const = default;
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> make_error(Errc code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

// A data-plane error: a code and a static string. Constructing one never allocates, so the
// poll loop can return it without breaking its no-allocation rule.
struct QueueError {
  Errc code;
  const char* what;  // a string literal

  bool operator==(const QueueError& other) const noexcept { return code == other.code; }
};

template <class T>
using QueueResult = std::expected<T, QueueError>;

inline std::unexpected<QueueError> make_queue_error(Errc code, const char* what) noexcept {
  return std::unexpected(QueueError{code, what});
}

// Lifts a data-plane error into a control-plane one.
inline Error to_error(const QueueError& e) { return Error{e.code, e.what}; }

}  // namespace pmdnet
