// The vhost-user message header and the few payloads pmdnet inspects, defined from the public
// vhost-user specification (QEMU docs/interop/vhost-user.rst), and the pure function that decides
// what the datapath must do before rte_vhost handles a message (docs/vhost_user.md, quiesce
// before the library acts).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/base/result.h"

namespace pmdnet::vhost_user {

// Front-end (master) request ids ("Front-end message types" in the spec).
enum class VhostUserRequest : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kResetOwner = 4,
  kSetMemTable = 5,
  kSetLogBase = 6,
  kSetLogFd = 7,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kSetVringErr = 14,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
  kSendRarp = 19,
  kNetSetMtu = 20,
  kAddMemReg = 37,
  kRemMemReg = 38,
};

// "Message Specification": request, flags, size, then `size` payload bytes. Packed on the wire,
// so the payload starts at byte 12 and its u64 fields are unaligned: read them with memcpy.
struct VhostUserMsgHeader {
  uint32_t request;
  uint32_t flags;
  uint32_t size;
};
static_assert(sizeof(VhostUserMsgHeader) == 12);
inline constexpr size_t kVhostUserHeaderSize = sizeof(VhostUserMsgHeader);

// "A vring state description": index, num.
struct VhostVringState {
  uint32_t index;
  uint32_t num;
};
static_assert(sizeof(VhostVringState) == 8);

// "A vring address description": index, flags, then four u64 addresses.
struct VhostVringAddr {
  uint32_t index;
  uint32_t flags;
  uint64_t descriptor;
  uint64_t used;
  uint64_t available;
  uint64_t log;
};
static_assert(sizeof(VhostVringAddr) == 40);

// "Memory region description" and "Multiple Memory regions description" (SET_MEM_TABLE): the
// region count, padding, then up to 8 regions, each with one fd sent alongside.
struct VhostUserMemoryRegion {
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
  uint64_t mmap_offset;
};
static_assert(sizeof(VhostUserMemoryRegion) == 32);
inline constexpr size_t kVhostMaxMemRegions = 8;  // VHOST_MEMORY_BASELINE_NREGIONS
inline constexpr size_t kMemTableHeaderSize = 8;  // nregions, padding

// SET_VRING_KICK/CALL/ERR carry a u64: bits 0-7 the vring index, bit 8 "no fd".
inline constexpr uint64_t kVringIndexMask = 0xff;

// What must happen to the device's running queue pairs before rte_vhost acts on a message.
struct QuiesceAction {
  enum class Kind : uint8_t {
    kNone,          // nothing: the message does not touch what the datapath uses
    kStopVring,     // GET_VRING_BASE: stop the pair of `vring`, write its indexes back, and keep
                    // `vring` down until the guest sets it up again
    kDisableVring,  // SET_VRING_ENABLE 0: the same, without an index read-back being due
    kRestartVring,  // SET_VRING_NUM/ADDR/BASE/KICK/CALL/ERR: the pair of `vring` is being
                    // reconfigured; stop it, restart it afterwards if it is still ready
    kStopAll,       // SET_MEM_TABLE, ADD/REM_MEM_REG, RESET_OWNER: guest memory is about to be
                    // remapped under every ring; restart afterwards with the new table
    kPauseAll,      // SET_LOG_BASE: the dirty log is about to be remapped; park the poller (no
                    // drain) and let it go on afterwards
    kFeatures,      // SET_FEATURES: `features` are about to be negotiated
    kMtu,           // NET_SET_MTU: the guest's MTU is `mtu` (it bounds what guest RX delivers)
    kAnnounce,      // SEND_RARP: the guest now lives here; announce `mac` to the network (no
                    // queue pair stops)
  };
  Kind kind = Kind::kNone;
  uint32_t vring = 0;
  uint64_t features = 0;
  uint16_t mtu = 0;
  std::array<uint8_t, 6> mac{};  // kAnnounce
  bool sets_base =
      false;  // SET_VRING_BASE (a kRestartVring): the front-end sets `vring`'s position

  bool operator==(const QuiesceAction&) const = default;
};

// Classifies a message as rte_vhost's pre_msg_handle receives it (header, then payload). `msg`
// is what the caller may read; a payload shorter than the message type needs is kNone (rte_vhost
// then refuses the message itself). A pure function over untrusted bytes: it never reads past
// `msg`.
QuiesceAction classify_message(std::span<const uint8_t> msg) noexcept;

// The regions of a SET_MEM_TABLE message (header, then payload), or nullopt when the payload is
// shorter than its region count needs or names more than 8 regions. A pure function over
// untrusted bytes: it never reads past `msg`.
std::optional<std::vector<VhostUserMemoryRegion>> parse_mem_table(std::span<const uint8_t> msg);

// Checks each region of a memory table against the file it maps (the fds sent with the message,
// in order): a regular file whose size covers mmap_offset + memory_size, so that no access to
// the mapping can run past the file's end (SIGBUS). One fd per region. fstat only; the message
// and the fds are left as they are.
Result<void> check_mem_table_files(std::span<const VhostUserMemoryRegion> regions,
                                   std::span<const int> fds);

}  // namespace pmdnet::vhost_user
