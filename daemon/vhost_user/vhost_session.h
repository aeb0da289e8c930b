// VhostSession: one vhost-user connection (an rte_vhost `vid`) turned into running queue pairs.
// It builds GuestMemory from the memory table and one VirtioNetQueue per ready queue pair, with a
// backend Queue each from the port's Endpoint, and hands them to a PollScheduler. Every rte_vhost
// call goes through the VhostApi seam, so it is unit-tested with a fake.
//
// Lifecycle (all calls on the control thread, serialised by the owning VhostUserPort):
//   1. Created on new_connection. Nothing runs yet.
//   2. Readiness is tracked per vring from vring_state_changed, not from new_device: without the
//      built-in net device rte_vhost calls new_device only once *every* vring it allocated is
//      ready, which never happens when a guest enables fewer queue pairs than it set up
//      (docs/vhost_user.md, readiness is per vring). A pair runs when both its vrings are ready
//      (and the memory table has been set).
//   3. Whenever the set of ready pairs changes, the running set is restarted as a whole: the
//      Endpoint makes queues in one get_queues call (a NIC backend configures RSS over all of
//      them), so a pair is never added to or removed from a running set.
//   4. before_message (rte_vhost's pre_msg_handle) quiesces what a message is about to change
//      (docs/vhost_user.md, quiesce before the library acts): GET_VRING_BASE and vring
//      reconfiguration stop the running set and write its ring indexes back with set_vring_base;
//      SET_MEM_TABLE stops everything; SET_LOG_BASE and a LOG_ALL-only SET_FEATURES park the
//      poller without draining. after_message (post_msg_handle) restarts what is still ready.
//   5. Stopping, in this order: the scheduler lets go (handshake), every backend Queue is destroyed
//      (release_backend), every held chain goes back to the guest as used with length 0 (drain),
//      what the device writes of the rings is logged when LOG_ALL is on, and both rings'
//      indexes are written back, as the ring layout encodes them
//      (docs/vhost_user.md, the ring indexes are ours). destroy_device and shutdown() return only
//      after all of that.
//   6. After destroy_device or GET_VRING_BASE the session stays halted until a vring becomes
//      ready again or new_device fires, so a stopping guest is not restarted under its feet.
//   7. What the front-end hands over is checked at every start, never trusted from rte_vhost:
//      each ring part must lie in one region of the memory table for the ring size in force
//      (SplitRing::create, PackedRing::create: the negotiated VIRTIO_F_RING_PACKED picks the
//      layout), and each call fd must be an eventfd, made non-blocking (call_fd.h).
//      A start that fails those checks leaves the pair stopped and counts a start error. The
//      memory table's mappings are registered for fault recovery (guest_fault.h) from the
//      moment it is set until it is replaced or the session ends.
//   8. Packed rings across a restart of pmdnetd (ring_state.h): every stop records where each
//      packed ring stood (packed_ring_positions, which the port saves when it stops); a start from
//      a base the front-end has just set resumes from a saved position instead when the ring,
//      the memory files and that base all match what was saved; matched or not, that first start
//      uses up what was saved for the ring.
//   9. SEND_RARP (after a live migration, for a guest that cannot announce itself) hands the MAC
//      to the first running queue pair, whose worker sends the RARP announcement
//      (net::rarp_announcement) out of its backend queue on its next pass, from the thread that
//      owns that queue. With no pair running, the first start hands it over.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "core/guest_memory/guest_memory.h"
#include "core/net/frame.h"
#include "core/net_backend/endpoint.h"
#include "core/virtio_net/virtio_net_queue.h"
#include "daemon/vhost_user/ring_state.h"
#include "daemon/vhost_user/vhost_api.h"
#include "daemon/vhost_user/vhost_user_msg.h"
#include "daemon/workers/poll_target.h"

namespace pmdnet::vhost_user {

inline constexpr uint16_t kMaxVrings = 256;  // vhost-user: an 8-bit vring index

struct VhostSessionOptions {
  uint16_t max_queue_pairs = 1;  // pairs beyond this are never started
  int numa_socket = QueueConfig::kAnySocket;
  // Packed-ring positions a previous pmdnetd saved (nullptr: none). Owned by the port; the
  // session removes each ring it resumes, on the control thread.
  RingState* saved_rings = nullptr;
};

// Control-plane counters; relaxed atomics so another thread (telemetry, tests) may read them.
struct VhostSessionStats {
  std::atomic<uint64_t> starts{0};         // running sets started
  std::atomic<uint64_t> stops{0};          // running sets stopped (indexes written back)
  std::atomic<uint64_t> pauses{0};         // poller parked without a drain
  std::atomic<uint64_t> start_errors{0};   // a start refused (bad ring, no VERSION_1, backend...)
  std::atomic<uint64_t> api_errors{0};     // an rte_vhost call failed
  std::atomic<uint64_t> resumed_rings{0};  // packed rings started from a saved position
  std::atomic<uint64_t> announce_requests{0};  // SEND_RARP messages
  std::atomic<uint64_t> announcements{0};      // RARP announcements the backend sent
  std::atomic<uint64_t> announce_failures{0};  // announcements given up (the backend never took
                                               // them, or the pair stopped first)
};

class VhostSession {
 public:
  VhostSession(int vid, VhostApi& api, Endpoint& endpoint, workers::PollScheduler& poller,
               VhostSessionOptions options);
  ~VhostSession();  // shutdown()
  VhostSession(const VhostSession&) = delete;
  VhostSession& operator=(const VhostSession&) = delete;

