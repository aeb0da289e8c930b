// virtio_net_hdr translation, as pure functions: guest TX header + frame prefix -> TxMetadata
// offloads (parse_tx_offloads, which parses the frame with net::parse_frame_headers), and
// RxMetadata -> guest RX header (make_rx_header). No DPDK, no allocation, no exceptions: these run
// on the fast path over guest-controlled bytes.
//
// Guest TX contract (virtio 1.2, 5.1.6.2), as pmdnet implements it:
//   1. A header with neither NEEDS_CSUM nor a GSO type is a plain packet: the result is an
//      all-default TxMetadata (no flags, no lengths) and the frame is not parsed at all, so plain
//      frames of any shape (ARP, runts, unknown ethertypes) are never dropped here. This is what
//      OpenVMM does; TxMetadata only promises lengths when an offload flag is set.
//   2. Anything else is an offload request. It is honoured only if every feature it needs was
//      negotiated, and only if csum_start/csum_offset point exactly at the TCP or UDP checksum of
//      the headers parsed from the frame itself; otherwise the packet is refused with a
//      HeaderError, which the caller counts and drops (a frame the parser refuses is
//      kFrameTooShort or kBad*Header, after its net::FrameError). hdr_len is a hint and is
//      ignored, except that with GUEST_HDRLEN it must equal the parsed header length.
//   3. On success the flags say which offloads to do plus is_ipv4/is_ipv6; l2_len, l3_len,
//      l4_len (TCP header, or 8 for UDP) and transport_header_offset (= l2_len + l3_len =
//      csum_start) are set; max_segment_size = gso_size for TSO/USO. offload_ip_header_checksum is
//      set only with TSO/USO over IPv4 (every segment gets a new IPv4 header), never for plain
//      checksum offload: VIRTIO_NET_F_CSUM covers only the L4 checksum and the guest has already
//      filled in the IPv4 header checksum. The caller fills id, segment_count, len and vlan.
//   4. TSO/USO results guarantee transport_header_offset + l4_len <= frame_len, but the payload may
//      be empty or no longer than max_segment_size; backends must then send the frame unsegmented.
//      They also bound the segment count, as Linux does (core/net/segmentation_limits.h): TSO has
//      max_segment_size >= 88, USO a payload of at most 128 * max_segment_size bytes.
//      VIRTIO_NET_HDR_GSO_ECN (TCP with CWR set) is accepted with HOST_ECN but not reported:
//      TxMetadata has no bit for it, and segmenters clear CWR after the first segment anyway.
//
// Guest RX contract (5.1.6.4): make_rx_header sets DATA_VALID only when the guest negotiated
// GUEST_CSUM and both checksums are valid, and GSO fields only for a coalesced frame the guest can
// take (see make_rx_header). It never sets RSC_INFO or GSO_ECN.
//
// All multi-byte virtio_net_hdr fields are little-endian (VERSION_1) and read natively; the .cc
// static_asserts a little-endian host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string_view>

#include "core/net_backend/packet.h"
#include "core/virtqueue/virtio_defs.h"

