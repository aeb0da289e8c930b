// Integration tests of the vhost-user frontend against a real vhost-user client: DPDK's
// net_virtio_user PMD plays the guest in the same process as our VhostUserPort (rte_vhost answers
// on its vhost-events thread while the test thread probes and drives the virtio_user port), and
// LoopbackEndpoint reflects every guest TX frame back as guest RX. The traffic tests run once per
// ring variant the guest can ask for (split or packed rings, with or without IN_ORDER and
// mergeable receive buffers), and check that the guest got what it asked for. Each test runs in a
// forked child because EAL can be initialised only once per process.
#include <dirent.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_tcp.h>
#include <rte_vhost.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/net_backend/endpoint.h"
#include "core/net_backend/loopback_endpoint.h"
#include "core/net_backend/queue_counters.h"
#include "core/virtqueue/virtio_defs.h"
#include "daemon/vhost_user/vhost_user_port.h"
#include "pmd_backends/eal.h"
#include "tests/integration/eal_child.h"

namespace pmdnet::vhost_user {
namespace {

namespace fs = std::filesystem;
using pmdnet::testing::eal_runtime_dir;
using pmdnet::testing::run_in_child;
using namespace std::chrono_literals;

constexpr const char* kProgram = "pmdnet_vhost_user_test";
constexpr const char* kGuestName = "net_virtio_user0";

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Every fd this process holds and what it refers to, read in one pass over /proc/self/fd.
std::map<int, std::string> open_fds() {
  std::map<int, std::string> fds;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(entry.path(), ec);
    fds.emplace(std::atoi(entry.path().filename().c_str()), ec ? "?" : target.string());
  }
  return fds;
}

// What changed from `before` to `now`, one fd a line: the message of a failed fd count, so that it
// names what leaked.
std::string describe_fd_changes(const std::map<int, std::string>& before,
                                const std::map<int, std::string>& now) {
  std::string out;
  for (const auto& [fd, target] : now) {
    auto it = before.find(fd);
    if (it == before.end()) {
      out += fmt::format("  + {} -> {}\n", fd, target);
    } else if (it->second != target) {
      out += fmt::format("  ~ {} -> {} (was {})\n", fd, target, it->second);
    }
  }
  for (const auto& [fd, target] : before) {
    if (!now.contains(fd)) out += fmt::format("  - {} -> {}\n", fd, target);
  }
  return out;
}

std::string describe_open_fds() { return describe_fd_changes({}, open_fds()); }

// Whether `fd` is an AF_UNIX stream socket that is unbound, not listening and not connected: what
// rte_vhost's client socket is between two connect attempts.
bool is_unconnected_unix_stream_socket(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  if (addr.ss_family != AF_UNIX || len != sizeof(sa_family_t)) return false;  // bound: a path
  int value = 0;
  socklen_t value_len = sizeof(value);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &value_len) != 0 || value != SOCK_STREAM) {
    return false;
  }
  value_len = sizeof(value);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &value_len) != 0 || value != 0) {
    return false;
  }
  len = sizeof(addr);
  return ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 && errno == ENOTCONN;
}

// Whether rte_vhost, as the client (RTE_VHOST_USER_CLIENT with reconnect), is back to trying to
// connect: it holds a fresh, not yet connected socket, which its reconnect thread offers to the
// path once a second. Nothing else in these tests holds such a socket (EAL's own is a datagram
// socket with a path; virtio_user's listening socket has one too), and rte_vhost creates it only
// after it has finished with the connection that went away.
bool vhost_client_is_reconnecting() {
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    if (is_unconnected_unix_stream_socket(std::atoi(entry.path().filename().c_str()))) return true;
  }
  return false;
}

// Every CPU this process may use, read before rte_eal_init pins the main thread to lcore 0, so
// the poller does not share that one CPU with the busy-polling test thread.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

