// EthdevEndpoint: the core Endpoint over one DPDK ethdev port. It reads the port's capabilities,
// configures its queues (descriptors, mempools per NUMA socket, RSS, RX checksum validation, TX
// offloads), creates their EthdevQueues, and reports link-state changes from LSC interrupts or a
// polling timer.
#include <fmt/format.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/base/event_fd.h"
#include "core/base/timer_fd.h"
#include "pmd_backends/dpdk_resources.h"
#include "pmd_backends/ethdev.h"
#include "pmd_backends/ethdev_queue.h"
#include "pmd_backends/mbuf_offload.h"
#include "pmd_backends/rss.h"
#include "pmd_backends/tx_zero_copy.h"

namespace pmdnet {
namespace {

class EthdevEndpoint final : public Endpoint {
 public:
  EthdevEndpoint(EthdevSpec spec, EthPort port, const rte_eth_dev_info& info, EventFd lsc,
                 std::optional<TimerFd> link_timer)
      : spec_(std::move(spec)),
        port_(std::move(port)),
        info_(info),
        lsc_(std::move(lsc)),
        link_timer_(std::move(link_timer)) {
    if (spec_.hw_tx_offloads) native_ = native_tx_offloads(info_.tx_offload_capa);
    if (!spec_.hw_checksum) {
      native_.ipv4_checksum = native_.tcp_checksum = native_.udp_checksum = false;
      native_.tso = native_.uso = false;  // they imply the checksums
    }
    if (!spec_.hw_tso) native_.tso = false;
    if (!spec_.hw_uso) native_.uso = false;
    if (!spec_.hw_vlan) native_.vlan_insert = false;
  }

  ~EthdevEndpoint() override { unregister_lsc(); }

  std::string_view endpoint_type() const noexcept override { return "dpdk"; }

