// Software transmit offloads, for ports that lack them in hardware: checksum filling
// (apply_checksums), TCP and UDP segmentation (segment), and 802.1Q tag insertion (insert_vlan).
// Pure functions over byte spans with no DPDK type, so they are unit-tested and fuzzed alone; the
// ethdev backend calls them on linear mbuf data.
//
// Contract:
//   1. Validation. Every call checks the TxMetadata against the frame before touching it: is_ipv4
//      xor is_ipv6, the requested protocols present (parsed by net::parse_frame_headers, the
//      same parser that produced the metadata on guest TX), l2_len/l3_len/l4_len and
//      transport_header_offset equal to the parsed headers, and everything inside the frame.
//      Anything else is an OffloadError (one value per kind of bad input, for counters) and the
//      frame is left unmodified. A metadata with no offload flag is a plain frame: nothing is
//      parsed.
//   2. apply_checksums fills, in place, the checksums the flags ask for: the IPv4 header checksum
//      and the TCP or UDP checksum, computed from scratch (whatever the field held: a stale value,
//      zero, or the pseudo-header sum virtio and DPDK leave there). The L4 checksum covers the
//      transport header and data up to the end the IP header declares (IPv4 total length, IPv6
//      payload length), so Ethernet padding after it is left out; for UDP the UDP length must
//      agree.
//   3. segment splits a TSO or USO frame into the frames a NIC would send, in order, and hands
//      each to a SegmentSink as (patched headers, payload view) without allocating or copying the
//      payload. Like a NIC's TSO engine, it takes the frame's length as the truth and rewrites
//      every length field: the superframe's IP/UDP lengths are only templates.
//      - TSO (IPv4/IPv6): per segment, IPv4 total length, id + index and header checksum, or IPv6
//        payload length; TCP sequence number + offset; FIN and PSH only on the last segment, CWR
//        only on the first (RFC 3168 6.1.2); TCP checksum.
//      - USO (IPv4/IPv6): separate UDP datagrams, not IP fragments, each of max_segment_size
//        payload bytes (the last may be shorter), with its own UDP length and checksum, IPv4
//        total length, id + index and header checksum, or IPv6 payload length.
//      Segment counts are bounded as on guest TX (net/segmentation_limits.h): TSO needs
//      max_segment_size >= 88 (kSegmentSizeTooSmall), USO at most 128 datagrams
//      (kTooManySegments); a 64 KB frame makes at most 745 segments.
//      A frame whose payload fits in one segment is emitted as one segment: itself, with its
//      checksums filled. Segmentation always fills the checksums (unless SegmentOptions says
//      the NIC will), whether or not the checksum flags are set: the segments are new packets.
//   4. insert_vlan writes the frame with an 802.1Q tag (TPID 0x8100) after the MAC addresses.
//
// Not handled: IPv6 jumbograms, the TCP urgent pointer across segments (copied as is), and
// Routing headers with Segments Left > 0 of types other than 0, 2 and 4 (kUnsupportedRoutingHeader:
// the pseudo-header needs the final destination, RFC 8200 8.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/net/frame.h"
#include "core/net_backend/packet.h"

namespace pmdnet::offload {

// Why an offload was refused; the frame (or output) is then unmodified and the caller drops and
// counts it. kOffloadErrorCount sizes counter arrays.
enum class OffloadError : uint8_t {
  kBothIpVersions,        // is_ipv4 and is_ipv6 both set
  kNoIpVersion,           // an offload requested with neither is_ipv4 nor is_ipv6
  kBothL4Checksums,       // offload_tcp_checksum and offload_udp_checksum both set
  kBothSegmentations,     // offload_tcp_segmentation and offload_udp_segmentation both set
  kNotSegmentation,       // segment() on a metadata asking for neither TSO nor USO
  kMaxSegmentSizeZero,    // TSO/USO with max_segment_size 0
  kSegmentSizeTooSmall,   // TSO with max_segment_size below net::kMinTcpGsoSize (88)
  kTooManySegments,       // USO into more than net::kMaxUdpGsoSegments (128) datagrams
  kMetadataPastEnd,       // l2_len + l3_len (+ l4_len) runs past the end of the frame
  kFrameTooShort,         // the frame ends inside its own headers
  kBadIpv4Header,         // version != 4, IHL < 5, or total length shorter than the headers
  kBadIpv6Header,         // version != 6
  kBadTcpHeader,          // TCP data offset < 5
  kIpVersionMismatch,     // is_ipv4/is_ipv6 disagrees with the frame (or the frame is not IP)
  kIpChecksumNotIpv4,     // offload_ip_header_checksum on an IPv6 frame
  kNotTcp,                // TCP checksum or TSO on a frame without a TCP header (or a fragment)
  kNotUdp,                // UDP checksum or USO on a frame without a UDP header (or a fragment)
  kHeaderLengthMismatch,  // l2_len/l3_len/l4_len/transport_header_offset disagree with the frame
  kIpLengthMismatch,      // the IP header's length runs past the frame or short of its headers
  kUdpLengthMismatch,     // the UDP length differs from the length the IP header gives it
  kHeadersTooLong,        // headers longer than kMaxHeaderLen (segment)
  kSegmentTooLarge,       // a segment's IP (or UDP) length would not fit in 16 bits
  kUnsupportedRoutingHeader,  // an IPv6 Routing header whose final destination is unknown
  kOutputTooSmall,            // the output span cannot hold the result (insert_vlan)
  kSinkStopped,               // the SegmentSink returned false
};
inline constexpr size_t kOffloadErrorCount = 25;

std::string_view to_string(OffloadError e) noexcept;
// A short snake_case name for OffloadError counters in telemetry, e.g. "both_ip_versions".
std::string_view to_key(OffloadError e) noexcept;

// Headers (L2 + L3 + L4) that segment() copies per segment: enough for two VLAN tags, IPv4 with
// options or IPv6 with a few extension headers, and TCP with options.
inline constexpr size_t kMaxHeaderLen = 256;
// The 802.1Q tag insert_vlan adds.
inline constexpr size_t kVlanTagLen = net::kVlanTagLen;

// Fills the checksums `m` asks for (offload_ip_header_checksum, offload_tcp_checksum,
// offload_udp_checksum) in place. TSO/USO flags are validated (the protocol must match) but not
// performed: see segment().
std::expected<void, OffloadError> apply_checksums(std::span<uint8_t> frame,
                                                  const TxMetadata& m) noexcept;

// One output frame of segment(): `headers` (a scratch copy, already patched, valid only during
// the SegmentSink call) followed by `payload` (a view into the input frame).
struct Segment {
  std::span<const uint8_t> headers;
  std::span<const uint8_t> payload;
  uint32_t index = 0;  // 0-based
  bool last = false;

