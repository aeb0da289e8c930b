// The checks between sections, once every section is read: the lcores of main, workers and
// eal.lcores; values two ports must not share; affinity references; the mbuf pools against -m.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "config/schema.h"
#include "config/text.h"

namespace pmdnet::config {
namespace {

std::vector<uint32_t> worker_lcores(const Config& config) {
  std::vector<uint32_t> out;
  out.reserve(config.workers.size());
  for (const Worker& w : config.workers) out.push_back(w.lcore);
  return out;
}

void check_lcores(Reader& reader, Config& config, const Notes& notes) {
  const EalSettings& eal = config.eal;
  const WorkerNotes& workers = notes.workers;
  for (size_t i = 0; i < config.workers.size(); ++i) {
    if (notes.eal.main_lcore_ok && config.workers[i].lcore == eal.main_lcore) {
      reader.error(workers.pos[i],
                   fmt::format("{}: lcore {} is eal.main_lcore, which runs the control thread; "
                               "give the worker another lcore or move main_lcore",
                               workers.path[i], eal.main_lcore));
    }
  }
  if (const auto& lcore_set = notes.eal.lcore_set) {
    if (notes.eal.main_lcore_ok && !lcore_set->contains(eal.main_lcore)) {
      // NOLINTNEXTLINE(bugprone-unchecked-optional-access): parse_eal sets it with lcore_set
      reader.error(notes.eal.main_lcore.value_or(*notes.eal.lcores),
                   fmt::format("eal.main_lcore: lcore {} is not in eal.lcores '{}'", eal.main_lcore,
                               eal.lcores));
    }
    for (size_t i = 0; i < config.workers.size(); ++i) {
      if (!lcore_set->contains(config.workers[i].lcore)) {
        reader.error(workers.pos[i],
                     fmt::format("{}: lcore {} is not in eal.lcores '{}'", workers.path[i],
                                 config.workers[i].lcore, eal.lcores));
      }
    }
  } else {
    std::set<uint32_t> lcores{eal.main_lcore};
    for (const Worker& w : config.workers) lcores.insert(w.lcore);
    std::string derived;
    for (uint32_t id : lcores) {
      if (!derived.empty()) derived += ',';
      derived += std::to_string(id);
    }
    config.eal.lcores = derived;
  }
}

// Reports the second and later ports whose `key` (compared as `identity`) equals an earlier
// port's. `get(i)` returns the identity, position and shown text of port i's value, if it is
// valid.
template <class Identity, class GetIdentity>
void check_unique(Reader& reader, size_t ports, std::string_view what, std::string_view key,
                  GetIdentity get) {
  std::map<Identity, std::pair<Pos, size_t>> seen;
  for (size_t i = 0; i < ports; ++i) {
    std::optional<std::tuple<Identity, Pos, std::string>> entry = get(i);
    if (!entry) continue;
    auto& [identity, pos, shown] = *entry;
    auto [first, inserted] = seen.emplace(identity, std::pair{pos, i});
    if (inserted) continue;
    reader.error(pos,
                 fmt::format("ports[{}].{}: {} '{}' is already used by ports[{}] (line {})", i, key,
                             what, shown, first->second.second, first->second.first.line));
  }
}

void check_ports(Reader& reader, const Config& config, const Notes& notes) {
  const std::vector<PortNotes>& port_notes = notes.ports;
  size_t ports = config.ports.size();
  using Entry = std::optional<std::tuple<std::string, Pos, std::string>>;
  check_unique<std::string>(reader, ports, "port name", "name", [&](size_t i) -> Entry {
    const Port& p = config.ports[i];
    if (!port_notes[i].name) return std::nullopt;
    return std::tuple{p.name, *port_notes[i].name, p.name};
  });
  // Compared after lexical normalisation: /run/pmdnet//a.sock and /run/pmdnet/./a.sock are one.
  check_unique<std::string>(reader, ports, "socket", "vhost_user.socket", [&](size_t i) -> Entry {
    const std::string& socket = config.ports[i].vhost_user.socket;
    if (!port_notes[i].socket) return std::nullopt;
    return std::tuple{std::filesystem::path(socket).lexically_normal().string(),
                      *port_notes[i].socket, socket};
  });
  check_unique<MacAddress>(
      reader, ports, "MAC address", "vhost_user.mac",
      [&](size_t i) -> std::optional<std::tuple<MacAddress, Pos, std::string>> {
        const auto& mac = config.ports[i].vhost_user.mac;
        if (!port_notes[i].mac || !mac) return std::nullopt;
        return std::tuple{*mac, *port_notes[i].mac, format_mac(*mac)};
      });
  // Compared by device name: 01:00.0 and 0000:01:00.0 are one; so are net_tap0 and
  // net_tap0,iface=x.
  check_unique<std::string>(reader, ports, "device", "backend.device", [&](size_t i) -> Entry {
    if (!port_notes[i].device) return std::nullopt;
    return std::tuple{port_notes[i].device_identity, *port_notes[i].device,
                      config.ports[i].backend.device};
  });
  uint32_t dpdk_ports = 0;
  for (size_t i = 0; i < ports; ++i) {
    if (!port_notes[i].dpdk) continue;
    if (++dpdk_ports == kMaxDpdkPorts + 1) {
      // NOLINTNEXTLINE(bugprone-unchecked-optional-access): checked at the top of the loop
      reader.error(*port_notes[i].dpdk,
                   fmt::format("ports[{}].backend.type: more than {} ports have a dpdk backend; "
                               "DPDK is built with RTE_MAX_ETHPORTS = {}",
                               i, kMaxDpdkPorts, kMaxDpdkPorts));
    }
  }
}

void check_affinity(Reader& reader, const Config& config, const Notes& notes) {
  std::vector<std::string_view> port_names;
  for (size_t i = 0; i < config.ports.size(); ++i) {
    if (notes.ports[i].name) port_names.push_back(config.ports[i].name);
  }
  std::map<std::pair<std::string, uint32_t>, Pos> pinned;
  for (size_t i = 0; i < config.affinity.size(); ++i) {
    const Affinity& a = config.affinity[i];
    const AffinityValues& values = notes.affinity[i];
    auto port = std::ranges::find(config.ports, a.port, &Port::name);
    if (port == config.ports.end() || a.port.empty()) {
      std::string message = fmt::format("no port is named '{}'", a.port);
      if (auto near = closest(a.port, port_names)) {
        message += fmt::format("; did you mean '{}'?", *near);
      } else if (!port_names.empty()) {
        message += fmt::format("; the ports are {}", join(port_names));
      }
      reader.error(values.port, message);
    } else {
      size_t index = static_cast<size_t>(port - config.ports.begin());
      uint32_t pairs = port->vhost_user.queue_pairs;
      if (notes.ports[index].queue_pairs_ok && a.queue >= pairs) {
        reader.error(values.queue,
                     fmt::format("port '{}' has {} queue pair{} (0..{}), so queue {} does "
                                 "not exist",
                                 a.port, pairs, pairs == 1 ? "" : "s", pairs - 1, a.queue));
      }
      if (auto [first, inserted] = pinned.emplace(std::pair{a.port, a.queue}, values.queue.pos);
          !inserted) {
        reader.error(values.queue, fmt::format("queue {} of port '{}' is already pinned (line {})",
                                               a.queue, a.port, first->second.line));
      }
    }
    std::vector<uint32_t> lcores = worker_lcores(config);
    if (notes.workers.ok && std::ranges::find(lcores, a.lcore) == lcores.end()) {
      reader.error(values.lcore, fmt::format("lcore {} is not a worker; the workers are {}",
                                             a.lcore, list_numbers(lcores)));
    }
  }
}

// The ports' mbuf pools must fit in -m when it is fixed.
void check_memory(Reader& reader, const Config& config, const Notes& notes) {
  const EalSettings& eal = config.eal;
  if (!notes.eal.memory_ok || eal.memory_mb == 0) return;
  uint64_t bytes = 0;
  for (size_t i = 0; i < config.ports.size(); ++i) {
    if (!notes.ports[i].dpdk) continue;
    if (!notes.ports[i].pool_ok) return;
    bytes += uint64_t{config.ports[i].backend.mempool_size} * kMinBytesPerMbuf;
  }
  uint64_t needed_mb = (bytes + (1u << 20) - 1) >> 20;
  if (needed_mb <= eal.memory_mb) return;
  const std::optional<Pos>& memory_mb = notes.eal.memory_mb;
  reader.error(
      memory_mb.value_or(notes.eal.section),
      fmt::format("eal.memory_mb: {} MB{} cannot hold the dpdk ports' mbuf pools, "
                  "which need at least {} MB (mempool_size x {} bytes, summed)",
                  eal.memory_mb, memory_mb ? "" : " (the default)", needed_mb, kMinBytesPerMbuf));
}

}  // namespace

void check_relations(Reader& reader, Config& config, const Notes& notes) {
  check_lcores(reader, config, notes);
  check_ports(reader, config, notes);
  check_affinity(reader, config, notes);
  check_memory(reader, config, notes);
}

}  // namespace pmdnet::config
