// init_logging and friends: one process-wide spdlog logger whose single sink (stderr, journal or
// file) is swapped through a dist_sink, plus the sd-daemon "<N>" line format for stderr.
#include "daemon/service/logging.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace pmdnet::service {
namespace {

// Where journald listens for sd_journal_send (systemd's default; the same in every release).
constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

// "2024-05-01 12:00:00.123 [info] message": local time, millisecond resolution.
constexpr const char* kTimestampedPattern = "%Y-%m-%d %H:%M:%S.%e [%l] %v";

// Log files are readable by the owner's group (e.g. adm), not by everyone.
constexpr mode_t kLogFileMode = 0640;

spdlog::level::level_enum to_spdlog(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::kTrace:
      return spdlog::level::trace;
    case config::LogLevel::kDebug:
      return spdlog::level::debug;
    case config::LogLevel::kInfo:
      return spdlog::level::info;
    case config::LogLevel::kWarn:
      return spdlog::level::warn;
    case config::LogLevel::kError:
      return spdlog::level::err;
    case config::LogLevel::kCritical:
      return spdlog::level::critical;
    case config::LogLevel::kOff:
    case config::LogLevel::kCount:
      break;
  }
  return spdlog::level::off;
}

// The sd-daemon(3) prefix journald reads as the line's syslog priority.
std::string_view priority_prefix(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return SD_DEBUG;
    case spdlog::level::warn:
      return SD_WARNING;
    case spdlog::level::err:
      return SD_ERR;
    case spdlog::level::critical:
      return SD_CRIT;
    default:
      return SD_INFO;
  }
}

// "<N>message\n". journald reads a stream line by line, and a line without a prefix gets the
// stream's default priority, so every line of a multi-line message carries the prefix.
class JournalStreamFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view prefix = priority_prefix(msg.level);
    std::string_view rest(msg.payload.data(), msg.payload.size());
    while (true) {
      const size_t nl = rest.find('\n');
      const std::string_view line = rest.substr(0, nl);
      dest.append(prefix.data(), prefix.data() + prefix.size());
      dest.append(line.data(), line.data() + line.size());
      dest.push_back('\n');
      if (nl == std::string_view::npos || nl + 1 == rest.size()) break;
      rest.remove_prefix(nl + 1);
    }
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JournalStreamFormatter>();
  }
};

// The one logger of the process and the dist_sink inside it. Created on the first init_logging
// and never replaced: spdlog::default_logger_raw() hands out a bare pointer that other threads may
// hold while we reconfigure, so only the dist_sink's contents (swapped under its mutex) change.
struct LoggerState {
  std::mutex mutex;
  std::shared_ptr<spdlog::sinks::dist_sink_mt> dist;
  std::shared_ptr<spdlog::logger> logger;
};

LoggerState& logger_state() {
  static LoggerState state;
  return state;
}

Result<spdlog::sink_ptr> make_stderr_sink() {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (detect_stderr_style(STDERR_FILENO) == StderrStyle::kJournal) {
    sink->set_formatter(std::make_unique<JournalStreamFormatter>());
  } else {
    sink->set_pattern(kTimestampedPattern);
  }
  return sink;
}

Result<spdlog::sink_ptr> make_journal_sink() {
  struct stat st {};
  const int err = ::stat(kJournalSocket, &st) != 0 ? errno : S_ISSOCK(st.st_mode) ? 0 : ENOTSOCK;
  if (err != 0) {
    return make_error(Errc::kUnsupported,
                      fmt::format("logging.sink journal: no journald socket at {}: {}",
                                  kJournalSocket, std::strerror(err)));
  }
  // Without formatting: the journal stores the bare message with PRIORITY= and its own timestamp.
  return std::make_shared<spdlog::sinks::systemd_sink_mt>(std::string(kLoggerName), false);
}

