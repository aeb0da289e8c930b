// Parsing the /pmdnet/* replies with nlohmann::json, strictly (every key the layout promises must
// be there with its type), and following their first/next pages.
#include "daemon/pmdnetctl/fetch.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

namespace pmdnet::ctl {
namespace {

// More pages than any list can need (1 item per page, 2^16 items): a loop guard.
constexpr int kMaxPages = 1 << 16;

std::unexpected<Error> malformed(std::string message) {
  return make_error(Errc::kMalformed, std::move(message));
}

// Typed getters over one JSON object; the first failure is kept and reported.
class Reader {
 public:
  Reader(const Json& object, std::string_view where) : object_(object), where_(where) {
    if (!object_.is_object()) fail(fmt::format("{}: not a JSON object", where_));
  }

  uint64_t u64(const char* key) {
    const Json* v = get(key);
    if (v == nullptr) return 0;
    if (!v->is_number_unsigned()) {
      // DPDK prints ints and u64s alike; a non-negative int parses as unsigned.
      fail(fmt::format("{}: '{}' is not a non-negative integer", where_, key));
      return 0;
    }
    return v->get<uint64_t>();
  }

  int64_t i64(const char* key) {
    const Json* v = get(key);
    if (v == nullptr) return 0;
    if (!v->is_number_integer()) {
      fail(fmt::format("{}: '{}' is not an integer", where_, key));
      return 0;
    }
    return v->get<int64_t>();
  }

  bool flag(const char* key) { return u64(key) != 0; }

  std::string str(const char* key) {
    const Json* v = get(key);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      fail(fmt::format("{}: '{}' is not a string", where_, key));
      return {};
    }
    return v->get<std::string>();
  }

  // A dict of counters. DPDK 22.11.0 prints an empty nested dict as [], so accept that too.
  std::vector<NamedCounter> counters(const char* key) {
    std::vector<NamedCounter> out;
    const Json* v = get(key);
    if (v == nullptr) return out;
    if (v->is_array() && v->empty()) return out;
    if (!v->is_object()) {
      fail(fmt::format("{}: '{}' is not an object", where_, key));
      return out;
    }
    for (const auto& [name, value] : v->items()) {
      if (!value.is_number_unsigned()) {
        fail(fmt::format("{}: counter '{}.{}' is not a non-negative integer", where_, key, name));
        return out;
      }
      out.push_back(NamedCounter{name, value.get<uint64_t>()});
    }
    return out;
  }

  // An array of non-negative integers up to `max`; absent: empty.
  std::vector<uint64_t> optional_u64s(const char* key, uint64_t max) {
    std::vector<uint64_t> out;
    auto it = object_.find(key);
    if (!object_.is_object() || it == object_.end()) return out;
    if (!it->is_array()) {
      fail(fmt::format("{}: '{}' is not an array", where_, key));
      return out;
    }
    for (const Json& v : *it) {
      if (!v.is_number_unsigned() || v.get<uint64_t>() > max) {
        fail(fmt::format("{}: '{}' holds something other than an integer 0..{}", where_, key, max));
        return {};
      }
      out.push_back(v.get<uint64_t>());
    }
    return out;
  }

  std::vector<std::string> optional_strings(const char* key) {
    std::vector<std::string> out;
    auto it = object_.find(key);
    if (!object_.is_object() || it == object_.end()) return out;
    if (!it->is_array()) {
      fail(fmt::format("{}: '{}' is not an array", where_, key));
      return out;
    }
    for (const Json& s : *it) {
      if (!s.is_string()) {
        fail(fmt::format("{}: '{}' holds a non-string", where_, key));
        return out;
      }
      out.push_back(s.get<std::string>());
    }
    return out;
  }

  // The object under `key`, or nullptr (and a failure) if it is absent or not an object.
  const Json* object(const std::string& key) {
    const Json* v = get(key.c_str());
    if (v != nullptr && !v->is_object()) {
      fail(fmt::format("{}: '{}' is not an object", where_, key));
      return nullptr;
    }
    return v;
  }

  bool has(const char* key) const { return object_.is_object() && object_.contains(key); }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }

