// EthdevQueue's receive half: NIC RX copied into the guest's posted buffers, with the port's
// checksum verdicts as RxMetadata, VLAN tags a PMD stripped put back into the frame, and rte_gro
// coalescing of TCP/IPv4 segments for frontends that accept coalesced frames.
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_gro.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_net.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "pmd_backends/ethdev_queue.h"

namespace pmdnet {
namespace {

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

}  // namespace

void EthdevQueue::rx_avail(BufferAccess&, std::span<const RxId> done) noexcept {
  for (RxId id : done) posted_.push_back(id);
}

QueueResult<size_t> EthdevQueue::rx_poll(BufferAccess& pool, std::span<RxId> packets) noexcept {
  size_t out = 0;
  // One call takes at most packets.size() mbufs from the NIC, delivered or dropped: a guest
  // whose buffers are too small for every frame must not hold the worker while the NIC has
  // frames. Each delivered frame took at least one mbuf, so `out` stays within `packets`.
  size_t taken = 0;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): rte_eth_rx_burst fills it
  std::array<rte_mbuf*, kRxBurst> mbufs;
  while (taken < packets.size() && !posted_.empty()) {
    // Never take more from the NIC than there are guest buffers: the rest waits in its ring.
    const auto want =
        static_cast<uint16_t>(std::min({size_t{kRxBurst}, packets.size() - taken, posted_.size()}));
    const uint16_t got = rte_eth_rx_burst(port_, queue_, mbufs.data(), want);
    taken += got;
    if (gro_) {
      out = deliver_coalesced(pool, std::span(mbufs.data(), got), packets, out);
    } else {
      for (uint16_t i = 0; i < got; ++i) {
        reinsert_tags(mbufs[i]);
        if ((mbufs[i]->ol_flags & kStrippedTags) != 0) [[unlikely]] {
          out = write_frames(pool, packets, out);  // the frames before it go first
          out = deliver_with_tags(pool, mbufs[i], metadata(mbufs[i]), packets, out);
        } else {
          add_frame(mbufs[i], metadata(mbufs[i]));
        }
      }
      out = write_frames(pool, packets, out);
      if (got != 0) rte_pktmbuf_free_bulk(mbufs.data(), got);
    }
    if (got < want) break;
  }
  return out;
}

// Queues `m` for write_frames with the metadata `md`: its bytes as they are, one piece per
// segment.
inline void EthdevQueue::add_frame(const rte_mbuf* m, const RxMetadata& md) noexcept {
  const size_t k = rx_frame_count_++;
  RxFrame& f = rx_burst_[k];
  f.metadata = md;
  if (m->nb_segs == 1) [[likely]] {
    rx_single_[k] = std::span(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len);
    f.pieces = std::span(&rx_single_[k], 1);
    return;
  }
  add_segments(k, m);
}

// add_frame() for an mbuf chain (a coalesced frame, a scattered jumbo one): its pieces go to
// rx_pieces_, which may grow until write_frames points the frame at them.
[[gnu::cold]] void EthdevQueue::add_segments(size_t k, const rte_mbuf* m) noexcept {
  rx_chained_[rx_chained_count_++] =
      ChainedFrame{static_cast<uint16_t>(k), static_cast<uint32_t>(rx_pieces_.size())};
  for (const rte_mbuf* seg = m; seg != nullptr; seg = seg->next) {
    rx_pieces_.emplace_back(rte_pktmbuf_mtod(seg, const uint8_t*), seg->data_len);
  }
}

// Writes the queued frames into the posted guest buffers, one write_packets call per run of
// frames that fit: a frame its buffer cannot hold is dropped and counted, and that buffer stays
// posted for the next frame. Returns `out` plus the frames delivered (their RxIds stored from
// packets[out]).
size_t EthdevQueue::write_frames(BufferAccess& pool, std::span<RxId> packets, size_t out) noexcept {
  const size_t n = rx_frame_count_;
  if (n == 0) return out;
  for (size_t c = 0; c < rx_chained_count_; ++c) {  // rx_pieces_ grows no more: point at it
    const size_t end =
        c + 1 < rx_chained_count_ ? rx_chained_[c + 1].first_piece : rx_pieces_.size();
    const ChainedFrame& cf = rx_chained_[c];
    rx_burst_[cf.frame].pieces =
        std::span(rx_pieces_).subspan(cf.first_piece, end - cf.first_piece);
  }
  size_t k = 0;
  while (k < n) {
    const size_t ids = std::min({n - k, posted_.size(), packets.size() - out});
    if (ids == 0) break;  // cannot happen: each frame took an mbuf and rx_burst took no more
    for (size_t j = 0; j < ids; ++j) packets[out + j] = posted_[j];
    const size_t written =
        pool.write_packets(packets.subspan(out, ids), std::span(rx_burst_).subspan(k, ids));
    posted_.drop_front(written);
    for (size_t j = 0; j < written; ++j) {
      if (rx_burst_[k + j].metadata.vlan) stats_.rx_vlan_packets_.increment();
    }
    stats_.rx_packets_.add(written);
    out += written;
    k += written;
    if (written < ids) {  // frame k does not fit the next buffer
      stats_.rx_too_large_.increment();
      stats_.rx_errors_.increment();
      ++k;
    }
  }
  for (; k < n; ++k) stats_.rx_errors_.increment();
  rx_frame_count_ = 0;
  rx_chained_count_ = 0;
  rx_pieces_.clear();
  return out;
}

