// GuestMemory: region validation, lookup by binary search, and the checked copies.
#include "core/guest_memory/guest_memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace pmdnet {

namespace {

constexpr uint64_t kMaxU64 = ~uint64_t{0};

// True if [start, start + len) wraps; len > 0.
bool wraps(uint64_t start, uint64_t len) { return len - 1 > kMaxU64 - start; }

}  // namespace

std::string to_string(const GuestMemoryError& e) {
  const char* what =
      e.code == GuestMemoryErrc::kOverflow ? "range wraps past 2^64" : "range is not mapped";
  return fmt::format("guest memory [{:#x}, +{:#x}): {}", e.gpa, e.len, what);
}

Result<GuestMemory> GuestMemory::create(std::span<const GuestMemoryRegion> regions) {
  GuestMemory mem;
  mem.regions_.assign(regions.begin(), regions.end());
  for (const auto& r : mem.regions_) {
    if (r.size == 0) {
      return make_error(Errc::kInvalidArgument, fmt::format("region at gpa {:#x} is empty", r.gpa));
    }
    if (r.host == nullptr) {
      return make_error(Errc::kInvalidArgument,
                        fmt::format("region at gpa {:#x} has no host address", r.gpa));
    }
    if (wraps(r.gpa, r.size)) {
      return make_error(Errc::kOverflow,
                        fmt::format("region at gpa {:#x} size {:#x} wraps", r.gpa, r.size));
    }
    if (wraps(reinterpret_cast<uintptr_t>(r.host), r.size)) {
      return make_error(Errc::kOverflow,
                        fmt::format("region at gpa {:#x} has a host range that wraps", r.gpa));
    }
  }
  std::sort(mem.regions_.begin(), mem.regions_.end(),
            [](const auto& a, const auto& b) { return a.gpa < b.gpa; });
  for (size_t i = 1; i < mem.regions_.size(); ++i) {
    const auto& prev = mem.regions_[i - 1];
    if (mem.regions_[i].gpa - prev.gpa < prev.size) {
      return make_error(
          Errc::kInvalidArgument,
          fmt::format("regions at gpa {:#x} and {:#x} overlap", prev.gpa, mem.regions_[i].gpa));
    }
  }
  return mem;
}

ptrdiff_t GuestMemory::find(uint64_t gpa) const noexcept {
  // The last region starting at or below gpa.
  auto it = std::upper_bound(regions_.begin(), regions_.end(), gpa,
                             [](uint64_t g, const GuestMemoryRegion& r) { return g < r.gpa; });
  if (it == regions_.begin()) return -1;
  --it;
  if (gpa - it->gpa >= it->size) return -1;
  return it - regions_.begin();
}

uint8_t* GuestMemory::map_search(uint64_t gpa, uint64_t len) const noexcept {
  const ptrdiff_t i = find(gpa);
  if (i < 0) return nullptr;
  const GuestMemoryRegion& r = regions_[static_cast<size_t>(i)];
  const uint64_t offset = gpa - r.gpa;
  return len <= r.size - offset ? r.host + offset : nullptr;
}

std::optional<uint64_t> GuestMemory::host_to_gpa(const uint8_t* host, uint64_t len) const noexcept {
  const auto p = reinterpret_cast<uintptr_t>(host);
  for (const GuestMemoryRegion& r : regions_) {
    const uintptr_t offset = p - reinterpret_cast<uintptr_t>(r.host);  // huge below the region
    if (offset < r.size) {
      if (len > r.size - offset) return std::nullopt;
      return r.gpa + offset;
    }
  }
  return std::nullopt;
}

GuestMemory::Access<void> GuestMemory::check_range(uint64_t gpa, uint64_t len) const noexcept {
  if (len == 0) return {};
  if (wraps(gpa, len)) {
    return std::unexpected(GuestMemoryError{GuestMemoryErrc::kOverflow, gpa, len});
  }
  uint64_t at = gpa;
  uint64_t left = len;
  while (left > 0) {
    ptrdiff_t i = find(at);
    if (i < 0) return std::unexpected(GuestMemoryError{GuestMemoryErrc::kUnmapped, gpa, len});
    const auto& r = regions_[static_cast<size_t>(i)];
    uint64_t n = std::min(r.size - (at - r.gpa), left);
    at += n;
    left -= n;
  }
  return {};
}

GuestMemory::Access<void> GuestMemory::translate(uint64_t gpa, uint64_t len,
                                                 std::vector<std::span<uint8_t>>& out) const {
  return for_each_span(gpa, len, [&](std::span<uint8_t> s) { out.push_back(s); });
}

GuestMemory::Access<std::span<uint8_t>> GuestMemory::contiguous(uint64_t gpa,
                                                                uint64_t len) const noexcept {
  if (len == 0) return std::span<uint8_t>();
  if (wraps(gpa, len)) {
    return std::unexpected(GuestMemoryError{GuestMemoryErrc::kOverflow, gpa, len});
  }
  ptrdiff_t i = find(gpa);
  if (i < 0) return std::unexpected(GuestMemoryError{GuestMemoryErrc::kUnmapped, gpa, len});
  const auto& r = regions_[static_cast<size_t>(i)];
  uint64_t offset = gpa - r.gpa;
  if (len > r.size - offset) {
    return std::unexpected(GuestMemoryError{GuestMemoryErrc::kUnmapped, gpa, len});
  }
  return std::span<uint8_t>(r.host + offset, static_cast<size_t>(len));
}

GuestMemory::Access<void> GuestMemory::read_at(uint64_t gpa,
                                               std::span<uint8_t> dest) const noexcept {
  size_t done = 0;
  return for_each_span(gpa, dest.size(), [&](std::span<uint8_t> s) noexcept {
    std::memcpy(dest.data() + done, s.data(), s.size());
    done += s.size();
  });
}

GuestMemory::Access<void> GuestMemory::write_at(uint64_t gpa,
                                                std::span<const uint8_t> src) const noexcept {
  size_t done = 0;
  auto ok = for_each_span(gpa, src.size(), [&](std::span<uint8_t> s) noexcept {
    std::memcpy(s.data(), src.data() + done, s.size());
    done += s.size();
  });
  if (ok && dirty_log_ != nullptr && !src.empty()) dirty_log_->log_write(gpa, src.size());
  return ok;
}

}  // namespace pmdnet
