// NullEndpoint: a NIC with nothing behind it. Its queues accept every transmit at once and never
// receive. It is also what DisconnectableEndpoint falls back to while disconnected.
#pragma once

#include "core/net_backend/endpoint.h"

namespace pmdnet {

class NullEndpoint final : public Endpoint {
 public:
  std::string_view endpoint_type() const noexcept override { return "null"; }
  Result<void> get_queues(std::span<const QueueConfig> config, const RssConfig* rss,
                          std::vector<std::unique_ptr<Queue>>& queues) override;
  void stop() override {}
  bool is_ordered() const noexcept override { return true; }
  // Everything: dropping a packet needs no checksum.
  TxOffloadSupport tx_offload_support() const noexcept override {
    return {.ipv4_header = true, .tcp = true, .udp = true, .tso = true, .uso = true};
  }
  // Nothing: it never receives.
  RxOffloadSupport rx_offload_support() const noexcept override { return {}; }
  MultiQueueSupport multiqueue_support() const noexcept override {
    return {.max_queues = UINT16_MAX, .indirection_table_size = 128};
  }
};

}  // namespace pmdnet
