// TelDict and its JSON (DPDK 22.11's format: telemetry_json.h), and the /pmdnet/* reply builders,
// which page their lists so each reply fits in DPDK's output buffer.
#include "daemon/telemetry/replies.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace pmdnet::telemetry {
namespace {

constexpr bool helps_fit() {
  for (const CommandSpec& c : kCommands) {
    // MAX_CMD_LEN (56) and RTE_TEL_MAX_STRING_LEN (128), both with the NUL.
    if (std::char_traits<char>::length(c.name) >= 56) return false;
    if (std::char_traits<char>::length(c.help) >= 128) return false;
  }
  return true;
}
static_assert(helps_fit(), "command names and help texts must fit DPDK's buffers");

size_t decimal_length(uint64_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

size_t decimal_length(int32_t v) {
  if (v >= 0) return decimal_length(static_cast<uint64_t>(v));
  return 1 + decimal_length(static_cast<uint64_t>(-static_cast<int64_t>(v)));
}

size_t value_json_length(const TelDict::Value& value) {
  struct Visitor {
    size_t operator()(uint64_t v) const { return decimal_length(v); }
    size_t operator()(int32_t v) const { return decimal_length(v); }
    size_t operator()(const std::string& s) const { return json_string_length(s); }
    size_t operator()(const std::vector<uint64_t>& values) const {
      size_t n = 2;
      for (uint64_t v : values) n += decimal_length(v);
      return n + (values.empty() ? 0 : values.size() - 1);
    }
    size_t operator()(const std::vector<std::string>& values) const {
      size_t n = 2;
      for (const std::string& s : values) n += json_string_length(s);
      return n + (values.empty() ? 0 : values.size() - 1);
    }
    size_t operator()(const std::unique_ptr<TelDict>& d) const { return d->json_length(); }
  };
  return std::visit(Visitor{}, value);
}

// `"name":value`, plus the comma before it unless it is the first entry.
size_t entry_json_length(const TelDict::Entry& e, bool first) {
  return (first ? 0 : 1) + e.name.size() + 3 + value_json_length(e.value);
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void append_value_json(std::string& out, const TelDict::Value& value) {
  struct Visitor {
    std::string& out;
    void operator()(uint64_t v) const { out += fmt::format("{}", v); }
    void operator()(int32_t v) const { out += fmt::format("{}", v); }
    void operator()(const std::string& s) const { append_json_string(out, s); }
    void operator()(const std::vector<uint64_t>& values) const {
      out += '[';
      for (size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ',';
        out += fmt::format("{}", values[i]);
      }
      out += ']';
    }
    void operator()(const std::vector<std::string>& values) const {
      out += '[';
      for (size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ',';
        append_json_string(out, values[i]);
      }
      out += ']';
    }
    void operator()(const std::unique_ptr<TelDict>& d) const { out += d->to_json(); }
  };
  std::visit(Visitor{out}, value);
}

size_t saturating_sub(size_t a, size_t b) { return a > b ? a - b : 0; }

// Adds `counters` to `dict` as u64 entries while `fits()` holds; returns how many were left out.
template <class Fits>
size_t add_counters(TelDict& dict, const std::vector<NamedCounter>& counters, Fits fits) {
  size_t omitted = 0;
  for (const NamedCounter& c : counters) {
    if (!dict.add_u64(c.name, c.value)) {
      ++omitted;
      continue;
    }
    if (!fits()) {
      dict.pop_back();
      ++omitted;
    }
  }
  return omitted;
}

TelDict counters_dict(const std::vector<NamedCounter>& counters, size_t& omitted) {
  TelDict d;
  omitted += add_counters(d, counters, [] { return true; });
  return d;
}

const PortSnapshot* find_port(const DaemonSnapshot& snapshot, std::string_view name) {
  for (const PortSnapshot& p : snapshot.ports) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// Appends `child` under `key` if `page` stays within the reply budget afterwards.
bool add_if_fits(TelDict& page, std::string_view key, TelDict child) {
  if (!page.add_dict(key, std::move(child))) return false;
  if (page.json_length() > kMaxReplyJsonLength) {
    page.pop_back();
    return false;
  }
  return true;
}

// The bytes `"key":` and its comma take in a dict that already has entries.
size_t key_overhead(std::string_view key) { return key.size() + 4; }

}  // namespace

// ---- TelDict ----

bool TelDict::add(std::string_view name, Value value) {
  if (full()) return false;
  Entry e{sanitize_name(name), std::move(value)};
  json_length_ += entry_json_length(e, entries_.empty());
  entries_.push_back(std::move(e));
  return true;
}

bool TelDict::add_u64(std::string_view name, uint64_t value) { return add(name, value); }

bool TelDict::add_int(std::string_view name, int32_t value) { return add(name, value); }

bool TelDict::add_string(std::string_view name, std::string_view value) {
  return add(name, sanitize_string(value));
}

bool TelDict::add_u64_array(std::string_view name, std::vector<uint64_t> values) {
  if (values.size() > kMaxArrayEntries) values.resize(kMaxArrayEntries);
  return add(name, std::move(values));
}

bool TelDict::add_string_array(std::string_view name, std::vector<std::string> values) {
  if (values.size() > kMaxArrayEntries) values.resize(kMaxArrayEntries);
  for (std::string& s : values) s = sanitize_string(s);
  return add(name, std::move(values));
}

bool TelDict::add_dict(std::string_view name, TelDict value) {
  return add(name, std::make_unique<TelDict>(std::move(value)));
}

void TelDict::pop_back() {
  if (entries_.empty()) return;
  json_length_ -= entry_json_length(entries_.back(), entries_.size() == 1);
  entries_.pop_back();
}

bool TelDict::set_u64(std::string_view name, uint64_t value) {
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (e.name != name || !std::holds_alternative<uint64_t>(e.value)) continue;
    json_length_ -= entry_json_length(e, i == 0);
    e.value = value;
    json_length_ += entry_json_length(e, i == 0);
    return true;
  }
  return false;
}

const TelDict::Entry* TelDict::find(std::string_view name) const {
  for (const Entry& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::string TelDict::to_json() const {
  std::string out;
  out.reserve(json_length_);
  out += '{';
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    out += entries_[i].name;
    out += "\":";
    append_value_json(out, entries_[i].value);
  }
  out += '}';
  return out;
}

std::string sanitize_name(std::string_view name) {
  std::string out(name.substr(0, kMaxNameLength));
  for (char& c : out) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    c == '_' || c == '/';
    if (!ok) c = '_';
  }
  if (out.empty()) out.push_back('_');
  return out;
}

std::string sanitize_string(std::string_view value) {
  std::string out(value.substr(0, kMaxStringLength));
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) c = '?';
  }
  return out;
}

