// SplitRing: the device side of one split virtqueue (virtio 1.2, 2.7) over memory shared with a
// hostile guest. It pops available heads, walks descriptor chains (direct and indirect) into
// validated guest buffers, publishes used elements, and decides when the guest needs a
// notification (EVENT_IDX or NO_INTERRUPT). It owns the ring indexes; the vhost-user glue
// restores and saves them (SET/GET_VRING_BASE).
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string_view>

#include "core/base/result.h"
#include "core/guest_memory/guest_memory.h"
#include "core/virtio/virtio_defs.h"

namespace pmdnet::virtio {

// Where the three parts of the ring are mapped in this process.
struct SplitRingAddresses {
  uint8_t* desc = nullptr;   // descriptor table, 16-byte aligned
  uint8_t* avail = nullptr;  // available ring, 2-byte aligned
  uint8_t* used = nullptr;   // used ring, 4-byte aligned
  uint16_t size = 0;         // a power of two, at most 32768
};

// What a guest can get wrong in a ring. The first two break the queue (nothing after them can be
// trusted); the rest drop one chain, which goes back to the guest as used with length 0.
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
  kCount,
};

std::string_view to_string(RingError e) noexcept;
// A short snake_case name for RingError counters in telemetry, e.g. "avail_index_jump".
std::string_view to_key(RingError e) noexcept;
constexpr bool breaks_queue(RingError e) noexcept {
  return e == RingError::kAvailIndexJump || e == RingError::kHeadOutOfRange;
}

// One guest buffer of a chain, in chain order.
struct ChainBuffer {
  uint64_t gpa;
  uint32_t len;
  bool writable;            // device-writable (VIRTQ_DESC_F_WRITE)
  uint8_t* host = nullptr;  // where the buffer is mapped, when inside one region (else nullptr)
};

// A walked descriptor chain. `buffers` points into the caller's scratch span. Zero-length
// descriptors are skipped.
struct Chain {
  uint16_t head = 0;
  std::span<const ChainBuffer> buffers;
  uint32_t readable_len = 0;  // device-readable bytes (they come first)
  uint32_t writable_len = 0;  // device-writable bytes
};

class SplitRing {
 public:
  SplitRing() = default;

  // Checks sizes, alignment, and that each ring part lies inside one region of `mem` for this size.
  // `last_avail_idx` and `used_idx` are the indexes to resume from (0 for a new ring). `features`
  // are the negotiated ones (INDIRECT_DESC, EVENT_IDX matter).
  static Result<SplitRing> create(const SplitRingAddresses& addresses, const GuestMemory& mem,
                                  uint64_t features, uint16_t last_avail_idx, uint16_t used_idx);

  uint16_t size() const noexcept { return size_; }
  uint16_t last_avail_idx() const noexcept { return last_avail_idx_; }
  uint16_t used_idx() const noexcept { return used_idx_; }
  bool event_idx() const noexcept { return event_idx_; }

  // Heads the driver made available that have not been popped, or kAvailIndexJump.
  std::expected<uint16_t, RingError> avail_count() const noexcept;

  // Pops the next available head; call only while avail_count() > 0. The head is not checked
  // here: walk() does that.
  uint16_t pop_avail() noexcept;
  // A hint: prefetches the descriptor whose head is `ahead` entries past the next one pop_avail
  // returns. Call only for entries avail_count() covers; the head is masked into the table.
  void prefetch_desc(uint16_t ahead) const noexcept;

  // Walks the chain at `head` into `scratch` (which should hold size() entries: enough for any
  // chain in the ring, or in one indirect table at its head; a chain of more buffers fails with
  // kChainTooLong, nothing is written past the scratch). The ring's descriptors are bounded by
  // size(), an indirect table's by its own length and size(). Every buffer is checked against
  // guest memory.
  std::expected<Chain, RingError> walk(uint16_t head,
                                       std::span<ChainBuffer> scratch) const noexcept;

  // Writes a used element at the next used slot; not visible to the guest until publish_used().
  void push_used(uint32_t head, uint32_t len) noexcept;

  // Makes every pushed element visible (release store of used->idx).
  void publish_used() noexcept;

  // After publish_used(): whether the guest asked to be interrupted for what was published since
  // the last notification (EVENT_IDX: used_event; otherwise: avail->flags NO_INTERRUPT). Marks
  // everything published so far as signalled.
  bool needs_notification() noexcept;

  // Asks the guest not to kick us (we poll): NO_NOTIFY without EVENT_IDX; with EVENT_IDX, an
  // avail_event the guest will not cross for a long time.
  void suppress_kicks() noexcept;

 private:
  uint16_t load_avail_idx() const noexcept;

  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  const GuestMemory* mem_ = nullptr;
  uint16_t size_ = 0;
  uint16_t last_avail_idx_ = 0;
  uint16_t used_idx_ = 0;            // next used slot (shadow of used->idx)
  uint16_t signalled_used_idx_ = 0;  // used->idx when we last decided about notifying
  bool event_idx_ = false;
  bool indirect_ = false;
};

}  // namespace pmdnet::virtio
