// FakePackedQueue: the guest side of a packed virtqueue (virtio 1.2, 2.8) for tests. It lays out a
// descriptor ring and both event suppression structures in a TestMemory, keeps the driver's wrap
// counters and free buffer ids, makes chains available as a driver does (every descriptor
// written, the head's flags last with release ordering), reads used descriptors against its used
// wrap counter, sets the driver's event suppression, and can write arbitrary (hostile) ring
// contents.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "core/virtqueue/virtio_defs.h"
#include "core/virtqueue/virtqueue.h"
#include "tests/unit/core/virtqueue/test_memory.h"

namespace pmdnet::virtio::testing {

class FakePackedQueue {
 public:
  // One used descriptor as the driver read it.
  struct Used {
    uint16_t id;
    uint32_t len;
    uint16_t flags;
    uint16_t position;  // where it was read
    bool known;         // its id was one the driver had made available and not got back
    uint16_t buffers;   // buffers it returned: 1, or with IN_ORDER the whole batch up to `id`
  };

  // The descriptor ring at `ring_gpa` (16 * size bytes, 16-aligned), then the driver's event
  // suppression structure (the vhost-user "avail" address), then the device's ("used").
  FakePackedQueue(TestMemory& m, uint64_t ring_gpa, uint16_t size)
      : m_(m), size_(size), ring_gpa_(ring_gpa), descs_of_(size, 0), free_descs_(size) {
    driver_event_gpa_ = ring_gpa_ + sizeof(PackedDesc) * size_t{size};
    device_event_gpa_ = driver_event_gpa_ + sizeof(PackedEventSuppress);
    std::memset(m_.host(ring_gpa_), 0, end_gpa() - ring_gpa_);
    for (uint32_t i = size; i > 0; --i) free_ids_.push_back(static_cast<uint16_t>(i - 1));
  }

  RingAddresses addresses() const {
    return {m_.host(ring_gpa_), m_.host(driver_event_gpa_), m_.host(device_event_gpa_), size_};
  }
  uint16_t size() const { return size_; }
  uint64_t ring_gpa() const { return ring_gpa_; }
  uint64_t driver_event_gpa() const { return driver_event_gpa_; }
  uint64_t device_event_gpa() const { return device_event_gpa_; }
  uint64_t end_gpa() const { return device_event_gpa_ + sizeof(PackedEventSuppress); }

  // The driver's positions and wrap counters, encoded as vhost-user's ring base (bit 15: wrap).
  static uint16_t encode(uint16_t position, bool wrap) {
    return static_cast<uint16_t>(position | (wrap ? kPackedWrapBit : 0));
  }
  RingIndexes indexes() const {
    return {encode(next_avail_, avail_wrap_), encode(next_used_, used_wrap_)};
  }
  // Starts the driver at these positions, in a ring that already went around with all of it
  // returned: the descriptors before the used position were used in this lap, those from it on
  // in the lap before (a new ring is this at position 0 with wrap counters 1).
  void resume(RingIndexes at) {
    next_avail_ = at.last_avail_idx & ~kPackedWrapBit;
    avail_wrap_ = (at.last_avail_idx & kPackedWrapBit) != 0;
    next_used_ = at.used_idx & ~kPackedWrapBit;
    used_wrap_ = (at.used_idx & kPackedWrapBit) != 0;
    for (uint16_t p = 0; p < size_; ++p) {
      set_flags(p, used_bits(p < next_used_ ? used_wrap_ : !used_wrap_));
    }
  }
  uint16_t next_avail() const { return next_avail_; }
  bool avail_wrap() const { return avail_wrap_; }
  uint16_t next_used() const { return next_used_; }
  bool used_wrap() const { return used_wrap_; }
  // Descriptors the driver can still make available.
  uint32_t free_descs() const { return free_descs_; }
  bool outstanding(uint16_t id) const { return id < size_ && descs_of_[id] != 0; }
  // With IN_ORDER the driver reads a used descriptor as the end of a batch: its id and every id
  // made available before it are used. Set before making chains available.
  void set_in_order(bool on) { in_order_ = on; }

