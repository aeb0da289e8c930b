// EthdevQueue's transmit half: guest TX copied into mbufs (small frames straight, others through
// a scratch buffer) with offloads done natively where the port has them (plan_tx_offloads) and in
// software (core/offload) otherwise, or handed to the port zero-copy (TxZeroCopy); completions
// synchronous, or through tx_poll on a zero-copy queue.
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "core/guest_memory/guest_memory.h"
#include "pmd_backends/ethdev_queue.h"

namespace pmdnet {
namespace {

constexpr size_t kMaxZeroCopyPieces = 4;  // guest buffers of a packet sent zero-copy

}  // namespace

QueueResult<TxAvailResult> EthdevQueue::tx_avail(BufferAccess& pool,
                                                 std::span<const TxSegment> segments) noexcept {
  const GuestMemory& mem = pool.guest_memory();
  size_t consumed = 0;
  std::span<const TxSegment> rest = segments;
  while (!rest.empty()) {
    if (zero_copy_ && !zero_copy_->has_room()) break;  // tx_poll makes room
    auto pkt = next_packet(rest);
    if (!pkt) {
      // A malformed list is a frontend bug, not a guest packet: fail the queue, after
      // reporting the good packets before it.
      if (consumed == 0) {
        flush();
        return make_queue_error(Errc::kMalformed, "malformed TX segment list");
      }
      break;
    }
    const Outcome sent = send_packet(mem, *pkt);
    if (sent == Outcome::kNoMbufs) break;  // retried on the next call
    // In zero-copy mode every packet completes through tx_poll, copied and dropped ones now.
    if (zero_copy_ && sent != Outcome::kSentZeroCopy) zero_copy_->complete(pkt->metadata->id);
    consumed += pkt->segments.size();
    rest = pkt->rest;
  }
  flush();
  return TxAvailResult{.completed_synchronously = !zero_copy_, .segments_consumed = consumed};
}

std::expected<size_t, TxError> EthdevQueue::tx_poll(BufferAccess&, std::span<TxId> done) noexcept {
  // Without zero copy every transmit completed synchronously in tx_avail.
  return zero_copy_ ? zero_copy_->poll(done) : 0;
}

inline EthdevQueue::Outcome EthdevQueue::drop(Counter& reason) noexcept {
  reason.increment();
  stats_.tx_errors_.increment();
  return Outcome::kDropped;
}

inline EthdevQueue::Outcome EthdevQueue::drop(offload::OffloadError e) noexcept {
  return drop(stats_.tx_offload_errors_[static_cast<size_t>(e)]);
}

inline rte_mbuf* EthdevQueue::take_mbuf() noexcept {
  if (cache_n_ == 0) {
    if (rte_pktmbuf_alloc_bulk(pool_, cache_.data(), kMbufCache) != 0) {
      return rte_pktmbuf_alloc(pool_);  // fewer than a bulk left
    }
    cache_n_ = kMbufCache;
  }
  return cache_[--cache_n_];
}

// Copies `a` then `b` into a new mbuf chain; nullptr when the pool runs dry.
inline rte_mbuf* EthdevQueue::build_chain(std::span<const uint8_t> a,
                                          std::span<const uint8_t> b) noexcept {
  rte_mbuf* head = take_mbuf();
  if (head == nullptr) return nullptr;
  rte_mbuf* cur = head;
  auto append = [&](std::span<const uint8_t> src) noexcept {
    while (!src.empty()) {
      if (cur->data_len == data_room_) {
        rte_mbuf* next = take_mbuf();
        if (next == nullptr) return false;
        cur->next = next;
        cur = next;
        head->nb_segs++;
      }
      const size_t n = std::min<size_t>(src.size(), data_room_ - cur->data_len);
      std::memcpy(rte_pktmbuf_mtod_offset(cur, uint8_t*, cur->data_len), src.data(), n);
      cur->data_len = static_cast<uint16_t>(cur->data_len + n);
      head->pkt_len += static_cast<uint32_t>(n);
      src = src.subspan(n);
    }
    return true;
  };
  if (!append(a) || !append(b)) {
    rte_pktmbuf_free(head);
    return nullptr;
  }
  return head;
}

// Copies the packet's segments out of guest memory to `dst`: through the mapping the frontend
// found (TxSegment::host), or a lookup of the guest address where it found none.
inline bool EthdevQueue::gather(const GuestMemory& mem, std::span<const TxSegment> segs,
                                uint8_t* dst) noexcept {
  size_t off = 0;
  for (const TxSegment& s : segs) {
    if (s.host != nullptr) {
      std::memcpy(dst + off, s.host, s.len);
    } else if (!mem.read_at(s.gpa, std::span<uint8_t>(dst + off, s.len))) {
      return false;
    }
    off += s.len;
  }
  return true;
}

// Prepends the 802.1Q tag into the head mbuf's headroom.
inline bool EthdevQueue::insert_vlan(rte_mbuf* head, VlanMetadata vlan) noexcept {
  const uint16_t first = head->data_len;
  const uint8_t* old = rte_pktmbuf_mtod(head, const uint8_t*);
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(head, offload::kVlanTagLen));
  if (p == nullptr) return false;
  if (!offload::insert_vlan(std::span(old, first), std::span(p, first + offload::kVlanTagLen),
                            vlan)) {
    rte_pktmbuf_adj(head, offload::kVlanTagLen);
    return false;
  }
  return true;
}