 private:
  const Json* get(const char* key) {
    if (!object_.is_object()) return nullptr;
    auto it = object_.find(key);
    if (it == object_.end()) {
      fail(fmt::format("{}: no '{}'", where_, key));
      return nullptr;
    }
    return &*it;
  }

  const Json& object_;
  std::string_view where_;
  std::string error_;
};

Result<Page> read_page(Reader& r, const char* total_key, std::string_view where) {
  Page p;
  p.total = r.u64(total_key);
  p.first = r.u64("first");
  p.next = r.u64("next");
  if (!r.ok()) return malformed(r.error());
  if (p.first > p.total || p.next > p.total || p.next < p.first) {
    return malformed(fmt::format("{}: bad page: first {}, next {}, {} {}", where, p.first, p.next,
                                 total_key, p.total));
  }
  return p;
}

// Follows pages: `fetch_page(first)` returns the page's Page; stops at next == total.
template <class FetchPage>
Result<void> follow_pages(std::string_view what, FetchPage fetch_page) {
  uint64_t first = 0;
  for (int pages = 0; pages < kMaxPages; ++pages) {
    Result<Page> page = fetch_page(first);
    if (!page) return std::unexpected(page.error());
    if (page->first != first) {
      return malformed(
          fmt::format("{}: asked for the page at {}, got the one at {}", what, first, page->first));
    }
    if (page->next >= page->total) return {};
    if (page->next <= first) {
      return malformed(
          fmt::format("{}: the page at {} holds nothing ({} in all)", what, first, page->total));
    }
    first = page->next;
  }
  return malformed(fmt::format("{}: too many pages", what));
}

// Sends `request`, records the raw text, and unwraps the value; null becomes `null_error`.
Result<Json> query_value(const QueryFn& query, const std::string& request,
                         std::vector<std::string>* raw, const Error& null_error) {
  Result<std::string> text = query(request);
  if (!text) return std::unexpected(text.error());
  if (raw != nullptr) raw->push_back(*text);
  Result<Json> value = unwrap_reply(request, *text);
  if (!value) return value;
  if (value->is_null()) return std::unexpected(null_error);
  return value;
}

Error not_pmdnetd(std::string_view request) {
  return Error{Errc::kUnsupported,
               fmt::format("{} answered null: is this pmdnetd, with its telemetry commands "
                           "registered?",
                           request)};
}

}  // namespace

Result<Json> unwrap_reply(std::string_view request, std::string_view text) {
  const std::string_view command = request.substr(0, request.find(','));
  Json reply = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded()) {
    return malformed(fmt::format("reply to {} is not JSON: '{}'", request, text.substr(0, 200)));
  }
  if (!reply.is_object() || reply.size() != 1 || !reply.contains(std::string(command))) {
    return malformed(fmt::format("reply to {} is not {{\"{}\": ...}}: '{}'", request, command,
                                 text.substr(0, 200)));
  }
  return std::move(reply[std::string(command)]);
}

Result<DaemonInfo> parse_info(const Json& value) {
  Reader r(value, "/pmdnet/info");
  DaemonInfo info;
  info.version = r.str("version");
  info.tsc_hz = r.u64("tsc_hz");
  info.reloads = r.u64("reloads");
  info.failed_reloads = r.u64("failed_reloads");
  info.ports = r.u64("ports");
  info.connected_ports = r.u64("connected_ports");
  info.queue_pairs = r.u64("queue_pairs");
  info.workers = r.u64("workers");
  if (!r.ok()) return malformed(r.error());
  return info;
}

Result<PortsPage> parse_ports_page(const Json& value) {
  Reader r(value, "/pmdnet/ports");
  PortsPage out;
  auto page = read_page(r, "total", "/pmdnet/ports");
  if (!page) return std::unexpected(page.error());
  out.page = *page;
  out.names = r.optional_strings("names");
  for (uint64_t i = out.page.first; i < out.page.next; ++i) {
    const std::string key = fmt::format("port{}", i);
    const Json* p = r.object(key);
    if (p == nullptr) break;
    Reader pr(*p, key);
    PortSummary s;
    s.name = pr.str("name");
    s.backend = pr.str("backend");
    s.connected = pr.flag("connected");
    s.link_up = pr.flag("link_up");
    s.queue_pairs = pr.u64("queue_pairs");
    s.guest_tx_packets = pr.u64("guest_tx_packets");
    s.guest_tx_bytes = pr.u64("guest_tx_bytes");
    s.guest_rx_packets = pr.u64("guest_rx_packets");
    s.guest_rx_bytes = pr.u64("guest_rx_bytes");
    s.drops = pr.u64("drops");
    s.guest_errors = pr.u64("guest_errors");
    s.backend_errors = pr.u64("backend_errors");
    if (!pr.ok()) return malformed(fmt::format("/pmdnet/ports: {}", pr.error()));
    out.ports.push_back(std::move(s));
  }
  if (!r.ok()) return malformed(r.error());
  return out;
}

