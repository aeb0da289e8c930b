// BufferAccess: the frontend's view of guest receive buffers, addressed by RxId. The frontend owns
// it and passes it by reference into every Queue call, so the backend never locks it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "core/net_backend/packet.h"

namespace pmdnet {

class GuestMemory;

// One received frame for BufferAccess::write_packets: its metadata and its bytes, in one piece or
// in several (the segments of an mbuf chain), written one after the other with no copy between.
struct RxFrame {
  RxMetadata metadata;
  std::span<const std::span<const uint8_t>> pieces;
};

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

  // A burst of receives in one call: writes frames[i], header and data, into buffer ids[i], in
  // order, and stops before the first frame that does not fit its buffer (nothing of it is
  // written). Returns how many frames it wrote, each of them whole: the backend writes those
  // buffers no more, and still returns them from rx_poll. A frontend may hand them to the guest
  // at once. A frame the frontend drops (over the MTU, a header it cannot express) still uses
  // its buffer and counts as written. This default writes each frame with one write_packet, a
  // frame in several pieces copied into one first.
  virtual size_t write_packets(std::span<const RxId> ids,
                               std::span<const RxFrame> frames) noexcept {
    const size_t n = std::min(ids.size(), frames.size());
    std::vector<uint8_t> joined;
    for (size_t i = 0; i < n; ++i) {
      const std::span<const std::span<const uint8_t>> pieces = frames[i].pieces;
      uint64_t len = 0;
      for (std::span<const uint8_t> piece : pieces) len += piece.size();
      if (capacity(ids[i]) < len) return i;
      if (pieces.size() == 1) {
        write_packet(ids[i], frames[i].metadata, pieces[0]);
        continue;
      }
      joined.clear();
      for (std::span<const uint8_t> piece : pieces)
        joined.insert(joined.end(), piece.begin(), piece.end());
      write_packet(ids[i], frames[i].metadata, joined);
    }
    return n;
  }
};

}  // namespace pmdnet
