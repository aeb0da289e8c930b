// SystemdNotifier: pmdnetd's side of systemd's Type=notify protocol (sd_notify(3)) and of the
// service watchdog (sd_watchdog_enabled(3)), over libsystemd.
//
// The life of a notified service:
//   start:   ... set up ...            ready()       "READY=1"
//   reload:  reloading()  "RELOADING=1"  ... apply ...  ready()  (systemd waits for READY=1)
//   running: every watchdog_interval(): watchdog()   "WATCHDOG=1"
//   stop:    stopping()   "STOPPING=1"   ... tear down, exit ...
// Every call is a no-op that succeeds when $NOTIFY_SOCKET is unset (not started by systemd).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "core/base/result.h"

namespace pmdnet::service {

class SystemdNotifier {
 public:
  SystemdNotifier() = default;

  // $NOTIFY_SOCKET is set: the calls below send something.
  bool enabled() const;

  // "READY=1", plus "STATUS=<status>" in the same datagram when status is not empty. Sent once
  // start-up is complete, and again when a reload is complete.
  Result<void> ready(std::string_view status = {});

  // "RELOADING=1" and "MONOTONIC_USEC=<now>" (CLOCK_MONOTONIC; systemd 253's Type=notify-reload
  // requires it, older ones ignore it). Follow it with ready() when the reload is done.
  Result<void> reloading();

  // "STOPPING=1": shutdown has begun.
  Result<void> stopping();

  // "STATUS=<text>": the one-line status `systemctl status` shows. Line breaks in `text` become
  // spaces (a newline would start another assignment).
  Result<void> status(std::string_view text);

  // "WATCHDOG=1": the service is alive. Send it every watchdog_interval().
  Result<void> watchdog();

  // Half of $WATCHDOG_USEC, when the watchdog is on for this process ($WATCHDOG_USEC set and
  // $WATCHDOG_PID unset or our pid), as sd_watchdog_enabled(3) recommends; otherwise nullopt.
  std::optional<std::chrono::microseconds> watchdog_interval() const;

 private:
  // sd_notify(0, state). Errors: kIo with the state and errno's text.
  Result<void> notify(std::string_view state);
};

}  // namespace pmdnet::service
