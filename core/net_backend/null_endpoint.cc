// NullEndpoint and its queue, which drops every transmit and counts it.
#include "core/net_backend/null_endpoint.h"

#include "core/net_backend/queue_counters.h"

namespace pmdnet {

namespace {

class NullQueue final : public Queue {
 public:
  bool poll_ready(BufferAccess&) noexcept override { return false; }
  void rx_avail(BufferAccess&, std::span<const RxId>) noexcept override {}
  QueueResult<size_t> rx_poll(BufferAccess&, std::span<RxId>) noexcept override { return 0; }

  // Consumes every segment, completed synchronously, as the seed does. The packets are counted
  // when the list is well formed; a malformed one is still consumed, and counted as an error.
  QueueResult<TxAvailResult> tx_avail(BufferAccess&,
                                      std::span<const TxSegment> segments) noexcept override {
    if (auto n = packet_count(segments)) {
      counters_.tx_packets_.add(*n);
    } else {
      counters_.tx_errors_.increment();
    }
    return TxAvailResult{.completed_synchronously = true, .segments_consumed = segments.size()};
  }

  std::expected<size_t, TxError> tx_poll(BufferAccess&, std::span<TxId>) noexcept override {
    return 0;
  }
  bool tx_frame(BufferAccess&, std::span<const uint8_t>) noexcept override {
    counters_.tx_packets_.increment();
    return true;
  }
  const BackendQueueStats* queue_stats() const noexcept override { return &counters_; }

 private:
  QueueCounters counters_;
};

}  // namespace

Result<void> NullEndpoint::get_queues(std::span<const QueueConfig> config, const RssConfig*,
                                      std::vector<std::unique_ptr<Queue>>& queues) {
  for (size_t i = 0; i < config.size(); ++i) queues.push_back(std::make_unique<NullQueue>());
  return {};
}

}  // namespace pmdnet
