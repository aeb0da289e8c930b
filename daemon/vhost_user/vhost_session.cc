// VhostSession: vring readiness -> running queue pairs, quiesce and index write-back (see the
// header for the lifecycle).
#include "daemon/vhost_user/vhost_session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/virtqueue/virtio_defs.h"
#include "daemon/vhost_user/call_fd.h"
#include "daemon/vhost_user/guest_fault.h"

namespace pmdnet::vhost_user {

namespace f = virtio::feature;

namespace {

// Control-plane diagnostics, through the daemon's logger.
template <class... Args>
void log_warning(int vid, fmt::format_string<Args...> format, Args&&... args) {
  spdlog::warn("vhost-user vid {}: {}", vid, fmt::format(format, std::forward<Args>(args)...));
}

// What one ring's device writes cover, logged whole once per pass while LOG_ALL is negotiated
// (VirtioNetQueue writes the rings through host pointers, not GuestMemory::write_at):
//   split: the used ring, through rte_vhost_log_used_vring (at the front-end's log address);
//   packed: the descriptor ring, where the device writes used descriptors, and the device event
//   suppression area, by the guest-physical addresses pmdnet's own GuestMemory gives for the host
//   pointers rte_vhost handed over (docs/vhost_user.md, dirty logging is ours).
struct RingLog {
  uint16_t vring = 0;
  bool packed = false;
  uint64_t used_bytes = 0;  // split
  uint64_t desc_gpa = 0;    // packed
  uint64_t desc_bytes = 0;
  uint64_t event_gpa = 0;

  static Result<RingLog> create(uint16_t vring, const virtio::RingAddresses& a, bool packed,
                                const GuestMemory& mem) {
    RingLog log{.vring = vring, .packed = packed};
    if (!packed) {
      log.used_bytes = virtio::used_ring_bytes(a.size);
      return log;
    }
    log.desc_bytes = sizeof(virtio::PackedDesc) * uint64_t{a.size};
    const auto desc = mem.host_to_gpa(a.desc, log.desc_bytes);
    const auto event = mem.host_to_gpa(a.used, sizeof(virtio::PackedEventSuppress));
    if (!desc || !event) {
      return make_error(Errc::kInvalidArgument,
                        fmt::format("vring {}: a ring part is outside guest memory", vring));
    }
    log.desc_gpa = *desc;
    log.event_gpa = *event;
    return log;
  }

  void write(VhostApi& api, int vid) const noexcept {
    if (packed) {
      api.log_write(vid, desc_gpa, desc_bytes);
      api.log_write(vid, event_gpa, sizeof(virtio::PackedEventSuppress));
    } else {
      api.log_used_vring(vid, vring, 0, used_bytes);
    }
  }
};

}  // namespace

// One running queue pair as the poller sees it: the VirtioNetQueue, plus the dirty logging of
// its rings while LOG_ALL is negotiated, and the RARP announcement its worker sends when the
// control thread asks (point 9 in the header).
class VhostSession::Pair final : public workers::PollTarget {
 public:
  // Tries a worker makes at sending an announcement the backend does not take (no mbuf, a full
  // ring, a loopback guest with no buffer posted) before giving it up: far more passes than a
  // backend needs to free an mbuf or a ring slot.
  static constexpr uint32_t kAnnounceTries = 4096;

  Pair(uint16_t index, std::unique_ptr<virtio::VirtioNetQueue> queue, VhostApi& api, int vid,
       RingLog rx_log, RingLog tx_log, VhostSessionStats& stats)
      : index_(index),
        queue_(std::move(queue)),
        api_(api),
        vid_(vid),
        rx_log_(rx_log),
        tx_log_(tx_log),
        stats_(stats) {}

  ~Pair() override {
    if (announce_.load(std::memory_order_relaxed) != 0) {
      stats_.announce_failures.fetch_add(1, std::memory_order_relaxed);
    }
  }

  size_t poll() noexcept override {
    const size_t work = queue_->poll();
    if (log_rings_) log_rings();
    if (announce_.load(std::memory_order_relaxed) != 0) [[unlikely]]
      send_announcement();
    return work;
  }

