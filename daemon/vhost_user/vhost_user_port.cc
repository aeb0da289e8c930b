// VhostUserPort: rte_vhost driver registration, the C callbacks, and their routing to the port's
// VhostSession.
#include "daemon/vhost_user/vhost_user_port.h"

#include <fmt/format.h>
#include <rte_vhost.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <span>

#include "daemon/vhost_user/rte_vhost_api.h"
#include "daemon/vhost_user/vhost_user_msg.h"

namespace pmdnet::vhost_user {

namespace {

// Whether something accepts connections on the unix socket at `path`.
bool socket_has_listener(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), std::min(path.size(), sizeof(addr.sun_path) - 1));
  const bool listening = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return listening;
}

// Socket path -> port. rte_vhost's callbacks carry only a vid; rte_vhost_get_ifname gives the
// socket path the connection came from.
std::mutex g_registry_mutex;
std::map<std::string, VhostUserPort*>& registry() {
  static std::map<std::string, VhostUserPort*> ports;
  return ports;
}

VhostUserPort* find_port(int vid) {
  char path[PATH_MAX];
  if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0) return nullptr;
  std::lock_guard lock(g_registry_mutex);
  auto it = registry().find(path);
  return it == registry().end() ? nullptr : it->second;
}

// rte_vhost hands pre/post_msg_handle its struct vhu_msg_context (lib/vhost/vhost_user.h, which
// is not installed): the packed VhostUserMsg (12-byte header, then a 632-byte payload union in
// DPDK 22.11, its largest member the crypto session parameters), then the fds that came with the
// message and their count. rte_vhost has refused a size past the union before calling us.
struct __attribute__((packed)) RteVhuMsgContext {
  uint8_t msg[kVhostUserHeaderSize + 632];
  int fds[kVhostMaxMemRegions];
  int fd_num;
};
static_assert(sizeof(RteVhuMsgContext) == 680);

std::span<const uint8_t> message_bytes(const void* msg) {
  const auto* ctx = static_cast<const RteVhuMsgContext*>(msg);
  VhostUserMsgHeader header;  // NOLINT(cppcoreguidelines-pro-type-member-init): memcpy fills it
  std::memcpy(&header, ctx->msg, sizeof(header));
  const size_t payload = std::min<size_t>(header.size, sizeof(ctx->msg) - kVhostUserHeaderSize);
  return {ctx->msg, kVhostUserHeaderSize + payload};
}

// The fds that came with the message (copied out: the packed layout leaves them unaligned in
// principle).
std::vector<int> message_fds(const void* msg) {
  RteVhuMsgContext ctx;  // NOLINT(cppcoreguidelines-pro-type-member-init): memcpy fills it
  std::memcpy(&ctx, msg, sizeof(ctx));
  const int n = std::clamp(ctx.fd_num, 0, static_cast<int>(kVhostMaxMemRegions));
  std::vector<int> fds(static_cast<size_t>(n));
  std::memcpy(fds.data(), reinterpret_cast<const uint8_t*>(msg) + offsetof(RteVhuMsgContext, fds),
              fds.size() * sizeof(int));
  return fds;
}

// A message refused in pre_msg_handle is not handled further, and its fds are not closed by
// rte_vhost: they are ours to close.
void close_message_fds(void* msg) {
  for (int fd : message_fds(msg)) {
    if (fd >= 0) ::close(fd);
  }
  const int none = 0;
  std::memcpy(static_cast<uint8_t*>(msg) + offsetof(RteVhuMsgContext, fd_num), &none, sizeof(none));
}

}  // namespace