// A test-only backend for the TSO case: like LoopbackEndpoint it reflects each guest TX frame as
// guest RX, but it claims every transmit offload and turns the guest's TxMetadata offload request
// into RxMetadata of a coalesced, checksum-validated frame. So a 64 KB TSO super-frame the guest
// sends with RTE_MBUF_F_TX_TCP_SEG comes back whole, as an LRO frame with gso_size = the MSS,
// which is what a NIC with TSO on one side and GRO/LRO on the other would deliver end to end.
class OffloadReflectingQueue final : public Queue {
 public:
  bool poll_ready(BufferAccess&) noexcept override { return !done_.empty(); }
  void rx_avail(BufferAccess&, std::span<const RxId> ids) noexcept override {
    for (RxId id : ids) avail_.push_back(id);
  }
  QueueResult<size_t> rx_poll(BufferAccess&, std::span<RxId> out) noexcept override {
    size_t n = 0;
    while (n < out.size() && !done_.empty()) {
      out[n++] = done_.front();
      done_.erase(done_.begin());
    }
    return n;
  }
  QueueResult<TxAvailResult> tx_avail(BufferAccess& pool,
                                      std::span<const TxSegment> segments) noexcept override {
    size_t consumed = 0;
    while (!segments.empty() && !avail_.empty()) {
      auto packet = next_packet(segments);
      if (!packet) return make_queue_error(Errc::kMalformed, "malformed segment list");
      const TxMetadata meta = *packet->metadata;
      std::span<const TxSegment> this_packet = packet->segments;
      segments = packet->rest;
      consumed += this_packet.size();
      const RxId id = avail_.front();
      if (meta.len > pool.capacity(id) || !linearize(pool, this_packet, scratch_)) {
        counters_.tx_errors_.increment();
        continue;
      }
      avail_.erase(avail_.begin());
      RxMetadata rx{.offset = 0, .len = scratch_.size(), .vlan = meta.vlan};
      if (meta.flags.offload_tcp_checksum() || meta.flags.offload_udp_checksum()) {
        rx.ip_checksum = RxChecksumState::Good;
        rx.l4_checksum = RxChecksumState::Good;
        rx.l4_protocol = meta.flags.offload_tcp_checksum() ? L4Protocol::Tcp : L4Protocol::Udp;
        rx.l3_protocol = meta.flags.is_ipv6() ? L3Protocol::Ipv6 : L3Protocol::Ipv4;
        rx.l2_len = meta.l2_len;
        rx.l3_len = meta.l3_len;
        rx.l4_len = meta.l4_len;
      }
      if (meta.flags.offload_tcp_segmentation() || meta.flags.offload_udp_segmentation()) {
        rx.gso_size = meta.max_segment_size;
      }
      pool.write_packet(id, rx, scratch_);
      done_.push_back(id);
      counters_.tx_packets_.increment();
    }
    return TxAvailResult{.completed_synchronously = true, .segments_consumed = consumed};
  }
  std::expected<size_t, TxError> tx_poll(BufferAccess&, std::span<TxId>) noexcept override {
    return 0;
  }

 private:
  std::vector<RxId> avail_;
  std::vector<RxId> done_;
  std::vector<uint8_t> scratch_;
  QueueCounters counters_;
};

class OffloadReflectingEndpoint final : public Endpoint {
 public:
  std::string_view endpoint_type() const noexcept override { return "offload-reflecting"; }
  Result<void> get_queues(std::span<const QueueConfig> config, const RssConfig*,
                          std::vector<std::unique_ptr<Queue>>& queues) override {
    for (size_t i = 0; i < config.size(); ++i) {
      auto q = std::make_unique<OffloadReflectingQueue>();
      queues.push_back(std::move(q));
    }
    return {};
  }
  void stop() override {}
  TxOffloadSupport tx_offload_support() const noexcept override {
    return {.ipv4_header = true, .tcp = true, .udp = true, .tso = true, .uso = true};
  }
  MultiQueueSupport multiqueue_support() const noexcept override {
    return {.max_queues = 8, .indirection_table_size = 0};
  }
};

// The guest: a net_virtio_user port, hot-plugged and removed per connection.
struct GuestConfig {
  uint16_t device_queues = 1;  // virtio_user queues= (queue pairs it sets up)
  uint16_t ethdev_queues = 1;  // queue pairs the application configures (and so enables)
  bool server = false;         // virtio_user server=1: it listens, our port connects
  uint32_t mtu = 9000;
  bool lro_and_tso = false;  // guest TX TSO + guest RX LRO
  bool packed = false;       // virtio_user packed_vq=
  bool in_order = true;      // virtio_user in_order=
  bool mrg_rxbuf = true;     // virtio_user mrg_rxbuf=
  // intr_conf.lsc: virtio_user learns of a lost connection from its link interrupt, and as the
  // server (server=1) takes the next one and sets its device up again by itself.
  bool link_interrupts = false;
};

// Ring layouts and features a guest can ask for: the traffic tests run once per variant.
struct RingVariant {
  const char* name;
  bool packed;
  bool in_order;
  bool mrg_rxbuf;
};
constexpr uint16_t kGuestRingSize = 256;  // virtio_user queue_size=

const RingVariant kRingVariants[] = {
    {"split", false, false, true},
    {"split_in_order", false, true, true},  // net_virtio_user's default
    {"split_no_mrg_rxbuf", false, false, false},
    {"split_in_order_no_mrg_rxbuf", false, true, false},
    {"packed", true, false, true},
    {"packed_in_order", true, true, true},
    {"packed_no_mrg_rxbuf", true, false, false},
    {"packed_in_order_no_mrg_rxbuf", true, true, false},
};

class Guest {
 public:
  Guest(std::string socket, GuestConfig config) : socket_(std::move(socket)), config_(config) {}

