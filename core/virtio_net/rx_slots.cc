// RxSlots: posting the guest's receive chains as slots, binding them as packets are written, and
// returning them to the used ring; instantiated for each ring layout.
#include "core/virtio_net/rx_slots.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/virtqueue/packed_ring.h"
#include "core/virtqueue/split_ring.h"

namespace pmdnet::virtio {

namespace {

constexpr uint32_t kHdrLen = sizeof(VirtioNetHdr);
constexpr uint16_t kDescPrefetch = 4;  // available entries ahead whose descriptors are prefetched

// Asks for the cache line at `p` in a writable state: PREFETCHW, which CPUs without it execute
// as a no-op (it is in the 0F 0D NOP space).
inline void prefetch_for_write(const uint8_t* p) noexcept {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*p));
#else
  __builtin_prefetch(p, 1);
#endif
}

}  // namespace

template <Virtqueue Vq>
RxSlots<Vq>::RxSlots(Vq ring, const GuestMemory& mem, uint64_t features, uint32_t max_plain_len,
                     VirtioNetQueueStats& stats)
    : ring_(std::move(ring)),
      mem_(&mem),
      features_(features),
      mergeable_(has(features, feature::kMrgRxbuf)),
      max_plain_len_(max_plain_len),
      stats_(&stats) {
  const size_t size = ring_.size();
  posted_ = Ring<PostedChain>(size);
  chain_of_head_.resize(size);
  chain_next_.resize(size);
  slots_.resize(size);
  free_slots_.reserve(size);
  reset_slots();
  ids_.resize(std::max(size, kPollBurst));
  scratch_.resize(size);
  ring_.suppress_kicks();
}

template <Virtqueue Vq>
void RxSlots<Vq>::reset_slots() noexcept {
  for (Slot& slot : slots_) slot = Slot{};
  free_slots_.clear();
  for (size_t i = slots_.size(); i > 0; --i) {
    free_slots_.push_back(RxId{static_cast<uint32_t>(i - 1)});
  }
  unbound_posted_slots_ = 0;
}

template <Virtqueue Vq>
void RxSlots<Vq>::count_ring_error(RingError e) noexcept {
  stats_->rx_ring_errors[static_cast<size_t>(e)].increment();
  if (breaks_queue(e)) broken_ = true;
}

template <Virtqueue Vq>
void RxSlots<Vq>::refill(Queue& backend) noexcept {
  if (broken_) return;
  auto avail = ring_.avail_count();
  if (!avail) {
    count_ring_error(avail.error());
    return;
  }
  for (uint16_t i = 0; i < *avail; ++i) {
    // The guest wrote these descriptors on its own CPU: their misses overlap when asked early.
    if (i + kDescPrefetch < *avail) ring_.prefetch(kDescPrefetch);
    auto chain = ring_.pop(scratch_);
    if (!chain) {
      count_ring_error(chain.error());
      if (broken_) return;
      continue;
    }
    if (chain->readable_len > 0 || chain->writable_len < kHdrLen) {
      stats_->drop(chain->readable_len > 0 ? DropReason::kRxReadableBuffer
                                           : DropReason::kRxTooSmall);
      ring_.push_used(chain->head, 0);
      continue;
    }
    // The mapping is kept only for a single-buffer chain: write_packet's fast path writes the
    // whole capacity through it, which for a longer chain spans buffers the first does not.
    const bool single = chain->buffers.size() == 1;
    posted_.push_back(PostedChain{.head = chain->head,
                                  .capacity = chain->writable_len,
                                  .gpa = chain->buffers[0].gpa,
                                  .host = single ? chain->buffers[0].host : nullptr,
                                  .single_buffer = single});
    posted_capacity_ += chain->writable_len;
    // The buffer's first lines (header and a small frame) are written soon, and were last
    // touched by the guest, which read the previous packet's header: take them now.
    if (uint8_t* host = chain->buffers[0].host) {
      prefetch_for_write(host);
      if (chain->buffers[0].len > 64) prefetch_for_write(host + 64);
    }
  }
  if (*avail > 0) ring_.suppress_kicks();

  // Every posted chain backs one more slot; a slot binds its chains only when written.
  size_t want = posted_.size() > unbound_posted_slots_ ? posted_.size() - unbound_posted_slots_ : 0;
  size_t n = 0;
  while (n < want && !free_slots_.empty()) {
    RxId id = free_slots_.back();
    free_slots_.pop_back();
    slots_[id.value].state = SlotState::kPosted;
    ids_[n++] = id;
  }
  unbound_posted_slots_ += n;
  if (n > 0) backend.rx_avail(*this, std::span(ids_).first(n));
}