// The C entry points rte_vhost calls, forwarding to the port that owns the vid.
struct PortCallbacks {
  static int new_device(int vid) {
    VhostUserPort* port = find_port(vid);
    return port != nullptr ? port->on_new_device(vid) : -1;
  }
  static void destroy_device(int vid) {
    if (VhostUserPort* port = find_port(vid)) port->on_destroy_device(vid);
  }
  static int vring_state_changed(int vid, uint16_t queue_id, int enable) {
    VhostUserPort* port = find_port(vid);
    return port != nullptr ? port->on_vring_state_changed(vid, queue_id, enable != 0) : 0;
  }
  static int features_changed(int vid, uint64_t features) {
    VhostUserPort* port = find_port(vid);
    return port != nullptr ? port->on_features_changed(vid, features) : 0;
  }
  static int new_connection(int vid) {
    VhostUserPort* port = find_port(vid);
    return port != nullptr ? port->on_new_connection(vid) : -1;
  }
  static void destroy_connection(int vid) {
    if (VhostUserPort* port = find_port(vid)) port->on_destroy_connection(vid);
  }
  // Returning NOT_HANDLED lets rte_vhost handle (pre) or finish (post) the message itself; ERR
  // refuses it (rte_vhost then drops the connection, or answers a failure when the front-end
  // asked for a reply).
  static rte_vhost_msg_result pre_msg_handle(int vid, void* msg) {
    VhostUserPort* port = find_port(vid);
    if (port != nullptr && !port->on_message(vid, msg, true)) return RTE_VHOST_MSG_RESULT_ERR;
    return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
  }
  static rte_vhost_msg_result post_msg_handle(int vid, void* msg) {
    if (VhostUserPort* port = find_port(vid)) port->on_message(vid, msg, false);
    return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
  }

  static constexpr rte_vhost_device_ops kDeviceOps = {
      .new_device = new_device,
      .destroy_device = destroy_device,
      .vring_state_changed = vring_state_changed,
      .features_changed = features_changed,
      .new_connection = new_connection,
      .destroy_connection = destroy_connection,
      .guest_notified = nullptr,
      .reserved = {nullptr},
  };
  static constexpr rte_vhost_user_extern_ops kExternOps = {
      .pre_msg_handle = pre_msg_handle,
      .post_msg_handle = post_msg_handle,
  };
};

VhostUserPort::VhostUserPort(VhostUserPortOptions options, Endpoint& endpoint)
    : options_(std::move(options)),
      endpoint_(endpoint),
      api_(make_rte_vhost_api()),
      own_poll_thread_(options_.scheduler == nullptr
                           ? std::make_unique<workers::PollThread>(options_.poll_thread)
                           : nullptr),
      scheduler_(options_.scheduler != nullptr ? *options_.scheduler : *own_poll_thread_) {
  if (options_.error_report_period.count() > 0) reporter_ = std::thread([this] { run_reporter(); });
}

void VhostUserPort::run_reporter() {
  std::unique_lock lock(reporter_mutex_);
  while (!reporter_wake_.wait_for(lock, options_.error_report_period,
                                  [this] { return reporter_stop_; })) {
    lock.unlock();
    break_faulted_session();
    report_guest_errors();
    refresh_counters();
    lock.lock();
  }
}

bool VhostUserPort::break_faulted_session() {
  std::lock_guard lock(control_mutex_);
  if (!session_ || shutting_down_ || !session_->guest_memory_faulted()) return false;
  spdlog::error(
      "{}: guest memory faulted (its file shrank under the mapping): the port stops and "
      "the connection is closed",
      options_.socket_path);
  session_->shutdown();
  conn_.shut_down();
  faults_.fetch_add(1, std::memory_order_relaxed);
  publish_counters();
  return true;
}

std::vector<std::string> VhostUserPort::report_guest_errors() {
  std::vector<std::string> logged;
  std::lock_guard lock(control_mutex_);
  std::map<const virtio::VirtioNetQueue*, virtio::GuestErrorCounts> current;
  if (session_ && !shutting_down_) {
    for (uint16_t pair : session_->running_pairs()) {
      const virtio::VirtioNetQueue* q = session_->queue(pair);
      if (q == nullptr) continue;
      virtio::GuestErrorCounts now = virtio::snapshot_guest_errors(q->stats());
      std::vector<std::string> lines;
      auto last = reported_.find(q);  // a restarted pair is a new queue: its counts start at 0
      virtio::describe_guest_errors(
          last == reported_.end() ? virtio::GuestErrorCounts{} : last->second, now, lines);
      for (const std::string& line : lines) {
        std::string entry = fmt::format("{}: queue pair {}: {}", options_.socket_path, pair, line);
        spdlog::warn("guest error: {}", entry);
        logged.push_back(std::move(entry));
      }
      current.emplace(q, std::move(now));
    }
  }
  reported_ = std::move(current);  // forget queues that are gone
  return logged;
}

