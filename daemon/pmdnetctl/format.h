// pmdnetctl's output: plain-text tables of the telemetry model, and the rates `watch` computes
// from two samples of the port summaries. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/pmdnetctl/fetch.h"
#include "daemon/telemetry/snapshot.h"

namespace pmdnet::ctl {

enum class Align : uint8_t { kLeft, kRight };

// Columns padded to their widest cell and separated by two spaces; no trailing blanks. Rows
// shorter than the header get empty cells; `align` defaults to left for missing entries.
struct Table {
  std::vector<std::string> header;
  std::vector<Align> align;
  std::vector<std::vector<std::string>> rows;
};
std::string render_table(const Table& table);

// 3 significant digits with an SI suffix: "0", "999", "1.23k", "45.6M", "789G", "1.00T".
std::string human_si(double value);

std::string format_info(const DaemonInfo& info);
// `pmdnetctl ports`: PORT, BACKEND, GUEST, LINK, QPS, GUEST TX PKTS, GUEST RX PKTS, DROPS, ERRORS
// (guest-protocol plus backend errors). "no ports" when empty.
std::string format_ports(const std::vector<telemetry::PortSummary>& ports);
// `pmdnetctl port NAME`: the port's fields, then a guest table and a backend table with one row
// per counter (union over the pairs, in first-seen order) and the columns TOTAL, QP <index>...
// nonzero_only drops the rows that are zero everywhere.
std::string format_port(const telemetry::PortSnapshot& port, bool nonzero_only);

// An RSS indirection table in a line: the part it repeats (up to 64 entries), and its size.
// "-" for none.
std::string reta_text(std::span<const uint16_t> table);
// `pmdnetctl workers`: LCORE, IDLE, QUEUE PAIRS, PASSES, BUSY % (lifetime share of cycles).
std::string format_workers(const std::vector<telemetry::WorkerSnapshot>& workers);

// One port's rates between two samples.
struct PortRates {
  std::string name;
  bool valid = false;  // false: the port was not in the earlier sample
  double guest_tx_pps = 0;
  double guest_tx_bps = 0;  // bits per second
  double guest_rx_pps = 0;
  double guest_rx_bps = 0;
  double drops_per_s = 0;
  bool operator==(const PortRates&) const = default;
};

// Rates for each port of `after`, matched by name in `before`, over `seconds` (> 0; otherwise
// every rate is 0). A counter that went down (the guest reconnected, so the queue pairs restarted
// from zero) counts from zero.
std::vector<PortRates> compute_rates(const std::vector<telemetry::PortSummary>& before,
                                     const std::vector<telemetry::PortSummary>& after,
                                     double seconds);

// One `watch` report: a "<time_label>  (<seconds> s)" line and a table of the rates.
std::string format_rates(const std::vector<PortRates>& rates, std::string_view time_label,
                         double seconds);
// The same as one JSON line (no newline): {"time":..,"interval_s":..,"ports":[{...}]}.
std::string rates_json(const std::vector<PortRates>& rates, std::string_view time_label,
                       double seconds);

}  // namespace pmdnet::ctl