template <Virtqueue Vq>
bool RxSlots<Vq>::bind(Slot& slot, uint64_t bytes) noexcept {
  if (slot.capacity >= bytes) return true;
  if (slot.state == SlotState::kBound && !mergeable_) return false;
  uint64_t reachable =
      slot.capacity +
      (mergeable_ ? posted_capacity_ : (posted_.empty() ? 0 : posted_.front().capacity));
  if (reachable < bytes) return false;  // bind nothing rather than strand chains
  while (slot.capacity < bytes && !posted_.empty()) {
    PostedChain c = posted_.pop_front();
    posted_capacity_ -= c.capacity;
    chain_of_head_[c.head] = c;
    if (slot.state != SlotState::kBound) {
      slot.state = SlotState::kBound;
      slot.first_head = c.head;
      --unbound_posted_slots_;
    } else {
      chain_next_[slot.last_head] = c.head;
    }
    slot.last_head = c.head;
    ++slot.chains;
    slot.capacity += c.capacity;
  }
  return slot.capacity >= bytes;
}

template <Virtqueue Vq>
std::span<const ChainBuffer> RxSlots<Vq>::buffers_of(const PostedChain& c) const noexcept {
  if (c.single_buffer) {
    scratch_[0] = ChainBuffer{c.gpa, c.capacity, true, c.host};
    return std::span(scratch_).first(1);
  }
  // Walked again: only the head and capacity were kept. Descriptors the guest changed meanwhile
  // are validated again; what no longer fits is not written.
  auto chain = ring_.rewalk(c.head, scratch_);
  if (!chain || chain->readable_len > 0) return {};
  return chain->buffers;
}

template <Virtqueue Vq>
void RxSlots<Vq>::write_slot(const Slot& slot, uint64_t offset,
                             std::span<const uint8_t> data) noexcept {
  uint16_t head = slot.first_head;
  for (uint16_t i = 0; i < slot.chains && !data.empty(); ++i, head = chain_next_[head]) {
    for (const ChainBuffer& b : buffers_of(chain_of_head_[head])) {
      if (offset >= b.len) {
        offset -= b.len;
        continue;
      }
      size_t n = std::min<uint64_t>(b.len - offset, data.size());
      (void)mem_->write_at(b.gpa + offset, data.first(n));  // checked again; a bad range is skipped
      data = data.subspan(n);
      offset = 0;
      if (data.empty()) return;
    }
  }
}

template <Virtqueue Vq>
uint32_t RxSlots<Vq>::capacity(RxId id) const noexcept {
  if (id.value >= slots_.size()) return 0;
  const Slot& slot = slots_[id.value];
  uint64_t bytes = 0;
  if (slot.state == SlotState::kBound) {
    bytes = slot.capacity + (mergeable_ ? posted_capacity_ : 0);
  } else if (slot.state == SlotState::kPosted) {
    bytes = mergeable_ ? posted_capacity_ : (posted_.empty() ? 0 : posted_.front().capacity);
  }
  bytes = bytes > kHdrLen ? bytes - kHdrLen : 0;
  return static_cast<uint32_t>(std::min<uint64_t>(bytes, UINT32_MAX));
}

