// VirtioNetQueue: the worker pass over one queue pair, the receive-slot BufferAccess, and the
// guest-TX translation from descriptor chains into TxSegments.
#include "core/virtio/virtio_net_queue.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace pmdnet::virtio {

namespace {

constexpr uint32_t kHdrLen = sizeof(VirtioNetHdr);
constexpr uint16_t kDescPrefetch = 4;  // available entries ahead whose descriptor is prefetched

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

std::string_view to_string(DropReason r) noexcept {
  switch (r) {
    case DropReason::kTxChainTooShort:
      return "tx chain shorter than a virtio_net_hdr plus a frame";
    case DropReason::kTxWritableBuffer:
      return "device-writable buffer in a tx chain";
    case DropReason::kTxBadHeader:
      return "tx virtio_net_hdr rejected";
    case DropReason::kTxTooManySegments:
      return "tx frame in more than 255 buffers";
    case DropReason::kRxNoBuffers:
      return "rx packet larger than the posted guest buffers";
    case DropReason::kRxTooSmall:
      return "rx chain too small for a virtio_net_hdr";
    case DropReason::kRxReadableBuffer:
      return "device-readable buffer in an rx chain";
    case DropReason::kRxHeaderNotWritten:
      return "rx completed without a header";
    case DropReason::kRxCannotDeliver:
      return "coalesced rx packet the guest cannot take";
    case DropReason::kRxOverMtu:
      return "rx packet longer than the guest's MTU";
    case DropReason::kCount:
      break;
  }
  return "unknown drop reason";
}

std::string_view to_key(DropReason e) noexcept {
  switch (e) {
    case DropReason::kTxChainTooShort:
      return "tx_chain_too_short";
    case DropReason::kTxWritableBuffer:
      return "tx_writable_buffer";
    case DropReason::kTxBadHeader:
      return "tx_bad_header";
    case DropReason::kTxTooManySegments:
      return "tx_too_many_segments";
    case DropReason::kRxNoBuffers:
      return "rx_no_buffers";
    case DropReason::kRxTooSmall:
      return "rx_too_small";
    case DropReason::kRxReadableBuffer:
      return "rx_readable_buffer";
    case DropReason::kRxHeaderNotWritten:
      return "rx_header_not_written";
    case DropReason::kRxCannotDeliver:
      return "rx_cannot_deliver";
    case DropReason::kRxOverMtu:
      return "rx_over_mtu";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

VirtioNetQueue::VirtioNetQueue(const VirtioNetQueueConfig& c)
    : mem_(c.mem),
      features_(c.features),
      mergeable_(has(c.features, feature::kMrgRxbuf)),
      max_plain_len_(c.mtu != 0 ? uint32_t{c.mtu} + kMtuL2Overhead : UINT32_MAX),
      rx_vring_index_(c.rx_vring_index),
      tx_vring_index_(c.tx_vring_index),
      notifier_(c.notifier) {}

VirtioNetQueue::~VirtioNetQueue() = default;

Result<std::unique_ptr<VirtioNetQueue>> VirtioNetQueue::create(const VirtioNetQueueConfig& c,
                                                               std::unique_ptr<Queue> backend) {
  if (c.mem == nullptr) return make_error(Errc::kInvalidArgument, "no guest memory");
  if (!backend) return make_error(Errc::kInvalidArgument, "no backend queue");
  if (!has(c.features, feature::kVersion1)) {
    return make_error(Errc::kUnsupported, "only VIRTIO_F_VERSION_1 devices are supported");
  }
  auto rx = SplitRing::create(c.rx_ring, *c.mem, c.features, c.rx_start.last_avail_idx,
                              c.rx_start.used_idx);
  if (!rx) return make_error(rx.error().code, "guest rx ring: " + rx.error().message);
  auto tx = SplitRing::create(c.tx_ring, *c.mem, c.features, c.tx_start.last_avail_idx,
                              c.tx_start.used_idx);
  if (!tx) return make_error(tx.error().code, "guest tx ring: " + tx.error().message);

  std::unique_ptr<VirtioNetQueue> q(new VirtioNetQueue(c));
  q->rx_ = *rx;
  q->tx_ = *tx;
  q->backend_ = std::move(backend);
  const size_t rx_size = q->rx_.size();
  const size_t tx_size = q->tx_.size();
  q->posted_ = Ring<PostedChain>(rx_size);
  q->chain_of_head_.resize(rx_size);
  q->chain_next_.resize(rx_size);
  q->rx_held_.assign(rx_size, 0);
  q->slots_.resize(rx_size);
  q->free_slots_.reserve(rx_size);
  for (size_t i = rx_size; i > 0; --i) q->free_slots_.push_back(RxId{static_cast<uint32_t>(i - 1)});
  q->rx_ids_.resize(std::max(rx_size, kRxPollBurst));
  q->rx_scratch_.resize(rx_size);
  q->tx_scratch_.resize(tx_size);
  q->tx_segments_.reserve(kTxBurst * kMaxTxSegments);
  q->tx_held_.assign(tx_size, 0);
  q->tx_done_.resize(tx_size);
  q->rx_.suppress_kicks();
  q->tx_.suppress_kicks();
  return q;
}

void VirtioNetQueue::count_ring_error(bool rx, RingError e) noexcept {
  (rx ? stats_.rx_ring_errors : stats_.tx_ring_errors)[static_cast<size_t>(e)].increment();
  if (breaks_queue(e)) (rx ? rx_broken_ : tx_broken_) = true;
}

size_t VirtioNetQueue::poll() noexcept {
  if (!backend_) return 0;
  const uint16_t rx_used_before = rx_.used_idx();
  const uint16_t tx_used_before = tx_.used_idx();
  const uint64_t rx_before = stats_.guest_rx_packets.get();

  refill_rx();
  complete_rx();
  size_t moved = transmit();
  complete_tx();
  moved += stats_.guest_rx_packets.get() - rx_before;

  if (!rx_broken_ && rx_.used_idx() != rx_used_before) {
    rx_.publish_used();
    if (rx_.needs_notification() && notifier_ != nullptr) {
      notifier_->notify(rx_vring_index_);
      stats_.notifications.increment();
    }
  }
  if (!tx_broken_ && tx_.used_idx() != tx_used_before) {
    tx_.publish_used();
    if (tx_.needs_notification() && notifier_ != nullptr) {
      notifier_->notify(tx_vring_index_);
      stats_.notifications.increment();
    }
  }
  return moved;
}

// ---- guest RX ----

void VirtioNetQueue::refill_rx() noexcept {
  if (rx_broken_) return;
  auto avail = rx_.avail_count();
  if (!avail) {
    count_ring_error(true, avail.error());
    return;
  }
  for (uint16_t i = 0; i < *avail; ++i) {
    // The guest wrote these descriptors on its own CPU: their misses overlap when asked early.
    if (i + kDescPrefetch < *avail) rx_.prefetch_desc(kDescPrefetch);
    uint16_t head = rx_.pop_avail();
    auto chain = rx_.walk(head, rx_scratch_);
    if (!chain) {
      count_ring_error(true, chain.error());
      if (rx_broken_) return;
      if (!rx_held_[head]) rx_.push_used(head, 0);
      continue;
    }
    if (rx_held_[head]) {
      count_ring_error(true, RingError::kHeadInUse);
      continue;
    }
    if (chain->readable_len > 0 || chain->writable_len < kHdrLen) {
      stats_
          .drops[static_cast<size_t>(chain->readable_len > 0 ? DropReason::kRxReadableBuffer
                                                             : DropReason::kRxTooSmall)]
          .increment();
      rx_.push_used(head, 0);
      continue;
    }
    rx_held_[head] = 1;
    // The mapping is kept only for a single-buffer chain: write_packet's fast path writes the
    // whole capacity through it, which for a longer chain spans buffers the first does not.
    const bool single = chain->buffers.size() == 1;
    posted_.push_back(PostedChain{.head = head,
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
  if (*avail > 0) rx_.suppress_kicks();

  // Every posted chain backs one more slot; a slot binds its chains only when written.
  size_t want = posted_.size() > unbound_posted_slots_ ? posted_.size() - unbound_posted_slots_ : 0;
  size_t n = 0;
  while (n < want && !free_slots_.empty()) {
    RxId id = free_slots_.back();
    free_slots_.pop_back();
    slots_[id.value].state = SlotState::kPosted;
    rx_ids_[n++] = id;
  }
  unbound_posted_slots_ += n;
  if (n > 0) backend_->rx_avail(*this, std::span(rx_ids_).first(n));
}

bool VirtioNetQueue::bind(Slot& slot, uint64_t bytes) noexcept {
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

std::span<const ChainBuffer> VirtioNetQueue::rx_buffers(const PostedChain& c) const noexcept {
  if (c.single_buffer) {
    rx_scratch_[0] = ChainBuffer{c.gpa, c.capacity, true, c.host};
    return std::span(rx_scratch_).first(1);
  }
  // Walked again: only the head and capacity were kept. Descriptors the guest changed meanwhile
  // are validated again; what no longer fits is not written.
  auto chain = rx_.walk(c.head, rx_scratch_);
  if (!chain || chain->readable_len > 0) return {};
  return chain->buffers;
}

void VirtioNetQueue::write_slot(const Slot& slot, uint64_t offset,
                                std::span<const uint8_t> data) noexcept {
  uint16_t head = slot.first_head;
  for (uint16_t i = 0; i < slot.chains && !data.empty(); ++i, head = chain_next_[head]) {
    for (const ChainBuffer& b : rx_buffers(chain_of_head_[head])) {
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

uint32_t VirtioNetQueue::capacity(RxId id) const noexcept {
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

void VirtioNetQueue::drop_rx(Slot& slot, DropReason reason) noexcept {
  if (slot.dropped) return;
  stats_.drops[static_cast<size_t>(reason)].increment();
  slot.dropped = true;
  slot.header_written = false;
}

void VirtioNetQueue::write_data(RxId id, std::span<const uint8_t> data) noexcept {
  if (id.value >= slots_.size() || slots_[id.value].state == SlotState::kFree) {
    stats_.backend_errors.increment();
    return;
  }
  Slot& slot = slots_[id.value];
  if (slot.dropped) return;
  uint64_t end = uint64_t{kHdrLen} + slot.data_len + data.size();
  if (!bind(slot, end)) {
    drop_rx(slot, DropReason::kRxNoBuffers);
    return;
  }
  write_slot(slot, kHdrLen + slot.data_len, data);
  slot.data_len += static_cast<uint32_t>(data.size());
}

void VirtioNetQueue::write_header(RxId id, const RxMetadata& metadata) noexcept {
  if (id.value >= slots_.size() || slots_[id.value].state == SlotState::kFree) {
    stats_.backend_errors.increment();
    return;
  }
  Slot& slot = slots_[id.value];
  if (slot.dropped) return;
  if (!bind(slot, kHdrLen)) {
    drop_rx(slot, DropReason::kRxNoBuffers);
    return;
  }
  uint16_t num_buffers = mergeable_ ? slot.chains : 1;
  auto hdr = make_rx_header(metadata, features_, num_buffers);
  if (!hdr) {
    drop_rx(slot, DropReason::kRxCannotDeliver);
    return;
  }
  // 5.1.6.3.1: "If VIRTIO_NET_F_MTU is negotiated, the device MUST NOT pass received packets that
  // exceed mtu (plus low level ethernet header length) size with gso_type NONE or ECN to the
  // driver." That is every frame here without GSO, coalesced ones that fit one segment included
  // (make_rx_header never sets ECN). The length is what write_data wrote.
  if (hdr->gso_type == kGsoNone && slot.data_len > max_plain_len_) {
    drop_rx(slot, DropReason::kRxOverMtu);
    return;
  }
  write_slot(slot, 0, std::span(reinterpret_cast<const uint8_t*>(&*hdr), kHdrLen));
  slot.header_written = true;
}

void VirtioNetQueue::write_packet(RxId id, const RxMetadata& metadata,
                                  std::span<const uint8_t> data) noexcept {
  static_assert(std::endian::native == std::endian::little, "virtio 1.x headers are little-endian");
  if (metadata.gso_size == 0) {
    // A plain frame over the MTU (5.1.6.3.1, see write_header) is dropped before any chain is
    // bound: the guest's buffers stay posted for the next one. Without an MTU the bound is
    // UINT32_MAX, and this is the one compare the fast path pays for it.
    if (data.size() > max_plain_len_) [[unlikely]] {
      if (id.value < slots_.size() && slots_[id.value].state != SlotState::kFree) {
        drop_rx(slots_[id.value], DropReason::kRxOverMtu);
      } else {
        stats_.backend_errors.increment();
      }
      return;
    }
    if (id.value < slots_.size() && slots_[id.value].state == SlotState::kPosted &&
        !posted_.empty()) {
      const PostedChain c = posted_.front();
      const uint64_t total = kHdrLen + uint64_t{data.size()};
      if (c.host != nullptr && c.capacity >= total) {
        Slot& slot = slots_[id.value];
        bind(slot, total);  // exactly this chain
        if (!data.empty()) std::memcpy(c.host + kHdrLen, data.data(), data.size());
        // The header as two stores: flags (gso_type, hdr_len, gso_size, csum_start 0), then
        // csum_offset 0 and num_buffers 1. Built in registers, not read back from a struct.
        const uint64_t first = rx_plain_flags(metadata, features_);
        const uint32_t second = uint32_t{1} << 16;
        std::memcpy(c.host, &first, sizeof(first));
        std::memcpy(c.host + sizeof(first), &second, sizeof(second));
        if (DirtyLog* log = mem_->dirty_log()) log->log_write(c.gpa, total);
        slot.data_len = static_cast<uint32_t>(data.size());
        slot.header_written = true;
        return;
      }
    }
  }
  write_data(id, data);
  write_header(id, metadata);
}

void VirtioNetQueue::push_guest_addresses(RxId id, std::vector<RxBufferSegment>& buf) const {
  // Only a bound slot has addresses; the receive path here always writes through write_data.
  if (id.value >= slots_.size() || slots_[id.value].state != SlotState::kBound) return;
  const Slot& slot = slots_[id.value];
  uint16_t head = slot.first_head;
  uint64_t skip = kHdrLen;  // the addresses are for packet data, after the header
  for (uint16_t i = 0; i < slot.chains; ++i, head = chain_next_[head]) {
    for (const ChainBuffer& b : rx_buffers(chain_of_head_[head])) {
      if (skip >= b.len) {
        skip -= b.len;
        continue;
      }
      buf.push_back(RxBufferSegment{b.gpa + skip, static_cast<uint32_t>(b.len - skip)});
      skip = 0;
    }
  }
}

void VirtioNetQueue::complete_rx() noexcept {
  if (rx_broken_) return;
  auto n = backend_->rx_poll(*this, std::span(rx_ids_).first(kRxPollBurst));
  if (!n) {
    stats_.backend_errors.increment();
    return;
  }
  for (size_t i = 0; i < *n; ++i) {
    RxId id = rx_ids_[i];
    if (id.value >= slots_.size() || slots_[id.value].state == SlotState::kFree) {
      stats_.backend_errors.increment();
      continue;
    }
    Slot& slot = slots_[id.value];
    if (slot.state == SlotState::kBound) {
      uint64_t left = slot.header_written ? kHdrLen + uint64_t{slot.data_len} : 0;
      if (slot.header_written) {
        stats_.guest_rx_packets.increment();
        stats_.guest_rx_bytes.add(slot.data_len);
        stats_.guest_rx_merged_buffers.add(slot.chains - 1u);
      } else if (!slot.dropped) {  // a drop was counted when it happened
        stats_.drops[static_cast<size_t>(DropReason::kRxHeaderNotWritten)].increment();
      }
      uint16_t head = slot.first_head;
      for (uint16_t c = 0; c < slot.chains; ++c, head = chain_next_[head]) {
        uint32_t len =
            static_cast<uint32_t>(std::min<uint64_t>(left, chain_of_head_[head].capacity));
        left -= len;
        rx_.push_used(head, len);
        rx_held_[head] = 0;
      }
    } else {
      --unbound_posted_slots_;  // handed back unwritten (or dropped unwritten): nothing consumed
      if (!slot.dropped) {
        stats_.drops[static_cast<size_t>(DropReason::kRxHeaderNotWritten)].increment();
      }
    }
    slot = Slot{};
    free_slots_.push_back(id);
  }
}

// ---- guest TX ----

size_t VirtioNetQueue::gather(std::span<const ChainBuffer> buffers,
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

void VirtioNetQueue::drop_tx(uint16_t head, DropReason reason) noexcept {
  stats_.drops[static_cast<size_t>(reason)].increment();
  tx_.push_used(head, 0);
}

size_t VirtioNetQueue::transmit() noexcept {
  if (tx_broken_) return 0;
  if (tx_pending_ == tx_segments_.size()) {
    tx_segments_.clear();
    tx_pending_ = 0;
    auto avail = tx_.avail_count();
    if (!avail) {
      count_ring_error(false, avail.error());
      return 0;
    }
    size_t take = std::min<size_t>(*avail, kTxBurst);
    for (size_t i = 0; i < take; ++i) {
      if (i + kDescPrefetch < take) tx_.prefetch_desc(kDescPrefetch);
      uint16_t head = tx_.pop_avail();
      auto chain = tx_.walk(head, tx_scratch_);
      if (!chain) {
        count_ring_error(false, chain.error());
        if (tx_broken_) return 0;
        if (!tx_held_[head]) tx_.push_used(head, 0);
        continue;
      }
      if (tx_held_[head]) {
        count_ring_error(false, RingError::kHeadInUse);
        continue;
      }
      if (chain->writable_len > 0) {
        drop_tx(head, DropReason::kTxWritableBuffer);
        continue;
      }
      if (chain->readable_len <= kHdrLen) {
        drop_tx(head, DropReason::kTxChainTooShort);
        continue;
      }
      // The header, then (only when it asks for an offload) the first bytes of the frame, which
      // the translation parses; a plain packet's frame is never read here, and its metadata is
      // all defaults (parse_tx_offloads' first answer), built in place below.
      VirtioNetHdr hdr;
      const ChainBuffer& first_buffer = chain->buffers[0];
      if (first_buffer.host != nullptr && first_buffer.len >= kHdrLen) {
        std::memcpy(&hdr, first_buffer.host, kHdrLen);  // mapped when walked, this pass
      } else if (gather(chain->buffers, std::span(tx_prefix_).first(kHdrLen)) == kHdrLen) {
        std::memcpy(&hdr, tx_prefix_.data(), kHdrLen);
      } else {
        drop_tx(head, DropReason::kTxChainTooShort);  // only a racing unmap gets here
        continue;
      }
      const uint32_t frame_len = chain->readable_len - kHdrLen;
      const bool plain = (hdr.flags & kHdrFNeedsCsum) == 0 && hdr.gso_type == kGsoNone;
      TxMetadata offload_meta;
      if (!plain) {
        size_t want = std::min<size_t>(chain->readable_len, tx_prefix_.size());
        size_t prefix_len =
            std::max<size_t>(kHdrLen, gather(chain->buffers, std::span(tx_prefix_).first(want)));
        auto meta =
            parse_tx_offloads(hdr, std::span(tx_prefix_).subspan(kHdrLen, prefix_len - kHdrLen),
                              frame_len, features_);
        if (!meta) {
          stats_.tx_header_errors[static_cast<size_t>(meta.error())].increment();
          drop_tx(head, DropReason::kTxBadHeader);
          continue;
        }
        offload_meta = *meta;
      }
      // Segments: the descriptors' own addresses, past the header. Counted first, so a chain
      // over the limit never grows the preallocated segment array.
      size_t count = 0;
      uint64_t left = kHdrLen;
      for (const ChainBuffer& b : chain->buffers) {
        if (left >= b.len) {
          left -= b.len;
        } else {
          left = 0;
          ++count;
        }
      }
      if (count > kMaxTxSegments) {
        drop_tx(head, DropReason::kTxTooManySegments);
        continue;
      }
      // Each field is stored straight into the array: a TxSegment built in a temporary and
      // copied is read back with wider loads than it was written with, which stalls on store
      // forwarding (10% of a 1518 B transmit's cycles).
      size_t first = tx_segments_.size();
      uint64_t skip = kHdrLen;
      for (const ChainBuffer& b : chain->buffers) {
        if (skip >= b.len) {
          skip -= b.len;
          continue;
        }
        TxSegment& seg = tx_segments_.emplace_back();
        seg.gpa = b.gpa + skip;
        seg.len = b.len - static_cast<uint32_t>(skip);
        skip = 0;
      }
      TxMetadata& m = plain ? tx_segments_[first].head.emplace()
                            : tx_segments_[first].head.emplace(offload_meta);
      m.id = TxId{head};
      m.len = frame_len;
      m.segment_count = static_cast<uint8_t>(count);
      tx_held_[head] = 1;
    }
    if (take > 0) tx_.suppress_kicks();
  }
  if (tx_pending_ == tx_segments_.size()) return 0;

  auto pending = std::span<const TxSegment>(tx_segments_).subspan(tx_pending_);
  auto r = backend_->tx_avail(*this, pending);
  if (!r) {
    // A list we built was refused: return every pending packet to the guest.
    stats_.backend_errors.increment();
    for (const TxSegment& s : pending) {
      if (s.head) {
        tx_.push_used(s.head->id.value, 0);
        tx_held_[s.head->id.value] = 0;
      }
    }
    tx_pending_ = tx_segments_.size();
    return 0;
  }
  size_t consumed = std::min(r->segments_consumed, pending.size());
  size_t packets = 0;
  for (const TxSegment& s : pending.first(consumed)) {
    if (!s.head) continue;
    ++packets;
    stats_.guest_tx_packets.increment();
    stats_.guest_tx_bytes.add(s.head->len);
    if (r->completed_synchronously) {
      tx_.push_used(s.head->id.value, 0);
      tx_held_[s.head->id.value] = 0;
    }
  }
  tx_pending_ += consumed;
  return packets;
}

void VirtioNetQueue::complete_tx() noexcept {
  if (tx_broken_) return;
  auto n = backend_->tx_poll(*this, tx_done_);
  if (!n) {
    stats_.backend_errors.increment();
    return;
  }
  for (size_t i = 0; i < *n; ++i) {
    uint32_t head = tx_done_[i].value;
    if (head >= tx_held_.size() || !tx_held_[head]) {
      stats_.backend_errors.increment();
      continue;
    }
    tx_.push_used(head, 0);
    tx_held_[head] = 0;
  }
}

// ---- teardown ----

void VirtioNetQueue::release_backend() noexcept { backend_.reset(); }

void VirtioNetQueue::drain() noexcept {
  if (!rx_broken_) {
    for (size_t head = 0; head < rx_held_.size(); ++head) {
      if (rx_held_[head]) rx_.push_used(static_cast<uint32_t>(head), 0);
    }
    rx_.publish_used();
  }
  if (!tx_broken_) {
    for (size_t head = 0; head < tx_held_.size(); ++head) {
      if (tx_held_[head]) tx_.push_used(static_cast<uint32_t>(head), 0);
    }
    tx_.publish_used();
  }
  std::fill(rx_held_.begin(), rx_held_.end(), 0);
  std::fill(tx_held_.begin(), tx_held_.end(), 0);
  posted_.clear();
  posted_capacity_ = 0;
  for (size_t i = 0; i < slots_.size(); ++i) slots_[i] = Slot{};
  free_slots_.clear();
  for (size_t i = slots_.size(); i > 0; --i)
    free_slots_.push_back(RxId{static_cast<uint32_t>(i - 1)});
  unbound_posted_slots_ = 0;
  tx_segments_.clear();
  tx_pending_ = 0;
  if (notifier_ != nullptr) {
    notifier_->notify(rx_vring_index_);
    notifier_->notify(tx_vring_index_);
  }
}

}  // namespace pmdnet::virtio
