// DisconnectableEndpoint: an Endpoint whose backend can be connected and disconnected at run time
// from another thread, through its DisconnectableEndpointControl.
//
//   1. While nothing is connected it behaves as a NullEndpoint.
//   2. control.connect(ep) queues the endpoint; the next poll_endpoint_action() installs it,
//      caches its capabilities, and returns RestartRequired.
//   3. control.disconnect() queues a request and returns a Completion; the next
//      poll_endpoint_action() falls back to the null endpoint and returns RestartRequired. The
//      old endpoint is handed back through the Completion only on the poll after that, once the
//      caller has restarted its queues and so dropped the old ones.
//   4. Otherwise poll_endpoint_action() forwards the connected endpoint's own actions.
//
// endpoint_action_fd() is readable whenever poll_endpoint_action() has something to do: a queued
// update, a disconnect to complete, or an action of the connected endpoint.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "core/base/completion.h"
#include "core/net_backend/endpoint.h"
#include "core/net_backend/null_endpoint.h"

namespace pmdnet {

namespace disconnectable_detail {
struct Channel;
}

class DisconnectableEndpointControl {
 public:
  // Connects `endpoint`. Fails with kState if one is connected already (counting requests not yet
  // applied), with kInvalidArgument for a null pointer, and with kClosed if the
  // DisconnectableEndpoint is gone.
  Result<void> connect(std::unique_ptr<Endpoint> endpoint);

  // Disconnects. The Completion yields the old endpoint (nullptr if none was connected), not
  // stopped, or kClosed if the DisconnectableEndpoint was destroyed before handing it back.
  Result<Completion<std::unique_ptr<Endpoint>>> disconnect();

 private:
  friend class DisconnectableEndpoint;
  explicit DisconnectableEndpointControl(std::shared_ptr<disconnectable_detail::Channel> c)
      : channel_(std::move(c)) {}
  std::shared_ptr<disconnectable_detail::Channel> channel_;
};

class DisconnectableEndpoint final : public Endpoint {
 public:
  static Result<std::pair<std::unique_ptr<DisconnectableEndpoint>, DisconnectableEndpointControl>>
  create();

  DisconnectableEndpoint(const DisconnectableEndpoint&) = delete;
  DisconnectableEndpoint& operator=(const DisconnectableEndpoint&) = delete;
  ~DisconnectableEndpoint() override;

  std::string_view endpoint_type() const noexcept override { return current().endpoint_type(); }
  Result<void> get_queues(std::span<const QueueConfig> config, const RssConfig* rss,
                          std::vector<std::unique_ptr<Queue>>& queues) override {
    return current().get_queues(config, rss, queues);
  }
  void stop() override { current().stop(); }

  // The capabilities of the endpoint connected most recently, cached when it connected, so they
  // stay stable across a disconnect. Before the first connect the seed panics; here they are the
  // Endpoint defaults (no offloads, one queue), the conservative answer. See has_connected().
  bool is_ordered() const noexcept override { return cached().is_ordered; }
  TxOffloadSupport tx_offload_support() const noexcept override {
    return cached().tx_offload_support;
  }
  RxOffloadSupport rx_offload_support() const noexcept override {
    return cached().rx_offload_support;
  }
  MultiQueueSupport multiqueue_support() const noexcept override {
    return cached().multiqueue_support;
  }
  bool tx_fast_completions() const noexcept override { return cached().tx_fast_completions; }
  uint64_t link_speed() const noexcept override { return cached().link_speed; }

  Result<void> set_data_path_to_guest_vf(bool use_vf) override {
    return current().set_data_path_to_guest_vf(use_vf);
  }
  Result<bool> get_data_path_to_guest_vf() const override {
    return current().get_data_path_to_guest_vf();
  }

  std::optional<EndpointAction> poll_endpoint_action() override;
  int endpoint_action_fd() const noexcept override { return epoll_fd_; }

  // True once an endpoint has been connected at least once.
  bool has_connected() const noexcept { return cached_state_.has_value(); }
  // True while an endpoint (not the null fallback) is installed.
  bool is_connected() const noexcept { return endpoint_ != nullptr; }

 private:
  struct CachedState {
    bool is_ordered = false;
    TxOffloadSupport tx_offload_support;
    RxOffloadSupport rx_offload_support;
    MultiQueueSupport multiqueue_support;
    bool tx_fast_completions = false;
    uint64_t link_speed = kDefaultLinkSpeed;
  };

  DisconnectableEndpoint(std::shared_ptr<disconnectable_detail::Channel> channel, int epoll_fd);

  Endpoint& current() noexcept {
    return endpoint_ ? *endpoint_ : static_cast<Endpoint&>(null_endpoint_);
  }
  const Endpoint& current() const noexcept {
    return endpoint_ ? *endpoint_ : static_cast<const Endpoint&>(null_endpoint_);
  }
  const CachedState& cached() const noexcept;
  // Points the epoll set at the current endpoint's action fd.
  void watch_current();

  std::unique_ptr<Endpoint> endpoint_;
  NullEndpoint null_endpoint_;
  std::optional<CachedState> cached_state_;
  std::shared_ptr<disconnectable_detail::Channel> channel_;
  // A disconnect whose old endpoint goes back on the next poll.
  std::optional<std::pair<Completer<std::unique_ptr<Endpoint>>, std::unique_ptr<Endpoint>>>
      notify_disconnect_complete_;
  int epoll_fd_ = -1;
  int watched_fd_ = -1;  // the current endpoint's action fd in the epoll set, or -1
};

}  // namespace pmdnet
