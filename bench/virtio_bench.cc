// Micro-benchmarks of the guest-facing ring path: a guest TX chain through VirtioNetQueue into
// TxSegments and back to the used ring, RX write_packet into (mergeable) guest chains, and a full
// guest TX -> loopback -> guest RX pass. Per-packet figures are items_per_second's inverse.
#include <benchmark/benchmark.h>

#include <deque>
#include <numeric>

#include "core/net_backend/loopback_endpoint.h"
#include "core/virtio_net/virtio_net_queue.h"
#include "tests/unit/core/virtqueue/fake_driver.h"

namespace pmdnet::virtio {
namespace {

using testing::Buf;
using testing::FakeVirtqueue;
using testing::TestMemory;

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

struct Rig {
  TestMemory m{0x100000, 16 << 20};
  FakeVirtqueue rxq{m, 0x100000, 256};
  FakeVirtqueue txq{m, 0x108000, 256};
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
    c.features = features;
    c.rx_ring = rxq.addresses();
    c.tx_ring = txq.addresses();
    q = std::move(*VirtioNetQueue::create(c, std::move(b)));
  }
};

// Guest TX: kBurst chains (header descriptor + frame descriptor) per poll.
void BM_GuestTxChainToUsed(benchmark::State& state) {
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  Rig rig(kFeatures);
  std::vector<uint16_t> heads;
  for (size_t i = 0; i < kBurst; ++i) {
    uint64_t gpa = 0x200000 + i * 0x10000;
    std::memset(rig.m.host(gpa), 0, sizeof(VirtioNetHdr));
    std::vector<Buf> bufs = {{gpa, sizeof(VirtioNetHdr), false}, {gpa + 0x100, len, false}};
    heads.push_back(rig.txq.add_chain(bufs));
  }
  for (auto _ : state) {
    for (uint16_t h : heads) rig.txq.make_available(h);
    size_t n = rig.q->poll();
    if (n != kBurst) {
      state.SkipWithError("lost packets");
      break;
    }
    // The guest reaps its used ring (no free-list work: the chains are reused as they are).
    benchmark::DoNotOptimize(rig.txq.used_idx());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
}
BENCHMARK(BM_GuestTxChainToUsed)->Arg(64)->Arg(1518);

// Guest RX: the "NIC" writes kBurst packets of `len` bytes into posted chains of `buf` bytes
// (mergeable), then one poll completes them to the used ring.
void BM_GuestRxWritePacket(benchmark::State& state) {
  const size_t len = static_cast<size_t>(state.range(0));
  const uint32_t buf = static_cast<uint32_t>(state.range(1));
  Rig rig(kFeatures | bit(feature::kMrgRxbuf) | bit(feature::kGuestCsum));
  std::vector<uint8_t> frame(len);
  std::iota(frame.begin(), frame.end(), uint8_t{0});
  size_t per_packet = (len + sizeof(VirtioNetHdr) + buf - 1) / buf;
  size_t chains = kBurst * per_packet;
  std::vector<uint16_t> heads;
  for (size_t i = 0; i < chains; ++i) {
    std::vector<Buf> bufs = {{0x200000 + i * 0x2000, buf, true}};
    heads.push_back(rig.rxq.add_chain(bufs));
  }
  RxMetadata meta{.ip_checksum = RxChecksumState::Good, .l4_checksum = RxChecksumState::Good};
  for (auto _ : state) {
    for (uint16_t h : heads) rig.rxq.make_available(h);
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
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBurst * len));
}
BENCHMARK(BM_GuestRxWritePacket)->Args({64, 2048})->Args({1518, 2048})->Args({1518, 512});

// Guest TX -> LoopbackEndpoint -> guest RX, kBurst packets per pass.
void BM_GuestLoopbackPass(benchmark::State& state) {
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  LoopbackEndpoint ep;
  std::vector<QueueConfig> cfg(1);
  std::vector<std::unique_ptr<Queue>> queues;
  (void)ep.get_queues(cfg, nullptr, queues);
  Rig rig(kFeatures | bit(feature::kMrgRxbuf), std::move(queues[0]));
  std::vector<uint16_t> tx_heads, rx_heads;
  for (size_t i = 0; i < kBurst; ++i) {
    uint64_t gpa = 0x200000 + i * 0x10000;
    std::memset(rig.m.host(gpa), 0, sizeof(VirtioNetHdr));
    std::vector<Buf> tx = {{gpa, sizeof(VirtioNetHdr), false}, {gpa + 0x100, len, false}};
    tx_heads.push_back(rig.txq.add_chain(tx));
    std::vector<Buf> rx = {{0x600000 + i * 0x1000, 2048, true}};
    rx_heads.push_back(rig.rxq.add_chain(rx));
  }
  for (auto _ : state) {
    for (uint16_t h : rx_heads) rig.rxq.make_available(h);
    for (uint16_t h : tx_heads) rig.txq.make_available(h);
    size_t moved = rig.q->poll();  // TX into the loopback
    moved += rig.q->poll();        // receives completed
    if (moved != 2 * kBurst) {
      state.SkipWithError("lost packets");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
}
BENCHMARK(BM_GuestLoopbackPass)->Arg(64)->Arg(1518);

}  // namespace
}  // namespace pmdnet::virtio
