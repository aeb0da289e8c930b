// Fuzz target for the guest-facing rings: a hostile guest's descriptor tables, indirect tables,
// avail rings and virtio_net_hdrs, generated from the input, go through VirtioNetQueue (backed by
// the loopback endpoint) and through SplitRing::walk directly. Nothing may crash or touch memory
// outside the guest's region (ASan), and what the device returns must be well formed.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/net_backend/loopback_endpoint.h"
#include "core/virtio_net/virtio_net_queue.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/unit/core/virtqueue/fake_driver.h"

namespace {

using namespace pmdnet;
using namespace pmdnet::virtio;

void require(bool ok) {
  if (!ok) std::abort();
}

constexpr uint16_t kSize = 16;
constexpr uint64_t kMem = 0x10000;
constexpr uint64_t kMemSize = 0x10000;
constexpr uint64_t kRxRing = kMem;
constexpr uint64_t kTxRing = kMem + 0x1000;
constexpr uint64_t kData = kMem + 0x2000;

// Points an INDIRECT descriptor at a table of 1 to 8 entries written from the input, in the
// data area: mostly well-formed chains (next within the table), with any flags, nested INDIRECT
// included, and sometimes a table length that is not a multiple of 16.
void write_indirect_table(fuzz::FuzzInput& in, VirtqDesc& d, testing::TestMemory& m) {
  const uint16_t n = static_cast<uint16_t>(1 + in.below(8));
  d.addr = kData + in.below(kMemSize - 0x2000 - 16 * n);
  d.len = 16u * n - static_cast<uint32_t>(in.take<uint8_t>() & 1 ? in.below(16) : 0);
  for (uint16_t j = 0; j < n; ++j) {
    const uint8_t shape = in.take<uint8_t>();
    VirtqDesc e;
    e.addr = (shape & 0x80) ? in.take<uint64_t>() : kData + in.below(kMemSize - 0x2000);
    e.len = (shape & 0x40) ? in.take<uint32_t>() : static_cast<uint32_t>(in.below(0x800));
    e.flags = shape & 7;
    e.next = (shape & 0x20) ? in.take<uint16_t>() : static_cast<uint16_t>(in.below(n + 1));
    std::memcpy(m.host(d.addr + 16 * j), &e, sizeof(e));
  }
}

// Fills a ring's descriptors, avail entries and flags from the input.
void fill_ring(fuzz::FuzzInput& in, testing::FakeVirtqueue& q, testing::TestMemory& m) {
  for (uint16_t i = 0; i < kSize; ++i) {
    uint8_t shape = in.take<uint8_t>();
    VirtqDesc d;
    // Mostly addresses inside the data area, sometimes anywhere.
    d.addr = (shape & 0x80) ? in.take<uint64_t>() : kData + in.below(kMemSize - 0x2000);
    d.len = (shape & 0x40) ? in.take<uint32_t>() : static_cast<uint32_t>(in.below(0x800));
    d.flags = in.take<uint8_t>() & 7;
    d.next = (shape & 0x20) ? in.take<uint16_t>() : static_cast<uint16_t>(in.below(kSize));
    if ((d.flags & kDescFIndirect) && (shape & 0x10)) write_indirect_table(in, d, m);
    q.set_desc(i, d);
  }
  // Some data-area bytes: indirect tables and virtio_net_hdrs live there.
  size_t n = in.below(64);
  for (size_t i = 0; i < n; ++i) {
    uint64_t at = kData + in.below(kMemSize - 0x2000 - 16);
    uint64_t v = in.take<uint64_t>();
    std::memcpy(m.host(at), &v, sizeof(v));
  }
  size_t avail = in.below(kSize + 2);  // kSize + 1 is an index jump
  for (size_t i = 0; i < avail; ++i) {
    q.make_available(static_cast<uint16_t>(in.take<uint8_t>() % (kSize + 2)));
  }
  q.set_avail_flags(in.take<uint8_t>() & 1);
  q.set_used_event(in.take<uint16_t>());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  // One guest memory for every input, zeroed: a fresh allocation per input costs page faults.
  static testing::TestMemory m(kMem, kMemSize);
  m.clear();
  testing::FakeVirtqueue rxq(m, kRxRing, kSize);
  testing::FakeVirtqueue txq(m, kTxRing, kSize);
  fill_ring(in, rxq, m);
  fill_ring(in, txq, m);
  // Split rings only (fuzz_packed_ring has the packed layout); IN_ORDER is a split type of its own.
  uint64_t features =
      bit(feature::kVersion1) |
      (in.take<uint64_t>() & ~(bit(feature::kVersion1) | bit(feature::kRingPacked)));
  const uint16_t mtu = (in.take<uint8_t>() & 1) ? 1500 : 0;

  // Every chain the walker accepts is inside guest memory and readable-before-writable.
  auto check_walks = [&](auto ring) {
    require(ring.has_value());
    std::vector<ChainBuffer> scratch(kSize);
    for (uint16_t head = 0; head < kSize + 1; ++head) {
      auto c = ring->walk(head, scratch);
      if (!c) continue;
      require(c->buffers.size() <= kSize);
      bool writable = false;
      uint64_t r = 0, w = 0;
      for (const ChainBuffer& b : c->buffers) {
        require(m.mem().check_range(b.gpa, b.len).has_value());
        require(!(writable && !b.writable));
        writable |= b.writable;
        (b.writable ? w : r) += b.len;
      }
      require(r == c->readable_len && w == c->writable_len);
    }
  };
  if (has(features, feature::kInOrder)) {
    check_walks(SplitRingInOrder::create(txq.addresses(), m.mem(), features, 0, 0));
  } else {
    check_walks(SplitRing::create(txq.addresses(), m.mem(), features, 0, 0));
  }

  LoopbackEndpoint endpoint;
  std::vector<QueueConfig> config(1);
  std::vector<std::unique_ptr<Queue>> queues;
  require(endpoint.get_queues(config, nullptr, queues).has_value());
  VirtioNetQueueConfig c;
  c.mem = &m.mem();
  c.features = features;
  c.rx_ring = rxq.addresses();
  c.tx_ring = txq.addresses();
  c.mtu = mtu;
  auto q = VirtioNetQueue::create(c, std::move(queues[0]));
  require(q.has_value());
  for (int pass = 0; pass < 3; ++pass) (*q)->poll();
  (*q)->release_backend();
  (*q)->drain();

  // What came back: ids are heads the guest could have posted, and RX lengths fit the ring's
  // writable capacity for that head as the device saw it (at most the whole region). The loopback
  // delivers plain frames only: with an MTU and one chain per frame, none is longer than it allows.
  const bool one_chain = !has(features, feature::kMrgRxbuf);
  for (auto* ring_q : {&rxq, &txq}) {
    for (const auto& e : ring_q->drain_used()) {
      require(e.id < kSize);
      require(e.len <= kMemSize);
      if (ring_q == &rxq && mtu != 0 && one_chain) {
        require(e.len <= sizeof(VirtioNetHdr) + mtu + VirtioNetQueue::kMtuL2Overhead);
      }
    }
  }
  return 0;
}
