// TestMemory and Buf: guest memory backed by host buffers, and a guest buffer as a test driver
// describes it; shared by the fake drivers of split and packed virtqueues.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/guest_memory/guest_memory.h"

namespace pmdnet::virtio::testing {

// Guest memory: `size` bytes at `gpa`, backed by a host buffer. With `split`, two regions that
// touch in guest-physical space ([gpa, gpa + split) and the rest) but live in separate host
// buffers, so a guest buffer across the edge has no single mapping.
class TestMemory {
 public:
  explicit TestMemory(uint64_t gpa = 0x100000, uint64_t size = 4 << 20, uint64_t split = 0)
      : backing_(size + 64),
        upper_backing_(split != 0 ? size - split + 64 : 0),
        gpa_(gpa),
        size_(size),
        split_(split != 0 ? split : size) {
    host_ = aligned(backing_);
    std::vector<GuestMemoryRegion> regions{{gpa, split_, host_}};
    if (split != 0) {
      upper_host_ = aligned(upper_backing_);
      regions.push_back({gpa + split_, size - split_, upper_host_});
    }
    mem_ = *GuestMemory::create(regions);
  }
  const GuestMemory& mem() const { return mem_; }
  GuestMemory& mutable_mem() { return mem_; }  // to attach a DirtyLog
  uint8_t* host(uint64_t gpa) const {
    const uint64_t offset = gpa - gpa_;
    if (offset < split_) return host_ + offset;
    // Past the memory (a test's hostile ring address): computed as an integer, since pointer
    // arithmetic off null (no upper region) or past the allocation is undefined.
    const uintptr_t base = upper_host_ != nullptr ? reinterpret_cast<uintptr_t>(upper_host_)
                                                  : reinterpret_cast<uintptr_t>(host_) + split_;
    // NOLINTNEXTLINE(performance-no-int-to-ptr): a hostile address, never dereferenced
    return reinterpret_cast<uint8_t*>(base + (offset - split_));
  }
  uint64_t gpa() const { return gpa_; }
  uint64_t end() const { return gpa_ + size_; }
  // Zeroes the guest's bytes, as a fresh TestMemory would have them (a fuzz target reuses one).
  void clear() {
    std::fill(backing_.begin(), backing_.end(), uint8_t{0});
    std::fill(upper_backing_.begin(), upper_backing_.end(), uint8_t{0});
  }

 private:
  // 64-byte aligned host start, so ring alignment in guest terms is host alignment too.
  static uint8_t* aligned(std::vector<uint8_t>& b) {
    auto base = reinterpret_cast<uintptr_t>(b.data());
    return b.data() + ((64 - base % 64) % 64);
  }

  std::vector<uint8_t> backing_;
  std::vector<uint8_t> upper_backing_;
  uint8_t* host_ = nullptr;
  uint8_t* upper_host_ = nullptr;
  uint64_t gpa_;
  uint64_t size_;
  uint64_t split_;
  GuestMemory mem_;
};

struct Buf {
  uint64_t gpa;
  uint32_t len;
  bool writable;
};

}  // namespace pmdnet::virtio::testing
