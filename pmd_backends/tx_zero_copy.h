// TxZeroCopy: guest transmits handed to a port as mbufs whose data is the guest's own buffers
// (DPDK external buffers), and the completions their release produces, for EthdevQueue::tx_poll.
//
// Each packet takes a slot holding an rte_mbuf_ext_shared_info whose reference count is the
// number of mbufs over the packet's buffers; when the PMD frees the last of them, DPDK calls the
// slot's free callback, which queues the packet's TxId. Packets the queue copies or drops instead
// are queued by complete(), so in zero-copy mode every consumed packet completes through poll().
//
// Only safe on ports whose PMD is done with an mbuf's data when rte_eth_tx_burst returns and does
// no DMA (see zero_copy_capable): guest memory is not DMA-mapped, and a queue is destroyed while
// the guest memory it read is still mapped. Single-threaded: the callback runs on the thread
// that frees the mbuf, which for those PMDs is the queue's worker inside rte_eth_tx_burst.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/base/ring.h"
#include "core/net_backend/packet.h"

struct rte_mbuf;

namespace pmdnet {

// Whether the PMD named `driver_name` (rte_eth_dev_info::driver_name) releases every mbuf it is
// given within rte_eth_tx_burst, reading its data with the CPU: net_null (frees), net_tap
// (writev, then frees) and net_af_packet (copies into its ring, then frees).
bool zero_copy_capable(std::string_view driver_name) noexcept;

class TxZeroCopy {
 public:
  // At most `max_in_flight` packets sent zero-copy and not yet freed, and `max_done` completions
  // waiting for poll().
  TxZeroCopy(size_t max_in_flight, size_t max_done);
  ~TxZeroCopy();
  TxZeroCopy(const TxZeroCopy&) = delete;  // the slots' addresses are in mbufs
  TxZeroCopy& operator=(const TxZeroCopy&) = delete;

  // Whether one more packet can be consumed: its completion is sure to have room.
  bool has_room() const noexcept { return done_.size() + in_flight_ < max_done_; }

  // Turns `mbufs` (fresh from the pool, one per piece) into a chain over `pieces`, the host
  // mappings of the packet's buffers, in order, and returns its head. `id` completes when every
  // one of them has been freed. Preconditions: has_room(), a free slot (slot_free()), each piece
  // at most UINT16_MAX bytes, mbufs.size() == pieces.size() > 0.
  rte_mbuf* attach(TxId id, std::span<rte_mbuf* const> mbufs,
                   std::span<const std::span<uint8_t>> pieces) noexcept;
  bool slot_free() const noexcept { return !free_.empty(); }

  // Completes `id` now (a packet the queue copied or dropped). Precondition: has_room().
  void complete(TxId id) noexcept { done_.push_back(id); }

  // Moves up to out.size() completions into `out`; returns how many.
  size_t poll(std::span<TxId> out) noexcept;

  size_t in_flight() const noexcept { return in_flight_; }
  size_t pending() const noexcept { return done_.size(); }

 private:
  // A packet's rte_mbuf_ext_shared_info and what its free callback needs (defined in the .cc,
  // the only place that touches a slot).
  struct Slot;
  static void on_free(void* addr, void* opaque) noexcept;

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;  // indexes of free slots
  Ring<TxId> done_;
  size_t max_done_;
  size_t in_flight_ = 0;
};

}  // namespace pmdnet