  size_t size() const noexcept { return headers.size() + payload.size(); }
};

// Receives segment()'s output, one call per segment in order. Returning false stops segmentation
// (segment() then returns kSinkStopped): e.g. the caller ran out of mbufs.
class SegmentSink {
 public:
  virtual ~SegmentSink() = default;
  virtual bool on_segment(const Segment& s) noexcept = 0;
};

// Adapts a callable `bool(const Segment&) noexcept` to a SegmentSink.
template <class F>
class FunctionSink final : public SegmentSink {
 public:
  explicit FunctionSink(F f) noexcept : f_(std::move(f)) {}
  bool on_segment(const Segment& s) noexcept override { return f_(s); }

 private:
  F f_;
};

struct SegmentOptions {
  // When false, the NIC fills that checksum: the TCP/UDP field is left holding the pseudo-header
  // sum (not complemented) as DPDK's TX offloads and virtio's NEEDS_CSUM expect, and the IPv4
  // header checksum field is zeroed.
  bool compute_l4_checksum = true;
  bool compute_ip_checksum = true;
  // When true and m.vlan is set, every segment carries that 802.1Q tag after its MAC addresses
  // (4 more header bytes), which saves an insert_vlan pass per segment.
  bool insert_vlan = false;
};

// What segment() will emit for this frame and metadata, without emitting it: the number of
// segments (for reserving mbufs), or the error segment() would return before its first segment.
std::expected<uint32_t, OffloadError> count_segments(std::span<const uint8_t> frame,
                                                     const TxMetadata& m) noexcept;

// Splits a TSO or USO frame into segments (see the contract above) and returns how many were
// emitted. On an error before the first segment nothing is emitted.
std::expected<uint32_t, OffloadError> segment(std::span<const uint8_t> frame, const TxMetadata& m,
                                              SegmentSink& out,
                                              const SegmentOptions& options = {}) noexcept;

template <class F>
std::expected<uint32_t, OffloadError> segment(std::span<const uint8_t> frame, const TxMetadata& m,
                                              F&& f, const SegmentOptions& options = {}) noexcept
    requires(!std::is_base_of_v<SegmentSink, std::remove_cvref_t<F>>) {
  FunctionSink<std::remove_cvref_t<F>> sink(std::forward<F>(f));
  return segment(frame, m, static_cast<SegmentSink&>(sink), options);
}

// Copies a segment's headers and payload into `out`; returns the bytes written, or
// kOutputTooSmall.
std::expected<size_t, OffloadError> copy_segment(const Segment& s, std::span<uint8_t> out) noexcept;

// Writes `in` to `out` with an 802.1Q tag (TPID 0x8100, TCI from `vlan`) after the destination
// and source MAC addresses; returns in.size() + 4. `in` must hold at least an Ethernet header
// (kFrameTooShort) and `out` at least in.size() + 4 bytes (kOutputTooSmall). The two may overlap:
// out.data() == in.data() - 4 (prepending into headroom) and out.data() == in.data() (in place,
// with room behind) both work.
std::expected<size_t, OffloadError> insert_vlan(std::span<const uint8_t> in, std::span<uint8_t> out,
                                                VlanMetadata vlan) noexcept;

}  // namespace pmdnet::offload
