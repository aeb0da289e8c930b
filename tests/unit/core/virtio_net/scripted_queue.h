// ScriptedQueue: a backend Queue whose behaviour a test scripts (synchronous or asynchronous
// transmit, backpressure, receives delivered on demand), CountingNotifier, pattern() and
// kCoalescedTcp4: what the VirtioNetQueue tests of both ring layouts drive a queue pair with.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <numeric>
#include <span>
#include <vector>

#include "core/net_backend/packet.h"
#include "core/net_backend/queue.h"
#include "core/virtio_net/virtio_net_queue.h"

namespace pmdnet::virtio::testing {

// A backend whose behaviour the test scripts.
class ScriptedQueue final : public Queue {
 public:
  struct Sent {
    TxMetadata meta;
    std::vector<uint8_t> frame;
  };

  bool poll_ready(BufferAccess&) noexcept override { return !done_.empty(); }
  void rx_avail(BufferAccess&, std::span<const RxId> ids) noexcept override {
    posted.insert(posted.end(), ids.begin(), ids.end());
  }
  QueueResult<size_t> rx_poll(BufferAccess&, std::span<RxId> out) noexcept override {
    size_t n = std::min(out.size(), done_.size());
    for (size_t i = 0; i < n; ++i) {
      out[i] = done_.front();
      done_.pop_front();
    }
    return n;
  }
  QueueResult<TxAvailResult> tx_avail(BufferAccess& pool,
                                      std::span<const TxSegment> segs) noexcept override {
    size_t consumed = 0;
    std::vector<uint8_t> frame;
    while (consumed < segs.size() && accept_packets > 0) {
      std::span<const TxSegment> rest = segs.subspan(consumed);
      auto p = next_packet(rest);
      if (!p) return make_queue_error(Errc::kMalformed, "bad list");
      std::span<const TxSegment> one = p->segments;
      if (!linearize(pool, one, frame)) frame.clear();
      sent.push_back({*p->metadata, frame});
      segment_counts.push_back(p->segments.size());
      if (!sync) in_flight.push_back(p->metadata->id);
      consumed += p->segments.size();
      --accept_packets;
    }
    return TxAvailResult{.completed_synchronously = sync, .segments_consumed = consumed};
  }
  std::expected<size_t, TxError> tx_poll(BufferAccess&, std::span<TxId> done) noexcept override {
    size_t n = std::min(done.size(), complete_now.size());
    std::copy_n(complete_now.begin(), n, done.begin());
    complete_now.erase(complete_now.begin(), complete_now.begin() + static_cast<ptrdiff_t>(n));
    return n;
  }

  // Delivers a receive into the next posted slot, as a NIC backend would: in one write_packet,
  // or (`whole` false) as write_data then write_header.
  bool deliver(BufferAccess& pool, std::span<const uint8_t> data, RxMetadata meta = {},
               bool whole = true) {
    if (posted.empty()) return false;
    RxId id = posted.front();
    if (pool.capacity(id) < data.size()) return false;
    posted.pop_front();
    meta.len = data.size();
    if (whole) {
      pool.write_packet(id, meta, data);
    } else {
      pool.write_data(id, data);
      pool.write_header(id, meta);
    }
    done_.push_back(id);
    return true;
  }

  bool sync = true;
  size_t accept_packets = SIZE_MAX;
  std::vector<Sent> sent;
  std::vector<size_t> segment_counts;
  std::vector<TxId> in_flight;
  std::vector<TxId> complete_now;
  std::deque<RxId> posted;

 private:
  std::deque<RxId> done_;
};

class CountingNotifier final : public GuestNotifier {
 public:
  void notify(uint16_t vring) noexcept override { ++count[vring]; }
  std::map<uint16_t, int> count;
};

// A coalesced TCP/IPv4 receive as a backend describes it: checksums good, 14 + 20 + 20 header
// bytes, 1448 payload bytes per segment.
inline constexpr RxMetadata kCoalescedTcp4{.ip_checksum = RxChecksumState::Good,
                                           .l4_checksum = RxChecksumState::Good,
                                           .l4_protocol = L4Protocol::Tcp,
                                           .l3_protocol = L3Protocol::Ipv4,
                                           .l2_len = 14,
                                           .l3_len = 20,
                                           .l4_len = 20,
                                           .gso_size = 1448};

// `n` bytes counting up from `seed`.
inline std::vector<uint8_t> pattern(size_t n, uint8_t seed = 1) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), seed);
  return v;
}

}  // namespace pmdnet::virtio::testing