Result<PortPage> parse_port_page(const Json& value) {
  Reader r(value, "/pmdnet/port");
  PortPage out;
  PortSnapshot& p = out.port;
  p.name = r.str("name");
  p.socket = r.str("socket");
  p.mode = r.str("mode");
  p.backend = r.str("backend");
  p.device = r.str("device");
  p.connected = r.flag("connected");
  // Absent from a pmdnetd that predates them: shown as not negotiated.
  if (r.has("ring_layout")) p.ring_layout = r.str("ring_layout");
  if (r.has("in_order")) p.in_order = r.flag("in_order");
  p.link_up = r.flag("link_up");
  p.link_speed_bps = r.u64("link_speed_bps");
  p.link_changes = r.u64("link_changes");
  // Absent from a pmdnetd that predates it: shown as 0.
  if (r.has("backend_configurations")) p.backend_configurations = r.u64("backend_configurations");
  p.restarts = r.u64("restarts");
  p.connections = r.u64("connections");
  p.refused_connections = r.u64("refused_connections");
  p.session_starts = r.u64("session_starts");
  p.session_stops = r.u64("session_stops");
  p.resumed_rings = r.u64("resumed_rings");
  p.announcements = r.u64("announcements");
  p.announce_failures = r.u64("announce_failures");
  // Absent from a pmdnetd that predates it: shown as none.
  for (uint64_t q : r.optional_u64s("rss_reta", UINT16_MAX)) {
    p.rss_reta.push_back(static_cast<uint16_t>(q));
  }
  p.start_errors = r.u64("start_errors");
  p.refused_messages = r.u64("refused_messages");
  p.guest_memory_faults = r.u64("guest_memory_faults");
  auto page = read_page(r, "queue_pairs", "/pmdnet/port");
  if (!page) return std::unexpected(page.error());
  out.page = *page;
  // The page's pairs are the entries named qp<index>, in order.
  if (value.is_object()) {
    for (const auto& [key, qp_value] : value.items()) {
      if (!key.starts_with("qp")) continue;
      Reader qr(qp_value, key);
      QueuePairSnapshot qp;
      const uint64_t index = qr.u64("index");
      const int64_t lcore = qr.i64("worker_lcore");
      qp.guest = qr.counters("guest");
      qp.backend = qr.counters("backend");
      if (qr.ok() && (index > std::numeric_limits<uint32_t>::max() ||
                      lcore < std::numeric_limits<int32_t>::min() ||
                      lcore > std::numeric_limits<int32_t>::max())) {
        qr.fail(fmt::format("{}: index or worker_lcore out of range", key));
      }
      if (!qr.ok()) return malformed(fmt::format("/pmdnet/port: {}", qr.error()));
      qp.index = static_cast<uint32_t>(index);
      qp.worker_lcore = static_cast<int32_t>(lcore);
      p.queue_pairs.push_back(std::move(qp));
    }
  }
  if (p.queue_pairs.size() != out.page.next - out.page.first) {
    return malformed(fmt::format("/pmdnet/port: the page says {} queue pairs, it holds {}",
                                 out.page.next - out.page.first, p.queue_pairs.size()));
  }
  return out;
}

