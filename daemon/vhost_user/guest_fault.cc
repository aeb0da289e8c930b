// The SIGBUS handler and its lock-free table of guest mappings (see guest_fault.h).
#include "daemon/vhost_user/guest_fault.h"

#include <signal.h>  // NOLINT(modernize-deprecated-headers): sigaction is POSIX, not <csignal>
#include <sys/mman.h>

#include <array>
#include <atomic>
#include <mutex>

namespace pmdnet::vhost_user {

namespace {

// One registered mapping. Writers (the control threads, under g_writer_mutex) fill start and end,
// then publish owner with release; the handler reads owner with acquire, then the range.
struct Mapping {
  std::atomic<const void*> owner{nullptr};
  std::atomic<uintptr_t> start{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<bool> faulted{false};
};

constexpr size_t kMappings = 1024;  // 128 ports x 8 regions
std::array<Mapping, kMappings> g_mappings;
std::mutex g_writer_mutex;
std::atomic<uint64_t> g_recovered{0};
struct sigaction g_previous {};
std::once_flag g_installed;

void remove_locked(const void* owner) {
  for (Mapping& m : g_mappings) {
    if (m.owner.load(std::memory_order_relaxed) == owner) {
      m.owner.store(nullptr, std::memory_order_release);
      m.faulted.store(false, std::memory_order_relaxed);
    }
  }
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Mapping& m : g_mappings) {
    if (m.owner.load(std::memory_order_acquire) == nullptr) continue;
    const uintptr_t start = m.start.load(std::memory_order_relaxed);
    const uintptr_t end = m.end.load(std::memory_order_relaxed);
    if (addr < start || addr >= end) continue;
    // mmap is a plain system call here, safe in a signal handler. The whole mapping, not the
    // page: a hugetlbfs mapping cannot be split at 4 KiB. MAP_NORESERVE: untouched pages cost
    // nothing.
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the table holds the mapping as an integer
    void* p = ::mmap(reinterpret_cast<void*>(start), end - start, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) break;
    m.faulted.store(true, std::memory_order_relaxed);
    g_recovered.fetch_add(1, std::memory_order_relaxed);
    return;  // the access is retried against the new mapping
  }
  // Not ours: what was there before.
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
      g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
    return;
  }
  ::signal(sig, SIG_DFL);  // returning retries the access, which now ends the process
}

}  // namespace

void install_guest_fault_handler() {
  std::call_once(g_installed, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous);
  });
}

bool register_guest_mappings(const void* owner, std::span<const std::span<uint8_t>> mappings) {
  std::lock_guard lock(g_writer_mutex);
  remove_locked(owner);
  size_t next = 0;
  for (const std::span<uint8_t>& range : mappings) {
    while (next < kMappings && g_mappings[next].owner.load(std::memory_order_relaxed) != nullptr) {
      ++next;
    }
    if (next == kMappings) return false;
    Mapping& m = g_mappings[next];
    m.start.store(reinterpret_cast<uintptr_t>(range.data()), std::memory_order_relaxed);
    m.end.store(reinterpret_cast<uintptr_t>(range.data()) + range.size(),
                std::memory_order_relaxed);
    m.faulted.store(false, std::memory_order_relaxed);
    m.owner.store(owner, std::memory_order_release);
  }
  return true;
}

void unregister_guest_mappings(const void* owner) {
  std::lock_guard lock(g_writer_mutex);
  remove_locked(owner);
}

bool guest_memory_faulted(const void* owner) noexcept {
  for (const Mapping& m : g_mappings) {
    if (m.owner.load(std::memory_order_acquire) == owner &&
        m.faulted.load(std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

uint64_t guest_faults_recovered() noexcept { return g_recovered.load(std::memory_order_relaxed); }

}  // namespace pmdnet::vhost_user
