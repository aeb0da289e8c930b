// Packed-ring positions kept across a restart of pmdnetd (docs/vhost_user.md, a packed ring's
// position outlives the back-end only in pmdnetd's state file).
//
// A front-end that loses its back-end cannot ask it where the rings stood (GET_VRING_BASE fails
// on a closed socket). For a split ring QEMU then reads the position from the used ring's index in
// guest memory; a packed ring has no such index, and QEMU 7.2 hands the next back-end the base it
// gave the last one. So pmdnetd writes, when a port stops, where each packed ring stood, with what
// identifies the ring (its guest-physical addresses and size, the memory table's files, the base
// the front-end last gave), and the next pmdnetd resumes from there when the front-end hands it
// that same stale base for that same ring.
//
// The file is pmdnetd's own but is read as untrusted input: bounded in size, every line checked.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "core/virtqueue/virtqueue.h"
#include "daemon/vhost_user/vhost_user_msg.h"

namespace pmdnet::vhost_user {

// One region of a memory table and the file it maps: the same QEMU process hands the same files
// (a memfd's inode is unique while it lives); another guest, or the same one started again, does
// not.
struct MemoryFile {
  uint64_t gpa = 0;
  uint64_t size = 0;
  uint64_t mmap_offset = 0;
  uint64_t device = 0;  // st_dev
  uint64_t inode = 0;   // st_ino

  bool operator==(const MemoryFile&) const = default;
};

// The memory table's regions with their files (fstat of the fds sent with SET_MEM_TABLE, one per
// region, in order). Errors when the counts differ or an fstat fails.
Result<std::vector<MemoryFile>> identify_memory_files(
    std::span<const VhostUserMemoryRegion> regions, std::span<const int> fds);

// Where one packed ring stood when pmdnetd stopped it.
struct SavedRing {
  uint16_t vring = 0;  // vhost-user vring index
  uint16_t size = 0;   // descriptors
  uint64_t desc_gpa = 0;
  uint64_t driver_gpa = 0;  // driver event suppression
  uint64_t device_gpa = 0;  // device event suppression
  // The base the front-end gave last (SET_VRING_BASE) or read back (GET_VRING_BASE): what it will
  // send a new back-end that it could not ask.
  uint16_t frontend_base = 0;
  virtio::RingIndexes position;  // ours: position in bits 0..14, wrap counter in bit 15

  bool operator==(const SavedRing&) const = default;
};

struct RingState {
  std::vector<MemoryFile> memory;
  std::vector<SavedRing> rings;

  bool operator==(const RingState&) const = default;
};

inline constexpr size_t kMaxRingStateBytes = size_t{64} * 1024;

// The file's text: a version line, one `memory` line per region, one `ring` line per ring.
std::string format_ring_state(const RingState& state);

// Parses what format_ring_state wrote. Anything else (another version, an unknown or short line,
// a number out of range, more than 8 regions or 256 rings, a ring twice, a position past the
// ring's size) is kMalformed.
Result<RingState> parse_ring_state(std::string_view text);

// The position to resume `ring` from: the saved one, when the guest's memory is the same files
// as then, a ring with the same index, size and addresses was saved, and the front-end hands the
// base it had then (`ring.frontend_base`; `ring.position` is not read). Otherwise nullopt, and the
// front-end's base stands.
std::optional<virtio::RingIndexes> resume_position(const RingState& saved,
                                                   std::span<const MemoryFile> memory,
                                                   const SavedRing& ring);

// Writes the state to `path` atomically (a temporary file beside it, then rename), mode 0600.
Result<void> save_ring_state(const std::filesystem::path& path, const RingState& state);

// Reads the state at `path` and removes the file (a state is used by one start only). nullopt
// when there is no file; an error when it cannot be read or does not parse (it is removed too).
Result<std::optional<RingState>> take_ring_state(const std::filesystem::path& path);

}  // namespace pmdnet::vhost_user
