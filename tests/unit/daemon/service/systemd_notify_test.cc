// Tests of SystemdNotifier against a real listener: an AF_UNIX datagram socket in a temporary
// directory named by $NOTIFY_SOCKET, as systemd provides, receiving the exact datagrams; and
// watchdog_interval from $WATCHDOG_USEC / $WATCHDOG_PID.
#include "daemon/service/systemd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>  // NOLINT(modernize-deprecated-headers): clock_gettime is POSIX, not <ctime>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "tests/unit/daemon/service/test_env.h"

namespace pmdnet::service {
namespace {

using namespace std::chrono_literals;
using testing::ScopedEnv;
using testing::TempDir;

uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000;
}

struct Datagram {
  std::string text;
  pid_t sender_pid = 0;
};

// systemd's end of the notify protocol: a bound AF_UNIX datagram socket that passes credentials.
class NotifyListener {
 public:
  explicit NotifyListener(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    EXPECT_LT(path_.native().size(), sizeof(addr.sun_path)) << path_;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0)
        << path_ << ": " << std::strerror(errno);
    const int one = 1;
    EXPECT_EQ(::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
  }
  ~NotifyListener() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  // The next datagram, or nullopt if none arrives within `timeout`.
  std::optional<Datagram> receive(std::chrono::milliseconds timeout = 2s) {
    pollfd pfd{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    std::array<char, 4096> buf{};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> control{};
    iovec iov{.iov_base = buf.data(), .iov_len = buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    Datagram d{.text = std::string(buf.data(), static_cast<size_t>(n))};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        d.sender_pid = cred.pid;
      }
    }
    return d;
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

class SystemdNotifierTest : public ::testing::Test {
 protected:
  // The next datagram's text; fails the test if none comes.
  std::string next() {
    auto d = listener_.receive();
    if (!d) {
      ADD_FAILURE() << "no datagram on " << listener_.path();
      return {};
    }
    return d->text;
  }

  TempDir dir_;
  NotifyListener listener_{dir_.path() / "notify.sock"};
  ScopedEnv notify_socket_{"NOTIFY_SOCKET", listener_.path().string()};
  ScopedEnv watchdog_usec_{"WATCHDOG_USEC", "10000000"};
  ScopedEnv watchdog_pid_{"WATCHDOG_PID", std::to_string(::getpid())};
  SystemdNotifier notifier_;
};

TEST_F(SystemdNotifierTest, EnabledWithNotifySocket) { EXPECT_TRUE(notifier_.enabled()); }

TEST_F(SystemdNotifierTest, Ready) {
  ASSERT_TRUE(notifier_.ready());
  EXPECT_EQ(next(), "READY=1");
}

TEST_F(SystemdNotifierTest, ReadyWithStatus) {
  ASSERT_TRUE(notifier_.ready("2 ports up"));
  EXPECT_EQ(next(), "READY=1\nSTATUS=2 ports up");
}

TEST_F(SystemdNotifierTest, Stopping) {
  ASSERT_TRUE(notifier_.stopping());
  EXPECT_EQ(next(), "STOPPING=1");
}

TEST_F(SystemdNotifierTest, ReloadingCarriesTheMonotonicTime) {
  const uint64_t before = monotonic_usec();
  ASSERT_TRUE(notifier_.reloading());
  const uint64_t after = monotonic_usec();
  const std::string text = next();
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  ASSERT_TRUE(text.starts_with(prefix)) << text;
  const std::string digits = text.substr(prefix.size());
  ASSERT_FALSE(digits.empty());
  ASSERT_EQ(digits.find_first_not_of("0123456789"), std::string::npos) << text;
  const uint64_t usec = std::stoull(digits);
  EXPECT_GE(usec, before);
  EXPECT_LE(usec, after);
}

TEST_F(SystemdNotifierTest, Status) {
  ASSERT_TRUE(notifier_.status("reloading /etc/pmdnet/pmdnetd.yaml"));
  EXPECT_EQ(next(), "STATUS=reloading /etc/pmdnet/pmdnetd.yaml");
}

TEST_F(SystemdNotifierTest, StatusIsKeptOnOneLine) {
  // A newline would let the text inject another assignment, e.g. READY=1.
  ASSERT_TRUE(notifier_.status("bad config\nREADY=1\r\n"));
  EXPECT_EQ(next(), "STATUS=bad config READY=1  ");
  ASSERT_TRUE(notifier_.ready("a\nb"));
  EXPECT_EQ(next(), "READY=1\nSTATUS=a b");
}

TEST_F(SystemdNotifierTest, Watchdog) {
  ASSERT_TRUE(notifier_.watchdog());
  EXPECT_EQ(next(), "WATCHDOG=1");
}

TEST_F(SystemdNotifierTest, ALifetimeInOrder) {
  ASSERT_TRUE(notifier_.ready());
  ASSERT_TRUE(notifier_.watchdog());
  ASSERT_TRUE(notifier_.reloading());
  ASSERT_TRUE(notifier_.ready());
  ASSERT_TRUE(notifier_.stopping());
  EXPECT_EQ(next(), "READY=1");
  EXPECT_EQ(next(), "WATCHDOG=1");
  EXPECT_TRUE(next().starts_with("RELOADING=1\nMONOTONIC_USEC="));
  EXPECT_EQ(next(), "READY=1");
  EXPECT_EQ(next(), "STOPPING=1");
  EXPECT_FALSE(listener_.receive(50ms));
}

TEST_F(SystemdNotifierTest, SentFromAnotherThreadAsTheMainPid) {
  // NotifyAccess=main accepts datagrams whose sender is the main pid; a watchdog thread's are.
  std::thread t([&] { EXPECT_TRUE(notifier_.watchdog()); });
  t.join();
  auto d = listener_.receive();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, "WATCHDOG=1");
  EXPECT_EQ(d->sender_pid, ::getpid());
}

TEST_F(SystemdNotifierTest, NothingIsSentWithoutNotifySocket) {
  ScopedEnv unset("NOTIFY_SOCKET", std::nullopt);
  EXPECT_FALSE(notifier_.enabled());
  EXPECT_TRUE(notifier_.ready());
  EXPECT_TRUE(notifier_.ready("status"));
  EXPECT_TRUE(notifier_.reloading());
  EXPECT_TRUE(notifier_.stopping());
  EXPECT_TRUE(notifier_.status("x"));
  EXPECT_TRUE(notifier_.watchdog());
  EXPECT_FALSE(listener_.receive(100ms));
}

TEST_F(SystemdNotifierTest, MissingSocketIsAnError) {
  const std::string absent = (dir_.path() / "absent.sock").string();
  ScopedEnv env("NOTIFY_SOCKET", absent);
  auto r = notifier_.ready();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kIo);
  EXPECT_NE(r.error().message.find("READY=1"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(absent), std::string::npos) << r.error().message;
}

TEST_F(SystemdNotifierTest, RelativeSocketPathIsAnError) {
  ScopedEnv env("NOTIFY_SOCKET", "relative/notify.sock");
  auto r = notifier_.stopping();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kIo);
}

TEST_F(SystemdNotifierTest, WatchdogIntervalIsHalfTheTimeout) {
  EXPECT_EQ(notifier_.watchdog_interval(), std::chrono::microseconds(5'000'000));
}

TEST_F(SystemdNotifierTest, WatchdogIntervalWithoutWatchdogPid) {
  ScopedEnv env("WATCHDOG_PID", std::nullopt);
  EXPECT_EQ(notifier_.watchdog_interval(), std::chrono::microseconds(5'000'000));
}

TEST_F(SystemdNotifierTest, WatchdogForAnotherProcessIsOff) {
  ScopedEnv env("WATCHDOG_PID", std::to_string(::getpid() + 1));
  EXPECT_EQ(notifier_.watchdog_interval(), std::nullopt);
}

TEST_F(SystemdNotifierTest, WatchdogOffWithoutWatchdogUsec) {
  ScopedEnv env("WATCHDOG_USEC", std::nullopt);
  EXPECT_EQ(notifier_.watchdog_interval(), std::nullopt);
}

TEST_F(SystemdNotifierTest, WatchdogOffWithMalformedUsec) {
  ScopedEnv env("WATCHDOG_USEC", "ten seconds");
  EXPECT_EQ(notifier_.watchdog_interval(), std::nullopt);
}

TEST_F(SystemdNotifierTest, WatchdogIntervalLeavesTheEnvironmentAlone) {
  ASSERT_TRUE(notifier_.watchdog_interval());
  EXPECT_NE(std::getenv("WATCHDOG_USEC"), nullptr);
  EXPECT_NE(std::getenv("WATCHDOG_PID"), nullptr);
  ASSERT_TRUE(notifier_.ready());
  EXPECT_EQ(next(), "READY=1");
  EXPECT_NE(std::getenv("NOTIFY_SOCKET"), nullptr);
}

TEST(SystemdNotifierCleanupTest, TheListenerRemovesItsSocketFile) {
  TempDir dir;
  const std::filesystem::path socket = dir.path() / "n.sock";
  {
    NotifyListener listener(socket);
    EXPECT_TRUE(std::filesystem::is_socket(socket));
  }
  EXPECT_FALSE(std::filesystem::exists(socket));
}

}  // namespace
}  // namespace pmdnet::service
