// TestBufferAccess: a BufferAccess for tests whose receive buffers are lists of guest segments,
// written through GuestMemory like a real frontend would, with every header recorded.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "core/guest_memory/guest_memory.h"
#include "core/net_backend/buffer_access.h"

namespace pmdnet::testing {

class TestBufferAccess final : public BufferAccess {
 public:
  explicit TestBufferAccess(const GuestMemory& mem) : mem_(mem) {}

  // Declares receive buffer `id` as the given guest segments.
  void add_buffer(RxId id, std::vector<RxBufferSegment> segments) {
    buffers_[id.value] = Buffer{std::move(segments), {}, 0};
  }

  const GuestMemory& guest_memory() const noexcept override { return mem_; }

  void write_data(RxId id, std::span<const uint8_t> data) noexcept override {
    Buffer& b = buffers_.at(id.value);
    b.data_writes++;
    size_t done = 0;
    for (const auto& s : b.segments) {
      if (done == data.size()) break;
      size_t n = std::min<size_t>(s.len, data.size() - done);
      write_ok_ &= mem_.write_at(s.gpa, data.subspan(done, n)).has_value();
      done += n;
    }
    write_ok_ &= done == data.size();
  }

  void push_guest_addresses(RxId id, std::vector<RxBufferSegment>& buf) const override {
    const Buffer& b = buffers_.at(id.value);
    buf.insert(buf.end(), b.segments.begin(), b.segments.end());
  }

  uint32_t capacity(RxId id) const noexcept override {
    uint32_t total = 0;
    for (const auto& s : buffers_.at(id.value).segments) total += s.len;
    return total;
  }

  void write_header(RxId id, const RxMetadata& metadata) noexcept override {
    buffers_.at(id.value).header = metadata;
  }

  // What the buffer holds, read back out of guest memory: `len` bytes from its start.
  std::vector<uint8_t> read_back(RxId id, size_t len) const {
    std::vector<uint8_t> out(len);
    size_t done = 0;
    for (const auto& s : buffers_.at(id.value).segments) {
      if (done == len) break;
      size_t n = std::min<size_t>(s.len, len - done);
      (void)mem_.read_at(s.gpa, std::span(out).subspan(done, n));
      done += n;
    }
    return out;
  }

  std::optional<RxMetadata> header(RxId id) const { return buffers_.at(id.value).header; }
  int data_writes(RxId id) const { return buffers_.at(id.value).data_writes; }
  bool all_writes_ok() const { return write_ok_; }

 private:
  struct Buffer {
    std::vector<RxBufferSegment> segments;
    std::optional<RxMetadata> header;
    int data_writes = 0;
  };

  const GuestMemory& mem_;
  std::map<uint32_t, Buffer> buffers_;
  bool write_ok_ = true;
};

// Guest memory made of separate host buffers, so that guest-contiguous ranges are not
// host-contiguous.
class TestGuestMemory {
 public:
  // Regions at the given gpas, each `size` bytes, filled with 0xee.
  TestGuestMemory(std::initializer_list<uint64_t> gpas, uint64_t size) {
    std::vector<GuestMemoryRegion> regions;
    for (uint64_t gpa : gpas) {
      backing_.emplace_back(size, uint8_t{0xee});
      regions.push_back({gpa, size, backing_.back().data()});
    }
    mem_ = *GuestMemory::create(regions);
  }
  const GuestMemory& mem() const { return mem_; }

 private:
  std::vector<std::vector<uint8_t>> backing_;
  GuestMemory mem_;
};

}  // namespace pmdnet::testing