inline RxMetadata EthdevQueue::metadata(const rte_mbuf* m) noexcept {
  // A frame the PMD says nothing about (no checksum verdict, no L3 or L4 packet type, no tag
  // taken out, as from net_null or net_af_packet) has its length for metadata:
  // what rx_metadata_from_mbuf would make of it, without the translation.
  constexpr uint64_t kRxVerdicts =
      RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK | RTE_MBUF_F_RX_VLAN_STRIPPED;
  if ((m->ol_flags & kRxVerdicts) == 0 &&
      (m->packet_type & (RTE_PTYPE_L3_MASK | RTE_PTYPE_L4_MASK)) == 0) {
    return RxMetadata{.len = m->pkt_len};
  }
  return rx_metadata_from_mbuf(m->ol_flags, m->packet_type, m->vlan_tci, m->pkt_len);
}

// Puts the tags the PMD stripped from `m` (if any) back into its first segment: into the
// headroom, the MAC addresses moved to the front, the STRIPPED flags cleared. Where the first
// segment cannot take them (data another mbuf may share, too little headroom, fewer than the
// MAC addresses' 12 bytes) the flags stay and deliver_with_tags() puts the tags in as it copies
// the frame.
inline void EthdevQueue::reinsert_tags(rte_mbuf* m) noexcept {
  // A PMD may strip tags though the port was not asked to: the guest needs them back.
  if ((m->ol_flags & kStrippedTags) != 0) reinsert_stripped_tags(m);
}

// reinsert_tags() for an mbuf that has them (cold: kept out of the per-packet path).
[[gnu::cold]] inline void EthdevQueue::reinsert_stripped_tags(rte_mbuf* m) noexcept {
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

// Delivers an mbuf whose tags reinsert_tags could not put back: they go in after the MAC
// addresses as the frame is copied (through rx_scratch_), and the metadata carries no VLAN.
[[gnu::cold]] inline size_t EthdevQueue::deliver_with_tags(BufferAccess& pool, const rte_mbuf* m,
                                                           RxMetadata md, std::span<RxId> packets,
                                                           size_t out) noexcept {
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
inline bool EthdevQueue::too_large(BufferAccess& pool, RxId id, uint32_t len) noexcept {
  if (pool.capacity(id) < len) {
    stats_.rx_too_large_.increment();
    stats_.rx_errors_.increment();
    return true;
  }
  if (rx_scratch_.size() < len) rx_scratch_.resize(len);  // chains beyond kMaxTxFrame: rare
  return false;
}

// Buffer `id`, the next posted one, now holds a packet: stored at packets[out].
inline size_t EthdevQueue::delivered(RxId id, std::span<RxId> packets, size_t out) noexcept {
  stats_.rx_packets_.increment();
  posted_.pop_front();
  packets[out] = id;
  return out + 1;
}

// Whether `m` may be merged: untagged TCP/IPv4 (not a fragment) whose IPv4 and TCP checksums
// are good, checked here when the port did not. Sets packet_type and l2/l3/l4_len for rte_gro,
// and tso_segsz to the TCP payload length (rte_gro keeps the first segment's in a merged frame).
inline bool EthdevQueue::gro_candidate(rte_mbuf* m) noexcept {
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
inline size_t EthdevQueue::deliver_coalesced(BufferAccess& pool, std::span<rte_mbuf*> burst,
                                             std::span<RxId> packets, size_t out) noexcept {
  // NOLINTBEGIN(cppcoreguidelines-pro-type-member-init): only the first n and p are read
  std::array<rte_mbuf*, kRxBurst> merge;
  std::array<rte_mbuf*, kRxBurst> plain;
  // NOLINTEND(cppcoreguidelines-pro-type-member-init)
  uint16_t n = 0;
  uint16_t p = 0;
  for (rte_mbuf* m : burst) {
    reinsert_tags(m);
    if (gro_candidate(m)) {
      merge[n++] = m;
    } else if ((m->ol_flags & kStrippedTags) != 0) [[unlikely]] {
      out = write_frames(pool, packets, out);  // the frames before it go first
      out = deliver_with_tags(pool, m, metadata(m), packets, out);
      rte_pktmbuf_free(m);
    } else {
      add_frame(m, metadata(m));
      plain[p++] = m;
    }
  }
  if (n == 0) {
    out = write_frames(pool, packets, out);
    if (p != 0) rte_pktmbuf_free_bulk(plain.data(), p);
    return out;
  }
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
    add_frame(m, md);  // its segments as they are: a merged frame is not copied into one piece
  }
  out = write_frames(pool, packets, out);
  if (p != 0) rte_pktmbuf_free_bulk(plain.data(), p);
  rte_pktmbuf_free_bulk(merge.data(), frames);  // each frees its merged chain
  return out;
}

}  // namespace pmdnet
