// Rate-limited reporting of guest errors: the poll loop only counts them (VirtioNetQueueStats);
// a control thread takes a snapshot now and then and turns what grew since the previous one into
// log lines. However fast a hostile guest misbehaves, each kind costs one line per report period.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/virtio_net/net_queue_stats.h"

namespace pmdnet::virtio {

// Every error counter of one queue pair, copied at one moment.
struct GuestErrorCounts {
  std::vector<uint64_t> values;  // in the order describe_guest_errors knows
};

GuestErrorCounts snapshot_guest_errors(const VirtioNetQueueStats& stats);

// Appends one line per error kind that grew from `before` to `now`, e.g.
// "guest tx ring: descriptor chain longer than its ring or table (loop?): +3 (7 total)". A default
// (empty) `before` counts as all zeros.
void describe_guest_errors(const GuestErrorCounts& before, const GuestErrorCounts& now,
                           std::vector<std::string>& lines);

}  // namespace pmdnet::virtio