size_t json_string_length(std::string_view sanitized) {
  size_t n = sanitized.size() + 2;
  for (char c : sanitized) {
    if (c == '"' || c == '\\') ++n;
  }
  return n;
}

// ---- Replies ----

TelDict info_reply(const DaemonSnapshot& snapshot) {
  uint64_t connected = 0;
  uint64_t queue_pairs = 0;
  for (const PortSnapshot& p : snapshot.ports) {
    connected += p.connected ? 1 : 0;
    queue_pairs += p.queue_pairs.size();
  }
  TelDict d;
  d.add_string("version", snapshot.version);
  d.add_u64("tsc_hz", snapshot.tsc_hz);
  d.add_u64("reloads", snapshot.reloads);
  d.add_u64("failed_reloads", snapshot.failed_reloads);
  d.add_u64("ports", snapshot.ports.size());
  d.add_u64("connected_ports", connected);
  d.add_u64("queue_pairs", queue_pairs);
  d.add_u64("workers", snapshot.workers.size());
  return d;
}

TelDict port_summary_dict(const PortSummary& s) {
  TelDict d;
  d.add_string("name", s.name);
  d.add_string("backend", s.backend);
  d.add_bool("connected", s.connected);
  d.add_bool("link_up", s.link_up);
  d.add_u64("queue_pairs", s.queue_pairs);
  d.add_u64("guest_tx_packets", s.guest_tx_packets);
  d.add_u64("guest_tx_bytes", s.guest_tx_bytes);
  d.add_u64("guest_rx_packets", s.guest_rx_packets);
  d.add_u64("guest_rx_bytes", s.guest_rx_bytes);
  d.add_u64("drops", s.drops);
  d.add_u64("guest_errors", s.guest_errors);
  d.add_u64("backend_errors", s.backend_errors);
  return d;
}

