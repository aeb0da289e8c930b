// The Internet checksum (RFC 1071) and what is built on it: a fast ones'-complement sum, the
// incremental update of RFC 1624, the IPv4 header checksum, and the TCP/UDP pseudo-header sums for
// IPv4 (RFC 793/768) and IPv6 (RFC 8200 8.1). Pure functions over bytes: no DPDK, no allocation.
//
// Conventions: a "sum" is the 16-bit ones'-complement sum of big-endian 16-bit words, folded but
// not complemented; a "checksum" is its complement, the value stored on the wire. Both are host
// integers holding the big-endian word's value: store them with store_be16.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace pmdnet::offload {

// Ones'-complement addition of two 16-bit sums (end-around carry).
constexpr uint16_t ones_add(uint16_t a, uint16_t b) noexcept {
  const uint32_t s = uint32_t{a} + b;
  return static_cast<uint16_t>((s & 0xffff) + (s >> 16));
}

// Folds a wide accumulator of 16-bit words into a 16-bit ones'-complement sum.
constexpr uint16_t fold(uint64_t acc) noexcept {
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}

// The ones'-complement sum of `data` added to `initial`. `data` is read as big-endian 16-bit words
// starting at an even offset of the checksummed region; an odd final byte is padded with zero
// ("If the total length is odd, the received data is padded with one octet of zeros", RFC 1071
// 4.1). Runs at memory speed (64-bit loads, several accumulators).
uint16_t ones_sum(std::span<const uint8_t> data, uint16_t initial = 0) noexcept;

// The same, one 16-bit word at a time, exactly as RFC 1071 4.1 writes it: the reference the fast
// version is tested and fuzzed against.
uint16_t ones_sum_reference(std::span<const uint8_t> data, uint16_t initial = 0) noexcept;

// The Internet checksum of `data`: the complement of its sum. A buffer that already holds a
// correct checksum has checksum 0 (its sum is 0xffff).
inline uint16_t internet_checksum(std::span<const uint8_t> data) noexcept {
  return static_cast<uint16_t>(~ones_sum(data));
}

// RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data changes from
// `old_word` to `new_word`, without touching the rest: HC' = ~(~HC + ~m + m').
constexpr uint16_t checksum_update16(uint16_t checksum, uint16_t old_word,
                                     uint16_t new_word) noexcept {
  return static_cast<uint16_t>(~ones_add(
      ones_add(static_cast<uint16_t>(~checksum), static_cast<uint16_t>(~old_word)), new_word));
}

// The same for a 32-bit field (two words), e.g. an IPv4 address or a TCP sequence number.
constexpr uint16_t checksum_update32(uint16_t checksum, uint32_t old_value,
                                     uint32_t new_value) noexcept {
  checksum = checksum_update16(checksum, static_cast<uint16_t>(old_value >> 16),
                               static_cast<uint16_t>(new_value >> 16));
  return checksum_update16(checksum, static_cast<uint16_t>(old_value),
                           static_cast<uint16_t>(new_value));
}

// The header checksum of the IPv4 header `header` (IHL * 4 bytes, options included), computed as
// if its checksum field (bytes 10-11) were zero, so it can be called on a header that holds a
// stale value. `header` must be at least 20 bytes.
uint16_t ipv4_header_checksum(std::span<const uint8_t> header) noexcept;

// The sum of the IPv4 pseudo-header (RFC 793 3.1, RFC 768): source and destination address,
// zero, protocol, and the TCP/UDP length (header + data).
uint16_t ipv4_pseudo_header_sum(std::span<const uint8_t, 4> src, std::span<const uint8_t, 4> dst,
                                uint8_t protocol, uint16_t l4_len) noexcept;

// The sum of the IPv6 pseudo-header (RFC 8200 8.1): source address, final destination address,
// the 32-bit upper-layer packet length, three zero bytes and the next-header value.
uint16_t ipv6_pseudo_header_sum(std::span<const uint8_t, 16> src, std::span<const uint8_t, 16> dst,
                                uint8_t next_header, uint32_t l4_len) noexcept;

// The TCP or UDP checksum from a pseudo-header sum and the sum of the transport header (with its
// checksum field zero) plus data. UDP maps a computed 0 to 0xffff (RFC 768: "If the computed
// checksum is zero, it is transmitted as all ones"; 0 means "no checksum" over IPv4 and is
// forbidden over IPv6, RFC 8200 8.1).
constexpr uint16_t tcp_checksum(uint16_t pseudo_sum, uint16_t segment_sum) noexcept {
  return static_cast<uint16_t>(~ones_add(pseudo_sum, segment_sum));
}
constexpr uint16_t udp_checksum(uint16_t pseudo_sum, uint16_t datagram_sum) noexcept {
  const uint16_t c = tcp_checksum(pseudo_sum, datagram_sum);
  return c == 0 ? 0xffff : c;
}

// Big-endian field access on byte spans; the caller checks bounds.
constexpr uint16_t load_be16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
constexpr uint32_t load_be32(const uint8_t* p) noexcept {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
constexpr void store_be16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
constexpr void store_be32(uint8_t* p, uint32_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace pmdnet::offload