void VhostUserPort::restart_queues() {
  std::lock_guard lock(control_mutex_);
  if (!session_ || shutting_down_) return;
  session_->restart();
  publish_counters();
}

std::vector<telemetry::QueuePairSnapshot> VhostUserPort::queue_pair_snapshots() {
  std::vector<telemetry::QueuePairSnapshot> out;
  std::lock_guard lock(control_mutex_);
  if (!session_ || shutting_down_) return out;
  for (uint16_t pair : session_->running_pairs()) {
    const virtio::VirtioNetQueue* q = session_->queue(pair);
    if (q == nullptr) continue;
    telemetry::QueuePairSnapshot snap;
    snap.index = pair;
    q->stats().for_each_counter([&](std::string_view name, uint64_t value) {
      snap.guest.push_back({std::string(name), value});
    });
    if (const Queue* backend = q->backend(); backend != nullptr) {
      if (const BackendQueueStats* bs = backend->queue_stats(); bs != nullptr) {
        bs->for_each_counter([&](std::string_view name, uint64_t value) {
          snap.backend.push_back({std::string(name), value});
        });
      }
    }
    out.push_back(std::move(snap));
  }
  return out;
}

Result<std::unique_ptr<VhostUserPort>> VhostUserPort::create(VhostUserPortOptions options,
                                                             Endpoint& endpoint) {
  const std::string path = options.socket_path;  // a copy: `options` moves into the port
  if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("vhost-user socket path '{}' is empty or too long", path));
  }
  if (options.max_queue_pairs < 1 || options.max_queue_pairs > kMaxVrings / 2) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("max_queue_pairs {} is outside 1..128", options.max_queue_pairs));
  }
  const uint16_t endpoint_queues = endpoint.multiqueue_support().max_queues;
  if (options.max_queue_pairs > endpoint_queues) {
    return make_error(
        Errc::kInvalidArgument,
        fmt::format("{} queue pairs asked, the {} endpoint makes at most {}",
                    options.max_queue_pairs, endpoint.endpoint_type(), endpoint_queues));
  }

  std::unique_ptr<VhostUserPort> port(new VhostUserPort(std::move(options), endpoint));
  const FeatureOptions feature_options{
      .guest_tx = endpoint.tx_offload_support(),
      .guest_rx = port->options_.guest_rx,
      .max_queue_pairs = port->options_.max_queue_pairs,
      .dirty_logging = port->options_.dirty_logging,
      .mtu = port->options_.mtu,
      .packed_ring = port->options_.packed_ring,
      .in_order = port->options_.in_order,
      .disabled = port->options_.disabled_features,
  };
  port->features_ = vhost_user::offered_features(feature_options);
  port->protocol_features_ = vhost_user::offered_protocol_features(feature_options);

  {
    std::lock_guard lock(g_registry_mutex);
    if (!registry().emplace(path, port.get()).second) {
      // The path belongs to a live port: this one must not unregister it on the way out.
      return make_error(Errc::kState, fmt::format("vhost-user socket {} is already served", path));
    }
  }
  port->owns_registration_ = true;
  auto unregister_from_registry = [&] {
    std::lock_guard lock(g_registry_mutex);
    registry().erase(path);
  };

  uint64_t flags = 0;
  if (port->options_.mode == VhostUserMode::kClient) {
    flags |= RTE_VHOST_USER_CLIENT;  // reconnect is on unless RTE_VHOST_USER_NO_RECONNECT
  } else {
    // A socket file left by a previous run makes bind() fail; remove it, but only a socket, and
    // only one nobody listens on: another live server keeps its path.
    struct stat st;  // NOLINT(cppcoreguidelines-pro-type-member-init): lstat fills it
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
      if (socket_has_listener(path)) {
        unregister_from_registry();
        port->owns_registration_ = false;
        return make_error(Errc::kState,
                          fmt::format("vhost-user socket {} is in use by another process", path));
      }
      ::unlink(path.c_str());
    }
  }
  if (rte_vhost_driver_register(path.c_str(), flags) != 0) {
    unregister_from_registry();
    port->owns_registration_ = false;
    return make_error(Errc::kDevice, fmt::format("rte_vhost_driver_register({}) failed", path));
  }
  auto fail = [&](const char* what) -> Result<std::unique_ptr<VhostUserPort>> {
    rte_vhost_driver_unregister(path.c_str());
    unregister_from_registry();
    port->owns_registration_ = false;  // undone here; the destructor must not do it again
    if (port->own_poll_thread_) port->own_poll_thread_->stop();
    return make_error(Errc::kDevice, fmt::format("{}({}) failed", what, path));
  };
  // Setting the feature list turns off rte_vhost's built-in net device (docs/vhost_user.md, the
  // feature list is ours).
  if (rte_vhost_driver_set_features(path.c_str(), port->features_) != 0) {
    return fail("rte_vhost_driver_set_features");
  }
  if (rte_vhost_driver_set_protocol_features(path.c_str(), port->protocol_features_) != 0) {
    return fail("rte_vhost_driver_set_protocol_features");
  }
  if (rte_vhost_driver_callback_register(path.c_str(), &PortCallbacks::kDeviceOps) != 0) {
    return fail("rte_vhost_driver_callback_register");
  }
  if (const auto& file = port->options_.ring_state_file; !file.empty()) {
    auto saved = take_ring_state(file);
    if (!saved) {
      spdlog::warn("{}: saved packed ring positions not used: {}", path, saved.error().message);
    } else if (*saved) {
      // NOLINTNEXTLINE(bugprone-unchecked-optional-access): checked on the line above
      port->saved_rings_ = std::move(**saved);
      spdlog::info("{}: {} saved packed ring position(s) read from {}", path,
                   port->saved_rings_.rings.size(), file.string());
    }
  }
  // Client mode may connect, and call new_connection, from inside this call.
  if (rte_vhost_driver_start(path.c_str()) != 0) return fail("rte_vhost_driver_start");
  return port;
}