TelDict ports_reply(const DaemonSnapshot& snapshot, size_t first) {
  const size_t total = snapshot.ports.size();
  first = std::min(first, total);
  TelDict page;
  page.add_u64("total", total);
  page.add_u64("first", first);
  page.add_u64("next", total);  // the widest it can be; set below
  // The names, so a reader knows what to ask /pmdnet/port for; left out if they would take more
  // than half the budget (hundreds of ports), the summaries carry them too.
  std::vector<std::string> names;
  names.reserve(total);
  for (const PortSnapshot& p : snapshot.ports) names.push_back(p.name);
  page.add_string_array("names", std::move(names));
  if (page.json_length() > kMaxReplyJsonLength / 2) page.pop_back();

  size_t next = first;
  for (size_t i = first; i < total; ++i) {
    if (!add_if_fits(page, fmt::format("port{}", i),
                     port_summary_dict(summarize(snapshot.ports[i]))))
      break;
    next = i + 1;
  }
  page.set_u64("next", next);
  return page;
}

TelDict queue_pair_dict(const QueuePairSnapshot& qp, size_t budget) {
  {
    size_t omitted = 0;
    TelDict d;
    d.add_u64("index", qp.index);
    d.add_int("worker_lcore", qp.worker_lcore);
    d.add_dict("guest", counters_dict(qp.guest, omitted));
    d.add_dict("backend", counters_dict(qp.backend, omitted));
    if (omitted == 0 && d.json_length() <= budget) return d;
  }
  // Too big (more counters than a reply can carry): keep what fits, in order, and say how many
  // were left out. Reserve room for the two dict keys and "counters_omitted".
  constexpr size_t kReserve = sizeof(R"(,"guest":,"backend":,"counters_omitted":)") + 20;
  TelDict head;
  head.add_u64("index", qp.index);
  head.add_int("worker_lcore", qp.worker_lcore);
  TelDict guest;
  TelDict backend;
  auto fits = [&] {
    return head.json_length() + guest.json_length() + backend.json_length() + kReserve <= budget;
  };
  size_t omitted = add_counters(guest, qp.guest, fits);
  omitted += add_counters(backend, qp.backend, fits);
  head.add_dict("guest", std::move(guest));
  head.add_dict("backend", std::move(backend));
  head.add_u64("counters_omitted", omitted);
  return head;
}

std::optional<TelDict> port_reply(const DaemonSnapshot& snapshot, std::string_view name,
                                  size_t first) {
  const PortSnapshot* port = find_port(snapshot, name);
  if (port == nullptr) return std::nullopt;
  const size_t total = port->queue_pairs.size();
  first = std::min(first, total);

  TelDict page;
  page.add_string("name", port->name);
  page.add_string("socket", port->socket);
  page.add_string("mode", port->mode);
  page.add_string("backend", port->backend);
  page.add_string("device", port->device);
  page.add_bool("connected", port->connected);
  page.add_string("ring_layout", port->ring_layout);
  page.add_bool("in_order", port->in_order);
  page.add_bool("link_up", port->link_up);
  page.add_u64("link_speed_bps", port->link_speed_bps);
  page.add_u64("link_changes", port->link_changes);
  page.add_u64("backend_configurations", port->backend_configurations);
  page.add_u64("restarts", port->restarts);
  page.add_u64("connections", port->connections);
  page.add_u64("refused_connections", port->refused_connections);
  page.add_u64("session_starts", port->session_starts);
  page.add_u64("session_stops", port->session_stops);
  page.add_u64("resumed_rings", port->resumed_rings);
  page.add_u64("announcements", port->announcements);
  page.add_u64("announce_failures", port->announce_failures);
  page.add_u64("start_errors", port->start_errors);
  page.add_u64("refused_messages", port->refused_messages);
  page.add_u64("guest_memory_faults", port->guest_memory_faults);
  page.add_u64_array("rss_reta",
                     std::vector<uint64_t>(port->rss_reta.begin(), port->rss_reta.end()));
  page.add_u64("queue_pairs", total);
  page.add_u64("first", first);
  page.add_u64("next", total);

  size_t next = first;
  for (size_t i = first; i < total; ++i) {
    const QueuePairSnapshot& qp = port->queue_pairs[i];
    const std::string key = fmt::format("qp{}", qp.index);
    // The first pair of a page always goes in, cut to fit if need be, so paging makes progress.
    const size_t budget =
        i == first ? saturating_sub(kMaxReplyJsonLength, page.json_length() + key_overhead(key))
                   : std::numeric_limits<size_t>::max();
    if (!add_if_fits(page, key, queue_pair_dict(qp, budget))) break;
    next = i + 1;
  }
  page.set_u64("next", next);
  return page;
}