Result<spdlog::sink_ptr> make_file_sink(const std::filesystem::path& path) {
  if (path.empty()) {
    return make_error(Errc::kInvalidArgument, "logging.sink file needs logging.file");
  }
  // Open it ourselves first: spdlog's own failure message loses errno to its retries, and it
  // would create missing parent directories, which we leave to the operator (or systemd's
  // LogsDirectory=).
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, kLogFileMode);
  if (fd < 0) {
    return make_error(Errc::kIo, fmt::format("logging.file {}: cannot open for appending: {}",
                                             path.string(), std::strerror(errno)));
  }
  ::close(fd);
  try {
    auto sink =
        std::make_shared<spdlog::sinks::basic_file_sink_mt>(path.string(), /*truncate=*/false);
    sink->set_pattern(kTimestampedPattern);
    return sink;
  } catch (const std::exception& e) {
    return make_error(Errc::kIo, fmt::format("logging.file {}: cannot open for appending: {}",
                                             path.string(), e.what()));
  }
}

Result<spdlog::sink_ptr> make_sink(const config::Logging& logging) {
  switch (logging.sink) {
    case config::LogSink::kStderr:
      return make_stderr_sink();
    case config::LogSink::kJournal:
      return make_journal_sink();
    case config::LogSink::kFile:
      return make_file_sink(logging.file);
    case config::LogSink::kCount:
      break;
  }
  return make_error(Errc::kInvalidArgument, "logging.sink: unknown sink");
}

}  // namespace

StderrStyle detect_stderr_style(int fd) {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return StderrStyle::kTimestamped;
  // "<device>:<inode>", both decimal.
  const std::string_view value(env);
  const size_t colon = value.find(':');
  if (colon == std::string_view::npos) return StderrStyle::kTimestamped;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  const char* end = value.data() + value.size();
  // NOLINTNEXTLINE(bugprone-suspicious-stringview-data-usage): from_chars takes the end too
  const auto [dev_end, dev_ec] = std::from_chars(value.data(), value.data() + colon, dev);
  const auto [ino_end, ino_ec] = std::from_chars(value.data() + colon + 1, end, ino);
  if (dev_ec != std::errc() || dev_end != value.data() + colon || ino_ec != std::errc() ||
      ino_end != end) {
    return StderrStyle::kTimestamped;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return StderrStyle::kTimestamped;
  if (static_cast<unsigned long long>(st.st_dev) != dev ||
      static_cast<unsigned long long>(st.st_ino) != ino) {
    return StderrStyle::kTimestamped;
  }
  return StderrStyle::kJournal;
}

config::LogLevel effective_log_level(const config::Logging& logging,
                                     std::optional<config::LogLevel> level_override) {
  return level_override.value_or(logging.level);
}

Result<void> init_logging(const config::Logging& logging,
                          std::optional<config::LogLevel> level_override) {
  try {
    // Open the new sink before touching the running logger: a failure leaves it as it was.
    auto sink = make_sink(logging);
    if (!sink) return std::unexpected(std::move(sink.error()));

    LoggerState& state = logger_state();
    std::lock_guard lock(state.mutex);
    if (!state.logger) {
      state.dist = std::make_shared<spdlog::sinks::dist_sink_mt>();
      state.logger = std::make_shared<spdlog::logger>(std::string(kLoggerName), state.dist);
      // Every line is flushed: the daemon logs on its control path only, and a line that is
      // still buffered when the process dies is the line one needs.
      state.logger->flush_on(spdlog::level::trace);
    }
    state.dist->set_sinks({std::move(*sink)});
    state.logger->set_level(to_spdlog(effective_log_level(logging, level_override)));
    if (spdlog::default_logger_raw() != state.logger.get()) {
      spdlog::set_default_logger(state.logger);
    }
    return {};
  } catch (const std::exception& e) {
    return make_error(Errc::kResource, fmt::format("logging setup failed: {}", e.what()));
  }
}

void set_log_level(config::LogLevel level) {
  spdlog::default_logger_raw()->set_level(to_spdlog(level));
}

void flush_logging() { spdlog::default_logger_raw()->flush(); }

}  // namespace pmdnet::service
