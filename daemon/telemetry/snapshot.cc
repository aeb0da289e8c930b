// Sums and summaries over DaemonSnapshot's structs: port_total, the drop and error groupings of
// the guest counters, PortSummary and a worker's busy share.
#include "daemon/telemetry/snapshot.h"

#include <vector>

namespace pmdnet::telemetry {
namespace {

uint64_t sum_named(const std::vector<NamedCounter>& counters, std::string_view name) {
  uint64_t total = 0;
  for (const NamedCounter& c : counters) {
    if (c.name == name) total += c.value;
  }
  return total;
}

template <class Predicate>
uint64_t sum_matching(const std::vector<NamedCounter>& counters, Predicate predicate) {
  uint64_t total = 0;
  for (const NamedCounter& c : counters) {
    if (predicate(c.name)) total += c.value;
  }
  return total;
}

}  // namespace

uint64_t port_total(const PortSnapshot& port, std::string_view name) {
  uint64_t total = 0;
  for (const QueuePairSnapshot& qp : port.queue_pairs) {
    total += sum_named(qp.guest, name) + sum_named(qp.backend, name);
  }
  return total;
}

bool is_drop_counter(std::string_view name) { return name.starts_with("drop_"); }

bool is_guest_error_counter(std::string_view name) {
  return name.starts_with("tx_header_") || name.starts_with("tx_ring_") ||
         name.starts_with("rx_ring_");
}

uint64_t queue_pair_drops(const QueuePairSnapshot& qp) {
  return sum_matching(qp.guest, is_drop_counter);
}

uint64_t queue_pair_guest_errors(const QueuePairSnapshot& qp) {
  return sum_matching(qp.guest, is_guest_error_counter);
}

uint64_t queue_pair_backend_errors(const QueuePairSnapshot& qp) {
  return sum_named(qp.guest, "backend_errors") + sum_named(qp.backend, "rx_errors") +
         sum_named(qp.backend, "tx_errors");
}

PortSummary summarize(const PortSnapshot& port) {
  PortSummary s;
  s.name = port.name;
  s.backend = port.backend;
  s.connected = port.connected;
  s.link_up = port.link_up;
  s.queue_pairs = port.queue_pairs.size();
  for (const QueuePairSnapshot& qp : port.queue_pairs) {
    s.guest_tx_packets += sum_named(qp.guest, "guest_tx_packets");
    s.guest_tx_bytes += sum_named(qp.guest, "guest_tx_bytes");
    s.guest_rx_packets += sum_named(qp.guest, "guest_rx_packets");
    s.guest_rx_bytes += sum_named(qp.guest, "guest_rx_bytes");
    s.drops += queue_pair_drops(qp);
    s.guest_errors += queue_pair_guest_errors(qp);
    s.backend_errors += queue_pair_backend_errors(qp);
  }
  return s;
}

double busy_percent(const WorkerSnapshot& worker) {
  const double busy = static_cast<double>(worker.busy_cycles);
  const double all = busy + static_cast<double>(worker.idle_cycles);
  return all > 0 ? 100.0 * busy / all : 0.0;
}

}  // namespace pmdnet::telemetry
