// Tests of init_logging: file sink contents and append/reopen, level filtering and the
// --log-level override, errors that name the path, the stderr formats (timestamped, and the
// sd-daemon "<N>" prefix when $JOURNAL_STREAM names stderr), and the journal sink's precondition.
#include "daemon/service/logging.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/unit/daemon/service/test_env.h"

namespace pmdnet::service {
namespace {

using config::LogLevel;
using config::LogSink;
using testing::read_file;
using testing::ScopedEnv;
using testing::TempDir;

config::Logging file_logging(const std::filesystem::path& file, LogLevel level = LogLevel::kInfo) {
  return config::Logging{.level = level, .sink = LogSink::kFile, .file = file};
}

config::Logging stderr_logging(LogLevel level = LogLevel::kInfo) {
  return config::Logging{.level = level, .sink = LogSink::kStderr};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

// "journal_stream" value systemd would set for the file at `path`: "<st_dev>:<st_ino>".
std::string journal_stream_of(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

// Points fd 2 (and so stdio's stderr) at a file for one scope.
class StderrToFile {
 public:
  explicit StderrToFile(const std::filesystem::path& file) {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << file;
    EXPECT_GE(saved_, 0);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~StderrToFile() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }
  StderrToFile(const StderrToFile&) = delete;
  StderrToFile& operator=(const StderrToFile&) = delete;

 private:
  int saved_ = -1;
};

// "YYYY-MM-DD HH:MM:SS.mmm": the shape of the timestamp (std::regex trips GCC 12's
// -Wmaybe-uninitialized under the sanitizers, so by hand).
bool is_timestamp(std::string_view t) {
  constexpr std::string_view kShape = "dddd-dd-dd dd:dd:dd.ddd";
  if (t.size() != kShape.size()) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    const bool ok = kShape[i] == 'd' ? (t[i] >= '0' && t[i] <= '9') : t[i] == kShape[i];
    if (!ok) return false;
  }
  return true;
}

// A line of the timestamped format at `level` (spdlog's name) with the message `text`.
::testing::AssertionResult is_timestamped_line(const std::string& line, const std::string& level,
                                               const std::string& text) {
  constexpr size_t kTimestampSize = 23;
  const std::string expected_rest = " [" + level + "] " + text;
  if (line.size() < kTimestampSize ||
      !is_timestamp(std::string_view(line).substr(0, kTimestampSize)) ||
      line.substr(kTimestampSize) != expected_rest) {
    return ::testing::AssertionFailure()
           << "'" << line << "' is not '<timestamp>" << expected_rest << "'";
  }
  return ::testing::AssertionSuccess();
}

TEST(LoggingTest, EffectiveLevelPrefersTheOverride) {
  const config::Logging logging{.level = LogLevel::kWarn};
  EXPECT_EQ(effective_log_level(logging, std::nullopt), LogLevel::kWarn);
  EXPECT_EQ(effective_log_level(logging, LogLevel::kTrace), LogLevel::kTrace);
  EXPECT_EQ(effective_log_level(logging, LogLevel::kOff), LogLevel::kOff);
}

TEST(LoggingTest, FileSinkAppendsTimestampedLines) {
  TempDir dir;
  const auto file = dir.path() / "pmdnetd.log";
  { std::ofstream(file) << "from an earlier run\n"; }

  auto r = init_logging(file_logging(file), std::nullopt);
  ASSERT_TRUE(r) << r.error().message;
  spdlog::info("port {} up", "vm0");
  spdlog::warn("careful");
  spdlog::error("bad");
  // Every line is flushed as it is written: no flush_logging() before reading.
  const auto lines = lines_of(read_file(file));
  ASSERT_EQ(lines.size(), 4u) << read_file(file);
  EXPECT_EQ(lines[0], "from an earlier run");
  EXPECT_TRUE(is_timestamped_line(lines[1], "info", "port vm0 up"));
  EXPECT_TRUE(is_timestamped_line(lines[2], "warning", "careful"));
  EXPECT_TRUE(is_timestamped_line(lines[3], "error", "bad"));
}

TEST(LoggingTest, FileSinkCreatesTheFileOwnerAndGroupOnly) {
  TempDir dir;
  const auto file = dir.path() / "new.log";
  ASSERT_TRUE(init_logging(file_logging(file), std::nullopt));
  spdlog::info("x");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0007, 0u) << std::oct << st.st_mode;
}

TEST(LoggingTest, LevelFiltersLowerLevels) {
  TempDir dir;
  const auto file = dir.path() / "l.log";
  ASSERT_TRUE(init_logging(file_logging(file, LogLevel::kWarn), std::nullopt));
  spdlog::trace("t");
  spdlog::debug("d");
  spdlog::info("i");
  spdlog::warn("w");
  spdlog::error("e");
  spdlog::critical("c");
  flush_logging();
  const auto lines = lines_of(read_file(file));
  ASSERT_EQ(lines.size(), 3u) << read_file(file);
  EXPECT_TRUE(is_timestamped_line(lines[0], "warning", "w"));
  EXPECT_TRUE(is_timestamped_line(lines[1], "error", "e"));
  EXPECT_TRUE(is_timestamped_line(lines[2], "critical", "c"));
}

TEST(LoggingTest, TraceLevelLetsEverythingThrough) {
  TempDir dir;
  const auto file = dir.path() / "t.log";
  ASSERT_TRUE(init_logging(file_logging(file, LogLevel::kTrace), std::nullopt));
  spdlog::trace("t");
  spdlog::debug("d");
  EXPECT_EQ(lines_of(read_file(file)).size(), 2u) << read_file(file);
}

TEST(LoggingTest, LevelOffLogsNothing) {
  TempDir dir;
  const auto file = dir.path() / "off.log";
  ASSERT_TRUE(init_logging(file_logging(file, LogLevel::kOff), std::nullopt));
  spdlog::critical("c");
  flush_logging();
  EXPECT_EQ(read_file(file), "");
}

TEST(LoggingTest, OverrideReplacesTheConfiguredLevel) {
  TempDir dir;
  const auto file = dir.path() / "o.log";
  // Configured info, overridden down to debug: debug lines appear.
  ASSERT_TRUE(init_logging(file_logging(file, LogLevel::kInfo), LogLevel::kDebug));
  spdlog::debug("shown");
  // Configured debug, overridden up to error: info lines do not.
  ASSERT_TRUE(init_logging(file_logging(file, LogLevel::kDebug), LogLevel::kError));
  spdlog::info("hidden");
  spdlog::error("shown too");
  const auto lines = lines_of(read_file(file));
  ASSERT_EQ(lines.size(), 2u) << read_file(file);
  EXPECT_TRUE(is_timestamped_line(lines[0], "debug", "shown"));
  EXPECT_TRUE(is_timestamped_line(lines[1], "error", "shown too"));
}

TEST(LoggingTest, SetLogLevelChangesOnlyTheLevel) {
  TempDir dir;
  const auto file = dir.path() / "s.log";
  ASSERT_TRUE(init_logging(file_logging(file, LogLevel::kError), std::nullopt));
  spdlog::info("before");
  set_log_level(LogLevel::kInfo);
  spdlog::info("after");
  const auto lines = lines_of(read_file(file));
  ASSERT_EQ(lines.size(), 1u) << read_file(file);
  EXPECT_TRUE(is_timestamped_line(lines[0], "info", "after"));
}

TEST(LoggingTest, MissingDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  const auto file = dir.path() / "no-such-dir" / "pmdnetd.log";
  auto r = init_logging(file_logging(file), std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kIo);
  EXPECT_NE(r.error().message.find(file.string()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("No such file or directory"), std::string::npos)
      << r.error().message;
  // The directory is not created behind the operator's back.
  EXPECT_FALSE(std::filesystem::exists(file.parent_path()));
}

TEST(LoggingTest, DirectoryAsFileIsAnError) {
  TempDir dir;
  auto r = init_logging(file_logging(dir.path()), std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kIo);
  EXPECT_NE(r.error().message.find(dir.path().string()), std::string::npos) << r.error().message;
}

TEST(LoggingTest, FileSinkWithoutFileIsAnError) {
  auto r = init_logging(config::Logging{.sink = LogSink::kFile}, std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_NE(r.error().message.find("logging.file"), std::string::npos) << r.error().message;
}

TEST(LoggingTest, FailedReinitKeepsTheRunningSinkAndLevel) {
  TempDir dir;
  const auto good = dir.path() / "good.log";
  ASSERT_TRUE(init_logging(file_logging(good, LogLevel::kInfo), std::nullopt));
  spdlog::info("one");
  ASSERT_FALSE(
      init_logging(file_logging(dir.path() / "missing" / "x.log", LogLevel::kTrace), std::nullopt));
  spdlog::debug("still filtered");
  spdlog::info("two");
  const auto lines = lines_of(read_file(good));
  ASSERT_EQ(lines.size(), 2u) << read_file(good);
  EXPECT_TRUE(is_timestamped_line(lines[1], "info", "two"));
}

TEST(LoggingTest, ReinitReopensARotatedFile) {
  TempDir dir;
  const auto file = dir.path() / "r.log";
  const auto rotated = dir.path() / "r.log.1";
  ASSERT_TRUE(init_logging(file_logging(file), std::nullopt));
  spdlog::info("old");
  std::filesystem::rename(file, rotated);
  ASSERT_TRUE(init_logging(file_logging(file), std::nullopt));
  spdlog::info("new");
  ASSERT_EQ(lines_of(read_file(rotated)).size(), 1u);
  EXPECT_TRUE(is_timestamped_line(lines_of(read_file(rotated))[0], "info", "old"));
  ASSERT_EQ(lines_of(read_file(file)).size(), 1u);
  EXPECT_TRUE(is_timestamped_line(lines_of(read_file(file))[0], "info", "new"));
}

TEST(LoggingTest, TheDefaultLoggerIsNeverReplaced) {
  TempDir dir;
  ASSERT_TRUE(init_logging(file_logging(dir.path() / "a.log"), std::nullopt));
  spdlog::logger* first = spdlog::default_logger_raw();
  EXPECT_EQ(first->name(), kLoggerName);
  ASSERT_TRUE(init_logging(file_logging(dir.path() / "b.log"), std::nullopt));
  EXPECT_EQ(spdlog::default_logger_raw(), first);
}

TEST(LoggingTest, ReinitWhileAnotherThreadLogs) {
  TempDir dir;
  const auto a = dir.path() / "a.log";
  const auto b = dir.path() / "b.log";
  ASSERT_TRUE(init_logging(file_logging(a), std::nullopt));
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread logger([&] {
    // A raw pointer held across reconfiguration, as SPDLOG_* macros in a worker would.
    spdlog::logger* raw = spdlog::default_logger_raw();
    while (!stop.load()) {
      raw->info("line {}", written.load());
      written.fetch_add(1);
    }
  });
  // Lets the logger write at least one line, so each swap happens between its lines.
  auto wait_for_a_line = [&] {
    const int seen = written.load();
    while (written.load() == seen) std::this_thread::yield();
  };
  wait_for_a_line();
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(init_logging(file_logging(i % 2 == 0 ? b : a), std::nullopt));
    wait_for_a_line();
  }
  stop = true;
  logger.join();
  // Every line went whole to one file or the other.
  size_t total = 0;
  for (const auto& path : {a, b}) {
    for (const auto& line : lines_of(read_file(path))) {
      const size_t number_at = line.rfind(' ') + 1;
      ASSERT_TRUE(is_timestamped_line(line, "info", "line " + line.substr(number_at)));
      ASSERT_NE(number_at, line.size()) << line;
      EXPECT_EQ(line.find_first_not_of("0123456789", number_at), std::string::npos) << line;
      ++total;
    }
  }
  EXPECT_EQ(total, static_cast<size_t>(written.load()));
}

TEST(LoggingTest, StderrTimestampedWithoutJournalStream) {
  TempDir dir;
  const auto captured = dir.path() / "stderr";
  ScopedEnv no_journal("JOURNAL_STREAM", std::nullopt);
  {
    StderrToFile redirect(captured);
    EXPECT_EQ(detect_stderr_style(STDERR_FILENO), StderrStyle::kTimestamped);
    ASSERT_TRUE(init_logging(stderr_logging(), std::nullopt));
    spdlog::info("to stderr");
    spdlog::debug("filtered");
    flush_logging();
  }
  const auto lines = lines_of(read_file(captured));
  ASSERT_EQ(lines.size(), 1u) << read_file(captured);
  EXPECT_TRUE(is_timestamped_line(lines[0], "info", "to stderr"));
}

TEST(LoggingTest, StderrGetsPriorityPrefixesWhenItIsTheJournal) {
  TempDir dir;
  const auto captured = dir.path() / "stderr";
  { std::ofstream create(captured); }
  ScopedEnv journal("JOURNAL_STREAM", journal_stream_of(captured));
  {
    StderrToFile redirect(captured);
    EXPECT_EQ(detect_stderr_style(STDERR_FILENO), StderrStyle::kJournal);
    ASSERT_TRUE(init_logging(stderr_logging(LogLevel::kTrace), std::nullopt));
    spdlog::trace("t");
    spdlog::debug("d");
    spdlog::info("i {}", 1);
    spdlog::warn("w");
    spdlog::error("e");
    spdlog::critical("c");
    spdlog::info("first\nsecond");
    spdlog::info("");
    flush_logging();
  }
  EXPECT_EQ(read_file(captured),
            "<7>t\n<7>d\n<6>i 1\n<4>w\n<3>e\n<2>c\n<6>first\n<6>second\n<6>\n");
}

TEST(LoggingTest, JournalStreamOfAnotherFileIsIgnored) {
  TempDir dir;
  const auto captured = dir.path() / "stderr";
  const auto other = dir.path() / "other";
  { std::ofstream create(other); }
  // A child whose stderr was redirected away from the journal inherits $JOURNAL_STREAM.
  ScopedEnv journal("JOURNAL_STREAM", journal_stream_of(other));
  {
    StderrToFile redirect(captured);
    EXPECT_EQ(detect_stderr_style(STDERR_FILENO), StderrStyle::kTimestamped);
    ASSERT_TRUE(init_logging(stderr_logging(), std::nullopt));
    spdlog::info("plain");
  }
  const auto lines = lines_of(read_file(captured));
  ASSERT_EQ(lines.size(), 1u) << read_file(captured);
  EXPECT_TRUE(is_timestamped_line(lines[0], "info", "plain"));
}

TEST(LoggingTest, MalformedJournalStreamIsIgnored) {
  TempDir dir;
  const auto file = dir.path() / "f";
  { std::ofstream create(file); }
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const std::string good = journal_stream_of(file);
  {
    ScopedEnv env("JOURNAL_STREAM", good);
    EXPECT_EQ(detect_stderr_style(fd), StderrStyle::kJournal);
  }
  for (const std::string& bad : {std::string(), std::string("garbage"), good + "x", ":" + good,
                                 good.substr(0, good.find(':')), good.substr(0, good.find(':') + 1),
                                 "-1:" + good.substr(good.find(':') + 1)}) {
    ScopedEnv env("JOURNAL_STREAM", bad);
    EXPECT_EQ(detect_stderr_style(fd), StderrStyle::kTimestamped) << "'" << bad << "'";
  }
  EXPECT_EQ(detect_stderr_style(-1), StderrStyle::kTimestamped);
  ::close(fd);
}

TEST(LoggingTest, JournalSinkNeedsJournald) {
  struct stat st {};
  const bool have_journald =
      ::stat("/run/systemd/journal/socket", &st) == 0 && S_ISSOCK(st.st_mode);
  auto r = init_logging(config::Logging{.sink = LogSink::kJournal}, std::nullopt);
  if (have_journald) {
    EXPECT_TRUE(r) << r.error().message;
  } else {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kUnsupported);
    EXPECT_NE(r.error().message.find("/run/systemd/journal/socket"), std::string::npos)
        << r.error().message;
  }
}

}  // namespace
}  // namespace pmdnet::service
