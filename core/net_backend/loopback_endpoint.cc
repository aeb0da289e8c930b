// LoopbackEndpoint's queue: linearizes each transmitted packet out of guest memory and writes it
// into the next posted receive buffer.
#include "core/net_backend/loopback_endpoint.h"

#include "core/base/ring.h"
#include "core/net_backend/queue_counters.h"

namespace pmdnet {

namespace {

class LoopbackQueue final : public Queue {
 public:
  bool poll_ready(BufferAccess&) noexcept override { return !rx_done_.empty(); }

  void rx_avail(BufferAccess&, std::span<const RxId> done) noexcept override {
    for (RxId id : done) rx_avail_.push_back(id);
  }

  QueueResult<size_t> rx_poll(BufferAccess&, std::span<RxId> packets) noexcept override {
    size_t n = 0;
    while (n < packets.size() && !rx_done_.empty()) packets[n++] = rx_done_.pop_front();
    return n;
  }

  // Reflects packets while receive buffers last; the rest wait for the next call. A packet whose
  // segments disagree with its length or leave guest memory is dropped and counted as a transmit
  // error; one larger than the next receive buffer is dropped and counted as a receive error.
  QueueResult<TxAvailResult> tx_avail(BufferAccess& pool,
                                      std::span<const TxSegment> segments) noexcept override {
    size_t consumed = 0;
    while (!segments.empty() && !rx_avail_.empty()) {
      auto packet = next_packet(segments);
      if (!packet) {
        counters_.tx_errors_.increment();
        if (consumed > 0) break;  // report what was consumed; the next call fails at once
        return make_queue_error(Errc::kMalformed, "malformed transmit segment list");
      }
      const TxMetadata& meta = *packet->metadata;
      std::span<const TxSegment> this_packet = packet->segments;
      segments = packet->rest;
      consumed += this_packet.size();
      RxId rx_id = rx_avail_.front();
      if (segments_len(this_packet) != meta.len) {
        counters_.tx_errors_.increment();
        continue;
      }
      // Checked before copying, so the copy is bounded by the guest's own receive buffer.
      if (meta.len > pool.capacity(rx_id)) {
        counters_.rx_errors_.increment();
        continue;
      }
      if (!linearize(pool, this_packet, scratch_)) {
        counters_.tx_errors_.increment();
        continue;
      }
      rx_avail_.pop_front();
      pool.write_packet(rx_id, RxMetadata{.offset = 0, .len = scratch_.size(), .vlan = meta.vlan},
                        scratch_);
      rx_done_.push_back(rx_id);
      counters_.tx_packets_.increment();
      counters_.rx_packets_.increment();
      if (meta.vlan) {
        counters_.tx_vlan_packets_.increment();
        counters_.rx_vlan_packets_.increment();
      }
    }
    return TxAvailResult{.completed_synchronously = true, .segments_consumed = consumed};
  }

  std::expected<size_t, TxError> tx_poll(BufferAccess&, std::span<TxId>) noexcept override {
    return 0;
  }

  // The frame comes back to the guest like any transmit; false while no receive buffer is posted.
  bool tx_frame(BufferAccess& pool, std::span<const uint8_t> frame) noexcept override {
    if (rx_avail_.empty()) return false;
    const RxId rx_id = rx_avail_.front();
    if (frame.size() > pool.capacity(rx_id)) {
      counters_.rx_errors_.increment();
      return true;  // dropped, as tx_avail drops a packet larger than the buffer
    }
    rx_avail_.pop_front();
    pool.write_packet(rx_id, RxMetadata{.offset = 0, .len = frame.size()}, frame);
    rx_done_.push_back(rx_id);
    counters_.tx_packets_.increment();
    counters_.rx_packets_.increment();
    return true;
  }
  const BackendQueueStats* queue_stats() const noexcept override { return &counters_; }

 private:
  Ring<RxId> rx_avail_;  // posted by the frontend, not yet filled
  Ring<RxId> rx_done_;   // filled, not yet returned by rx_poll
  std::vector<uint8_t> scratch_;
  QueueCounters counters_;
};

}  // namespace

Result<void> LoopbackEndpoint::get_queues(std::span<const QueueConfig> config, const RssConfig*,
                                          std::vector<std::unique_ptr<Queue>>& queues) {
  for (size_t i = 0; i < config.size(); ++i) queues.push_back(std::make_unique<LoopbackQueue>());
  return {};
}

}  // namespace pmdnet