  int vid() const noexcept { return vid_; }

  // rte_vhost callbacks.
  void on_vring_state_changed(uint16_t vring_index, bool enable);
  void on_new_device();
  void on_destroy_device();
  void on_features_changed(uint64_t features);
  // rte_vhost extern ops: pre_msg_handle / post_msg_handle, with the classified message.
  void before_message(const QuiesceAction& action);
  void after_message(const QuiesceAction& action);
  // Stops everything for good (destroy_connection, port shutdown).
  void shutdown();
  // Stops the running queue pairs (indexes written back, backend queues destroyed) and starts
  // them again with new backend queues: the Endpoint asked for it (RestartRequired).
  void restart();

  // Observers.
  size_t running_queue_pairs() const noexcept {
    return running_count_.load(std::memory_order_acquire);
  }
  std::vector<uint16_t> running_pairs() const;                          // control thread only
  const GuestMemory& guest_memory() const noexcept { return memory_; }  // control thread only
  uint64_t features() const noexcept { return features_; }              // control thread only
  const virtio::VirtioNetQueue* queue(uint16_t pair) const;             // control thread only
  const VhostSessionStats& stats() const noexcept { return stats_; }
  // Whether a fault in this session's guest memory was recovered (guest_fault.h): the front-end
  // shrank a file under its mapping. The port then breaks the session.
  bool guest_memory_faulted() const noexcept;
  // The MTU the front-end set (NET_SET_MTU), 0 when none. Control thread only.
  uint16_t mtu() const noexcept { return mtu_; }

  // The files behind the memory table the port admitted (empty: unknown, and no packed ring
  // resumes). Control thread only.
  void set_memory_files(std::vector<MemoryFile> files) { memory_files_ = std::move(files); }
  const std::vector<MemoryFile>& memory_files() const noexcept { return memory_files_; }
  // Where each packed ring stood when it last stopped, with the base the front-end would hand a
  // new back-end for it; rings whose front-end base is not known are left out. Control thread.
  std::vector<SavedRing> packed_ring_positions() const;

 private:
  class Pair;

  // Writes the guest's call eventfds directly: rte_vhost_vring_call would apply EVENT_IDX with
  // the library's own used index, which we never update (docs/vhost_user.md, the guest is
  // notified through its call fd); VirtioNetQueue has already decided, from the ring, that the
  // guest wants this notification.
  class Notifier final : public virtio::GuestNotifier {
   public:
    Notifier() { callfds_.fill(-1); }  // NOLINT(cppcoreguidelines-pro-type-member-init): all -1
    void notify(uint16_t vring_index) noexcept override;
    std::array<int, kMaxVrings> callfds_;
  };

  class Log final : public DirtyLog {
   public:
    Log(VhostApi& api, int vid) : api_(api), vid_(vid) {}
    void log_write(uint64_t gpa, uint64_t len) noexcept override { api_.log_write(vid_, gpa, len); }

   private:
    VhostApi& api_;
    int vid_;
  };

  std::vector<uint16_t> ready_pairs() const;
  // The base `vring` starts from: rte_vhost's, or a saved position (point 8 above). A resumed
  // ring is noted in `resumed`, to be taken from the saved state once the start succeeds.
  virtio::RingIndexes start_base(uint16_t vring, virtio::RingIndexes base,
                                 const virtio::RingAddresses& addresses,
                                 std::vector<uint16_t>& resumed);
  // The ring's identity (index, size, guest-physical addresses), or nullopt when a part lies
  // outside guest memory.
  std::optional<SavedRing> identify_ring(uint16_t vring,
                                         const virtio::RingAddresses& addresses) const;
  // Registers the current memory table's mappings for fault recovery.
  void protect_mappings();
  void reconcile();
  Result<void> start(const std::vector<uint16_t>& pairs);
  void stop_all();
  // Hands a pending announcement to the first running pair (point 9).
  void hand_over_announcement();
  void pause();
  void resume();

  const int vid_;
  VhostApi& api_;
  Endpoint& endpoint_;
  workers::PollScheduler& poller_;
  const VhostSessionOptions options_;

  std::array<bool, kMaxVrings> ready_{};
  bool mem_table_set_ = false;  // a SET_MEM_TABLE / ADD_MEM_REG has been handled
  bool halted_ = false;         // stopped by the guest; wait for a vring to come up again
  bool in_message_ = false;     // between before_message and after_message
  bool paused_ = false;
  bool shut_down_ = false;

  uint64_t features_ = 0;
  uint16_t mtu_ = 0;
  std::optional<net::MacAddress> pending_announcement_;
  // Packed rings across a restart (point 8): whether rte_vhost's base for a vring is the one the
  // front-end set (SET_VRING_BASE since the vring last started), the base the front-end holds
  // for it, the rings' identities and positions at their last stop, and the memory's files.
  std::array<bool, kMaxVrings> base_from_frontend_{};
  std::array<std::optional<uint16_t>, kMaxVrings> frontend_base_{};
  std::map<uint16_t, SavedRing> running_rings_;  // identities of the running packed rings
  std::map<uint16_t, SavedRing> stopped_rings_;
  std::vector<MemoryFile> memory_files_;
  GuestMemory memory_;
  Log log_;
  Notifier notifier_;
  std::vector<std::unique_ptr<Pair>> pairs_;  // the running set
  std::atomic<size_t> running_count_{0};
  VhostSessionStats stats_;
};

}  // namespace pmdnet::vhost_user
