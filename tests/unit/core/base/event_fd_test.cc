// Tests of EventFd and wait_readable: creation flags, signal/drain, moves, and timeouts.
#include "core/base/event_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <thread>
#include <utility>

namespace pmdnet {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

EventFd make_event_fd() {
  auto e = EventFd::create();
  if (!e) {
    ADD_FAILURE() << "EventFd::create: " << e.error().message;
    return EventFd();
  }
  return std::move(*e);
}

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

TEST(EventFdTest, DefaultIsInvalid) {
  EventFd e;
  EXPECT_FALSE(e.valid());
  EXPECT_EQ(e.fd(), -1);
  e.signal();  // harmless on an invalid fd
  EXPECT_FALSE(e.drain());
}

TEST(EventFdTest, CreateGivesANonBlockingCloseOnExecFd) {
  EventFd e = make_event_fd();
  ASSERT_TRUE(e.valid());
  ASSERT_GE(e.fd(), 0);
  int fl = ::fcntl(e.fd(), F_GETFL);
  ASSERT_NE(fl, -1);
  EXPECT_NE(fl & O_NONBLOCK, 0);
  int fd_flags = ::fcntl(e.fd(), F_GETFD);
  ASSERT_NE(fd_flags, -1);
  EXPECT_NE(fd_flags & FD_CLOEXEC, 0);
}

TEST(EventFdTest, DrainWhenNotSignalledReturnsFalse) {
  EventFd e = make_event_fd();
  EXPECT_FALSE(e.drain());
  EXPECT_FALSE(e.drain());
}

TEST(EventFdTest, SignalThenDrainReturnsTrueOnce) {
  EventFd e = make_event_fd();
  e.signal();
  EXPECT_TRUE(e.drain());
  EXPECT_FALSE(e.drain());
}

TEST(EventFdTest, SeveralSignalsAreDrainedAtOnce) {
  EventFd e = make_event_fd();
  e.signal();
  e.signal();
  e.signal();
  EXPECT_TRUE(e.drain());
  EXPECT_FALSE(e.drain());
}

TEST(EventFdTest, ReadableAfterSignalAndNotAfterDrain) {
  EventFd e = make_event_fd();
  EXPECT_FALSE(wait_readable(e.fd(), 0ms));
  e.signal();
  EXPECT_TRUE(wait_readable(e.fd(), 0ms));
  EXPECT_TRUE(wait_readable(e.fd(), 0ms));  // waiting does not consume the signal
  EXPECT_TRUE(e.drain());
  EXPECT_FALSE(wait_readable(e.fd(), 0ms));
}

TEST(EventFdTest, MoveConstructionTransfersTheFd) {
  EventFd a = make_event_fd();
  int fd = a.fd();
  EventFd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(a.fd(), -1);
  EXPECT_TRUE(b.valid());
  EXPECT_EQ(b.fd(), fd);
  b.signal();
  EXPECT_TRUE(b.drain());
}

TEST(EventFdTest, MoveAssignmentClosesTheOldFdAndTransfersTheNew) {
  EventFd a = make_event_fd();
  EventFd b = make_event_fd();
  int old_b = b.fd();
  int fd_a = a.fd();
  b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.fd(), fd_a);
  EXPECT_FALSE(fd_is_open(old_b));
  EXPECT_TRUE(fd_is_open(fd_a));
}

TEST(EventFdTest, DestructorClosesTheFd) {
  int fd = -1;
  {
    EventFd e = make_event_fd();
    fd = e.fd();
    ASSERT_TRUE(fd_is_open(fd));
  }
  EXPECT_FALSE(fd_is_open(fd));
}

TEST(EventFdTest, WaitReadableTimesOutQuickly) {
  EventFd e = make_event_fd();
  auto start = Clock::now();
  EXPECT_FALSE(wait_readable(e.fd(), 50ms));
  auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, 40ms);
  EXPECT_LT(elapsed, 2s);
}

TEST(EventFdTest, WaitReadableWithZeroTimeoutDoesNotBlock) {
  EventFd e = make_event_fd();
  auto start = Clock::now();
  EXPECT_FALSE(wait_readable(e.fd(), 0ms));
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST(EventFdTest, WaitReadableWithNegativeTimeoutReturnsAtOnce) {
  EventFd e = make_event_fd();
  // poll(2) reads a negative timeout as "forever"; run the wait elsewhere so a regression fails
  // the test instead of hanging it.
  auto result = std::async(std::launch::async, [&] { return wait_readable(e.fd(), -5ms); });
  if (result.wait_for(2s) != std::future_status::ready) {
    e.signal();  // unblock the stuck wait so the test can finish
    ADD_FAILURE() << "wait_readable with a negative timeout blocked";
  }
  result.get();
}

TEST(EventFdTest, WaitReadableOnAnInvalidFdReturnsFalse) { EXPECT_FALSE(wait_readable(-1, 0ms)); }

TEST(EventFdTest, WaitReadableWakesWhenAnotherThreadSignals) {
  EventFd e = make_event_fd();
  std::thread signaller([&] {
    std::this_thread::sleep_for(20ms);
    e.signal();
  });
  auto start = Clock::now();
  bool readable = wait_readable(e.fd(), 10s);
  auto elapsed = Clock::now() - start;
  signaller.join();
  EXPECT_TRUE(readable);
  EXPECT_LT(elapsed, 5s);
  EXPECT_TRUE(e.drain());
}

}  // namespace
}  // namespace pmdnet
