// The virtqueue seam: what a virtio-net queue needs from one ring layout, and the types every
// layout shares (a walked chain and its buffers, the errors a guest can make in a ring, the ring
// indexes that vhost-user saves and restores).
//
// A ring layout is a class that satisfies `Virtqueue`. The receive-slot pool, the transmit
// translation and the poll pass are templates on it, so the data path makes no virtual call per
// descriptor or per packet; SplitRing and SplitRingInOrder (split_ring.h) are the split layout of
// virtio 1.2, 2.7, PackedRing (packed_ring.h) the packed one, 2.8.
//
// The contract, for a ring driven by one thread:
//   - Chains are named by an id below size() (split: the head descriptor's index; packed: the
//     driver's buffer id). pop() hands
//     out a validated chain, mapped buffer by buffer, and the ring holds its id until
//     push_used(id, len) returns it. held(id) tells which ids are out.
//   - An error that breaks_queue() makes the whole ring untrustworthy: the caller stops polling
//     it. Any other error drops one chain, which pop() has already returned to the driver as used
//     with length 0 (unless its id was held: a held id made available again is ignored).
//   - Used elements become visible to the driver only at publish_used(); needs_notification()
//     then says whether the driver asked to be told.
//   - drain() returns every held chain as used with length 0 and publishes; abandon() forgets
//     them without writing the ring (a broken ring is never written again).
#pragma once

#include <concepts>
#include <cstdint>
#include <expected>
#include <span>
#include <string_view>

#include "core/base/result.h"

namespace pmdnet::virtio {

// What a guest can get wrong in a ring. kAvailIndexJump, kHeadOutOfRange, kBufferIdOutOfRange and
// kChainUnterminated break the queue (nothing after them can be trusted); the rest drop one chain,
// which goes back to the guest as used with length 0.
enum class RingError : uint8_t {
  kAvailIndexJump,         // avail idx moved more than the ring size past what was consumed
  kHeadOutOfRange,         // an available head index >= ring size
  kNextOutOfRange,         // a `next` index past the (direct or indirect) table
  kChainTooLong,           // a loop: more descriptors than the ring (or, in an indirect table,
                           // than the table or the ring), or more buffers than the scratch holds
  kIndirectNotNegotiated,  // INDIRECT without VIRTIO_F_RING_INDIRECT_DESC
  kIndirectNested,         // INDIRECT inside an indirect table
  kIndirectWithNext,       // INDIRECT and NEXT on the same descriptor
  kIndirectBadLength,      // indirect table length 0, not a multiple of 16, or too long
  kIndirectOutOfMemory,    // indirect table not inside one guest memory region
  kBufferOutOfMemory,      // a buffer not inside guest memory, or one whose range wraps
  kReadableAfterWritable,  // a device-readable descriptor after a device-writable one
  kChainTooLarge,          // buffer lengths adding up past 4 GiB
  kHeadInUse,              // a head the device still holds, made available again (ignored)
  kBufferIdOutOfRange,     // packed: a buffer id >= ring size
  kChainUnterminated,      // packed: NEXT past every descriptor the driver can have made
                           // available (the chain has no end the device can find)
  kCount,
};

std::string_view to_string(RingError e) noexcept;
// A short snake_case name for RingError counters in telemetry, e.g. "avail_index_jump".
std::string_view to_key(RingError e) noexcept;
constexpr bool breaks_queue(RingError e) noexcept {
  return e == RingError::kAvailIndexJump || e == RingError::kHeadOutOfRange ||
         e == RingError::kBufferIdOutOfRange || e == RingError::kChainUnterminated;
}

// One guest buffer of a chain, in chain order.
// NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): assigned whole before it is read
struct ChainBuffer {
  uint64_t gpa;
  uint32_t len;
  bool writable;            // device-writable (VIRTQ_DESC_F_WRITE)
  uint8_t* host = nullptr;  // where the buffer is mapped, when inside one region (else nullptr)
};

// A walked descriptor chain. `buffers` points into the caller's scratch span. Zero-length
// descriptors are skipped.
struct Chain {
  uint16_t head = 0;  // the chain's id (split: its head descriptor)
  std::span<const ChainBuffer> buffers;
  uint32_t readable_len = 0;  // device-readable bytes (they come first)
  uint32_t writable_len = 0;  // device-writable bytes
};

// Ring indexes to resume from, or that were reached (vhost-user SET/GET_VRING_BASE).
struct RingIndexes {
  uint16_t last_avail_idx = 0;
  uint16_t used_idx = 0;

