// Poller and WorkAssignment (see poller.h for the handshake).
#include "daemon/vhost_user/poller.h"

#include <pthread.h>
#include <sched.h>

#include <chrono>

namespace pmdnet::vhost_user {

namespace {
const std::vector<PollTarget*> kNoTargets;
}

WorkAssignment::WorkAssignment() : in_use_(&kNoTargets) {}

void WorkAssignment::assign(std::vector<PollTarget*> targets) {
  auto next = std::make_unique<std::vector<PollTarget*>>(std::move(targets));
  published_.store(next.get(), std::memory_order_release);
  const uint64_t gen = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
  // The old list stays alive until the worker has moved past it.
  while (acked_.load(std::memory_order_acquire) < gen && !exited_.load(std::memory_order_acquire)) {
    std::this_thread::yield();
  }
  current_ = std::move(next);
}

std::span<PollTarget* const> WorkAssignment::acquire() noexcept {
  const uint64_t gen = generation_.load(std::memory_order_acquire);
  if (gen != seen_) {
    in_use_ = published_.load(std::memory_order_acquire);
    seen_ = gen;
    acked_.store(gen, std::memory_order_release);
  }
  return *in_use_;
}

void WorkAssignment::worker_exited() noexcept {
  in_use_ = &kNoTargets;
  exited_.store(true, std::memory_order_release);
}

Poller::Poller(PollerOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
  if (!options_.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : options_.cpus) {
      if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
    }
    // Best effort: a CPU outside the process's cgroup leaves the inherited affinity in place.
    (void)pthread_setaffinity_np(thread_.native_handle(), sizeof(set), &set);
  }
  pthread_setname_np(thread_.native_handle(), "pmdnet-poll");
}

Poller::~Poller() { stop(); }

void Poller::stop() {
  std::lock_guard lock(control_mutex_);
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);
  thread_.join();
}

void Poller::set_targets(const void* owner, std::vector<PollTarget*> targets) {
  std::lock_guard lock(control_mutex_);
  if (targets.empty()) {
    by_owner_.erase(owner);
  } else {
    by_owner_[owner] = std::move(targets);
  }
  std::vector<PollTarget*> all;
  for (const auto& [key, list] : by_owner_) all.insert(all.end(), list.begin(), list.end());
  assignment_.assign(std::move(all));
}

size_t Poller::target_count() const {
  std::lock_guard lock(control_mutex_);
  size_t n = 0;
  for (const auto& [key, list] : by_owner_) n += list.size();
  return n;
}

void Poller::run() noexcept {
  uint32_t idle = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    size_t work = 0;
    for (PollTarget* t : assignment_.acquire()) work += t->poll();
    passes_.fetch_add(1, std::memory_order_relaxed);
    if (work != 0) {
      idle = 0;
      continue;
    }
    if (options_.idle_passes_before_sleep != 0 && ++idle >= options_.idle_passes_before_sleep) {
      std::this_thread::sleep_for(std::chrono::microseconds(options_.idle_sleep_us));
    }
  }
  assignment_.worker_exited();
}

}  // namespace pmdnet::vhost_user