Result<WorkersPage> parse_workers_page(const Json& value) {
  Reader r(value, "/pmdnet/workers");
  WorkersPage out;
  out.tsc_hz = r.u64("tsc_hz");
  auto page = read_page(r, "total", "/pmdnet/workers");
  if (!page) return std::unexpected(page.error());
  out.page = *page;
  if (value.is_object()) {
    for (const auto& [key, w_value] : value.items()) {
      if (!key.starts_with("lcore")) continue;
      Reader wr(w_value, key);
      WorkerSnapshot w;
      const uint64_t lcore = wr.u64("lcore");
      w.idle = wr.str("idle");
      w.queue_pairs = wr.u64("queue_pairs");
      w.passes = wr.u64("passes");
      w.busy_cycles = wr.u64("busy_cycles");
      w.idle_cycles = wr.u64("idle_cycles");
      w.packets = wr.u64("packets");
      if (wr.ok() && lcore > std::numeric_limits<uint32_t>::max()) wr.fail("lcore out of range");
      if (!wr.ok()) return malformed(fmt::format("/pmdnet/workers: {}", wr.error()));
      w.lcore = static_cast<uint32_t>(lcore);
      out.workers.push_back(std::move(w));
    }
  }
  if (out.workers.size() != out.page.next - out.page.first) {
    return malformed(fmt::format("/pmdnet/workers: the page says {} workers, it holds {}",
                                 out.page.next - out.page.first, out.workers.size()));
  }
  return out;
}

Result<DaemonInfo> fetch_info(const QueryFn& query, std::vector<std::string>* raw) {
  const std::string request = "/pmdnet/info";
  auto value = query_value(query, request, raw, not_pmdnetd(request));
  if (!value) return std::unexpected(value.error());
  return parse_info(*value);
}

Result<std::vector<PortSummary>> fetch_ports(const QueryFn& query, std::vector<std::string>* raw) {
  std::vector<PortSummary> out;
  auto done = follow_pages("/pmdnet/ports", [&](uint64_t first) -> Result<Page> {
    const std::string request =
        first == 0 ? std::string("/pmdnet/ports") : fmt::format("/pmdnet/ports,{}", first);
    auto value = query_value(query, request, raw, not_pmdnetd(request));
    if (!value) return std::unexpected(value.error());
    auto page = parse_ports_page(*value);
    if (!page) return std::unexpected(page.error());
    for (PortSummary& s : page->ports) out.push_back(std::move(s));
    return page->page;
  });
  if (!done) return std::unexpected(done.error());
  return out;
}

Result<PortSnapshot> fetch_port(const QueryFn& query, std::string_view name,
                                std::vector<std::string>* raw) {
  PortSnapshot port;
  bool have_fields = false;
  const Error no_port{
      Errc::kOutOfRange,
      fmt::format("pmdnetd has no port named '{}' (pmdnetctl ports lists them)", name)};
  auto done = follow_pages("/pmdnet/port", [&](uint64_t first) -> Result<Page> {
    const std::string request = first == 0 ? fmt::format("/pmdnet/port,{}", name)
                                           : fmt::format("/pmdnet/port,{},{}", name, first);
    auto value = query_value(query, request, raw, no_port);
    if (!value) return std::unexpected(value.error());
    auto page = parse_port_page(*value);
    if (!page) return std::unexpected(page.error());
    if (!have_fields) {
      port = page->port;
      port.queue_pairs.clear();
      have_fields = true;
    }
    for (QueuePairSnapshot& qp : page->port.queue_pairs) port.queue_pairs.push_back(std::move(qp));
    return page->page;
  });
  if (!done) return std::unexpected(done.error());
  return port;
}

Result<Workers> fetch_workers(const QueryFn& query, std::vector<std::string>* raw) {
  Workers out;
  auto done = follow_pages("/pmdnet/workers", [&](uint64_t first) -> Result<Page> {
    const std::string request =
        first == 0 ? std::string("/pmdnet/workers") : fmt::format("/pmdnet/workers,{}", first);
    auto value = query_value(query, request, raw, not_pmdnetd(request));
    if (!value) return std::unexpected(value.error());
    auto page = parse_workers_page(*value);
    if (!page) return std::unexpected(page.error());
    out.tsc_hz = page->tsc_hz;
    for (WorkerSnapshot& w : page->workers) out.workers.push_back(std::move(w));
    return page->page;
  });
  if (!done) return std::unexpected(done.error());
  return out;
}

}  // namespace pmdnet::ctl
