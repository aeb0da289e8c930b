// InOrderUsed: the order in which a ring must return its chains when VIRTIO_F_IN_ORDER is
// negotiated (2.7.9, 2.8.9: "the device MUST use buffers in the same order in which they have
// been made available"). The ring records each id it hands out; a chain finished out of order
// (a zero-copy transmit completed late, a receive completed after a later one) waits here until
// every chain taken before it is finished too.
#pragma once

#include <cstdint>
#include <vector>

namespace pmdnet::virtio {

class InOrderUsed {
 public:
  InOrderUsed() = default;
  // For ids below `size`; each id is taken at most once until it is released.
  explicit InOrderUsed(uint16_t size) : order_(size), len_(size), done_(size), capacity_(size) {}

  // `id` was handed out: it is released after every id taken before it.
  void taken(uint16_t id) noexcept {
    uint32_t slot = first_ + count_;
    if (slot >= capacity_) slot -= capacity_;
    order_[slot] = id;
    ++count_;
  }

  // `id` (taken, not yet finished) is finished with `len` bytes. Calls release(id, len) for every
  // finished id at the front of the order, oldest first, and forgets them.
  template <class Release>
  void finish(uint16_t id, uint32_t len, Release&& release) noexcept {
    if (waiting_ == 0 && count_ > 0 && order_[first_] == id) {
      // The oldest, and nothing after it waits: the usual case, released at once.
      pop_front();
      release(id, len);
      return;
    }
    len_[id] = len;
    if (!done_[id]) ++waiting_;
    done_[id] = 1;
    while (count_ > 0) {
      const uint16_t front = order_[first_];
      if (!done_[front]) break;
      done_[front] = 0;
      --waiting_;
      pop_front();
      release(front, len_[front]);
    }
  }

  // Ids taken and not yet released, oldest first: calls f(id) for each.
  template <class F>
  void for_each_taken(F&& f) const {
    for (uint32_t i = 0, slot = first_; i < count_; ++i) {
      f(order_[slot]);
      if (++slot == capacity_) slot = 0;
    }
  }

  // Whether `id` (taken) is finished and waits for an older id.
  bool finished(uint16_t id) const noexcept { return done_[id] != 0; }
  uint32_t size() const noexcept { return count_; }

  void clear() noexcept {
    for_each_taken([this](uint16_t id) { done_[id] = 0; });
    first_ = 0;
    count_ = 0;
    waiting_ = 0;
  }

 private:
  void pop_front() noexcept {
    if (++first_ == capacity_) first_ = 0;
    --count_;
  }

  std::vector<uint16_t> order_;  // a ring of the ids taken, oldest at first_
  std::vector<uint32_t> len_;    // by id: the length it finished with
  std::vector<uint8_t> done_;    // by id: finished, waiting for an older id
  uint32_t capacity_ = 0;        // entries of order_
  uint32_t first_ = 0;
  uint32_t count_ = 0;
  uint32_t waiting_ = 0;  // ids finished and waiting for an older one
};

}  // namespace pmdnet::virtio