  // Creates the pools once per process: they outlive every virtio_user instance.
  static void create_pools() {
    // Guest RX buffers are plain 2 KB mbufs, so 9000-byte frames take mergeable chains.
    rx_pool_ =
        rte_pktmbuf_pool_create("vh_rx", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    // Without mergeable buffers every receive buffer must hold a whole 9000-byte frame.
    big_rx_pool_ = rte_pktmbuf_pool_create("vh_rx_big", 2047, 256, 0, RTE_PKTMBUF_HEADROOM + 9216,
                                           SOCKET_ID_ANY);
    // Guest TX frames are built in one segment; 64 KB for the TSO super-frame.
    tx_pool_ = rte_pktmbuf_pool_create("vh_tx", 1023, 32, 0, 65535, SOCKET_ID_ANY);
    ASSERT_NE(rx_pool_, nullptr) << rte_strerror(rte_errno);
    ASSERT_NE(big_rx_pool_, nullptr) << rte_strerror(rte_errno);
    ASSERT_NE(tx_pool_, nullptr) << rte_strerror(rte_errno);
  }

  void plug() {
    const std::string args = fmt::format(
        "path={},queues={},queue_size={},mrg_rxbuf={},in_order={},packed_vq={},server={}", socket_,
        config_.device_queues, kGuestRingSize, config_.mrg_rxbuf ? 1 : 0, config_.in_order ? 1 : 0,
        config_.packed ? 1 : 0, config_.server ? 1 : 0);
    ASSERT_EQ(rte_eal_hotplug_add("vdev", kGuestName, args.c_str()), 0) << args;
    ASSERT_EQ(rte_eth_dev_get_port_by_name(kGuestName, &port_), 0);
    plugged_ = true;

    rte_eth_dev_info info;
    ASSERT_EQ(rte_eth_dev_info_get(port_, &info), 0);
    rte_eth_conf conf{};
    conf.rxmode.mtu = config_.mtu;
    // Frames past one receive buffer come as mergeable chains; without mergeable buffers (no
    // scatter either, then) every buffer holds a whole frame.
    conf.rxmode.offloads = config_.mrg_rxbuf ? RTE_ETH_RX_OFFLOAD_SCATTER : 0;
    conf.intr_conf.lsc = config_.link_interrupts ? 1 : 0;
    if (config_.lro_and_tso) {
      conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TCP_LRO | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
      // 0: the port's own limit. virtio's is its max frame length, but the mergeable receive
      // path takes an LRO frame of any size.
      conf.rxmode.max_lro_pkt_size = 0;
      conf.txmode.offloads = RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
      ASSERT_NE(info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_TSO, 0u)
          << "the virtio port did not negotiate HOST_TSO4";
      ASSERT_NE(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_LRO, 0u)
          << "the virtio port did not negotiate GUEST_TSO4";
    }
    ASSERT_EQ(rte_eth_dev_configure(port_, config_.ethdev_queues, config_.ethdev_queues, &conf), 0);
    for (uint16_t q = 0; q < config_.ethdev_queues; ++q) {
      ASSERT_EQ(rte_eth_rx_queue_setup(port_, q, kGuestRingSize, SOCKET_ID_ANY, nullptr,
                                       rx_pool(config_.mrg_rxbuf)),
                0);
      ASSERT_EQ(rte_eth_tx_queue_setup(port_, q, kGuestRingSize, SOCKET_ID_ANY, nullptr), 0);
    }
    ASSERT_EQ(rte_eth_dev_start(port_), 0);
    started_ = true;
  }

  void unplug() {
    if (started_) {
      EXPECT_EQ(rte_eth_dev_stop(port_), 0);
    }
    started_ = false;
    if (plugged_) {
      EXPECT_EQ(rte_eth_dev_close(port_), 0);
      EXPECT_EQ(rte_eal_hotplug_remove("vdev", kGuestName), 0);
    }
    plugged_ = false;
  }

  ~Guest() { unplug(); }

  // A frame of `len` bytes: Ethernet header (local MACs, ethertype 0x88b5) and a pattern.
  static std::vector<uint8_t> make_frame(size_t len, uint8_t seed) {
    std::vector<uint8_t> f(len);
    const uint8_t header[14] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5};
    std::memcpy(f.data(), header, sizeof(header));
    for (size_t i = sizeof(header); i < len; ++i) f[i] = static_cast<uint8_t>(i * 7 + seed);
    return f;
  }

