// Names of the error codes, for logs and telemetry.
#include "core/base/result.h"

namespace pmdnet {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::kInvalidArgument:
      return "invalid argument";
    case Errc::kOutOfRange:
      return "out of range";
    case Errc::kOverflow:
      return "overflow";
    case Errc::kMalformed:
      return "malformed";
    case Errc::kUnsupported:
      return "unsupported";
    case Errc::kState:
      return "wrong state";
    case Errc::kClosed:
      return "closed";
    case Errc::kResource:
      return "out of resources";
    case Errc::kIo:
      return "i/o error";
    case Errc::kDevice:
      return "device error";
  }
  return "unknown error";
}

}  // namespace pmdnet
