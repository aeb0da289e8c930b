// GuestRing: the guest driver's side of one virtqueue in any of the four ring layouts (split,
// split IN_ORDER, packed, packed IN_ORDER), over the fake drivers of tests/unit/core/virtqueue;
// what the VirtioNetQueue tests parametrised over the layout drive a queue pair with.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/virtqueue/virtio_defs.h"
#include "core/virtqueue/virtqueue.h"
#include "tests/unit/core/virtqueue/fake_driver.h"
#include "tests/unit/core/virtqueue/fake_packed_driver.h"

namespace pmdnet::virtio::testing {

enum class Layout { kSplit, kSplitInOrder, kPacked, kPackedInOrder };

inline bool is_packed(Layout l) { return l == Layout::kPacked || l == Layout::kPackedInOrder; }
inline bool is_in_order(Layout l) {
  return l == Layout::kSplitInOrder || l == Layout::kPackedInOrder;
}
// The negotiated feature bits a layout stands for.
inline uint64_t layout_features(Layout l) {
  return (is_packed(l) ? bit(feature::kRingPacked) : 0) |
         (is_in_order(l) ? bit(feature::kInOrder) : 0);
}
// For INSTANTIATE_TEST_SUITE_P over the layouts.
inline const auto kAllLayouts = ::testing::Values(Layout::kSplit, Layout::kSplitInOrder,
                                                  Layout::kPacked, Layout::kPackedInOrder);
inline std::string layout_name(const ::testing::TestParamInfo<Layout>& p) {
  switch (p.param) {
    case Layout::kSplit:
      return "Split";
    case Layout::kSplitInOrder:
      return "SplitInOrder";
    case Layout::kPacked:
      return "Packed";
    case Layout::kPackedInOrder:
      return "PackedInOrder";
  }
  return "";
}

// A used element as the guest driver read it.
struct UsedElem {
  uint32_t id;
  uint32_t len;
};

// A range of guest-physical addresses.
struct GpaRange {
  uint64_t gpa;
  uint64_t len;
  bool contains(uint64_t g) const { return g - gpa < len; }
};

class GuestRing {
 public:
  GuestRing(TestMemory& m, uint64_t gpa, Layout layout, uint16_t size) {
    if (is_packed(layout)) {
      packed_.emplace(m, gpa, size);
      packed_->set_in_order(is_in_order(layout));
    } else {
      split_.emplace(m, gpa, size);
    }
  }

  RingAddresses addresses() const { return packed_ ? packed_->addresses() : split_->addresses(); }
  RingIndexes start() const {
    return packed_ ? RingIndexes{kPackedWrapBit, kPackedWrapBit} : RingIndexes{0, 0};
  }
  // The device's used position after `n` one-descriptor chains returned, as rx_indexes() says it.
  static uint16_t used_position(bool packed, uint16_t n) {
    return packed ? FakePackedQueue::encode(n, true) : n;
  }

  // All the guest memory the ring occupies.
  GpaRange extent() const {
    if (packed_) return {packed_->ring_gpa(), packed_->end_gpa() - packed_->ring_gpa()};
    return {split_->desc_gpa(),
            split_->used_gpa() + used_ring_bytes(split_->size()) - split_->desc_gpa()};
  }
  // The parts of it the device writes: the used ring (split; its avail_event included), or the
  // descriptor ring and the device event suppression structure (packed).
  std::vector<GpaRange> device_parts() const {
    if (packed_) {
      return {{packed_->ring_gpa(), sizeof(PackedDesc) * uint64_t{packed_->size()}},
              {packed_->device_event_gpa(), sizeof(PackedEventSuppress)}};
    }
    return {{split_->used_gpa(), used_ring_bytes(split_->size())}};
  }
  // Where the device writes its used index (split) or the flags of the first used descriptor
  // (packed), and where it asks the driver when to kick (split: avail_event with EVENT_IDX, else
  // the used ring's flags; packed: the device event suppression structure's flags).
  uint64_t used_index_gpa() const {
    return packed_ ? packed_->ring_gpa() + offsetof(PackedDesc, flags) : split_->used_gpa() + 2;
  }
  uint64_t kick_request_gpa(bool event_idx) const {
    if (packed_) return packed_->device_event_gpa() + offsetof(PackedEventSuppress, flags);
    return event_idx ? split_->used_gpa() + 4 + sizeof(VirtqUsedElem) * split_->size()
                     : split_->used_gpa();
  }

  // Makes a chain over `bufs` available; returns its head (split) or buffer id (packed).
  uint16_t post(std::span<const Buf> bufs) {
    return packed_ ? packed_->post(bufs) : split_->post(bufs);
  }

  // Whether the device has published a used element the driver has not read yet.
  bool has_used() const {
    return packed_ ? packed_->has_used() : split_->used_idx() != split_read_;
  }

  // The used elements not read yet. `one_per_chain`: each returns one chain (no IN_ORDER batch).
  std::vector<UsedElem> drain_used(bool one_per_chain = true) {
    std::vector<UsedElem> out;
    if (packed_) {
      for (const auto& u : packed_->drain_used()) {
        EXPECT_TRUE(u.known) << "id " << u.id << " was not out";
        if (one_per_chain) {
          EXPECT_EQ(u.buffers, 1) << "one used descriptor per chain";
        }
        out.push_back({u.id, u.len});
      }
    } else {
      for (const auto& e : split_->drain_used()) out.push_back({e.id, e.len});
      split_read_ = static_cast<uint16_t>(split_read_ + out.size());
    }
    return out;
  }

 private:
  std::optional<FakeVirtqueue> split_;
  std::optional<FakePackedQueue> packed_;
  uint16_t split_read_ = 0;  // used elements the driver read
};

}  // namespace pmdnet::virtio::testing