TelDict worker_dict(const WorkerSnapshot& w) {
  TelDict d;
  d.add_u64("lcore", w.lcore);
  d.add_string("idle", w.idle);
  d.add_u64("queue_pairs", w.queue_pairs);
  d.add_u64("passes", w.passes);
  d.add_u64("busy_cycles", w.busy_cycles);
  d.add_u64("idle_cycles", w.idle_cycles);
  d.add_u64("busy_percent", static_cast<uint64_t>(std::lround(busy_percent(w))));
  d.add_u64("packets", w.packets);
  d.add_u64("cycles_per_packet", static_cast<uint64_t>(std::llround(cycles_per_packet(w))));
  return d;
}

TelDict workers_reply(const DaemonSnapshot& snapshot, size_t first) {
  const size_t total = snapshot.workers.size();
  first = std::min(first, total);
  TelDict page;
  page.add_u64("tsc_hz", snapshot.tsc_hz);
  page.add_u64("total", total);
  page.add_u64("first", first);
  page.add_u64("next", total);
  size_t next = first;
  for (size_t i = first; i < total; ++i) {
    const WorkerSnapshot& w = snapshot.workers[i];
    if (!add_if_fits(page, fmt::format("lcore{}", w.lcore), worker_dict(w))) break;
    next = i + 1;
  }
  page.set_u64("next", next);
  return page;
}

// ---- Commands ----

std::optional<size_t> parse_first_param(std::optional<std::string_view> params) {
  if (!params) return 0;
  const std::string_view s = *params;
  if (s.empty() || s.size() > 9) return std::nullopt;
  size_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<PortParams> parse_port_params(std::optional<std::string_view> params) {
  if (!params || params->empty()) return std::nullopt;
  PortParams out;
  const size_t comma = params->find(',');
  out.name = params->substr(0, comma);
  if (out.name.empty()) return std::nullopt;
  if (comma != std::string_view::npos) {
    auto first = parse_first_param(params->substr(comma + 1));
    if (!first) return std::nullopt;
    out.first = *first;
  }
  return out;
}

bool command_accepts(std::string_view command, std::optional<std::string_view> params) {
  if (command == "/pmdnet/info") return true;  // parameters ignored, as DPDK's /info does
  if (command == "/pmdnet/ports" || command == "/pmdnet/workers") {
    return parse_first_param(params).has_value();
  }
  if (command == "/pmdnet/port") return parse_port_params(params).has_value();
  return false;
}

std::optional<TelDict> answer_command(std::string_view command,
                                      std::optional<std::string_view> params,
                                      const DaemonSnapshot& snapshot) {
  if (!command_accepts(command, params)) return std::nullopt;
  if (command == "/pmdnet/info") return info_reply(snapshot);
  // NOLINTBEGIN(bugprone-unchecked-optional-access): command_accepts parsed the same params
  if (command == "/pmdnet/ports") return ports_reply(snapshot, *parse_first_param(params));
  if (command == "/pmdnet/workers") return workers_reply(snapshot, *parse_first_param(params));
  const PortParams p = *parse_port_params(params);
  // NOLINTEND(bugprone-unchecked-optional-access)
  return port_reply(snapshot, p.name, p.first);
}

}  // namespace pmdnet::telemetry
