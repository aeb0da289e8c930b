// Mempool and EthPort: RAII over rte_pktmbuf_pool_create and an ethdev port's lifecycle.
#include "pmd_backends/dpdk_resources.h"

#include <fmt/format.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <atomic>
#include <utility>

namespace pmdnet {

Result<Mempool> Mempool::create(std::string_view tag, uint32_t size, int socket) {
  static std::atomic<uint32_t> serial{0};
  // RTE_MEMPOOL_NAMESIZE is small (29 with the "MP_" prefix): keep the tag short.
  const std::string name = fmt::format("pmdnet-{}-{}", tag.substr(0, 12),
                                       serial.fetch_add(1, std::memory_order_relaxed));
  const unsigned cache = size >= 1024 ? 256 : 0;  // a cache must be at most size / 1.5
  rte_mempool* pool = rte_pktmbuf_pool_create(
      name.c_str(), size, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket < 0 ? SOCKET_ID_ANY : socket);
  if (pool == nullptr) {
    const int err = rte_errno;
    return make_error(Errc::kResource,
                      fmt::format("mempool {} ({} mbufs, socket {}): rte_pktmbuf_pool_create "
                                  "failed: {}",
                                  name, size, socket, rte_strerror(err)));
  }
  return Mempool(pool);
}

Mempool& Mempool::operator=(Mempool&& other) noexcept {
  if (this != &other) {
    if (pool_ != nullptr) rte_mempool_free(pool_);
    pool_ = std::exchange(other.pool_, nullptr);
  }
  return *this;
}

Mempool::~Mempool() {
  if (pool_ != nullptr) rte_mempool_free(pool_);
}

uint16_t Mempool::data_room() const noexcept {
  return static_cast<uint16_t>(rte_pktmbuf_data_room_size(pool_) - RTE_PKTMBUF_HEADROOM);
}

Result<EthPort> EthPort::open(std::string_view device) {
  const std::string devargs(device);
  const std::string name(device.substr(0, device.find(',')));
  if (name.empty()) return make_error(Errc::kInvalidArgument, "ethdev: empty device name");
  uint16_t port = kNoPort;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &port) != 0) {
    const int ret = rte_dev_probe(devargs.c_str());
    if (ret != 0) {
      return make_error(Errc::kDevice, fmt::format("ethdev {}: rte_dev_probe(\"{}\") failed: {}",
                                                   name, devargs, rte_strerror(-ret)));
    }
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port) != 0) {
      return make_error(Errc::kDevice,
                        fmt::format("ethdev {}: probed, but no ethdev port has that name", name));
    }
  }
  return EthPort(port, name);
}

EthPort::EthPort(EthPort&& other) noexcept
    : port_(std::exchange(other.port_, kNoPort)),
      name_(std::move(other.name_)),
      started_(std::exchange(other.started_, false)) {}

EthPort& EthPort::operator=(EthPort&& other) noexcept {
  if (this != &other) {
    reset();
    port_ = std::exchange(other.port_, kNoPort);
    name_ = std::move(other.name_);
    started_ = std::exchange(other.started_, false);
  }
  return *this;
}

EthPort::~EthPort() { reset(); }

void EthPort::reset() noexcept { close(); }

Result<void> EthPort::start() {
  const int ret = rte_eth_dev_start(port_);
  if (ret != 0) return std::unexpected(error("rte_eth_dev_start", ret));
  started_ = true;
  return {};
}

void EthPort::stop() noexcept {
  if (port_ != kNoPort && started_) {
    (void)rte_eth_dev_stop(port_);
    started_ = false;
  }
}

void EthPort::close() noexcept {
  if (port_ == kNoPort) return;
  stop();
  rte_eth_dev_info info{};
  const bool have_device = rte_eth_dev_info_get(port_, &info) == 0 && info.device != nullptr;
  (void)rte_eth_dev_close(port_);
  // Detach the device from its bus too, so that opening the same device again (a port removed
  // and re-added on reload) probes it afresh instead of finding it "already probed".
  if (have_device) (void)rte_dev_remove(info.device);
  port_ = kNoPort;
}

Error EthPort::error(std::string_view what, int ret) const {
  return Error{Errc::kDevice, fmt::format("ethdev {} (port {}): {} failed: {}", name_, port_, what,
                                          rte_strerror(ret < 0 ? -ret : ret))};
}

}  // namespace pmdnet
