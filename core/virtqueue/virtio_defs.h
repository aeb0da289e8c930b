// Virtio 1.2 constants and wire structures for virtio-net: feature bits (USO included), the split
// and packed ring layouts and virtio_net_hdr. Our own definitions, because
// Debian 12's linux headers lack the USO bits and do not compile as C++. Every wire struct is
// static_assert'ed against the spec's layout. All fields are little-endian (VERSION_1 only).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pmdnet::virtio {

// Feature bits (virtio 1.2, 5.1.3 and 6).
namespace feature {
inline constexpr unsigned kCsum = 0;       // device handles packets with partial csum
inline constexpr unsigned kGuestCsum = 1;  // driver handles packets with partial csum
inline constexpr unsigned kCtrlGuestOffloads = 2;
inline constexpr unsigned kMtu = 3;
inline constexpr unsigned kMac = 5;
inline constexpr unsigned kGuestTso4 = 7;
inline constexpr unsigned kGuestTso6 = 8;
inline constexpr unsigned kGuestEcn = 9;
inline constexpr unsigned kGuestUfo = 10;
inline constexpr unsigned kHostTso4 = 11;
inline constexpr unsigned kHostTso6 = 12;
inline constexpr unsigned kHostEcn = 13;
inline constexpr unsigned kHostUfo = 14;
inline constexpr unsigned kMrgRxbuf = 15;
inline constexpr unsigned kStatus = 16;
inline constexpr unsigned kCtrlVq = 17;
inline constexpr unsigned kCtrlRx = 18;
inline constexpr unsigned kCtrlVlan = 19;
inline constexpr unsigned kGuestAnnounce = 21;
inline constexpr unsigned kMq = 22;
inline constexpr unsigned kCtrlMacAddr = 23;
inline constexpr unsigned kLogAll = 26;  // vhost: VHOST_F_LOG_ALL
inline constexpr unsigned kRingIndirectDesc = 28;
inline constexpr unsigned kRingEventIdx = 29;
inline constexpr unsigned kProtocolFeatures = 30;  // vhost-user: VHOST_USER_F_PROTOCOL_FEATURES
inline constexpr unsigned kVersion1 = 32;
inline constexpr unsigned kAccessPlatform = 33;
inline constexpr unsigned kRingPacked = 34;
inline constexpr unsigned kInOrder = 35;
inline constexpr unsigned kNotificationData = 38;
inline constexpr unsigned kGuestUso4 = 54;
inline constexpr unsigned kGuestUso6 = 55;
inline constexpr unsigned kHostUso = 56;
inline constexpr unsigned kHashReport = 57;
inline constexpr unsigned kGuestHdrlen = 59;
inline constexpr unsigned kRss = 60;
inline constexpr unsigned kRscExt = 61;
inline constexpr unsigned kStandby = 62;
inline constexpr unsigned kSpeedDuplex = 63;
}  // namespace feature

constexpr uint64_t bit(unsigned feature_bit) noexcept { return uint64_t{1} << feature_bit; }
constexpr bool has(uint64_t features, unsigned feature_bit) noexcept {
  return (features & bit(feature_bit)) != 0;
}

// Split virtqueue descriptor (2.7.5).
inline constexpr uint16_t kDescFNext = 1;      // continues via `next`
inline constexpr uint16_t kDescFWrite = 2;     // device-writable
inline constexpr uint16_t kDescFIndirect = 4;  // buffer holds a table of descriptors

struct VirtqDesc {
  uint64_t addr;  // guest-physical
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(VirtqDesc) == 16 && offsetof(VirtqDesc, len) == 8 &&
              offsetof(VirtqDesc, flags) == 12 && offsetof(VirtqDesc, next) == 14);

// Available ring (2.7.6): flags, idx, ring[size], then used_event when EVENT_IDX.
inline constexpr uint16_t kAvailFNoInterrupt = 1;
struct VirtqAvailHeader {
  uint16_t flags;
  uint16_t idx;
};
static_assert(sizeof(VirtqAvailHeader) == 4);

// Used ring (2.7.8): flags, idx, ring[size] of elements, then avail_event when EVENT_IDX.
inline constexpr uint16_t kUsedFNoNotify = 1;
struct VirtqUsedHeader {
  uint16_t flags;
  uint16_t idx;
};
static_assert(sizeof(VirtqUsedHeader) == 4);

