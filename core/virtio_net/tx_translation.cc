// TxTranslation: descriptor chains into TxSegments, and their completions back to the used ring;
// instantiated for each ring layout.
#include "core/virtio_net/tx_translation.h"

#include <algorithm>
#include <cstring>

#include "core/virtqueue/packed_ring.h"
#include "core/virtqueue/split_ring.h"

namespace pmdnet::virtio {

namespace {

constexpr uint32_t kHdrLen = sizeof(VirtioNetHdr);
constexpr uint16_t kDescPrefetch = 4;  // available entries ahead whose descriptors are prefetched

}  // namespace

template <Virtqueue Vq>
TxTranslation<Vq>::TxTranslation(Vq ring, const GuestMemory& mem, uint64_t features,
                                 VirtioNetQueueStats& stats)
    : ring_(std::move(ring)), mem_(&mem), features_(features), stats_(&stats) {
  scratch_.resize(ring_.size());
  // A chain has at most as many buffers as the scratch (the ring's size) holds: the walk refuses
  // a longer one. So a burst never grows this past what is reserved here.
  segments_.reserve(kBurst * std::min<size_t>(kMaxSegments, scratch_.size()));
  done_.resize(ring_.size());
  ring_.suppress_kicks();
}

template <Virtqueue Vq>
void TxTranslation<Vq>::count_ring_error(RingError e) noexcept {
  stats_->tx_ring_errors[static_cast<size_t>(e)].increment();
  if (breaks_queue(e)) broken_ = true;
}

template <Virtqueue Vq>
size_t TxTranslation<Vq>::gather(std::span<const ChainBuffer> buffers,
                                 std::span<uint8_t> out) const noexcept {
  size_t got = 0;
  for (const ChainBuffer& b : buffers) {
    if (got == out.size()) break;
    size_t n = std::min<size_t>(b.len, out.size() - got);
    if (b.host != nullptr) {
      std::memcpy(out.data() + got, b.host, n);  // mapped when walked, this pass
    } else if (!mem_->read_at(b.gpa, out.subspan(got, n))) {
      break;
    }
    got += n;
  }
  return got;
}

template <Virtqueue Vq>
void TxTranslation<Vq>::drop(uint16_t head, DropReason reason) noexcept {
  stats_->drop(reason);
  ring_.push_used(head, 0);
}

template <Virtqueue Vq>
void TxTranslation<Vq>::pop_burst() noexcept {
  segments_.clear();
  pending_ = 0;
  auto avail = ring_.avail_count();
  if (!avail) {
    count_ring_error(avail.error());
    return;
  }
  const size_t take = std::min<size_t>(*avail, kBurst);
  for (size_t i = 0; i < take; ++i) {
    if (i + kDescPrefetch < take) ring_.prefetch(kDescPrefetch);
    auto chain = ring_.pop(scratch_);
    if (!chain) {
      count_ring_error(chain.error());
      if (broken_) return;
      continue;
    }
    translate(*chain);
  }
  if (take > 0) ring_.suppress_kicks();
}

template <Virtqueue Vq>
void TxTranslation<Vq>::translate(const Chain& chain) noexcept {
  if (chain.writable_len > 0) return drop(chain.head, DropReason::kTxWritableBuffer);
  if (chain.readable_len <= kHdrLen) return drop(chain.head, DropReason::kTxChainTooShort);
  // The header, then (only when it asks for an offload) the first bytes of the frame, which the
  // translation parses; a plain packet's frame is never read here, and its metadata is all
  // defaults (parse_tx_offloads' first answer), built in place below.
  VirtioNetHdr hdr;  // NOLINT(cppcoreguidelines-pro-type-member-init): copied in below or dropped
  const ChainBuffer& first_buffer = chain.buffers[0];
  if (first_buffer.host != nullptr && first_buffer.len >= kHdrLen) {
    std::memcpy(&hdr, first_buffer.host, kHdrLen);  // mapped when walked, this pass
  } else if (gather(chain.buffers, std::span(prefix_).first(kHdrLen)) == kHdrLen) {
    std::memcpy(&hdr, prefix_.data(), kHdrLen);
  } else {
    return drop(chain.head, DropReason::kTxChainTooShort);  // only a racing unmap gets here
  }
  const uint32_t frame_len = chain.readable_len - kHdrLen;
  const bool plain = (hdr.flags & kHdrFNeedsCsum) == 0 && hdr.gso_type == kGsoNone;
  TxMetadata offload_meta;
  if (!plain) {
    size_t want = std::min<size_t>(chain.readable_len, prefix_.size());
    size_t prefix_len =
        std::max<size_t>(kHdrLen, gather(chain.buffers, std::span(prefix_).first(want)));
    auto meta = parse_tx_offloads(hdr, std::span(prefix_).subspan(kHdrLen, prefix_len - kHdrLen),
                                  frame_len, features_);
    if (!meta) {
      stats_->tx_header_errors[static_cast<size_t>(meta.error())].increment();
      return drop(chain.head, DropReason::kTxBadHeader);
    }
    offload_meta = *meta;
  }
  // Segments: the descriptors' own addresses, past the header. Counted first, so a chain over
  // the limit never grows the preallocated segment array.
  size_t count = 0;
  uint64_t left = kHdrLen;
  for (const ChainBuffer& b : chain.buffers) {
    if (left >= b.len) {
      left -= b.len;
    } else {
      left = 0;
      ++count;
    }
  }
  if (count > kMaxSegments) return drop(chain.head, DropReason::kTxTooManySegments);
  // Each field is stored straight into the array: a TxSegment built in a temporary and copied is
  // read back with wider loads than it was written with, which stalls on store forwarding. The
  // walk's mapping goes with each segment, so the backend does not translate it again.
  const size_t first = segments_.size();
  uint64_t skip = kHdrLen;
  for (const ChainBuffer& b : chain.buffers) {
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    TxSegment& seg = segments_.emplace_back();
    seg.gpa = b.gpa + skip;
    seg.len = b.len - static_cast<uint32_t>(skip);
    seg.host = b.host != nullptr ? b.host + skip : nullptr;
    skip = 0;
  }
  TxMetadata& m =
      plain ? segments_[first].head.emplace() : segments_[first].head.emplace(offload_meta);
  m.id = TxId{chain.head};
  m.len = frame_len;
  m.segment_count = static_cast<uint8_t>(count);
}

template <Virtqueue Vq>
size_t TxTranslation<Vq>::transmit(Queue& backend, BufferAccess& buffers) noexcept {
  if (broken_) return 0;
  if (pending_ == segments_.size()) {
    pop_burst();
    if (broken_) return 0;
  }
  if (pending_ == segments_.size()) return 0;

  auto pending = std::span<const TxSegment>(segments_).subspan(pending_);
  auto r = backend.tx_avail(buffers, pending);
  if (!r) {
    // A list we built was refused: return every pending packet to the guest.
    stats_->backend_errors.increment();
    for (const TxSegment& s : pending) {
      if (s.head) ring_.push_used(s.head->id.value, 0);
    }
    pending_ = segments_.size();
    return 0;
  }
  const size_t consumed = std::min(r->segments_consumed, pending.size());
  size_t packets = 0;
  for (const TxSegment& s : pending.first(consumed)) {
    if (!s.head) continue;
    ++packets;
    stats_->guest_tx_packets.increment();
    stats_->guest_tx_bytes.add(s.head->len);
    if (r->completed_synchronously) ring_.push_used(s.head->id.value, 0);
  }
  pending_ += consumed;
  return packets;
}

template <Virtqueue Vq>
void TxTranslation<Vq>::complete(Queue& backend, BufferAccess& buffers) noexcept {
  if (broken_) return;
  auto n = backend.tx_poll(buffers, done_);
  if (!n) {
    stats_->backend_errors.increment();
    return;
  }
  for (size_t i = 0; i < *n; ++i) {
    const uint32_t head = done_[i].value;
    if (head > UINT16_MAX || !ring_.held(static_cast<uint16_t>(head))) {
      stats_->backend_errors.increment();
      continue;
    }
    ring_.push_used(head, 0);
  }
}

template <Virtqueue Vq>
void TxTranslation<Vq>::drain() noexcept {
  drain_or_abandon(ring_, broken_);
  segments_.clear();
  pending_ = 0;
}

template class TxTranslation<SplitRing>;
template class TxTranslation<SplitRingInOrder>;
template class TxTranslation<PackedRing>;

}  // namespace pmdnet::virtio
