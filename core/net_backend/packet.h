// Packet metadata shared by frontends and backends (the seed's data types): receive and transmit
// ids, RX metadata with checksum state and VLAN, TX flags and metadata, transmit segments, and the
// segment-list helpers packet_count, next_packet and linearize.
//
// Bit layouts follow the seed's `#[bitfield]` declarations: the first field is the least
// significant bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/net/frame.h"

namespace pmdnet {

class GuestMemory;
class BufferAccess;

inline constexpr uint32_t ETHERNET_HEADER_LEN = net::kEthernetHeaderLen;
inline constexpr uint32_t ETHERNET_VLAN_HEADER_LEN = net::kEthernetHeaderLen + net::kVlanTagLen;
inline constexpr uint16_t IPV4_MIN_HEADER_LEN = net::kIpv4MinHeaderLen;
inline constexpr uint16_t IPV6_MIN_HEADER_LEN = net::kIpv6HeaderLen;

// 802.1Q tag information, packed in 16 bits:
//   bits 0-2 priority, bit 3 drop_eligible_indicator, bits 4-15 vlan_id.
// This is the seed's layout, not the wire TCI; use from_tci/to_tci to convert.
class VlanMetadata {
 public:
  static constexpr uint16_t kPriorityMask = 0x7;
  static constexpr uint16_t kVlanIdMask = 0xfff;

  constexpr VlanMetadata() noexcept = default;
  static constexpr VlanMetadata from_bits(uint16_t bits) noexcept { return VlanMetadata(bits); }
  constexpr uint16_t into_bits() const noexcept { return bits_; }

  // Wire TCI: bits 13-15 PCP (priority), bit 12 DEI, bits 0-11 VID.
  static constexpr VlanMetadata from_tci(uint16_t tci) noexcept {
    return VlanMetadata()
        .with_priority(static_cast<uint8_t>(tci >> 13))
        .with_drop_eligible_indicator((tci >> 12) & 1)
        .with_vlan_id(tci & kVlanIdMask);
  }
  constexpr uint16_t to_tci() const noexcept {
    return static_cast<uint16_t>((priority() << 13) | (drop_eligible_indicator() ? 1u << 12 : 0u) |
                                 vlan_id());
  }

  // Priority for 802.1Q (3 bits).
  constexpr uint8_t priority() const noexcept { return bits_ & kPriorityMask; }
  // Marks the frame as droppable before higher-priority traffic. Almost always false.
  constexpr bool drop_eligible_indicator() const noexcept { return (bits_ >> 3) & 1; }
  // The 802.1Q VLAN id (12 bits).
  constexpr uint16_t vlan_id() const noexcept { return bits_ >> 4; }

  // Setters keep only the field's width, so an out-of-range value never spills into a neighbour.
  constexpr VlanMetadata with_priority(uint8_t p) const noexcept {
    return VlanMetadata(static_cast<uint16_t>((bits_ & ~kPriorityMask) | (p & kPriorityMask)));
  }
  constexpr VlanMetadata with_drop_eligible_indicator(bool dei) const noexcept {
    return VlanMetadata(static_cast<uint16_t>((bits_ & ~(1u << 3)) | (dei ? 1u << 3 : 0u)));
  }
  constexpr VlanMetadata with_vlan_id(uint16_t id) const noexcept {
    return VlanMetadata(static_cast<uint16_t>((bits_ & 0xf) | ((id & kVlanIdMask) << 4)));
  }

  constexpr bool operator==(const VlanMetadata&) const noexcept = default;

 private:
  constexpr explicit VlanMetadata(uint16_t bits) noexcept : bits_(bits) {}
  uint16_t bits_ = 0;
};
static_assert(sizeof(VlanMetadata) == 2);

// A receive buffer id, chosen by the frontend.
struct RxId {
  uint32_t value = 0;
  constexpr bool operator==(const RxId&) const noexcept = default;
};
static_assert(sizeof(RxId) == 4);

// One piece of a receive buffer in guest memory.
struct RxBufferSegment {
  uint64_t gpa = 0;  // guest physical address
  uint32_t len = 0;  // bytes in this range
  constexpr bool operator==(const RxBufferSegment&) const noexcept = default;
};

// The IP layer, and the TCP/UDP layer (the frame parser's, core/net).
using L3Protocol = net::L3Protocol;
using L4Protocol = net::L4Protocol;

// The receive checksum state of a packet.
enum class RxChecksumState : uint8_t {
  Unknown,  // not evaluated
  Good,     // correct
  Bad,      // incorrect
  // Validated, but the value in the header is wrong: LRO/RSC coalesced several payloads without
  // updating the first packet's checksum.
  ValidatedButWrong,
};

// True if the checksum has been validated.
constexpr bool is_valid(RxChecksumState s) noexcept {
  return s == RxChecksumState::Good || s == RxChecksumState::ValidatedButWrong;
}

// Receive packet metadata.
struct RxMetadata {
  size_t offset = 0;  // of the packet data from the beginning of the receive buffer
  size_t len = 0;     // of the packet in bytes
  RxChecksumState ip_checksum = RxChecksumState::Unknown;
  RxChecksumState l4_checksum = RxChecksumState::Unknown;
  L4Protocol l4_protocol = L4Protocol::Unknown;
  // Set when the packet arrived with an 802.1Q tag that was stripped (L2 connections only).
  std::optional<VlanMetadata> vlan;