  // The AVAIL/USED flag bits with which a driver whose wrap counter is `wrap` makes a descriptor
  // available (2.8.1), and those of a used descriptor the device wrote with wrap counter `wrap`.
  static uint16_t avail_bits(bool wrap) { return wrap ? kPackedDescFAvail : kPackedDescFUsed; }
  static uint16_t used_bits(bool wrap) {
    return wrap ? static_cast<uint16_t>(kPackedDescFAvail | kPackedDescFUsed) : 0;
  }

  // Raw ring access, for hostile tests: the descriptor's other fields, then its flags (release).
  void set_desc(uint16_t position, PackedDesc d) {
    uint8_t* p = desc_host(position);
    std::memcpy(p, &d, offsetof(PackedDesc, flags));
    store16(p + offsetof(PackedDesc, flags), d.flags);
  }
  PackedDesc desc(uint16_t position) const {
    PackedDesc d{};
    std::memcpy(&d, desc_host(position), sizeof(d));
    d.flags = load16(desc_host(position) + offsetof(PackedDesc, flags));
    return d;
  }
  void set_flags(uint16_t position, uint16_t flags) {
    store16(desc_host(position) + offsetof(PackedDesc, flags), flags);
  }

  // Makes a direct chain over `bufs` available with a free buffer id, as Linux's virtio_ring does:
  // the descriptors in ring order from the driver's position (wrapping at the end of the ring,
  // where the wrap counter flips), the id on every descriptor, NEXT on all but the last, the
  // head's flags written last. Returns the id.
  uint16_t post(std::span<const Buf> bufs) {
    const uint16_t id = take_id();
    return publish(direct(bufs, id), id);
  }
  // The same with a chosen id (hostile: out of range, or one still out); bookkept when in range.
  uint16_t post_as(std::span<const Buf> bufs, uint16_t id) {
    std::erase(free_ids_, id);  // a chosen id is out now too
    return publish(direct(bufs, id), id);
  }
  // An indirect chain: a table at `table_gpa` describing `bufs` (2.8.19: only WRITE in its
  // flags), made available as one ring descriptor with INDIRECT.
  uint16_t post_indirect(uint64_t table_gpa, std::span<const Buf> bufs) {
    write_table(table_gpa, bufs);
    const uint16_t id = take_id();
    const PackedDesc d{table_gpa, static_cast<uint32_t>(sizeof(PackedDesc) * bufs.size()), id,
                       kDescFIndirect};
    return publish(std::span(&d, 1), id);
  }
  void write_table(uint64_t table_gpa, std::span<const Buf> bufs) {
    for (size_t i = 0; i < bufs.size(); ++i) {
      const PackedDesc e{bufs[i].gpa, bufs[i].len, 0,
                         static_cast<uint16_t>(bufs[i].writable ? kDescFWrite : 0)};
      std::memcpy(m_.host(table_gpa) + sizeof(PackedDesc) * i, &e, sizeof(e));
    }
  }
  // Makes `descs` available as one chain with buffer id `id`: their addr, len and id as given,
  // the WRITE and INDIRECT flags as given, NEXT on all but the last (and on the last too with
  // `next_on_last`), AVAIL/USED for the driver's wrap counter at each position; the head's flags
  // last. Returns `id`.
  uint16_t publish(std::span<const PackedDesc> descs, uint16_t id, bool next_on_last = false) {
    if (descs.empty() || descs.size() > free_descs_) std::abort();  // a test that overfills
    const uint16_t head = next_avail_;
    uint16_t head_flags = 0;
    for (size_t i = 0; i < descs.size(); ++i) {
      PackedDesc d = descs[i];
      d.flags = static_cast<uint16_t>((d.flags & (kDescFWrite | kDescFIndirect)) |
                                      avail_bits(avail_wrap_));
      if (i + 1 < descs.size() || next_on_last) d.flags |= kDescFNext;
      if (i == 0) {
        head_flags = d.flags;
        std::memcpy(desc_host(next_avail_), &d, offsetof(PackedDesc, flags));
      } else {
        set_desc(next_avail_, d);
      }
      advance(next_avail_, avail_wrap_, 1);
    }
    // 2.8.21.1: the head's flags go last, so the device sees the whole chain at once.
    set_flags(head, head_flags);
    free_descs_ -= static_cast<uint32_t>(descs.size());
    if (id < size_) {
      descs_of_[id] = static_cast<uint16_t>(descs.size());
      if (in_order_) order_.push_back(id);
    }
    return id;
  }

