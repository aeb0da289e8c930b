// Micro-benchmarks of the software TX offloads (core/offload): the Internet checksum at 64 B,
// 1500 B and 64 KB, apply_checksums on a 1500-byte TCP/IPv4 frame, and TSO/USO of a 64 KB frame
// into 1448-byte segments, with and without copying each segment out (as into an mbuf). Per-frame
// time is the reported time; per-segment time is the "segments" rate's inverse.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/offload/checksum.h"
#include "core/offload/soft_offload.h"
#include "tests/unit/core/offload/test_frames.h"

namespace pmdnet::offload {
namespace {

void BM_ChecksumOnesSum(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = static_cast<uint8_t>(i * 7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf.data());
    benchmark::DoNotOptimize(ones_sum(buf));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_ChecksumOnesSum)->Arg(64)->Arg(1500)->Arg(65536);

void BM_ChecksumReference(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> buf(n, 0x5a);
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf.data());
    benchmark::DoNotOptimize(ones_sum_reference(buf));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_ChecksumReference)->Arg(64)->Arg(1500)->Arg(65536);

void BM_ApplyChecksumsTcp4(benchmark::State& state) {
  const auto f = testing::build_frame({.payload = static_cast<size_t>(state.range(0))});
  const TxMetadata m = testing::with_checksums(f.meta);
  std::vector<uint8_t> frame = f.bytes;
  for (auto _ : state) {
    auto r = apply_checksums(frame, m);
    benchmark::DoNotOptimize(r);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(BM_ApplyChecksumsTcp4)->Arg(0)->Arg(1448);

// args: 0 TCP/IPv4, 1 TCP/IPv6, 2 UDP/IPv4; copy: whether each segment is copied out.
void segment_64k(benchmark::State& state, bool copy) {
  const int kind = static_cast<int>(state.range(0));
  const bool v6 = kind == 1, udp = kind == 2;
  const size_t headers = (v6 ? 40 : 20) + (udp ? 8 : 32);
  const auto f = testing::build_frame({.ipv6 = v6, .udp = udp, .payload = 65535 - headers});
  const TxMetadata m = testing::with_segmentation(f.meta, 1448);
  std::vector<uint8_t> out(2048);
  uint64_t segments = 0;
  for (auto _ : state) {
    auto r = segment(f.bytes, m, [&](const Segment& s) noexcept {
      if (copy) {
        benchmark::DoNotOptimize(copy_segment(s, out));
      } else {
        benchmark::DoNotOptimize(s.payload.data());
      }
      return true;
    });
    segments += r.value_or(0);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.bytes.size()));
  state.counters["segments"] =
      benchmark::Counter(static_cast<double>(segments), benchmark::Counter::kIsRate);
}
void BM_Segment64K(benchmark::State& state) { segment_64k(state, false); }
void BM_Segment64KCopy(benchmark::State& state) { segment_64k(state, true); }
BENCHMARK(BM_Segment64K)->ArgName("tcp4_tcp6_udp4")->Arg(0)->Arg(1)->Arg(2);
BENCHMARK(BM_Segment64KCopy)->ArgName("tcp4_tcp6_udp4")->Arg(0)->Arg(1)->Arg(2);

void BM_InsertVlan1500(benchmark::State& state) {
  const auto f = testing::build_frame({.payload = 1448});
  std::vector<uint8_t> out(f.bytes.size() + kVlanTagLen);
  const VlanMetadata v = VlanMetadata().with_vlan_id(100);
  for (auto _ : state) {
    benchmark::DoNotOptimize(insert_vlan(f.bytes, out, v));
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_InsertVlan1500);

}  // namespace
}  // namespace pmdnet::offload
