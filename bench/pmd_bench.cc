// Micro-benchmarks of EthdevQueue over DPDK's net_null vdev (its TX frees the mbufs, its RX makes
// packets up): guest TX copied into mbufs with and without the software TCP checksum, software
// TSO/USO of a 64 KB frame, and NIC RX copied into posted guest buffers. Its own main() brings EAL
// up once (no hugepages, no PCI), runs the benchmarks, cleans EAL up and removes its runtime
// directory. Time per packet is the "per_pkt" counter; per superframe and per segment they are
// "per_frame" and "per_seg". Run:
// build/bench/pmdnet_pmd_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <rte_ethdev.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench/guest_rings.h"
#include "core/guest_memory/guest_memory.h"
#include "core/net_backend/buffer_access.h"
#include "core/net_backend/endpoint.h"
#include "core/net_backend/packet.h"
#include "core/net_backend/queue.h"
#include "core/offload/checksum.h"
#include "core/virtio_net/virtio_net_queue.h"
#include "pmd_backends/eal.h"
#include "pmd_backends/ethdev.h"
#include "tests/unit/core/virtqueue/fake_driver.h"

namespace pmdnet {
namespace {

using offload::store_be16;
using offload::store_be32;

constexpr size_t kBurst = 32;                   // guest packets per tx_avail / rx_poll
constexpr uint64_t kRegionSize = 16u << 20;     // two guest memory regions of this size
constexpr uint64_t kTxGpa = 0;                  // guest TX frames, in region 0
constexpr uint64_t kTxStride = 2048;            // between the small TX frames
constexpr uint64_t kSuperframeGpa = 1u << 20;   // the 64 KB TSO/USO frame, in region 0
constexpr uint64_t kRxGpa = kRegionSize;        // receive buffers, in region 1
constexpr uint32_t kRxBufferSize = 2048;        // each receive buffer: one guest segment
constexpr uint32_t kRxBuffers = 256;            // posted per RX port
constexpr uint32_t kSuperframeLen = 64 * 1024;  // TSO/USO input frame, headers included
constexpr uint32_t kPageSize = 4096;            // superframe payload pieces, as skb page frags
constexpr uint16_t kMss = 1448;                 // 1500 - IPv4 - TCP with timestamps

// Set when a benchmark fails, so that main() exits non-zero (SkipWithError alone does not) and
// the CTest smoke run catches it.
bool g_failed = false;

// The next free net_null port number for a benchmark that opens an endpoint of its own (the
// ports below 10 are BenchPort's).
int next_null_port = 10;

void fail(benchmark::State& state, const std::string& why) {
  g_failed = true;
  state.SkipWithError(why.c_str());
}

// Reports `items` packets an iteration: items_per_second, and the time per packet as the
// counter `name`.
void report_packets(benchmark::State& state, size_t items, const char* name = "per_pkt") {
  const auto total = static_cast<int64_t>(state.iterations() * items);
  state.SetItemsProcessed(total);
  state.counters[name] = benchmark::Counter(
      static_cast<double>(total), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Guest memory: two separately allocated regions, as a guest with two memory slots.
class BenchGuestMemory {
 public:
  BenchGuestMemory() : low_(kRegionSize, 0xee), high_(kRegionSize, 0xee) {
    const GuestMemoryRegion regions[] = {{0, kRegionSize, low_.data()},
                                         {kRegionSize, kRegionSize, high_.data()}};
    mem_ = *GuestMemory::create(regions);
  }
  const GuestMemory& mem() const { return mem_; }

 private:
  std::vector<uint8_t> low_;
  std::vector<uint8_t> high_;
  GuestMemory mem_;
};

const GuestMemory& guest() {
  static BenchGuestMemory g;
  return g.mem();
}

// Receive buffers of one guest segment each, indexed by RxId, written through GuestMemory as a
// frontend would; the last header per buffer is kept. Cheap enough not to dominate the queue.
class BenchBufferAccess final : public BufferAccess {
 public:
  explicit BenchBufferAccess(const GuestMemory& mem) : mem_(mem) {}

  void add_buffer(RxId id, RxBufferSegment segment) {
    if (buffers_.size() <= id.value) {
      buffers_.resize(id.value + 1);
      headers_.resize(id.value + 1);
    }
    buffers_[id.value] = segment;
  }

  const GuestMemory& guest_memory() const noexcept override { return mem_; }

  void write_data(RxId id, std::span<const uint8_t> data) noexcept override {
    const RxBufferSegment& b = buffers_[id.value];
    write_ok_ &= data.size() <= b.len && mem_.write_at(b.gpa, data).has_value();
  }

  void push_guest_addresses(RxId id, std::vector<RxBufferSegment>& buf) const override {
    buf.push_back(buffers_[id.value]);
  }

  uint32_t capacity(RxId id) const noexcept override { return buffers_[id.value].len; }

  void write_header(RxId id, const RxMetadata& metadata) noexcept override {
    headers_[id.value] = metadata;
  }

  const RxMetadata& header(RxId id) const { return headers_[id.value]; }
  bool all_writes_ok() const { return write_ok_; }

 private:
  const GuestMemory& mem_;
  std::vector<RxBufferSegment> buffers_;
  std::vector<RxMetadata> headers_;
  bool write_ok_ = true;
};

// An Ethernet + IPv4/IPv6 + TCP/UDP frame of `len` bytes in all (zero checksums, a payload
// pattern) and the TxMetadata a virtio frontend would give it, without offload flags.
struct Frame {
  std::vector<uint8_t> bytes;
  TxMetadata meta;
};

Frame build_frame(bool ipv6, bool udp, size_t tcp_options, size_t len) {
  const size_t l3_len = ipv6 ? 40 : 20;
  const size_t l4_len = udp ? 8 : 20 + tcp_options;
  const size_t l4 = 14 + l3_len;
  Frame f;
  std::vector<uint8_t>& b = f.bytes;
  b.assign(len, 0);
  const uint8_t eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
  std::copy(std::begin(eth), std::end(eth), b.begin());
  uint8_t* ip = b.data() + 14;
  const uint8_t proto = udp ? 17 : 6;
  if (ipv6) {
    store_be16(b.data() + 12, 0x86dd);
    ip[0] = 0x60;
    store_be16(ip + 4, static_cast<uint16_t>(len - l4));
    ip[6] = proto;
    ip[7] = 64;
    for (int i = 0; i < 16; ++i) {
      ip[8 + i] = static_cast<uint8_t>(0x20 + i);
      ip[24 + i] = static_cast<uint8_t>(0xf0 - i);
    }
  } else {
    ip[0] = 0x45;
    store_be16(ip + 2, static_cast<uint16_t>(len - 14));
    store_be16(ip + 4, 0x1000);
    store_be16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = proto;
    const uint8_t addrs[8] = {192, 168, 1, 2, 10, 20, 30, 40};
    std::copy(std::begin(addrs), std::end(addrs), ip + 12);
  }
  uint8_t* l4p = b.data() + l4;
  store_be16(l4p, 40000);
  store_be16(l4p + 2, 5201);
  if (udp) {
    store_be16(l4p + 4, static_cast<uint16_t>(len - l4));
  } else {
    store_be32(l4p + 4, 0x12345678);
    store_be32(l4p + 8, 0xa0b0c0d0);
    l4p[12] = static_cast<uint8_t>((l4_len / 4) << 4);
    l4p[13] = 0x10;  // ACK
    store_be16(l4p + 14, 0xffff);
    if (tcp_options == 12) {  // NOP NOP TS(tsval, tsecr)
      const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
      std::copy(std::begin(ts), std::end(ts), l4p + 20);
    }
  }
  for (size_t i = l4 + l4_len; i < len; ++i) b[i] = static_cast<uint8_t>(i * 131 + (i >> 8));
  f.meta.segment_count = 1;
  f.meta.flags = TxFlags().with_is_ipv4(!ipv6).with_is_ipv6(ipv6);
  f.meta.len = static_cast<uint32_t>(len);
  f.meta.l2_len = 14;
  f.meta.l3_len = static_cast<uint16_t>(l3_len);
  f.meta.l4_len = static_cast<uint8_t>(l4_len);
  f.meta.transport_header_offset = static_cast<uint16_t>(l4);
  return f;
}

// One single-queue endpoint over a net_null port, with the receive buffers posted to it. Kept for
// the whole run (opened on first use) and closed before EAL is cleaned up.
struct BenchPort {
  std::unique_ptr<Endpoint> endpoint;
  std::vector<std::unique_ptr<Queue>> queues;
  std::unique_ptr<BenchBufferAccess> pool;

  Queue& queue() { return *queues.front(); }
  const EthdevQueueStats& stats() {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-static-cast-downcast): an EthdevQueue's stats
    return *static_cast<const EthdevQueueStats*>(queue().queue_stats());
  }
};

std::map<std::string, BenchPort>& ports() {
  static std::map<std::string, BenchPort> p;
  return p;
}

// The port for `device` (net_null devargs), hotplugged and configured on first use; nullptr with
// the reason in `error` if it could not be. `zero_copy`: EthdevSpec::tx_zero_copy, fixed when the
// port is first opened.
BenchPort* open_port(const std::string& device, std::string& error, bool zero_copy = true) {
  auto it = ports().find(device);
  if (it != ports().end()) return &it->second;
  EthdevSpec spec;
  spec.device = device;
  spec.tx_zero_copy = zero_copy;
  auto ep = make_ethdev_endpoint(spec);
  if (!ep) {
    error = ep.error().message;
    return nullptr;
  }
  BenchPort port;
  port.endpoint = std::move(*ep);
  QueueConfig qc;
  if (auto r = port.endpoint->get_queues(std::span(&qc, 1), nullptr, port.queues); !r) {
    error = r.error().message;
    port.endpoint->stop();
    return nullptr;
  }
  port.pool = std::make_unique<BenchBufferAccess>(guest());
  std::vector<RxId> ids;
  for (uint32_t i = 0; i < kRxBuffers; ++i) {
    port.pool->add_buffer(RxId{i}, {kRxGpa + uint64_t{i} * kRxBufferSize, kRxBufferSize});
    ids.push_back(RxId{i});
  }
  port.queue().rx_avail(*port.pool, ids);
  return &ports().emplace(device, std::move(port)).first->second;
}

void close_ports() {
  for (auto& [name, port] : ports()) {
    port.queues.clear();
    port.endpoint->stop();
  }
  ports().clear();
}

// net_null0 sends large plain frames zero-copy; net_null3 copies everything.
BenchPort* tx_port(benchmark::State& state, bool zero_copy = true) {
  std::string error;
  BenchPort* p = zero_copy ? open_port("net_null0", error) : open_port("net_null3", error, false);
  if (p == nullptr) fail(state, error);
  return p;
}

// Out of line: inlined into BM_EthdevTx, GCC 12 takes this load for an overflow
// (-Wstringop-overflow).
[[gnu::noinline]] uint64_t zero_copy_count(BenchPort& port) {
  return port.stats().tx_zero_copy_.get();
}

// Sends `segments` (`packets` guest packets) per iteration, and takes their completions from
// tx_poll as the frontend does, and reports the time per guest packet (as counter `per_packet`)
// and guest bytes; fails the benchmark if a packet is not consumed, not completed or dropped.
void run_tx(benchmark::State& state, BenchPort& port, std::span<const TxSegment> segments,
            size_t packets, size_t bytes, const char* per_packet) {
  const uint64_t errors = port.stats().tx_errors();
  const uint64_t sent = port.stats().tx_packets();
  std::array<TxId, kBurst> done;
  for (auto _ : state) {
    auto r = port.queue().tx_avail(*port.pool, segments);
    if (!r || r->segments_consumed != segments.size()) {
      fail(state, "tx_avail did not consume the burst");
      return;
    }
    auto n = port.queue().tx_poll(*port.pool, done);
    if (!n || *n != (r->completed_synchronously ? 0 : packets)) {
      fail(state, "tx_poll did not complete the burst");
      return;
    }
  }
  if (port.stats().tx_errors() != errors ||
      port.stats().tx_packets() - sent != state.iterations() * packets) {
    fail(state, "packets were dropped");
    return;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  report_packets(state, packets, per_packet);
}

// Guest TX: a burst of kBurst TCP/IPv4 frames of `len` bytes, one guest segment each, handed to
// net_null: copied into mbufs, or (zero_copy: 1, plain frames of 256 bytes and more) as mbufs over
// guest memory. csum: 1 asks for the TCP checksum, which net_null cannot do, so the queue
// computes it in software on the mbuf copy (such a frame is always copied).
void BM_EthdevTx(benchmark::State& state) {
  const auto len = static_cast<size_t>(state.range(0));
  const bool csum = state.range(1) != 0;
  const bool zero_copy = state.range(2) != 0;
  const EthdevSpec defaults;
  const bool expect_zero_copy = zero_copy && !csum && len >= defaults.tx_zero_copy_min;
  BenchPort* port = tx_port(state, zero_copy);
  if (port == nullptr) return;
  const Frame f = build_frame(false, false, 0, len);
  TxMetadata m = f.meta;
  if (csum) m.flags = m.flags.with_offload_tcp_checksum(true);
  std::vector<TxSegment> segs;
  for (size_t i = 0; i < kBurst; ++i) {
    const uint64_t gpa = kTxGpa + i * kTxStride;
    if (!guest().write_at(gpa, f.bytes)) {
      fail(state, "guest memory write failed");
      return;
    }
    m.id = TxId{static_cast<uint32_t>(i)};
    segs.push_back(TxSegment::make_head(m, gpa, static_cast<uint32_t>(len)));
  }
  const uint64_t sw = port->stats().tx_sw_checksum_.get();
  const uint64_t zc = zero_copy_count(*port);
  run_tx(state, *port, segs, kBurst, kBurst * len, "per_pkt");
  if (csum && port->stats().tx_sw_checksum_.get() - sw != state.iterations() * kBurst) {
    fail(state, "the checksum was not done in software");
  }
  const uint64_t zero_copied = zero_copy_count(*port) - zc;
  if (zero_copied != (expect_zero_copy ? state.iterations() * kBurst : 0)) {
    fail(state, expect_zero_copy ? "the frames were copied" : "the frames were not copied");
  }
}
BENCHMARK(BM_EthdevTx)
    ->ArgNames({"len", "csum", "zero_copy"})
    ->ArgsProduct({{64, 1500}, {0, 1}, {0, 1}});

// One 64 KB superframe written to guest memory as the guest's stack would hand it over: the
// headers in one segment, the payload in 4 KB pieces.
std::vector<TxSegment> superframe_segments(const Frame& f, const TxMetadata& m) {
  std::vector<TxSegment> segs;
  const uint32_t headers = m.l2_len + m.l3_len + m.l4_len;
  segs.push_back(TxSegment::make_head(m, kSuperframeGpa, headers));
  for (uint32_t off = headers; off < f.bytes.size(); off += kPageSize) {
    const uint32_t n = std::min<uint32_t>(kPageSize, static_cast<uint32_t>(f.bytes.size()) - off);
    segs.push_back(TxSegment::make_tail(kSuperframeGpa + off, n));
  }
  // NOLINTNEXTLINE(bugprone-unchecked-optional-access): make_head above gave it a head
  segs.front().head->segment_count = static_cast<uint8_t>(segs.size());
  return segs;
}

// Software TSO/USO of one 64 KB frame into kMss-byte segments per iteration, each segment copied
// into its own mbuf and handed to net_null. kind: 0 TCP/IPv4, 1 TCP/IPv6, 2 UDP/IPv4 (USO).
void BM_EthdevTxSegment64K(benchmark::State& state) {
  const int kind = static_cast<int>(state.range(0));
  const bool v6 = kind == 1;
  const bool udp = kind == 2;
  BenchPort* port = tx_port(state);
  if (port == nullptr) return;
  const Frame f = build_frame(v6, udp, 12, kSuperframeLen);
  if (!guest().write_at(kSuperframeGpa, f.bytes)) {
    fail(state, "guest memory write failed");
    return;
  }
  TxMetadata m = f.meta;
  m.flags = udp ? m.flags.with_offload_udp_segmentation(true).with_offload_udp_checksum(true)
                : m.flags.with_offload_tcp_segmentation(true).with_offload_tcp_checksum(true);
  m.max_segment_size = kMss;
  const std::vector<TxSegment> segs = superframe_segments(f, m);
  const uint64_t seg_before = port->stats().tx_segments_.get();
  run_tx(state, *port, segs, 1, kSuperframeLen, "per_frame");
  const uint64_t produced = port->stats().tx_segments_.get() - seg_before;
  const size_t payload = kSuperframeLen - m.l2_len - m.l3_len - m.l4_len;
  if (produced != state.iterations() * ((payload + kMss - 1) / kMss)) {
    fail(state, "unexpected segment count");
    return;
  }
  state.counters["per_seg"] = benchmark::Counter(
      static_cast<double>(produced), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EthdevTxSegment64K)->ArgName("tcp4_tcp6_udp4")->Arg(0)->Arg(1)->Arg(2);

// Guest RX: rx_poll takes kBurst packets of `size` bytes from net_null (made up by its RX, not
// copied into) and copies each into a posted guest buffer; rx_avail posts them again.
void BM_EthdevRx(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  std::string error;
  BenchPort* port = open_port(fmt::format("net_null{},size={}", size == 64 ? 1 : 2, size), error);
  if (port == nullptr) {
    fail(state, error);
    return;
  }
  std::vector<RxId> done(kBurst);
  const uint64_t errors = port->stats().rx_errors();
  for (auto _ : state) {
    auto got = port->queue().rx_poll(*port->pool, done);
    if (!got || *got != kBurst) {
      fail(state, "rx_poll did not fill the burst");
      return;
    }
    port->queue().rx_avail(*port->pool, done);
  }
  if (port->stats().rx_errors() != errors || !port->pool->all_writes_ok() ||
      port->pool->header(done.back()).len != size) {
    fail(state, "receive failed");
    return;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBurst * size));
  report_packets(state, kBurst);
}
BENCHMARK(BM_EthdevRx)->ArgName("size")->Arg(64)->Arg(1500);

// An endpoint of its own over `device` (net_null devargs), with its one queue; nullopt (the
// benchmark failed) if either cannot be had.
struct EndpointQueue {
  std::unique_ptr<Endpoint> endpoint;
  std::unique_ptr<Queue> queue;
};
std::optional<EndpointQueue> open_endpoint(const std::string& device, benchmark::State& state) {
  EthdevSpec spec;
  spec.device = device;
  auto ep = make_ethdev_endpoint(spec);
  if (!ep) {
    fail(state, ep.error().message);
    return std::nullopt;
  }
  std::vector<std::unique_ptr<Queue>> queues;
  QueueConfig qc;
  if (auto r = (*ep)->get_queues(std::span(&qc, 1), nullptr, queues); !r) {
    (*ep)->stop();
    fail(state, r.error().message);
    return std::nullopt;
  }
  return EndpointQueue{std::move(*ep), std::move(queues.front())};
}

// Guest TX end to end, one worker pass as pmdnetd runs it: kBurst chains (a virtio_net_hdr
// descriptor, then the frame's) on a 256-entry virtio TX ring, through VirtioNetQueue into an
// EthdevQueue on its own net_null port (a 64 B frame is copied into an mbuf, a 1518 B one goes
// zero-copy over guest memory), their completions back to the used ring.
void BM_GuestTxToEthdev(benchmark::State& state) {
  using virtio::testing::Buf;
  const auto len = static_cast<uint32_t>(state.range(0));
  auto ep = open_endpoint("net_null4", state);
  if (!ep) return;
  {
    virtio::testing::TestMemory m(0x100000, 16u << 20);
    virtio::testing::FakeVirtqueue rxq(m, 0x100000, 256);
    virtio::testing::FakeVirtqueue txq(m, 0x108000, 256);
    virtio::VirtioNetQueueConfig c;
    c.mem = &m.mem();
    c.features =
        virtio::bit(virtio::feature::kVersion1) | virtio::bit(virtio::feature::kRingEventIdx);
    c.rx_ring = rxq.addresses();
    c.tx_ring = txq.addresses();
    auto q = virtio::VirtioNetQueue::create(c, std::move(ep->queue));
    if (!q) return fail(state, q.error().message);
    const Frame f = build_frame(false, false, 0, len);
    std::vector<uint16_t> heads;
    for (size_t i = 0; i < kBurst; ++i) {
      const uint64_t gpa = 0x200000 + i * 0x1000;
      std::memset(m.host(gpa), 0, sizeof(virtio::VirtioNetHdr));
      std::memcpy(m.host(gpa + 0x100), f.bytes.data(), len);
      const std::vector<Buf> bufs = {{gpa, sizeof(virtio::VirtioNetHdr), false},
                                     {gpa + 0x100, len, false}};
      heads.push_back(txq.add_chain(bufs));
    }
    for (auto _ : state) {
      for (uint16_t h : heads) txq.make_available(h);
      if ((*q)->poll() != kBurst || txq.drain_used().size() != kBurst) {
        fail(state, "a transmit was not completed in the pass");
        break;
      }
    }
    (*q)->release_backend();
  }
  ep->endpoint->stop();
  report_packets(state, kBurst);
}
BENCHMARK(BM_GuestTxToEthdev)->ArgName("len")->Arg(64)->Arg(1518);

// Guest RX end to end, one worker pass as pmdnetd runs it: net_null makes up kBurst frames of
// `len` bytes, EthdevQueue copies them through VirtioNetQueue into kBurst posted 2 KiB chains of
// a 256-entry virtio RX ring in the layout `Layout` (mergeable buffers, as Linux posts them), and
// the pass returns them to the used ring. The guest makes the chains available again every
// iteration.
template <class Layout>
void BM_GuestRxFromEthdev(benchmark::State& state) {
  const auto len = static_cast<uint32_t>(state.range(0));
  auto ep = open_endpoint(fmt::format("net_null{},size={}", next_null_port++, len), state);
  if (!ep) return;
  {
    virtio::bench::TestMemory m(0x100000, 16u << 20);
    const bool in_order = virtio::has(Layout::kFeatures, virtio::feature::kInOrder);
    typename Layout::Guest rxq(m, 0x100000, in_order);
    typename Layout::Guest txq(m, 0x108000, in_order);
    virtio::VirtioNetQueueConfig c;
    c.mem = &m.mem();
    c.features = virtio::bit(virtio::feature::kVersion1) |
                 virtio::bit(virtio::feature::kRingEventIdx) |
                 virtio::bit(virtio::feature::kMrgRxbuf) | Layout::kFeatures;
    c.rx_ring = rxq.addresses();
    c.tx_ring = txq.addresses();
    c.rx_start = c.tx_start = Layout::kStart;
    auto q = virtio::VirtioNetQueue::create(c, std::move(ep->queue));
    if (!q) return fail(state, q.error().message);
    for (size_t i = 0; i < kBurst; ++i) {
      const std::vector<virtio::bench::Buf> bufs = {{0x200000 + i * 0x1000, kRxBufferSize, true}};
      rxq.add(bufs);
    }
    const uint64_t before = (*q)->stats().guest_rx_packets.get();
    for (auto _ : state) {
      rxq.offer();
      if ((*q)->poll() != kBurst) {
        fail(state, "a receive was not completed in the pass");
        break;
      }
      rxq.reap();
    }
    if ((*q)->stats().guest_rx_packets.get() - before != state.iterations() * kBurst) {
      fail(state, "the guest did not get every frame");
    }
    (*q)->release_backend();
  }
  ep->endpoint->stop();
  report_packets(state, kBurst);
}
BENCHMARK(BM_GuestRxFromEthdev<virtio::bench::Split>)->ArgName("len")->Arg(64)->Arg(1518);
BENCHMARK(BM_GuestRxFromEthdev<virtio::bench::SplitInOrder>)->ArgName("len")->Arg(64)->Arg(1518);
BENCHMARK(BM_GuestRxFromEthdev<virtio::bench::Packed>)->ArgName("len")->Arg(64)->Arg(1518);
BENCHMARK(BM_GuestRxFromEthdev<virtio::bench::PackedInOrder>)->ArgName("len")->Arg(64)->Arg(1518);

// Where EAL keeps its runtime files for `prefix` (DPDK 22.11 eal_create_runtime_dir).
std::filesystem::path eal_runtime_dir(const std::string& prefix) {
  const char* base = "/var/run";
  if (getuid() != 0) {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");  // NOLINT(concurrency-mt-unsafe)
    base = xdg != nullptr ? xdg : "/tmp";
  }
  return std::filesystem::path(base) / "dpdk" / prefix;
}

// Records in the benchmark context which TX offloads net_null advertises (the reason the
// checksum, TSO and USO benchmarks measure the software fallbacks).
void describe_null_port() {
  uint16_t port = 0;
  rte_eth_dev_info info{};
  if (rte_eth_dev_get_port_by_name("net_null0", &port) != 0 ||
      rte_eth_dev_info_get(port, &info) != 0) {
    return;
  }
  std::string names;
  for (uint64_t bit = 1; bit != 0; bit <<= 1) {
    if ((info.tx_offload_capa & bit) == 0) continue;
    names += fmt::format("{}{}", names.empty() ? "" : ",", rte_eth_dev_tx_offload_name(bit));
  }
  benchmark::AddCustomContext(
      "net_null_tx_offload_capa",
      fmt::format("{:#x} ({})", info.tx_offload_capa, names.empty() ? "none" : names));
}

}  // namespace
}  // namespace pmdnet

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const std::string prefix = fmt::format("pmdnet-pmd-bench-{}", getpid());
  pmdnet::EalOptions options;
  options.no_huge = true;
  options.memory_mb = 512;
  options.file_prefix = prefix;
  options.driver_dirs = {pmdnet::default_pmd_dir()};
  options.vdevs = {"net_null0"};
  options.no_pci = true;
  options.log_level = "*:error";
  options.no_telemetry = true;
  int rc = 0;
  {
    auto eal = pmdnet::Eal::init(options, "pmdnet_pmd_bench");
    if (!eal) {
      std::fprintf(stderr, "pmdnet_pmd_bench: %s\n", eal.error().message.c_str());
      rc = 1;
    } else {
      pmdnet::describe_null_port();
      benchmark::RunSpecifiedBenchmarks();
      pmdnet::close_ports();  // queues, ports and mempools go before rte_eal_cleanup
    }
  }
  benchmark::Shutdown();
  if (pmdnet::g_failed) rc = 1;
  std::error_code ec;
  std::filesystem::remove_all(pmdnet::eal_runtime_dir(prefix), ec);
  if (ec) {
    std::fprintf(stderr, "pmdnet_pmd_bench: removing the EAL runtime directory: %s\n",
                 ec.message().c_str());
    rc = 1;
  }
  return rc;
}
