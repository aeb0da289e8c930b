// EthdevEndpoint and EthdevQueue: the core Endpoint/Queue over a DPDK ethdev port. Guest TX is
// copied into mbufs (completing synchronously) with offloads done natively where the port has
// them and in software (core/offload) otherwise, or on ports that allow it handed over zero-copy
// (completing through tx_poll); NIC RX is copied into the guest's posted buffers.
#include "pmd_backends/ethdev.h"

#include <fmt/format.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_gro.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_net.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/base/event_fd.h"
#include "core/base/ring.h"
#include "core/guest_memory/guest_memory.h"
#include "pmd_backends/dpdk_resources.h"
#include "pmd_backends/mbuf_offload.h"
#include "pmd_backends/tx_zero_copy.h"

namespace pmdnet {
namespace {

constexpr uint16_t kRxBurst = 32;
constexpr uint16_t kTxBurst = 64;
constexpr uint32_t kMbufCache = 64;
constexpr size_t kMaxZeroCopyPieces = 4;               // guest buffers of a packet sent zero-copy
constexpr uint32_t kMacsLen = 2 * RTE_ETHER_ADDR_LEN;  // the tags go back after these
// The flags of an mbuf whose tags the PMD took out of the frame (into vlan_tci, vlan_tci_outer).
constexpr uint64_t kStrippedTags = RTE_MBUF_F_RX_VLAN_STRIPPED | RTE_MBUF_F_RX_QINQ_STRIPPED;

// The tags a PMD stripped from an mbuf, in the order they go back after the MAC addresses.
struct StrippedTags {
  std::array<uint8_t, 2 * offload::kVlanTagLen> bytes{};
  uint8_t len = 0;
};

// QINQ_STRIPPED: the outer tag was stripped (vlan_tci_outer); VLAN_STRIPPED as well: the inner
// one too (vlan_tci). VLAN_STRIPPED alone: the one 802.1Q tag (vlan_tci).
StrippedTags stripped_tags(const rte_mbuf* m) noexcept {
  StrippedTags t;
  auto put = [&t](uint16_t tpid, uint16_t tci) noexcept {
    t.bytes[t.len + 0] = static_cast<uint8_t>(tpid >> 8);
    t.bytes[t.len + 1] = static_cast<uint8_t>(tpid);
    t.bytes[t.len + 2] = static_cast<uint8_t>(tci >> 8);
    t.bytes[t.len + 3] = static_cast<uint8_t>(tci);
    t.len += offload::kVlanTagLen;
  };
  // The mbuf does not say which outer TPID the NIC matched: 802.1ad's goes back.
  if (m->ol_flags & RTE_MBUF_F_RX_QINQ_STRIPPED) put(RTE_ETHER_TYPE_QINQ, m->vlan_tci_outer);
  if (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) put(RTE_ETHER_TYPE_VLAN, m->vlan_tci);
  return t;
}

// Copies `len` bytes of `m` from `off` to `dst` (rte_pktmbuf_read copies only across segments).
void copy_out(const rte_mbuf* m, uint32_t off, uint32_t len, uint8_t* dst) noexcept {
  if (len == 0) return;
  const void* p = rte_pktmbuf_read(m, off, len, dst);
  if (p != nullptr && p != dst) std::memcpy(dst, p, len);
}

class EthdevQueue final : public Queue {
 public:
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
        rx_scratch_(kMaxTxFrame) {}

  ~EthdevQueue() override {
    if (cache_n_ > 0) rte_pktmbuf_free_bulk(cache_.data(), cache_n_);
    if (zero_copy_ && zero_copy_->in_flight() > 0) {
      // Not reached with the PMDs zero_copy_capable() names, which free inside tx_burst. Should
      // one keep mbufs, their free callbacks must still find their slots: leak those.
      (void)rte_eth_tx_done_cleanup(port_, queue_, 0);
      if (zero_copy_->in_flight() > 0) (void)zero_copy_.release();
    }
    --*live_;  // the endpoint outlives its queues (Endpoint lifecycle)
  }

  bool poll_ready(BufferAccess&) noexcept override {
    // A PMD has no cheap "anything received?" (rx_queue_count is optional and costs a descriptor
    // walk): a queue with buffers posted is always worth an rx_poll.
    return posted_.size() > 0 || (zero_copy_ && zero_copy_->pending() > 0);
  }

