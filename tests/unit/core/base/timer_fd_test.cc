// Tests of TimerFd: creation flags, the period (and its 1 ms floor), drain, moves, and closing.
#include "core/base/timer_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <utility>

#include "core/base/event_fd.h"

namespace pmdnet {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TimerFd make_timer_fd(uint32_t period_ms) {
  auto t = TimerFd::create(period_ms);
  if (!t) {
    ADD_FAILURE() << "TimerFd::create: " << t.error().message;
    return TimerFd();
  }
  return std::move(*t);
}

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

TEST(TimerFdTest, DefaultIsInvalid) {
  TimerFd t;
  EXPECT_FALSE(t.valid());
  EXPECT_EQ(t.fd(), -1);
  EXPECT_FALSE(t.drain());
}

TEST(TimerFdTest, CreateGivesANonBlockingCloseOnExecFd) {
  TimerFd t = make_timer_fd(1000);
  ASSERT_TRUE(t.valid());
  const int fl = ::fcntl(t.fd(), F_GETFL);
  ASSERT_NE(fl, -1);
  EXPECT_NE(fl & O_NONBLOCK, 0);
  const int fd_flags = ::fcntl(t.fd(), F_GETFD);
  ASSERT_NE(fd_flags, -1);
  EXPECT_NE(fd_flags & FD_CLOEXEC, 0);
}

TEST(TimerFdTest, NotReadableBeforeThePeriodHasPassed) {
  TimerFd t = make_timer_fd(60'000);
  EXPECT_FALSE(wait_readable(t.fd(), 20ms));
  EXPECT_FALSE(t.drain());  // non-blocking: returns at once
}

TEST(TimerFdTest, FiresAfterEachPeriodAndDrainResetsIt) {
  TimerFd t = make_timer_fd(20);
  const auto start = Clock::now();
  ASSERT_TRUE(wait_readable(t.fd(), 5s));
  EXPECT_GE(Clock::now() - start, 15ms);
  EXPECT_TRUE(t.drain());
  EXPECT_FALSE(t.drain());
  // Periodic: it fires again without being re-armed.
  EXPECT_TRUE(wait_readable(t.fd(), 5s));
  EXPECT_TRUE(t.drain());
}

TEST(TimerFdTest, ExpiriesPileUpIntoOneDrain) {
  TimerFd t = make_timer_fd(5);
  std::this_thread::sleep_for(30ms);
  EXPECT_TRUE(t.drain());
  EXPECT_FALSE(t.drain());
}

TEST(TimerFdTest, AZeroPeriodFiresEveryMillisecond) {
  TimerFd t = make_timer_fd(0);
  EXPECT_TRUE(wait_readable(t.fd(), 5s));
  EXPECT_TRUE(t.drain());
  EXPECT_TRUE(wait_readable(t.fd(), 5s));
}

TEST(TimerFdTest, MoveConstructionTransfersTheFd) {
  TimerFd a = make_timer_fd(1000);
  const int fd = a.fd();
  TimerFd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(b.fd(), fd);
  EXPECT_TRUE(fd_is_open(fd));
}

TEST(TimerFdTest, MoveAssignmentClosesTheOldFdWithItsNewOwner) {
  TimerFd a = make_timer_fd(1000);
  const int fd_a = a.fd();
  int old_b = -1;
  {
    TimerFd b = make_timer_fd(1000);
    old_b = b.fd();
    a = std::move(b);
    EXPECT_EQ(a.fd(), old_b);
    EXPECT_TRUE(fd_is_open(fd_a));  // now b's, closed when b goes
  }
  EXPECT_FALSE(fd_is_open(fd_a));
  EXPECT_TRUE(fd_is_open(old_b));
}

TEST(TimerFdTest, DestructorClosesTheFd) {
  int fd = -1;
  {
    TimerFd t = make_timer_fd(1000);
    fd = t.fd();
    ASSERT_TRUE(fd_is_open(fd));
  }
  EXPECT_FALSE(fd_is_open(fd));
}

}  // namespace
}  // namespace pmdnet