inline void EthdevQueue::set_offload_fields(rte_mbuf* m, const TxOffloadPlan& plan) noexcept {
  m->ol_flags |= plan.ol_flags;
  m->l2_len = plan.l2_len;
  m->l3_len = plan.l3_len;
  m->l4_len = plan.l4_len;
  m->tso_segsz = plan.tso_segsz;
  m->vlan_tci = plan.vlan_tci;
}

inline void EthdevQueue::enqueue(rte_mbuf* m) noexcept {
  tx_burst_[tx_n_++] = m;
  if (tx_n_ == kTxBurst) flush();
}

// Sends a plain packet (no offload, no VLAN) of at least zero_copy_min_ bytes as mbufs over
// its guest buffers. nullopt: not this way (it is copied instead).
inline std::optional<EthdevQueue::Outcome> EthdevQueue::send_zero_copy(
    const GuestMemory& mem, const TxPacket& pkt) noexcept {
  const TxMetadata& m = *pkt.metadata;
  constexpr uint8_t kOffloads = TxFlags::kOffloadIpHeaderChecksum | TxFlags::kOffloadTcpChecksum |
                                TxFlags::kOffloadUdpChecksum | TxFlags::kOffloadTcpSegmentation |
                                TxFlags::kOffloadUdpSegmentation;
  if (m.len < zero_copy_min_ || (m.flags.into_bits() & kOffloads) != 0 || m.vlan ||
      pkt.segments.size() > kMaxZeroCopyPieces || !zero_copy_->slot_free()) {
    return std::nullopt;
  }
  std::array<std::span<uint8_t>, kMaxZeroCopyPieces> pieces;
  for (size_t i = 0; i < pkt.segments.size(); ++i) {
    const TxSegment& s = pkt.segments[i];
    if (s.len > UINT16_MAX) return std::nullopt;  // longer than an mbuf's data_len
    uint8_t* host = s.host != nullptr ? s.host : mem.map(s.gpa, s.len);
    if (host == nullptr) return std::nullopt;  // across regions, or outside: the copy decides
    pieces[i] = std::span(host, s.len);
  }
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): filled below, one per segment
  std::array<rte_mbuf*, kMaxZeroCopyPieces> mbufs;
  for (size_t i = 0; i < pkt.segments.size(); ++i) {
    mbufs[i] = take_mbuf();
    if (mbufs[i] == nullptr) {
      for (size_t j = 0; j < i; ++j) rte_pktmbuf_free(mbufs[j]);
      return Outcome::kNoMbufs;
    }
  }
  const size_t n = pkt.segments.size();
  enqueue(zero_copy_->attach(m.id, std::span(mbufs).first(n), std::span(pieces).first(n)));
  stats_.tx_zero_copy_.increment();
  stats_.tx_packets_.increment();
  return Outcome::kSentZeroCopy;
}

