// Integration tests of EthdevEndpoint/EthdevQueue against DPDK 22.11 vdevs: net_ring (whose TX
// ring is its own RX ring, so guest TX comes back as guest RX) carries frames byte for byte, the
// software checksum and TSO fallbacks, the drops of bad metadata and oversized receives, the
// bound on what one rx_poll takes (also on net_null, which never runs dry), rte_gro coalescing
// of guest RX, stripped VLAN tags put back into received frames (mbufs injected into net_ring
// with the flags a stripping PMD sets; net_af_packet not configured to strip), link-state
// events (polled on net_ring, LSC interrupts on net_tap), and guest RX bursts (a frame too large
// mid-burst, mbuf chains and merged frames handed over as pieces, a burst into a guest's virtio
// ring through VirtioNetQueue); each test in a forked child because EAL can be initialised only
// once per process.
#include "pmd_backends/ethdev.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/base/event_fd.h"
#include "core/net/frame.h"
#include "core/offload/checksum.h"
#include "core/virtio_net/virtio_net_queue.h"
#include "pmd_backends/eal.h"
#include "tests/integration/eal_child.h"
#include "tests/unit/core/net_backend/test_buffer_access.h"
#include "tests/unit/core/virtqueue/fake_driver.h"

namespace pmdnet {
namespace {

namespace fs = std::filesystem;
using pmdnet::testing::eal_runtime_dir;
using pmdnet::testing::run_in_child;
using pmdnet::testing::TestBufferAccess;
using pmdnet::testing::TestGuestMemory;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kProgram = "pmdnet_ethdev_test";
constexpr uint64_t kMemSize = 16u << 20;
constexpr uint64_t kTxGpa = 0;              // guest TX frames are written here
constexpr uint64_t kRxGpa = 4u << 20;       // receive buffers start here
constexpr uint32_t kRxBufferSize = 9216;    // each receive buffer, in two guest segments
constexpr size_t kEthIpTcp = 14 + 20 + 20;  // header bytes of the TCP/IPv4 frames

// A TCP/IPv4 frame with `payload` bytes of a counting pattern and zero checksums.
std::vector<uint8_t> tcp_ipv4_frame(size_t payload) {
  std::vector<uint8_t> f(kEthIpTcp + payload);
  const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
  std::copy(std::begin(eth), std::end(eth), f.begin());
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  offload::store_be16(ip + 2, static_cast<uint16_t>(20 + 20 + payload));
  offload::store_be16(ip + 4, 0x1234);
  offload::store_be16(ip + 6, 0x4000);  // DF
  ip[8] = 64;
  ip[9] = 6;
  const uint8_t addrs[8] = {10, 0, 0, 1, 10, 0, 0, 2};
  std::copy(std::begin(addrs), std::end(addrs), ip + 12);
  uint8_t* tcp = ip + 20;
  offload::store_be16(tcp, 40000);
  offload::store_be16(tcp + 2, 80);
  offload::store_be32(tcp + 4, 1000);
  tcp[12] = 5 << 4;
  tcp[13] = 0x18;  // ACK PSH
  offload::store_be16(tcp + 14, 65535);
  for (size_t i = 0; i < payload; ++i) f[kEthIpTcp + i] = static_cast<uint8_t>(i * 7 + 3);
  return f;
}

// A UDP/IPv4 frame with `payload` bytes of a counting pattern and zero checksums.
std::vector<uint8_t> udp_ipv4_frame(size_t payload) {
  std::vector<uint8_t> f = tcp_ipv4_frame(payload + 12);  // 12 = TCP header - UDP header
  f.resize(14 + 20 + 8 + payload);
  uint8_t* ip = f.data() + 14;
  offload::store_be16(ip + 2, static_cast<uint16_t>(20 + 8 + payload));
  ip[9] = 17;
  uint8_t* udp = ip + 20;
  offload::store_be16(udp + 4, static_cast<uint16_t>(8 + payload));
  offload::store_be16(udp + 6, 0);
  for (size_t i = 0; i < payload; ++i) f[42 + i] = static_cast<uint8_t>(i * 5 + 1);
  return f;
}

// Whether the IPv4 header and TCP (or UDP) checksums of an IPv4 frame with no options whose
// Ethernet header is `l2` bytes long hold.
::testing::AssertionResult checksums_ok(std::span<const uint8_t> f, size_t l2 = 14) {
  if (f.size() < l2 + 28) return ::testing::AssertionFailure() << "short frame " << f.size();
  const uint8_t* ip = f.data() + l2;
  const uint16_t total = offload::load_be16(ip + 2);
  if (total + l2 != f.size()) {
    return ::testing::AssertionFailure() << "IP total length " << total << " vs " << f.size();
  }
  if (offload::internet_checksum(f.subspan(l2, 20)) != 0) {
    return ::testing::AssertionFailure() << "bad IPv4 header checksum";
  }
  const auto l4 = f.subspan(l2 + 20);
  if (ip[9] == 17 && offload::load_be16(l4.data() + 4) != l4.size()) {
    return ::testing::AssertionFailure() << "UDP length " << offload::load_be16(l4.data() + 4);
  }
  const uint16_t pseudo = offload::ipv4_pseudo_header_sum(std::span<const uint8_t, 4>(ip + 12, 4),
                                                          std::span<const uint8_t, 4>(ip + 16, 4),
                                                          ip[9], static_cast<uint16_t>(l4.size()));
  if (offload::tcp_checksum(pseudo, offload::ones_sum(l4)) != 0) {
    return ::testing::AssertionFailure() << "bad L4 checksum";
  }
  return ::testing::AssertionSuccess();
}

TxMetadata tcp_metadata(uint32_t id, uint32_t len) {
  return TxMetadata{.id = TxId{id},
                    .segment_count = 1,
                    .flags = TxFlags().with_is_ipv4(true),
                    .len = len,
                    .l2_len = 14,
                    .l3_len = 20,
                    .l4_len = 20,
                    .transport_header_offset = 34,
                    .max_segment_size = 0,
                    .vlan = std::nullopt};
}

// Guest memory, a BufferAccess over it, and the endpoint's single queue.
class EthdevTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int serial = 0;
    prefix_ = fmt::format("pmdnet-eth-{}-{}", getpid(), serial++);
    options_.no_huge = true;
    options_.memory_mb = 256;
    options_.file_prefix = prefix_;
    options_.driver_dirs = {default_pmd_dir()};
    options_.vdevs = {"net_ring0"};
    options_.no_pci = true;
    options_.log_level = "*:error";
    options_.no_telemetry = true;
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(eal_runtime_dir(prefix_), ec);
    EXPECT_FALSE(ec) << ec.message();
  }

  EthdevSpec spec(std::string device = "net_ring0") const {
    EthdevSpec s;
    s.device = std::move(device);
    s.mempool_size = 2047;
    s.rx_descriptors = 512;
    s.tx_descriptors = 512;
    return s;
  }

  // Brings up the endpoint with one queue; false (with a test failure) if it could not.
  bool open(const EthdevSpec& s, QueueConfig qc = {}) {
    auto ep = make_ethdev_endpoint(s);
    if (!ep) {
      ADD_FAILURE() << ep.error().message;
      return false;
    }
    endpoint_ = std::move(*ep);
    auto r = endpoint_->get_queues(std::span(&qc, 1), nullptr, queues_);
    if (!r) {
      ADD_FAILURE() << r.error().message;
      return false;
    }
    return queues_.size() == 1;
  }

  // In the child: EAL, and the endpoint with rx_gro on for a frontend that does or does not
  // accept coalesced frames, with 8 receive buffers posted.
  std::optional<Eal> start_gro(bool accepts_coalesced) {
    auto eal = Eal::init(options_, kProgram);
    if (!eal) {
      ADD_FAILURE() << eal.error().message;
      return std::nullopt;
    }
    EthdevSpec s = spec();
    s.rx_gro = true;
    if (!open(s, QueueConfig{.accepts_coalesced_tcp4 = accepts_coalesced})) return std::nullopt;
    post(0, 8);
    return std::move(*eal);
  }

  void close() {
    queues_.clear();
    if (endpoint_) endpoint_->stop();
    endpoint_.reset();
  }

  Queue& queue() { return *queues_.front(); }
  const EthdevQueueStats& stats() {
    return *dynamic_cast<const EthdevQueueStats*>(queue().queue_stats());
  }

  // Posts receive buffers [first, first + n), each of `size` bytes in two guest segments.
  void post(uint32_t first, uint32_t n, uint32_t size = kRxBufferSize) {
    std::vector<RxId> ids;
    for (uint32_t i = first; i < first + n; ++i) {
      const uint64_t gpa = kRxGpa + uint64_t{i} * kRxBufferSize;
      const uint32_t a = size / 3;
      pool_.add_buffer(RxId{i}, {{gpa, a}, {gpa + a, size - a}});
      ids.push_back(RxId{i});
    }
    queue().rx_avail(pool_, ids);
  }

  // Writes `frames` to guest memory and sends them, each split into up to 3 segments.
  TxAvailResult send(const std::vector<std::vector<uint8_t>>& frames,
                     const std::vector<TxMetadata>& metadata) {
    const std::vector<TxSegment> segs = write_frames(frames, metadata);
    auto r = queue().tx_avail(pool_, segs);
    EXPECT_TRUE(r.has_value());
    if (!r) return {};
    EXPECT_TRUE(r->completed_synchronously);
    EXPECT_EQ(r->segments_consumed, segs.size());
    return *r;
  }

  // Writes `frames` to guest memory, 64-byte aligned from kTxGpa, and returns their segments:
  // each frame split into up to 3 (10 bytes, half the rest, the rest).
  std::vector<TxSegment> write_frames(const std::vector<std::vector<uint8_t>>& frames,
                                      const std::vector<TxMetadata>& metadata) {
    std::vector<TxSegment> segs;
    uint64_t gpa = kTxGpa;
    for (size_t i = 0; i < frames.size(); ++i) {
      const auto& f = frames[i];
      EXPECT_TRUE(gm_.mem().write_at(gpa, f).has_value());
      TxMetadata m = metadata[i];
      const uint32_t cut1 = static_cast<uint32_t>(std::min<size_t>(f.size(), 10));
      const uint32_t cut2 = static_cast<uint32_t>(std::min<size_t>(f.size(), 10 + f.size() / 2));
      std::vector<std::pair<uint32_t, uint32_t>> parts;  // (offset, len)
      for (auto [off, end] : {std::pair{0u, cut1}, std::pair{cut1, cut2},
                              std::pair{cut2, static_cast<uint32_t>(f.size())}}) {
        if (end > off) parts.emplace_back(off, end - off);
      }
      if (m.segment_count != 0) m.segment_count = static_cast<uint8_t>(parts.size());
      for (size_t p = 0; p < parts.size(); ++p) {
        segs.push_back(p == 0 ? TxSegment::make_head(m, gpa + parts[p].first, parts[p].second)
                              : TxSegment::make_tail(gpa + parts[p].first, parts[p].second));
      }
      gpa += (f.size() + 63) & ~uint64_t{63};
    }
    return segs;
  }