  // Sends `frame` on guest TX queue `q` and returns what comes back on guest RX queue `q`.
  std::optional<std::vector<uint8_t>> round_trip(uint16_t q, const std::vector<uint8_t>& frame,
                                                 rte_mbuf** received = nullptr,
                                                 uint64_t tx_ol_flags = 0, uint16_t l2 = 0,
                                                 uint16_t l3 = 0, uint16_t l4 = 0,
                                                 uint16_t mss = 0) {
    rte_mbuf* m = rte_pktmbuf_alloc(tx_pool_);
    if (m == nullptr) return std::nullopt;
    char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
    if (data == nullptr) {
      rte_pktmbuf_free(m);
      return std::nullopt;
    }
    std::memcpy(data, frame.data(), frame.size());
    m->ol_flags |= tx_ol_flags;
    m->l2_len = l2;
    m->l3_len = l3;
    m->l4_len = l4;
    m->tso_segsz = mss;
    if (tx_ol_flags != 0) {
      uint16_t n = rte_eth_tx_prepare(port_, q, &m, 1);
      if (n != 1) {
        ADD_FAILURE() << "rte_eth_tx_prepare: " << rte_strerror(rte_errno);
        rte_pktmbuf_free(m);
        return std::nullopt;
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (rte_eth_tx_burst(port_, q, &m, 1) != 1) {
      if (std::chrono::steady_clock::now() > deadline) {
        rte_pktmbuf_free(m);
        return std::nullopt;
      }
    }
    rte_mbuf* rx = nullptr;
    while (rte_eth_rx_burst(port_, q, &rx, 1) != 1) {
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::yield();
    }
    std::vector<uint8_t> out(rte_pktmbuf_pkt_len(rx));
    const void* p = rte_pktmbuf_read(rx, 0, static_cast<uint32_t>(out.size()), out.data());
    if (p != out.data()) std::memcpy(out.data(), p, out.size());
    if (received != nullptr) {
      *received = rx;
    } else {
      rte_pktmbuf_free(rx);
    }
    return out;
  }

  uint16_t port() const { return port_; }
  // The pool of guest receive buffers: 2 KB with mergeable buffers, 9 KB without.
  static rte_mempool* rx_pool(bool mrg_rxbuf = true) { return mrg_rxbuf ? rx_pool_ : big_rx_pool_; }
  static rte_mempool* tx_pool() { return tx_pool_; }

 private:
  static inline rte_mempool* rx_pool_ = nullptr;
  static inline rte_mempool* big_rx_pool_ = nullptr;
  static inline rte_mempool* tx_pool_ = nullptr;
  std::string socket_;
  GuestConfig config_;
  uint16_t port_ = RTE_MAX_ETHPORTS;
  bool plugged_ = false;
  bool started_ = false;
};

class VhostUserIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int serial = 0;
    prefix_ = fmt::format("pmdnet-vh-{}-{}", getpid(), serial);
    socket_ = fmt::format("/tmp/pmdnet-vh-{}-{}.sock", getpid(), serial);
    ++serial;
    options_.no_huge = true;
    options_.memory_mb = 1024;
    options_.file_prefix = prefix_;
    options_.driver_dirs = {default_pmd_dir()};
    options_.no_pci = true;
    options_.lcores = "0";
    options_.log_level = "*:warning";
    options_.no_telemetry = true;
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove(socket_, ec);
    fs::remove_all(eal_runtime_dir(prefix_), ec);
    EXPECT_FALSE(fs::exists(eal_runtime_dir(prefix_)));
    EXPECT_FALSE(fs::exists(socket_));
  }

  VhostUserPortOptions port_options(uint16_t pairs, VhostUserMode mode) const {
    VhostUserPortOptions o;
    o.socket_path = socket_;
    o.mode = mode;
    o.max_queue_pairs = pairs;
    o.poll_thread.cpus = cpus_;
    return o;
  }

  // Brings EAL up and creates the mbuf pools; returns false (with a failure) if it could not.
  std::optional<Eal> bring_up() {
    cpus_ = allowed_cpus();
    // DPDK's log lines to stderr only, as pmdnetd sends them to its own logger: EAL's default
    // stream also passes each line to syslog(), and where nothing listens on /dev/log glibc opens
    // and closes a socket for every line, on whichever thread logs it (rte_vhost's "failed to
    // connect" comes from its vhost-events thread), which the fd counts below would catch.
    (void)rte_openlog_stream(stderr);
    auto eal = Eal::init(options_, kProgram);
    if (!eal) {
      ADD_FAILURE() << eal.error().message;
      return std::nullopt;
    }
    Guest::create_pools();
    return std::move(*eal);
  }

  // Frames of 64, 1500 and 9000 bytes on every queue come back byte-identical.
  static void expect_round_trips(Guest& guest, uint16_t queues, uint8_t seed) {
    for (uint16_t q = 0; q < queues; ++q) {
      for (size_t len : {size_t{64}, size_t{1500}, size_t{9000}}) {
        const auto frame = Guest::make_frame(len, static_cast<uint8_t>(seed + q));
        auto back = guest.round_trip(q, frame);
        ASSERT_TRUE(back.has_value()) << "no reply to a " << len << "-byte frame on queue " << q;
        EXPECT_EQ(back->size(), frame.size()) << "queue " << q;
        EXPECT_TRUE(*back == frame) << len << "-byte frame on queue " << q << " came back altered";
      }
    }
  }

  // `frames` 64-byte frames on queue `q`, one round trip each, each back byte-identical. Each
  // takes one descriptor of either ring (virtio_user pushes the virtio-net header into the
  // mbuf's headroom), so kGuestRingSize of them take both rings once around.
  static void drive(Guest& guest, uint16_t q, int frames, uint8_t seed) {
    for (int i = 0; i < frames; ++i) {
      const auto frame = Guest::make_frame(64, static_cast<uint8_t>(seed + i));
      auto back = guest.round_trip(q, frame);
      ASSERT_TRUE(back.has_value()) << "no reply to frame " << i << " on queue " << q;
      ASSERT_TRUE(*back == frame) << "frame " << i << " on queue " << q << " came back altered";
    }
  }

  std::string prefix_;
  std::string socket_;
  EalOptions options_;
  std::vector<int> cpus_;
};

// rte_vhost's base of vring `vring` on the connection to `socket` (rte_vhost_get_vring_base):
// what the running queue pair started from, or what pmdnet wrote back at its last stop. nullopt
// without a connection. Each test has one connection at a time, so the lowest vids suffice.
std::optional<virtio::RingIndexes> vhost_vring_base(const std::string& socket, uint16_t vring) {
  char path[PATH_MAX];
  for (int vid = 0; vid < 16; ++vid) {
    if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0 || socket != path) continue;
    uint16_t avail = 0;
    uint16_t used = 0;
    if (rte_vhost_get_vring_base(vid, vring, &avail, &used) != 0) return std::nullopt;
    return virtio::RingIndexes{.last_avail_idx = avail, .used_idx = used};
  }
  return std::nullopt;
}