  Result<void> get_queues(std::span<const QueueConfig> config, const RssConfig* rss,
                          std::vector<std::unique_ptr<Queue>>& queues) override {
    if (configured_ && live_queues_ > 0) {
      return make_error(Errc::kState, fmt::format("ethdev {}: queues already created", name()));
    }
    // Every queue of the last call is gone (QEMU starts queue pairs one after the other, and a
    // guest reset or reconnect starts them again). The same queues as last time: the port keeps
    // running and new queues take over its rings, since stopping it takes the link down (a
    // physical port renegotiates; a tap leaves its bridge, which forgets what it learnt).
    QueueShape shape = QueueShape::of(config, rss);
    if (configured_ && shape == shape_) {
      make_queues(config, queues);
      return {};
    }
    // Otherwise reconfigure the stopped port. The old pools are kept until new queues have
    // replaced the old ones (the released rings' mbufs go back to them), even if this call fails
    // half-way; the new pools get new names.
    if (configured_) {
      port_.stop();
      unregister_lsc();
      for (Mempool& p : pools_) retired_pools_.push_back(std::move(p));
      pools_.clear();
      configured_ = false;
      ++generation_;
    }
    const size_t n = config.size();
    if (n == 0 || n > multiqueue_support().max_queues) {
      return make_error(Errc::kInvalidArgument,
                        fmt::format("ethdev {}: {} queues requested, the port supports 1 to {}",
                                    name(), n, multiqueue_support().max_queues));
    }
    const uint16_t port = port_.id();
    const auto nq = static_cast<uint16_t>(n);

    rte_eth_conf conf{};
    // Without an RssConfig from the frontend, the spec's (the operator's) settings apply.
    const bool from_spec = rss == nullptr;
    const RssConfig spec_rss{.key = spec_.rss_key, .indirection_table = spec_.rss_reta, .flags = 0};
    if (from_spec && (!spec_.rss_key.empty() || !spec_.rss_reta.empty())) rss = &spec_rss;
    const uint64_t wanted_hf =
        rss_hash_functions(from_spec && spec_.rss_hash_types.any()
                               ? spec_.rss_hash_types
                               : rss_hash_types_from_virtio(rss != nullptr ? rss->flags : 0));
    const uint64_t rss_hf = info_.flow_type_rss_offloads & wanted_hf;
    // RSS needs several queues and a port that hashes; otherwise everything lands on queue 0.
    const bool rss_on = n > 1 && rss_hf != 0;
    if (rss_on) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    }
    // Only what the port advertises may be requested, or rte_eth_dev_configure fails.
    conf.txmode.offloads = tx_offload_conf(native_) & info_.tx_offload_capa;
    if (spec_.hw_rx_checksum) {
      conf.rxmode.offloads |=
          info_.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM |
                                   RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
    }
    // Frames longer than one mbuf arrive as chains instead of being dropped (a jumbo MTU).
    conf.rxmode.offloads |= info_.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER;
    // No VLAN_STRIP or QINQ_STRIP: the guest needs its tags in the frame (virtio has no receive
    // VLAN metadata), and a stripped tag would only be put back (reinsert_tags).
    if (!link_timer_) {
      // The PMD raises LSC interrupts: DPDK's interrupt thread calls on_lsc.
      conf.intr_conf.lsc = 1;
      if (int ret = rte_eth_dev_callback_register(port, RTE_ETH_EVENT_INTR_LSC, &on_lsc, this);
          ret != 0) {
        return std::unexpected(port_.error("rte_eth_dev_callback_register(LSC)", ret));
      }
      lsc_registered_ = true;
    }
    if (int ret = rte_eth_dev_configure(port, nq, nq, &conf); ret != 0) {
      unregister_lsc();
      return std::unexpected(port_.error("rte_eth_dev_configure", ret));
    }
    uint16_t nb_rxd = spec_.rx_descriptors;
    uint16_t nb_txd = spec_.tx_descriptors;
    if (int ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd); ret != 0) {
      return std::unexpected(port_.error("rte_eth_dev_adjust_nb_rx_tx_desc", ret));
    }
    if (spec_.mtu != 0) {
      // Some vdevs (net_ring) have no mtu_set: their frames are not limited anyway.
      if (int ret = rte_eth_dev_set_mtu(port, spec_.mtu); ret != 0 && ret != -ENOTSUP) {
        return std::unexpected(port_.error(fmt::format("rte_eth_dev_set_mtu({})", spec_.mtu), ret));
      }
    }
    // The PMD's known limits (e.g. net_tap's TSO) at the MTU the port now has.
    uint16_t mtu = 0;
    (void)rte_eth_dev_get_mtu(port, &mtu);
    port_native_ = apply_pmd_quirks(native_, info_.driver_name, mtu);
    nb_rxd_ = nb_rxd;
    std::vector<Mempool> pools;
    for (uint16_t q = 0; q < nq; ++q) {
      int socket = config[q].numa_socket;
      if (socket < 0) socket = rte_eth_dev_socket_id(port);
      const unsigned dpdk_socket = socket < 0 ? SOCKET_ID_ANY : static_cast<unsigned>(socket);
      auto pool = Mempool::create(fmt::format("p{}q{}g{}", port, q, generation_),
                                  spec_.mempool_size, socket);
      if (!pool) {
        return make_error(pool.error().code,
                          fmt::format("ethdev {}: {}", name(), pool.error().message));
      }
      if (int ret = rte_eth_rx_queue_setup(port, q, nb_rxd, dpdk_socket, nullptr, pool->get());
          ret != 0) {
        return std::unexpected(port_.error(fmt::format("rte_eth_rx_queue_setup({})", q), ret));
      }
      if (int ret = rte_eth_tx_queue_setup(port, q, nb_txd, dpdk_socket, nullptr); ret != 0) {
        return std::unexpected(port_.error(fmt::format("rte_eth_tx_queue_setup({})", q), ret));
      }
      pools.push_back(std::move(*pool));
    }
    if (auto r = port_.start(); !r) return r;
    if (rss_on && rss != nullptr) {
      if (auto r = apply_rss(*rss, rss_hf, nq); !r) {
        port_.stop();
        return r;
      }
    }
    read_back_reta(rss_on);
    pools_ = std::move(pools);
    retired_pools_.clear();  // the old rings are gone: nothing refers to these any more
    make_queues(config, queues);
    shape_ = std::move(shape);
    configured_ = true;
    configurations_.fetch_add(1, std::memory_order_relaxed);  // read by telemetry
    lsc_.signal();  // the control loop looks at the link once now
    return {};
  }

  std::vector<uint16_t> indirection_table() const override {
    std::lock_guard lock(reta_mutex_);
    return reta_;
  }

  uint64_t configurations() const noexcept override {
    return configurations_.load(std::memory_order_relaxed);
  }

  void stop() override {
    unregister_lsc();
    port_.close();
    pools_.clear();
    retired_pools_.clear();
    configured_ = false;
  }

  int endpoint_action_fd() const noexcept override {
    return link_timer_ ? link_timer_->fd() : lsc_.fd();
  }