  // Control thread: the worker sends an announcement of `mac` on its next pass (replacing one not
  // sent yet).
  void request_announcement(const net::MacAddress& mac) noexcept {
    uint64_t packed = kAnnouncePending;
    std::memcpy(&packed, mac.data(), mac.size());
    announce_.store(packed, std::memory_order_relaxed);
  }

  void log_rings() noexcept {
    rx_log_.write(api_, vid_);
    tx_log_.write(api_, vid_);
  }

  uint32_t queue_pair() const noexcept override { return index_; }
  uint16_t index() const noexcept { return index_; }
  virtio::VirtioNetQueue& queue() noexcept { return *queue_; }
  void set_log_rings(bool on) noexcept { log_rings_ = on; }
  bool log_rings_on() const noexcept { return log_rings_; }

 private:
  // The MAC in the low six bytes (memory order), this bit above them: never 0 while pending.
  static constexpr uint64_t kAnnouncePending = uint64_t{1} << 56;

  void send_announcement() noexcept {
    uint64_t packed = announce_.load(std::memory_order_relaxed);
    net::MacAddress mac;
    std::memcpy(mac.data(), &packed, mac.size());
    Queue* backend = queue_->backend();
    const bool sent = backend != nullptr && backend->tx_frame(*queue_, net::rarp_announcement(mac));
    if (!sent && ++announce_tries_ < kAnnounceTries) return;  // the next pass tries again
    // Done with this one, unless the control thread has asked again meanwhile.
    if (announce_.compare_exchange_strong(packed, 0, std::memory_order_relaxed)) {
      (sent ? stats_.announcements : stats_.announce_failures)
          .fetch_add(1, std::memory_order_relaxed);
    }
    announce_tries_ = 0;
  }