  // Not in the seed; added as in later OpenVMM, for coalesced (GRO/LRO) receives. When
  // gso_size > 0 the packet is several TCP segments glued together, each carrying gso_size payload
  // bytes, and the header lengths describe its (single) set of headers.
  L3Protocol l3_protocol = L3Protocol::Unknown;
  uint8_t l2_len = 0;
  uint16_t l3_len = 0;
  uint8_t l4_len = 0;
  uint16_t gso_size = 0;

  constexpr bool operator==(const RxMetadata&) const noexcept = default;
};

// A transmit id. Several segments (one packet) share it.
struct TxId {
  uint32_t value = 0;
  constexpr bool operator==(const TxId&) const noexcept = default;
};
static_assert(sizeof(TxId) == 4);

// Flags affecting transmit behaviour, packed in 8 bits, least significant first:
//   0 offload_ip_header_checksum  l2_len and l3_len must be set
//   1 offload_tcp_checksum        l2_len and l3_len must be set
//   2 offload_udp_checksum        l2_len and l3_len must be set
//   3 offload_tcp_segmentation    l2_len, l3_len, l4_len and max_segment_size must be set
//   4 is_ipv4
//   5 is_ipv6                     mutually exclusive with is_ipv4
//   6 offload_udp_segmentation    l2_len, l3_len and max_segment_size must be set (USO)
//   7 reserved
class TxFlags {
 public:
  static constexpr uint8_t kOffloadIpHeaderChecksum = 1u << 0;
  static constexpr uint8_t kOffloadTcpChecksum = 1u << 1;
  static constexpr uint8_t kOffloadUdpChecksum = 1u << 2;
  static constexpr uint8_t kOffloadTcpSegmentation = 1u << 3;
  static constexpr uint8_t kIsIpv4 = 1u << 4;
  static constexpr uint8_t kIsIpv6 = 1u << 5;
  static constexpr uint8_t kOffloadUdpSegmentation = 1u << 6;
  static constexpr uint8_t kReservedMask = 1u << 7;

  constexpr TxFlags() noexcept = default;
  // The reserved bit is kept as given; from_bits does not validate.
  static constexpr TxFlags from_bits(uint8_t bits) noexcept { return TxFlags(bits); }
  constexpr uint8_t into_bits() const noexcept { return bits_; }

  constexpr bool offload_ip_header_checksum() const noexcept {
    return get(kOffloadIpHeaderChecksum);
  }
  constexpr bool offload_tcp_checksum() const noexcept { return get(kOffloadTcpChecksum); }
  constexpr bool offload_udp_checksum() const noexcept { return get(kOffloadUdpChecksum); }
  constexpr bool offload_tcp_segmentation() const noexcept { return get(kOffloadTcpSegmentation); }
  constexpr bool is_ipv4() const noexcept { return get(kIsIpv4); }
  constexpr bool is_ipv6() const noexcept { return get(kIsIpv6); }
  constexpr bool offload_udp_segmentation() const noexcept { return get(kOffloadUdpSegmentation); }

  constexpr TxFlags with_offload_ip_header_checksum(bool v) const noexcept {
    return with(kOffloadIpHeaderChecksum, v);
  }
  constexpr TxFlags with_offload_tcp_checksum(bool v) const noexcept {
    return with(kOffloadTcpChecksum, v);
  }
  constexpr TxFlags with_offload_udp_checksum(bool v) const noexcept {
    return with(kOffloadUdpChecksum, v);
  }
  constexpr TxFlags with_offload_tcp_segmentation(bool v) const noexcept {
    return with(kOffloadTcpSegmentation, v);
  }
  constexpr TxFlags with_is_ipv4(bool v) const noexcept { return with(kIsIpv4, v); }
  constexpr TxFlags with_is_ipv6(bool v) const noexcept { return with(kIsIpv6, v); }
  constexpr TxFlags with_offload_udp_segmentation(bool v) const noexcept {
    return with(kOffloadUdpSegmentation, v);
  }