  // Every TxId tx_poll reports until it reports nothing.
  std::vector<uint32_t> completions() {
    std::vector<uint32_t> ids;
    std::array<TxId, 256> done{};
    for (;;) {
      auto n = queue().tx_poll(pool_, done);
      EXPECT_TRUE(n.has_value());
      if (!n || *n == 0) break;
      for (size_t i = 0; i < *n; ++i) ids.push_back(done[i].value);
    }
    return ids;
  }

  // Receives until `want` packets arrived or the ring is empty.
  std::vector<RxId> receive(size_t want) {
    std::vector<RxId> got;
    std::vector<RxId> ids(256);
    for (int tries = 0; tries < 100 && got.size() < want; ++tries) {
      auto r = queue().rx_poll(pool_, ids);
      EXPECT_TRUE(r.has_value());
      if (!r) break;
      got.insert(got.end(), ids.begin(), ids.begin() + static_cast<long>(*r));
      if (*r == 0 && tries > 3) break;
    }
    return got;
  }

  std::vector<uint8_t> read_back(RxId id) {
    auto h = pool_.header(id);
    EXPECT_TRUE(h.has_value());
    return h ? pool_.read_back(id, h->len) : std::vector<uint8_t>{};
  }

  // The port id of `device` (in the child, after EAL is up).
  static uint16_t port_id(const char* device) {
    uint16_t port = RTE_MAX_ETHPORTS;
    EXPECT_EQ(rte_eth_dev_get_port_by_name(device, &port), 0) << device;
    return port;
  }

  // An mbuf chain holding `frame`, its segments `segments` bytes long (the last takes the rest;
  // empty: one segment), the first starting `headroom` bytes into its buffer (nullopt: the
  // pool's RTE_PKTMBUF_HEADROOM), with RX `ol_flags` and TCIs as a PMD would set them.
  rte_mbuf* make_mbuf(std::span<const uint8_t> frame, std::vector<size_t> segments = {},
                      uint64_t ol_flags = 0, uint16_t vlan_tci = 0, uint16_t vlan_tci_outer = 0,
                      std::optional<uint16_t> headroom = std::nullopt) {
    if (mbuf_pool_ == nullptr) {
      mbuf_pool_ = rte_pktmbuf_pool_create("test_mbufs", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                           SOCKET_ID_ANY);
      EXPECT_NE(mbuf_pool_, nullptr);
      if (mbuf_pool_ == nullptr) return nullptr;
    }
    segments.push_back(frame.size());
    rte_mbuf* head = nullptr;
    size_t off = 0;
    for (size_t seg : segments) {
      const size_t n = std::min(seg, frame.size() - off);
      rte_mbuf* m = rte_pktmbuf_alloc(mbuf_pool_);
      EXPECT_NE(m, nullptr);
      if (m == nullptr) return head;
      if (head == nullptr && headroom) m->data_off = *headroom;
      auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(n)));
      EXPECT_NE(p, nullptr);
      if (p == nullptr) return head;
      std::copy_n(frame.data() + off, n, p);
      off += n;
      if (head == nullptr) {
        head = m;
      } else {
        EXPECT_EQ(rte_pktmbuf_chain(head, m), 0);
      }
      if (off == frame.size()) break;
    }
    head->ol_flags = ol_flags;
    head->vlan_tci = vlan_tci;
    head->vlan_tci_outer = vlan_tci_outer;
    return head;
  }

  // Puts `mbufs` into net_ring0's ring (its TX ring is its RX ring), as the NIC's receive.
  void inject(std::vector<rte_mbuf*> mbufs) {
    const auto n = static_cast<uint16_t>(mbufs.size());
    const uint16_t sent = rte_eth_tx_burst(port_id("net_ring0"), 0, mbufs.data(), n);
    EXPECT_EQ(sent, n);
    for (uint16_t i = sent; i < n; ++i) rte_pktmbuf_free(mbufs[i]);
  }

  std::string prefix_;
  EalOptions options_;
  TestGuestMemory gm_{{0}, kMemSize};
  TestBufferAccess pool_{gm_.mem()};
  std::unique_ptr<Endpoint> endpoint_;
  std::vector<std::unique_ptr<Queue>> queues_;
  rte_mempool* mbuf_pool_ = nullptr;  // the mbufs tests inject, in the child
};

TEST_F(EthdevTest, RingLoopsFramesBackByteIdentical) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    EXPECT_EQ(endpoint_->endpoint_type(), "dpdk");
    EXPECT_TRUE(endpoint_->is_ordered());
    EXPECT_TRUE(endpoint_->tx_fast_completions());
    EXPECT_EQ(endpoint_->tx_offload_support(),
              (TxOffloadSupport{
                  .ipv4_header = true, .tcp = true, .udp = true, .tso = true, .uso = true}));
    EXPECT_GE(endpoint_->multiqueue_support().max_queues, 1);
    EXPECT_GT(endpoint_->link_speed(), 0u);

    post(0, 8);
    std::vector<std::vector<uint8_t>> frames;
    std::vector<TxMetadata> md;
    for (size_t len : {64u, 1500u, 9000u}) {
      std::vector<uint8_t> f(len);
      for (size_t i = 0; i < len; ++i) f[i] = static_cast<uint8_t>(i * 13 + len);
      md.push_back(TxMetadata{.id = TxId{static_cast<uint32_t>(len)},
                              .segment_count = 1,
                              .len = static_cast<uint32_t>(len)});
      frames.push_back(std::move(f));
    }
    send(frames, md);
    EXPECT_EQ(stats().tx_packets(), 3u);
    EXPECT_EQ(stats().tx_errors(), 0u);
    const auto got = receive(3);
    ASSERT_EQ(got.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(got[i], RxId{static_cast<uint32_t>(i)});
      const auto h = pool_.header(got[i]);
      ASSERT_TRUE(h.has_value());
      EXPECT_EQ(h->len, frames[i].size());
      EXPECT_FALSE(h->vlan.has_value());
      EXPECT_EQ(read_back(got[i]), frames[i]) << "frame " << i;
    }
    EXPECT_TRUE(pool_.all_writes_ok());
    EXPECT_EQ(stats().rx_packets(), 3u);
    EXPECT_EQ(stats().rx_errors(), 0u);
    close();
  });
}

// The RARP announcement a worker sends after a live migration: out of the transmit queue as it
// was built, beside the guest's own transmits.
TEST_F(EthdevTest, ADeviceFrameGoesOutAsBuilt) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    post(0, 4);
    const auto rarp = net::rarp_announcement({0x52, 0x54, 0x00, 0x12, 0x34, 0x56});
    ASSERT_TRUE(queue().tx_frame(pool_, rarp));
    EXPECT_EQ(stats().tx_packets(), 1u);
    EXPECT_EQ(stats().tx_errors(), 0u);
    const auto got = receive(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(read_back(got[0]), std::vector<uint8_t>(rarp.begin(), rarp.end()));
    // Too long for any transmit: dropped and counted (nothing to retry), nothing sent.
    EXPECT_TRUE(queue().tx_frame(pool_, std::vector<uint8_t>(kMaxTxFrame + 1)));
    EXPECT_EQ(stats().tx_packets(), 1u);
    EXPECT_EQ(stats().tx_errors(), 1u);
    close();
  });
}

TEST_F(EthdevTest, RxStopsWhenNoBufferIsPosted) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    std::vector<std::vector<uint8_t>> frames(4, std::vector<uint8_t>(100, 0xab));
    std::vector<TxMetadata> md(4, TxMetadata{.segment_count = 1, .len = 100});
    send(frames, md);
    EXPECT_TRUE(receive(4).empty());  // nothing posted: the frames wait in the ring
    post(0, 2);
    EXPECT_EQ(receive(4).size(), 2u);
    post(2, 8);
    EXPECT_EQ(receive(4).size(), 2u);
    EXPECT_EQ(stats().rx_packets(), 4u);
    EXPECT_EQ(stats().rx_errors(), 0u);
    close();
  });
}

TEST_F(EthdevTest, PacketsLargerThanTheGuestBufferAreDroppedAndCounted) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    post(0, 1, 200);
    std::vector<std::vector<uint8_t>> frames = {std::vector<uint8_t>(1500, 1),
                                                std::vector<uint8_t>(64, 2)};
    std::vector<TxMetadata> md = {TxMetadata{.segment_count = 1, .len = 1500},
                                  TxMetadata{.segment_count = 1, .len = 64}};
    send(frames, md);
    const auto got = receive(2);
    // The 1500-byte frame is dropped; the buffer stays posted and takes the next frame.
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], RxId{0});
    EXPECT_EQ(read_back(got[0]), frames[1]);
    EXPECT_EQ(stats().rx_too_large_.get(), 1u);
    EXPECT_EQ(stats().rx_errors(), 1u);
    EXPECT_EQ(stats().rx_packets(), 1u);
    close();
  });
}

