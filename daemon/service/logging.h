// pmdnetd's logging setup: spdlog's default logger, writing to stderr (journald-friendly when
// stderr is the journal), to the journal itself, or to a file, as the configuration says.
//
// After init_logging succeeds, code anywhere in the process logs with spdlog::info(...) etc. The
// default logger is created once and never replaced: a later init_logging (on reload) swaps the
// sink inside it under a lock, so threads that are logging at that moment are safe. Leave
// spdlog::set_pattern / set_formatter alone: they would reach that sink and replace its format.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "config/config.h"
#include "core/base/result.h"

namespace pmdnet::service {

// The name of the default logger, and the journal's SYSLOG_IDENTIFIER with sink journal.
inline constexpr std::string_view kLoggerName = "pmdnetd";

// How the stderr sink formats a line.
enum class StderrStyle : uint8_t {
  // stderr is connected to the journal (sd-daemon(3)): "<6>message", the "<N>" being the syslog
  // priority journald reads; no timestamp, since the journal adds its own.
  kJournal,
  // Anything else: "2024-05-01 12:00:00.123 [info] message".
  kTimestamped,
};

// kJournal when $JOURNAL_STREAM is set and names the device and inode of `fd` (as systemd sets
// it for a unit whose stderr goes to the journal; the check keeps a child whose stderr was
// redirected elsewhere from using the journal format), otherwise kTimestamped.
StderrStyle detect_stderr_style(int fd);

// The level in effect: the --log-level override if given, else logging.level.
config::LogLevel effective_log_level(const config::Logging& logging,
                                     std::optional<config::LogLevel> level_override);

// Points spdlog's default logger at the sink `logging` names, at effective_log_level(), and
// flushes it after every line. Call it once at start, before any thread logs, and again on
// reload: the new sink is opened first, so on error the previous sink and level stay in place;
// with sink file the file is reopened, so a rotated log file is picked up.
//   stderr:  stderr, in the detect_stderr_style(STDERR_FILENO) format.
//   journal: sd_journal_send, with priority and SYSLOG_IDENTIFIER=pmdnetd.
//   file:    appended to logging.file, in the timestamped format. The directory must exist.
// Errors: kIo naming the file when it cannot be opened for appending; kUnsupported for sink
// journal when there is no journald socket; kInvalidArgument for sink file without a file.
Result<void> init_logging(const config::Logging& logging,
                          std::optional<config::LogLevel> level_override);

// Sets the default logger's level only (e.g. on a reload that changed nothing else).
void set_log_level(config::LogLevel level);

// Writes out whatever the default logger's sink buffers (before exit, or in tests).
void flush_logging();

}  // namespace pmdnet::service
