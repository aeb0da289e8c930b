// The segment-list helpers: packet_count, next_packet and linearize, with every malformed list
// turned into a PacketError instead of the seed's panic.
#include "core/net_backend/packet.h"

#include <cstring>

#include "core/guest_memory/guest_memory.h"
#include "core/net_backend/buffer_access.h"

namespace pmdnet {

std::string_view to_string(PacketError e) noexcept {
  switch (e) {
    case PacketError::kEmpty:
      return "empty segment list";
    case PacketError::kTailFirst:
      return "packet starts with a tail segment";
    case PacketError::kZeroSegmentCount:
      return "head segment with segment_count 0";
    case PacketError::kSegmentCountPastEnd:
      return "segment_count runs past the end of the list";
    case PacketError::kHeadInsideTail:
      return "head segment inside another packet";
    case PacketError::kLengthMismatch:
      return "segment lengths do not add up to the packet length";
    case PacketError::kGuestMemory:
      return "segment outside guest memory";
  }
  return "unknown packet error";
}

std::expected<TxPacket, PacketError> next_packet(std::span<const TxSegment> segments) noexcept {
  if (segments.empty()) return std::unexpected(PacketError::kEmpty);
  const TxSegment& head = segments.front();
  if (!head.head) return std::unexpected(PacketError::kTailFirst);
  size_t count = head.head->segment_count;
  if (count == 0) return std::unexpected(PacketError::kZeroSegmentCount);
  if (count > segments.size()) return std::unexpected(PacketError::kSegmentCountPastEnd);
  for (size_t i = 1; i < count; ++i) {
    if (segments[i].is_head()) return std::unexpected(PacketError::kHeadInsideTail);
  }
  return TxPacket{&*head.head, segments.first(count), segments.subspan(count)};
}

std::expected<size_t, PacketError> packet_count(std::span<const TxSegment> segments) noexcept {
  size_t n = 0;
  while (!segments.empty()) {
    auto p = next_packet(segments);
    if (!p) return std::unexpected(p.error());
    segments = p->rest;
    ++n;
  }
  return n;
}

uint64_t segments_len(std::span<const TxSegment> segments) noexcept {
  uint64_t total = 0;
  for (const auto& s : segments) total += s.len;
  return total;
}

std::expected<void, PacketError> linearize(const GuestMemory& mem,
                                           std::span<const TxSegment>& segments,
                                           std::vector<uint8_t>& out) {
  auto p = next_packet(segments);
  if (!p) return std::unexpected(p.error());
  if (segments_len(p->segments) != p->metadata->len) {
    segments = p->rest;
    return std::unexpected(PacketError::kLengthMismatch);
  }
  out.resize(p->metadata->len);
  size_t offset = 0;
  for (const auto& s : p->segments) {
    if (s.host != nullptr) {
      std::memcpy(out.data() + offset, s.host, s.len);  // translated by the frontend
    } else if (!mem.read_at(s.gpa, std::span(out).subspan(offset, s.len))) {
      segments = p->rest;
      return std::unexpected(PacketError::kGuestMemory);
    }
    offset += s.len;
  }
  segments = p->rest;
  return {};
}

std::expected<void, PacketError> linearize(const BufferAccess& pool,
                                           std::span<const TxSegment>& segments,
                                           std::vector<uint8_t>& out) {
  return linearize(pool.guest_memory(), segments, out);
}

}  // namespace pmdnet