template <Virtqueue Vq>
void RxSlots<Vq>::drop(Slot& slot, DropReason reason) noexcept {
  if (slot.dropped) return;
  stats_->drop(reason);
  slot.dropped = true;
  slot.header_written = false;
}

template <Virtqueue Vq>
void RxSlots<Vq>::write_data(RxId id, std::span<const uint8_t> data) noexcept {
  if (id.value >= slots_.size() || slots_[id.value].state == SlotState::kFree) {
    stats_->backend_errors.increment();
    return;
  }
  Slot& slot = slots_[id.value];
  if (slot.dropped) return;
  uint64_t end = uint64_t{kHdrLen} + slot.data_len + data.size();
  if (!bind(slot, end)) {
    drop(slot, DropReason::kRxNoBuffers);
    return;
  }
  write_slot(slot, kHdrLen + slot.data_len, data);
  slot.data_len += static_cast<uint32_t>(data.size());
}

template <Virtqueue Vq>
void RxSlots<Vq>::write_header(RxId id, const RxMetadata& metadata) noexcept {
  if (id.value >= slots_.size() || slots_[id.value].state == SlotState::kFree) {
    stats_->backend_errors.increment();
    return;
  }
  Slot& slot = slots_[id.value];
  if (slot.dropped) return;
  if (!bind(slot, kHdrLen)) {
    drop(slot, DropReason::kRxNoBuffers);
    return;
  }
  uint16_t num_buffers = mergeable_ ? slot.chains : 1;
  auto hdr = make_rx_header(metadata, features_, num_buffers);
  if (!hdr) {
    drop(slot, DropReason::kRxCannotDeliver);
    return;
  }
  // 5.1.6.3.1: "If VIRTIO_NET_F_MTU is negotiated, the device MUST NOT pass received packets that
  // exceed mtu (plus low level ethernet header length) size with gso_type NONE or ECN to the
  // driver." That is every frame here without GSO, coalesced ones that fit one segment included
  // (make_rx_header never sets ECN). The length is what write_data wrote.
  if (hdr->gso_type == kGsoNone && slot.data_len > max_plain_len_) {
    drop(slot, DropReason::kRxOverMtu);
    return;
  }
  write_slot(slot, 0, std::span(reinterpret_cast<const uint8_t*>(&*hdr), kHdrLen));
  slot.header_written = true;
}

template <Virtqueue Vq>
inline auto RxSlots<Vq>::direct_chain(const Slot& slot, uint64_t total) const noexcept
    -> const PostedChain* {
  if (slot.state != SlotState::kPosted || slot.dropped || posted_.empty()) return nullptr;
  const PostedChain& c = posted_.front();
  return c.host != nullptr && c.capacity >= total ? &c : nullptr;
}

template <Virtqueue Vq>
inline void RxSlots<Vq>::write_plain(const PostedChain& c, const RxMetadata& metadata,
                                     std::span<const std::span<const uint8_t>> pieces,
                                     uint64_t total) noexcept {
  static_assert(std::endian::native == std::endian::little, "virtio 1.x headers are little-endian");
  if (pieces.size() == 1) {
    if (!pieces[0].empty()) std::memcpy(c.host + kHdrLen, pieces[0].data(), pieces[0].size());
  } else {
    uint8_t* dst = c.host + kHdrLen;
    for (std::span<const uint8_t> piece : pieces) {
      if (!piece.empty()) std::memcpy(dst, piece.data(), piece.size());
      dst += piece.size();
    }
  }
  // The header as two stores: flags (gso_type, hdr_len, gso_size, csum_start 0), then
  // csum_offset 0 and num_buffers 1. Built in registers, not read back from a struct.
  const uint64_t first = rx_plain_flags(metadata, features_);
  const uint32_t second = uint32_t{1} << 16;
  std::memcpy(c.host, &first, sizeof(first));
  std::memcpy(c.host + sizeof(first), &second, sizeof(second));
  if (DirtyLog* log = mem_->dirty_log()) log->log_write(c.gpa, total);
}