  uint16_t index_;
  std::unique_ptr<virtio::VirtioNetQueue> queue_;
  VhostApi& api_;
  int vid_;
  RingLog rx_log_;
  RingLog tx_log_;
  bool log_rings_ = false;
  VhostSessionStats& stats_;
  std::atomic<uint64_t> announce_{0};  // 0, or a MAC | kAnnouncePending
  uint32_t announce_tries_ = 0;        // worker only
};

void VhostSession::Notifier::notify(uint16_t vring_index) noexcept {
  notify_call_fd(callfds_[vring_index % kMaxVrings]);  // an eventfd, non-blocking (start())
}

VhostSession::VhostSession(int vid, VhostApi& api, Endpoint& endpoint,
                           workers::PollScheduler& poller, VhostSessionOptions options)
    : vid_(vid),
      api_(api),
      endpoint_(endpoint),
      poller_(poller),
      options_(options),
      log_(api, vid) {}

VhostSession::~VhostSession() { shutdown(); }

bool VhostSession::guest_memory_faulted() const noexcept {
  return vhost_user::guest_memory_faulted(this);
}

void VhostSession::protect_mappings() {
  // A fault already recovered keeps its mark (registering again would clear it) until the port
  // breaks the session; that mapping cannot fault again.
  if (guest_memory_faulted()) return;
  auto mappings = api_.memory_mappings(vid_);
  if (!mappings) {
    unregister_guest_mappings(this);
    return;
  }
  if (!register_guest_mappings(this, *mappings)) {
    log_warning(vid_, "too many guest mappings in this process: faults in them are not recovered");
  }
}

std::vector<uint16_t> VhostSession::running_pairs() const {
  std::vector<uint16_t> out;
  out.reserve(pairs_.size());
  for (const auto& p : pairs_) out.push_back(p->index());
  return out;
}

const virtio::VirtioNetQueue* VhostSession::queue(uint16_t pair) const {
  for (const auto& p : pairs_) {
    if (p->index() == pair) return &p->queue();
  }
  return nullptr;
}

std::vector<uint16_t> VhostSession::ready_pairs() const {
  std::vector<uint16_t> out;
  const uint16_t max_pairs = std::min<uint16_t>(options_.max_queue_pairs, kMaxVrings / 2);
  for (uint16_t p = 0; p < max_pairs; ++p) {
    // NOLINTNEXTLINE(bugprone-implicit-widening-of-multiplication-result): p < max_pairs
    if (ready_[2 * p] && ready_[2 * p + 1]) out.push_back(p);
  }
  return out;
}

void VhostSession::on_vring_state_changed(uint16_t vring_index, bool enable) {
  if (vring_index >= kMaxVrings) return;
  ready_[vring_index] = enable;
  if (enable) halted_ = false;
  if (enable && vring_index / 2 >= options_.max_queue_pairs) {
    log_warning(vid_, "vring {} is beyond the {} queue pairs this port serves; it stays idle",
                vring_index, options_.max_queue_pairs);
  }
  reconcile();
}

void VhostSession::on_new_device() {
  halted_ = false;
  reconcile();
}

void VhostSession::on_destroy_device() {
  stop_all();
  halted_ = true;
}

void VhostSession::on_features_changed(uint64_t features) {
  // before_message(kFeatures) has already parked or stopped the datapath and will apply the
  // change when the message is done; rte_vhost calls this only for a running device.
  (void)features;
}

void VhostSession::before_message(const QuiesceAction& action) {
  using Kind = QuiesceAction::Kind;
  in_message_ = false;  // a message whose handler failed never reached after_message
  if (shut_down_) return;
  switch (action.kind) {
    case Kind::kNone:
      return;
    case Kind::kStopVring:
    case Kind::kDisableVring:
    case Kind::kRestartVring: {
      if (action.vring >= kMaxVrings) return;  // rte_vhost refuses it
      if (action.kind != Kind::kRestartVring) ready_[action.vring] = false;
      if (action.kind == Kind::kStopVring) halted_ = true;
      const uint16_t pair = static_cast<uint16_t>(action.vring / 2);
      const bool running = std::any_of(pairs_.begin(), pairs_.end(),
                                       [&](const auto& p) { return p->index() == pair; });
      if (running) stop_all();
      if (action.kind == Kind::kStopVring) {
        // What rte_vhost answers is what the front-end will hand the next back-end.
        if (auto base = api_.vring_base(vid_, static_cast<uint16_t>(action.vring))) {
          frontend_base_[action.vring] = base->last_avail_idx;
        }
      }
      if (action.sets_base) base_from_frontend_[action.vring] = true;
      break;
    }
    case Kind::kStopAll:
      stop_all();
      unregister_guest_mappings(this);  // rte_vhost unmaps them next
      break;
    case Kind::kAnnounce:
      stats_.announce_requests.fetch_add(1, std::memory_order_relaxed);
      pending_announcement_ = action.mac;
      hand_over_announcement();
      return;  // nothing stops: not a message that changes what the datapath uses
    case Kind::kMtu:
      if (action.mtu != mtu_ && !pairs_.empty()) stop_all();  // restarted with the new limit
      mtu_ = action.mtu;
      break;
    case Kind::kPauseAll:
      pause();
      break;
    case Kind::kFeatures: {
      const uint64_t changed = action.features ^ features_;
      if (!pairs_.empty() && changed == virtio::bit(f::kLogAll)) {
        pause();  // LOG_ALL flips at the start and end of a migration: no restart needed
      } else if (changed != 0) {
        stop_all();
      }
      break;
    }
  }
  in_message_ = true;
}

void VhostSession::after_message(const QuiesceAction& action) {
  using Kind = QuiesceAction::Kind;
  in_message_ = false;
  if (shut_down_) return;
  if (action.kind == Kind::kStopAll) {
    // SET_MEM_TABLE and ADD_MEM_REG leave a table; RESET_OWNER and REM_MEM_REG may not.
    mem_table_set_ = true;
    protect_mappings();
  }
  if (action.kind == Kind::kFeatures && paused_) {
    // A LOG_ALL-only change on a running set: switch logging while the poller is parked.
    auto negotiated = api_.negotiated_features(vid_);
    if (negotiated) {
      features_ = *negotiated;
      const bool log_all = virtio::has(features_, f::kLogAll);
      memory_.set_dirty_log(log_all ? &log_ : nullptr);
      for (auto& p : pairs_) p->set_log_rings(log_all);
    } else {
      stats_.api_errors.fetch_add(1, std::memory_order_relaxed);
      stop_all();
    }
  }
  reconcile();
}

void VhostSession::restart() {
  if (shut_down_ || in_message_ || pairs_.empty()) return;
  stop_all();
  reconcile();
}

void VhostSession::shutdown() {
  stop_all();
  unregister_guest_mappings(this);
  shut_down_ = true;
}

void VhostSession::reconcile() {
  if (shut_down_ || in_message_) return;
  std::vector<uint16_t> want;
  if (!halted_ && mem_table_set_) want = ready_pairs();
  if (want == running_pairs()) {
    if (paused_) resume();
    return;
  }
  stop_all();
  if (want.empty()) return;
  if (auto ok = start(want); !ok) {
    stats_.start_errors.fetch_add(1, std::memory_order_relaxed);
    log_warning(vid_, "cannot start {} queue pair(s): {}", want.size(), ok.error().message);
  }
}

Result<void> VhostSession::start(const std::vector<uint16_t>& pairs) {
  auto negotiated = api_.negotiated_features(vid_);
  if (!negotiated) {
    stats_.api_errors.fetch_add(1, std::memory_order_relaxed);
    return std::unexpected(negotiated.error());
  }
  if (!virtio::has(*negotiated, f::kVersion1)) {
    return make_error(Errc::kUnsupported, "the guest did not negotiate VIRTIO_F_VERSION_1");
  }
  auto regions = api_.mem_table(vid_);
  if (!regions) {
    stats_.api_errors.fetch_add(1, std::memory_order_relaxed);
    return std::unexpected(regions.error());
  }
  auto memory = GuestMemory::create(*regions);
  if (!memory) return std::unexpected(memory.error());
  protect_mappings();
  features_ = *negotiated;
  memory_ = std::move(*memory);
  const bool log_all = virtio::has(features_, f::kLogAll);
  memory_.set_dirty_log(log_all ? &log_ : nullptr);

  // make_rx_header delivers a coalesced TCP/IPv4 frame only with GUEST_CSUM and GUEST_TSO4.
  const bool coalesced_tcp4 =
      virtio::has(features_, f::kGuestCsum) && virtio::has(features_, f::kGuestTso4);
  std::vector<QueueConfig> configs(
      pairs.size(),
      QueueConfig{.numa_socket = options_.numa_socket, .accepts_coalesced_tcp4 = coalesced_tcp4});
  std::vector<std::unique_ptr<Queue>> backends;
  if (auto ok = endpoint_.get_queues(configs, nullptr, backends); !ok) return ok;
  if (backends.size() != pairs.size()) {
    return make_error(Errc::kDevice,
                      fmt::format("the {} endpoint made {} queues for {} pairs",
                                  endpoint_.endpoint_type(), backends.size(), pairs.size()));
  }

  std::vector<std::unique_ptr<Pair>> started;
  std::vector<uint16_t> resumed;
  running_rings_.clear();
  std::array<int, kMaxVrings> callfds;  // NOLINT(cppcoreguidelines-pro-type-member-init): all -1
  callfds.fill(-1);
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto rx_index = static_cast<uint16_t>(2 * pairs[i]);
    const auto tx_index = static_cast<uint16_t>(rx_index + 1);
    auto rx = api_.vring(vid_, rx_index);
    auto tx = api_.vring(vid_, tx_index);
    auto rx_base = api_.vring_base(vid_, rx_index);
    auto tx_base = api_.vring_base(vid_, tx_index);
    if (!rx || !tx || !rx_base || !tx_base) {
      stats_.api_errors.fetch_add(1, std::memory_order_relaxed);
      return make_error(Errc::kDevice,
                        fmt::format("cannot read vrings {} and {}", rx_index, tx_index));
    }
    // The front-end chose these fds: a worker must never block or take SIGPIPE writing to them.
    for (const auto& [index, fd] : {std::pair{rx_index, rx->callfd}, {tx_index, tx->callfd}}) {
      if (auto ok = prepare_call_fd(fd); !ok) {
        return make_error(Errc::kInvalidArgument,
                          fmt::format("vring {}: {}", index, ok.error().message));
      }
    }
    virtio::VirtioNetQueueConfig config{
        .mem = &memory_,
        .features = features_,
        .rx_ring = rx->addresses,
        .tx_ring = tx->addresses,
        .rx_start = start_base(rx_index, *rx_base, rx->addresses, resumed),
        .tx_start = start_base(tx_index, *tx_base, tx->addresses, resumed),
        .rx_vring_index = rx_index,
        .tx_vring_index = tx_index,
        .notifier = &notifier_,
        // 5.1.6.3.1: with VIRTIO_NET_F_MTU, no plain frame past the MTU reaches the guest.
        .mtu = virtio::has(features_, f::kMtu) ? mtu_ : uint16_t{0},
    };
    auto queue = virtio::VirtioNetQueue::create(config, std::move(backends[i]));
    if (!queue) {
      return make_error(queue.error().code,
                        fmt::format("queue pair {}: {}", pairs[i], queue.error().message));
    }
    const bool packed = virtio::has(features_, f::kRingPacked);
    auto rx_log = RingLog::create(rx_index, rx->addresses, packed, memory_);
    auto tx_log = RingLog::create(tx_index, tx->addresses, packed, memory_);
    if (!rx_log) return std::unexpected(rx_log.error());
    if (!tx_log) return std::unexpected(tx_log.error());
    callfds[rx_index] = rx->callfd;
    callfds[tx_index] = tx->callfd;
    auto pair =
        std::make_unique<Pair>(pairs[i], std::move(*queue), api_, vid_, *rx_log, *tx_log, stats_);
    pair->set_log_rings(log_all);
    started.push_back(std::move(pair));
  }