  // Whether the descriptor at the driver's used position is used (2.8.1: AVAIL and USED both
  // equal to the driver's used wrap counter).
  bool has_used() const {
    const uint16_t f = load16(desc_host(next_used_) + offsetof(PackedDesc, flags));
    return ((f & kPackedDescFAvail) != 0) == used_wrap_ &&
           ((f & kPackedDescFUsed) != 0) == used_wrap_;
  }
  // The next used descriptor, if the device published one. Moves the used position on by the
  // descriptors of the chain it returns (with IN_ORDER, of every chain up to it) and frees them.
  std::optional<Used> pop_used() {
    if (!has_used()) return std::nullopt;
    PackedDesc d{};
    std::memcpy(&d, desc_host(next_used_), sizeof(d));
    d.flags = load16(desc_host(next_used_) + offsetof(PackedDesc, flags));
    Used u{d.id, d.len, d.flags, next_used_, outstanding(d.id), 0};
    uint32_t skip = 0;
    if (!u.known) {
      skip = 1;  // a device bug: the test sees known == false
    } else if (in_order_) {
      for (;;) {
        const uint16_t front = order_.front();
        order_.pop_front();
        skip += give_back(front);
        ++u.buffers;
        if (front == d.id) break;
      }
    } else {
      skip = give_back(d.id);
      u.buffers = 1;
    }
    advance(next_used_, used_wrap_, skip);
    return u;
  }
  std::vector<Used> drain_used() {
    std::vector<Used> out;
    while (auto u = pop_used()) out.push_back(*u);
    return out;
  }

  // The driver's event suppression (2.8.10): when the device should notify it.
  void set_driver_event(uint16_t flags, uint16_t off_wrap = 0) {
    store16(m_.host(driver_event_gpa_), off_wrap);
    store16(m_.host(driver_event_gpa_) + offsetof(PackedEventSuppress, flags), flags);
  }
  // The device's: when the driver should kick it.
  PackedEventSuppress device_event() const {
    return {load16(m_.host(device_event_gpa_)),
            load16(m_.host(device_event_gpa_) + offsetof(PackedEventSuppress, flags))};
  }

 private:
  std::span<const PackedDesc> direct(std::span<const Buf> bufs, uint16_t id) {
    staged_.clear();
    for (const Buf& b : bufs) {
      staged_.push_back({b.gpa, b.len, id, static_cast<uint16_t>(b.writable ? kDescFWrite : 0)});
    }
    return staged_;
  }
  uint8_t* desc_host(uint16_t position) const {
    return m_.host(ring_gpa_ + sizeof(PackedDesc) * position);
  }
  void advance(uint16_t& position, bool& wrap, uint32_t n) const {
    uint32_t p = position + n;
    while (p >= size_) {
      p -= size_;
      wrap = !wrap;
    }
    position = static_cast<uint16_t>(p);
  }
  uint16_t take_id() {
    if (free_ids_.empty()) std::abort();  // a test that overfills
    const uint16_t id = free_ids_.back();
    free_ids_.pop_back();
    return id;
  }
  // Frees chain `id`'s descriptors and id; returns how many descriptors it had.
  uint32_t give_back(uint16_t id) {
    const uint32_t n = descs_of_[id];
    descs_of_[id] = 0;
    free_descs_ += n;
    free_ids_.push_back(id);
    return n;
  }
  static uint16_t load16(const uint8_t* p) {
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(const_cast<uint8_t*>(p)))
        .load(std::memory_order_acquire);
  }
  static void store16(uint8_t* p, uint16_t v) {
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).store(v, std::memory_order_release);
  }

  TestMemory& m_;
  uint16_t size_;
  uint64_t ring_gpa_;
  uint64_t driver_event_gpa_;
  uint64_t device_event_gpa_;
  uint16_t next_avail_ = 0;
  bool avail_wrap_ = true;  // 2.8.1: both counters start at 1
  uint16_t next_used_ = 0;
  bool used_wrap_ = true;
  bool in_order_ = false;
  std::vector<uint16_t> descs_of_;  // by id: ring descriptors of the chain out (0: not out)
  std::vector<uint16_t> free_ids_;
  std::deque<uint16_t> order_;  // IN_ORDER: ids out, in the order they were made available
  uint32_t free_descs_;
  std::vector<PackedDesc> staged_;  // post(): the chain being made available
};

}  // namespace pmdnet::virtio::testing
