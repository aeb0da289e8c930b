// Micro-benchmarks of the guest-facing ring path: a guest TX chain through VirtioNetQueue into
// TxSegments and back to the used ring, RX write_packet into (mergeable) guest chains, and a full
// guest TX -> loopback -> guest RX pass, each on the split and packed rings, with and without
// IN_ORDER. Per-packet figures are items_per_second's inverse.
#include <benchmark/benchmark.h>

#include <deque>
#include <numeric>
#include <string>

#include "bench/guest_rings.h"
#include "core/net_backend/loopback_endpoint.h"
#include "core/virtio_net/virtio_net_queue.h"

namespace pmdnet::virtio {
namespace {

using bench::Buf;
using bench::Packed;
using bench::PackedInOrder;
using bench::Split;
using bench::SplitInOrder;
using bench::TestMemory;

constexpr uint64_t kFeatures = bit(feature::kVersion1) | bit(feature::kRingEventIdx);
constexpr size_t kBurst = 32;

// A backend that accepts every transmit at once and lets the benchmark play the NIC on receive.
class BenchQueue final : public Queue {
 public:
  bool poll_ready(BufferAccess&) noexcept override { return false; }
  void rx_avail(BufferAccess& buffers, std::span<const RxId> ids) noexcept override {
    pool = &buffers;
    posted.insert(posted.end(), ids.begin(), ids.end());
  }
  QueueResult<size_t> rx_poll(BufferAccess&, std::span<RxId> out) noexcept override {
    size_t n = std::min(out.size(), done.size());
    std::copy_n(done.begin(), n, out.begin());
    done.erase(done.begin(), done.begin() + static_cast<ptrdiff_t>(n));
    return n;
  }
  QueueResult<TxAvailResult> tx_avail(BufferAccess&,
                                      std::span<const TxSegment> segs) noexcept override {
    return TxAvailResult{.completed_synchronously = true, .segments_consumed = segs.size()};
  }
  std::expected<size_t, TxError> tx_poll(BufferAccess&, std::span<TxId>) noexcept override {
    return 0;
  }
  BufferAccess* pool = nullptr;  // what the frontend handed rx_avail: the NIC writes through it
  std::deque<RxId> posted;
  std::vector<RxId> done;
};

template <class Layout>
struct Rig {
  TestMemory m{0x100000, 16 << 20};
  typename Layout::Guest rxq{m, 0x100000, has(Layout::kFeatures, feature::kInOrder)};
  typename Layout::Guest txq{m, 0x108000, has(Layout::kFeatures, feature::kInOrder)};
  BenchQueue* backend = nullptr;
  std::unique_ptr<VirtioNetQueue> q;

