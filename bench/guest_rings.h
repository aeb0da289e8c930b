// The guest side of a virtqueue for the ring benchmarks, in each layout pmdnet serves: chains set
// up once and made available again on every iteration, and the features and start indexes that
// make VirtioNetQueue pick the layout.
#pragma once

#include <benchmark/benchmark.h>

#include <span>
#include <vector>

#include "core/virtqueue/virtio_defs.h"
#include "core/virtqueue/virtqueue.h"
#include "tests/unit/core/virtqueue/fake_driver.h"
#include "tests/unit/core/virtqueue/fake_packed_driver.h"

namespace pmdnet::virtio::bench {

using testing::Buf;
using testing::FakePackedQueue;
using testing::FakeVirtqueue;
using testing::TestMemory;

inline constexpr uint16_t kRingSize = 256;

class SplitGuest {
 public:
  SplitGuest(TestMemory& m, uint64_t ring_gpa, bool) : q_(m, ring_gpa, kRingSize) {}
  RingAddresses addresses() const { return q_.addresses(); }
  void add(std::span<const Buf> bufs) { heads_.push_back(q_.add_chain(bufs)); }
  void offer() {
    for (uint16_t h : heads_) q_.make_available(h);
  }
  // The guest reaps its used ring (no free-list work: the chains are reused as they are).
  void reap() { benchmark::DoNotOptimize(q_.used_idx()); }

 private:
  FakeVirtqueue q_;
  std::vector<uint16_t> heads_;
};

class PackedGuest {
 public:
  PackedGuest(TestMemory& m, uint64_t ring_gpa, bool in_order) : q_(m, ring_gpa, kRingSize) {
    q_.set_in_order(in_order);
  }
  RingAddresses addresses() const { return q_.addresses(); }
  void add(std::span<const Buf> bufs) { chains_.emplace_back(bufs.begin(), bufs.end()); }
  // Makes available the chains the device does not hold, each at the driver's next position.
  void offer() {
    for (; out_ < chains_.size(); ++out_) {
      q_.post(chains_[(next_ + out_) % chains_.size()]);
    }
  }
  // Reads the used descriptors back, which frees their ids and descriptors for offer().
  void reap() {
    while (auto u = q_.pop_used()) {
      out_ -= u->buffers;
      next_ = (next_ + u->buffers) % chains_.size();
    }
  }

 private:
  FakePackedQueue q_;
  std::vector<std::vector<Buf>> chains_;
  size_t out_ = 0;   // chains made available and not yet used
  size_t next_ = 0;  // the chain the device returns next (the guests here return in order)
};

// A ring layout: the guest side, the features that make VirtioNetQueue pick it, and the ring
// indexes of a new ring.
struct Split {
  using Guest = SplitGuest;
  static constexpr uint64_t kFeatures = 0;
  static constexpr RingIndexes kStart{};
};
struct SplitInOrder {
  using Guest = SplitGuest;
  static constexpr uint64_t kFeatures = bit(feature::kInOrder);
  static constexpr RingIndexes kStart{};
};
struct Packed {
  using Guest = PackedGuest;
  static constexpr uint64_t kFeatures = bit(feature::kRingPacked);
  static constexpr RingIndexes kStart{kPackedWrapBit, kPackedWrapBit};
};
struct PackedInOrder {
  using Guest = PackedGuest;
  static constexpr uint64_t kFeatures = bit(feature::kRingPacked) | bit(feature::kInOrder);
  static constexpr RingIndexes kStart{kPackedWrapBit, kPackedWrapBit};
};

}  // namespace pmdnet::virtio::bench
