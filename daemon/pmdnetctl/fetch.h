// pmdnetctl's side of the /pmdnet/* commands: the JSON replies parsed back into the telemetry
// model (daemon/telemetry/snapshot.h), and fetchers that follow the replies' pages. The transport
// is a function, so tests can answer from daemon/telemetry/replies.h without a socket.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "daemon/telemetry/snapshot.h"

namespace pmdnet::ctl {

// The telemetry snapshot types pmdnetctl fetches and prints, by their short names.
using telemetry::NamedCounter;
using telemetry::PortSnapshot;
using telemetry::PortSummary;
using telemetry::QueuePairSnapshot;
using telemetry::WorkerSnapshot;

// Keeps the reply's key order (DPDK's order: counters as pmdnetd lists them).
using Json = nlohmann::ordered_json;

// Sends one request ("/pmdnet/ports" or "/pmdnet/port,vm1,4") and returns the reply's text.
using QueryFn = std::function<Result<std::string>(std::string_view request)>;

// The value of a reply {"<command>":<value>}, <command> being `request` up to its first comma.
// Errors: kMalformed for text that is not JSON or not that object. A null value is returned as
// is (DPDK's answer to an unknown command or bad parameters).
Result<Json> unwrap_reply(std::string_view request, std::string_view text);

// /pmdnet/info.
struct DaemonInfo {
  std::string version;
  uint64_t tsc_hz = 0;
  uint64_t reloads = 0;
  uint64_t failed_reloads = 0;
  uint64_t ports = 0;
  uint64_t connected_ports = 0;
  uint64_t queue_pairs = 0;
  uint64_t workers = 0;
  bool operator==(const DaemonInfo&) const = default;
};

// Where a reply's page sits in its list.
struct Page {
  uint64_t total = 0;
  uint64_t first = 0;
  uint64_t next = 0;
  bool operator==(const Page&) const = default;
};

struct PortsPage {
  Page page;
  std::vector<std::string> names;             // every port's (empty if pmdnetd left them out)
  std::vector<telemetry::PortSummary> ports;  // this page's
};

struct PortPage {
  Page page;                     // total = the port's running queue pairs
  telemetry::PortSnapshot port;  // queue_pairs: this page's
};

struct WorkersPage {
  Page page;
  uint64_t tsc_hz = 0;
  std::vector<telemetry::WorkerSnapshot> workers;
};

// Parse one reply's value. Errors: kMalformed naming the missing or mistyped key.
Result<DaemonInfo> parse_info(const Json& value);
Result<PortsPage> parse_ports_page(const Json& value);
Result<PortPage> parse_port_page(const Json& value);
Result<WorkersPage> parse_workers_page(const Json& value);

// The whole lists, page after page. Each reply's raw text is appended to `raw` if given (for
// --json). Errors: the query's, kMalformed for bad replies or pages that do not advance,
// kUnsupported when pmdnetd answers null (the commands are not registered there), and for
// fetch_port kOutOfRange when there is no such port.
Result<DaemonInfo> fetch_info(const QueryFn& query, std::vector<std::string>* raw = nullptr);
Result<std::vector<telemetry::PortSummary>> fetch_ports(const QueryFn& query,
                                                        std::vector<std::string>* raw = nullptr);
Result<telemetry::PortSnapshot> fetch_port(const QueryFn& query, std::string_view name,
                                           std::vector<std::string>* raw = nullptr);
struct Workers {
  uint64_t tsc_hz = 0;
  std::vector<telemetry::WorkerSnapshot> workers;
};
Result<Workers> fetch_workers(const QueryFn& query, std::vector<std::string>* raw = nullptr);

}  // namespace pmdnet::ctl