TEST_F(EthdevTest, BadTxMetadataIsDroppedAndCounted) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    post(0, 8);
    const auto frame = tcp_ipv4_frame(10);
    const auto len = static_cast<uint32_t>(frame.size());

    TxMetadata past_end = tcp_metadata(1, len);
    past_end.flags = past_end.flags.with_offload_tcp_checksum(true);
    past_end.l3_len = 200;
    TxMetadata mss_zero = tcp_metadata(2, len);
    mss_zero.flags = mss_zero.flags.with_offload_tcp_segmentation(true);
    TxMetadata both_ip = tcp_metadata(3, len);
    both_ip.flags = both_ip.flags.with_is_ipv6(true).with_offload_tcp_checksum(true);
    TxMetadata uso_on_tcp = tcp_metadata(4, len);
    uso_on_tcp.flags = uso_on_tcp.flags.with_offload_udp_segmentation(true);
    uso_on_tcp.max_segment_size = 8;
    TxMetadata wrong_len = tcp_metadata(5, len + 7);  // the segments add up to `len`
    TxMetadata good = tcp_metadata(6, len);

    send({frame, frame, frame, frame, frame, frame},
         {past_end, mss_zero, both_ip, uso_on_tcp, wrong_len, good});
    using offload::OffloadError;
    auto count = [&](OffloadError e) {
      return stats().tx_offload_errors_[static_cast<size_t>(e)].get();
    };
    EXPECT_EQ(count(OffloadError::kMetadataPastEnd), 1u);
    EXPECT_EQ(count(OffloadError::kMaxSegmentSizeZero), 1u);
    EXPECT_EQ(count(OffloadError::kBothIpVersions), 1u);
    EXPECT_EQ(count(OffloadError::kNotUdp), 1u);
    EXPECT_EQ(stats().tx_length_mismatch_.get(), 1u);
    EXPECT_EQ(stats().tx_errors(), 5u);
    EXPECT_EQ(stats().tx_packets(), 1u);
    const auto got = receive(6);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(read_back(got[0]), frame);

    // A head with segment_count 0 is a malformed list, not a bad packet: the call fails.
    std::vector<TxSegment> bad = {
        TxSegment::make_head(TxMetadata{.segment_count = 0, .len = 10}, kTxGpa, 10)};
    auto r = queue().tx_avail(pool_, bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::kMalformed);
    close();
  });
}

TEST_F(EthdevTest, UnknownDeviceFailsNamingIt) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    auto ep = make_ethdev_endpoint(spec("net_bogus0"));
    ASSERT_FALSE(ep.has_value());
    EXPECT_EQ(ep.error().code, Errc::kDevice);
    EXPECT_THAT(ep.error().message, HasSubstr("net_bogus0"));
    EXPECT_THAT(ep.error().message, HasSubstr("rte_dev_probe"));
  });
}

TEST_F(EthdevTest, TooManyQueuesFailsNamingTheDevice) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    EthdevSpec s = spec();
    s.max_queues = 1024;
    auto ep = make_ethdev_endpoint(s);
    ASSERT_TRUE(ep.has_value()) << ep.error().message;
    const size_t n = size_t{(*ep)->multiqueue_support().max_queues} + 1;
    std::vector<QueueConfig> configs(n);
    std::vector<std::unique_ptr<Queue>> queues;
    auto r = (*ep)->get_queues(configs, nullptr, queues);
    ASSERT_FALSE(r.has_value());
    EXPECT_THAT(r.error().message, HasSubstr("net_ring0"));
    EXPECT_TRUE(queues.empty());
    (*ep)->stop();
  });
}

// What a dpdk port's guest is offered on receive (GUEST_CSUM and GUEST_TSO4/6, not GUEST_USO),
// whatever the PMD validates, and with rx_gro off or on.
TEST_F(EthdevTest, RxOffloadSupportIsValidatedChecksumsAndCoalescedTcp) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    const RxOffloadSupport expected{
        .checksum = true, .coalesced_tcp = true, .coalesced_udp = false};
    for (const char* device : {"net_ring0", "net_null0"}) {
      for (bool gro : {false, true}) {
        EthdevSpec s = spec(device);
        s.rx_gro = gro;
        auto ep = make_ethdev_endpoint(s);
        ASSERT_TRUE(ep.has_value()) << ep.error().message;
        EXPECT_EQ((*ep)->rx_offload_support(), expected) << device << " rx_gro " << gro;
        (*ep)->stop();
      }
    }
  });
}

TEST_F(EthdevTest, HotplugsAVdevEalWasNotGiven) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec("net_ring7")));
    post(0, 1);
    send({std::vector<uint8_t>(60, 9)}, {TxMetadata{.segment_count = 1, .len = 60}});
    EXPECT_EQ(receive(1).size(), 1u);
    close();
  });
}

// net_null frees what it is given inside tx_burst: plain frames of tx_zero_copy_min bytes and
// more go to it as mbufs over guest memory, one per guest segment. Every packet of a zero-copy
// queue completes through tx_poll: the zero-copy one, and the small, offloaded and dropped ones
// the queue handled otherwise.
TEST_F(EthdevTest, ZeroCopyTransmitsCompleteThroughTxPoll) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec("net_null0")));
    const auto big = tcp_ipv4_frame(1000);
    const auto small = tcp_ipv4_frame(60);
    TxMetadata offloaded = tcp_metadata(3, static_cast<uint32_t>(big.size()));
    offloaded.flags = offloaded.flags.with_offload_tcp_checksum(true);
    TxMetadata bad_length{.id = TxId{4}, .segment_count = 1, .len = 5};
    const std::vector<TxMetadata> md = {
        TxMetadata{.id = TxId{1}, .segment_count = 1, .len = static_cast<uint32_t>(big.size())},
        TxMetadata{.id = TxId{2}, .segment_count = 1, .len = static_cast<uint32_t>(small.size())},
        offloaded, bad_length};
    auto segs = write_frames({big, small, big, small}, md);
    auto r = queue().tx_avail(pool_, segs);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->completed_synchronously);
    EXPECT_EQ(r->segments_consumed, segs.size());
    auto ids = completions();
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<uint32_t>{1, 2, 3, 4}));
    EXPECT_EQ(stats().tx_zero_copy_.get(), 1u);
    EXPECT_EQ(stats().tx_sw_checksum_.get(), 1u);
    EXPECT_EQ(stats().tx_packets(), 3u);
    EXPECT_EQ(stats().tx_length_mismatch_.get(), 1u);
    close();
  });
}

// Completions wait in the queue until tx_poll takes them; tx_avail stops consuming while there
// is no room for more, and goes on once tx_poll has made some.
TEST_F(EthdevTest, ZeroCopyQueueStopsWhenCompletionsAreNotPolled) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec("net_null0")));
    constexpr uint32_t kFrames = 1200;
    const auto frame = tcp_ipv4_frame(300);
    std::vector<TxSegment> segs;
    ASSERT_TRUE(gm_.mem().write_at(kTxGpa, frame).has_value());
    for (uint32_t i = 0; i < kFrames; ++i) {
      segs.push_back(TxSegment::make_head(
          TxMetadata{.id = TxId{i}, .segment_count = 1, .len = static_cast<uint32_t>(frame.size())},
          kTxGpa, static_cast<uint32_t>(frame.size())));
    }
    auto r = queue().tx_avail(pool_, segs);
    ASSERT_TRUE(r.has_value());
    const size_t first = r->segments_consumed;
    EXPECT_GT(first, 0u);
    EXPECT_LT(first, kFrames);
    EXPECT_EQ(queue().tx_avail(pool_, std::span(segs).subspan(first))->segments_consumed, 0u);
    auto ids = completions();
    EXPECT_EQ(ids.size(), first);
    r = queue().tx_avail(pool_, std::span(segs).subspan(first));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->segments_consumed, kFrames - first);
    auto rest = completions();
    ids.insert(ids.end(), rest.begin(), rest.end());
    std::sort(ids.begin(), ids.end());
    ASSERT_EQ(ids.size(), kFrames);
    for (uint32_t i = 0; i < kFrames; ++i) EXPECT_EQ(ids[i], i);
    EXPECT_EQ(stats().tx_zero_copy_.get(), kFrames);
    close();
  });
}

// A segment that crosses from one guest memory region into the next has no single mapping: the
// frame is copied. With tx_zero_copy off nothing goes zero-copy and tx_avail completes
// everything itself.
TEST_F(EthdevTest, ZeroCopyFallsBackToACopy) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec("net_null0")));
    constexpr uint64_t kRegion = 1u << 20;
    TestGuestMemory two({0, kRegion}, kRegion);
    TestBufferAccess pool(two.mem());
    const auto frame = tcp_ipv4_frame(1000);
    const uint64_t gpa = kRegion - 100;  // 100 bytes in the first region, the rest in the second
    ASSERT_TRUE(two.mem().write_at(gpa, frame).has_value());
    const auto len = static_cast<uint32_t>(frame.size());
    const TxSegment seg =
        TxSegment::make_head(TxMetadata{.id = TxId{7}, .segment_count = 1, .len = len}, gpa, len);
    auto r = queue().tx_avail(pool, std::span(&seg, 1));
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->completed_synchronously);
    EXPECT_EQ(completions(), std::vector<uint32_t>{7});
    EXPECT_EQ(stats().tx_zero_copy_.get(), 0u);
    EXPECT_EQ(stats().tx_packets(), 1u);
    close();

    EthdevSpec s = spec("net_null0");
    s.tx_zero_copy = false;
    ASSERT_TRUE(open(s));
    const TxSegment plain =
        TxSegment::make_head(TxMetadata{.id = TxId{8}, .segment_count = 1, .len = len}, 0, len);
    ASSERT_TRUE(gm_.mem().write_at(0, frame).has_value());
    r = queue().tx_avail(pool_, std::span(&plain, 1));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->completed_synchronously);
    EXPECT_TRUE(completions().empty());
    EXPECT_EQ(stats().tx_zero_copy_.get(), 0u);
    close();
  });
}

TEST_F(EthdevTest, SoftwareTcpChecksumComesBackCorrect) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    post(0, 4);
    std::vector<std::vector<uint8_t>> frames = {tcp_ipv4_frame(100), tcp_ipv4_frame(5000)};
    std::vector<TxMetadata> md;
    for (const auto& f : frames) {
      TxMetadata m = tcp_metadata(0, static_cast<uint32_t>(f.size()));
      m.flags = m.flags.with_offload_tcp_checksum(true).with_offload_ip_header_checksum(true);
      md.push_back(m);
    }
    EXPECT_FALSE(checksums_ok(frames[0]));
    send(frames, md);
    EXPECT_EQ(stats().tx_sw_checksum_.get(), 2u);
    const auto got = receive(2);
    ASSERT_EQ(got.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      const auto back = read_back(got[i]);
      EXPECT_TRUE(checksums_ok(back)) << "frame " << i;
      ASSERT_EQ(back.size(), frames[i].size());
      EXPECT_TRUE(std::equal(back.begin() + kEthIpTcp, back.end(), frames[i].begin() + kEthIpTcp));
    }
    close();
  });
}

