// PortManager: config::Port -> Endpoint + PortScheduler + VhostUserPort, reconciled on apply().
#include "daemon/ports/port_manager.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <utility>

#include "core/net_backend/loopback_endpoint.h"
#include "core/net_backend/null_endpoint.h"
#include "core/virtqueue/virtio_defs.h"
#include "daemon/vhost_user/vhost_user_port.h"
#include "pmd_backends/eal.h"
#include "pmd_backends/ethdev.h"

namespace pmdnet::ports {

namespace {

namespace f = virtio::feature;
using config::BackendType;
using config::VhostFeature;

// config::RssHashType lists the hash types in RssHashType's order, so a config set is an
// RssHashTypes bit for bit.
#define PMDNET_SAME_RSS_HASH_TYPE(name) \
  (static_cast<size_t>(config::RssHashType::name) == static_cast<size_t>(RssHashType::name))
static_assert(PMDNET_SAME_RSS_HASH_TYPE(kIpv4) && PMDNET_SAME_RSS_HASH_TYPE(kIpv4Frag) &&
              PMDNET_SAME_RSS_HASH_TYPE(kIpv4Tcp) && PMDNET_SAME_RSS_HASH_TYPE(kIpv4Udp) &&
              PMDNET_SAME_RSS_HASH_TYPE(kIpv4Sctp) && PMDNET_SAME_RSS_HASH_TYPE(kIpv4Other) &&
              PMDNET_SAME_RSS_HASH_TYPE(kIpv6) && PMDNET_SAME_RSS_HASH_TYPE(kIpv6Frag) &&
              PMDNET_SAME_RSS_HASH_TYPE(kIpv6Tcp) && PMDNET_SAME_RSS_HASH_TYPE(kIpv6Udp) &&
              PMDNET_SAME_RSS_HASH_TYPE(kIpv6Sctp) && PMDNET_SAME_RSS_HASH_TYPE(kIpv6Other) &&
              PMDNET_SAME_RSS_HASH_TYPE(kIpv6Ex) && PMDNET_SAME_RSS_HASH_TYPE(kIpv6TcpEx) &&
              PMDNET_SAME_RSS_HASH_TYPE(kIpv6UdpEx) && PMDNET_SAME_RSS_HASH_TYPE(kCount));
#undef PMDNET_SAME_RSS_HASH_TYPE

// The virtio feature bits an operator's `disable_features` names.
uint64_t disabled_feature_bits(const config::VhostFeatureSet& set) {
  auto bit = [](unsigned b) { return uint64_t{1} << b; };
  const std::pair<VhostFeature, uint64_t> map[] = {
      {VhostFeature::kCsum, bit(f::kCsum)},
      {VhostFeature::kGuestCsum, bit(f::kGuestCsum)},
      {VhostFeature::kTso, bit(f::kHostTso4) | bit(f::kHostTso6)},
      {VhostFeature::kUso, bit(f::kHostUso)},
      {VhostFeature::kGuestTso, bit(f::kGuestTso4) | bit(f::kGuestTso6)},
      {VhostFeature::kGuestUso, bit(f::kGuestUso4) | bit(f::kGuestUso6)},
      {VhostFeature::kMrgRxbuf, bit(f::kMrgRxbuf)},
      {VhostFeature::kEventIdx, bit(f::kRingEventIdx)},
      {VhostFeature::kIndirectDesc, bit(f::kRingIndirectDesc)},
      {VhostFeature::kMq, bit(f::kMq)},
      {VhostFeature::kGuestAnnounce, bit(f::kGuestAnnounce)},
  };
  uint64_t bits = 0;
  for (const auto& [feature, b] : map) {
    if (set.contains(feature)) bits |= b;
  }
  return bits;
}

EthdevSpec ethdev_spec(const config::Port& port) {
  const config::Backend& b = port.backend;
  EthdevSpec s;
  s.device = b.device;
  s.max_queues = static_cast<uint16_t>(b.queues);
  s.rx_descriptors = static_cast<uint16_t>(b.rx_descriptors);
  s.tx_descriptors = static_cast<uint16_t>(b.tx_descriptors);
  s.mtu = static_cast<uint16_t>(port.vhost_user.mtu);
  // The config sizes one pool per port; the endpoint makes one per queue.
  s.mempool_size = std::max<uint32_t>(b.mempool_size / std::max<uint32_t>(b.queues, 1),
                                      b.rx_descriptors + b.tx_descriptors + 512);
  s.hw_checksum = b.offloads.checksum;
  s.hw_tso = b.offloads.tso;
  s.hw_uso = b.offloads.uso;
  s.hw_vlan = b.offloads.vlan;
  s.rx_gro = b.offloads.gro;
  s.tx_zero_copy = b.tx_zero_copy;
  s.rss_key = b.rss.key;
  s.rss_reta = b.rss.reta;
  s.rss_hash_types = RssHashTypes(b.rss.hash_types.bits());
  return s;
}

std::string_view backend_name(BackendType t) {
  switch (t) {
    case BackendType::kDpdk:
      return "dpdk";
    case BackendType::kLoopback:
      return "loopback";
    case BackendType::kNull:
      return "null";
    case BackendType::kCount:
      break;
  }
  return "?";
}

// The affinity entries of one port, as queue pair -> worker index.
std::map<uint32_t, size_t> port_affinity(const workers::WorkerPool& pool, const std::string& name,
                                         const std::vector<config::Affinity>& affinity) {
  std::map<uint32_t, size_t> out;
  for (const config::Affinity& a : affinity) {
    if (a.port != name) continue;
    const int w = pool.index_of_lcore(a.lcore);
    if (w >= 0) out[a.queue] = static_cast<size_t>(w);
  }
  return out;
}

}  // namespace

struct PortManager::Port {
  config::Port config;
  std::map<uint32_t, size_t> affinity;
  std::unique_ptr<Endpoint> endpoint;
  std::unique_ptr<workers::PortScheduler> scheduler;
  std::unique_ptr<vhost_user::VhostUserPort> vhost;
  bool link_up = false;
  uint64_t link_changes = 0;
  uint64_t restarts = 0;

