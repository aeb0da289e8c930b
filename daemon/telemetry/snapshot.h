// What pmdnetd reports about itself at one moment: ports, their queue pairs' counters, and the
// workers. The port manager and the worker pool fill it (control plane, any thread); telemetry
// (the /pmdnet/* commands) and pmdnetctl only format it. Plain values, no DPDK types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pmdnet::telemetry {

// One named counter. Names are snake_case and stable: they are the telemetry keys.
struct NamedCounter {
  std::string name;
  uint64_t value = 0;
  bool operator==(const NamedCounter&) const = default;
};

// One queue pair of a connected guest.
struct QueuePairSnapshot {
  uint32_t index = 0;         // the virtio queue pair (vrings 2i and 2i+1)
  int32_t worker_lcore = -1;  // the worker polling it, -1 if none
  // Frontend counters, named from the guest's point of view: guest_tx_packets, guest_tx_bytes,
  // guest_rx_packets, guest_rx_bytes, guest_rx_merged_buffers, notifications, backend_errors,
  // drop_<reason>, tx_header_<error>, tx_ring_<error>, rx_ring_<error> (zeros included).
  std::vector<NamedCounter> guest;
  // The backend queue's counters: rx_packets, tx_packets, rx_errors, tx_errors,
  // rx_vlan_packets, tx_vlan_packets, then backend-specific ones (e.g. tx_sw_tso, rx_too_large).
  std::vector<NamedCounter> backend;
  bool operator==(const QueuePairSnapshot&) const = default;
};

struct PortSnapshot {
  std::string name;
  std::string socket;      // the vhost-user socket path
  std::string mode;        // "server" or "client"
  std::string backend;     // "dpdk", "loopback", "null"
  std::string device;      // the dpdk device string, empty otherwise
  bool connected = false;  // a guest is connected
  // What the connected guest negotiated, once its queue pairs have started: the layout of its
  // rings, "split" or "packed" (empty before), and whether VIRTIO_F_IN_ORDER is on.
  std::string ring_layout;
  bool in_order = false;
  bool link_up = false;  // the backend's link, as last reported (LinkStatusNotify)
  uint64_t link_speed_bps = 0;
  uint64_t link_changes = 0;  // LinkStatusNotify events seen
  // Times the backend configured its device (Endpoint::configurations): each one a NIC stop and
  // start, which takes its link down.
  uint64_t backend_configurations = 0;
  uint64_t restarts = 0;     // RestartRequired events handled
  uint64_t connections = 0;  // guest connections accepted since the port was added
  uint64_t refused_connections = 0;
  uint64_t session_starts = 0;  // times the queue pairs were started
  uint64_t session_stops = 0;
  // Packed rings started where the previous pmdnetd saved them (vhost_user/ring_state.h).
  uint64_t resumed_rings = 0;
  // RARP announcements sent out of the backend after a live migration (SEND_RARP), and those
  // given up (the backend never took the frame, or the queue pair stopped first).
  uint64_t announcements = 0;
  uint64_t announce_failures = 0;
  // What a front-end got refused: queue pair starts (a ring outside guest memory, a call fd that
  // is not an eventfd, ...), messages (a memory table past its files' ends, unread replies), and
  // sessions broken by a fault in their guest memory.
  uint64_t start_errors = 0;
  uint64_t refused_messages = 0;
  uint64_t guest_memory_faults = 0;
  // The backend's RSS indirection table as the NIC reports it (entry i: the queue of hash bucket
  // i); empty when it has none or spreads nothing.
  std::vector<uint16_t> rss_reta;
  std::vector<QueuePairSnapshot> queue_pairs;  // running pairs only, by index
  bool operator==(const PortSnapshot&) const = default;
};

struct WorkerSnapshot {
  uint32_t lcore = 0;
  std::string idle;          // "busy" or "adaptive"
  uint64_t busy_cycles = 0;  // TSC cycles of passes that moved packets
  uint64_t idle_cycles = 0;  // TSC cycles of passes that did not, and of idle sleeps
  uint64_t passes = 0;
  uint64_t queue_pairs = 0;  // queue pairs assigned now
  uint64_t packets = 0;      // packets moved by the busy passes (guest TX + guest RX)
  bool operator==(const WorkerSnapshot&) const = default;
};

struct DaemonSnapshot {
  std::string version;
  uint64_t tsc_hz = 0;                  // to turn cycles into time
  uint64_t reloads = 0;                 // SIGHUP reloads applied
  uint64_t failed_reloads = 0;          // refused (bad file) or partly failed
  std::vector<PortSnapshot> ports;      // by name
  std::vector<WorkerSnapshot> workers;  // by lcore
  bool operator==(const DaemonSnapshot&) const = default;
};

// Sums the counter `name` over every queue pair of `port` (guest and backend lists both).
uint64_t port_total(const PortSnapshot& port, std::string_view name);

// ---- Helpers over the structs above (pure; snapshot.cc) ----

// How the guest counters group: drops by reason ("drop_<reason>"), and guest-protocol errors
// ("tx_header_<error>", "tx_ring_<error>", "rx_ring_<error>").
bool is_drop_counter(std::string_view name);
bool is_guest_error_counter(std::string_view name);

// Per queue pair: the sum of the guest's drop_* counters; of its guest-protocol error counters;
// and of the backend-side errors (the guest list's backend_errors plus the backend list's
// rx_errors and tx_errors).
uint64_t queue_pair_drops(const QueuePairSnapshot& qp);
uint64_t queue_pair_guest_errors(const QueuePairSnapshot& qp);
uint64_t queue_pair_backend_errors(const QueuePairSnapshot& qp);

// A port in one line: what /pmdnet/ports reports per port and `pmdnetctl ports` and
// `pmdnetctl watch` print. The counters are sums over the running queue pairs, so they fall
// back to zero when the guest disconnects (the pairs stop).
struct PortSummary {
  std::string name;
  std::string backend;
  bool connected = false;
  bool link_up = false;
  uint64_t queue_pairs = 0;  // running
  uint64_t guest_tx_packets = 0;
  uint64_t guest_tx_bytes = 0;
  uint64_t guest_rx_packets = 0;
  uint64_t guest_rx_bytes = 0;
  uint64_t drops = 0;           // queue_pair_drops, summed
  uint64_t guest_errors = 0;    // queue_pair_guest_errors, summed
  uint64_t backend_errors = 0;  // queue_pair_backend_errors, summed
  bool operator==(const PortSummary&) const = default;
};

PortSummary summarize(const PortSnapshot& port);

// The share of a worker's cycles spent in passes that moved packets, in percent (0..100); 0 when
// it has counted no cycles yet.
double busy_percent(const WorkerSnapshot& worker);

// A worker's cost per packet: busy TSC cycles / packets moved, since start; 0 before its first
// packet. Cycles of passes that moved nothing (idle) are not counted.
inline double cycles_per_packet(const WorkerSnapshot& worker) {
  return worker.packets > 0
             ? static_cast<double>(worker.busy_cycles) / static_cast<double>(worker.packets)
             : 0.0;
}

}  // namespace pmdnet::telemetry