TEST_F(EthdevTest, SoftwareTsoSplitsA64KFrame) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    constexpr size_t kPayload = 65536 - kEthIpTcp;
    constexpr size_t kMss = 1448;
    constexpr size_t kSegments = (kPayload + kMss - 1) / kMss;
    post(0, 64);
    const auto frame = tcp_ipv4_frame(kPayload);
    TxMetadata m = tcp_metadata(0, static_cast<uint32_t>(frame.size()));
    m.flags = m.flags.with_offload_tcp_segmentation(true).with_offload_tcp_checksum(true);
    m.max_segment_size = kMss;
    send({frame}, {m});
    EXPECT_EQ(stats().tx_errors(), 0u);
    EXPECT_EQ(stats().tx_sw_tso_.get(), 1u);
    EXPECT_EQ(stats().tx_segments_.get(), kSegments);
    const auto got = receive(kSegments + 1);
    ASSERT_EQ(got.size(), kSegments);
    std::vector<uint8_t> payload;
    uint32_t seq = 1000;
    for (size_t i = 0; i < got.size(); ++i) {
      const auto back = read_back(got[i]);
      ASSERT_GE(back.size(), kEthIpTcp);
      EXPECT_LE(back.size(), kMss + kEthIpTcp);
      EXPECT_TRUE(checksums_ok(back)) << "segment " << i;
      EXPECT_EQ(offload::load_be32(back.data() + 34 + 4), seq);
      seq += static_cast<uint32_t>(back.size() - kEthIpTcp);
      payload.insert(payload.end(), back.begin() + kEthIpTcp, back.end());
    }
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), frame.begin() + kEthIpTcp, frame.end()));
    EXPECT_EQ(payload.size(), kPayload);
    close();
  });
}

TEST_F(EthdevTest, SoftwareUsoSplitsIntoUdpDatagrams) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    constexpr size_t kPayload = 4000;
    constexpr uint16_t kMss = 1000;
    post(0, 8);
    const auto frame = udp_ipv4_frame(kPayload);
    TxMetadata m = tcp_metadata(0, static_cast<uint32_t>(frame.size()));
    m.l4_len = 0;
    m.flags = m.flags.with_offload_udp_segmentation(true).with_offload_udp_checksum(true);
    m.max_segment_size = kMss;
    send({frame}, {m});
    EXPECT_EQ(stats().tx_errors(), 0u);
    EXPECT_EQ(stats().tx_sw_uso_.get(), 1u);
    const auto got = receive(5);
    ASSERT_EQ(got.size(), kPayload / kMss);
    std::vector<uint8_t> payload;
    for (size_t i = 0; i < got.size(); ++i) {
      const auto back = read_back(got[i]);
      ASSERT_EQ(back.size(), 42u + kMss);
      EXPECT_TRUE(checksums_ok(back)) << "datagram " << i;
      payload.insert(payload.end(), back.begin() + 42, back.end());
    }
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), frame.begin() + 42, frame.end()));
    close();
  });
}

TEST_F(EthdevTest, SoftwareVlanInsertAfterChecksums) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    post(0, 4);
    const VlanMetadata vlan = VlanMetadata().with_vlan_id(100).with_priority(5);
    std::vector<std::vector<uint8_t>> frames = {tcp_ipv4_frame(100), tcp_ipv4_frame(3000)};
    std::vector<TxMetadata> md;
    for (const auto& f : frames) {
      TxMetadata m = tcp_metadata(0, static_cast<uint32_t>(f.size()));
      m.flags = m.flags.with_offload_tcp_checksum(true).with_offload_ip_header_checksum(true);
      m.vlan = vlan;
      md.push_back(m);
    }
    send(frames, md);
    EXPECT_EQ(stats().tx_sw_vlan_.get(), 2u);
    EXPECT_EQ(stats().tx_vlan_packets(), 2u);
    const auto got = receive(2);
    ASSERT_EQ(got.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      const auto back = read_back(got[i]);
      ASSERT_EQ(back.size(), frames[i].size() + 4);
      EXPECT_TRUE(std::equal(back.begin(), back.begin() + 12, frames[i].begin()));
      EXPECT_EQ(offload::load_be16(back.data() + 12), 0x8100);
      EXPECT_EQ(offload::load_be16(back.data() + 14), vlan.to_tci());
      EXPECT_EQ(offload::load_be16(back.data() + 16), 0x0800);
      EXPECT_TRUE(checksums_ok(back, 18)) << "frame " << i;
    }
    close();
  });
}

// net_ring has no RSS (flow_type_rss_offloads 0, reta_size 0): an RssConfig is accepted and
// ignored, and each queue pair still loops back on its own ring.
TEST_F(EthdevTest, TwoQueuesWithRssOnAPortWithoutRss) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    EthdevSpec s = spec();
    s.max_queues = 2;
    auto ep = make_ethdev_endpoint(s);
    ASSERT_TRUE(ep.has_value()) << ep.error().message;
    endpoint_ = std::move(*ep);
    ASSERT_EQ(endpoint_->multiqueue_support().max_queues, 2);
    EXPECT_EQ(endpoint_->multiqueue_support().indirection_table_size, 0);
    const std::vector<uint8_t> key(40, 0x6d);
    const std::vector<uint16_t> table = {0, 1, 0, 1};
    const RssConfig rss{.key = key, .indirection_table = table, .flags = rss_hash::kTcpIpv4};
    std::vector<QueueConfig> configs(2);
    auto r = endpoint_->get_queues(configs, &rss, queues_);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_EQ(queues_.size(), 2u);
    // A second get_queues on a configured endpoint is refused.
    std::vector<std::unique_ptr<Queue>> more;
    EXPECT_FALSE(endpoint_->get_queues(configs, nullptr, more).has_value());

    std::vector<uint8_t> frame(80, 0x5a);
    ASSERT_TRUE(gm_.mem().write_at(kTxGpa, frame).has_value());
    const std::vector<TxSegment> segs = {
        TxSegment::make_head(TxMetadata{.segment_count = 1, .len = 80}, kTxGpa, 80)};
    pool_.add_buffer(RxId{7}, {{kRxGpa, 2048}});
    const RxId id{7};
    queues_[1]->rx_avail(pool_, std::span(&id, 1));
    ASSERT_TRUE(queues_[1]->tx_avail(pool_, segs).has_value());
    std::vector<RxId> got(4);
    auto n = queues_[1]->rx_poll(pool_, got);
    ASSERT_TRUE(n.has_value());
    ASSERT_EQ(*n, 1u);
    EXPECT_EQ(got[0], id);
    EXPECT_EQ(pool_.read_back(id, 80), frame);
    close();
  });
}

}  // namespace
}  // namespace pmdnet

namespace pmdnet {
namespace {

// `n` consecutive segments of one TCP/IPv4 flow (ACK only, DF: what rte_gro merges), each with
// `payload` bytes, and metadata asking for software IPv4 and TCP checksums.
void tcp_stream(size_t n, size_t payload, std::vector<std::vector<uint8_t>>& frames,
                std::vector<TxMetadata>& md) {
  for (size_t i = 0; i < n; ++i) {
    auto f = tcp_ipv4_frame(payload);
    offload::store_be32(f.data() + 14 + 20 + 4, static_cast<uint32_t>(1000 + i * payload));
    f[14 + 20 + 13] = 0x10;  // ACK
    for (size_t b = 0; b < payload; ++b) f[kEthIpTcp + b] = static_cast<uint8_t>(i * payload + b);
    TxMetadata m = tcp_metadata(static_cast<uint32_t>(i), static_cast<uint32_t>(f.size()));
    m.flags = m.flags.with_offload_ip_header_checksum(true).with_offload_tcp_checksum(true);
    md.push_back(m);
    frames.push_back(std::move(f));
  }
}

TEST_F(EthdevTest, GroMergesASegmentRunForAFrontendThatAcceptsIt) {
  run_in_child([&] {
    auto eal = start_gro(/*accepts_coalesced=*/true);
    ASSERT_TRUE(eal.has_value());
    std::vector<std::vector<uint8_t>> frames;
    std::vector<TxMetadata> md;
    tcp_stream(8, 1000, frames, md);
    send(frames, md);
    const auto got = receive(8);
    ASSERT_EQ(got.size(), 1u);
    const auto h = pool_.header(got[0]);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->len, kEthIpTcp + 8000);
    EXPECT_EQ(h->gso_size, 1000);
    EXPECT_EQ(h->l2_len, 14);
    EXPECT_EQ(h->l3_len, 20);
    EXPECT_EQ(h->l4_len, 20);
    EXPECT_EQ(h->l3_protocol, L3Protocol::Ipv4);
    EXPECT_EQ(h->l4_protocol, L4Protocol::Tcp);
    EXPECT_EQ(h->ip_checksum, RxChecksumState::Good);
    EXPECT_EQ(h->l4_checksum, RxChecksumState::Good);

    const auto frame = read_back(got[0]);
    ASSERT_EQ(frame.size(), kEthIpTcp + 8000);
    // The headers of the first segment, with the new total length and IPv4 checksum, and the
    // TCP pseudo-header sum in the checksum field (VIRTIO_NET_HDR_F_NEEDS_CSUM).
    const uint8_t* ip = frame.data() + 14;
    EXPECT_EQ(offload::load_be16(ip + 2), 20 + 20 + 8000);
    EXPECT_EQ(offload::internet_checksum(std::span(ip, 20)), 0);
    EXPECT_EQ(offload::load_be32(ip + 20 + 4), 1000u);
    const uint16_t pseudo = offload::ipv4_pseudo_header_sum(std::span<const uint8_t, 4>(ip + 12, 4),
                                                            std::span<const uint8_t, 4>(ip + 16, 4),
                                                            6, static_cast<uint16_t>(20 + 8000));
    EXPECT_EQ(offload::load_be16(ip + 20 + 16), pseudo);
    for (size_t b = 0; b < 8000; ++b) {
      ASSERT_EQ(frame[kEthIpTcp + b], static_cast<uint8_t>(b)) << "payload byte " << b;
    }
    EXPECT_EQ(stats().rx_gro_frames_.get(), 1u);
    EXPECT_EQ(stats().rx_gro_merged_.get(), 7u);
    EXPECT_EQ(stats().rx_sw_checksum_.get(), 8u);  // net_ring validates nothing
    EXPECT_EQ(stats().rx_packets(), 1u);
    close();
  });
}

TEST_F(EthdevTest, GroLeavesSegmentsAloneForAFrontendThatDoesNotAcceptIt) {
  run_in_child([&] {
    auto eal = start_gro(/*accepts_coalesced=*/false);
    ASSERT_TRUE(eal.has_value());
    std::vector<std::vector<uint8_t>> frames;
    std::vector<TxMetadata> md;
    tcp_stream(8, 1000, frames, md);
    send(frames, md);
    const auto got = receive(8);
    ASSERT_EQ(got.size(), 8u);
    for (RxId id : got) {
      EXPECT_EQ(pool_.header(id)->gso_size, 0);
      EXPECT_TRUE(checksums_ok(read_back(id)));
    }
    EXPECT_EQ(stats().rx_gro_frames_.get(), 0u);
    close();
  });
}

TEST_F(EthdevTest, GroDoesNotMergeSegmentsWithBadChecksums) {
  run_in_child([&] {
    auto eal = start_gro(/*accepts_coalesced=*/true);
    ASSERT_TRUE(eal.has_value());
    std::vector<std::vector<uint8_t>> frames;
    std::vector<TxMetadata> md;
    tcp_stream(6, 500, frames, md);
    // No checksum offload: the zero checksums go out as they are, and are wrong.
    for (auto& m : md) m.flags = TxFlags().with_is_ipv4(true);
    send(frames, md);
    const auto got = receive(6);
    ASSERT_EQ(got.size(), 6u);
    for (size_t i = 0; i < got.size(); ++i) {
      const auto h = pool_.header(got[i]);
      EXPECT_EQ(h->gso_size, 0);
      EXPECT_EQ(h->l4_checksum, RxChecksumState::Unknown);  // not validated: the guest checks
      EXPECT_EQ(read_back(got[i]), frames[i]);
    }
    EXPECT_EQ(stats().rx_gro_frames_.get(), 0u);
    EXPECT_EQ(stats().rx_sw_checksum_.get(), 0u);
    close();
  });
}

// The next action within `timeout`, waiting on endpoint_action_fd().
std::optional<EndpointAction> next_action(Endpoint& ep, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto a = ep.poll_endpoint_action()) return a;
    wait_readable(ep.endpoint_action_fd(), std::chrono::milliseconds(50));
  }
  return ep.poll_endpoint_action();
}

