// Endpoint: the backend side of one NIC, and a factory for its Queues. Also the capability and
// configuration types exchanged when queues are created.
//
// Lifecycle, as in the seed:
//   1. The frontend creates its BufferAccess and one QueueConfig per queue it wants.
//   2. It calls get_queues, which appends the queues.
//   3. It posts initial receive buffers with Queue::rx_avail.
//   4. Its poll loop runs poll_ready / rx_poll / tx_avail / tx_poll / rx_avail.
//   5. On shutdown the queues are destroyed, then stop() is called.
// Meanwhile a control loop watches endpoint_action_fd() and calls poll_endpoint_action().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "core/net_backend/queue.h"

namespace pmdnet {

// Parameters related to supporting multiple queues.
struct MultiQueueSupport {
  uint16_t max_queues = 1;              // queues the endpoint can create
  uint16_t indirection_table_size = 0;  // entries in the RSS indirection table
  constexpr bool operator==(const MultiQueueSupport&) const noexcept = default;
};

// The transmit offloads an endpoint supports.
struct TxOffloadSupport {
  bool ipv4_header = false;  // IPv4 header checksum
  bool tcp = false;          // TCP checksum
  bool udp = false;          // UDP checksum
  bool tso = false;          // TCP segmentation
  bool uso = false;          // UDP segmentation
  constexpr bool operator==(const TxOffloadSupport&) const noexcept = default;
};

// The receive offloads an endpoint can deliver, which its frontend may offer the guest. Not in
// the seed, which left them to whoever builds the frontend.
struct RxOffloadSupport {
  bool checksum = false;       // frames whose checksums it validated (RxMetadata state Good)
  bool coalesced_tcp = false;  // coalesced TCP frames (RxMetadata gso_size > 0, e.g. GRO)
  bool coalesced_udp = false;  // coalesced UDP frames
  constexpr bool operator==(const RxOffloadSupport&) const noexcept = default;
};

// RSS hash types for RssConfig::flags. The seed leaves the flags untyped; these are virtio's
// VIRTIO_NET_RSS_HASH_TYPE_* bits, since pmdnet's frontend is virtio-net.
namespace rss_hash {
inline constexpr uint32_t kIpv4 = 1u << 0;
inline constexpr uint32_t kTcpIpv4 = 1u << 1;
inline constexpr uint32_t kUdpIpv4 = 1u << 2;
inline constexpr uint32_t kIpv6 = 1u << 3;
inline constexpr uint32_t kTcpIpv6 = 1u << 4;
inline constexpr uint32_t kUdpIpv6 = 1u << 5;
inline constexpr uint32_t kIpv6Ex = 1u << 6;
inline constexpr uint32_t kTcpIpv6Ex = 1u << 7;
inline constexpr uint32_t kUdpIpv6Ex = 1u << 8;
}  // namespace rss_hash

// Receive-side scaling: a hash key, an indirection table of queue indexes, and hash types.
// Views only; the caller keeps the storage alive for the duration of get_queues.
struct RssConfig {
  std::span<const uint8_t> key;
  std::span<const uint16_t> indirection_table;
  uint32_t flags = 0;  // rss_hash bits
};

// Per-queue configuration for get_queues. The seed carries the async driver that will poll the
// queue; here a worker polls it, and what a backend needs to know of that worker is where it runs.
struct QueueConfig {
  static constexpr int kAnySocket = -1;
  int numa_socket = kAnySocket;  // NUMA socket of the polling worker, for allocations
  // Not in the seed: the frontend can hand its guest coalesced TCP/IPv4 frames (RxMetadata
  // gso_size > 0), e.g. a virtio-net guest that negotiated GUEST_TSO4. A backend may then merge
  // received segments (GRO); otherwise it must deliver them as they came.
  bool accepts_coalesced_tcp4 = false;
};

// What the control loop must do for the endpoint.
struct EndpointAction {
  enum class Kind : uint8_t { RestartRequired, LinkStatusNotify };
  Kind kind = Kind::RestartRequired;
  bool link_up = false;  // LinkStatusNotify only

  static constexpr EndpointAction restart_required() noexcept {
    return {Kind::RestartRequired, false};
  }
  static constexpr EndpointAction link_status_notify(bool up) noexcept {
    return {Kind::LinkStatusNotify, up};
  }
  constexpr bool operator==(const EndpointAction&) const noexcept = default;
};

class Endpoint {
 public:
  static constexpr uint64_t kDefaultLinkSpeed = 10ull * 1000 * 1000 * 1000;  // 10 Gbps

  virtual ~Endpoint() = default;

  // An informational endpoint type, e.g. "null", "loopback", "dpdk".
  virtual std::string_view endpoint_type() const noexcept = 0;

  // Creates one queue per entry of `config`, appending them to `queues`.
  virtual Result<void> get_queues(std::span<const QueueConfig> config, const RssConfig* rss,
                                  std::vector<std::unique_ptr<Queue>>& queues) = 0;

  // Stops the endpoint. Every queue from get_queues must have been destroyed first.
  virtual void stop() = 0;

  // Whether packets always complete in order.
  virtual bool is_ordered() const noexcept { return false; }

  // The supported transmit offloads.
  virtual TxOffloadSupport tx_offload_support() const noexcept { return {}; }

  // The receive offloads it can deliver (none by default).
  virtual RxOffloadSupport rx_offload_support() const noexcept { return {}; }

  // Multi-queue parameters.
  virtual MultiQueueSupport multiqueue_support() const noexcept {
    return MultiQueueSupport{.max_queues = 1, .indirection_table_size = 0};
  }

  // If true, transmits complete quickly, so guest TX notifications may be elided while some are
  // in flight.
  virtual bool tx_fast_completions() const noexcept { return false; }

  // Selects the data path (synthetic or an accelerated virtual function). Only endpoints paired
  // with such a device support it.
  virtual Result<void> set_data_path_to_guest_vf(bool use_vf) {
    (void)use_vf;
    return make_error(Errc::kUnsupported, "Unsupported in current endpoint");
  }
  virtual Result<bool> get_data_path_to_guest_vf() const {
    return make_error(Errc::kUnsupported, "Unsupported in current endpoint");
  }

  // The seed's wait_for_endpoint_action, made non-blocking: the next action if one is due.
  // Call it when endpoint_action_fd() is readable, and once more after handling each action.
  virtual std::optional<EndpointAction> poll_endpoint_action() { return std::nullopt; }

  // A file descriptor that is readable while poll_endpoint_action may return something, or -1
  // if this endpoint never has actions.
  virtual int endpoint_action_fd() const noexcept { return -1; }

  // Link speed in bits per second.
  virtual uint64_t link_speed() const noexcept { return kDefaultLinkSpeed; }

  // Not in the seed: how many times get_queues configured the device behind the endpoint (for
  // a NIC, a stop and a start, which take its link down). Queues created again in the same
  // shape reuse the running configuration and do not count. 0 for endpoints without a device.
  virtual uint64_t configurations() const noexcept { return 0; }

  // Not in the seed: the RSS indirection table the device uses now, as it reports it (entry i:
  // the queue of hash bucket i). Empty when it has none, or spreads nothing (one queue).
  virtual std::vector<uint16_t> indirection_table() const { return {}; }
};

}  // namespace pmdnet