  explicit Rig(uint64_t features, std::unique_ptr<Queue> b = nullptr) {
    if (!b) {
      auto bq = std::make_unique<BenchQueue>();
      backend = bq.get();
      b = std::move(bq);
    }
    VirtioNetQueueConfig c;
    c.mem = &m.mem();
    c.features = features | Layout::kFeatures;
    c.rx_ring = rxq.addresses();
    c.tx_ring = txq.addresses();
    c.rx_start = c.tx_start = Layout::kStart;
    q = std::move(*VirtioNetQueue::create(c, std::move(b)));
  }
};

// Guest TX: kBurst chains (header descriptor + frame descriptor) per poll.
template <class Layout>
void BM_GuestTxChainToUsed(benchmark::State& state) {
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  Rig<Layout> rig(kFeatures);
  for (size_t i = 0; i < kBurst; ++i) {
    uint64_t gpa = 0x200000 + i * 0x10000;
    std::memset(rig.m.host(gpa), 0, sizeof(VirtioNetHdr));
    std::vector<Buf> bufs = {{gpa, sizeof(VirtioNetHdr), false}, {gpa + 0x100, len, false}};
    rig.txq.add(bufs);
  }
  for (auto _ : state) {
    rig.txq.offer();
    size_t n = rig.q->poll();
    if (n != kBurst) {
      state.SkipWithError("lost packets");
      break;
    }
    rig.txq.reap();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
}

// Guest RX: the "NIC" writes kBurst packets of `len` bytes into posted chains of `buf` bytes
// (mergeable), then one poll completes them to the used ring.
template <class Layout>
void BM_GuestRxWritePacket(benchmark::State& state) {
  const size_t len = static_cast<size_t>(state.range(0));
  const uint32_t buf = static_cast<uint32_t>(state.range(1));
  Rig<Layout> rig(kFeatures | bit(feature::kMrgRxbuf) | bit(feature::kGuestCsum));
  std::vector<uint8_t> frame(len);
  std::iota(frame.begin(), frame.end(), uint8_t{0});
  size_t per_packet = (len + sizeof(VirtioNetHdr) + buf - 1) / buf;
  size_t chains = kBurst * per_packet;
  for (size_t i = 0; i < chains; ++i) {
    std::vector<Buf> bufs = {{0x200000 + i * 0x2000, buf, true}};
    rig.rxq.add(bufs);
  }
  RxMetadata meta{.ip_checksum = RxChecksumState::Good, .l4_checksum = RxChecksumState::Good};
  for (auto _ : state) {
    rig.rxq.offer();
    rig.q->poll();  // the chains become posted slots
    for (size_t i = 0; i < kBurst; ++i) {
      if (rig.backend->posted.empty()) {
        state.SkipWithError("no posted slot");
        return;
      }
      RxId id = rig.backend->posted.front();
      rig.backend->posted.pop_front();
      if (rig.backend->pool->capacity(id) < len) {
        state.SkipWithError("capacity");
        return;
      }
      meta.len = len;
      rig.backend->pool->write_packet(id, meta, frame);
      rig.backend->done.push_back(id);
    }
    rig.q->poll();  // completes them to the used ring; unused slots stay posted for next time
    rig.rxq.reap();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBurst * len));
}

// Guest TX -> LoopbackEndpoint -> guest RX, kBurst packets per pass.
template <class Layout>
void BM_GuestLoopbackPass(benchmark::State& state) {
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  LoopbackEndpoint ep;
  std::vector<QueueConfig> cfg(1);
  std::vector<std::unique_ptr<Queue>> queues;
  (void)ep.get_queues(cfg, nullptr, queues);
  Rig<Layout> rig(kFeatures | bit(feature::kMrgRxbuf), std::move(queues[0]));
  for (size_t i = 0; i < kBurst; ++i) {
    uint64_t gpa = 0x200000 + i * 0x10000;
    std::memset(rig.m.host(gpa), 0, sizeof(VirtioNetHdr));
    std::vector<Buf> tx = {{gpa, sizeof(VirtioNetHdr), false}, {gpa + 0x100, len, false}};
    rig.txq.add(tx);
    std::vector<Buf> rx = {{0x600000 + i * 0x1000, 2048, true}};
    rig.rxq.add(rx);
  }
  for (auto _ : state) {
    rig.rxq.offer();
    rig.txq.offer();
    size_t moved = rig.q->poll();  // TX into the loopback
    moved += rig.q->poll();        // receives completed
    if (moved != 2 * kBurst) {
      state.SkipWithError("lost packets");
      break;
    }
    rig.rxq.reap();
    rig.txq.reap();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
}

// Each case on every layout: the split ring's under the plain name, the others with a suffix
// (BM_GuestTxChainToUsed_PackedInOrder/64).
template <class Layout>
void register_layout(const std::string& suffix) {
  benchmark::RegisterBenchmark(("BM_GuestTxChainToUsed" + suffix).c_str(),
                               BM_GuestTxChainToUsed<Layout>)
      ->Arg(64)
      ->Arg(1518);
  benchmark::RegisterBenchmark(("BM_GuestRxWritePacket" + suffix).c_str(),
                               BM_GuestRxWritePacket<Layout>)
      ->Args({64, 2048})
      ->Args({1518, 2048})
      ->Args({1518, 512});
  benchmark::RegisterBenchmark(("BM_GuestLoopbackPass" + suffix).c_str(),
                               BM_GuestLoopbackPass<Layout>)
      ->Arg(64)
      ->Arg(1518);
}

const bool kRegistered = [] {
  register_layout<Split>("");
  register_layout<SplitInOrder>("_InOrder");
  register_layout<Packed>("_Packed");
  register_layout<PackedInOrder>("_PackedInOrder");
  return true;
}();

}  // namespace
}  // namespace pmdnet::virtio