TEST_F(EthdevTest, LinkChangesArePolledOnAPortWithoutLscInterrupts) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    EthdevSpec s = spec();
    s.link_poll_ms = 20;
    ASSERT_TRUE(open(s));
    ASSERT_GE(endpoint_->endpoint_action_fd(), 0);
    uint16_t port = 0;
    ASSERT_EQ(rte_eth_dev_get_port_by_name("net_ring0", &port), 0);
    using std::chrono::milliseconds;
    EXPECT_EQ(next_action(*endpoint_, milliseconds(2000)),
              EndpointAction::link_status_notify(true));
    EXPECT_EQ(endpoint_->poll_endpoint_action(), std::nullopt);  // reported once
    ASSERT_EQ(rte_eth_dev_set_link_down(port), 0);
    EXPECT_EQ(next_action(*endpoint_, milliseconds(2000)),
              EndpointAction::link_status_notify(false));
    ASSERT_EQ(rte_eth_dev_set_link_up(port), 0);
    EXPECT_EQ(next_action(*endpoint_, milliseconds(2000)),
              EndpointAction::link_status_notify(true));
    EXPECT_EQ(next_action(*endpoint_, milliseconds(100)), std::nullopt);
    close();
  });
}

// net_tap raises LSC interrupts (from the kernel's netlink): with a 10-minute poll period, every
// notification below must have come from one. In a network namespace of the child's own.
TEST_F(EthdevTest, LinkChangesOfATapComeFromLscInterrupts) {
  run_in_child([&] {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET): " << errno;
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    EthdevSpec s = spec("net_tap0,iface=pmdlsc0");
    s.link_poll_ms = 600'000;
    ASSERT_TRUE(open(s));
    using std::chrono::milliseconds;
    EXPECT_EQ(next_action(*endpoint_, milliseconds(5000)),
              EndpointAction::link_status_notify(true));
    ASSERT_EQ(std::system("ip link set pmdlsc0 down"), 0);
    EXPECT_EQ(next_action(*endpoint_, milliseconds(5000)),
              EndpointAction::link_status_notify(false));
    ASSERT_EQ(std::system("ip link set pmdlsc0 up"), 0);
    EXPECT_EQ(next_action(*endpoint_, milliseconds(5000)),
              EndpointAction::link_status_notify(true));
    close();
    // stop() removed the device: its kernel interface is gone.
    EXPECT_NE(std::system("ip link show pmdlsc0 >/dev/null 2>&1"), 0);
  });
}

// A frontend that restarts its queue pairs (QEMU starts them one at a time; a guest reset or
// reconnect starts them again) gets new queues once the old ones are gone, and traffic flows.
TEST_F(EthdevTest, QueuesAreCreatedAgainOnceTheOldOnesAreGone) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    QueueConfig qc;
    std::vector<std::unique_ptr<Queue>> more;
    auto busy = endpoint_->get_queues(std::span(&qc, 1), nullptr, more);
    ASSERT_FALSE(busy.has_value()) << "queues are alive: a second set is refused";
    EXPECT_THAT(busy.error().message, HasSubstr("already created"));
    for (int round = 0; round < 3; ++round) {
      SCOPED_TRACE(round);
      queues_.clear();
      ASSERT_TRUE(endpoint_->get_queues(std::span(&qc, 1), nullptr, queues_).has_value());
      ASSERT_EQ(queues_.size(), 1u);
      post(0, 2);
      send({std::vector<uint8_t>(60, static_cast<uint8_t>(round))},
           {TxMetadata{.segment_count = 1, .len = 60}});
      const auto got = receive(1);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(read_back(got[0]), std::vector<uint8_t>(60, static_cast<uint8_t>(round)));
      // The same queues again: the running configuration serves them.
      EXPECT_EQ(endpoint_->configurations(), 1u);
    }
    close();
  });
}

// Queues of another shape (another count, another NUMA socket, another RSS configuration) need
// the port configured again; the same shape again does not.
TEST_F(EthdevTest, OnlyQueuesOfAnotherShapeReconfigureThePort) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    EthdevSpec two_queues = spec();
    two_queues.max_queues = 2;
    ASSERT_TRUE(open(two_queues));
    ASSERT_EQ(endpoint_->configurations(), 1u);
    const std::vector<uint8_t> key(40, 0x6d);
    const std::vector<uint16_t> table{0, 1};
    const RssConfig rss{.key = key, .indirection_table = table, .flags = 0};
    const RssConfig other_rss{.key = key, .indirection_table = table, .flags = 1};
    struct Step {
      size_t queues;
      int socket;
      const RssConfig* rss;
      uint64_t configurations;  // after the step
    };
    const Step steps[] = {
        {2, QueueConfig::kAnySocket, nullptr, 2},  // another count
        {2, QueueConfig::kAnySocket, nullptr, 2},  // the same
        {2, 0, nullptr, 3},                        // another socket
        {2, 0, &rss, 4},                           // an RSS configuration
        {2, 0, &rss, 4},                           // the same
        {2, 0, &other_rss, 5},                     // other hash types
        {1, 0, nullptr, 6},                        // fewer queues
    };
    for (const Step& step : steps) {
      SCOPED_TRACE(fmt::format("{} queues on socket {}, rss {}", step.queues, step.socket,
                               static_cast<const void*>(step.rss)));
      queues_.clear();
      std::vector<QueueConfig> qcs(step.queues, QueueConfig{.numa_socket = step.socket});
      ASSERT_TRUE(endpoint_->get_queues(qcs, step.rss, queues_).has_value());
      ASSERT_EQ(queues_.size(), step.queues);
      EXPECT_EQ(endpoint_->configurations(), step.configurations);
      // Traffic flows on queue 0 whatever happened (net_ring loops queue 0 to queue 0).
      post(0, 2);
      send({std::vector<uint8_t>(60, 7)}, {TxMetadata{.segment_count = 1, .len = 60}});
      const auto got = receive(1);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(read_back(got[0]), std::vector<uint8_t>(60, 7));
    }
    close();
  });
}

// backend.rss.reta: net_null has a 128-entry table. The operator's table is repeated over it,
// each entry modulo the queues in use, and the endpoint reports what the port answers.
TEST_F(EthdevTest, TheOperatorsIndirectionTableIsProgrammedAndReadBack) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    EthdevSpec s = spec("net_null0");
    s.max_queues = 4;
    s.rss_reta = {1, 0, 3, 2};
    auto ep = make_ethdev_endpoint(s);
    ASSERT_TRUE(ep.has_value()) << ep.error().message;
    endpoint_ = std::move(*ep);
    ASSERT_EQ(endpoint_->multiqueue_support().indirection_table_size, 128);
    EXPECT_TRUE(endpoint_->indirection_table().empty()) << "nothing configured yet";
    std::vector<QueueConfig> four(4);
    ASSERT_TRUE(endpoint_->get_queues(four, nullptr, queues_).has_value());
    std::vector<uint16_t> want(128);
    for (size_t i = 0; i < want.size(); ++i) want[i] = s.rss_reta[i % 4];
    EXPECT_EQ(endpoint_->indirection_table(), want);
    // Two queues in use: the entries taken modulo 2.
    queues_.clear();
    std::vector<QueueConfig> two(2);
    ASSERT_TRUE(endpoint_->get_queues(two, nullptr, queues_).has_value());
    for (size_t i = 0; i < want.size(); ++i) want[i] = s.rss_reta[i % 4] % 2;
    EXPECT_EQ(endpoint_->indirection_table(), want);
    // One queue spreads nothing: no table is reported.
    queues_.clear();
    QueueConfig one;
    ASSERT_TRUE(endpoint_->get_queues(std::span(&one, 1), nullptr, queues_).has_value());
    EXPECT_TRUE(endpoint_->indirection_table().empty());
    close();
  });
}

// A table that cannot be laid over the port's is refused when the port is opened, naming both.
TEST_F(EthdevTest, AnIndirectionTableThePortCannotTakeIsRefused) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    EthdevSpec s = spec("net_null0");
    s.max_queues = 2;
    s.rss_reta = std::vector<uint16_t>(256, 0);  // larger than net_null's 128
    auto ep = make_ethdev_endpoint(s);
    ASSERT_FALSE(ep.has_value());
    EXPECT_THAT(ep.error().message,
                HasSubstr("backend.rss.reta has 256 entries, which does not divide the port's "
                          "128-entry indirection table"));
    s = spec("net_ring0");  // no RSS at all
    s.rss_reta = {0};
    ep = make_ethdev_endpoint(s);
    ASSERT_FALSE(ep.has_value());
    EXPECT_THAT(ep.error().message, HasSubstr("the port has no RSS indirection table"));
  });
}