  // The socket first (its guest's queues are destroyed), then the endpoint, then the scheduler.
  ~Port() {
    vhost.reset();
    if (endpoint) endpoint->stop();
    scheduler.reset();
  }
};

PortManager::PortManager(workers::WorkerPool& pool) : pool_(pool) {}

PortManager::~PortManager() { remove_all(); }

std::filesystem::path ring_state_file(const config::Config& cfg, const std::string& port) {
  std::filesystem::path dir = cfg.state_dir;
  if (dir.empty()) {
    // systemd's RuntimeDirectory= (the first one when several are listed).
    const char* runtime = std::getenv("RUNTIME_DIRECTORY");
    const std::string_view first = runtime == nullptr ? std::string_view{}
                                                      : std::string_view{runtime}.substr(
                                                            0, std::string_view{runtime}.find(':'));
    dir = first.starts_with('/') ? std::filesystem::path{first} : "/run/pmdnet";
  }
  return dir / fmt::format("{}.{}.rings", cfg.eal.file_prefix, port);
}

Result<std::unique_ptr<PortManager::Port>> PortManager::create(
    const config::Port& cfg, const std::vector<config::Affinity>& affinity,
    std::filesystem::path ring_state_file) {
  auto port = std::make_unique<Port>();
  port->config = cfg;
  if (cfg.vhost_user.mac) {
    spdlog::warn(
        "port {}: vhost_user.mac {} is not sent to the guest (rte_vhost has no net "
        "config space); set it in the VMM",
        cfg.name, config::format_mac(*cfg.vhost_user.mac));
  }
  port->affinity = port_affinity(pool_, cfg.name, affinity);
  switch (cfg.backend.type) {
    case BackendType::kDpdk: {
      auto ep = make_ethdev_endpoint(ethdev_spec(cfg));
      if (!ep) return std::unexpected(ep.error());
      port->endpoint = std::move(*ep);
      break;
    }
    case BackendType::kLoopback:
      port->endpoint = std::make_unique<LoopbackEndpoint>();
      break;
    case BackendType::kNull:
    case BackendType::kCount:
      port->endpoint = std::make_unique<NullEndpoint>();
      break;
  }
  port->scheduler = std::make_unique<workers::PortScheduler>(pool_, port->affinity, next_base_);
  const uint32_t first_lcore = port->scheduler->lcore_of(0);
  const int socket = lcore_numa_socket(first_lcore);

  vhost_user::VhostUserPortOptions options;
  options.socket_path = cfg.vhost_user.socket;
  options.mode = cfg.vhost_user.mode == config::VhostMode::kClient
                     ? vhost_user::VhostUserMode::kClient
                     : vhost_user::VhostUserMode::kServer;
  options.max_queue_pairs = static_cast<uint16_t>(cfg.vhost_user.queue_pairs);
  const RxOffloadSupport rx = port->endpoint->rx_offload_support();
  options.guest_rx = {.checksum = rx.checksum, .tso = rx.coalesced_tcp, .uso = rx.coalesced_udp};
  options.disabled_features = disabled_feature_bits(cfg.vhost_user.disabled_features);
  options.packed_ring = cfg.vhost_user.packed_ring;
  options.in_order = cfg.vhost_user.in_order;
  options.numa_socket = socket < 0 ? QueueConfig::kAnySocket : socket;
  options.scheduler = port->scheduler.get();
  options.ring_state_file = std::move(ring_state_file);
  auto vhost = vhost_user::VhostUserPort::create(std::move(options), *port->endpoint);
  if (!vhost) {
    port->endpoint->stop();
    return std::unexpected(vhost.error());
  }
  port->vhost = std::move(*vhost);
  next_base_ += cfg.vhost_user.queue_pairs;
  return port;
}

ApplyReport PortManager::apply(const config::Config& cfg) {
  ApplyReport report;
  std::lock_guard lock(mutex_);
  // Removals first: a changed port frees its socket and device before it is re-added.
  for (auto it = ports_.begin(); it != ports_.end();) {
    const auto wanted = std::find_if(cfg.ports.begin(), cfg.ports.end(),
                                     [&](const config::Port& p) { return p.name == it->first; });
    const bool keep = wanted != cfg.ports.end() && *wanted == it->second->config &&
                      port_affinity(pool_, it->first, cfg.affinity) == it->second->affinity;
    if (keep) {
      ++it;
      continue;
    }
    spdlog::info("port {}: removing ({})", it->first,
                 wanted == cfg.ports.end() ? "not in the configuration" : "its settings changed");
    report.removed.push_back(it->first);
    it = ports_.erase(it);
  }
  for (const config::Port& p : cfg.ports) {
    if (ports_.contains(p.name)) {
      report.kept.push_back(p.name);
      continue;
    }
    auto port = create(p, cfg.affinity, ring_state_file(cfg, p.name));
    if (!port) {
      report.errors.push_back(fmt::format("port {}: {}", p.name, port.error().message));
      spdlog::error("port {}: {}", p.name, port.error().message);
      continue;
    }
    spdlog::info("port {}: serving {} ({} mode, {} queue pairs, {} backend{}{})", p.name,
                 p.vhost_user.socket,
                 p.vhost_user.mode == config::VhostMode::kClient ? "client" : "server",
                 p.vhost_user.queue_pairs, backend_name(p.backend.type),
                 p.backend.device.empty() ? "" : " ", p.backend.device);
    report.added.push_back(p.name);
    ports_.emplace(p.name, std::move(*port));
  }
  return report;
}

void PortManager::remove_all() {
  std::lock_guard lock(mutex_);
  for (auto& [name, port] : ports_) spdlog::info("port {}: removing", name);
  ports_.clear();
}

std::vector<int> PortManager::action_fds() const {
  std::lock_guard lock(mutex_);
  std::vector<int> fds;
  for (const auto& [name, port] : ports_) {
    if (int fd = port->endpoint->endpoint_action_fd(); fd >= 0) fds.push_back(fd);
  }
  return fds;
}

void PortManager::handle_endpoint_actions() {
  std::lock_guard lock(mutex_);
  for (auto& [name, port] : ports_) {
    while (std::optional<EndpointAction> action = port->endpoint->poll_endpoint_action()) {
      if (action->kind == EndpointAction::Kind::RestartRequired) {
        spdlog::warn("port {}: the backend asks for a restart; restarting its queues", name);
        ++port->restarts;
        port->vhost->restart_queues();
      } else {
        port->link_up = action->link_up;
        ++port->link_changes;
        spdlog::info("port {}: backend link {}", name, action->link_up ? "up" : "down");
      }
    }
  }
}

std::vector<telemetry::PortSnapshot> PortManager::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<telemetry::PortSnapshot> out;
  for (const auto& [name, port] : ports_) {
    telemetry::PortSnapshot s;
    s.name = name;
    s.socket = port->config.vhost_user.socket;
    s.mode = port->config.vhost_user.mode == config::VhostMode::kClient ? "client" : "server";
    s.backend = std::string(backend_name(port->config.backend.type));
    s.device = port->config.backend.device;
    s.connected = port->vhost->connected();
    const uint64_t negotiated = port->vhost->negotiated_features();
    if (negotiated != 0) {
      s.ring_layout = virtio::has(negotiated, f::kRingPacked) ? "packed" : "split";
      s.in_order = virtio::has(negotiated, f::kInOrder);
    }
    s.link_up = port->config.backend.type == BackendType::kDpdk ? port->link_up : true;
    s.link_speed_bps = port->endpoint->link_speed();
    s.link_changes = port->link_changes;
    s.backend_configurations = port->endpoint->configurations();
    s.rss_reta = port->endpoint->indirection_table();
    s.restarts = port->restarts;
    s.connections = port->vhost->connections();
    s.refused_connections = port->vhost->refused_connections();
    s.session_starts = port->vhost->session_starts();
    s.session_stops = port->vhost->session_stops();
    s.start_errors = port->vhost->start_errors();
    s.resumed_rings = port->vhost->resumed_rings();
    s.announcements = port->vhost->announcements();
    s.announce_failures = port->vhost->announce_failures();
    s.refused_messages = port->vhost->refused_messages();
    s.guest_memory_faults = port->vhost->guest_memory_faults();
    s.queue_pairs = port->vhost->queue_pair_snapshots();
    for (auto& qp : s.queue_pairs)
      qp.worker_lcore = static_cast<int32_t>(port->scheduler->lcore_of(qp.index));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> PortManager::names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  out.reserve(ports_.size());
  for (const auto& [name, port] : ports_) out.push_back(name);
  return out;
}

bool PortManager::connected(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = ports_.find(name);
  return it != ports_.end() && it->second->vhost->connected();
}

}  // namespace pmdnet::ports
