// The snapshot layout and the wording of guest error reports.
#include "core/virtio_net/guest_error_report.h"

#include <fmt/format.h>

namespace pmdnet::virtio {

namespace {

constexpr size_t kRing = static_cast<size_t>(RingError::kCount);
constexpr size_t kDrop = static_cast<size_t>(DropReason::kCount);

// The name of counter `i` of a snapshot: tx ring errors, rx ring errors, drops, header errors.
std::string name_of(size_t i) {
  if (i < kRing) return fmt::format("guest tx ring: {}", to_string(static_cast<RingError>(i)));
  i -= kRing;
  if (i < kRing) return fmt::format("guest rx ring: {}", to_string(static_cast<RingError>(i)));
  i -= kRing;
  if (i < kDrop) return fmt::format("dropped: {}", to_string(static_cast<DropReason>(i)));
  i -= kDrop;
  return fmt::format("guest tx virtio_net_hdr: {}", to_string(static_cast<HeaderError>(i)));
}

}  // namespace

GuestErrorCounts snapshot_guest_errors(const VirtioNetQueueStats& stats) {
  GuestErrorCounts c;
  c.values.reserve(2 * kRing + kDrop + kHeaderErrorCount);
  for (const Counter& x : stats.tx_ring_errors) c.values.push_back(x.get());
  for (const Counter& x : stats.rx_ring_errors) c.values.push_back(x.get());
  for (const Counter& x : stats.drops) c.values.push_back(x.get());
  for (const Counter& x : stats.tx_header_errors) c.values.push_back(x.get());
  return c;
}

void describe_guest_errors(const GuestErrorCounts& before, const GuestErrorCounts& now,
                           std::vector<std::string>& lines) {
  for (size_t i = 0; i < now.values.size(); ++i) {
    uint64_t was = i < before.values.size() ? before.values[i] : 0;
    if (now.values[i] > was) {
      lines.push_back(
          fmt::format("{}: +{} ({} total)", name_of(i), now.values[i] - was, now.values[i]));
    }
  }
}

}  // namespace pmdnet::virtio