inline EthdevQueue::Outcome EthdevQueue::send_packet(const GuestMemory& mem,
                                                     const TxPacket& pkt) noexcept {
  const TxMetadata& m = *pkt.metadata;
  if (segments_len(pkt.segments) != m.len) return drop(stats_.tx_length_mismatch_);
  if (m.len > kMaxTxFrame) return drop(stats_.tx_too_large_);
  if (zero_copy_) {
    if (auto sent = send_zero_copy(mem, pkt)) return *sent;
  }
  const auto plan = plan_tx_offloads(m, native_);
  if (!plan) return drop(plan.error());

  // Small frames go straight into one mbuf; others are gathered into the scratch buffer first.
  rte_mbuf* head = nullptr;
  std::span<uint8_t> frame;
  if (!plan->software_segmentation && m.len <= data_room_) {
    head = take_mbuf();
    if (head == nullptr) return Outcome::kNoMbufs;
    frame = std::span(rte_pktmbuf_mtod(head, uint8_t*), m.len);
    head->data_len = static_cast<uint16_t>(m.len);
    head->pkt_len = m.len;
  } else {
    frame = std::span(tx_scratch_.data(), m.len);
  }
  if (!gather(mem, pkt.segments, frame.data())) {
    if (head != nullptr) rte_pktmbuf_free(head);
    return drop(stats_.tx_guest_memory_);
  }
  constexpr uint8_t kChecksumFlags = TxFlags::kOffloadIpHeaderChecksum |
                                     TxFlags::kOffloadTcpChecksum | TxFlags::kOffloadUdpChecksum;
  if ((plan->software_checksums.flags.into_bits() & kChecksumFlags) != 0) {
    if (auto r = offload::apply_checksums(frame, plan->software_checksums); !r) {
      if (head != nullptr) rte_pktmbuf_free(head);
      return drop(r.error());
    }
    stats_.tx_sw_checksum_.increment();
  }

  if (plan->software_segmentation) {
    bool out_of_mbufs = false;
    uint32_t chains = 0;
    offload::SegmentOptions options;
    options.insert_vlan = plan->software_vlan;
    auto r = offload::segment(
        std::span<const uint8_t>(frame), m,
        [&](const offload::Segment& s) noexcept {
          rte_mbuf* c = build_chain(s.headers, s.payload);
          if (c == nullptr) {
            out_of_mbufs = true;
            return false;
          }
          set_offload_fields(c, *plan);
          enqueue(c);
          ++chains;
          return true;
        },
        options);
    stats_.tx_segments_.add(chains);
    if (!r) return out_of_mbufs ? drop(stats_.tx_no_mbufs_) : drop(r.error());
    (m.flags.offload_tcp_segmentation() ? stats_.tx_sw_tso_ : stats_.tx_sw_uso_).increment();
    if (plan->software_vlan) stats_.tx_sw_vlan_.increment();
  } else {
    if (head == nullptr) {
      head = build_chain(frame, {});
      if (head == nullptr) return drop(stats_.tx_no_mbufs_);
    }
    if (plan->software_vlan) {
      if (!insert_vlan(head, *m.vlan)) {
        rte_pktmbuf_free(head);
        return drop(offload::OffloadError::kFrameTooShort);
      }
      stats_.tx_sw_vlan_.increment();
    }
    set_offload_fields(head, *plan);
    enqueue(head);
  }
  stats_.tx_packets_.increment();
  if (m.vlan) stats_.tx_vlan_packets_.increment();
  return Outcome::kSent;
}

// Hands the pending mbufs to the port. Whatever rte_eth_tx_prepare refuses, or tx_burst does
// not take, is freed and counted: the guest's buffers were already copied and completed, and
// spinning on a full ring would stall the worker's other queues.
inline void EthdevQueue::flush() noexcept {
  uint16_t n = tx_n_;
  tx_n_ = 0;
  if (n == 0) return;
  uint16_t done = 0;
  while (done < n) {
    done += rte_eth_tx_prepare(port_, queue_, tx_burst_.data() + done, n - done);
    if (done < n) {
      rte_pktmbuf_free(tx_burst_[done]);
      stats_.tx_prepare_failed_.increment();
      stats_.tx_errors_.increment();
      std::copy(tx_burst_.begin() + done + 1, tx_burst_.begin() + n, tx_burst_.begin() + done);
      --n;
    }
  }
  const uint16_t sent = rte_eth_tx_burst(port_, queue_, tx_burst_.data(), n);
  for (uint16_t i = sent; i < n; ++i) {
    rte_pktmbuf_free(tx_burst_[i]);
    stats_.tx_ring_full_.increment();
    stats_.tx_errors_.increment();
  }
}

// Copied into an mbuf chain and sent at once, with the transmits already queued (none: tx_avail
// flushes before it returns).
bool EthdevQueue::tx_frame(BufferAccess&, std::span<const uint8_t> frame) noexcept {
  if (frame.size() > kMaxTxFrame) {  // never sendable: counted, and nothing to retry
    drop(stats_.tx_too_large_);
    return true;
  }
  rte_mbuf* m = build_chain(frame, {});
  if (m == nullptr) return false;  // the pool ran dry: the next pass tries again
  stats_.tx_packets_.increment();
  enqueue(m);
  flush();
  return true;
}

}  // namespace pmdnet