  void rx_avail(BufferAccess&, std::span<const RxId> done) noexcept override {
    for (RxId id : done) posted_.push_back(id);
  }

  QueueResult<size_t> rx_poll(BufferAccess& pool, std::span<RxId> packets) noexcept override {
    size_t out = 0;
    // One call takes at most packets.size() mbufs from the NIC, delivered or dropped: a guest
    // whose buffers are too small for every frame must not hold the worker while the NIC has
    // frames. Each delivered frame took at least one mbuf, so `out` stays within `packets`.
    size_t taken = 0;
    std::array<rte_mbuf*, kRxBurst> mbufs;
    while (taken < packets.size() && posted_.size() > 0) {
      // Never take more from the NIC than there are guest buffers: the rest waits in its ring.
      const auto want = static_cast<uint16_t>(
          std::min({size_t{kRxBurst}, packets.size() - taken, posted_.size()}));
      const uint16_t got = rte_eth_rx_burst(port_, queue_, mbufs.data(), want);
      taken += got;
      if (gro_) {
        out = deliver_coalesced(pool, std::span(mbufs.data(), got), packets, out);
      } else {
        for (uint16_t i = 0; i < got; ++i) {
          reinsert_tags(mbufs[i]);
          out = deliver(pool, mbufs[i], metadata(mbufs[i]), packets, out);
        }
        if (got != 0) rte_pktmbuf_free_bulk(mbufs.data(), got);
      }
      if (got < want) break;
    }
    return out;
  }

  QueueResult<TxAvailResult> tx_avail(BufferAccess& pool,
                                      std::span<const TxSegment> segments) noexcept override {
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

  std::expected<size_t, TxError> tx_poll(BufferAccess&, std::span<TxId> done) noexcept override {
    // Without zero copy every transmit completed synchronously in tx_avail.
    return zero_copy_ ? zero_copy_->poll(done) : 0;
  }

  const BackendQueueStats* queue_stats() const noexcept override { return &stats_; }

 private:
  size_t* live_;  // the endpoint's count of its queues alive
  enum class Outcome { kSent, kSentZeroCopy, kDropped, kNoMbufs };

  static RxMetadata metadata(const rte_mbuf* m) noexcept {
    return rx_metadata_from_mbuf(m->ol_flags, m->packet_type, m->vlan_tci, m->pkt_len);
  }

  // Puts the tags the PMD stripped from `m` (if any) back into its first segment: into the
  // headroom, the MAC addresses moved to the front, the STRIPPED flags cleared. Where the first
  // segment cannot take them (data another mbuf may share, too little headroom, fewer than the
  // MAC addresses' 12 bytes) the flags stay and deliver() puts the tags in as it copies the frame.
  void reinsert_tags(rte_mbuf* m) noexcept {
    // A PMD may strip tags though the port was not asked to: the guest needs them back.
    if ((m->ol_flags & kStrippedTags) != 0) reinsert_stripped_tags(m);
  }

  // reinsert_tags() for an mbuf that has them (cold: kept out of the per-packet path).
  [[gnu::cold]] void reinsert_stripped_tags(rte_mbuf* m) noexcept {
    const StrippedTags t = stripped_tags(m);
    if (!RTE_MBUF_DIRECT(m) || rte_mbuf_refcnt_read(m) != 1 || m->data_len < kMacsLen ||
        rte_pktmbuf_headroom(m) < t.len) {
      return;
    }
    const uint8_t* old = rte_pktmbuf_mtod(m, const uint8_t*);
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, t.len));
    std::memmove(p, old, kMacsLen);
    std::memcpy(p + kMacsLen, t.bytes.data(), t.len);
    m->ol_flags &= ~kStrippedTags;
    stats_.rx_vlan_reinserted_.increment();
  }