// The base of a ring `descriptors` descriptors past a new one (one chain per descriptor):
// a free-running chain count for a split ring; for a packed ring the position, with the wrap
// counter in bit 15, which starts at 1 and flips at each pass over the ring.
uint16_t index_after(bool packed, uint64_t descriptors) {
  if (!packed) return static_cast<uint16_t>(descriptors);
  const bool wrap = (descriptors / kGuestRingSize) % 2 == 0;
  return static_cast<uint16_t>(descriptors % kGuestRingSize | (wrap ? virtio::kPackedWrapBit : 0));
}

std::string index_text(virtio::RingIndexes i) {
  return fmt::format("avail {:#06x}, used {:#06x}", i.last_avail_idx, i.used_idx);
}

// The traffic tests, once per RingVariant.
class VhostUserRingTest : public VhostUserIntegrationTest,
                          public ::testing::WithParamInterface<RingVariant> {
 protected:
  GuestConfig guest_config(GuestConfig c = {}) const {
    c.packed = GetParam().packed;
    c.in_order = GetParam().in_order;
    c.mrg_rxbuf = GetParam().mrg_rxbuf;
    return c;
  }

  // The port's guest negotiated what the variant asks for: a guest that fell back to split
  // rings, or went without IN_ORDER, fails here instead of passing as another variant.
  void expect_negotiated(const VhostUserPort& port) const {
    const uint64_t features = port.negotiated_features();
    ASSERT_NE(features, 0u) << "no queue pair started";
    namespace f = virtio::feature;
    EXPECT_EQ(virtio::has(features, f::kRingPacked), GetParam().packed) << std::hex << features;
    EXPECT_EQ(virtio::has(features, f::kInOrder), GetParam().in_order) << std::hex << features;
    EXPECT_EQ(virtio::has(features, f::kMrgRxbuf), GetParam().mrg_rxbuf) << std::hex << features;
  }
};

// The receive buffers of a guest without mergeable buffers hold 9 KB each: a 64 KB LRO frame
// needs them, so the TSO test runs on the variants with mergeable buffers.
class VhostUserMergeableRingTest : public VhostUserRingTest {};

void PrintTo(const RingVariant& v, std::ostream* os) { *os << v.name; }

std::string variant_name(const ::testing::TestParamInfo<RingVariant>& info) {
  return info.param.name;
}
std::vector<RingVariant> mergeable_variants() {
  std::vector<RingVariant> out;
  for (const RingVariant& v : kRingVariants) {
    if (v.mrg_rxbuf) out.push_back(v);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Rings, VhostUserRingTest, ::testing::ValuesIn(kRingVariants),
                         variant_name);
INSTANTIATE_TEST_SUITE_P(Rings, VhostUserMergeableRingTest,
                         ::testing::ValuesIn(mergeable_variants()), variant_name);

TEST_P(VhostUserRingTest, ServerModeRoundTripsFrames) {
  run_in_child([&] {
    auto eal = bring_up();
    ASSERT_TRUE(eal.has_value());
    LoopbackEndpoint endpoint;
    auto port = VhostUserPort::create(port_options(1, VhostUserMode::kServer), endpoint);
    ASSERT_TRUE(port.has_value()) << port.error().message;
    // A second port on the same path is refused, and must not tear down the first one.
    auto twin = VhostUserPort::create(port_options(1, VhostUserMode::kServer), endpoint);
    ASSERT_FALSE(twin.has_value());
    EXPECT_EQ(twin.error().code, Errc::kState);
    {
      Guest guest(socket_, guest_config());
      guest.plug();
      ASSERT_FALSE(HasFatalFailure());
      ASSERT_TRUE(wait_for([&] { return (*port)->running_queue_pairs() == 1; }))
          << "the queue pair never started";
      expect_negotiated(**port);
      expect_round_trips(guest, 1, 1);
      // A well-behaved guest gives the error reporter nothing to say.
      EXPECT_EQ((*port)->report_guest_errors(), std::vector<std::string>{});
      guest.unplug();
    }
    EXPECT_TRUE(wait_for([&] { return !(*port)->connected(); }));
    EXPECT_EQ((*port)->running_queue_pairs(), 0u);
    EXPECT_EQ((*port)->negotiated_features(), 0u) << "no guest, nothing negotiated";
    port->reset();
    EXPECT_FALSE(fs::exists(socket_)) << "unregister leaves no socket behind";
  });
}

TEST_P(VhostUserRingTest, TwoQueuePairs) {
  run_in_child([&] {
    auto eal = bring_up();
    ASSERT_TRUE(eal.has_value());
    LoopbackEndpoint endpoint;
    auto port = VhostUserPort::create(port_options(2, VhostUserMode::kServer), endpoint);
    ASSERT_TRUE(port.has_value()) << port.error().message;
    Guest guest(socket_, guest_config({.device_queues = 2, .ethdev_queues = 2}));
    guest.plug();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return (*port)->running_queue_pairs() == 2; }))
        << "running pairs: " << (*port)->running_queue_pairs();
    expect_negotiated(**port);
    expect_round_trips(guest, 2, 3);
  });
}

