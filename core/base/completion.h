// A one-shot reply handed from one thread to another: the producer completes it once (or drops
// it, which abandons it); the consumer polls it without blocking, waits on its eventfd, or blocks
// with a timeout. It replaces the seed's mesh `Rpc` reply channel.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "core/base/event_fd.h"
#include "core/base/result.h"

namespace pmdnet {

namespace completion_detail {

template <class T>
struct State {
  std::mutex mutex;
  std::optional<T> value;
  bool abandoned = false;
  bool taken = false;
  EventFd ready;
};

}  // namespace completion_detail

template <class T>
class Completion;

// The producing end. Destroying it without calling complete() abandons the completion.
template <class T>
class Completer {
 public:
  Completer() = default;
  Completer(Completer&&) noexcept = default;
  Completer& operator=(Completer&& other) noexcept {
    if (this != &other) {
      abandon();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~Completer() { abandon(); }

  // Hands `value` to the consumer. Only the first call has an effect.
  void complete(T value) {
    if (!state_) return;
    {
      std::lock_guard lock(state_->mutex);
      state_->value.emplace(std::move(value));
    }
    state_->ready.signal();
    state_.reset();
  }

  bool pending() const noexcept { return state_ != nullptr; }

 private:
  template <class U>
  friend Result<std::pair<Completer<U>, Completion<U>>> make_completion();
  explicit Completer(std::shared_ptr<completion_detail::State<T>> s) : state_(std::move(s)) {}

  void abandon() noexcept {
    if (!state_) return;
    {
      std::lock_guard lock(state_->mutex);
      state_->abandoned = true;
    }
    state_->ready.signal();
    state_.reset();
  }

  std::shared_ptr<completion_detail::State<T>> state_;
};

// The consuming end.
template <class T>
class Completion {
 public:
  Completion() = default;

  // Readable once the completion is completed or abandoned.
  int fd() const noexcept { return state_ ? state_->ready.fd() : -1; }

  // nullopt while pending; the value once; kClosed if the producer went away without completing;
  // kState if the value was already taken (or this Completion is empty).
  std::optional<Result<T>> try_take() {
    if (!state_) return Result<T>(make_error(Errc::kState, "empty completion"));
    std::lock_guard lock(state_->mutex);
    if (state_->taken) return Result<T>(make_error(Errc::kState, "completion already taken"));
    if (state_->value) {
      state_->taken = true;
      // NOLINTNEXTLINE(bugprone-unchecked-optional-access): checked on the line above
      return Result<T>(std::move(*state_->value));
    }
    if (state_->abandoned) {
      return Result<T>(make_error(Errc::kClosed, "the producer dropped the completion"));
    }
    return std::nullopt;
  }

  // Blocks until completed, abandoned, or `timeout` passes (then kState, "timed out").
  Result<T> wait(std::chrono::milliseconds timeout) {
    // Clamp so now() + timeout cannot overflow the clock's signed nanoseconds: milliseconds::max()
    // means "forever" (a century here) and a negative timeout means "do not block".
    constexpr std::chrono::milliseconds kForever = std::chrono::hours(24 * 365 * 100);
    timeout = std::clamp(timeout, std::chrono::milliseconds(0), kForever);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto r = try_take()) return std::move(*r);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return make_error(Errc::kState, "timed out waiting for completion");
      wait_readable(fd(), left);
    }
  }

 private:
  template <class U>
  friend Result<std::pair<Completer<U>, Completion<U>>> make_completion();
  explicit Completion(std::shared_ptr<completion_detail::State<T>> s) : state_(std::move(s)) {}

  std::shared_ptr<completion_detail::State<T>> state_;
};

template <class T>
Result<std::pair<Completer<T>, Completion<T>>> make_completion() {
  auto ready = EventFd::create();
  if (!ready) return std::unexpected(std::move(ready.error()));
  auto state = std::make_shared<completion_detail::State<T>>();
  state->ready = std::move(*ready);
  return std::pair{Completer<T>(state), Completion<T>(state)};
}

}  // namespace pmdnet
