// Tables and rates for pmdnetctl: render_table does the padding, the format_* functions choose
// the columns, compute_rates turns two port summaries into per-second figures.
#include "daemon/pmdnetctl/format.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <utility>

namespace pmdnet::ctl {
namespace {

// Per-counter values across the queue pairs of one list (guest or backend).
struct CounterRow {
  std::string name;
  std::vector<std::optional<uint64_t>> values;  // one per queue pair; nullopt: not reported
};

std::vector<CounterRow> collect_rows(const std::vector<QueuePairSnapshot>& qps,
                                     std::vector<NamedCounter> QueuePairSnapshot::*list) {
  std::vector<CounterRow> rows;
  std::map<std::string, size_t, std::less<>> index;
  for (size_t q = 0; q < qps.size(); ++q) {
    for (const NamedCounter& c : qps[q].*list) {
      auto it = index.find(c.name);
      if (it == index.end()) {
        it = index.emplace(c.name, rows.size()).first;
        rows.push_back(CounterRow{c.name, std::vector<std::optional<uint64_t>>(qps.size())});
      }
      auto& slot = rows[it->second].values[q];
      slot = slot.value_or(0) + c.value;
    }
  }
  return rows;
}

Table counter_table(const std::vector<QueuePairSnapshot>& qps,
                    std::vector<NamedCounter> QueuePairSnapshot::*list, std::string_view title,
                    bool nonzero_only, bool with_lcore) {
  Table t;
  t.header = {std::string(title), "TOTAL"};
  t.align = {Align::kLeft, Align::kRight};
  for (const QueuePairSnapshot& qp : qps) {
    t.header.push_back(fmt::format("QP {}", qp.index));
    t.align.push_back(Align::kRight);
  }
  if (with_lcore) {
    std::vector<std::string> row = {"worker lcore", ""};
    for (const QueuePairSnapshot& qp : qps) {
      row.push_back(qp.worker_lcore >= 0 ? fmt::format("{}", qp.worker_lcore) : "none");
    }
    t.rows.push_back(std::move(row));
  }
  for (const CounterRow& r : collect_rows(qps, list)) {
    uint64_t total = 0;
    for (const auto& v : r.values) total += v.value_or(0);
    if (nonzero_only && total == 0) continue;
    std::vector<std::string> row = {r.name, fmt::format("{}", total)};
    for (const auto& v : r.values) row.push_back(v ? fmt::format("{}", *v) : "-");
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string link_text(const PortSnapshot& p) {
  if (!p.link_up) return "down";
  if (p.link_speed_bps == 0) return "up";
  return fmt::format("up, {}bit/s", human_si(static_cast<double>(p.link_speed_bps)));
}

}  // namespace

std::string reta_text(std::span<const uint16_t> table) {
  if (table.empty()) return "-";
  // The shortest prefix the table repeats (a power of two, like every RETA size).
  size_t period = 1;
  while (period < table.size()) {
    bool repeats = true;
    for (size_t i = period; i < table.size() && repeats; ++i) {
      repeats = table[i] == table[i % period];
    }
    if (repeats) break;
    period *= 2;
  }
  constexpr size_t kShown = 64;
  std::string out = fmt::format("{}", fmt::join(table.first(std::min(period, kShown)), " "));
  if (period > kShown) out += " ...";
  if (period < table.size()) return fmt::format("{} (repeated, {} entries)", out, table.size());
  return fmt::format("{} ({} entries)", out, table.size());
}

namespace {

// "connected", with what the guest negotiated once its rings run: "(packed rings, in order)".
std::string guest_text(const PortSnapshot& p) {
  if (!p.connected) return "not connected";
  if (p.ring_layout.empty()) return "connected";
  return fmt::format("connected ({} rings{})", p.ring_layout, p.in_order ? ", in order" : "");
}

double rate(uint64_t before, uint64_t after, double seconds) {
  const uint64_t delta = after >= before ? after - before : after;
  return static_cast<double>(delta) / seconds;
}

std::string rate_cell(const PortRates& r, double value) { return r.valid ? human_si(value) : "-"; }

}  // namespace

std::string render_table(const Table& table) {
  const size_t columns = std::max(
      table.header.size(),
      table.rows.empty()
          ? size_t{0}
          : std::max_element(table.rows.begin(), table.rows.end(),
                             [](const auto& a, const auto& b) { return a.size() < b.size(); })
                ->size());
  std::vector<size_t> width(columns, 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  };
  measure(table.header);
  for (const auto& row : table.rows) measure(row);

  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < columns; ++c) {
      const std::string empty;
      const std::string& cell = c < row.size() ? row[c] : empty;
      const Align align = c < table.align.size() ? table.align[c] : Align::kLeft;
      if (c > 0) line += "  ";
      const std::string pad(width[c] - cell.size(), ' ');
      line += align == Align::kRight ? pad + cell : cell + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  if (!table.header.empty()) emit(table.header);
  for (const auto& row : table.rows) emit(row);
  return out;
}

std::string human_si(double value) {
  if (!std::isfinite(value) || value <= 0) return "0";
  static constexpr std::array<const char*, 6> kSuffix = {"", "k", "M", "G", "T", "P"};
  size_t unit = 0;
  double v = value;
  // Round first so that 999.6 prints as "1.00k", not "1000".
  while (unit + 1 < kSuffix.size()) {
    const double shown =
        v < 10 ? std::round(v * 100) / 100 : (v < 100 ? std::round(v * 10) / 10 : std::round(v));
    if (shown < 1000) break;
    v /= 1000;
    ++unit;
  }
  if (unit == 0) {
    return fmt::format("{:.0f}", v);  // whole packets and bits below 1000 read best unscaled
  }
  if (v < 10) return fmt::format("{:.2f}{}", v, kSuffix[unit]);
  if (v < 100) return fmt::format("{:.1f}{}", v, kSuffix[unit]);
  return fmt::format("{:.0f}{}", v, kSuffix[unit]);
}

std::string format_info(const DaemonInfo& info) {
  Table t;
  t.align = {Align::kLeft, Align::kLeft};
  t.rows = {
      {"version", info.version},
      {"tsc_hz", fmt::format("{}", info.tsc_hz)},
      {"reloads", fmt::format("{} ({} failed)", info.reloads, info.failed_reloads)},
      {"ports", fmt::format("{} ({} connected)", info.ports, info.connected_ports)},
      {"queue pairs", fmt::format("{}", info.queue_pairs)},
      {"workers", fmt::format("{}", info.workers)},
  };
  return render_table(t);
}

std::string format_ports(const std::vector<PortSummary>& ports) {
  if (ports.empty()) return "no ports\n";
  Table t;
  t.header = {"PORT",          "BACKEND",       "GUEST", "LINK",  "QPS",
              "GUEST TX PKTS", "GUEST RX PKTS", "DROPS", "ERRORS"};
  t.align = {Align::kLeft,  Align::kLeft,  Align::kLeft,  Align::kLeft, Align::kRight,
             Align::kRight, Align::kRight, Align::kRight, Align::kRight};
  for (const PortSummary& p : ports) {
    t.rows.push_back({p.name, p.backend, p.connected ? "connected" : "-", p.link_up ? "up" : "down",
                      fmt::format("{}", p.queue_pairs), fmt::format("{}", p.guest_tx_packets),
                      fmt::format("{}", p.guest_rx_packets), fmt::format("{}", p.drops),
                      fmt::format("{}", p.guest_errors + p.backend_errors)});
  }
  return render_table(t);
}

std::string format_port(const PortSnapshot& p, bool nonzero_only) {
  Table fields;
  fields.align = {Align::kLeft, Align::kLeft};
  fields.rows = {
      {"port", p.name},
      {"socket", fmt::format("{} ({})", p.socket, p.mode)},
      {"backend", p.device.empty() ? p.backend : fmt::format("{} {}", p.backend, p.device)},
      {"guest", guest_text(p)},
      {"link", fmt::format("{} ({} changes, device configured {} times)", link_text(p),
                           p.link_changes, p.backend_configurations)},
      {"connections", fmt::format("{} ({} refused)", p.connections, p.refused_connections)},
      {"sessions", fmt::format("{} started, {} stopped, {} restarts, {} packed rings resumed",
                               p.session_starts, p.session_stops, p.restarts, p.resumed_rings)},
      {"announced", fmt::format("{} RARP sent, {} given up", p.announcements, p.announce_failures)},
      {"refused", fmt::format("{} starts, {} messages, {} memory faults", p.start_errors,
                              p.refused_messages, p.guest_memory_faults)},
      {"rss table", reta_text(p.rss_reta)},
      {"queue pairs", fmt::format("{} running", p.queue_pairs.size())},
  };
  std::string out = render_table(fields);
  if (p.queue_pairs.empty()) return out;
  out += '\n';
  out += render_table(
      counter_table(p.queue_pairs, &QueuePairSnapshot::guest, "GUEST", nonzero_only, true));
  out += '\n';
  out += render_table(
      counter_table(p.queue_pairs, &QueuePairSnapshot::backend, "BACKEND", nonzero_only, false));
  return out;
}

std::string format_workers(const std::vector<WorkerSnapshot>& workers) {
  if (workers.empty()) return "no workers\n";
  Table t;
  t.header = {"LCORE", "IDLE", "QUEUE PAIRS", "PASSES", "BUSY %", "PACKETS", "CYCLES/PKT"};
  t.align = {Align::kRight, Align::kLeft,  Align::kRight, Align::kRight,
             Align::kRight, Align::kRight, Align::kRight};
  for (const WorkerSnapshot& w : workers) {
    t.rows.push_back({fmt::format("{}", w.lcore), w.idle, fmt::format("{}", w.queue_pairs),
                      fmt::format("{}", w.passes),
                      fmt::format("{:.1f}", telemetry::busy_percent(w)),
                      fmt::format("{}", w.packets),
                      w.packets > 0 ? fmt::format("{:.1f}", telemetry::cycles_per_packet(w))
                                    : std::string("-")});
  }
  return render_table(t);
}

std::vector<PortRates> compute_rates(const std::vector<PortSummary>& before,
                                     const std::vector<PortSummary>& after, double seconds) {
  std::vector<PortRates> out;
  out.reserve(after.size());
  const bool timed = seconds > 0 && std::isfinite(seconds);
  for (const PortSummary& a : after) {
    PortRates r;
    r.name = a.name;
    const auto b = std::find_if(before.begin(), before.end(),
                                [&](const PortSummary& s) { return s.name == a.name; });
    if (b != before.end()) {
      r.valid = true;
      if (timed) {
        r.guest_tx_pps = rate(b->guest_tx_packets, a.guest_tx_packets, seconds);
        r.guest_tx_bps = 8 * rate(b->guest_tx_bytes, a.guest_tx_bytes, seconds);
        r.guest_rx_pps = rate(b->guest_rx_packets, a.guest_rx_packets, seconds);
        r.guest_rx_bps = 8 * rate(b->guest_rx_bytes, a.guest_rx_bytes, seconds);
        r.drops_per_s = rate(b->drops, a.drops, seconds);
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string format_rates(const std::vector<PortRates>& rates, std::string_view time_label,
                         double seconds) {
  std::string out = fmt::format("{}  ({:.2f} s)\n", time_label, seconds);
  if (rates.empty()) return out + "no ports\n";
  Table t;
  t.header = {"PORT",           "GUEST TX PKT/S", "GUEST TX BIT/S",
              "GUEST RX PKT/S", "GUEST RX BIT/S", "DROPS/S"};
  t.align = {Align::kLeft,  Align::kRight, Align::kRight,
             Align::kRight, Align::kRight, Align::kRight};
  for (const PortRates& r : rates) {
    t.rows.push_back({r.name, rate_cell(r, r.guest_tx_pps), rate_cell(r, r.guest_tx_bps),
                      rate_cell(r, r.guest_rx_pps), rate_cell(r, r.guest_rx_bps),
                      rate_cell(r, r.drops_per_s)});
  }
  return out + render_table(t);
}

std::string rates_json(const std::vector<PortRates>& rates, std::string_view time_label,
                       double seconds) {
  Json ports = Json::array();
  for (const PortRates& r : rates) {
    Json p = Json::object();
    p["name"] = r.name;
    if (r.valid) {
      p["guest_tx_pps"] = r.guest_tx_pps;
      p["guest_tx_bps"] = r.guest_tx_bps;
      p["guest_rx_pps"] = r.guest_rx_pps;
      p["guest_rx_bps"] = r.guest_rx_bps;
      p["drops_per_s"] = r.drops_per_s;
    } else {
      p["new"] = true;  // not in the previous sample: no rate yet
    }
    ports.push_back(std::move(p));
  }
  Json line = Json::object();
  line["time"] = std::string(time_label);
  line["interval_s"] = seconds;
  line["ports"] = std::move(ports);
  return line.dump();
}

}  // namespace pmdnet::ctl