  // A saved position serves the first start from the front-end's base only, resumed or not: a
  // later SET_VRING_BASE (a device reset, say) must never be taken for the stale one.
  for (const auto& p : started) {
    for (const auto vring :
         {static_cast<uint16_t>(2 * p->index()), static_cast<uint16_t>(2 * p->index() + 1)}) {
      if (base_from_frontend_[vring] && options_.saved_rings != nullptr) {
        std::erase_if(options_.saved_rings->rings,
                      [vring](const SavedRing& r) { return r.vring == vring; });
      }
      base_from_frontend_[vring] = false;
    }
  }
  stats_.resumed_rings.fetch_add(resumed.size(), std::memory_order_relaxed);

  // Nothing polls yet: the notifier and the running set can be written without a handshake.
  notifier_.callfds_ = callfds;
  pairs_ = std::move(started);
  std::vector<workers::PollTarget*> targets;
  targets.reserve(pairs_.size());
  for (auto& p : pairs_) targets.push_back(p.get());
  poller_.set_targets(this, std::move(targets));
  paused_ = false;
  running_count_.store(pairs_.size(), std::memory_order_release);
  stats_.starts.fetch_add(1, std::memory_order_relaxed);
  hand_over_announcement();
  return {};
}

void VhostSession::hand_over_announcement() {
  if (!pending_announcement_ || pairs_.empty()) return;
  pairs_.front()->request_announcement(*pending_announcement_);
  pending_announcement_.reset();
}