template <Virtqueue Vq>
void RxSlots<Vq>::write_packet(RxId id, const RxMetadata& metadata,
                               std::span<const uint8_t> data) noexcept {
  if (metadata.gso_size == 0) {
    // A plain frame over the MTU (5.1.6.3.1, see write_header) is dropped before any chain is
    // bound: the guest's buffers stay posted for the next one. Without an MTU the bound is
    // UINT32_MAX, and this is the one compare the fast path pays for it.
    if (data.size() > max_plain_len_) [[unlikely]] {
      if (id.value < slots_.size() && slots_[id.value].state != SlotState::kFree) {
        drop(slots_[id.value], DropReason::kRxOverMtu);
      } else {
        stats_->backend_errors.increment();
      }
      return;
    }
    const uint64_t total = kHdrLen + uint64_t{data.size()};
    if (id.value < slots_.size()) {
      Slot& slot = slots_[id.value];
      if (const PostedChain* next = direct_chain(slot, total)) {
        const PostedChain c = *next;
        bind(slot, total);  // exactly this chain
        write_plain(c, metadata, std::span(&data, 1), total);
        slot.data_len = static_cast<uint32_t>(data.size());
        slot.header_written = true;
        return;
      }
    }
  }
  write_data(id, data);
  write_header(id, metadata);
}

template <Virtqueue Vq>
void RxSlots<Vq>::push_guest_addresses(RxId id, std::vector<RxBufferSegment>& buf) const {
  // Only a bound slot has addresses; the receive path here always writes through write_data.
  if (id.value >= slots_.size() || slots_[id.value].state != SlotState::kBound) return;
  const Slot& slot = slots_[id.value];
  uint16_t head = slot.first_head;
  uint64_t skip = kHdrLen;  // the addresses are for packet data, after the header
  for (uint16_t i = 0; i < slot.chains; ++i, head = chain_next_[head]) {
    for (const ChainBuffer& b : buffers_of(chain_of_head_[head])) {
      if (skip >= b.len) {
        skip -= b.len;
        continue;
      }
      buf.push_back(RxBufferSegment{b.gpa + skip, static_cast<uint32_t>(b.len - skip)});
      skip = 0;
    }
  }
}

template <Virtqueue Vq>
bool RxSlots<Vq>::return_chains(const Slot& slot) noexcept {
  uint64_t left = slot.header_written ? kHdrLen + uint64_t{slot.data_len} : 0;
  if (!slot.header_written && !slot.dropped) stats_->drop(DropReason::kRxHeaderNotWritten);
  uint16_t head = slot.first_head;
  for (uint16_t c = 0; c < slot.chains; ++c, head = chain_next_[head]) {
    const auto len = static_cast<uint32_t>(std::min<uint64_t>(left, chain_of_head_[head].capacity));
    left -= len;
    ring_.push_used(head, len);
  }
  return slot.header_written;
}

template <Virtqueue Vq>
void RxSlots<Vq>::count_delivered(size_t packets, uint64_t bytes, uint64_t merged) noexcept {
  if (packets == 0) return;
  stats_->guest_rx_packets.add(packets);
  stats_->guest_rx_bytes.add(bytes);
  if (merged != 0) stats_->guest_rx_merged_buffers.add(merged);
}

