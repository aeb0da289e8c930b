// The unix socket of one vhost-user connection, as pmdnet guards it. rte_vhost 22.11 reads each
// message with blocking calls on its single event thread and names no connection fd in its API,
// so a front-end that sends half a message, or floods requests without reading the replies,
// would stall every port's control plane. pmdnet finds the connection's socket when rte_vhost
// reports the connection (new_connection), keeps a duplicate of it, and:
//   - gives it receive and send timeouts, so a message that never completes fails the
//     connection instead of blocking the thread;
//   - refuses further messages once too many reply bytes lie unread, and shuts the socket down;
//   - can tell whether its peer has gone, so a reconnect is not refused while rte_vhost has yet
//     to notice that the old connection closed.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/base/result.h"

namespace pmdnet::vhost_user {

// How long one message may take to arrive whole, or one reply to be taken.
inline constexpr std::chrono::milliseconds kMessageTimeout{250};
// Reply bytes (with the kernel's per-message overhead, as SIOCOUTQ counts them) that a front-end
// may leave unread; one that follows the protocol reads every reply before its next request.
inline constexpr size_t kMaxUnreadReplyBytes = size_t{64} * 1024;

// An owned duplicate of a connection's socket (-1 when none was found).
class ConnectionSocket {
 public:
  ConnectionSocket() = default;
  explicit ConnectionSocket(int fd) : fd_(fd) {}
  ~ConnectionSocket();
  ConnectionSocket(ConnectionSocket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ConnectionSocket& operator=(ConnectionSocket&& o) noexcept;
  ConnectionSocket(const ConnectionSocket&) = delete;
  ConnectionSocket& operator=(const ConnectionSocket&) = delete;

  // The socket rte_vhost has just accepted on `path` (server mode) or connected to `path`
  // (client mode): a connected unix stream socket of this process bound to (or peered with)
  // `path`, whose peer is still there, other than `other` (a connection already known). When
  // several match, the newest. A duplicate of it, or an empty ConnectionSocket.
  static ConnectionSocket find(const std::string& path, bool client_mode,
                               const ConnectionSocket* other);

  bool valid() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }

  // SO_RCVTIMEO and SO_SNDTIMEO. They belong to the socket, so rte_vhost's fd has them too.
  Result<void> set_timeouts(std::chrono::milliseconds timeout) const;
  // Bytes sent that the peer has not read (SIOCOUTQ), or nullopt.
  std::optional<size_t> unread_bytes() const;
  // Whether the peer closed its end (or the socket was shut down).
  bool peer_gone() const;
  // Shuts the socket down both ways: rte_vhost's next read sees the end and drops the connection.
  void shut_down() const;

 private:
  int fd_ = -1;
};

}  // namespace pmdnet::vhost_user