// The link changes a netlink listener sees for `ifindex`: one entry per RTM_NEWLINK message,
// true where the interface was up (IFF_UP).
std::vector<bool> drain_link_messages(int nl, int ifindex) {
  std::vector<bool> out;
  std::vector<char> buf(16384);
  for (;;) {
    const ssize_t got = recv(nl, buf.data(), buf.size(), MSG_DONTWAIT);
    if (got <= 0) return out;
    // Headers copied out, not cast: the buffer promises no alignment.
    for (size_t at = 0; at + sizeof(nlmsghdr) <= static_cast<size_t>(got);) {
      nlmsghdr h{};
      std::memcpy(&h, buf.data() + at, sizeof(h));
      if (h.nlmsg_len < sizeof(h) || at + h.nlmsg_len > static_cast<size_t>(got)) break;
      if (h.nlmsg_type == RTM_NEWLINK && h.nlmsg_len >= NLMSG_LENGTH(sizeof(ifinfomsg))) {
        ifinfomsg info{};
        std::memcpy(&info, buf.data() + at + NLMSG_HDRLEN, sizeof(info));
        if (info.ifi_index == ifindex) out.push_back((info.ifi_flags & IFF_UP) != 0);
      }
      at += NLMSG_ALIGN(h.nlmsg_len);
    }
  }
}

// A tap in a bridge leaves it while down, and the bridge forgets the MACs it learnt there: the
// queues of a restarted queue pair must not take the link down.
TEST_F(EthdevTest, QueuesCreatedAgainKeepATapUp) {
  run_in_child([&] {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET): " << errno;
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    EthdevSpec tap = spec("net_tap0,iface=pmdkeep0");
    tap.max_queues = 2;
    ASSERT_TRUE(open(tap));
    const int ifindex = static_cast<int>(if_nametoindex("pmdkeep0"));
    ASSERT_GT(ifindex, 0);
    const int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    ASSERT_GE(nl, 0);
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK;
    ASSERT_EQ(bind(nl, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    QueueConfig qc;
    for (int round = 0; round < 3; ++round) {
      queues_.clear();
      ASSERT_TRUE(endpoint_->get_queues(std::span(&qc, 1), nullptr, queues_).has_value());
    }
    EXPECT_EQ(endpoint_->configurations(), 1u);
    EXPECT_THAT(drain_link_messages(nl, ifindex), Not(Contains(false)))
        << "the tap went down while its queues were created again";
    // Another shape: the port is configured again, which a tap shows as down and up.
    queues_.clear();
    std::vector<QueueConfig> two(2);
    ASSERT_TRUE(endpoint_->get_queues(two, nullptr, queues_).has_value());
    EXPECT_EQ(endpoint_->configurations(), 2u);
    EXPECT_THAT(drain_link_messages(nl, ifindex), Contains(false))
        << "the listener cannot see the tap go down: the check above proves nothing";
    ::close(nl);
    close();
  });
}

// stop() closes the port and removes the device, so the same device opens again (a port removed
// and re-added by a reload).
TEST_F(EthdevTest, TheSameDeviceOpensAgainAfterStop) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    for (const char* device : {"net_ring0", "net_ring0", "net_null3", "net_null3"}) {
      SCOPED_TRACE(device);
      ASSERT_TRUE(open(spec(device)));
      if (std::string_view(device) == "net_ring0") {
        post(0, 1);
        send({std::vector<uint8_t>(60, 9)}, {TxMetadata{.segment_count = 1, .len = 60}});
        EXPECT_EQ(receive(1).size(), 1u);
      }
      close();
    }
  });
}

}  // namespace
}  // namespace pmdnet

namespace pmdnet {
namespace {

// ---------------------------------------------------------------------------------------------
// A bounded rx_poll: one call takes at most packets.size() mbufs from the NIC, delivered or not.

// Guest buffers too small for every frame: each frame taken is dropped and counted, the buffer
// stays posted, and the call still ends after packets.size() frames; the rest wait in the ring.
TEST_F(EthdevTest, RxPollTakesAtMostASpanOfFramesWhenNoBufferFits) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    constexpr size_t kFrames = 200;
    constexpr size_t kSpan = 64;
    const std::vector<std::vector<uint8_t>> frames(kFrames, std::vector<uint8_t>(100, 0x3c));
    const std::vector<TxMetadata> md(kFrames, TxMetadata{.segment_count = 1, .len = 100});
    send(frames, md);
    post(0, 4, 64);  // 64-byte buffers for 100-byte frames
    const uint16_t port = port_id("net_ring0");
    std::vector<RxId> ids(kSpan);
    for (size_t call = 1; call <= 2; ++call) {
      SCOPED_TRACE(call);
      auto n = queue().rx_poll(pool_, ids);
      ASSERT_TRUE(n.has_value());
      EXPECT_EQ(*n, 0u);
      EXPECT_EQ(stats().rx_too_large_.get(), call * kSpan);
      EXPECT_EQ(stats().rx_errors(), call * kSpan);
      rte_eth_stats eth{};
      ASSERT_EQ(rte_eth_stats_get(port, &eth), 0);
      EXPECT_EQ(eth.ipackets, call * kSpan) << "frames taken from the ring";
    }
    EXPECT_EQ(stats().rx_packets(), 0u);
    close();
  });
}

// net_null generates frames without end: with no posted buffer large enough, rx_poll must still
// return (SIGALRM kills the child if it does not).
TEST_F(EthdevTest, RxPollReturnsOnAnEndlessNicWhenNoBufferFits) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec("net_null0")));  // 64-byte frames
    post(0, 4, 32);
    std::vector<RxId> ids(32);
    alarm(10);
    auto n = queue().rx_poll(pool_, ids);
    alarm(0);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 0u);
    EXPECT_EQ(stats().rx_too_large_.get(), ids.size());
    EXPECT_EQ(stats().rx_errors(), ids.size());
    close();
  });
}

// Buffers that fit: one call delivers a full span, as many as it is given room for.
TEST_F(EthdevTest, RxPollDeliversAFullSpanWhenBuffersFit) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    constexpr size_t kFrames = 100;
    const std::vector<std::vector<uint8_t>> frames(kFrames, std::vector<uint8_t>(100, 0x3c));
    const std::vector<TxMetadata> md(kFrames, TxMetadata{.segment_count = 1, .len = 100});
    send(frames, md);
    post(0, kFrames, 2048);
    std::vector<RxId> ids(64);
    auto n = queue().rx_poll(pool_, ids);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 64u);
    n = queue().rx_poll(pool_, ids);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, kFrames - 64);
    EXPECT_EQ(stats().rx_packets(), kFrames);
    close();
  });
}

// ---------------------------------------------------------------------------------------------
// VLAN tags on guest RX: a tag a PMD stripped (RTE_MBUF_F_RX_VLAN_STRIPPED, QINQ_STRIPPED) goes
// back into the frame before the guest gets it. net_ring carries the mbufs' flags unchanged, so
// mbufs are injected into its ring as a stripping PMD would deliver them.

constexpr uint16_t kTpidVlan = 0x8100;
constexpr uint16_t kTpidQinq = 0x88a8;
constexpr uint64_t kVlanStripped = RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
constexpr uint64_t kQinqStripped = kVlanStripped | RTE_MBUF_F_RX_QINQ | RTE_MBUF_F_RX_QINQ_STRIPPED;

// `frame` with a tag (TPID, TCI) inserted after the MAC addresses.
std::vector<uint8_t> with_tag(std::span<const uint8_t> frame, uint16_t tpid, uint16_t tci) {
  std::vector<uint8_t> f(frame.begin(), frame.end());
  uint8_t tag[4];
  offload::store_be16(tag, tpid);
  offload::store_be16(tag + 2, tci);
  f.insert(f.begin() + 12, std::begin(tag), std::end(tag));
  return f;
}

// A UDP/IPv4 frame of `len` bytes (zero checksums) whose payload is a pattern seeded by `seed`.
std::vector<uint8_t> plain_frame(size_t len, uint8_t seed) {
  std::vector<uint8_t> f = udp_ipv4_frame(len - 42);
  for (size_t i = 42; i < len; ++i) f[i] = static_cast<uint8_t>(i * 11 + seed);
  return f;
}

// Whether the guest got exactly `want`, frame by frame and byte for byte; else where not.
::testing::AssertionResult same_frames(const std::vector<std::vector<uint8_t>>& got,
                                       const std::vector<std::vector<uint8_t>>& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << got.size() << " frames, " << want.size() << " wanted";
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].size() != want[i].size()) {
      return ::testing::AssertionFailure()
             << "frame " << i << ": " << got[i].size() << " bytes, " << want[i].size() << " wanted";
    }
    const auto diff = std::mismatch(got[i].begin(), got[i].end(), want[i].begin());
    if (diff.first != got[i].end()) {
      return ::testing::AssertionFailure()
             << "frame " << i << " differs at byte " << (diff.first - got[i].begin()) << ": "
             << int{*diff.first} << ", " << int{*diff.second} << " wanted";
    }
  }
  return ::testing::AssertionSuccess();
}

class EthdevVlanTest : public EthdevTest {
 protected:
  // The guest's frames, in order, for `want` frames expected.
  std::vector<std::vector<uint8_t>> frames(size_t want) {
    std::vector<std::vector<uint8_t>> out;
    for (RxId id : receive(want)) {
      const auto h = pool_.header(id);
      EXPECT_TRUE(h.has_value());
      if (!h) continue;
      EXPECT_FALSE(h->vlan.has_value()) << "the tag is in the frame, not in the metadata";
      out.push_back(read_back(id));
    }
    return out;
  }

  std::optional<Eal> start(EthdevSpec s, QueueConfig qc = {}) {
    auto eal = Eal::init(options_, kProgram);
    if (!eal) {
      ADD_FAILURE() << eal.error().message;
      return std::nullopt;
    }
    if (!open(s, qc)) return std::nullopt;
    post(0, 64);
    return std::move(*eal);
  }
};