  constexpr bool operator==(const TxFlags&) const noexcept = default;

 private:
  constexpr explicit TxFlags(uint8_t bits) noexcept : bits_(bits) {}
  constexpr bool get(uint8_t bit) const noexcept { return (bits_ & bit) != 0; }
  constexpr TxFlags with(uint8_t bit, bool v) const noexcept {
    return TxFlags(static_cast<uint8_t>(v ? (bits_ | bit) : (bits_ & ~bit)));
  }
  uint8_t bits_ = 0;
};
static_assert(sizeof(TxFlags) == 1);

// Transmit packet metadata, carried by a packet's head segment.
struct TxMetadata {
  TxId id;
  uint8_t segment_count = 0;  // segments in the packet, this one included
  TxFlags flags;
  uint32_t len = 0;  // total packet length in bytes
  // The header lengths and the transport offset are only guaranteed when an offload flag is set.
  uint8_t l2_len = 0;                    // Ethernet header (with any VLAN tag)
  uint16_t l3_len = 0;                   // IP header
  uint8_t l4_len = 0;                    // TCP header
  uint16_t transport_header_offset = 0;  // where the TCP/UDP header starts
  uint16_t max_segment_size = 0;         // for TSO/USO; only set when one of them is
  // Set when the packet should leave with an 802.1Q tag (L2 connections only).
  std::optional<VlanMetadata> vlan;

  constexpr bool operator==(const TxMetadata&) const noexcept = default;
};

// A transmit segment: the head of a packet (carrying its metadata) or a continuation.
struct TxSegment {
  std::optional<TxMetadata> head;  // the seed's TxSegmentType: Head(metadata) when set, else Tail
  uint64_t gpa = 0;                // guest address of this segment
  uint32_t len = 0;                // bytes
  // Not in the seed: where [gpa, gpa + len) is mapped in this process, when the frontend has
  // already translated it (inside one region of the BufferAccess's guest memory), else nullptr.
  // Backends use it instead of looking the address up again, and fall back to guest_memory()
  // without it. Valid for as long as the segment's packet is outstanding.
  uint8_t* host = nullptr;

  static constexpr TxSegment make_head(const TxMetadata& m, uint64_t gpa, uint32_t len) noexcept {
    return TxSegment{m, gpa, len};
  }
  static constexpr TxSegment make_tail(uint64_t gpa, uint32_t len) noexcept {
    return TxSegment{std::nullopt, gpa, len};
  }
  constexpr bool is_head() const noexcept { return head.has_value(); }
};

// Why a segment list could not be walked. The seed panics on these; here they are counted.
enum class PacketError : uint8_t {
  kEmpty,                // no segments where a packet was expected
  kTailFirst,            // the list (or the next packet) starts with a tail
  kZeroSegmentCount,     // a head whose segment_count is 0
  kSegmentCountPastEnd,  // a head whose segment_count runs past the end of the list
  kHeadInsideTail,       // a head where the previous packet's tail belongs
  kLengthMismatch,       // the segment lengths do not add up to the head's len
  kGuestMemory,          // a segment's range is not in guest memory
};

std::string_view to_string(PacketError e) noexcept;

// The number of packets in `segments`.
std::expected<size_t, PacketError> packet_count(std::span<const TxSegment> segments) noexcept;

// One packet split off the front of a segment list.
// NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): built whole, with both members
struct TxPacket {
  const TxMetadata* metadata;           // the head's metadata; points into the list
  std::span<const TxSegment> segments;  // this packet's segments, head first
  std::span<const TxSegment> rest;      // what follows it
};

// The next packet of `segments`: its metadata, its segments, and the remaining segments.
std::expected<TxPacket, PacketError> next_packet(std::span<const TxSegment> segments) noexcept;

// The sum of the segments' lengths; a packet is consistent when this equals its head's len.
uint64_t segments_len(std::span<const TxSegment> segments) noexcept;

// Copies the next packet of `segments` out of guest memory into `out` (resized to the packet's
// len; its capacity is reused) and advances `segments` past it. On a malformed list `segments` is
// left alone; on kLengthMismatch or kGuestMemory it is advanced past the bad packet, so the caller
// can drop it and carry on.
std::expected<void, PacketError> linearize(const GuestMemory& mem,
                                           std::span<const TxSegment>& segments,
                                           std::vector<uint8_t>& out);
std::expected<void, PacketError> linearize(const BufferAccess& pool,
                                           std::span<const TxSegment>& segments,
                                           std::vector<uint8_t>& out);

}  // namespace pmdnet