// Past the end of the rings (the wrap counters of a packed ring flipped), the running pair is
// stopped and started again inside the connection (an endpoint's RestartRequired): the indexes
// pmdnet writes back are the rings' own, wrap counter included, rte_vhost keeps them as they are,
// and the restarted pair resumes from them: traffic goes on, byte for byte.
TEST_P(VhostUserRingTest, RestartResumesFromTheWrittenBackIndexes) {
  run_in_child([&] {
    auto eal = bring_up();
    ASSERT_TRUE(eal.has_value());
    LoopbackEndpoint endpoint;
    auto port = VhostUserPort::create(port_options(1, VhostUserMode::kServer), endpoint);
    ASSERT_TRUE(port.has_value()) << port.error().message;
    Guest guest(socket_, guest_config());
    guest.plug();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return (*port)->running_queue_pairs() == 1; }));
    expect_negotiated(**port);
    const bool packed = GetParam().packed;
    auto fresh = vhost_vring_base(socket_, 1);
    ASSERT_TRUE(fresh.has_value());
    EXPECT_EQ(fresh->last_avail_idx, index_after(packed, 0)) << index_text(*fresh);

    constexpr int kFrames = kGuestRingSize + 44;  // once around, and 44 further
    drive(guest, 0, kFrames, 7);
    ASSERT_FALSE(HasFatalFailure());
    const uint64_t stops = (*port)->session_stops();
    (*port)->restart_queues();
    EXPECT_EQ((*port)->session_stops(), stops + 1);
    ASSERT_EQ((*port)->running_queue_pairs(), 1u);
    // Guest TX: every frame taken and completed. Packed: position 44, wrap counter 0.
    auto tx = vhost_vring_base(socket_, 1);
    ASSERT_TRUE(tx.has_value());
    EXPECT_EQ(tx->last_avail_idx, index_after(packed, kFrames)) << index_text(*tx);
    EXPECT_EQ(tx->used_idx, index_after(packed, kFrames)) << index_text(*tx);
    // Guest RX: every buffer taken went back (the drain), so both sides are at the same place.
    auto rx = vhost_vring_base(socket_, 0);
    ASSERT_TRUE(rx.has_value());
    EXPECT_EQ(rx->last_avail_idx, rx->used_idx) << index_text(*rx);

    expect_round_trips(guest, 1, 9);
    drive(guest, 0, kGuestRingSize, 11);  // around once more: the counters flip back
    ASSERT_FALSE(HasFatalFailure());
    (*port)->restart_queues();
    tx = vhost_vring_base(socket_, 1);
    ASSERT_TRUE(tx.has_value());
    EXPECT_EQ(tx->last_avail_idx, index_after(packed, kFrames + 3 + kGuestRingSize))
        << index_text(*tx);
    expect_round_trips(guest, 1, 13);
  });
}

// The guest sets up two queue pairs but its application enables one: rte_vhost never calls
// new_device (it waits for every vring it allocated), yet the enabled pair must run
// (docs/vhost_user.md, readiness is per vring).
TEST_F(VhostUserIntegrationTest, GuestEnablingFewerPairsStillWorks) {
  run_in_child([&] {
    auto eal = bring_up();
    ASSERT_TRUE(eal.has_value());
    LoopbackEndpoint endpoint;
    auto port = VhostUserPort::create(port_options(2, VhostUserMode::kServer), endpoint);
    ASSERT_TRUE(port.has_value()) << port.error().message;
    Guest guest(socket_, {.device_queues = 2, .ethdev_queues = 1});
    guest.plug();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return (*port)->running_queue_pairs() == 1; }));
    expect_round_trips(guest, 1, 5);
    EXPECT_EQ((*port)->running_queue_pairs(), 1u);
  });
}

