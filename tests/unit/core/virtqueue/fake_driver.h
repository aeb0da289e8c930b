// FakeDriver: the guest side of split virtqueues for tests. It lays out rings and buffers inside a
// GuestMemory the way a virtio driver does, posts chains (direct or indirect), reads the used ring,
// and can write arbitrary (hostile) ring contents.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "core/virtqueue/split_ring.h"
#include "core/virtqueue/virtio_defs.h"
#include "tests/unit/core/virtqueue/test_memory.h"

namespace pmdnet::virtio::testing {

class FakeVirtqueue {
 public:
  // Rings at `ring_gpa` (needs desc 16 + avail 2*size+6 + used 8*size+6 bytes, 4K is plenty for
  // size <= 256).
  FakeVirtqueue(TestMemory& m, uint64_t ring_gpa, uint16_t size)
      : m_(m), size_(size), desc_gpa_(ring_gpa), chain_len_(size) {
    avail_gpa_ = desc_gpa_ + desc_table_bytes(size);
    used_gpa_ = (avail_gpa_ + avail_ring_bytes(size) + 3) & ~uint64_t{3};
    std::memset(m_.host(desc_gpa_), 0, used_gpa_ + used_ring_bytes(size) - desc_gpa_);
    for (uint16_t i = 0; i < size; ++i) free_.push_back(static_cast<uint16_t>(size - 1 - i));
  }

  RingAddresses addresses() const {
    return {m_.host(desc_gpa_), m_.host(avail_gpa_), m_.host(used_gpa_), size_};
  }
  uint16_t size() const { return size_; }
  uint64_t desc_gpa() const { return desc_gpa_; }
  uint64_t used_gpa() const { return used_gpa_; }

  // Raw ring access, for hostile tests.
  void set_desc(uint16_t i, VirtqDesc d) {
    std::memcpy(m_.host(desc_gpa_) + 16 * size_t{i}, &d, 16);
  }
  VirtqDesc desc(uint16_t i) const {
    VirtqDesc d{};
    std::memcpy(&d, m_.host(desc_gpa_) + 16 * size_t{i}, 16);
    return d;
  }
  void set_avail_idx(uint16_t v) { store16(avail_gpa_ + 2, v); }
  uint16_t avail_idx() const { return load16(avail_gpa_ + 2); }
  void set_avail_flags(uint16_t v) { store16(avail_gpa_, v); }
  void set_used_event(uint16_t v) { store16(avail_gpa_ + 4 + 2 * uint64_t{size_}, v); }
  uint16_t used_flags() const { return load16(used_gpa_); }
  uint16_t used_idx() const { return load16(used_gpa_ + 2); }
  uint16_t avail_event() const { return load16(used_gpa_ + 4 + 8 * uint64_t{size_}); }

  // Writes `head` into the next avail slot and bumps avail idx.
  void make_available(uint16_t head) {
    uint16_t idx = avail_idx();
    store16(avail_gpa_ + 4 + 2 * uint64_t(idx % size_), head);
    set_avail_idx(static_cast<uint16_t>(idx + 1));
  }

  // Builds a direct chain over `bufs` from free descriptors; returns its head.
  uint16_t add_chain(std::span<const Buf> bufs) {
    std::vector<uint16_t> ids;
    for (size_t i = 0; i < bufs.size(); ++i) {
      ids.push_back(free_.back());
      free_.pop_back();
    }
    for (size_t i = 0; i < bufs.size(); ++i) {
      uint16_t flags = bufs[i].writable ? kDescFWrite : 0;
      if (i + 1 < bufs.size()) flags |= kDescFNext;
      set_desc(ids[i],
               {bufs[i].gpa, bufs[i].len, flags, i + 1 < bufs.size() ? ids[i + 1] : uint16_t{0}});
    }
    chain_len_[ids[0]] = ids;
    return ids[0];
  }

  // Builds an indirect chain: a table at `table_gpa` describing `bufs`, and one descriptor.
  uint16_t add_indirect(uint64_t table_gpa, std::span<const Buf> bufs) {
    for (size_t i = 0; i < bufs.size(); ++i) {
      uint16_t flags = bufs[i].writable ? kDescFWrite : 0;
      if (i + 1 < bufs.size()) flags |= kDescFNext;
      VirtqDesc d{bufs[i].gpa, bufs[i].len, flags, static_cast<uint16_t>(i + 1)};
      std::memcpy(m_.host(table_gpa) + 16 * i, &d, 16);
    }
    uint16_t head = free_.back();
    free_.pop_back();
    set_desc(head, {table_gpa, static_cast<uint32_t>(16 * bufs.size()), kDescFIndirect, 0});
    chain_len_[head] = {head};
    return head;
  }

  uint16_t post(std::span<const Buf> bufs) {
    uint16_t head = add_chain(bufs);
    make_available(head);
    return head;
  }

  // The next used element, if the device published one; frees its descriptors.
  std::optional<VirtqUsedElem> pop_used() {
    if (last_used_ == used_idx()) return std::nullopt;
    VirtqUsedElem e{};
    std::memcpy(&e, m_.host(used_gpa_) + 4 + 8 * size_t(last_used_ % size_), 8);
    ++last_used_;
    if (e.id < size_ && !chain_len_[e.id].empty()) {
      for (uint16_t d : chain_len_[e.id]) free_.push_back(d);
      chain_len_[e.id].clear();
    }
    return e;
  }

  std::vector<VirtqUsedElem> drain_used() {
    std::vector<VirtqUsedElem> out;
    while (auto e = pop_used()) out.push_back(*e);
    return out;
  }

 private:
  uint16_t load16(uint64_t gpa) const {
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(m_.host(gpa)))
        .load(std::memory_order_acquire);
  }
  void store16(uint64_t gpa, uint16_t v) {
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(m_.host(gpa)))
        .store(v, std::memory_order_release);
  }

  TestMemory& m_;
  uint16_t size_;
  uint64_t desc_gpa_;
  uint64_t avail_gpa_;
  uint64_t used_gpa_;
  uint16_t last_used_ = 0;
  std::vector<uint16_t> free_;
  std::vector<std::vector<uint16_t>> chain_len_;  // by head: the descriptors of its chain
};

}  // namespace pmdnet::virtio::testing
