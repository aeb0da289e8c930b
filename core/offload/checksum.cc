// The Internet checksum: the fast ones'-complement sum and the IPv4/IPv6 pseudo-header helpers
// declared in checksum.h.
#include "core/offload/checksum.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace pmdnet::offload {

namespace {

inline uint64_t load64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t load32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint16_t load16(const uint8_t* p) noexcept {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Each 32-byte step adds at most 2 * (2^32 - 1) to each accumulator, so a block of this many
// bytes cannot overflow them (2^27 steps); longer buffers are summed block by block.
constexpr size_t kBlockBytes = size_t{1} << 32;

// The sum of native-endian 16-bit words of `p`, not yet folded.
uint64_t sum_native(const uint8_t* p, size_t n) noexcept {
  // RFC 1071 2(C), "Parallel summation: On machines that have word-sizes that are multiples of 16
  // bits, it is possible to develop even more efficient implementations." Each 64-bit load is
  // split into two 32-bit halves added to a 64-bit accumulator: the carries pile up in the upper
  // half and are folded back at the end (2(B), "Deferred carries"). Four independent accumulators
  // keep the adds from waiting on each other.
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  while (n >= 32) {
    const uint64_t w0 = load64(p), w1 = load64(p + 8), w2 = load64(p + 16), w3 = load64(p + 24);
    a0 += (w0 & 0xffffffff) + (w0 >> 32);
    a1 += (w1 & 0xffffffff) + (w1 >> 32);
    a2 += (w2 & 0xffffffff) + (w2 >> 32);
    a3 += (w3 & 0xffffffff) + (w3 >> 32);
    p += 32;
    n -= 32;
  }
  uint64_t acc = uint64_t{fold(a0)} + fold(a1) + fold(a2) + fold(a3);
  while (n >= 4) {
    acc += load32(p);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    acc += load16(p);
    p += 2;
    n -= 2;
  }
  // The odd final byte is the high byte of a zero-padded big-endian word, i.e. the first byte in
  // memory order, which a native load of {byte, 0} also places correctly for either byte order.
  if (n == 1) {
    const uint8_t last[2] = {*p, 0};
    acc += load16(last);
  }
  return acc;
}

}  // namespace

uint16_t ones_sum(std::span<const uint8_t> data, uint16_t initial) noexcept {
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
  while (n > 0) {
    // Blocks stay even-sized, so every block starts on a word boundary.
    const size_t len = std::min(n, kBlockBytes);
    acc = uint64_t{fold(acc)} + fold(sum_native(p, len));
    p += len;
    n -= len;
  }
  uint16_t s = fold(acc);
  // RFC 1071 2(B), "Byte order independence: The sum of 16-bit integers can be computed in either
  // byte order." A sum of little-endian words is the byte-swapped big-endian sum.
  if constexpr (std::endian::native == std::endian::little) s = std::byteswap(s);
  return ones_add(s, initial);
}

uint16_t ones_sum_reference(std::span<const uint8_t> data, uint16_t initial) noexcept {
  // RFC 1071 4.1: "Compute Internet Checksum for "count" bytes beginning at location "addr"."
  uint32_t sum = initial;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) {
    sum += (uint32_t{data[i]} << 8) | data[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  }
  if (i < data.size()) sum += uint32_t{data[i]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

uint16_t ipv4_header_checksum(std::span<const uint8_t> header) noexcept {
  // RFC 791 3.1: "The checksum field is the 16 bit one's complement of the one's complement sum of
  // all 16 bit words in the header. For purposes of computing the checksum, the value of the
  // checksum field is zero." Sum around bytes 10-11 instead of writing them.
  const uint16_t before = ones_sum(header.first(10));
  return static_cast<uint16_t>(~ones_sum(header.subspan(12), before));
}

uint16_t ipv4_pseudo_header_sum(std::span<const uint8_t, 4> src, std::span<const uint8_t, 4> dst,
                                uint8_t protocol, uint16_t l4_len) noexcept {
  // RFC 793 3.1: "a 96 bit pseudo header conceptually prefixed to the TCP header ... contains the
  // Source Address, the Destination Address, the Protocol, and TCP length."
  uint64_t acc = uint64_t{load_be16(src.data())} + load_be16(src.data() + 2) +
                 load_be16(dst.data()) + load_be16(dst.data() + 2) + protocol + l4_len;
  return fold(acc);
}

uint16_t ipv6_pseudo_header_sum(std::span<const uint8_t, 16> src, std::span<const uint8_t, 16> dst,
                                uint8_t next_header, uint32_t l4_len) noexcept {
  // RFC 8200 8.1: source address, destination address (the final one if there is a Routing
  // header), 32-bit upper-layer packet length, 24 zero bits, next header.
  uint64_t acc = uint64_t{next_header} + (l4_len >> 16) + (l4_len & 0xffff);
  for (size_t i = 0; i < 16; i += 2) acc += load_be16(src.data() + i) + load_be16(dst.data() + i);
  return fold(acc);
}

}  // namespace pmdnet::offload
