// DropReason's names, and VirtioNetQueueStats naming its counters.
#include "core/virtio_net/net_queue_stats.h"

#include <string>

#include "core/base/enum_names.h"

namespace pmdnet::virtio {

namespace {

constexpr EnumNameTable<DropReason, static_cast<size_t>(DropReason::kCount)> kDropReasonNames{{
    {DropReason::kTxChainTooShort, "tx_chain_too_short",
     "tx chain shorter than a virtio_net_hdr plus a frame"},
    {DropReason::kTxWritableBuffer, "tx_writable_buffer", "device-writable buffer in a tx chain"},
    {DropReason::kTxBadHeader, "tx_bad_header", "tx virtio_net_hdr rejected"},
    {DropReason::kTxTooManySegments, "tx_too_many_segments", "tx frame in more than 255 buffers"},
    {DropReason::kRxNoBuffers, "rx_no_buffers", "rx packet larger than the posted guest buffers"},
    {DropReason::kRxTooSmall, "rx_too_small", "rx chain too small for a virtio_net_hdr"},
    {DropReason::kRxReadableBuffer, "rx_readable_buffer", "device-readable buffer in an rx chain"},
    {DropReason::kRxHeaderNotWritten, "rx_header_not_written", "rx completed without a header"},
    {DropReason::kRxCannotDeliver, "rx_cannot_deliver",
     "coalesced rx packet the guest cannot take"},
    {DropReason::kRxOverMtu, "rx_over_mtu", "rx packet longer than the guest's MTU"},
}};

static_assert(covers_in_order(kDropReasonNames) && has_distinct_keys(kDropReasonNames));

}  // namespace

std::string_view to_string(DropReason r) noexcept {
  return description_of(kDropReasonNames, r, "unknown drop reason");
}

std::string_view to_key(DropReason r) noexcept { return key_of(kDropReasonNames, r, "unknown"); }

void VirtioNetQueueStats::for_each_counter(const CounterVisitor& visit) const {
  visit("guest_tx_packets", guest_tx_packets.get());
  visit("guest_tx_bytes", guest_tx_bytes.get());
  visit("guest_rx_packets", guest_rx_packets.get());
  visit("guest_rx_bytes", guest_rx_bytes.get());
  visit("guest_rx_merged_buffers", guest_rx_merged_buffers.get());
  visit("notifications", notifications.get());
  visit("backend_errors", backend_errors.get());
  std::string name;
  auto each = [&](std::string_view prefix, const auto& counters, auto key_of) {
    for (size_t i = 0; i < counters.size(); ++i) {
      name.assign(prefix);
      name += key_of(i);
      visit(name, counters[i].get());
    }
  };
  each("drop_", drops, [](size_t i) { return to_key(static_cast<DropReason>(i)); });
  each("tx_header_", tx_header_errors,
       [](size_t i) { return to_key(static_cast<HeaderError>(i)); });
  each("tx_ring_", tx_ring_errors, [](size_t i) { return to_key(static_cast<RingError>(i)); });
  each("rx_ring_", rx_ring_errors, [](size_t i) { return to_key(static_cast<RingError>(i)); });
}

}  // namespace pmdnet::virtio
