// DisconnectableEndpoint: the update channel shared with its control object, and the action poll
// that applies updates in order.
#include "core/net_backend/disconnectable_endpoint.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <variant>

namespace pmdnet {

namespace disconnectable_detail {

using Connect = std::unique_ptr<Endpoint>;
using Disconnect = Completer<std::unique_ptr<Endpoint>>;
using Update = std::variant<Connect, Disconnect>;

struct Channel {
  std::mutex mutex;
  std::deque<Update> updates;
  bool receiver_alive = true;
  bool connected = false;  // as it will be once every queued update is applied
  EventFd signal;          // readable while `updates` is non-empty (or a reply is due)
};

}  // namespace disconnectable_detail

using disconnectable_detail::Channel;

Result<void> DisconnectableEndpointControl::connect(std::unique_ptr<Endpoint> endpoint) {
  if (!endpoint) return make_error(Errc::kInvalidArgument, "connect: null endpoint");
  std::lock_guard lock(channel_->mutex);
  if (!channel_->receiver_alive) {
    return make_error(Errc::kClosed, "connect: the disconnectable endpoint is gone");
  }
  if (channel_->connected) {
    return make_error(Errc::kState, "connect: an endpoint is already connected");
  }
  channel_->updates.emplace_back(std::move(endpoint));
  channel_->connected = true;
  channel_->signal.signal();
  return {};
}

Result<Completion<std::unique_ptr<Endpoint>>> DisconnectableEndpointControl::disconnect() {
  auto pair = make_completion<std::unique_ptr<Endpoint>>();
  if (!pair) return std::unexpected(std::move(pair.error()));
  std::lock_guard lock(channel_->mutex);
  if (!channel_->receiver_alive) {
    return make_error(Errc::kClosed, "disconnect: the disconnectable endpoint is gone");
  }
  channel_->updates.emplace_back(std::move(pair->first));
  channel_->connected = false;
  channel_->signal.signal();
  return std::move(pair->second);
}

Result<std::pair<std::unique_ptr<DisconnectableEndpoint>, DisconnectableEndpointControl>>
DisconnectableEndpoint::create() {
  auto signal = EventFd::create();
  if (!signal) return std::unexpected(std::move(signal.error()));
  int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return make_error(Errc::kIo, std::string("epoll_create1: ") + strerror(errno));
  epoll_event ev{.events = EPOLLIN, .data = {.fd = signal->fd()}};
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, signal->fd(), &ev) != 0) {
    int err = errno;
    ::close(epoll_fd);
    return make_error(Errc::kIo, std::string("epoll_ctl: ") + strerror(err));
  }
  auto channel = std::make_shared<Channel>();
  channel->signal = std::move(*signal);
  std::unique_ptr<DisconnectableEndpoint> endpoint(new DisconnectableEndpoint(channel, epoll_fd));
  return std::pair{std::move(endpoint), DisconnectableEndpointControl(std::move(channel))};
}

DisconnectableEndpoint::DisconnectableEndpoint(std::shared_ptr<Channel> channel, int epoll_fd)
    : channel_(std::move(channel)), epoll_fd_(epoll_fd) {}

DisconnectableEndpoint::~DisconnectableEndpoint() {
  // A disconnect already applied still gets its endpoint back; queued updates are dropped, which
  // abandons their completions.
  if (notify_disconnect_complete_) {
    notify_disconnect_complete_->first.complete(std::move(notify_disconnect_complete_->second));
  }
  std::deque<disconnectable_detail::Update> dropped;  // destroyed outside the lock
  {
    std::lock_guard lock(channel_->mutex);
    channel_->receiver_alive = false;
    dropped.swap(channel_->updates);
  }
  ::close(epoll_fd_);
}

const DisconnectableEndpoint::CachedState& DisconnectableEndpoint::cached() const noexcept {
  static const CachedState kDefaults{};
  return cached_state_ ? *cached_state_ : kDefaults;
}

void DisconnectableEndpoint::watch_current() {
  int fd = current().endpoint_action_fd();
  if (fd == watched_fd_) return;
  if (watched_fd_ >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, watched_fd_, nullptr);
  watched_fd_ = -1;
  if (fd >= 0) {
    epoll_event ev{.events = EPOLLIN, .data = {.fd = fd}};
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0) watched_fd_ = fd;
  }
}

std::optional<EndpointAction> DisconnectableEndpoint::poll_endpoint_action() {
  // The previous poll disconnected: hand the old endpoint back now that the caller has had the
  // chance to drop its queues.
  if (notify_disconnect_complete_) {
    auto [completer, old_endpoint] = std::move(*notify_disconnect_complete_);
    notify_disconnect_complete_.reset();
    completer.complete(std::move(old_endpoint));
  }

  std::optional<disconnectable_detail::Update> update;
  {
    std::lock_guard lock(channel_->mutex);
    channel_->signal.drain();
    if (!channel_->updates.empty()) {
      update.emplace(std::move(channel_->updates.front()));
      channel_->updates.pop_front();
    }
    if (!channel_->updates.empty()) channel_->signal.signal();  // one update per poll
  }

  if (!update) return current().poll_endpoint_action();

  if (auto* connect = std::get_if<disconnectable_detail::Connect>(&*update)) {
    // The control refuses a connect while connected, so the slot is empty here.
    endpoint_ = std::move(*connect);
    cached_state_ = CachedState{
        .is_ordered = endpoint_->is_ordered(),
        .tx_offload_support = endpoint_->tx_offload_support(),
        .rx_offload_support = endpoint_->rx_offload_support(),
        .multiqueue_support = endpoint_->multiqueue_support(),
        .tx_fast_completions = endpoint_->tx_fast_completions(),
        .link_speed = endpoint_->link_speed(),
    };
  } else {
    auto& completer = std::get<disconnectable_detail::Disconnect>(*update);
    notify_disconnect_complete_.emplace(std::move(completer), std::move(endpoint_));
    endpoint_.reset();
    channel_->signal.signal();  // so the caller polls again and the reply goes out
  }
  watch_current();
  return EndpointAction::restart_required();
}

}  // namespace pmdnet