template <Virtqueue Vq>
size_t RxSlots<Vq>::write_packets(std::span<const RxId> ids,
                                  std::span<const RxFrame> frames) noexcept {
  const size_t n = std::min(ids.size(), frames.size());
  size_t packets = 0;
  uint64_t bytes = 0;
  uint64_t merged = 0;
  size_t i = 0;
  for (; i < n; ++i) {
    const RxId id = ids[i];
    const RxFrame& f = frames[i];
    if (id.value >= slots_.size() || slots_[id.value].state == SlotState::kFree ||
        slots_[id.value].state == SlotState::kDelivered) [[unlikely]] {
      stats_->backend_errors.increment();
      break;  // as if it did not fit: the backend goes on without this buffer's frame
    }
    Slot& slot = slots_[id.value];
    const bool one_piece = f.pieces.size() == 1;
    uint64_t len = one_piece ? f.pieces[0].size() : 0;
    if (!one_piece) {
      for (std::span<const uint8_t> piece : f.pieces) len += piece.size();
    }
    if (i + 1 < n && !frames[i + 1].pieces.empty()) {
      __builtin_prefetch(frames[i + 1].pieces[0].data());
    }
    if (f.metadata.gso_size == 0 && len <= max_plain_len_) {
      const uint64_t total = kHdrLen + len;
      if (const PostedChain* next = direct_chain(slot, total)) {
        // The whole chain is this frame's, and goes back to the used ring now.
        const PostedChain c = *next;
        posted_.pop_front();
        posted_capacity_ -= c.capacity;
        --unbound_posted_slots_;
        write_plain(c, f.metadata, f.pieces, total);
        ring_.push_used(c.head, static_cast<uint32_t>(total));
        slot.state = SlotState::kDelivered;
        ++packets;
        bytes += len;
        continue;
      }
    }
    if (capacity(id) < len) break;
    if (f.metadata.gso_size == 0 && len > max_plain_len_) {
      drop(slot, DropReason::kRxOverMtu);  // as write_packet: before any chain is bound
      continue;
    }
    if (one_piece) {
      write_packet(id, f.metadata, f.pieces[0]);
    } else {
      for (std::span<const uint8_t> piece : f.pieces) write_data(id, piece);
      write_header(id, f.metadata);
    }
    // Written whole: a bound slot's chains go back now; a dropped one waits for rx_poll.
    if (slot.state == SlotState::kBound && slot.header_written) {
      return_chains(slot);
      ++packets;
      bytes += slot.data_len;
      merged += slot.chains - 1u;
      slot = Slot{.state = SlotState::kDelivered};
    }
  }
  count_delivered(packets, bytes, merged);
  return i;
}

template <Virtqueue Vq>
size_t RxSlots<Vq>::complete(Queue& backend) noexcept {
  if (broken_) return 0;
  auto n = backend.rx_poll(*this, std::span(ids_).first(kPollBurst));
  if (!n) {
    stats_->backend_errors.increment();
    return 0;
  }
  size_t delivered = 0;
  size_t packets = 0;
  uint64_t bytes = 0;
  uint64_t merged = 0;
  for (size_t i = 0; i < *n; ++i) {
    RxId id = ids_[i];
    if (id.value >= slots_.size() || slots_[id.value].state == SlotState::kFree) {
      stats_->backend_errors.increment();
      continue;
    }
    Slot& slot = slots_[id.value];
    if (slot.state == SlotState::kDelivered) {
      ++delivered;  // written by write_packets, returned and counted then
      slot = Slot{};
      free_slots_.push_back(id);
      continue;
    }
    if (slot.state == SlotState::kBound) {
      if (return_chains(slot)) {
        ++delivered;
        ++packets;
        bytes += slot.data_len;
        merged += slot.chains - 1u;
      }
    } else {
      --unbound_posted_slots_;  // handed back unwritten (or dropped unwritten): nothing consumed
      if (!slot.dropped) stats_->drop(DropReason::kRxHeaderNotWritten);
    }
    slot = Slot{};
    free_slots_.push_back(id);
  }
  count_delivered(packets, bytes, merged);
  return delivered;
}

template <Virtqueue Vq>
void RxSlots<Vq>::drain() noexcept {
  drain_or_abandon(ring_, broken_);
  posted_.clear();
  posted_capacity_ = 0;
  reset_slots();
}

template class RxSlots<SplitRing>;
template class RxSlots<SplitRingInOrder>;
template class RxSlots<PackedRing>;

}  // namespace pmdnet::virtio