TEST_F(EthdevVlanTest, StrippedTagIsBackInASingleSegmentFrame) {
  run_in_child([&] {
    auto eal = start(spec());
    ASSERT_TRUE(eal.has_value());
    const uint16_t tci = (3 << 13) | 100;  // priority 3, VLAN 100
    std::vector<std::vector<uint8_t>> want;
    std::vector<rte_mbuf*> mbufs;
    for (size_t len : {60u, 1500u}) {
      const auto f = plain_frame(len, static_cast<uint8_t>(len));
      mbufs.push_back(make_mbuf(f, {}, kVlanStripped, tci));
      want.push_back(with_tag(f, kTpidVlan, tci));
    }
    // A frame whose tag the PMD left in place (RX_VLAN without STRIPPED) arrives as it is.
    const auto in_frame = with_tag(plain_frame(200, 7), kTpidVlan, 55);
    mbufs.push_back(make_mbuf(in_frame, {}, RTE_MBUF_F_RX_VLAN, 55));
    want.push_back(in_frame);
    inject(mbufs);
    EXPECT_TRUE(same_frames(frames(want.size()), want));
    EXPECT_EQ(stats().rx_vlan_reinserted_.get(), 2u);
    EXPECT_EQ(stats().rx_packets(), 3u);
    EXPECT_EQ(stats().rx_errors(), 0u);
    EXPECT_TRUE(pool_.all_writes_ok());
    close();
  });
}

TEST_F(EthdevVlanTest, StrippedTagIsBackInAChainedFrame) {
  run_in_child([&] {
    auto eal = start(spec());
    ASSERT_TRUE(eal.has_value());
    const uint16_t tci = (5 << 13) | (1 << 12) | 4000;  // priority 5, DEI, VLAN 4000
    const auto f = plain_frame(3000, 1);
    const auto tagged = with_tag(f, kTpidVlan, tci);
    inject({make_mbuf(f, {14, 1000}, kVlanStripped, tci),  // three segments
            make_mbuf(f, {12, 1500}, kVlanStripped, tci),  // the MAC addresses alone first
            make_mbuf(f, {1500}, kVlanStripped, tci)});
    EXPECT_TRUE(same_frames(frames(3), std::vector<std::vector<uint8_t>>(3, tagged)));
    EXPECT_EQ(stats().rx_vlan_reinserted_.get(), 3u);
    EXPECT_EQ(stats().rx_errors(), 0u);
    close();
  });
}

// Where the tag cannot go into the first segment (no headroom, or fewer than the 12 bytes of the
// MAC addresses in it) it is put in while the frame is copied to the guest.
TEST_F(EthdevVlanTest, StrippedTagIsBackWhenTheFirstSegmentCannotTakeIt) {
  run_in_child([&] {
    auto eal = start(spec());
    ASSERT_TRUE(eal.has_value());
    const uint16_t tci = 42;
    const auto f = plain_frame(1000, 2);
    const auto tagged = with_tag(f, kTpidVlan, tci);
    inject({make_mbuf(f, {}, kVlanStripped, tci, 0, /*headroom=*/0),
            make_mbuf(f, {400}, kVlanStripped, tci, 0, /*headroom=*/2),
            make_mbuf(f, {6, 100}, kVlanStripped, tci)});
    EXPECT_TRUE(same_frames(frames(3), std::vector<std::vector<uint8_t>>(3, tagged)));
    EXPECT_EQ(stats().rx_vlan_reinserted_.get(), 3u);
    EXPECT_EQ(stats().rx_errors(), 0u);
    close();
  });
}

// QINQ_STRIPPED with VLAN_STRIPPED: both tags were stripped (outer 802.1ad, then inner 802.1Q).
// QINQ_STRIPPED alone: only the outer one, the inner is still in the frame.
TEST_F(EthdevVlanTest, StrippedQinqTagsAreBothBack) {
  run_in_child([&] {
    auto eal = start(spec());
    ASSERT_TRUE(eal.has_value());
    const uint16_t outer = (1 << 13) | 200;
    const uint16_t inner = (6 << 13) | 300;
    const auto f = plain_frame(800, 3);
    const auto inner_tagged = with_tag(f, kTpidVlan, inner);
    const auto double_tagged = with_tag(inner_tagged, kTpidQinq, outer);
    constexpr uint64_t kOuterOnly =
        RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_QINQ | RTE_MBUF_F_RX_QINQ_STRIPPED;
    inject({make_mbuf(f, {}, kQinqStripped, inner, outer),
            make_mbuf(f, {20, 300}, kQinqStripped, inner, outer),
            make_mbuf(f, {}, kQinqStripped, inner, outer, /*headroom=*/4),
            make_mbuf(inner_tagged, {}, kOuterOnly, inner, outer)});
    EXPECT_TRUE(same_frames(frames(4), std::vector<std::vector<uint8_t>>(4, double_tagged)));
    EXPECT_EQ(stats().rx_vlan_reinserted_.get(), 4u);
    EXPECT_EQ(stats().rx_errors(), 0u);
    close();
  });
}

// rte_gro's TCP/IPv4 flow key has no VLAN: tagged segments (stripped and put back, or never
// stripped) are delivered one by one, tagged, even where their untagged twins merge.
TEST_F(EthdevVlanTest, GroLeavesTaggedSegmentsUnmerged) {
  run_in_child([&] {
    EthdevSpec s = spec();
    s.rx_gro = true;
    auto eal = start(s, QueueConfig{.accepts_coalesced_tcp4 = true});
    ASSERT_TRUE(eal.has_value());
    std::vector<std::vector<uint8_t>> stream;
    std::vector<TxMetadata> unused;
    tcp_stream(8, 500, stream, unused);
    constexpr uint64_t kGood = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;

    // Untagged, the eight segments merge into one frame.
    std::vector<rte_mbuf*> mbufs;
    for (const auto& f : stream) mbufs.push_back(make_mbuf(f, {}, kGood));
    inject(mbufs);
    auto got = frames(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].size(), kEthIpTcp + 8 * 500);
    EXPECT_EQ(stats().rx_gro_frames_.get(), 1u);

    // Tagged: the first four stripped by the PMD on VLAN 10, the next four on VLAN 20, then the
    // stream again with the VLAN 30 tag left in the frame. None is merged.
    mbufs.clear();
    std::vector<std::vector<uint8_t>> want;
    for (size_t i = 0; i < stream.size(); ++i) {
      const uint16_t tci = i < 4 ? 10 : 20;
      mbufs.push_back(make_mbuf(stream[i], {}, kGood | kVlanStripped, tci));
      want.push_back(with_tag(stream[i], kTpidVlan, tci));
    }
    for (const auto& f : stream) {
      want.push_back(with_tag(f, kTpidVlan, 30));
      mbufs.push_back(make_mbuf(want.back(), {}, kGood | RTE_MBUF_F_RX_VLAN, 30));
    }
    inject(mbufs);
    EXPECT_TRUE(same_frames(frames(want.size()), want));
    EXPECT_EQ(stats().rx_gro_frames_.get(), 1u);
    EXPECT_EQ(stats().rx_gro_merged_.get(), 7u);
    EXPECT_EQ(stats().rx_vlan_reinserted_.get(), 8u);
    for (uint32_t i = 1; i <= want.size(); ++i) EXPECT_EQ(pool_.header(RxId{i})->gso_size, 0) << i;
    close();
  });
}

// net_af_packet can strip (RX_OFFLOAD_VLAN_STRIP): the port is not asked to, and a tagged frame
// from the kernel reaches the guest with its tag (the kernel takes 802.1Q tags out of the
// frame; 22.11's af_packet puts them back unless told to strip). In a network namespace of the
// child's own, on a veth pair.
TEST_F(EthdevVlanTest, PortIsNotConfiguredToStrip) {
  run_in_child([&] {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET): " << std::strerror(errno);
    ASSERT_EQ(std::system("ip link add pmdvlan0 type veth peer name pmdvlan1 && "
                          "ip link set pmdvlan0 up && ip link set pmdvlan1 up"),
              0);
    auto eal = start(spec("net_af_packet0,iface=pmdvlan0"));
    ASSERT_TRUE(eal.has_value());
    const uint16_t port = port_id("net_af_packet0");
    rte_eth_dev_info info{};
    ASSERT_EQ(rte_eth_dev_info_get(port, &info), 0);
    EXPECT_NE(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_VLAN_STRIP, 0u) << "it could strip";
    EXPECT_EQ(rte_eth_dev_get_vlan_offload(port) & RTE_ETH_VLAN_STRIP_OFFLOAD, 0);
    rte_eth_conf conf{};
    ASSERT_EQ(rte_eth_dev_conf_get(port, &conf), 0);
    EXPECT_EQ(
        conf.rxmode.offloads & (RTE_ETH_RX_OFFLOAD_VLAN_STRIP | RTE_ETH_RX_OFFLOAD_QINQ_STRIP), 0u);

    const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(if_nametoindex("pmdvlan1"));
    to.sll_halen = 6;
    auto frame = with_tag(plain_frame(300, 9), kTpidVlan, (2 << 13) | 77);
    std::fill_n(frame.begin(), 6, 0xff);  // broadcast
    std::memcpy(to.sll_addr, frame.data(), 6);
    ASSERT_EQ(sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                     sizeof(to)),
              static_cast<ssize_t>(frame.size()))
        << std::strerror(errno);
    ::close(fd);
    // The peer's own frames (IPv6 neighbour discovery) may come too: look for ours.
    bool found = false;
    for (int tries = 0; tries < 200 && !found; ++tries) {
      for (const auto& f : frames(1)) found = found || f == frame;
      if (!found) usleep(10'000);
    }
    EXPECT_TRUE(found) << "the tagged frame did not reach the guest with its tag";
    close();
  });
}

// ---------------------------------------------------------------------------------------------
// Guest RX bursts: EthdevQueue hands the frames of one receive burst to
// BufferAccess::write_packets, an mbuf chain's segments as pieces; a frame too large for its buffer
// is dropped there and that buffer takes the next frame.

// A BufferAccess over a TestBufferAccess that records each write_packets call (the pieces of
// each frame it was given, and how many it wrote) before the default write_packets writes them,
// and counts write_packet calls made outside write_packets.
class RecordingPool final : public BufferAccess {
 public:
  struct Call {
    std::vector<size_t> pieces;  // per frame
    size_t written = 0;
  };

  explicit RecordingPool(TestBufferAccess& inner) : inner_(inner) {}

