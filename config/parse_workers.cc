// The `workers` section (the polling lcores) and the `affinity` section (which worker polls which
// port queue).
#include <fmt/format.h>

#include <map>

#include "config/schema.h"

namespace pmdnet::config {

void parse_workers(Reader& reader, const Value& v, std::vector<Worker>& workers,
                   WorkerNotes& notes) {
  if (!reader.expect_list(v)) {
    notes.ok = false;
    return;
  }
  std::vector<Value> items = reader.items(v);
  if (items.empty()) {
    reader.error(v, "at least one worker is required: workers poll the ports' queues");
    notes.ok = false;
    return;
  }
  std::map<uint32_t, Pos> seen;
  for (const Value& item : items) {
    Worker worker;
    std::optional<Value> lcore;
    if (item.node.IsMap()) {
      MapReader keys(reader, item, {"lcore", "idle"});
      lcore = keys.require("lcore");
      if (auto idle = keys.get("idle")) {
        if (auto policy = read_name<IdlePolicy>(reader, *idle)) worker.idle = *policy;
      }
    } else if (item.node.IsScalar()) {
      lcore = item;
    } else {
      reader.error(item, fmt::format("expected an lcore number or a map with lcore and idle, "
                                     "got {}",
                                     describe(item.node)));
    }
    std::optional<uint64_t> n;
    if (lcore) n = reader.integer(*lcore, 0, kMaxLcores - 1);
    if (!lcore || !n) {
      notes.ok = false;
      continue;
    }
    worker.lcore = static_cast<uint32_t>(*n);
    if (auto [first, inserted] = seen.emplace(worker.lcore, lcore->pos); !inserted) {
      reader.error(*lcore, fmt::format("lcore {} is already a worker (line {})", worker.lcore,
                                       first->second.line));
      continue;
    }
    workers.push_back(worker);
    notes.pos.push_back(lcore->pos);
    notes.path.push_back(lcore->path);
  }
}

void parse_affinity(Reader& reader, const Value& v, std::vector<Affinity>& affinity,
                    std::vector<AffinityValues>& values) {
  if (!reader.expect_list(v)) return;
  for (const Value& item : reader.items(v)) {
    if (!reader.expect_map(item)) continue;
    MapReader keys(reader, item, {"port", "queue", "lcore"});
    auto port = keys.require("port");
    auto queue = keys.require("queue");
    auto lcore = keys.require("lcore");
    Affinity a;
    std::optional<std::string> port_name;
    std::optional<uint64_t> queue_n;
    std::optional<uint64_t> lcore_n;
    if (port) port_name = reader.string(*port);
    if (queue) queue_n = reader.integer(*queue, 0, kMaxQueuePairs - 1);
    if (lcore) lcore_n = reader.integer(*lcore, 0, kMaxLcores - 1);
    if (!port_name || !queue_n || !lcore_n) continue;
    a.port = *port_name;
    a.queue = static_cast<uint32_t>(*queue_n);
    a.lcore = static_cast<uint32_t>(*lcore_n);
    affinity.push_back(std::move(a));
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): each *_n above is set from its key
    values.push_back({*port, *queue, *lcore});
  }
}

}  // namespace pmdnet::config