std::optional<SavedRing> VhostSession::identify_ring(uint16_t vring,
                                                     const virtio::RingAddresses& addresses) const {
  const auto desc =
      memory_.host_to_gpa(addresses.desc, sizeof(virtio::PackedDesc) * uint64_t{addresses.size});
  const auto driver = memory_.host_to_gpa(addresses.avail, sizeof(virtio::PackedEventSuppress));
  const auto device = memory_.host_to_gpa(addresses.used, sizeof(virtio::PackedEventSuppress));
  if (!desc || !driver || !device) return std::nullopt;
  return SavedRing{.vring = vring,
                   .size = addresses.size,
                   .desc_gpa = *desc,
                   .driver_gpa = *driver,
                   .device_gpa = *device};
}

virtio::RingIndexes VhostSession::start_base(uint16_t vring, virtio::RingIndexes base,
                                             const virtio::RingAddresses& addresses,
                                             std::vector<uint16_t>& resumed) {
  const bool from_frontend = base_from_frontend_[vring];
  if (from_frontend) frontend_base_[vring] = base.last_avail_idx;
  if (!virtio::has(features_, f::kRingPacked)) return base;
  auto ring = identify_ring(vring, addresses);
  if (!ring) return base;  // PackedRing::create refuses it
  running_rings_[vring] = *ring;
  if (!from_frontend || options_.saved_rings == nullptr) return base;
  ring->frontend_base = base.last_avail_idx;
  const auto position = resume_position(*options_.saved_rings, memory_files_, *ring);
  if (!position) return base;
  resumed.push_back(vring);
  spdlog::info(
      "vhost-user vid {}: vring {} resumes where pmdnetd stopped it (avail {:#06x}, used "
      "{:#06x}); the front-end's base {:#06x} is the one it had before",
      vid_, vring, position->last_avail_idx, position->used_idx, base.last_avail_idx);
  return *position;
}