namespace pmdnet::virtio {

// Why a header (or the frame behind it) was refused. Each value is one kind of bad input, so
// telemetry can count them separately; kHeaderErrorCount sizes such counter arrays.
enum class HeaderError : uint8_t {
  // The frame, as parsed by net::parse_frame_headers (one value per net::FrameError).
  kFrameTooShort,  // the frame (or the prefix the caller copied) ends inside a header
  kBadIpv4Header,  // version != 4, IHL < 5, or total length shorter than the IP + L4 headers
  kBadIpv6Header,  // version != 6
  kBadTcpHeader,   // data offset < 5
  // Guest TX checksum offload (NEEDS_CSUM).
  kCsumNotNegotiated,      // NEEDS_CSUM without VIRTIO_NET_F_CSUM
  kCsumOffsetsPastPacket,  // csum_start + csum_offset + 2 > frame length
  kCsumNotTcpOrUdp,        // csum_start/csum_offset are not the parsed TCP/UDP checksum field
  // Guest TX segmentation offload (gso_type).
  kGsoUnknownType,       // not NONE/TCPV4/TCPV6/UDP_L4 (UFO included), or ECN on a non-TCP type
  kGsoNotNegotiated,     // TCPV4 without HOST_TSO4, TCPV6 without HOST_TSO6, UDP_L4 without USO
  kGsoEcnNotNegotiated,  // the ECN bit without HOST_ECN
  kGsoWithoutNeedsCsum,  // a GSO type without NEEDS_CSUM (the spec's driver MUST)
  kGsoSizeZero,          // a GSO type with gso_size 0
  kGsoSizeTooSmall,      // TCPV4/TCPV6 with gso_size below net::kMinTcpGsoSize
  kGsoTooManySegments,   // UDP_L4 whose payload needs more than net::kMaxUdpGsoSegments segments
  kGsoWithoutHeaders,    // a GSO type on a frame with no parseable IP + TCP/UDP headers
  kGsoProtocolMismatch,  // e.g. TCPV4 on an IPv6 or a UDP frame, UDP_L4 on a TCP frame
  kGsoHdrLenMismatch,    // GUEST_HDRLEN negotiated and hdr_len != the parsed header length
  // Guest RX (make_rx_header): the backend handed a coalesced frame (gso_size > 0) that ...
  kRxGsoNotNegotiated,    // ... the guest did not negotiate GUEST_CSUM + GUEST_TSO4/6/USO4/6 for
  kRxGsoBadMetadata,      // ... has unknown protocols or header lengths that do not add up
  kRxGsoChecksumInvalid,  // ... has checksums that were not validated
};
inline constexpr size_t kHeaderErrorCount = 20;

std::string_view to_string(HeaderError e) noexcept;
// A short snake_case name for HeaderError counters in telemetry, e.g. "frame_too_short".
std::string_view to_key(HeaderError e) noexcept;

// Translates a guest TX header into offload metadata (see the contract above). `prefix` is the
// start of the frame that follows the header (bytes past frame_len are ignored), frame_len the
// frame's full length, and `features` the negotiated feature bits. Only the flags, l2_len, l3_len,
// l4_len, transport_header_offset and max_segment_size of the result are set.
std::expected<TxMetadata, HeaderError> parse_tx_offloads(const VirtioNetHdr& hdr,
                                                         std::span<const uint8_t> prefix,
                                                         uint32_t frame_len,
                                                         uint64_t features) noexcept;

// Builds the header of a guest RX frame described by `m`, given the negotiated `features`.
//   - flags are 0 unless GUEST_CSUM was negotiated ("If VIRTIO_NET_F_GUEST_CSUM is not negotiated,
//     the device MUST set flags to zero"); DATA_VALID is set when both m.ip_checksum and
//     m.l4_checksum are valid (Good or ValidatedButWrong). Backends should report IPv6's
//     ip_checksum as Good (it has none), or IPv6 frames never get DATA_VALID.
//   - m.gso_size > 0 marks a coalesced TCP (or UDP) frame. When its payload (m.len minus the
//     headers) exceeds gso_size it is delivered with gso_type TCPV4/TCPV6/UDP_L4, gso_size,
//     hdr_len = l2 + l3 + l4 (l4 = 8 for UDP when m.l4_len is 0), csum_start = l2 + l3,
//     csum_offset 16/6 and NEEDS_CSUM, which requires GUEST_CSUM plus GUEST_TSO4 (IPv4/TCP),
//     GUEST_TSO6 (IPv6/TCP), GUEST_USO4 or GUEST_USO6 (UDP), and both checksums validated. A frame
//     that needs GSO but cannot have it is an error the caller counts as a drop: it is larger than
//     the guest accepts, and its checksums may be stale. A "coalesced" frame that fits in one
//     segment is delivered as a plain frame.
//   - With NEEDS_CSUM the spec also requires the frame's L4 checksum field to hold the TCP/UDP
//     pseudo-header sum; making the bytes say so is the caller's job, not this function's.
//   - num_buffers is stored as given; without MRG_RXBUF the caller must pass 1.
std::expected<VirtioNetHdr, HeaderError> make_rx_header(const RxMetadata& m, uint64_t features,
                                                        uint16_t num_buffers) noexcept;

// The flags make_rx_header sets on a frame delivered without GSO: DATA_VALID when the guest
// negotiated GUEST_CSUM and both checksums are valid, else none. The receive fast path writes a
// plain frame's header from this alone.
constexpr uint8_t rx_plain_flags(const RxMetadata& m, uint64_t features) noexcept {
  return has(features, feature::kGuestCsum) && is_valid(m.ip_checksum) && is_valid(m.l4_checksum)
             ? kHdrFDataValid
             : 0;
}

}  // namespace pmdnet::virtio