  const GuestMemory& guest_memory() const noexcept override { return inner_.guest_memory(); }
  void write_data(RxId id, std::span<const uint8_t> data) noexcept override {
    inner_.write_data(id, data);
  }
  void push_guest_addresses(RxId id, std::vector<RxBufferSegment>& buf) const override {
    inner_.push_guest_addresses(id, buf);
  }
  uint32_t capacity(RxId id) const noexcept override { return inner_.capacity(id); }
  void write_header(RxId id, const RxMetadata& metadata) noexcept override {
    inner_.write_header(id, metadata);
  }
  void write_packet(RxId id, const RxMetadata& metadata,
                    std::span<const uint8_t> data) noexcept override {
    ++single_writes;
    inner_.write_packet(id, metadata, data);
  }
  size_t write_packets(std::span<const RxId> ids,
                       std::span<const RxFrame> frames) noexcept override {
    Call c;
    for (const RxFrame& f : frames) c.pieces.push_back(f.pieces.size());
    c.written = inner_.write_packets(ids, frames);
    calls.push_back(c);
    return c.written;
  }

  std::vector<Call> calls;
  int single_writes = 0;

 private:
  TestBufferAccess& inner_;
};

// A burst from the NIC with a frame in the middle too large for the posted buffers: the frames
// before and after it arrive in order in consecutive buffers, the buffer it could not use taking
// the next frame, and it is counted once. One write_packets call per run of frames that fit.
TEST_F(EthdevTest, RxBurstSkipsAFrameTooLargeForItsBuffer) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    post(0, 4, 1024);
    const std::vector<std::vector<uint8_t>> sent = {plain_frame(100, 1), plain_frame(1500, 2),
                                                    plain_frame(200, 3), plain_frame(300, 4)};
    std::vector<rte_mbuf*> mbufs;
    for (const auto& f : sent) mbufs.push_back(make_mbuf(f));
    inject(mbufs);
    RecordingPool pool(pool_);
    std::vector<RxId> ids(64);
    auto n = queue().rx_poll(pool, ids);
    ASSERT_TRUE(n.has_value());
    ASSERT_EQ(*n, 3u);
    EXPECT_EQ(ids[0], RxId{0});
    EXPECT_EQ(ids[1], RxId{1});
    EXPECT_EQ(ids[2], RxId{2});
    std::vector<std::vector<uint8_t>> got;
    for (size_t i = 0; i < 3; ++i) got.push_back(read_back(ids[i]));
    EXPECT_TRUE(same_frames(got, {sent[0], sent[2], sent[3]}));
    EXPECT_FALSE(pool_.header(RxId{3}).has_value());
    EXPECT_EQ(pool_.data_writes(RxId{3}), 0);
    EXPECT_EQ(stats().rx_too_large_.get(), 1u);
    EXPECT_EQ(stats().rx_errors(), 1u);
    EXPECT_EQ(stats().rx_packets(), 3u);
    ASSERT_EQ(pool.calls.size(), 2u);
    EXPECT_EQ(pool.calls[0].pieces, (std::vector<size_t>{1, 1, 1, 1}));
    EXPECT_EQ(pool.calls[0].written, 1u);
    EXPECT_EQ(pool.calls[1].pieces, (std::vector<size_t>{1, 1}));
    EXPECT_EQ(pool.calls[1].written, 2u);
    EXPECT_EQ(pool.single_writes, 0);

    // The fourth buffer is still posted, for the next frame.
    const auto next = plain_frame(64, 5);
    inject({make_mbuf(next)});
    n = queue().rx_poll(pool, ids);
    ASSERT_TRUE(n.has_value());
    ASSERT_EQ(*n, 1u);
    EXPECT_EQ(ids[0], RxId{3});
    EXPECT_EQ(read_back(RxId{3}), next);
    EXPECT_EQ(stats().rx_too_large_.get(), 1u);
    close();
  });
}

// A scattered frame (an mbuf chain) goes to write_packets as one piece per segment and arrives
// intact, between single-segment frames of the same burst.
TEST_F(EthdevTest, RxBurstHandsAChainedMbufOverAsPieces) {
  run_in_child([&] {
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    post(0, 4);
    const std::vector<std::vector<uint8_t>> sent = {plain_frame(60, 1), plain_frame(3000, 2),
                                                    plain_frame(1500, 3), plain_frame(5000, 4)};
    inject({make_mbuf(sent[0]), make_mbuf(sent[1], {14, 1000}), make_mbuf(sent[2]),
            make_mbuf(sent[3], {2000, 2000})});
    RecordingPool pool(pool_);
    std::vector<RxId> ids(64);
    auto n = queue().rx_poll(pool, ids);
    ASSERT_TRUE(n.has_value());
    ASSERT_EQ(*n, 4u);
    std::vector<std::vector<uint8_t>> got;
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(ids[i], RxId{static_cast<uint32_t>(i)});
      got.push_back(read_back(ids[i]));
    }
    EXPECT_TRUE(same_frames(got, sent));
    ASSERT_EQ(pool.calls.size(), 1u);
    EXPECT_EQ(pool.calls[0].pieces, (std::vector<size_t>{1, 3, 1, 3}));
    EXPECT_EQ(pool.calls[0].written, 4u);
    EXPECT_EQ(stats().rx_packets(), 4u);
    EXPECT_EQ(stats().rx_errors(), 0u);
    EXPECT_TRUE(pool_.all_writes_ok());
    close();
  });
}

// A frame rte_gro merged (an mbuf chain) is handed over in pieces, not copied into one.
TEST_F(EthdevTest, RxBurstHandsAMergedFrameOverAsPieces) {
  run_in_child([&] {
    auto eal = start_gro(/*accepts_coalesced=*/true);
    ASSERT_TRUE(eal.has_value());
    std::vector<std::vector<uint8_t>> frames;
    std::vector<TxMetadata> md;
    tcp_stream(8, 1000, frames, md);
    send(frames, md);
    RecordingPool pool(pool_);
    std::vector<RxId> ids(64);
    auto n = queue().rx_poll(pool, ids);
    ASSERT_TRUE(n.has_value());
    ASSERT_EQ(*n, 1u);
    ASSERT_EQ(pool.calls.size(), 1u);
    ASSERT_EQ(pool.calls[0].pieces.size(), 1u);
    EXPECT_GT(pool.calls[0].pieces[0], 1u);
    const auto frame = read_back(ids[0]);
    ASSERT_EQ(frame.size(), kEthIpTcp + 8000);
    for (size_t b = 0; b < 8000; ++b) {
      ASSERT_EQ(frame[kEthIpTcp + b], static_cast<uint8_t>(b)) << "payload byte " << b;
    }
    EXPECT_EQ(pool_.header(ids[0])->gso_size, 1000);
    close();
  });
}

// The NIC's burst through VirtioNetQueue's own write_packets into a guest's split RX ring of
// 1 KiB chains: the frame too large for a chain is skipped and counted, the others are returned
// in order in consecutive chains, a chained mbuf's segments written back to back; the chain
// left over takes the next frame.
TEST_F(EthdevTest, RxBurstIntoAGuestRing) {
  run_in_child([&] {
    using virtio::testing::Buf;
    auto eal = Eal::init(options_, kProgram);
    ASSERT_TRUE(eal.has_value()) << eal.error().message;
    ASSERT_TRUE(open(spec()));
    virtio::testing::TestMemory m(0x100000, 8u << 20);
    virtio::testing::FakeVirtqueue rxq(m, 0x100000, 256);
    virtio::testing::FakeVirtqueue txq(m, 0x108000, 256);
    virtio::VirtioNetQueueConfig c;
    c.mem = &m.mem();
    c.features = virtio::bit(virtio::feature::kVersion1);
    c.rx_ring = rxq.addresses();
    c.tx_ring = txq.addresses();
    auto q = virtio::VirtioNetQueue::create(c, std::move(queues_.front()));
    ASSERT_TRUE(q.has_value()) << q.error().message;
    const auto& nic = *dynamic_cast<const EthdevQueueStats*>((*q)->backend()->queue_stats());
    std::vector<uint16_t> heads;
    std::vector<uint64_t> gpas;
    for (uint64_t i = 0; i < 5; ++i) {
      const Buf b{0x200000 + i * 0x1000, 1024, true};
      heads.push_back(rxq.post(std::span(&b, 1)));
      gpas.push_back(b.gpa);
    }
    EXPECT_EQ((*q)->poll(), 0u);  // the chains go to the backend
    constexpr uint32_t kHdr = sizeof(virtio::VirtioNetHdr);
    const std::vector<std::vector<uint8_t>> sent = {plain_frame(100, 1), plain_frame(1500, 2),
                                                    plain_frame(200, 3), plain_frame(900, 4),
                                                    plain_frame(300, 5)};
    inject({make_mbuf(sent[0]), make_mbuf(sent[1]), make_mbuf(sent[2]),
            make_mbuf(sent[3], {14, 400}), make_mbuf(sent[4])});
    EXPECT_EQ((*q)->poll(), 4u);
    const auto used = rxq.drain_used();
    ASSERT_EQ(used.size(), 4u);
    std::vector<std::vector<uint8_t>> got;
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(used[i].id, heads[i]) << i;
      const uint8_t* p = m.host(gpas[i]);
      virtio::VirtioNetHdr hdr{};
      std::memcpy(&hdr, p, kHdr);
      EXPECT_EQ(hdr.num_buffers, 1) << i;
      got.emplace_back(p + kHdr, p + used[i].len);
    }
    EXPECT_TRUE(same_frames(got, {sent[0], sent[2], sent[3], sent[4]}));
    EXPECT_EQ(nic.rx_too_large_.get(), 1u);
    EXPECT_EQ(nic.rx_errors(), 1u);
    EXPECT_EQ(nic.rx_packets(), 4u);
    EXPECT_EQ((*q)->stats().guest_rx_packets.get(), 4u);
    EXPECT_EQ((*q)->stats().guest_rx_bytes.get(), 100u + 200 + 900 + 300);

    const auto next = plain_frame(64, 6);
    inject({make_mbuf(next)});
    EXPECT_EQ((*q)->poll(), 1u);
    const auto last = rxq.drain_used();
    ASSERT_EQ(last.size(), 1u);
    EXPECT_EQ(last[0].id, heads[4]);
    ASSERT_EQ(last[0].len, kHdr + 64);
    EXPECT_TRUE(std::equal(next.begin(), next.end(), m.host(gpas[4]) + kHdr));
    (*q)->release_backend();
    close();
  });
}

}  // namespace
}  // namespace pmdnet
