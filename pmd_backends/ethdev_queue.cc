// EthdevQueue's destruction (the TX mbuf cache and zero-copy slots it holds) and the names of
// EthdevQueueStats' counters.
#include "pmd_backends/ethdev_queue.h"

#include <fmt/format.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <string_view>
#include <utility>

namespace pmdnet {

EthdevQueue::~EthdevQueue() {
  if (cache_n_ > 0) rte_pktmbuf_free_bulk(cache_.data(), cache_n_);
  if (zero_copy_ && zero_copy_->in_flight() > 0) {
    // Not reached with the PMDs zero_copy_capable() names, which free inside tx_burst. Should
    // one keep mbufs, their free callbacks must still find their slots: leak those.
    (void)rte_eth_tx_done_cleanup(port_, queue_, 0);
    if (zero_copy_->in_flight() > 0) (void)zero_copy_.release();
  }
  --*live_;  // the endpoint outlives its queues (Endpoint lifecycle)
}

void EthdevQueueStats::for_each_counter(const CounterVisitor& visit) const {
  QueueCounters::for_each_counter(visit);
  for (size_t i = 0; i < tx_offload_errors_.size(); ++i) {
    visit(fmt::format("tx_offload_{}", offload::to_key(static_cast<offload::OffloadError>(i))),
          tx_offload_errors_[i].get());
  }
  const std::pair<std::string_view, const Counter*> named[] = {
      {"tx_length_mismatch", &tx_length_mismatch_},
      {"tx_guest_memory", &tx_guest_memory_},
      {"tx_too_large", &tx_too_large_},
      {"tx_no_mbufs", &tx_no_mbufs_},
      {"tx_prepare_failed", &tx_prepare_failed_},
      {"tx_ring_full", &tx_ring_full_},
      {"rx_too_large", &rx_too_large_},
      {"rx_vlan_reinserted", &rx_vlan_reinserted_},
      {"rx_sw_checksum", &rx_sw_checksum_},
      {"rx_gro_frames", &rx_gro_frames_},
      {"rx_gro_merged", &rx_gro_merged_},
      {"tx_sw_checksum", &tx_sw_checksum_},
      {"tx_sw_tso", &tx_sw_tso_},
      {"tx_sw_uso", &tx_sw_uso_},
      {"tx_sw_vlan", &tx_sw_vlan_},
      {"tx_segments", &tx_segments_},
      {"tx_zero_copy", &tx_zero_copy_},
  };
  for (const auto& [name, counter] : named) visit(name, counter->get());
}

}  // namespace pmdnet
