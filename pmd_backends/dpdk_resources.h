// Move-only owners of DPDK resources, with errors as Results carrying DPDK's reason and the
// resource's name: a packet mbuf pool (Mempool) and a configured ethdev port (EthPort). DPDK types
// are only forward-declared here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/result.h"

struct rte_mempool;

namespace pmdnet {

// An rte_pktmbuf pool; freed (rte_mempool_free) on destruction. Every mbuf must be back first.
class Mempool {
 public:
  // rte_pktmbuf_pool_create with a unique name derived from `tag`, `size` mbufs of
  // RTE_MBUF_DEFAULT_BUF_SIZE on `socket` (-1: any).
  static Result<Mempool> create(std::string_view tag, uint32_t size, int socket);

  Mempool(Mempool&& other) noexcept : pool_(other.pool_) { other.pool_ = nullptr; }
  Mempool& operator=(Mempool&& other) noexcept;
  Mempool(const Mempool&) = delete;
  Mempool& operator=(const Mempool&) = delete;
  ~Mempool();

  rte_mempool* get() const noexcept { return pool_; }
  // Bytes of packet data one mbuf holds.
  uint16_t data_room() const noexcept;

 private:
  explicit Mempool(rte_mempool* pool) noexcept : pool_(pool) {}
  rte_mempool* pool_ = nullptr;
};

// A port this process configures: start/stop/close with DPDK's reasons. Destruction stops and
// closes it if still open.
class EthPort {
 public:
  // Finds the port named `device` (the part before any ',' of a devargs string), probing it
  // with rte_dev_probe when no port has that name yet.
  static Result<EthPort> open(std::string_view device);

  EthPort(EthPort&& other) noexcept;
  EthPort& operator=(EthPort&& other) noexcept;
  EthPort(const EthPort&) = delete;
  EthPort& operator=(const EthPort&) = delete;
  ~EthPort();

  uint16_t id() const noexcept { return port_; }
  const std::string& name() const noexcept { return name_; }

  Result<void> start();
  void stop() noexcept;
  // Stops and closes the port and removes its device from the bus (rte_dev_remove).
  void close() noexcept;

  // "ethdev <name>: <what> failed: <rte_strerror(-ret)>", as a kDevice error.
  Error error(std::string_view what, int ret) const;

 private:
  EthPort(uint16_t port, std::string name) noexcept : port_(port), name_(std::move(name)) {}
  void reset() noexcept;

  static constexpr uint16_t kNoPort = 0xffff;
  uint16_t port_ = kNoPort;
  std::string name_;
  bool started_ = false;
};

}  // namespace pmdnet