// 20 disconnect/reconnect cycles with traffic in each: no fd leak, no mbuf leak, no crash, and
// the ring indexes written back at each stop are the ones the next connection starts from.
// 20 disconnect/reconnect cycles with traffic in each, far enough to wrap a packed ring's
// counters: each new connection starts from the base its guest set (a new ring), not from what
// the last one reached.
TEST_P(VhostUserRingTest, ReconnectTwentyTimesWithoutLeaks) {
  run_in_child([&] {
    auto eal = bring_up();
    ASSERT_TRUE(eal.has_value());
    LoopbackEndpoint endpoint;
    auto port = VhostUserPort::create(port_options(2, VhostUserMode::kServer), endpoint);
    ASSERT_TRUE(port.has_value()) << port.error().message;
    rte_mempool* rx_pool = Guest::rx_pool(GetParam().mrg_rxbuf);
    std::map<int, std::string> fds_connected_first;
    for (int cycle = 0; cycle < 21; ++cycle) {
      SCOPED_TRACE(fmt::format("cycle {}", cycle));
      {
        Guest guest(socket_, guest_config({.device_queues = 2, .ethdev_queues = 2}));
        guest.plug();
        ASSERT_FALSE(HasFatalFailure());
        ASSERT_TRUE(wait_for([&] { return (*port)->running_queue_pairs() == 2; }));
        expect_negotiated(**port);
        // The guest TX rings, where nothing was taken yet, are new. (The receive rings may have
        // gone once around already: the guest fills them, and the running set restarts when the
        // second pair comes up, giving back what it took.)
        for (uint16_t vring : {1, 3}) {
          const auto base = vhost_vring_base(socket_, vring);
          ASSERT_TRUE(base.has_value());
          EXPECT_EQ(base->last_avail_idx, index_after(GetParam().packed, 0))
              << "vring " << vring << ": " << index_text(*base);
          EXPECT_EQ(base->used_idx, base->last_avail_idx) << "vring " << vring;
        }
        expect_round_trips(guest, 2, static_cast<uint8_t>(cycle));
        drive(guest, 1, kGuestRingSize + 1, static_cast<uint8_t>(cycle));
        ASSERT_FALSE(HasFatalFailure());
        // The fds are counted here, connected and running, and not after the disconnect:
        // connected() turns false in destroy_connection, which rte_vhost calls on its
        // vhost-events thread before it closes the connection's vring and memory fds
        // (vhost_destroy_device), and in server mode nothing tells when it has. Here it has: it
        // accepted this connection on that same thread, after it returned from the last one, and
        // this connection's fds all came with the messages before its queue pairs started. The
        // first cycle opens what stays open for the process; every later one must hold as many.
        const auto fds = open_fds();
        if (cycle == 0) {
          fds_connected_first = fds;
        } else {
          EXPECT_EQ(fds.size(), fds_connected_first.size())
              << "fds leaked by the previous connections; since the first cycle:\n"
              << describe_fd_changes(fds_connected_first, fds);
        }
        guest.unplug();
      }
      ASSERT_TRUE(wait_for([&] { return !(*port)->connected(); }));
      EXPECT_EQ(rte_mempool_avail_count(rx_pool), rx_pool->size);
      EXPECT_EQ(rte_mempool_avail_count(Guest::tx_pool()), 1023u);
    }
    EXPECT_EQ((*port)->connections(), 21u);
    EXPECT_EQ((*port)->refused_connections(), 0u);
  });
}

// Our port is the client: the guest (virtio_user server=1) listens and blocks in accept() until
// rte_vhost's reconnect thread connects to it; after each disconnect our side reconnects.
TEST_P(VhostUserRingTest, ClientModeConnectsAndReconnects) {
  run_in_child([&] {
    auto eal = bring_up();
    ASSERT_TRUE(eal.has_value());
    LoopbackEndpoint endpoint;
    auto port = VhostUserPort::create(port_options(1, VhostUserMode::kClient), endpoint);
    ASSERT_TRUE(port.has_value()) << port.error().message;
    // No guest listens yet: rte_vhost_driver_start's connect failed (ENOENT, its "failed to
    // connect: No such file or directory") and left the socket to its reconnect thread.
    EXPECT_TRUE(vhost_client_is_reconnecting()) << describe_open_fds();
    std::map<int, std::string> fds_disconnected_first;
    for (int cycle = 0; cycle < 3; ++cycle) {
      SCOPED_TRACE(fmt::format("cycle {}", cycle));
      {
        Guest guest(socket_, guest_config({.server = true}));
        guest.plug();  // binds, listens, and returns once rte_vhost has connected and set it up
        ASSERT_FALSE(HasFatalFailure());
        ASSERT_TRUE(wait_for([&] { return (*port)->running_queue_pairs() == 1; }));
        expect_negotiated(**port);
        expect_round_trips(guest, 1, static_cast<uint8_t>(cycle));
        EXPECT_FALSE(vhost_client_is_reconnecting()) << "connected, yet:\n" << describe_open_fds();
        guest.unplug();
      }
      ASSERT_TRUE(wait_for([&] { return !(*port)->connected(); }));
      // virtio_user unlinks the path it listened on when it closes (virtio_user_dev_uninit), before
      // it closes the connection, so rte_vhost never reconnects to a dying listener: it finds no
      // socket and retries once a second until the next guest binds the path.
      EXPECT_FALSE(fs::exists(socket_)) << "virtio_user left its listening socket behind";
      // connected() turns false in destroy_connection, which rte_vhost calls on its vhost-events
      // thread before it is done with the connection: it then closes the vring and memory fds
      // (vhost_destroy_device) and only then creates the socket it reconnects with. Counting the
      // fds before that socket exists counts one too few; wait for it, then count.
      ASSERT_TRUE(wait_for(vhost_client_is_reconnecting))
          << "rte_vhost did not go back to reconnecting; open fds:\n"
          << describe_open_fds();
      const auto fds = open_fds();
      if (cycle == 0) {
        fds_disconnected_first = fds;
      } else {
        EXPECT_EQ(fds.size(), fds_disconnected_first.size())
            << "fds leaked over the reconnects; since the first disconnect:\n"
            << describe_fd_changes(fds_disconnected_first, fds);
      }
    }
    EXPECT_EQ((*port)->connections(), 3u);
  });
}

