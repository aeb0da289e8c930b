// LoopbackEndpoint: reflects every transmitted packet back as a received one, on the same queue.
// A reference backend for tests and for benchmarking the frontend without a NIC.
#pragma once

#include "core/net_backend/endpoint.h"

namespace pmdnet {

class LoopbackEndpoint final : public Endpoint {
 public:
  std::string_view endpoint_type() const noexcept override { return "loopback"; }
  Result<void> get_queues(std::span<const QueueConfig> config, const RssConfig* rss,
                          std::vector<std::unique_ptr<Queue>>& queues) override;
  void stop() override {}
  bool is_ordered() const noexcept override { return true; }
  // Nothing: a reflected frame is the guest's own, its checksums unchecked, never coalesced.
  RxOffloadSupport rx_offload_support() const noexcept override { return {}; }
  MultiQueueSupport multiqueue_support() const noexcept override {
    return {.max_queues = UINT16_MAX, .indirection_table_size = 64};
  }
};

}  // namespace pmdnet
