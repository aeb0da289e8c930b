// PortManager: the running set of pmdnetd's ports. Each port is a backend Endpoint (dpdk, loopback
// or null), a PortScheduler over the worker pool, and a VhostUserPort serving its socket.
//
// Lifecycle of a port:
//   1. apply(config) adds the ports the config has and the running set lacks: the endpoint first
//      (a dpdk device is probed and its capabilities read), then the vhost-user socket is
//      registered. A failure unwinds that port only and is reported with the port's name.
//   2. When a guest connects, the session creates the endpoint's queues and hands the queue pairs
//      to the PortScheduler, which places them on workers (affinity, else round-robin).
//   3. The control loop watches action_fds() and calls handle_endpoint_actions(): RestartRequired
//      restarts the port's queues; LinkStatusNotify is logged and kept for telemetry.
//   4. apply() removes ports the config no longer has, or whose settings changed (they are
//      re-added): the socket is unregistered (the guest's queues stop and are destroyed), then the
//      endpoint is stopped. Ports whose settings are unchanged are not touched.
// All methods are control plane and thread-safe (telemetry calls snapshot() from its thread).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/telemetry/snapshot.h"
#include "daemon/workers/worker_pool.h"

namespace pmdnet::ports {

// What one apply() did.
struct ApplyReport {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> kept;
  std::vector<std::string> errors;  // "port <name>: <reason>", one per port that failed
};

// Where port `port` keeps its packed-ring positions across a restart (vhost_user/ring_state.h):
// <state_dir>/<eal.file_prefix>.<port>.rings, state_dir defaulting to $RUNTIME_DIRECTORY (its
// first entry), else /run/pmdnet.
std::filesystem::path ring_state_file(const config::Config& cfg, const std::string& port);

class PortManager {
 public:
  explicit PortManager(workers::WorkerPool& pool);
  ~PortManager();  // remove_all()
  PortManager(const PortManager&) = delete;
  PortManager& operator=(const PortManager&) = delete;

  // Makes the running set match cfg.ports (see above).
  ApplyReport apply(const config::Config& cfg);
  // Removes every port (shutdown).
  void remove_all();

  // The endpoints' action fds (a port's fd may change across apply()).
  std::vector<int> action_fds() const;
  // Polls every endpoint for actions and handles them.
  void handle_endpoint_actions();

  std::vector<telemetry::PortSnapshot> snapshot() const;
  std::vector<std::string> names() const;
  // The live port's connected() (false for an unknown name).
  bool connected(const std::string& name) const;

 private:
  struct Port;

  Result<std::unique_ptr<Port>> create(const config::Port& cfg,
                                       const std::vector<config::Affinity>& affinity,
                                       std::filesystem::path ring_state_file);

  workers::WorkerPool& pool_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Port>> ports_;
  size_t next_base_ = 0;  // round-robin start of the next port's queue pairs
};

}  // namespace pmdnet::ports
