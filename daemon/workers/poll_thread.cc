// PollThread: a PollLoop on a std::thread (see poll_thread.h).
#include "daemon/workers/poll_thread.h"

#include <pthread.h>
#include <sched.h>

namespace pmdnet::workers {

PollThread::PollThread(const PollThreadOptions& options) : loop_(options.idle) {
  thread_ = std::thread([this] { loop_.run(); });
  if (!options.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : options.cpus) {
      if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
    }
    // Best effort: a CPU outside the process's cgroup leaves the inherited affinity in place.
    (void)pthread_setaffinity_np(thread_.native_handle(), sizeof(set), &set);
  }
  pthread_setname_np(thread_.native_handle(), "pmdnet-poll");
}

PollThread::~PollThread() { stop(); }

void PollThread::stop() {
  std::lock_guard lock(control_mutex_);
  if (!thread_.joinable()) return;
  loop_.stop();
  thread_.join();
}

void PollThread::set_targets(const void* owner, std::vector<PollTarget*> targets) {
  std::lock_guard lock(control_mutex_);
  loop_.set_targets(owner, std::move(targets));
}

}  // namespace pmdnet::workers