  bool operator==(const RingIndexes&) const = default;
};

// Where the three parts of a ring are mapped in this process, as vhost-user names them (desc,
// avail, used). Split rings (2.7): descriptor table (16-byte aligned), available ring (2),
// used ring (4). Packed rings (2.8): descriptor ring (16), driver event suppression (4), device
// event suppression (4).
struct RingAddresses {
  uint8_t* desc = nullptr;
  uint8_t* avail = nullptr;
  uint8_t* used = nullptr;
  uint16_t size = 0;  // split: a power of two, at most 32768; packed: 1..32768
};

// That the three parts are mapped, the descriptors 16-byte aligned and the other two parts at
// `avail_align` and `used_align` (each layout's create() checks the rest).
Result<void> check_ring_parts(const RingAddresses& addresses, uintptr_t avail_align,
                              uintptr_t used_align);

// Which way a ring's buffers go. With IN_ORDER, a ring the device only reads (guest TX) returns a
// batch of buffers as one used element (2.7.9, 2.8.9: the driver learns only that all of them are
// used); a ring the device writes (guest RX) returns each with its length.
enum class RingRole : uint8_t { kDeviceWrites, kDeviceReads };

// What a virtio-net queue needs from a ring layout (see the contract above).
template <class R>
concept Virtqueue = requires(R& ring, const R& cring, std::span<ChainBuffer> scratch, uint16_t id,
                             uint32_t len) {
  { cring.size() } -> std::same_as<uint16_t>;
  { cring.used_idx() } -> std::same_as<uint16_t>;
  { cring.indexes() } -> std::same_as<RingIndexes>;
  // Chains the driver made available that have not been popped, or kAvailIndexJump.
  { cring.avail_count() } -> std::same_as<std::expected<uint16_t, RingError>>;
  // The next available chain (call only while avail_count() > 0), validated against guest
  // memory, its buffers in `scratch` (size() entries hold any chain of the ring). Holds its id.
  { ring.pop(scratch) } -> std::same_as<std::expected<Chain, RingError>>;
  // A hint: the descriptors of the chain `id` entries past the next pop() will be read soon.
  cring.prefetch(id);
  // A held chain walked again, with every check again (the driver may have changed it).
  { cring.rewalk(id, scratch) } -> std::same_as<std::expected<Chain, RingError>>;
  { cring.held(id) } -> std::same_as<bool>;
  // Returns chain `id` to the driver with `len` bytes written; visible at publish_used().
  ring.push_used(id, len);
  ring.publish_used();
  // After publish_used(): whether the driver asked to be notified of what was published.
  { ring.needs_notification() } -> std::same_as<bool>;
  // Asks the driver not to kick (the device polls), or to kick again; enable_kicks() returns
  // true when chains arrived meanwhile (poll again before sleeping).
  ring.suppress_kicks();
  { ring.enable_kicks() } -> std::same_as<bool>;
  ring.drain();
  ring.abandon();
};

// Teardown of a ring: every held chain back to the driver (drain), or, for a ring that broke,
// forgotten without writing the ring again (abandon).
template <Virtqueue Vq>
void drain_or_abandon(Vq& ring, bool broken) noexcept {
  if (broken) {
    ring.abandon();
  } else {
    ring.drain();
  }
}

}  // namespace pmdnet::virtio