VhostUserPort::~VhostUserPort() {
  if (reporter_.joinable()) {
    {
      std::lock_guard lock(reporter_mutex_);
      reporter_stop_ = true;
    }
    reporter_wake_.notify_all();
    reporter_.join();
  }
  {
    std::lock_guard lock(control_mutex_);
    shutting_down_ = true;
    if (session_) session_->shutdown();
    save_ring_positions();
    publish_counters();
  }
  // Not under control_mutex_: unregister waits for callbacks in flight, and destroys the device
  // (destroy_device) on this thread. Only a port that registered the path may unregister it.
  if (owns_registration_) {
    rte_vhost_driver_unregister(options_.socket_path.c_str());
    std::lock_guard lock(g_registry_mutex);
    registry().erase(options_.socket_path);
  }
  {
    std::lock_guard lock(control_mutex_);
    session_.reset();
    connected_.store(false, std::memory_order_release);
    negotiated_.store(0, std::memory_order_relaxed);
  }
  if (own_poll_thread_) own_poll_thread_->stop();
}

void VhostUserPort::save_ring_positions() {
  const std::filesystem::path& file = options_.ring_state_file;
  if (file.empty()) return;
  RingState state;
  if (session_) state = {session_->memory_files(), session_->packed_ring_positions()};
  if (state.rings.empty()) state = saved_rings_;
  if (state.rings.empty() || state.memory.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (auto ok = save_ring_state(file, state); !ok) {
    spdlog::warn("{}: packed ring positions not saved: {}", options_.socket_path,
                 ok.error().message);
    return;
  }
  spdlog::info("{}: saved the positions of {} packed ring(s) to {}", options_.socket_path,
               state.rings.size(), file.string());
}

VhostSession* VhostUserPort::session_for(int vid) {
  if (shutting_down_ || !session_ || session_->vid() != vid) return nullptr;
  return session_.get();
}

void VhostUserPort::publish_counters() {
  // Before the running count: whoever sees pairs running sees the features they run with.
  negotiated_.store(session_ ? session_->features() : 0, std::memory_order_relaxed);
  const size_t running = session_ ? session_->running_queue_pairs() : 0;
  if (running_pairs_.exchange(running, std::memory_order_acq_rel) != running && session_) {
    spdlog::info("{}: {} queue pair{} running", options_.socket_path, running,
                 running == 1 ? "" : "s");
  }
  if (session_) {
    starts_.store(session_->stats().starts.load(std::memory_order_relaxed) + dead_starts_,
                  std::memory_order_relaxed);
    stops_.store(session_->stats().stops.load(std::memory_order_relaxed) + dead_stops_,
                 std::memory_order_relaxed);
    start_errors_.store(
        session_->stats().start_errors.load(std::memory_order_relaxed) + dead_start_errors_,
        std::memory_order_relaxed);
    resumed_.store(session_->stats().resumed_rings.load(std::memory_order_relaxed) + dead_resumed_,
                   std::memory_order_relaxed);
    announced_.store(
        session_->stats().announcements.load(std::memory_order_relaxed) + dead_announced_,
        std::memory_order_relaxed);
    announce_failed_.store(
        session_->stats().announce_failures.load(std::memory_order_relaxed) + dead_announce_failed_,
        std::memory_order_relaxed);
  }
}

void VhostUserPort::refresh_counters() {
  std::lock_guard lock(control_mutex_);
  if (!shutting_down_) publish_counters();
}

int VhostUserPort::on_new_connection(int vid) {
  std::lock_guard lock(control_mutex_);
  if (shutting_down_) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return -1;  // rte_vhost closes the connection
  }
  ConnectionSocket conn = ConnectionSocket::find(
      options_.socket_path, options_.mode == VhostUserMode::kClient, session_ ? &conn_ : nullptr);
  if (session_ && conn_.valid() && conn_.peer_gone()) {
    // The old front-end closed, and rte_vhost, which serves every socket from one thread, has
    // yet to see it: the old session ends now, before the new one starts.
    spdlog::info("{}: the previous connection is gone; replacing it", options_.socket_path);
    retire_session();
  }
  if (session_) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("{}: refused a second guest connection", options_.socket_path);
    return -1;
  }
  if (!conn.valid()) {
    spdlog::warn("{}: the connection's socket was not found; it has no message timeouts",
                 options_.socket_path);
  } else if (auto ok = conn.set_timeouts(kMessageTimeout); !ok) {
    spdlog::warn("{}: {}", options_.socket_path, ok.error().message);
  }
  if (rte_vhost_extern_callback_register(vid, &PortCallbacks::kExternOps, nullptr) != 0) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return -1;
  }
  session_ = std::make_unique<VhostSession>(
      vid, *api_, endpoint_, scheduler_,
      VhostSessionOptions{.max_queue_pairs = options_.max_queue_pairs,
                          .numa_socket = options_.numa_socket,
                          .saved_rings = &saved_rings_});
  conn_ = std::move(conn);
  connections_.fetch_add(1, std::memory_order_relaxed);
  connected_.store(true, std::memory_order_release);
  spdlog::info("{}: guest connected", options_.socket_path);
  publish_counters();
  return 0;
}

