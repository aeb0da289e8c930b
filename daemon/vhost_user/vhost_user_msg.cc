// classify_message: which vhost-user messages stop which queue pairs; parse_mem_table and
// check_mem_table_files: a memory table checked against the files it maps (see vhost_user_msg.h).
#include "daemon/vhost_user/vhost_user_msg.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pmdnet::vhost_user {

namespace {

template <class T>
bool read_payload(std::span<const uint8_t> msg, T& out) noexcept {
  if (msg.size() < kVhostUserHeaderSize + sizeof(T)) return false;
  std::memcpy(&out, msg.data() + kVhostUserHeaderSize, sizeof(T));
  return true;
}

}  // namespace

QuiesceAction classify_message(std::span<const uint8_t> msg) noexcept {
  using Kind = QuiesceAction::Kind;
  VhostUserMsgHeader header;  // NOLINT(cppcoreguidelines-pro-type-member-init): memcpy fills it
  if (msg.size() < kVhostUserHeaderSize) return {};
  std::memcpy(&header, msg.data(), sizeof(header));
  // Trust the header's size only as far as the buffer goes.
  const size_t available = kVhostUserHeaderSize + header.size;
  if (available < msg.size()) msg = msg.first(available);

  switch (static_cast<VhostUserRequest>(header.request)) {
    case VhostUserRequest::kGetVringBase:
    case VhostUserRequest::kSetVringEnable:
    case VhostUserRequest::kSetVringNum:
    case VhostUserRequest::kSetVringBase: {
      VhostVringState state;  // NOLINT(cppcoreguidelines-pro-type-member-init): read_payload
      if (!read_payload(msg, state)) return {};
      const auto request = static_cast<VhostUserRequest>(header.request);
      if (request == VhostUserRequest::kGetVringBase) return {Kind::kStopVring, state.index, 0};
      if (request == VhostUserRequest::kSetVringEnable) {
        // Enabling changes nothing for a running pair; readiness arrives by vring_state_changed.
        return state.num == 0 ? QuiesceAction{Kind::kDisableVring, state.index, 0}
                              : QuiesceAction{};
      }
      QuiesceAction action{Kind::kRestartVring, state.index, 0};
      action.sets_base = request == VhostUserRequest::kSetVringBase;
      return action;
    }
    case VhostUserRequest::kSetVringAddr: {
      VhostVringAddr addr;  // NOLINT(cppcoreguidelines-pro-type-member-init): read_payload
      if (!read_payload(msg, addr)) return {};
      return {Kind::kRestartVring, addr.index, 0};
    }
    case VhostUserRequest::kSetVringKick:
    case VhostUserRequest::kSetVringCall:
    case VhostUserRequest::kSetVringErr: {
      uint64_t u64;
      if (!read_payload(msg, u64)) return {};
      return {Kind::kRestartVring, static_cast<uint32_t>(u64 & kVringIndexMask), 0};
    }
    case VhostUserRequest::kSetMemTable:
    case VhostUserRequest::kAddMemReg:
    case VhostUserRequest::kRemMemReg:
    case VhostUserRequest::kResetOwner:
      return {Kind::kStopAll, 0, 0};
    case VhostUserRequest::kSetLogBase:
      return {Kind::kPauseAll, 0, 0};
    case VhostUserRequest::kNetSetMtu: {
      uint64_t mtu;
      if (!read_payload(msg, mtu) || mtu > UINT16_MAX) return {};  // rte_vhost refuses it
      QuiesceAction action{Kind::kMtu, 0, 0};
      action.mtu = static_cast<uint16_t>(mtu);
      return action;
    }
    case VhostUserRequest::kSetFeatures: {
      uint64_t features;
      if (!read_payload(msg, features)) return {};
      return {Kind::kFeatures, 0, features};
    }
    case VhostUserRequest::kSendRarp: {
      // The MAC in the first six bytes of a u64 (QEMU's vhost_user_migration_done).
      uint64_t u64;
      if (!read_payload(msg, u64)) return {};
      QuiesceAction action{Kind::kAnnounce, 0, 0};
      std::memcpy(action.mac.data(), &u64, action.mac.size());
      return action;
    }
    default:
      return {};
  }
}

}  // namespace pmdnet::vhost_user

namespace pmdnet::vhost_user {

std::optional<std::vector<VhostUserMemoryRegion>> parse_mem_table(std::span<const uint8_t> msg) {
  VhostUserMsgHeader header;  // NOLINT(cppcoreguidelines-pro-type-member-init): memcpy fills it
  if (msg.size() < kVhostUserHeaderSize) return std::nullopt;
  std::memcpy(&header, msg.data(), sizeof(header));
  if (header.request != static_cast<uint32_t>(VhostUserRequest::kSetMemTable)) return std::nullopt;
  const size_t payload = std::min<size_t>(header.size, msg.size() - kVhostUserHeaderSize);
  if (payload < kMemTableHeaderSize) return std::nullopt;
  uint32_t nregions;
  std::memcpy(&nregions, msg.data() + kVhostUserHeaderSize, sizeof(nregions));
  if (nregions > kVhostMaxMemRegions ||
      payload < kMemTableHeaderSize + sizeof(VhostUserMemoryRegion) * nregions) {
    return std::nullopt;
  }
  std::vector<VhostUserMemoryRegion> regions(nregions);
  if (nregions > 0) {
    std::memcpy(regions.data(), msg.data() + kVhostUserHeaderSize + kMemTableHeaderSize,
                sizeof(VhostUserMemoryRegion) * nregions);
  }
  return regions;
}

Result<void> check_mem_table_files(std::span<const VhostUserMemoryRegion> regions,
                                   std::span<const int> fds) {
  if (fds.size() != regions.size()) {
    return make_error(
        Errc::kInvalidArgument,
        fmt::format("memory table of {} regions came with {} fds", regions.size(), fds.size()));
  }
  for (size_t i = 0; i < regions.size(); ++i) {
    const VhostUserMemoryRegion& r = regions[i];
    struct stat st {};
    if (::fstat(fds[i], &st) != 0) {
      return make_error(Errc::kInvalidArgument,
                        fmt::format("region {}: fd {}: {}", i, fds[i], std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
      return make_error(Errc::kInvalidArgument,
                        fmt::format("region {}: fd {} is not a regular file (mode {:o})", i, fds[i],
                                    st.st_mode & S_IFMT));
    }
    const uint64_t file_size = static_cast<uint64_t>(st.st_size);
    if (r.memory_size == 0 || r.mmap_offset > file_size ||
        r.memory_size > file_size - r.mmap_offset) {
      return make_error(
          Errc::kInvalidArgument,
          fmt::format("region {} maps {} bytes at offset {} of a {}-byte file: it runs past the "
                      "file's end",
                      i, r.memory_size, r.mmap_offset, file_size));
    }
  }
  return {};
}

}  // namespace pmdnet::vhost_user
