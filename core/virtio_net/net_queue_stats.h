// The counters of one virtio-net queue pair (VirtioNetQueueStats) and the reasons a guest packet
// is dropped (DropReason). The worker of the pair writes them; telemetry and the guest-error
// reports read them from another thread. Each counter names itself (for_each_counter), so a new
// counter is one edit here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "core/base/counter.h"
#include "core/virtio_net/net_header.h"
#include "core/virtqueue/virtqueue.h"

namespace pmdnet::virtio {

// Why a guest packet was dropped, beyond the ring errors.
enum class DropReason : uint8_t {
  kTxChainTooShort,     // fewer readable bytes than a virtio_net_hdr, or no frame after it
  kTxWritableBuffer,    // a device-writable descriptor in a transmit chain
  kTxBadHeader,         // virtio_net_hdr rejected (see tx_header_errors)
  kTxTooManySegments,   // more than 255 buffers after the header
  kRxNoBuffers,         // a receive needed more guest buffers than were posted
  kRxTooSmall,          // a receive chain with no room for the virtio_net_hdr
  kRxReadableBuffer,    // a device-readable descriptor in a receive chain
  kRxHeaderNotWritten,  // the backend completed a receive without writing it
  kRxCannotDeliver,     // a coalesced receive the guest cannot take (no GUEST_TSO/USO)
  kRxOverMtu,           // a receive that would go out without GSO, longer than MTU + 18
  kCount,
};

std::string_view to_string(DropReason r) noexcept;
// A short snake_case name for DropReason counters in telemetry, e.g. "tx_chain_too_short".
std::string_view to_key(DropReason r) noexcept;

// Counters of one queue pair, written by its worker and read by telemetry.
struct VirtioNetQueueStats {
  Counter guest_tx_packets;
  Counter guest_tx_bytes;
  Counter guest_rx_packets;
  Counter guest_rx_bytes;
  Counter guest_rx_merged_buffers;  // extra chains used by mergeable receives
  Counter notifications;
  std::array<Counter, static_cast<size_t>(RingError::kCount)> tx_ring_errors;
  std::array<Counter, static_cast<size_t>(RingError::kCount)> rx_ring_errors;
  std::array<Counter, static_cast<size_t>(DropReason::kCount)> drops;
  std::array<Counter, kHeaderErrorCount> tx_header_errors;  // by HeaderError
  Counter backend_errors;                                   // rx_poll/tx_avail/tx_poll failures

  void drop(DropReason r) noexcept { drops[static_cast<size_t>(r)].increment(); }

  // Every counter by its stable snake_case telemetry name: the totals ("guest_tx_packets", ...,
  // "backend_errors"), then "drop_<reason>", "tx_header_<error>", "tx_ring_<error>" and
  // "rx_ring_<error>" for every reason and error.
  using CounterVisitor = std::function<void(std::string_view name, uint64_t value)>;
  void for_each_counter(const CounterVisitor& visit) const;
};

}  // namespace pmdnet::virtio