void VhostUserPort::on_destroy_connection(int vid) {
  std::lock_guard lock(control_mutex_);
  if (!session_ || session_->vid() != vid) return;
  retire_session();
}

void VhostUserPort::retire_session() {
  // Before rte_vhost unmaps the guest's memory (vhost_destroy_device follows destroy_connection).
  session_->shutdown();
  publish_counters();
  dead_starts_ += session_->stats().starts.load(std::memory_order_relaxed);
  dead_stops_ += session_->stats().stops.load(std::memory_order_relaxed);
  dead_start_errors_ += session_->stats().start_errors.load(std::memory_order_relaxed);
  dead_resumed_ += session_->stats().resumed_rings.load(std::memory_order_relaxed);
  dead_announced_ += session_->stats().announcements.load(std::memory_order_relaxed);
  dead_announce_failed_ += session_->stats().announce_failures.load(std::memory_order_relaxed);
  session_.reset();
  conn_ = ConnectionSocket();  // rte_vhost has closed, or is about to close, its own fd
  connected_.store(false, std::memory_order_release);
  running_pairs_.store(0, std::memory_order_release);
  negotiated_.store(0, std::memory_order_relaxed);
  spdlog::info("{}: guest disconnected", options_.socket_path);
}

int VhostUserPort::on_new_device(int vid) {
  std::lock_guard lock(control_mutex_);
  VhostSession* s = session_for(vid);
  if (s == nullptr) return -1;
  s->on_new_device();
  publish_counters();
  return 0;
}

