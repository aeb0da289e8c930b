// GuestMemory: the only way pmdnet touches a guest's memory. A table of mapped regions
// (guest-physical address, size, host address), translation of GPA ranges into host spans split at
// region edges, and bounds-checked read_at/write_at with a typed error. It does not own the
// mappings: whoever built it (the vhost-user glue, or a test) keeps them alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/base/result.h"

namespace pmdnet {

// A plain description of one mapped region; tests build GuestMemory from these directly.
struct GuestMemoryRegion {
  uint64_t gpa = 0;         // guest-physical address of the first byte
  uint64_t size = 0;        // bytes
  uint8_t* host = nullptr;  // where the first byte is mapped in this process
};

enum class GuestMemoryErrc : uint8_t {
  kOverflow,  // gpa + len wraps past 2^64
  kUnmapped,  // some byte of the range lies in no region
};

// A failed access, with the range that was asked for. Trivially copyable: the data plane returns
// it without allocating.
struct GuestMemoryError {
  GuestMemoryErrc code;
  uint64_t gpa;
  uint64_t len;

  bool operator==(const GuestMemoryError&) const = default;
};

std::string to_string(const GuestMemoryError& e);

// Receives the guest-physical ranges that write_at dirtied, for live-migration dirty logging.
class DirtyLog {
 public:
  virtual ~DirtyLog() = default;
  virtual void log_write(uint64_t gpa, uint64_t len) noexcept = 0;
};

class GuestMemory {
 public:
  template <class T>
  using Access = std::expected<T, GuestMemoryError>;

  // No regions: every non-empty access fails.
  GuestMemory() = default;

  // Validates and sorts the regions. Refuses a region of size 0, a null host address, a region
  // whose gpa or host range wraps, and regions that overlap in guest-physical space.
  static Result<GuestMemory> create(std::span<const GuestMemoryRegion> regions);

  std::span<const GuestMemoryRegion> regions() const noexcept { return regions_; }

  // Host spans covering [gpa, gpa + len), in order, split at region edges. Fails, writing nothing
  // to `out`, if any byte is unmapped or the range wraps. A zero-length range is valid anywhere
  // and yields no spans. `out` is appended to.
  Access<void> translate(uint64_t gpa, uint64_t len, std::vector<std::span<uint8_t>>& out) const;

  // The single host span for [gpa, gpa + len) when it lies inside one region: the zero-copy path.
  // kUnmapped also when the range is mapped but crosses a region edge.
  Access<std::span<uint8_t>> contiguous(uint64_t gpa, uint64_t len) const noexcept;

  // Where [gpa, gpa + len) is mapped when it lies inside one region, else nullptr: contiguous()
  // without the error, inline for the datapath (a scan of up to kScanRegions regions, which
  // covers a VM's usual one to a few; a binary search past that).
  uint8_t* map(uint64_t gpa, uint64_t len) const noexcept {
    if (regions_.size() > kScanRegions) return map_search(gpa, len);
    for (const GuestMemoryRegion& r : regions_) {
      const uint64_t offset = gpa - r.gpa;  // wraps to a huge value below the region
      if (offset < r.size) return len <= r.size - offset ? r.host + offset : nullptr;
    }
    return nullptr;
  }

  // Whether the host range [host, host + len) lies wholly inside one region's mapping: how the
  // vhost-user glue checks ring parts, which rte_vhost hands over as host pointers. False for
  // len 0 at an address no region holds, and for a range that wraps.
  bool contains_host(const uint8_t* host, uint64_t len) const noexcept {
    return host_to_gpa(host, len).has_value();
  }
  // The guest-physical address of [host, host + len) when contains_host(host, len), by the first
  // region (in gpa order) whose mapping holds `host`; else nullopt. How the vhost-user glue finds
  // where a ring part it writes through a host pointer is, for dirty logging.
  std::optional<uint64_t> host_to_gpa(const uint8_t* host, uint64_t len) const noexcept;

  // Succeeds if every byte of [gpa, gpa + len) is mapped (always, for len 0).
  Access<void> check_range(uint64_t gpa, uint64_t len) const noexcept;

  // Copies guest memory into `dest`. On error nothing is copied.
  Access<void> read_at(uint64_t gpa, std::span<uint8_t> dest) const noexcept;

  // Copies `src` into guest memory and reports it to the dirty log. On error nothing is written.
  Access<void> write_at(uint64_t gpa, std::span<const uint8_t> src) const noexcept;

  // Where write_at reports the ranges it wrote; nullptr turns logging off. Not owned.
  void set_dirty_log(DirtyLog* log) noexcept { dirty_log_ = log; }
  DirtyLog* dirty_log() const noexcept { return dirty_log_; }

  // Calls f(std::span<uint8_t>) for each host piece of [gpa, gpa + len), after checking that the
  // whole range is mapped; if it is not, f is never called.
  template <class F>
  Access<void> for_each_span(uint64_t gpa, uint64_t len, F&& f) const noexcept(noexcept(f({})));

 private:
  static constexpr size_t kScanRegions = 8;

  // Index of the region containing `gpa`, or -1.
  ptrdiff_t find(uint64_t gpa) const noexcept;
  uint8_t* map_search(uint64_t gpa, uint64_t len) const noexcept;

  std::vector<GuestMemoryRegion> regions_;  // sorted by gpa, non-overlapping
  DirtyLog* dirty_log_ = nullptr;
};

template <class F>
GuestMemory::Access<void> GuestMemory::for_each_span(uint64_t gpa, uint64_t len, F&& f) const
    noexcept(noexcept(f({}))) {
  // The common case, a range inside one region: one lookup instead of check_range's and the
  // loop's (a tenth of a 64-byte guest TX; docs/benchmarks.md).
  if (uint8_t* host = map(gpa, len)) {
    if (len != 0) f(std::span<uint8_t>(host, static_cast<size_t>(len)));
    return {};
  }
  if (auto ok = check_range(gpa, len); !ok) return ok;
  while (len > 0) {
    const GuestMemoryRegion& r = regions_[static_cast<size_t>(find(gpa))];
    uint64_t offset = gpa - r.gpa;
    uint64_t n = r.size - offset < len ? r.size - offset : len;
    f(std::span<uint8_t>(r.host + offset, static_cast<size_t>(n)));
    gpa += n;
    len -= n;
  }
  return {};
}

}  // namespace pmdnet
