// Micro-benchmarks of core hot paths (the executable's main is Google Benchmark's): guest-memory
// copies, linearize, and one loopback worker pass (tx_avail, rx_poll, rx_avail) per batch. Run:
// build/bench/pmdnet_core_bench
// --benchmark_format=json
#include <benchmark/benchmark.h>

#include <numeric>
#include <vector>

#include "core/guest_memory/guest_memory.h"
#include "core/net_backend/loopback_endpoint.h"
#include "tests/unit/core/net_backend/test_buffer_access.h"

namespace pmdnet {
namespace {

using testing::TestBufferAccess;
using testing::TestGuestMemory;

// Eight 2 MiB regions, as a guest with a few memory slots might have.
const TestGuestMemory& guest() {
  static TestGuestMemory g(
      {0x0, 0x200000, 0x400000, 0x600000, 0x800000, 0xa00000, 0xc00000, 0xe00000}, 0x200000);
  return g;
}

void BM_GuestMemoryReadAt(benchmark::State& state) {
  const GuestMemory& mem = guest().mem();
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)));
  uint64_t gpa = 0x300000;
  for (auto _ : state) {
    benchmark::DoNotOptimize(mem.read_at(gpa, buf));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_GuestMemoryReadAt)->Arg(64)->Arg(1518)->Arg(65536);

void BM_GuestMemoryReadAcrossRegions(benchmark::State& state) {
  const GuestMemory& mem = guest().mem();
  std::vector<uint8_t> buf(1518);
  uint64_t gpa = 0x400000 - 700;  // straddles a region edge
  for (auto _ : state) {
    benchmark::DoNotOptimize(mem.read_at(gpa, buf));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 1518);
}
BENCHMARK(BM_GuestMemoryReadAcrossRegions);

void BM_Linearize(benchmark::State& state) {
  const GuestMemory& mem = guest().mem();
  uint32_t len = static_cast<uint32_t>(state.range(0));
  // Header in one segment, payload in a second: what a virtio TX chain usually looks like.
  uint32_t head = std::min<uint32_t>(len, 54);
  std::vector<TxSegment> segs = {
      TxSegment::make_head(TxMetadata{.segment_count = 2, .len = len}, 0x10000, head),
      TxSegment::make_tail(0x20000, len - head)};
  std::vector<uint8_t> out;
  for (auto _ : state) {
    std::span<const TxSegment> s = segs;
    benchmark::DoNotOptimize(linearize(mem, s, out));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * len);
}
BENCHMARK(BM_Linearize)->Arg(64)->Arg(1518);

// A burst of packets through a loopback queue: the frontend's side of a worker pass.
void BM_LoopbackPass(benchmark::State& state) {
  const size_t burst = static_cast<size_t>(state.range(0));
  const uint32_t len = static_cast<uint32_t>(state.range(1));
  TestBufferAccess pool(guest().mem());
  LoopbackEndpoint endpoint;
  std::vector<QueueConfig> config(1);
  std::vector<std::unique_ptr<Queue>> queues;
  if (!endpoint.get_queues(config, nullptr, queues)) state.SkipWithError("get_queues failed");
  Queue& q = *queues[0];
  std::vector<RxId> ids(burst);
  std::vector<TxSegment> segs;
  for (uint32_t i = 0; i < burst; ++i) {
    ids[i] = RxId{i};
    pool.add_buffer(ids[i], {{0x800000 + i * 0x1000ull, 0x800}, {0xa00000 + i * 0x1000ull, 0x800}});
    segs.push_back(TxSegment::make_head(TxMetadata{.id = TxId{i}, .segment_count = 1, .len = len},
                                        0x10000 + i * 0x1000ull, len));
  }
  q.rx_avail(pool, ids);
  std::vector<RxId> done(burst);
  for (auto _ : state) {
    auto sent = q.tx_avail(pool, segs);
    auto got = q.rx_poll(pool, done);
    if (!sent || !got || *got != burst) {
      state.SkipWithError("loopback pass lost packets");
      break;
    }
    q.rx_avail(pool, std::span(done).first(*got));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * burst));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * burst * len));
}
BENCHMARK(BM_LoopbackPass)->Args({32, 64})->Args({32, 1518});

}  // namespace
}  // namespace pmdnet
