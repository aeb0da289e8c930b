// VhostUserPort: one vhost-user socket served with rte_vhost, its guest's queue pairs polled by
// our own ring code (split or packed, as the guest negotiated) against a backend Endpoint.
//
// Lifecycle:
//   1. create() computes the offered features (features.h) once, registers the socket (server
//      mode, or client mode with reconnect), sets our feature and protocol-feature lists, the
//      device callbacks, and starts it. Any failure unwinds what was done and unregisters.
//   2. Each connection becomes a VhostSession (one at a time; a second concurrent connection is
//      refused unless the first one's peer has already gone). The session's message pre/post
//      handlers are installed on new_connection, and the connection's socket is found and given
//      message timeouts (connection_socket.h).
//   2a. Every message passes admit_message before rte_vhost sees it: a front-end that leaves its
//      replies unread is cut off, and a memory table that maps past a file's end is refused.
//      Guest memory that faults later (guest_fault.h) breaks the session on the reporter thread.
//   3. rte_vhost's callbacks arrive on its vhost-events thread (or, in client mode, the thread
//      that connects); they are serialised by the port's control mutex, which the poller never
//      takes. The scheduler (pmdnetd's workers, or a PollThread of the port's own) runs the
//      session's queue pairs.
//   4. The destructor stops the session (indexes written back), saves where its packed rings
//      stood (ring_state.h) when a state file is set, unregisters the socket, then stops its own
//      PollThread if it has one. The Endpoint must outlive the port; Endpoint::stop is the owner's
//      business. create() reads (and removes) the state file a previous port left.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/base/result.h"
#include "core/net_backend/endpoint.h"
#include "core/virtio_net/guest_error_report.h"
#include "daemon/telemetry/snapshot.h"
#include "daemon/vhost_user/connection_socket.h"
#include "daemon/vhost_user/features.h"
#include "daemon/vhost_user/ring_state.h"
#include "daemon/vhost_user/vhost_api.h"
#include "daemon/vhost_user/vhost_session.h"
#include "daemon/workers/poll_target.h"
#include "daemon/workers/poll_thread.h"

namespace pmdnet::vhost_user {

enum class VhostUserMode : uint8_t {
  kServer,  // we create the socket and listen; the VMM connects
  kClient,  // the VMM listens; we connect, and reconnect when it goes away
};

struct VhostUserPortOptions {
  std::string socket_path;  // at most 107 bytes (sun_path)
  VhostUserMode mode = VhostUserMode::kServer;
  uint16_t max_queue_pairs = 1;  // 1..128
  GuestRxOffloads guest_rx;      // what the backend hands on guest RX (see features.h)
  bool dirty_logging = true;
  bool mtu = true;
  bool packed_ring = true;         // offer VIRTIO_F_RING_PACKED
  bool in_order = true;            // offer VIRTIO_F_IN_ORDER
  uint64_t disabled_features = 0;  // virtio feature bits withheld
  int numa_socket = QueueConfig::kAnySocket;
  // Where the queue pairs are polled (pmdnetd: its pinned workers); it must outlive the port.
  // nullptr: the port runs a PollThread of its own with `poll_thread`.
  workers::PollScheduler* scheduler = nullptr;
  workers::PollThreadOptions poll_thread;
  // Where the positions of the guest's packed rings are kept across a restart of the port
  // (ring_state.h). Empty: nowhere, and a restart under a running QEMU guest loses them.
  std::filesystem::path ring_state_file;
  // How often guest errors counted by the poll loop are logged (one line per kind and queue pair
  // per period at most: rate limiting without any cost on the fast path). 0: never.
  std::chrono::milliseconds error_report_period{1000};
};

class VhostUserPort {
 public:
  // Registers and starts the socket. `endpoint` must outlive the port.
  static Result<std::unique_ptr<VhostUserPort>> create(VhostUserPortOptions options,
                                                       Endpoint& endpoint);
  ~VhostUserPort();
  VhostUserPort(const VhostUserPort&) = delete;
  VhostUserPort& operator=(const VhostUserPort&) = delete;

  const std::string& socket_path() const noexcept { return options_.socket_path; }
  uint64_t offered_features() const noexcept { return features_; }
  uint64_t offered_protocol_features() const noexcept { return protocol_features_; }