std::vector<SavedRing> VhostSession::packed_ring_positions() const {
  std::vector<SavedRing> out;
  for (const auto& [vring, ring] : stopped_rings_) {
    if (!frontend_base_[vring]) continue;
    out.push_back(ring);
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): checked two lines up
    out.back().frontend_base = *frontend_base_[vring];
  }
  return out;
}

void VhostSession::stop_all() {
  if (pairs_.empty()) {
    paused_ = false;
    return;
  }
  // 1. The poller lets go of every pair of this session.
  poller_.clear_targets(this);
  // 2. Backend queues go first (Endpoint lifecycle), 3. then the rings are drained.
  for (auto& p : pairs_) p->queue().release_backend();
  for (auto& p : pairs_) {
    p->queue().drain();
    if (p->log_rings_on()) p->log_rings();
  }
  // 4. Our ring indexes become rte_vhost's, for GET_VRING_BASE and the next start: passed through
  // as the ring encodes them (packed: the wrap counter in bit 15, which rte_vhost splits off).
  for (auto& p : pairs_) {
    const auto rx_index = static_cast<uint16_t>(2 * p->index());
    const auto tx_index = static_cast<uint16_t>(rx_index + 1);
    if (!api_.set_vring_base(vid_, rx_index, p->queue().rx_indexes()) ||
        !api_.set_vring_base(vid_, tx_index, p->queue().tx_indexes())) {
      stats_.api_errors.fetch_add(1, std::memory_order_relaxed);
      log_warning(vid_, "cannot write back the indexes of queue pair {}", p->index());
    }
    for (const auto& [vring, indexes] :
         {std::pair{rx_index, p->queue().rx_indexes()}, {tx_index, p->queue().tx_indexes()}}) {
      if (auto it = running_rings_.find(vring); it != running_rings_.end()) {
        it->second.position = indexes;
        stopped_rings_[vring] = it->second;
      }
    }
  }
  running_rings_.clear();
  pairs_.clear();
  notifier_.callfds_.fill(-1);
  paused_ = false;
  running_count_.store(0, std::memory_order_release);
  stats_.stops.fetch_add(1, std::memory_order_relaxed);
}

void VhostSession::pause() {
  if (pairs_.empty() || paused_) return;
  poller_.clear_targets(this);
  paused_ = true;
  stats_.pauses.fetch_add(1, std::memory_order_relaxed);
}

void VhostSession::resume() {
  if (!paused_) return;
  std::vector<workers::PollTarget*> targets;
  targets.reserve(pairs_.size());
  for (auto& p : pairs_) targets.push_back(p.get());
  poller_.set_targets(this, std::move(targets));
  paused_ = false;
}

}  // namespace pmdnet::vhost_user
