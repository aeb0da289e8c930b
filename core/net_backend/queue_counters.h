// QueueCounters: the BackendQueueStats that queues keep, as single-writer counters the owning
// worker bumps and telemetry reads from another thread. Backends with more to count derive from
// it and add their own counters.
#pragma once

#include "core/base/counter.h"
#include "core/net_backend/queue.h"

namespace pmdnet {

class QueueCounters : public BackendQueueStats {
 public:
  uint64_t rx_errors() const noexcept override { return rx_errors_.get(); }
  uint64_t tx_errors() const noexcept override { return tx_errors_.get(); }
  uint64_t rx_packets() const noexcept override { return rx_packets_.get(); }
  uint64_t tx_packets() const noexcept override { return tx_packets_.get(); }
  uint64_t tx_vlan_packets() const noexcept override { return tx_vlan_packets_.get(); }
  uint64_t rx_vlan_packets() const noexcept override { return rx_vlan_packets_.get(); }

  Counter rx_errors_;
  Counter tx_errors_;
  Counter rx_packets_;
  Counter tx_packets_;
  Counter tx_vlan_packets_;
  Counter rx_vlan_packets_;
};

}  // namespace pmdnet