  std::optional<EndpointAction> poll_endpoint_action() override {
    if (link_timer_) {
      link_timer_->drain();
    } else {
      lsc_.drain();
    }
    if (!configured_) return std::nullopt;
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port_.id(), &link) != 0) return std::nullopt;
    const bool up = link.link_status == RTE_ETH_LINK_UP;
    if (up == link_up_) return std::nullopt;
    link_up_ = up;
    return EndpointAction::link_status_notify(up);
  }

  bool is_ordered() const noexcept override { return true; }

  TxOffloadSupport tx_offload_support() const noexcept override {
    // The software fallbacks make every offload available whatever the port.
    return TxOffloadSupport{
        .ipv4_header = true, .tcp = true, .udp = true, .tso = true, .uso = true};
  }

  RxOffloadSupport rx_offload_support() const noexcept override {
    // Checksums: each frame's RxMetadata carries what the port validated (Good), or nothing
    // (Unknown) where it did not, and with rx_gro the segments it merges are validated in
    // software. Coalesced TCP/IPv4 frames: with rx_gro, on queues whose frontend accepts them
    // (QueueConfig::accepts_coalesced_tcp4). Both are reported whatever the port and the spec: a
    // frontend that accepts them loses nothing when none come.
    return RxOffloadSupport{.checksum = true, .coalesced_tcp = true, .coalesced_udp = false};
  }

  MultiQueueSupport multiqueue_support() const noexcept override {
    const uint16_t hw = std::min(info_.max_rx_queues, info_.max_tx_queues);
    return MultiQueueSupport{.max_queues = std::max<uint16_t>(1, std::min(hw, spec_.max_queues)),
                             .indirection_table_size = info_.reta_size};
  }

  bool tx_fast_completions() const noexcept override { return true; }

  uint64_t link_speed() const noexcept override {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port_.id(), &link) != 0 ||
        link.link_speed == RTE_ETH_SPEED_NUM_NONE || link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN) {
      return kDefaultLinkSpeed;
    }
    return uint64_t{link.link_speed} * 1000 * 1000;
  }

 private:
  // What a configuration of the port depends on, of a get_queues call: equal shapes need no new
  // configuration.
  struct QueueShape {
    std::vector<int> sockets;  // per queue
    bool rss_given = false;
    std::vector<uint8_t> rss_key;
    std::vector<uint16_t> rss_table;
    uint32_t rss_flags = 0;

    static QueueShape of(std::span<const QueueConfig> config, const RssConfig* rss) {
      QueueShape s;
      for (const QueueConfig& c : config) s.sockets.push_back(c.numa_socket);
      if (rss != nullptr) {
        s.rss_given = true;
        s.rss_key.assign(rss->key.begin(), rss->key.end());
        s.rss_table.assign(rss->indirection_table.begin(), rss->indirection_table.end());
        s.rss_flags = rss->flags;
      }
      return s;
    }
    bool operator==(const QueueShape&) const = default;
  };

  // One EthdevQueue per configured queue, over the port's rings and pools.
  void make_queues(std::span<const QueueConfig> config,
                   std::vector<std::unique_ptr<Queue>>& queues) {
    const auto nq = static_cast<uint16_t>(config.size());  // at most max_queues (get_queues)
    for (uint16_t q = 0; q < nq; ++q) {
      const bool gro = spec_.rx_gro && config[q].accepts_coalesced_tcp4;
      std::unique_ptr<TxZeroCopy> zero_copy;
      if (spec_.tx_zero_copy && zero_copy_capable(info_.driver_name)) {
        // Those PMDs free within tx_burst: one burst in flight at most; room for a frontend
        // burst of completions besides.
        zero_copy = std::make_unique<TxZeroCopy>(kTxBurst, kTxBurst + 1024);
      }
      queues.push_back(std::make_unique<EthdevQueue>(
          port_.id(), q, pools_[q].get(), pools_[q].data_room(), port_native_, nb_rxd_, gro,
          std::move(zero_copy), spec_.tx_zero_copy_min, &live_queues_));
      ++live_queues_;
    }
  }

  const std::string& name() const noexcept { return port_.name(); }

  // DPDK's interrupt thread, on a link-state change: wake the control loop.
  static int on_lsc(uint16_t, rte_eth_event_type, void* arg, void*) {
    static_cast<EthdevEndpoint*>(arg)->lsc_.signal();
    return 0;
  }

  // After this returns on_lsc is not running and will not run again.
  void unregister_lsc() noexcept {
    if (!lsc_registered_) return;
    // -EAGAIN: the callback is running right now; it is short.
    while (rte_eth_dev_callback_unregister(port_.id(), RTE_ETH_EVENT_INTR_LSC, &on_lsc, this) ==
           -EAGAIN) {
      std::this_thread::yield();
    }
    lsc_registered_ = false;
  }

  // Keeps the indirection table the port now uses, as it answers (empty: no table, or no RSS).
  void read_back_reta(bool rss_on) {
    std::vector<uint16_t> table;
    const uint16_t size = info_.reta_size;
    if (rss_on && size > 0) {
      std::vector<rte_eth_rss_reta_entry64> reta((size + RTE_ETH_RETA_GROUP_SIZE - 1) /
                                                 RTE_ETH_RETA_GROUP_SIZE);
      for (auto& group : reta) group.mask = ~uint64_t{0};
      if (rte_eth_dev_rss_reta_query(port_.id(), reta.data(), size) == 0) {
        for (uint16_t i = 0; i < size; ++i) {
          table.push_back(reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE]);
        }
      }
    }
    std::lock_guard lock(reta_mutex_);
    reta_ = std::move(table);
  }

  // Key and indirection table; each is skipped where the port cannot take it (ENOTSUP, or a key
  // of another size than the port's).
  Result<void> apply_rss(const RssConfig& rss, uint64_t rss_hf, uint16_t nq) {
    const uint16_t port = port_.id();
    if (!rss.key.empty() && rss.key.size() == info_.hash_key_size) {
      std::vector<uint8_t> key(rss.key.begin(), rss.key.end());
      rte_eth_rss_conf rc{};
      rc.rss_key = key.data();
      rc.rss_key_len = static_cast<uint8_t>(key.size());
      rc.rss_hf = rss_hf;
      if (int ret = rte_eth_dev_rss_hash_update(port, &rc); ret != 0 && ret != -ENOTSUP) {
        return std::unexpected(port_.error("rte_eth_dev_rss_hash_update", ret));
      }
    }
    const uint16_t size = info_.reta_size;
    if (size == 0 || rss.indirection_table.empty()) return {};
    std::vector<rte_eth_rss_reta_entry64> reta((size + RTE_ETH_RETA_GROUP_SIZE - 1) /
                                               RTE_ETH_RETA_GROUP_SIZE);
    for (uint16_t i = 0; i < size; ++i) {
      auto& group = reta[i / RTE_ETH_RETA_GROUP_SIZE];
      group.mask |= uint64_t{1} << (i % RTE_ETH_RETA_GROUP_SIZE);
      group.reta[i % RTE_ETH_RETA_GROUP_SIZE] =
          static_cast<uint16_t>(rss.indirection_table[i % rss.indirection_table.size()] % nq);
    }
    if (int ret = rte_eth_dev_rss_reta_update(port, reta.data(), size);
        ret != 0 && ret != -ENOTSUP) {
      return std::unexpected(port_.error("rte_eth_dev_rss_reta_update", ret));
    }
    return {};
  }

  EthdevSpec spec_;
  std::vector<Mempool> pools_;          // destroyed after port_ (members die in reverse order)
  std::vector<Mempool> retired_pools_;  // a reconfiguration's old pools, until it succeeds
  EthPort port_;
  rte_eth_dev_info info_;
  NativeTxOffloads native_;
  EventFd lsc_;                        // signalled by on_lsc (and once by get_queues)
  std::optional<TimerFd> link_timer_;  // set when the PMD has no LSC interrupt
  bool lsc_registered_ = false;
  bool link_up_ = false;  // as last reported
  bool configured_ = false;
  size_t live_queues_ = 0;        // EthdevQueues of the last get_queues not yet destroyed
  uint32_t generation_ = 0;       // reconfigurations so far: part of the pools' names
  QueueShape shape_;              // of the configuration the port runs
  NativeTxOffloads port_native_;  // what the port does itself, at its MTU
  uint16_t nb_rxd_ = 0;           // receive descriptors per queue, as the PMD adjusted them
  std::atomic<uint64_t> configurations_{0};
  mutable std::mutex reta_mutex_;  // reta_ is read by telemetry
  std::vector<uint16_t> reta_;
};

}  // namespace

