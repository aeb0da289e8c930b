// classify_message: which vhost-user messages stop which queue pairs (see vhost_user_msg.h).
#include "daemon/vhost_user/vhost_user_msg.h"

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
  VhostUserMsgHeader header;
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
      VhostVringState state;
      if (!read_payload(msg, state)) return {};
      const auto request = static_cast<VhostUserRequest>(header.request);
      if (request == VhostUserRequest::kGetVringBase) return {Kind::kStopVring, state.index, 0};
      if (request == VhostUserRequest::kSetVringEnable) {
        // Enabling changes nothing for a running pair; readiness arrives by vring_state_changed.
        return state.num == 0 ? QuiesceAction{Kind::kDisableVring, state.index, 0}
                              : QuiesceAction{};
      }
      return {Kind::kRestartVring, state.index, 0};
    }
    case VhostUserRequest::kSetVringAddr: {
      VhostVringAddr addr;
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
    case VhostUserRequest::kSetFeatures: {
      uint64_t features;
      if (!read_payload(msg, features)) return {};
      return {Kind::kFeatures, 0, features};
    }
    default:
      return {};
  }
}

}  // namespace pmdnet::vhost_user
