// Tests of Completer/Completion: one-shot hand-off, abandonment, timeouts, wake-ups and the fd.
#include "core/base/completion.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace pmdnet {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

template <class T>
std::pair<Completer<T>, Completion<T>> make() {
  auto r = make_completion<T>();
  if (!r) {
    ADD_FAILURE() << "make_completion: " << r.error().message;
    std::abort();
  }
  return std::move(*r);
}

bool readable_now(int fd) { return wait_readable(fd, 0ms); }

TEST(CompletionTest, CompleteThenTakeGivesTheValueOnce) {
  auto [completer, completion] = make<int>();
  EXPECT_TRUE(completer.pending());
  completer.complete(42);
  EXPECT_FALSE(completer.pending());

  auto first = completion.try_take();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ(**first, 42);

  auto second = completion.try_take();
  ASSERT_TRUE(second.has_value());
  ASSERT_FALSE(second->has_value());
  EXPECT_EQ(second->error().code, Errc::kState);
}

TEST(CompletionTest, PendingGivesNullopt) {
  auto [completer, completion] = make<int>();
  EXPECT_FALSE(completion.try_take().has_value());
  EXPECT_FALSE(completion.try_take().has_value());
  completer.complete(1);
  EXPECT_TRUE(completion.try_take().has_value());
}

TEST(CompletionTest, OnlyTheFirstCompleteCounts) {
  auto [completer, completion] = make<int>();
  completer.complete(1);
  completer.complete(2);
  auto r = completion.try_take();
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(**r, 1);
}

TEST(CompletionTest, DroppingTheCompleterAbandons) {
  auto [completer, completion] = make<int>();
  { Completer<int> gone = std::move(completer); }
  for (int i = 0; i < 2; ++i) {  // stays closed
    auto r = completion.try_take();
    ASSERT_TRUE(r.has_value());
    ASSERT_FALSE(r->has_value());
    EXPECT_EQ(r->error().code, Errc::kClosed);
  }
}

TEST(CompletionTest, MoveConstructedCompleterIsTheProducer) {
  auto [completer, completion] = make<int>();
  Completer<int> moved(std::move(completer));
  EXPECT_FALSE(completer.pending());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(moved.pending());
  completer.complete(9);  // no-op on the moved-from end
  EXPECT_FALSE(completion.try_take().has_value());
  moved.complete(10);
  auto r = completion.try_take();
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(**r, 10);
}

TEST(CompletionTest, MoveAssigningOverAPendingCompleterAbandonsIt) {
  auto [first, first_completion] = make<int>();
  auto [second, second_completion] = make<int>();
  first = std::move(second);
  EXPECT_FALSE(second.pending());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(first.pending());

  auto abandoned = first_completion.try_take();
  ASSERT_TRUE(abandoned.has_value());
  ASSERT_FALSE(abandoned->has_value());
  EXPECT_EQ(abandoned->error().code, Errc::kClosed);
  EXPECT_TRUE(readable_now(first_completion.fd()));

  EXPECT_FALSE(second_completion.try_take().has_value());
  first.complete(5);
  auto r = second_completion.try_take();
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(**r, 5);
}

TEST(CompletionTest, MoveAssigningOverACompletedCompleterKeepsItsValue) {
  auto [first, first_completion] = make<int>();
  auto [second, second_completion] = make<int>();
  first.complete(1);
  first = std::move(second);
  auto r = first_completion.try_take();
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(**r, 1);
  EXPECT_FALSE(second_completion.try_take().has_value());
}

TEST(CompletionTest, DefaultCompletionIsEmpty) {
  Completion<int> empty;
  EXPECT_EQ(empty.fd(), -1);
  auto r = empty.try_take();
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->has_value());
  EXPECT_EQ(r->error().code, Errc::kState);
  auto w = empty.wait(10ms);
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().code, Errc::kState);
  Completer<int> none;
  EXPECT_FALSE(none.pending());
  none.complete(1);  // no-op
}