Result<std::unique_ptr<Endpoint>> make_ethdev_endpoint(const EthdevSpec& spec) {
  auto port = EthPort::open(spec.device);
  if (!port) return std::unexpected(port.error());
  rte_eth_dev_info info{};
  if (int ret = rte_eth_dev_info_get(port->id(), &info); ret != 0) {
    return std::unexpected(port->error("rte_eth_dev_info_get", ret));
  }
  if (!spec.rss_reta.empty() &&
      (info.reta_size == 0 || info.reta_size % spec.rss_reta.size() != 0)) {
    return make_error(
        Errc::kInvalidArgument,
        info.reta_size == 0
            ? fmt::format("ethdev {}: backend.rss.reta is set, but the port has no RSS "
                          "indirection table",
                          spec.device)
            : fmt::format("ethdev {}: backend.rss.reta has {} entries, which does not divide "
                          "the port's {}-entry indirection table",
                          spec.device, spec.rss_reta.size(), info.reta_size));
  }
  auto lsc = EventFd::create();
  if (!lsc) return std::unexpected(lsc.error());
  std::optional<TimerFd> timer;
  // dev_flags points into the ethdev's data: read it before anything can free the port.
  if (info.dev_flags == nullptr || (*info.dev_flags & RTE_ETH_DEV_INTR_LSC) == 0) {
    auto t = TimerFd::create(spec.link_poll_ms);
    if (!t) return std::unexpected(t.error());
    timer = std::move(*t);
  }
  return std::make_unique<EthdevEndpoint>(spec, std::move(*port), info, std::move(*lsc),
                                          std::move(timer));
}

}  // namespace pmdnet