  // Copies `m` into the next posted guest buffer (the caller frees it); returns `out` plus one if
  // it was delivered (its RxId stored at packets[out]).
  size_t deliver(BufferAccess& pool, rte_mbuf* m, const RxMetadata& md, std::span<RxId> packets,
                 size_t out) noexcept {
    if ((m->ol_flags & kStrippedTags) != 0) return deliver_with_tags(pool, m, md, packets, out);
    const uint32_t len = rte_pktmbuf_pkt_len(m);
    const RxId id = posted_.front();
    if (too_large(pool, id, len)) return out;
    const auto* data =
        len == 0 ? nullptr
                 : static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, rx_scratch_.data()));
    pool.write_packet(id, md, std::span<const uint8_t>(data, data == nullptr ? 0 : len));
    if (md.vlan) stats_.rx_vlan_packets_.increment();
    return delivered(id, packets, out);
  }

  // deliver() for an mbuf whose tags reinsert_tags could not put back: they go in after the MAC
  // addresses as the frame is copied (through rx_scratch_), and the metadata carries no VLAN.
  [[gnu::cold]] size_t deliver_with_tags(BufferAccess& pool, const rte_mbuf* m, RxMetadata md,
                                         std::span<RxId> packets, size_t out) noexcept {
    const StrippedTags tags = stripped_tags(m);
    const uint32_t frame = rte_pktmbuf_pkt_len(m);
    const uint32_t len = frame + tags.len;
    const RxId id = posted_.front();
    if (too_large(pool, id, len)) return out;
    uint8_t* dst = rx_scratch_.data();
    const uint32_t macs = std::min(frame, kMacsLen);
    copy_out(m, 0, macs, dst);
    std::memcpy(dst + macs, tags.bytes.data(), tags.len);
    copy_out(m, macs, frame - macs, dst + macs + tags.len);
    md.len = len;
    md.vlan.reset();
    pool.write_packet(id, md, std::span<const uint8_t>(dst, len));
    stats_.rx_vlan_reinserted_.increment();
    return delivered(id, packets, out);
  }

  // Whether a frame of `len` bytes is too long for buffer `id` (counted; the buffer stays posted
  // for the next packet). If not, rx_scratch_ can hold it.
  bool too_large(BufferAccess& pool, RxId id, uint32_t len) noexcept {
    if (pool.capacity(id) < len) {
      stats_.rx_too_large_.increment();
      stats_.rx_errors_.increment();
      return true;
    }
    if (rx_scratch_.size() < len) rx_scratch_.resize(len);  // chains beyond kMaxTxFrame: rare
    return false;
  }

  // Buffer `id`, the next posted one, now holds a packet: stored at packets[out].
  size_t delivered(RxId id, std::span<RxId> packets, size_t out) noexcept {
    stats_.rx_packets_.increment();
    posted_.pop_front();
    packets[out] = id;
    return out + 1;
  }

  // Whether `m` may be merged: untagged TCP/IPv4 (not a fragment) whose IPv4 and TCP checksums
  // are good, checked here when the port did not. Sets packet_type and l2/l3/l4_len for rte_gro,
  // and tso_segsz to the TCP payload length (rte_gro keeps the first segment's in a merged frame).
  bool gro_candidate(rte_mbuf* m) noexcept {
    // rte_gro's TCP/IPv4 flow key has no VLAN: the same flow on two VLANs would merge. So a frame
    // with a tag in it, or one still stripped from it, is delivered as it is.
    if ((m->ol_flags & kStrippedTags) != 0) return false;
    rte_net_hdr_lens hl{};
    const uint32_t ptype =
        rte_net_get_ptype(m, &hl, RTE_PTYPE_L2_MASK | RTE_PTYPE_L3_MASK | RTE_PTYPE_L4_MASK);
    if ((ptype & RTE_PTYPE_L2_MASK) != RTE_PTYPE_L2_ETHER || !RTE_ETH_IS_IPV4_HDR(ptype) ||
        (ptype & RTE_PTYPE_L4_MASK) != RTE_PTYPE_L4_TCP) {
      return false;
    }
    const uint32_t headers = hl.l2_len + hl.l3_len + hl.l4_len;
    if (m->data_len < headers || m->pkt_len <= headers) return false;  // split headers, no data
    const uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    const uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD || l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) return false;
    if (ip != RTE_MBUF_F_RX_IP_CKSUM_GOOD || l4 != RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
      const auto* iph = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, hl.l2_len);
      if (rte_ipv4_cksum(iph) != 0 && iph->hdr_checksum != 0xffff) return false;
      if (rte_ipv4_udptcp_cksum_mbuf_verify(m, iph, hl.l2_len + hl.l3_len) != 0) return false;
      stats_.rx_sw_checksum_.increment();
      m->ol_flags = (m->ol_flags & ~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK)) |
                    RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
    }
    m->packet_type = ptype;
    m->l2_len = hl.l2_len;
    m->l3_len = hl.l3_len;
    m->l4_len = hl.l4_len;
    m->tso_segsz = static_cast<uint16_t>(m->pkt_len - headers);
    return true;
  }

  // Merges what can be merged (rte_gro within this burst), then delivers: the others first, in
  // their order, then the merged set. A merged frame gets a fresh IPv4 header checksum and, as
  // VIRTIO_NET_HDR_F_NEEDS_CSUM requires, the TCP pseudo-header sum in its checksum field.
  size_t deliver_coalesced(BufferAccess& pool, std::span<rte_mbuf*> burst, std::span<RxId> packets,
                           size_t out) noexcept {
    std::array<rte_mbuf*, kRxBurst> merge;
    uint16_t n = 0;
    for (rte_mbuf* m : burst) {
      reinsert_tags(m);
      if (gro_candidate(m)) {
        merge[n++] = m;
      } else {
        out = deliver(pool, m, metadata(m), packets, out);
        rte_pktmbuf_free(m);
      }
    }
    if (n == 0) return out;
    rte_gro_param param{};
    param.gro_types = RTE_GRO_TCP_IPV4;
    param.max_flow_num = kRxBurst;
    param.max_item_per_flow = kRxBurst;
    const uint16_t frames = n > 1 ? rte_gro_reassemble_burst(merge.data(), n, &param) : n;
    stats_.rx_gro_merged_.add(n - frames);
    for (uint16_t i = 0; i < frames; ++i) {
      rte_mbuf* m = merge[i];
      RxMetadata md = metadata(m);
      const uint32_t headers = m->l2_len + m->l3_len + m->l4_len;
      if (m->pkt_len > headers + m->tso_segsz) {
        auto* iph = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, m->l2_len);
        auto* tcp = rte_pktmbuf_mtod_offset(m, rte_tcp_hdr*, m->l2_len + m->l3_len);
        iph->hdr_checksum = 0;
        iph->hdr_checksum = rte_ipv4_cksum(iph);
        tcp->cksum = rte_ipv4_phdr_cksum(iph, 0);
        md.l3_protocol = L3Protocol::Ipv4;
        md.l4_protocol = L4Protocol::Tcp;
        md.ip_checksum = RxChecksumState::Good;
        md.l4_checksum = RxChecksumState::Good;
        md.l2_len = static_cast<uint8_t>(m->l2_len);
        md.l3_len = static_cast<uint16_t>(m->l3_len);
        md.l4_len = static_cast<uint8_t>(m->l4_len);
        md.gso_size = m->tso_segsz;
        stats_.rx_gro_frames_.increment();
      }
      out = deliver(pool, m, md, packets, out);
    }
    rte_pktmbuf_free_bulk(merge.data(), frames);  // each frees its merged chain
    return out;
  }

  Outcome drop(Counter& reason) noexcept {
    reason.increment();
    stats_.tx_errors_.increment();
    return Outcome::kDropped;
  }
  Outcome drop(offload::OffloadError e) noexcept {
    return drop(stats_.tx_offload_errors_[static_cast<size_t>(e)]);
  }

  rte_mbuf* take_mbuf() noexcept {
    if (cache_n_ == 0) {
      if (rte_pktmbuf_alloc_bulk(pool_, cache_.data(), kMbufCache) != 0) {
        return rte_pktmbuf_alloc(pool_);  // fewer than a bulk left
      }
      cache_n_ = kMbufCache;
    }
    return cache_[--cache_n_];
  }

  // Copies `a` then `b` into a new mbuf chain; nullptr when the pool runs dry.
  rte_mbuf* build_chain(std::span<const uint8_t> a, std::span<const uint8_t> b) noexcept {
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

  // Copies the packet's segments out of guest memory to `dst`.
  static bool gather(const GuestMemory& mem, std::span<const TxSegment> segs,
                     uint8_t* dst) noexcept {
    size_t off = 0;
    for (const TxSegment& s : segs) {
      if (!mem.read_at(s.gpa, std::span<uint8_t>(dst + off, s.len))) return false;
      off += s.len;
    }
    return true;
  }

  // Prepends the 802.1Q tag into the head mbuf's headroom.
  static bool insert_vlan(rte_mbuf* head, VlanMetadata vlan) noexcept {
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

  static void set_offload_fields(rte_mbuf* m, const TxOffloadPlan& plan) noexcept {
    m->ol_flags |= plan.ol_flags;
    m->l2_len = plan.l2_len;
    m->l3_len = plan.l3_len;
    m->l4_len = plan.l4_len;
    m->tso_segsz = plan.tso_segsz;
    m->vlan_tci = plan.vlan_tci;
  }

  void enqueue(rte_mbuf* m) noexcept {
    tx_burst_[tx_n_++] = m;
    if (tx_n_ == kTxBurst) flush();
  }

  // Sends a plain packet (no offload, no VLAN) of at least zero_copy_min_ bytes as mbufs over
  // its guest buffers. nullopt: not this way (it is copied instead).
  std::optional<Outcome> send_zero_copy(const GuestMemory& mem, const TxPacket& pkt) noexcept {
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
      uint8_t* host = s.len <= UINT16_MAX ? mem.map(s.gpa, s.len) : nullptr;
      if (host == nullptr) return std::nullopt;  // across regions, or outside: the copy decides
      pieces[i] = std::span(host, s.len);
    }
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

  Outcome send_packet(const GuestMemory& mem, const TxPacket& pkt) noexcept {
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
  void flush() noexcept {
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
  std::array<rte_mbuf*, kMbufCache> cache_{};
  uint32_t cache_n_ = 0;
  std::array<rte_mbuf*, kTxBurst> tx_burst_{};
  uint16_t tx_n_ = 0;
  EthdevQueueStats stats_;
};

// virtio's RSS hash types -> RTE_ETH_RSS_* bits.
uint64_t rss_hf_from_virtio(uint32_t flags) noexcept {
  if (flags == 0) return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
  uint64_t hf = 0;
  if (flags & rss_hash::kIpv4) {
    hf |= RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER;
  }
  if (flags & rss_hash::kTcpIpv4) hf |= RTE_ETH_RSS_NONFRAG_IPV4_TCP;
  if (flags & rss_hash::kUdpIpv4) hf |= RTE_ETH_RSS_NONFRAG_IPV4_UDP;
  if (flags & rss_hash::kIpv6) {
    hf |= RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_OTHER;
  }
  if (flags & rss_hash::kTcpIpv6) hf |= RTE_ETH_RSS_NONFRAG_IPV6_TCP;
  if (flags & rss_hash::kUdpIpv6) hf |= RTE_ETH_RSS_NONFRAG_IPV6_UDP;
  if (flags & rss_hash::kIpv6Ex) hf |= RTE_ETH_RSS_IPV6_EX;
  if (flags & rss_hash::kTcpIpv6Ex) hf |= RTE_ETH_RSS_IPV6_TCP_EX;
  if (flags & rss_hash::kUdpIpv6Ex) hf |= RTE_ETH_RSS_IPV6_UDP_EX;
  return hf;
}

// A periodic timerfd (the link poll of ports without LSC interrupts).
class TimerFd {
 public:
  static Result<TimerFd> create(uint32_t period_ms) {
    const int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
      return make_error(Errc::kResource, fmt::format("timerfd_create: {}", std::strerror(errno)));
    TimerFd t(fd);
    const auto ms = std::max<uint32_t>(period_ms, 1);
    itimerspec spec{};
    spec.it_interval.tv_sec = ms / 1000;
    spec.it_interval.tv_nsec = static_cast<long>(ms % 1000) * 1000000;
    spec.it_value = spec.it_interval;
    if (timerfd_settime(fd, 0, &spec, nullptr) != 0) {
      return make_error(Errc::kResource, fmt::format("timerfd_settime: {}", std::strerror(errno)));
    }
    return t;
  }
  TimerFd(TimerFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  TimerFd& operator=(TimerFd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~TimerFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const noexcept { return fd_; }
  void drain() const noexcept {
    uint64_t expirations;
    (void)!::read(fd_, &expirations, sizeof(expirations));
  }

 private:
  explicit TimerFd(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
};

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
    // guest reset or reconnect starts them again): reconfigure the stopped port. The old pools
    // are kept until new queues have replaced the old ones (the released rings' mbufs go back to
    // them), even if this call fails half-way; the new pools get new names.
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
    const RssConfig spec_rss{.key = spec_.rss_key, .indirection_table = {}, .flags = 0};
    if (from_spec && !spec_.rss_key.empty()) rss = &spec_rss;
    const uint64_t wanted_hf = from_spec && spec_.rss_hash_functions != 0
                                   ? spec_.rss_hash_functions
                                   : rss_hf_from_virtio(rss != nullptr ? rss->flags : 0);
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
    const NativeTxOffloads native = apply_pmd_quirks(native_, info_.driver_name, mtu);
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
    pools_ = std::move(pools);
    retired_pools_.clear();  // the old rings are gone: nothing refers to these any more
    for (uint16_t q = 0; q < nq; ++q) {
      const bool gro = spec_.rx_gro && config[q].accepts_coalesced_tcp4;
      std::unique_ptr<TxZeroCopy> zero_copy;
      if (spec_.tx_zero_copy && zero_copy_capable(info_.driver_name)) {
        // Those PMDs free within tx_burst: one burst in flight at most; room for a frontend
        // burst of completions besides.
        zero_copy = std::make_unique<TxZeroCopy>(kTxBurst, kTxBurst + 1024);
      }
      queues.push_back(std::make_unique<EthdevQueue>(
          port, q, pools_[q].get(), pools_[q].data_room(), native, nb_rxd, gro,
          std::move(zero_copy), spec_.tx_zero_copy_min, &live_queues_));
      ++live_queues_;
    }
    configured_ = true;
    lsc_.signal();  // the control loop looks at the link once now
    return {};
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
  size_t live_queues_ = 0;   // EthdevQueues of the last get_queues not yet destroyed
  uint32_t generation_ = 0;  // reconfigurations so far: part of the pools' names
};

}  // namespace

void EthdevQueueStats::for_each_counter(const CounterVisitor& visit) const {
  QueueCounters::for_each_counter(visit);
  for (size_t i = 0; i < tx_offload_errors_.size(); ++i) {
    visit(fmt::format("tx_offload_{}", offload::to_key(static_cast<offload::OffloadError>(i))),
          tx_offload_errors_[i].get());
  }
  const std::pair<std::string_view, const Counter*> named[] = {
      {"tx_length_mismatch", &tx_length_mismatch_},
      {"tx_guest_memory", &tx_guest_memory_},
      {"tx_too_large", &tx_too_large_},
      {"tx_no_mbufs", &tx_no_mbufs_},
      {"tx_prepare_failed", &tx_prepare_failed_},
      {"tx_ring_full", &tx_ring_full_},
      {"rx_too_large", &rx_too_large_},
      {"rx_vlan_reinserted", &rx_vlan_reinserted_},
      {"rx_sw_checksum", &rx_sw_checksum_},
      {"rx_gro_frames", &rx_gro_frames_},
      {"rx_gro_merged", &rx_gro_merged_},
      {"tx_sw_checksum", &tx_sw_checksum_},
      {"tx_sw_tso", &tx_sw_tso_},
      {"tx_sw_uso", &tx_sw_uso_},
      {"tx_sw_vlan", &tx_sw_vlan_},
      {"tx_segments", &tx_segments_},
      {"tx_zero_copy", &tx_zero_copy_},
  };
  for (const auto& [name, counter] : named) visit(name, counter->get());
}

Result<std::unique_ptr<Endpoint>> make_ethdev_endpoint(const EthdevSpec& spec) {
  auto port = EthPort::open(spec.device);
  if (!port) return std::unexpected(port.error());
  rte_eth_dev_info info{};
  if (int ret = rte_eth_dev_info_get(port->id(), &info); ret != 0) {
    return std::unexpected(port->error("rte_eth_dev_info_get", ret));
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