  // Observers, safe from any thread.
  bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }
  size_t running_queue_pairs() const noexcept {
    return running_pairs_.load(std::memory_order_acquire);
  }
  uint64_t connections() const noexcept { return connections_.load(std::memory_order_relaxed); }
  uint64_t refused_connections() const noexcept { return refused_.load(std::memory_order_relaxed); }
  uint64_t session_starts() const noexcept { return starts_.load(std::memory_order_relaxed); }
  uint64_t session_stops() const noexcept { return stops_.load(std::memory_order_relaxed); }
  // Queue pair starts refused (ring, call fd, backend), over every session of the port.
  uint64_t start_errors() const noexcept { return start_errors_.load(std::memory_order_relaxed); }
  // Messages refused before rte_vhost handled them (a bad memory table, unread replies).
  uint64_t refused_messages() const noexcept {
    return refused_messages_.load(std::memory_order_relaxed);
  }
  // Packed rings started from a position the previous port saved, over every session.
  uint64_t resumed_rings() const noexcept { return resumed_.load(std::memory_order_relaxed); }
  // RARP announcements sent for the front-end (SEND_RARP), and those given up.
  uint64_t announcements() const noexcept { return announced_.load(std::memory_order_relaxed); }
  uint64_t announce_failures() const noexcept {
    return announce_failed_.load(std::memory_order_relaxed);
  }
  // Sessions broken because their guest memory faulted.
  uint64_t guest_memory_faults() const noexcept { return faults_.load(std::memory_order_relaxed); }
  // The virtio features the connected guest's running (or last started) queue pairs use; 0 while
  // no guest is connected or none of its pairs has started.
  uint64_t negotiated_features() const noexcept {
    return negotiated_.load(std::memory_order_relaxed);
  }

  // Restarts the running queue pairs with fresh backend queues (EndpointAction::RestartRequired).
  void restart_queues();

  // The counters of every running queue pair, by pair index (worker_lcore left at -1).
  std::vector<telemetry::QueuePairSnapshot> queue_pair_snapshots();

  // Logs the guest errors counted since the previous report, one line per kind and queue pair;
  // returns the lines it logged. The reporter thread calls it every error_report_period.
  std::vector<std::string> report_guest_errors();

 private:
  friend struct PortCallbacks;

  VhostUserPort(VhostUserPortOptions options, Endpoint& endpoint);

  // Callback bodies, each under control_mutex_.
  int on_new_connection(int vid);
  void on_destroy_connection(int vid);
  int on_new_device(int vid);
  void on_destroy_device(int vid);
  int on_vring_state_changed(int vid, uint16_t vring_index, bool enable);
  int on_features_changed(int vid, uint64_t features);
  // False: the message is refused (pre_msg_handle only).
  bool on_message(int vid, void* msg, bool before);
  // The checks a message passes before rte_vhost sees it: the front-end reads its replies, and a
  // memory table maps no file past its end.
  Result<void> admit_message(void* msg);
  // Stops the session and forgets it and its connection socket. Under control_mutex_.
  void retire_session();
  // Writes the stopped session's packed-ring positions to options_.ring_state_file (or, when it
  // ran none, the saved ones no session took). Under control_mutex_, after session_->shutdown().
  void save_ring_positions();
  // Breaks the session whose guest memory faulted (guest_fault.h); true if it did.
  bool break_faulted_session();

  // The session of `vid`, or nullptr (a stale vid, or shutting down). Under control_mutex_.
  VhostSession* session_for(int vid);
  void publish_counters();
  // publish_counters from the reporter thread: what the workers count (announcements) reaches
  // telemetry within a report period.
  void refresh_counters();
  void run_reporter();

  VhostUserPortOptions options_;
  Endpoint& endpoint_;
  uint64_t features_ = 0;
  uint64_t protocol_features_ = 0;
  std::unique_ptr<VhostApi> api_;
  std::unique_ptr<workers::PollThread> own_poll_thread_;  // when options_.scheduler is nullptr
  workers::PollScheduler& scheduler_;

  std::mutex control_mutex_;
  bool shutting_down_ = false;
  bool owns_registration_ = false;  // the socket path is registered (rte_vhost and registry) by us
  std::unique_ptr<VhostSession> session_;
  ConnectionSocket conn_;         // the session's connection (a duplicate), when it was found
  QuiesceAction pending_action_;  // classified in pre_msg_handle, used again in post
  uint64_t dead_starts_ = 0;      // counters of sessions that are gone
  uint64_t dead_stops_ = 0;
  uint64_t dead_start_errors_ = 0;
  uint64_t dead_resumed_ = 0;
  uint64_t dead_announced_ = 0;
  uint64_t dead_announce_failed_ = 0;
  RingState saved_rings_;  // read from options_.ring_state_file at create()

  // Guest error reporting: the last snapshot per running queue, and the thread that reports.
  std::map<const virtio::VirtioNetQueue*, virtio::GuestErrorCounts> reported_;
  std::mutex reporter_mutex_;
  std::condition_variable reporter_wake_;
  bool reporter_stop_ = false;
  std::thread reporter_;
  std::atomic<bool> connected_{false};
  std::atomic<size_t> running_pairs_{0};
  std::atomic<uint64_t> resumed_{0};
  std::atomic<uint64_t> announced_{0};
  std::atomic<uint64_t> announce_failed_{0};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> starts_{0};
  std::atomic<uint64_t> stops_{0};
  std::atomic<uint64_t> refused_messages_{0};
  std::atomic<uint64_t> start_errors_{0};
  std::atomic<uint64_t> faults_{0};
  std::atomic<uint64_t> negotiated_{0};
};

}  // namespace pmdnet::vhost_user