void VhostUserPort::on_destroy_device(int vid) {
  std::lock_guard lock(control_mutex_);
  VhostSession* s = session_for(vid);
  if (s == nullptr) return;
  s->on_destroy_device();
  publish_counters();
}

int VhostUserPort::on_vring_state_changed(int vid, uint16_t vring_index, bool enable) {
  std::lock_guard lock(control_mutex_);
  VhostSession* s = session_for(vid);
  if (s == nullptr) return 0;
  s->on_vring_state_changed(vring_index, enable);
  publish_counters();
  return 0;
}

int VhostUserPort::on_features_changed(int vid, uint64_t features) {
  std::lock_guard lock(control_mutex_);
  VhostSession* s = session_for(vid);
  if (s == nullptr) return 0;
  s->on_features_changed(features);
  return 0;
}

bool VhostUserPort::on_message(int vid, void* msg, bool before) {
  std::lock_guard lock(control_mutex_);
  VhostSession* s = session_for(vid);
  if (s == nullptr) return true;
  if (before) {
    if (auto ok = admit_message(msg); !ok) {
      refused_messages_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("{}: message refused: {}", options_.socket_path, ok.error().message);
      return false;
    }
    pending_action_ = classify_message(message_bytes(msg));
    s->before_message(pending_action_);
  } else {
    s->after_message(pending_action_);
    pending_action_ = {};
  }
  publish_counters();
  return true;
}

Result<void> VhostUserPort::admit_message(void* msg) {
  if (const auto unread = conn_.unread_bytes(); unread && *unread > kMaxUnreadReplyBytes) {
    // Replies pile up unread: the front-end floods requests. Its next reply would block
    // rte_vhost's only thread, so the connection ends here.
    conn_.shut_down();
    return make_error(
        Errc::kState,
        fmt::format("{} bytes of replies left unread; closing the connection", *unread));
  }
  const std::span<const uint8_t> bytes = message_bytes(msg);
  VhostUserMsgHeader header;  // NOLINT(cppcoreguidelines-pro-type-member-init): memcpy fills it
  std::memcpy(&header, bytes.data(), sizeof(header));
  if (header.request == static_cast<uint32_t>(VhostUserRequest::kSetMemTable)) {
    // rte_vhost maps each region for its whole size, whatever the file's: an access past the
    // file's end would raise SIGBUS. Refused before anything is stopped or mapped, so a running
    // guest keeps its old table.
    auto regions = parse_mem_table(bytes);
    Result<void> ok = regions ? check_mem_table_files(*regions, message_fds(msg))
                              : make_error(Errc::kMalformed, "malformed memory table");
    if (!ok) {
      close_message_fds(msg);
      return make_error(ok.error().code, "SET_MEM_TABLE: " + ok.error().message);
    }
    // What identifies this guest's memory for packed rings resumed after a restart.
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): without regions, ok failed above
    auto files = identify_memory_files(*regions, message_fds(msg));
    session_->set_memory_files(files ? std::move(*files) : std::vector<MemoryFile>{});
  } else if (header.request == static_cast<uint32_t>(VhostUserRequest::kAddMemReg) ||
             header.request == static_cast<uint32_t>(VhostUserRequest::kRemMemReg)) {
    session_->set_memory_files({});
  }
  return {};
}

}  // namespace pmdnet::vhost_user
