// BufferAccess: the frontend's view of guest receive buffers, addressed by RxId. The frontend owns
// it and passes it by reference into every Queue call, so the backend never locks it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/net_backend/packet.h"

namespace pmdnet {

class GuestMemory;

class BufferAccess {
 public:
  virtual ~BufferAccess() = default;

  // The guest memory the buffers live in.
  virtual const GuestMemory& guest_memory() const noexcept = 0;

  // Writes `data` to the buffer `id`.
  virtual void write_data(RxId id, std::span<const uint8_t> data) noexcept = 0;

  // Appends the guest address segments of buffer `id` to `buf`. Callers clear `buf` first if
  // they do not want the segments of an earlier call kept.
  virtual void push_guest_addresses(RxId id, std::vector<RxBufferSegment>& buf) const = 0;

  // The capacity of buffer `id` in bytes.
  virtual uint32_t capacity(RxId id) const noexcept = 0;

  // Sets the packet metadata of the receive in buffer `id`.
  virtual void write_header(RxId id, const RxMetadata& metadata) noexcept = 0;

  // Writes the packet data and its header in one call.
  virtual void write_packet(RxId id, const RxMetadata& metadata,
                            std::span<const uint8_t> data) noexcept {
    write_data(id, data);
    write_header(id, metadata);
  }
};

}  // namespace pmdnet
