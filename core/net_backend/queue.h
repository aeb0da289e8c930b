// Queue: one TX/RX data path, created by Endpoint::get_queues and driven by a worker's poll loop.
// Every call that touches receive buffers takes the frontend's BufferAccess. Queue methods are
// the data plane: noexcept, and their errors never allocate.
//
// A worker's pass over a queue, as in the seed:
//   poll_ready(pool)        is there backend work?
//   rx_poll(pool, ids)      completed receives: NIC -> guest
//   tx_avail(pool, segs)    post guest transmits: guest -> NIC
//   tx_poll(pool, done)     transmit completions
//   rx_avail(pool, ids)     hand receive buffers (back) to the backend
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "core/base/result.h"
#include "core/net_backend/buffer_access.h"
#include "core/net_backend/packet.h"

namespace pmdnet {

// A transmit-path failure that needs more than dropping a packet.
struct TxError {
  enum class Kind : uint8_t {
    TryRestart,  // restarting the queue may recover
    Fatal,       // unrecoverable
  };
  Kind kind;
  QueueError cause;

  bool operator==(const TxError&) const noexcept = default;
};

std::string_view to_string(TxError::Kind kind) noexcept;

// Per-queue counters. Only the four basic ones are required; the VLAN counters default to 0.
class BackendQueueStats {
 public:
  virtual ~BackendQueueStats() = default;
  virtual uint64_t rx_errors() const noexcept = 0;
  virtual uint64_t tx_errors() const noexcept = 0;
  virtual uint64_t rx_packets() const noexcept = 0;
  virtual uint64_t tx_packets() const noexcept = 0;
  virtual uint64_t tx_vlan_packets() const noexcept { return 0; }
  virtual uint64_t rx_vlan_packets() const noexcept { return 0; }

  // Not in the seed: every counter by a stable snake_case name, for telemetry. The six above
  // first; a backend with more to count overrides this and adds its own after them.
  using CounterVisitor = std::function<void(std::string_view name, uint64_t value)>;
  virtual void for_each_counter(const CounterVisitor& visit) const {
    visit("rx_packets", rx_packets());
    visit("tx_packets", tx_packets());
    visit("rx_errors", rx_errors());
    visit("tx_errors", tx_errors());
    visit("rx_vlan_packets", rx_vlan_packets());
    visit("tx_vlan_packets", tx_vlan_packets());
  }
};

// What tx_avail did with the segments it was given.
struct TxAvailResult {
  // False if the consumed segments complete asynchronously (reported later by tx_poll).
  bool completed_synchronously = true;
  // Segments consumed, always whole packets, from the front of the list.
  size_t segments_consumed = 0;

  bool operator==(const TxAvailResult&) const noexcept = default;
};

class Queue {
 public:
  virtual ~Queue() = default;

  // Updates the queue's target virtual processor (here: the worker's CPU). A hint.
  virtual void update_target_vp(uint32_t target_vp) noexcept { (void)target_vp; }

  // Non-blocking readiness poll: true if the backend has something for rx_poll or tx_poll.
  virtual bool poll_ready(BufferAccess& pool) noexcept = 0;

  // Makes receive buffers available to the device.
  virtual void rx_avail(BufferAccess& pool, std::span<const RxId> done) noexcept = 0;

  // Polls for receives; fills `packets` with the ids of filled buffers and returns how many.
  virtual QueueResult<size_t> rx_poll(BufferAccess& pool, std::span<RxId> packets) noexcept = 0;

  // Posts transmits to the device.
  virtual QueueResult<TxAvailResult> tx_avail(BufferAccess& pool,
                                              std::span<const TxSegment> segments) noexcept = 0;

  // Polls for transmit completions; fills `done` and returns how many.
  virtual std::expected<size_t, TxError> tx_poll(BufferAccess& pool,
                                                 std::span<TxId> done) noexcept = 0;

  // Sends one frame the device built itself (the RARP announcement after a live migration), from
  // the thread that polls the queue. False when the queue cannot send it now (no buffer, a full
  // ring) or sends no frames of its own; the caller may try again on a later pass.
  virtual bool tx_frame(BufferAccess& pool, std::span<const uint8_t> frame) noexcept {
    (void)pool;
    (void)frame;
    return false;
  }

  // Queue statistics, or nullptr where the queue keeps none.
  virtual const BackendQueueStats* queue_stats() const noexcept { return nullptr; }
};

}  // namespace pmdnet
