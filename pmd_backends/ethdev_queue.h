// EthdevQueue: the core Queue over one RX/TX queue pair of a DPDK ethdev port, as EthdevEndpoint
// creates it. Private to pmd_backends (ethdev.h is the public header): ethdev_rx.cc implements
// the receive half, ethdev_tx.cc the transmit half, ethdev_queue.cc what is neither. No DPDK
// header here: the rte types it holds are pointers to forward-declared structs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "core/base/counter.h"
#include "core/base/ring.h"
#include "core/net_backend/packet.h"
#include "core/net_backend/queue.h"
#include "core/offload/soft_offload.h"
#include "pmd_backends/ethdev.h"
#include "pmd_backends/mbuf_offload.h"
#include "pmd_backends/tx_zero_copy.h"

struct rte_mbuf;
struct rte_mempool;

namespace pmdnet {

class GuestMemory;

inline constexpr uint16_t kRxBurst = 32;
inline constexpr uint16_t kTxBurst = 64;
inline constexpr uint32_t kMbufCache = 64;

class EthdevQueue final : public Queue {
 public:
  // `pool` (whose mbufs hold `data_room` bytes) backs this queue's TX mbufs and its port RX queue;
  // `native` is what the port offloads; `gro` merges received TCP/IPv4 segments; `zero_copy`
  // (null: every transmit is copied) sends plain frames of `zero_copy_min` bytes and more over
  // guest memory. `live` is the endpoint's count of its queues alive: the destructor decrements it.
  EthdevQueue(uint16_t port, uint16_t queue, rte_mempool* pool, uint16_t data_room,
              NativeTxOffloads native, size_t rx_descriptors, bool gro,
              std::unique_ptr<TxZeroCopy> zero_copy, uint32_t zero_copy_min, size_t* live)
      : live_(live),
        port_(port),
        queue_(queue),
        pool_(pool),
        data_room_(data_room),
        native_(native),
        gro_(gro),
        zero_copy_(std::move(zero_copy)),
        zero_copy_min_(zero_copy_min),
        posted_(rx_descriptors + kRxBurst),
        tx_scratch_(kMaxTxFrame),
        rx_scratch_(kMaxTxFrame) {
    rx_pieces_.reserve(size_t{4} * kRxBurst);
  }

  ~EthdevQueue() override;

  bool poll_ready(BufferAccess&) noexcept override {
    // A PMD has no cheap "anything received?" (rx_queue_count is optional and costs a descriptor
    // walk): a queue with buffers posted is always worth an rx_poll.
    return !posted_.empty() || (zero_copy_ && zero_copy_->pending() > 0);
  }

  // ethdev_rx.cc
  void rx_avail(BufferAccess&, std::span<const RxId> done) noexcept override;
  QueueResult<size_t> rx_poll(BufferAccess& pool, std::span<RxId> packets) noexcept override;

  // ethdev_tx.cc
  QueueResult<TxAvailResult> tx_avail(BufferAccess& pool,
                                      std::span<const TxSegment> segments) noexcept override;
  std::expected<size_t, TxError> tx_poll(BufferAccess&, std::span<TxId> done) noexcept override;
  bool tx_frame(BufferAccess&, std::span<const uint8_t> frame) noexcept override;

  const BackendQueueStats* queue_stats() const noexcept override { return &stats_; }

 private:
  size_t* live_;  // the endpoint's count of its queues alive
  enum class Outcome { kSent, kSentZeroCopy, kDropped, kNoMbufs };

  // Receive (ethdev_rx.cc, inline: defined there, and called nowhere else).
  static inline RxMetadata metadata(const rte_mbuf* m) noexcept;
  inline void reinsert_tags(rte_mbuf* m) noexcept;
  inline void reinsert_stripped_tags(rte_mbuf* m) noexcept;
  inline void add_frame(const rte_mbuf* m, const RxMetadata& md) noexcept;
  void add_segments(size_t k, const rte_mbuf* m) noexcept;
  size_t write_frames(BufferAccess& pool, std::span<RxId> packets, size_t out) noexcept;
  inline size_t deliver_with_tags(BufferAccess& pool, const rte_mbuf* m, RxMetadata md,
                                  std::span<RxId> packets, size_t out) noexcept;
  inline bool too_large(BufferAccess& pool, RxId id, uint32_t len) noexcept;
  inline size_t delivered(RxId id, std::span<RxId> packets, size_t out) noexcept;
  inline bool gro_candidate(rte_mbuf* m) noexcept;
  inline size_t deliver_coalesced(BufferAccess& pool, std::span<rte_mbuf*> burst,
                                  std::span<RxId> packets, size_t out) noexcept;

  // Transmit (ethdev_tx.cc, inline: defined there, and called nowhere else). always_inline keeps
  // tx_avail's per-packet path one function: GCC inlines a large function called once only
  // when it is local to its file, which a member of a class in a header is not.
  inline Outcome drop(Counter& reason) noexcept;
  inline Outcome drop(offload::OffloadError e) noexcept;
  inline rte_mbuf* take_mbuf() noexcept;
  [[gnu::always_inline]] inline rte_mbuf* build_chain(std::span<const uint8_t> a,
                                                      std::span<const uint8_t> b) noexcept;
  static inline bool gather(const GuestMemory& mem, std::span<const TxSegment> segs,
                            uint8_t* dst) noexcept;
  static inline bool insert_vlan(rte_mbuf* head, VlanMetadata vlan) noexcept;
  static inline void set_offload_fields(rte_mbuf* m, const TxOffloadPlan& plan) noexcept;
  inline void enqueue(rte_mbuf* m) noexcept;
  [[gnu::always_inline]] inline std::optional<Outcome> send_zero_copy(const GuestMemory& mem,
                                                                      const TxPacket& pkt) noexcept;
  [[gnu::always_inline]] inline Outcome send_packet(const GuestMemory& mem,
                                                    const TxPacket& pkt) noexcept;
  inline void flush() noexcept;

  const uint16_t port_;
  const uint16_t queue_;
  rte_mempool* const pool_;
  const uint16_t data_room_;
  const NativeTxOffloads native_;
  const bool gro_;
  std::unique_ptr<TxZeroCopy> zero_copy_;  // null: every transmit is copied
  const uint32_t zero_copy_min_;
  Ring<RxId> posted_;  // posted by rx_avail, filled in order
  std::vector<uint8_t> tx_scratch_;
  std::vector<uint8_t> rx_scratch_;
  // The frames of one receive burst, queued by add_frame for write_frames: rx_burst_ is what
  // write_packets gets. A frame of one segment is one piece in rx_single_ (at its own index); an
  // mbuf chain's pieces are in rx_pieces_, from the first_piece of its rx_chained_ entry.
  struct ChainedFrame {
    uint16_t frame;
    uint32_t first_piece;
  };
  std::array<RxFrame, kRxBurst> rx_burst_{};
  size_t rx_frame_count_ = 0;
  std::array<std::span<const uint8_t>, kRxBurst> rx_single_{};
  std::array<ChainedFrame, kRxBurst> rx_chained_{};
  size_t rx_chained_count_ = 0;
  std::vector<std::span<const uint8_t>> rx_pieces_;
  std::array<rte_mbuf*, kMbufCache> cache_{};
  uint32_t cache_n_ = 0;
  std::array<rte_mbuf*, kTxBurst> tx_burst_{};
  uint16_t tx_n_ = 0;
  EthdevQueueStats stats_;
};

}  // namespace pmdnet
