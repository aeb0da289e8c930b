// pmdnet_core_latency: the round-trip time of a cache line between two CPUs, for scripts/bench.sh.
//
// A VM's two vCPUs may sit on one physical core or L2, or on distant cores (another socket), and
// the hypervisor moves them between such placements for tens of seconds at a time. The rings of
// vhost-user live in cache lines that bounce between the guest's CPU and the backend's, so every
// datapath measured here runs several times slower in a distant placement (docs/benchmarks.md,
// "The VM: two vCPU placements", has the round trips measured). The harness runs this probe
// before and after each window to know which placement the window ran in.
//
//   pmdnet_core_latency CPU_A CPU_B [MILLISECONDS]
//
// Two threads pinned to CPU_A and CPU_B pass a counter back and forth in one cache line for
// MILLISECONDS (default 200) and print the median round trip, in nanoseconds, of batches of 1000.
// Exit status 2 for bad usage, 1 if a thread could not be pinned.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct alignas(64) Line {
  std::atomic<uint64_t> value{0};
};

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

bool parse_int(const char* s, long lo, long hi, long& out) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  long cpu_a = 0, cpu_b = 0, ms = 200;
  if (argc < 3 || argc > 4 || !parse_int(argv[1], 0, CPU_SETSIZE - 1, cpu_a) ||
      !parse_int(argv[2], 0, CPU_SETSIZE - 1, cpu_b) ||
      (argc == 4 && !parse_int(argv[3], 1, 60000, ms)) || cpu_a == cpu_b) {
    std::fprintf(stderr, "usage: %s CPU_A CPU_B [MILLISECONDS]  (two different CPUs)\n", argv[0]);
    return 2;
  }
  Line line;
  std::atomic<bool> stop{false};
  std::atomic<bool> pinned_b{true};
  // The responder answers each odd value with the next even one.
  std::thread responder([&] {
    if (!pin(static_cast<int>(cpu_b))) {
      pinned_b = false;
      return;
    }
    uint64_t expect = 1;
    while (!stop.load(std::memory_order_relaxed)) {
      if (line.value.load(std::memory_order_acquire) == expect) {
        line.value.store(expect + 1, std::memory_order_release);
        expect += 2;
      }
    }
  });
  const bool pinned_a = pin(static_cast<int>(cpu_a));
  std::vector<double> batches;
  uint64_t v = 0;
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (pinned_a && pinned_b && Clock::now() < end) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 1000 && pinned_b; ++i) {
      line.value.store(v + 1, std::memory_order_release);
      while (line.value.load(std::memory_order_acquire) != v + 2) {
        if (!pinned_b.load(std::memory_order_relaxed)) break;
      }
      v += 2;
    }
    batches.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / 1000);
  }
  stop = true;
  responder.join();
  if (!pinned_a || !pinned_b || batches.empty()) {
    std::fprintf(stderr, "%s: could not pin a thread to CPU %ld or %ld\n", argv[0], cpu_a, cpu_b);
    return 1;
  }
  std::nth_element(batches.begin(), batches.begin() + static_cast<long>(batches.size() / 2),
                   batches.end());
  std::printf("%.0f\n", batches[batches.size() / 2]);
  return 0;
}