struct VirtqUsedElem {
  uint32_t id;   // head index of the chain
  uint32_t len;  // bytes written into the chain's device-writable buffers
};
static_assert(sizeof(VirtqUsedElem) == 8 && offsetof(VirtqUsedElem, len) == 4);

inline constexpr uint16_t kMaxQueueSize = 32768;  // 2.7: split queue sizes are at most 2^15

// Bytes each part of a split ring of `size` entries occupies (2.7, with EVENT_IDX's trailer).
constexpr size_t desc_table_bytes(uint16_t size) noexcept { return size_t{16} * size; }
constexpr size_t avail_ring_bytes(uint16_t size) noexcept { return 4 + size_t{2} * size + 2; }
constexpr size_t used_ring_bytes(uint16_t size) noexcept { return 4 + size_t{8} * size + 2; }

// Packed virtqueue (2.8): one ring of descriptors that the driver makes available and the device
// writes back as used, told apart by two flag bits against each side's wrap counter.
inline constexpr uint16_t kPackedDescFAvail = 1u << 7;
inline constexpr uint16_t kPackedDescFUsed = 1u << 15;

struct PackedDesc {
  uint64_t addr;  // guest-physical
  uint32_t len;
  uint16_t id;  // buffer id: the driver's, on the chain's last descriptor
  uint16_t flags;
};
static_assert(sizeof(PackedDesc) == 16 && offsetof(PackedDesc, len) == 8 &&
              offsetof(PackedDesc, id) == 12 && offsetof(PackedDesc, flags) == 14);

// Event suppression (2.8.10), one for each side: the driver's (the vhost-user "avail" address)
// says when the device should notify it, the device's ("used") when the driver should kick.
// off_wrap: a descriptor ring offset in bits 0..14 and a wrap counter in bit 15 (DESC mode).
inline constexpr uint16_t kPackedEventEnable = 0;
inline constexpr uint16_t kPackedEventDisable = 1;
inline constexpr uint16_t kPackedEventDesc = 2;  // only with RING_EVENT_IDX
struct PackedEventSuppress {
  uint16_t off_wrap;
  uint16_t flags;
};
static_assert(sizeof(PackedEventSuppress) == 4 && offsetof(PackedEventSuppress, flags) == 2);

// vhost-user's ring base for packed rings (DPDK's rte_vhost, QEMU): the position in bits 0..14,
// the wrap counter in bit 15.
inline constexpr uint16_t kPackedWrapBit = 1u << 15;

// virtio_net_hdr (5.1.6). With VERSION_1 the header always has num_buffers: 12 bytes.
inline constexpr uint8_t kHdrFNeedsCsum = 1;
inline constexpr uint8_t kHdrFDataValid = 2;
inline constexpr uint8_t kHdrFRscInfo = 4;

inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint8_t kGsoTcpv4 = 1;
inline constexpr uint8_t kGsoUdp = 3;  // UFO: IP fragmentation; never offered by pmdnet
inline constexpr uint8_t kGsoTcpv6 = 4;
inline constexpr uint8_t kGsoUdpL4 = 5;  // USO
inline constexpr uint8_t kGsoEcn = 0x80;

struct VirtioNetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;      // length of the headers to copy into each segment
  uint16_t gso_size;     // payload bytes per segment
  uint16_t csum_start;   // where checksumming starts
  uint16_t csum_offset;  // where, after csum_start, the checksum goes
  uint16_t num_buffers;  // RX with MRG_RXBUF: buffers the packet spans
};
static_assert(sizeof(VirtioNetHdr) == 12 && offsetof(VirtioNetHdr, hdr_len) == 2 &&
              offsetof(VirtioNetHdr, gso_size) == 4 && offsetof(VirtioNetHdr, csum_start) == 6 &&
              offsetof(VirtioNetHdr, csum_offset) == 8 &&
              offsetof(VirtioNetHdr, num_buffers) == 10);

// Checksum field offsets inside the L4 header (csum_offset values).
inline constexpr uint16_t kTcpCsumOffset = 16;
inline constexpr uint16_t kUdpCsumOffset = 6;

// 2.7.7.2: with EVENT_IDX, notify iff new_idx - event - 1 < new_idx - old_idx (mod 2^16).
constexpr bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) noexcept {
  return static_cast<uint16_t>(new_idx - event_idx - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

}  // namespace pmdnet::virtio