TEST(CompletionTest, WaitTimesOutWithState) {
  auto [completer, completion] = make<int>();
  auto start = Clock::now();
  auto r = completion.wait(30ms);
  auto elapsed = Clock::now() - start;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kState);
  EXPECT_GE(elapsed, 25ms);
  EXPECT_LT(elapsed, 2s);
  // Timing out does not consume anything: a later completion is still delivered.
  completer.complete(3);
  auto later = completion.wait(0ms);
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(*later, 3);
}

TEST(CompletionTest, WaitReturnsAtOnceWhenAlreadyComplete) {
  auto [completer, completion] = make<std::string>();
  completer.complete("done");
  auto start = Clock::now();
  auto r = completion.wait(10s);
  EXPECT_LT(Clock::now() - start, 1s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, "done");
}

TEST(CompletionTest, WaitAcceptsExtremeTimeouts) {
  // milliseconds::max() is the natural "forever"; it must not overflow the deadline arithmetic
  // (UBSan checks that), and a negative timeout must not block.
  auto [completer, completion] = make<int>();
  auto start = Clock::now();
  auto timed_out = completion.wait(std::chrono::milliseconds::min());
  ASSERT_FALSE(timed_out.has_value());
  EXPECT_EQ(timed_out.error().code, Errc::kState);
  EXPECT_LT(Clock::now() - start, 1s);
  completer.complete(4);
  auto r = completion.wait(std::chrono::milliseconds::max());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 4);
}

TEST(CompletionTest, WaitForeverWakesWhenAnotherThreadCompletes) {
  auto [completer, completion] = make<int>();
  std::thread producer([c = std::move(completer)]() mutable {
    std::this_thread::sleep_for(20ms);
    c.complete(8);
  });
  auto r = completion.wait(std::chrono::milliseconds::max());
  producer.join();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 8);
}

TEST(CompletionTest, WaitWakesWhenAnotherThreadCompletes) {
  auto [completer, completion] = make<int>();
  std::thread producer([c = std::move(completer)]() mutable {
    std::this_thread::sleep_for(20ms);
    c.complete(7);
  });
  auto start = Clock::now();
  auto r = completion.wait(10s);
  auto elapsed = Clock::now() - start;
  producer.join();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, 7);
  EXPECT_LT(elapsed, 5s);
}

TEST(CompletionTest, WaitWakesWhenAnotherThreadAbandons) {
  auto [completer, completion] = make<int>();
  std::thread producer([c = std::move(completer)]() mutable {
    std::this_thread::sleep_for(20ms);
    Completer<int> dropped = std::move(c);
  });
  auto start = Clock::now();
  auto r = completion.wait(10s);
  auto elapsed = Clock::now() - start;
  producer.join();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kClosed);
  EXPECT_LT(elapsed, 5s);
}

TEST(CompletionTest, FdBecomesReadableOnComplete) {
  auto [completer, completion] = make<int>();
  ASSERT_GE(completion.fd(), 0);
  EXPECT_FALSE(readable_now(completion.fd()));
  completer.complete(1);
  EXPECT_TRUE(readable_now(completion.fd()));
}

TEST(CompletionTest, FdBecomesReadableOnAbandon) {
  auto [completer, completion] = make<int>();
  EXPECT_FALSE(readable_now(completion.fd()));
  { Completer<int> dropped = std::move(completer); }
  EXPECT_TRUE(readable_now(completion.fd()));
}

TEST(CompletionTest, CarriesMoveOnlyValues) {
  auto [completer, completion] = make<std::unique_ptr<int>>();
  completer.complete(std::make_unique<int>(11));
  auto r = completion.wait(1s);
  ASSERT_TRUE(r.has_value());
  ASSERT_NE(*r, nullptr);
  EXPECT_EQ(**r, 11);
}

TEST(CompletionTest, ProducerMayOutliveTheConsumer) {
  auto [completer, completion] = make<std::string>();
  { Completion<std::string> dropped = std::move(completion); }
  completer.complete("nobody listens");  // must not crash or leak (ASan checks the latter)
  EXPECT_FALSE(completer.pending());
}

}  // namespace
}  // namespace pmdnet