// Our port is the client and pmdnetd goes away while the guest (virtio_user server=1) stays: the
// guest takes the next connection by itself and sets its device up again. A split ring resumes
// where the guest's used ring is (rte_vhost takes its idx over the 0 virtio_user sets); virtio_user
// resets a packed ring to a new one (position 0, wrap counters 1) when it reconnects, so that is
// where the new session must start, not where the old one stopped, wrap counter 0.
TEST_P(VhostUserRingTest, ClientModeGuestResumesAfterThePortComesBack) {
  run_in_child([&] {
    auto eal = bring_up();
    ASSERT_TRUE(eal.has_value());
    LoopbackEndpoint endpoint;
    auto port = VhostUserPort::create(port_options(1, VhostUserMode::kClient), endpoint);
    ASSERT_TRUE(port.has_value()) << port.error().message;
    Guest guest(socket_, guest_config({.server = true, .link_interrupts = true}));
    guest.plug();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return (*port)->running_queue_pairs() == 1; }));
    expect_negotiated(**port);
    constexpr int kFrames = kGuestRingSize + 44;
    drive(guest, 0, kFrames, 3);
    ASSERT_FALSE(HasFatalFailure());

    port->reset();  // pmdnetd goes away: rte_vhost closes the connection
    port = VhostUserPort::create(port_options(1, VhostUserMode::kClient), endpoint);
    ASSERT_TRUE(port.has_value()) << port.error().message;
    ASSERT_TRUE(wait_for([&] { return (*port)->running_queue_pairs() == 1; }))
        << "the guest did not take the new connection";
    expect_negotiated(**port);
    const bool packed = GetParam().packed;
    const auto tx = vhost_vring_base(socket_, 1);
    ASSERT_TRUE(tx.has_value());
    EXPECT_EQ(tx->last_avail_idx, packed ? index_after(true, 0) : index_after(false, kFrames))
        << index_text(*tx);
    EXPECT_EQ(tx->used_idx, tx->last_avail_idx) << index_text(*tx);
    expect_round_trips(guest, 1, 5);
    drive(guest, 0, kGuestRingSize + 1, 17);
  });
}

// A 64 KB TCP super-frame sent with RTE_MBUF_F_TX_TCP_SEG (HOST_TSO4) comes back whole as an LRO
// frame (GUEST_TSO4) through OffloadReflectingEndpoint, with the MSS as its segment size.
TEST_P(VhostUserMergeableRingTest, TsoSuperFrameComesBackAsLro) {
  run_in_child([&] {
    auto eal = bring_up();
    ASSERT_TRUE(eal.has_value());
    OffloadReflectingEndpoint endpoint;
    auto options = port_options(1, VhostUserMode::kServer);
    options.guest_rx = {.checksum = true, .tso = true, .uso = true};
    auto port = VhostUserPort::create(options, endpoint);
    ASSERT_TRUE(port.has_value()) << port.error().message;
    Guest guest(socket_, guest_config({.lro_and_tso = true}));
    guest.plug();
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(wait_for([&] { return (*port)->running_queue_pairs() == 1; }));
    expect_negotiated(**port);

    // Ethernet + IPv4 + TCP, 64 KB in all.
    constexpr size_t kLen = 65000;
    constexpr uint16_t kMss = 1448;
    std::vector<uint8_t> frame = Guest::make_frame(kLen, 9);
    frame[12] = 0x08;
    frame[13] = 0x00;
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame.data() + 14);
    std::memset(ip, 0, sizeof(*ip));
    ip->version_ihl = 0x45;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(kLen - 14));
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_TCP;
    ip->src_addr = rte_cpu_to_be_32(0x0a000001);
    ip->dst_addr = rte_cpu_to_be_32(0x0a000002);
    auto* tcp = reinterpret_cast<rte_tcp_hdr*>(frame.data() + 34);
    std::memset(tcp, 0, sizeof(*tcp));
    tcp->src_port = rte_cpu_to_be_16(1234);
    tcp->dst_port = rte_cpu_to_be_16(80);
    tcp->data_off = 5 << 4;
    tcp->tcp_flags = RTE_TCP_ACK_FLAG;
    tcp->rx_win = rte_cpu_to_be_16(65535);

    rte_mbuf* rx = nullptr;
    auto back = guest.round_trip(
        0, frame, &rx, RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM, 14, 20,
        20, kMss);
    ASSERT_TRUE(back.has_value());
    ASSERT_NE(rx, nullptr);
    EXPECT_TRUE(rx->ol_flags & RTE_MBUF_F_RX_LRO) << "ol_flags " << std::hex << rx->ol_flags;
    EXPECT_EQ(rx->tso_segsz, kMss);
    rte_pktmbuf_free(rx);
    ASSERT_EQ(back->size(), frame.size());
    // The guest's TX prepare (virtio_tso_fix_cksum) filled in the IPv4 header checksum and the
    // TCP pseudo-header checksum; every other byte must come back as sent.
    std::vector<uint8_t> expected = frame;
    auto* expected_ip = reinterpret_cast<rte_ipv4_hdr*>(expected.data() + 14);
    expected_ip->hdr_checksum = rte_ipv4_cksum(expected_ip);
    std::memcpy(expected.data() + 34 + 16, back->data() + 34 + 16, 2);
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_EQ((*back)[i], expected[i]) << "first difference at byte " << i;
    }
  });
}

}  // namespace
}  // namespace pmdnet::vhost_user
