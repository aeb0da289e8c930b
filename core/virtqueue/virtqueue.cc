// RingError's names.
#include "core/virtqueue/virtqueue.h"

#include <fmt/format.h>

#include <cstddef>

#include "core/base/enum_names.h"

namespace pmdnet::virtio {

namespace {

constexpr EnumNameTable<RingError, static_cast<size_t>(RingError::kCount)> kRingErrorNames{{
    {RingError::kAvailIndexJump, "avail_index_jump", "avail index moved past the ring size"},
    {RingError::kHeadOutOfRange, "head_out_of_range", "available head index out of range"},
    {RingError::kNextOutOfRange, "next_out_of_range", "descriptor next index out of range"},
    {RingError::kChainTooLong, "chain_too_long",
     "descriptor chain longer than its ring or table (loop?)"},
    {RingError::kIndirectNotNegotiated, "indirect_not_negotiated",
     "indirect descriptor without INDIRECT_DESC"},
    {RingError::kIndirectNested, "indirect_nested", "nested indirect descriptor"},
    {RingError::kIndirectWithNext, "indirect_with_next", "indirect descriptor with NEXT"},
    {RingError::kIndirectBadLength, "indirect_bad_length", "indirect table with a bad length"},
    {RingError::kIndirectOutOfMemory, "indirect_out_of_memory",
     "indirect table outside guest memory"},
    {RingError::kBufferOutOfMemory, "buffer_out_of_memory", "buffer outside guest memory"},
    {RingError::kReadableAfterWritable, "readable_after_writable",
     "device-readable descriptor after a writable one"},
    {RingError::kChainTooLarge, "chain_too_large", "chain larger than 4 GiB"},
    {RingError::kHeadInUse, "head_in_use", "head made available while the device holds it"},
    {RingError::kBufferIdOutOfRange, "buffer_id_out_of_range", "packed buffer id out of range"},
    {RingError::kChainUnterminated, "chain_unterminated",
     "packed chain with no last descriptor among those the driver can have made available"},
}};

static_assert(covers_in_order(kRingErrorNames) && has_distinct_keys(kRingErrorNames));

}  // namespace

std::string_view to_string(RingError e) noexcept {
  return description_of(kRingErrorNames, e, "unknown ring error");
}

Result<void> check_ring_parts(const RingAddresses& a, uintptr_t avail_align, uintptr_t used_align) {
  if (a.desc == nullptr || a.avail == nullptr || a.used == nullptr) {
    return make_error(Errc::kInvalidArgument, "ring part not mapped");
  }
  auto misaligned = [](const uint8_t* p, uintptr_t align) {
    return reinterpret_cast<uintptr_t>(p) % align != 0;
  };
  if (misaligned(a.desc, 16) || misaligned(a.avail, avail_align) ||
      misaligned(a.used, used_align)) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("ring part misaligned (descriptors 16, avail {}, used {})",
                                  avail_align, used_align));
  }
  return {};
}

std::string_view to_key(RingError e) noexcept { return key_of(kRingErrorNames, e, "unknown"); }

}  // namespace pmdnet::virtio
