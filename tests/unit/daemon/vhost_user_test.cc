// Unit tests of daemon/vhost_user without a socket or DPDK: the offered feature lists, message
// classification, and VhostSession driven through a fake VhostApi seam over rings that a fake
// guest driver builds in test memory, polled by a workers::PollThread.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/net/frame.h"
#include "core/net_backend/loopback_endpoint.h"
#include "core/virtqueue/virtio_defs.h"
#include "daemon/vhost_user/features.h"
#include "daemon/vhost_user/vhost_api.h"
#include "daemon/vhost_user/vhost_session.h"
#include "daemon/vhost_user/vhost_user_msg.h"
#include "daemon/workers/poll_thread.h"
#include "tests/unit/core/virtqueue/fake_driver.h"

namespace pmdnet::vhost_user {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using virtio::bit;
namespace f = virtio::feature;
using Kind = QuiesceAction::Kind;
using workers::IdlePolicy;
using workers::PollTarget;
using workers::PollThread;
using workers::PollThreadOptions;

// --- features ---------------------------------------------------------------------------------

TEST(OfferedFeatures, BaseSetWithoutOffloads) {
  const uint64_t v = offered_features({});
  EXPECT_TRUE(virtio::has(v, f::kVersion1));
  EXPECT_TRUE(virtio::has(v, f::kProtocolFeatures));
  EXPECT_TRUE(virtio::has(v, f::kMrgRxbuf));
  EXPECT_TRUE(virtio::has(v, f::kRingIndirectDesc));
  EXPECT_TRUE(virtio::has(v, f::kRingEventIdx));
  EXPECT_TRUE(virtio::has(v, f::kLogAll));
  EXPECT_TRUE(virtio::has(v, f::kMtu));
  EXPECT_FALSE(virtio::has(v, f::kMq)) << "one queue pair: no MQ";
  for (unsigned b : {f::kCsum, f::kGuestCsum, f::kHostTso4, f::kHostTso6, f::kHostUso,
                     f::kGuestTso4, f::kGuestTso6, f::kGuestUso4, f::kGuestUso6, f::kCtrlVq,
                     f::kMac, f::kAccessPlatform, f::kHostUfo, f::kGuestUfo}) {
    EXPECT_FALSE(virtio::has(v, b)) << "bit " << b;
  }
}

TEST(OfferedFeatures, GuestTxOffloadsFollowTheEndpoint) {
  FeatureOptions o;
  o.guest_tx = {.ipv4_header = true, .tcp = true, .udp = true, .tso = true, .uso = true};
  uint64_t v = offered_features(o);
  EXPECT_TRUE(virtio::has(v, f::kCsum));
  EXPECT_TRUE(virtio::has(v, f::kHostTso4));
  EXPECT_TRUE(virtio::has(v, f::kHostTso6));
  EXPECT_TRUE(virtio::has(v, f::kHostUso));

  // TSO without IPv4 header checksums: each IPv4 segment needs a new header checksum.
  o.guest_tx.ipv4_header = false;
  v = offered_features(o);
  EXPECT_FALSE(virtio::has(v, f::kHostTso4));
  EXPECT_TRUE(virtio::has(v, f::kHostTso6));
  EXPECT_FALSE(virtio::has(v, f::kHostUso));

  // Only TCP checksums: no CSUM (it covers UDP too), so no segmentation either.
  o.guest_tx = {.ipv4_header = true, .tcp = true, .udp = false, .tso = true, .uso = true};
  v = offered_features(o);
  EXPECT_FALSE(virtio::has(v, f::kCsum));
  EXPECT_FALSE(virtio::has(v, f::kHostTso4));
  EXPECT_FALSE(virtio::has(v, f::kHostTso6));
  EXPECT_FALSE(virtio::has(v, f::kHostUso));
}

TEST(OfferedFeatures, GuestRxOffloadsNeedGuestCsum) {
  FeatureOptions o;
  o.guest_rx = {.checksum = false, .tso = true, .uso = true};
  EXPECT_FALSE(virtio::has(offered_features(o), f::kGuestTso4));
  o.guest_rx.checksum = true;
  const uint64_t v = offered_features(o);
  EXPECT_TRUE(virtio::has(v, f::kGuestCsum));
  EXPECT_TRUE(virtio::has(v, f::kGuestTso4));
  EXPECT_TRUE(virtio::has(v, f::kGuestTso6));
  EXPECT_TRUE(virtio::has(v, f::kGuestUso4));
  EXPECT_TRUE(virtio::has(v, f::kGuestUso6));
}

TEST(OfferedFeatures, DisabledBitsAndTheirDependentsGo) {
  FeatureOptions o;
  o.guest_tx = {.ipv4_header = true, .tcp = true, .udp = true, .tso = true, .uso = true};
  o.disabled = bit(f::kCsum) | bit(f::kRingEventIdx) | bit(f::kVersion1);
  const uint64_t v = offered_features(o);
  EXPECT_FALSE(virtio::has(v, f::kCsum));
  EXPECT_FALSE(virtio::has(v, f::kHostTso4)) << "TSO depends on CSUM";
  EXPECT_FALSE(virtio::has(v, f::kHostUso));
  EXPECT_FALSE(virtio::has(v, f::kRingEventIdx));
  EXPECT_TRUE(virtio::has(v, f::kVersion1)) << "VERSION_1 cannot be withheld";
}

TEST(OfferedFeatures, MqLogAndMtuFollowTheOptions) {
  FeatureOptions o;
  o.max_queue_pairs = 4;
  o.dirty_logging = false;
  o.mtu = false;
  const uint64_t v = offered_features(o);
  EXPECT_TRUE(virtio::has(v, f::kMq));
  EXPECT_FALSE(virtio::has(v, f::kLogAll));
  EXPECT_FALSE(virtio::has(v, f::kMtu));
  const uint64_t p = offered_protocol_features(o);
  EXPECT_TRUE(virtio::has(p, protocol_feature::kMq));
  EXPECT_TRUE(virtio::has(p, protocol_feature::kReplyAck));
  EXPECT_FALSE(virtio::has(p, protocol_feature::kLogShmfd));
  EXPECT_FALSE(virtio::has(p, protocol_feature::kNetMtu));
  EXPECT_FALSE(virtio::has(p, protocol_feature::kStatus));
  EXPECT_TRUE(virtio::has(offered_protocol_features({}), protocol_feature::kLogShmfd));
}

TEST(OfferedFeatures, AnnouncementsBothWays) {
  // GUEST_ANNOUNCE: the guest announces itself; RARP: pmdnet does it for a guest that cannot.
  EXPECT_TRUE(virtio::has(offered_features({}), f::kGuestAnnounce));
  EXPECT_FALSE(virtio::has(offered_features({}), f::kCtrlVq)) << "the VMM's to offer";
  EXPECT_TRUE(virtio::has(offered_protocol_features({}), protocol_feature::kRarp));
  FeatureOptions o;
  o.disabled = bit(f::kGuestAnnounce);
  EXPECT_EQ(offered_features(o), offered_features({}) & ~bit(f::kGuestAnnounce));
  EXPECT_TRUE(virtio::has(offered_protocol_features(o), protocol_feature::kRarp));
}

TEST(OfferedFeatures, PackedRingAndInOrderUnlessWithheld) {
  const uint64_t v = offered_features({});
  EXPECT_TRUE(virtio::has(v, f::kRingPacked));
  EXPECT_TRUE(virtio::has(v, f::kInOrder));

  FeatureOptions o;
  o.packed_ring = false;
  uint64_t w = offered_features(o);
  EXPECT_FALSE(virtio::has(w, f::kRingPacked));
  EXPECT_TRUE(virtio::has(w, f::kInOrder));
  EXPECT_EQ(w | bit(f::kRingPacked), v) << "nothing else changes";
  o = FeatureOptions{};
  o.in_order = false;
  w = offered_features(o);
  EXPECT_TRUE(virtio::has(w, f::kRingPacked));
  EXPECT_FALSE(virtio::has(w, f::kInOrder));
  EXPECT_EQ(w | bit(f::kInOrder), v);
  // The bits can be withheld like any other, too.
  o = FeatureOptions{};
  o.disabled = bit(f::kRingPacked) | bit(f::kInOrder);
  w = offered_features(o);
  EXPECT_FALSE(virtio::has(w, f::kRingPacked));
  EXPECT_FALSE(virtio::has(w, f::kInOrder));
  // No protocol feature depends on them.
  EXPECT_EQ(offered_protocol_features(o), offered_protocol_features({}));
}

TEST(OfferedFeatures, SameInputsSameSet) {
  FeatureOptions o;
  o.guest_tx.tcp = o.guest_tx.udp = true;
  EXPECT_EQ(offered_features(o), offered_features(o));
}

// --- message classification -------------------------------------------------------------------

std::vector<uint8_t> message(VhostUserRequest request, const void* payload, uint32_t size) {
  std::vector<uint8_t> m(kVhostUserHeaderSize + size);
  const VhostUserMsgHeader h{static_cast<uint32_t>(request), 1, size};
  std::memcpy(m.data(), &h, sizeof(h));
  if (size > 0) std::memcpy(m.data() + kVhostUserHeaderSize, payload, size);
  return m;
}

TEST(ClassifyMessage, VringMessages) {
  const VhostVringState state{3, 0};
  EXPECT_EQ(classify_message(message(VhostUserRequest::kGetVringBase, &state, 8)),
            (QuiesceAction{Kind::kStopVring, 3, 0}));
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSetVringEnable, &state, 8)),
            (QuiesceAction{Kind::kDisableVring, 3, 0}));
  const VhostVringState enable{3, 1};
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSetVringEnable, &enable, 8)),
            QuiesceAction{});
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSetVringNum, &state, 8)),
            (QuiesceAction{Kind::kRestartVring, 3, 0}));
  QuiesceAction sets_base{Kind::kRestartVring, 3, 0};
  sets_base.sets_base = true;
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSetVringBase, &state, 8)), sets_base);
  const VhostVringAddr addr{5, 0, 1, 2, 3, 4};
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSetVringAddr, &addr, 40)),
            (QuiesceAction{Kind::kRestartVring, 5, 0}));
  const uint64_t call = 0x102;  // vring 2, "no fd" bit set
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSetVringCall, &call, 8)),
            (QuiesceAction{Kind::kRestartVring, 2, 0}));
}

TEST(ClassifyMessage, MemoryLogAndFeatures) {
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSetMemTable, nullptr, 0)).kind,
            Kind::kStopAll);
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSetLogBase, nullptr, 0)).kind,
            Kind::kPauseAll);
  const uint64_t features = bit(f::kVersion1) | bit(f::kLogAll);
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSetFeatures, &features, 8)),
            (QuiesceAction{Kind::kFeatures, 0, features}));
  EXPECT_EQ(classify_message(message(VhostUserRequest::kGetFeatures, nullptr, 0)), QuiesceAction{});
}

TEST(ClassifyMessage, SendRarpCarriesTheMac) {
  // QEMU puts the MAC in the first six bytes of the u64 payload; the other two are not read.
  const uint8_t payload[8] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xaa, 0xbb};
  QuiesceAction want{Kind::kAnnounce, 0, 0};
  want.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSendRarp, payload, 8)), want);
  // Short of a u64: nothing (rte_vhost refuses the message itself).
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSendRarp, payload, 6)), QuiesceAction{});
  EXPECT_EQ(classify_message(message(VhostUserRequest::kSendRarp, nullptr, 0)), QuiesceAction{});
}

TEST(ClassifyMessage, NetSetMtuCarriesTheMtu) {
  const uint64_t mtu = 1500;
  QuiesceAction want{Kind::kMtu, 0, 0};
  want.mtu = 1500;
  EXPECT_EQ(classify_message(message(VhostUserRequest::kNetSetMtu, &mtu, 8)), want);
  const uint64_t huge = 70000;
  EXPECT_EQ(classify_message(message(VhostUserRequest::kNetSetMtu, &huge, 8)), QuiesceAction{});
}

TEST(ClassifyMessage, TruncatedInputIsNone) {
  const VhostVringState state{3, 0};
  auto m = message(VhostUserRequest::kGetVringBase, &state, 8);
  EXPECT_EQ(classify_message(std::span(m).first(kVhostUserHeaderSize + 4)), QuiesceAction{});
  EXPECT_EQ(classify_message(std::span(m).first(5)), QuiesceAction{});
  // A header claiming a shorter payload than the type needs.
  auto short_size = message(VhostUserRequest::kGetVringBase, &state, 4);
  EXPECT_EQ(classify_message(short_size), QuiesceAction{});
}

// --- the session, through a fake seam ------------------------------------------------------------

using virtio::testing::Buf;
using virtio::testing::FakeVirtqueue;
using virtio::testing::TestMemory;

constexpr uint16_t kRingSize = 64;

// Records the seam's calls; serves rings and a memory table from test memory.
class FakeVhostApi final : public VhostApi {
 public:
  explicit FakeVhostApi(std::vector<std::string>& events) : events_(events) {}

  Result<uint64_t> negotiated_features(int) override { return features; }
  Result<std::vector<GuestMemoryRegion>> mem_table(int) override {
    ++mem_table_calls;
    return regions;
  }
  Result<std::vector<std::span<uint8_t>>> memory_mappings(int) override {
    std::vector<std::span<uint8_t>> out;
    for (const GuestMemoryRegion& r : regions) out.emplace_back(r.host, r.size);
    return out;
  }
  Result<VringInfo> vring(int, uint16_t index) override {
    auto it = vrings.find(index);
    if (it == vrings.end()) return make_error(Errc::kDevice, "no such vring");
    return it->second;
  }
  Result<virtio::RingIndexes> vring_base(int, uint16_t index) override { return bases[index]; }
  Result<void> set_vring_base(int, uint16_t index, virtio::RingIndexes indexes) override {
    if (on_set_vring_base) on_set_vring_base();
    events_.push_back("set_vring_base " + std::to_string(index));
    bases[index] = indexes;
    written_back[index] = indexes;
    return {};
  }
  void log_write(int, uint64_t gpa, uint64_t len) noexcept override {
    logged_bytes.fetch_add(len, std::memory_order_relaxed);
    std::lock_guard lock(log_mutex_);
    logged_ranges_.emplace(gpa, len);
  }
  void log_used_vring(int, uint16_t vring, uint64_t offset, uint64_t len) noexcept override {
    used_ring_logs.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(log_mutex_);
    used_ring_ranges_.emplace(vring, offset, len);
  }
  // Whether log_used_vring has been called for [offset, offset + len) of `vring`'s used ring.
  bool used_ring_logged(uint16_t vring, uint64_t offset, uint64_t len) {
    std::lock_guard lock(log_mutex_);
    return used_ring_ranges_.contains({vring, offset, len});
  }
  // Whether log_write has been called for exactly [gpa, gpa + len).
  bool logged(uint64_t gpa, uint64_t len) {
    std::lock_guard lock(log_mutex_);
    return logged_ranges_.contains({gpa, len});
  }

  uint64_t features = bit(f::kVersion1) | bit(f::kMrgRxbuf);
  std::vector<GuestMemoryRegion> regions;
  std::map<uint16_t, VringInfo> vrings;
  std::map<uint16_t, virtio::RingIndexes> bases;
  std::map<uint16_t, virtio::RingIndexes> written_back;
  std::function<void()> on_set_vring_base;
  int mem_table_calls = 0;
  std::atomic<uint64_t> logged_bytes{0};
  std::atomic<uint64_t> used_ring_logs{0};

 private:
  std::vector<std::string>& events_;
  std::mutex log_mutex_;  // the poll thread logs while the test thread reads
  std::set<std::pair<uint64_t, uint64_t>> logged_ranges_;
  std::set<std::tuple<uint16_t, uint64_t, uint64_t>> used_ring_ranges_;
};

// A loopback backend whose queues record their creation and destruction.
class RecordingEndpoint final : public Endpoint {
 public:
  explicit RecordingEndpoint(std::vector<std::string>& events) : events_(events) {}
  std::string_view endpoint_type() const noexcept override { return "recording"; }
  Result<void> get_queues(std::span<const QueueConfig> config, const RssConfig* rss,
                          std::vector<std::unique_ptr<Queue>>& queues) override {
    events_.push_back("get_queues " + std::to_string(config.size()));
    configs_.assign(config.begin(), config.end());
    std::vector<std::unique_ptr<Queue>> inner;
    if (auto ok = loopback_.get_queues(config, rss, inner); !ok) return ok;
    for (auto& q : inner) {
      const auto index = static_cast<uint16_t>(queues.size());
      queues.push_back(std::make_unique<RecordingQueue>(*this, events_, std::move(q), index));
    }
    return {};
  }
  void stop() override {}
  MultiQueueSupport multiqueue_support() const noexcept override { return {.max_queues = 8}; }
  // The configs of the last get_queues.
  const std::vector<QueueConfig>& configs() const { return configs_; }
  // The frames sent with tx_frame, by the index of the queue that sent them.
  struct SentFrame {
    uint16_t queue;
    std::vector<uint8_t> bytes;
  };
  std::vector<SentFrame> frames() {
    std::lock_guard lock(frames_mutex_);
    return frames_;
  }
  std::atomic<int> refuse_frames{0};  // tx_frame answers false this many times first

 private:
  std::mutex frames_mutex_;  // the poll thread sends while the test thread reads
  std::vector<SentFrame> frames_;
  std::vector<QueueConfig> configs_;
  class RecordingQueue final : public Queue {
   public:
    RecordingQueue(RecordingEndpoint& owner, std::vector<std::string>& events,
                   std::unique_ptr<Queue> inner, uint16_t index)
        : owner_(owner), events_(events), inner_(std::move(inner)), index_(index) {}
    ~RecordingQueue() override { events_.push_back("queue destroyed"); }
    bool poll_ready(BufferAccess& p) noexcept override { return inner_->poll_ready(p); }
    void rx_avail(BufferAccess& p, std::span<const RxId> d) noexcept override {
      inner_->rx_avail(p, d);
    }
    QueueResult<size_t> rx_poll(BufferAccess& p, std::span<RxId> ids) noexcept override {
      return inner_->rx_poll(p, ids);
    }
    QueueResult<TxAvailResult> tx_avail(BufferAccess& p,
                                        std::span<const TxSegment> s) noexcept override {
      return inner_->tx_avail(p, s);
    }
    std::expected<size_t, TxError> tx_poll(BufferAccess& p,
                                           std::span<TxId> done) noexcept override {
      return inner_->tx_poll(p, done);
    }
    // Records what it sends; refuses while the endpoint says so.
    bool tx_frame(BufferAccess&, std::span<const uint8_t> frame) noexcept override {
      if (owner_.refuse_frames > 0) {
        --owner_.refuse_frames;
        return false;
      }
      std::lock_guard lock(owner_.frames_mutex_);
      owner_.frames_.push_back({index_, std::vector<uint8_t>(frame.begin(), frame.end())});
      return true;
    }

   private:
    RecordingEndpoint& owner_;
    std::vector<std::string>& events_;
    std::unique_ptr<Queue> inner_;
    uint16_t index_;
  };

  std::vector<std::string>& events_;
  LoopbackEndpoint loopback_;
};

bool wait_for(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

class VhostSessionTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kBuffers = 0x110000;  // guest buffers start here

  VhostSessionTest() : api_(events_), endpoint_(events_) {
    api_.regions.assign(mem_.mem().regions().begin(), mem_.mem().regions().end());
    for (uint16_t v = 0; v < 4; ++v) {
      rings_.push_back(std::make_unique<FakeVirtqueue>(mem_, mem_.gpa() + 0x2000 * v, kRingSize));
      callfds_[v] = eventfd(0, EFD_NONBLOCK);
      api_.vrings[v] = VringInfo{.addresses = rings_[v]->addresses(), .callfd = callfds_[v]};
      api_.bases[v] = {0, 0};
    }
  }
  ~VhostSessionTest() override {
    session_.reset();
    poller_.stop();
    for (int fd : callfds_) close(fd);
  }

  void make_session(uint16_t pairs) {
    session_ = std::make_unique<VhostSession>(7, api_, endpoint_, poller_,
                                              VhostSessionOptions{.max_queue_pairs = pairs});
  }
  // What rte_vhost does for a guest that sets its memory table and enables vrings `first..last`.
  void connect(uint16_t first_vring, uint16_t last_vring) {
    const QuiesceAction mem{Kind::kStopAll, 0, 0};
    session_->before_message(mem);
    session_->after_message(mem);
    for (uint16_t v = first_vring; v <= last_vring; ++v) session_->on_vring_state_changed(v, true);
  }
  // Posts one receive chain of 2 KB on guest RX ring `vring`.
  void post_rx(uint16_t vring, int n) {
    for (int i = 0; i < n; ++i) {
      const Buf b{next_buffer_, 2048, true};
      next_buffer_ += 2048;
      rings_[vring]->post(std::span(&b, 1));
    }
  }
  // Sends one 60-byte frame (plus a zero virtio_net_hdr) on guest TX ring `vring`.
  void send(uint16_t vring) {
    const uint64_t gpa = next_buffer_;
    next_buffer_ += 2048;
    std::memset(mem_.host(gpa), 0, 12);
    for (int i = 0; i < 60; ++i) mem_.host(gpa)[12 + i] = static_cast<uint8_t>(i);
    const Buf b{gpa, 72, false};
    rings_[vring]->post(std::span(&b, 1));
  }

  std::vector<std::string> events_;
  TestMemory mem_;
  FakeVhostApi api_;
  RecordingEndpoint endpoint_;
  PollThread poller_;
  std::vector<std::unique_ptr<FakeVirtqueue>> rings_;
  int callfds_[4] = {-1, -1, -1, -1};
  uint64_t next_buffer_ = kBuffers;
  std::unique_ptr<VhostSession> session_;
};

TEST_F(VhostSessionTest, MemTableBecomesGuestMemory) {
  GuestMemoryRegion second{.gpa = 0x40000000, .size = 0x1000, .host = mem_.host(mem_.gpa())};
  api_.regions.push_back(second);  // aliases the first in host space: allowed
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  const auto regions = session_->guest_memory().regions();
  ASSERT_EQ(regions.size(), 2u);
  EXPECT_EQ(regions[0].gpa, mem_.gpa());
  EXPECT_EQ(regions[1].gpa, 0x40000000u);
  EXPECT_EQ(regions[1].size, 0x1000u);
  EXPECT_EQ(regions[1].host, mem_.host(mem_.gpa()));
  EXPECT_EQ(session_->guest_memory().dirty_log(), nullptr) << "no LOG_ALL negotiated";
}

// The backend may coalesce TCP/IPv4 (GRO) only for a guest that takes GSO frames.
TEST_F(VhostSessionTest, QueuesAcceptCoalescedTcp4OnlyWithGuestCsumAndTso4) {
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(endpoint_.configs().size(), 1u);
  EXPECT_FALSE(endpoint_.configs()[0].accepts_coalesced_tcp4);
  session_.reset();
  api_.features |= bit(f::kGuestCsum) | bit(f::kGuestTso4);
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(endpoint_.configs().size(), 1u);
  EXPECT_TRUE(endpoint_.configs()[0].accepts_coalesced_tcp4);
}

TEST_F(VhostSessionTest, NothingStartsBeforeTheMemoryTable) {
  make_session(1);
  session_->on_vring_state_changed(0, true);
  session_->on_vring_state_changed(1, true);
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  EXPECT_EQ(api_.mem_table_calls, 0);
}

TEST_F(VhostSessionTest, GuestEnablingFewerPairsRunsThoseItEnabled) {
  make_session(2);
  connect(0, 1);  // vrings 2 and 3 exist but stay disabled: rte_vhost never calls new_device
  EXPECT_EQ(session_->running_queue_pairs(), 1u);
  EXPECT_THAT(session_->running_pairs(), ElementsAre(0));
  EXPECT_THAT(events_, ElementsAre("get_queues 1"));

  session_->on_vring_state_changed(2, true);
  EXPECT_EQ(session_->running_queue_pairs(), 1u) << "half a pair does not run";
  session_->on_vring_state_changed(3, true);
  EXPECT_THAT(session_->running_pairs(), ElementsAre(0, 1));

  session_->on_vring_state_changed(3, false);
  EXPECT_THAT(session_->running_pairs(), ElementsAre(0));
}

TEST_F(VhostSessionTest, PairsBeyondTheMaximumNeverRun) {
  make_session(1);
  connect(0, 3);
  EXPECT_THAT(session_->running_pairs(), ElementsAre(0));
}

TEST_F(VhostSessionTest, RefusesAGuestWithoutVersion1) {
  api_.features = bit(f::kMrgRxbuf);
  make_session(1);
  connect(0, 1);
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  EXPECT_EQ(session_->stats().start_errors.load(), 1u);
}

TEST_F(VhostSessionTest, TrafficThenDestroyWritesBackDrainedIndexes) {
  make_session(1);
  connect(0, 1);
  post_rx(0, 3);
  send(1);
  // The loopback reply lands in the first receive chain.
  ASSERT_TRUE(wait_for([&] { return rings_[0]->used_idx() == 1; }));
  ASSERT_TRUE(wait_for([&] { return rings_[1]->used_idx() == 1; }));
  uint64_t count = 0;
  EXPECT_EQ(read(callfds_[0], &count, sizeof(count)), 8) << "the guest RX call fd was written";

  session_->on_destroy_device();
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  // Two receive chains were still posted: drained as used with length 0.
  const auto used = rings_[0]->drain_used();
  ASSERT_EQ(used.size(), 3u);
  EXPECT_EQ(used[0].len, 12u + 60u);
  EXPECT_EQ(used[1].len, 0u);
  EXPECT_EQ(used[2].len, 0u);
  EXPECT_EQ(api_.written_back[0].last_avail_idx, 3);
  EXPECT_EQ(api_.written_back[0].used_idx, 3);
  EXPECT_EQ(api_.written_back[1].last_avail_idx, 1);
  EXPECT_EQ(api_.written_back[1].used_idx, 1);

  // new_device again: the pair resumes from the written-back indexes.
  session_->on_new_device();
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  post_rx(0, 1);
  send(1);
  ASSERT_TRUE(wait_for([&] { return rings_[0]->used_idx() == 4; }));
}

TEST_F(VhostSessionTest, QuiesceOrderIsPollerThenBackendThenIndexes) {
  make_session(2);
  connect(0, 3);
  ASSERT_EQ(session_->running_queue_pairs(), 2u);
  ASSERT_EQ(poller_.target_count(), 2u);
  size_t targets_at_write_back = 99;
  api_.on_set_vring_base = [&] { targets_at_write_back = poller_.target_count(); };
  events_.clear();

  session_->before_message({Kind::kStopVring, 0, 0});  // GET_VRING_BASE 0
  EXPECT_EQ(targets_at_write_back, 0u) << "the poller let go before the write-back";
  api_.on_set_vring_base = nullptr;
  EXPECT_THAT(events_, ElementsAre("queue destroyed", "queue destroyed", "set_vring_base 0",
                                   "set_vring_base 1", "set_vring_base 2", "set_vring_base 3"));
  // GET_VRING_BASE halts the device: nothing restarts when the message is done ...
  session_->after_message({Kind::kStopVring, 0, 0});
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  // ... until the guest sets the vring up again.
  session_->on_vring_state_changed(0, true);
  EXPECT_EQ(session_->running_queue_pairs(), 2u);
}

TEST_F(VhostSessionTest, SetMemTableStopsAndRestartsWithTheNewTable) {
  make_session(1);
  connect(0, 1);
  const uint64_t starts = session_->stats().starts.load();
  session_->before_message({Kind::kStopAll, 0, 0});
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  EXPECT_EQ(poller_.target_count(), 0u);
  GuestMemoryRegion extra{.gpa = 0x80000000, .size = 0x1000, .host = mem_.host(mem_.gpa())};
  api_.regions.push_back(extra);
  // A vring state change in the middle of the message does not restart anything.
  session_->on_vring_state_changed(1, true);
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  session_->after_message({Kind::kStopAll, 0, 0});
  EXPECT_EQ(session_->running_queue_pairs(), 1u);
  EXPECT_EQ(session_->stats().starts.load(), starts + 1);
  EXPECT_EQ(session_->guest_memory().regions().size(), 2u);
}

TEST_F(VhostSessionTest, LogAllOnlyFeatureChangePausesAndLogs) {
  make_session(1);
  connect(0, 1);
  const uint64_t stops = session_->stats().stops.load();
  const uint64_t with_log = api_.features | bit(f::kLogAll);
  session_->before_message({Kind::kFeatures, 0, with_log});
  EXPECT_EQ(session_->stats().pauses.load(), 1u);
  EXPECT_EQ(poller_.target_count(), 0u) << "parked";
  api_.features = with_log;
  session_->after_message({Kind::kFeatures, 0, with_log});
  EXPECT_EQ(session_->stats().stops.load(), stops) << "no drain for a LOG_ALL flip";
  EXPECT_EQ(poller_.target_count(), 1u);
  EXPECT_NE(session_->guest_memory().dirty_log(), nullptr);

  post_rx(0, 1);
  send(1);
  ASSERT_TRUE(wait_for([&] { return rings_[0]->used_idx() == 1; }));
  EXPECT_TRUE(wait_for([&] { return api_.logged_bytes.load() >= 72; }))
      << "the receive write went to the dirty log";
  EXPECT_GT(api_.used_ring_logs.load(), 0u);
  // The whole used ring of both vrings, avail_event included: flags, idx, the elements, event.
  const uint64_t used_ring = 4 + 8 * uint64_t{kRingSize} + 2;
  EXPECT_TRUE(api_.used_ring_logged(0, 0, used_ring));
  EXPECT_TRUE(api_.used_ring_logged(1, 0, used_ring));

  // Any other feature change restarts.
  session_->before_message({Kind::kFeatures, 0, with_log | bit(f::kRingEventIdx)});
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  EXPECT_EQ(session_->stats().stops.load(), stops + 1);
}

// A call fd the front-end chose that is not an eventfd (a pipe: writes would block once it is
// full, and raise SIGPIPE once its reader is gone) keeps the pair from starting.
TEST_F(VhostSessionTest, ACallFdThatIsNotAnEventfdKeepsThePairStopped) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  api_.vrings[1].callfd = p[1];
  make_session(1);
  connect(0, 1);
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  EXPECT_EQ(session_->stats().start_errors.load(), 1u);
  // SET_VRING_CALL with an eventfd: the pair is reconfigured and starts.
  api_.vrings[1].callfd = callfds_[1];
  const QuiesceAction call{Kind::kRestartVring, 1, 0};
  session_->before_message(call);
  session_->after_message(call);
  EXPECT_EQ(session_->running_queue_pairs(), 1u);
  EXPECT_NE(fcntl(callfds_[1], F_GETFL) & O_NONBLOCK, 0);
  session_.reset();
  close(p[0]);
  close(p[1]);
}

// rte_vhost keeps ring addresses whose used ring runs past the end of a region (its length check
// fails, the pointer stays); pmdnet checks every part against its own region table.
TEST_F(VhostSessionTest, ARingThatRunsPastGuestMemoryIsRefused) {
  // The guest TX ring's used ring 1 KiB past the end of the only region.
  const uint64_t used_bytes = 4 + 8 * kRingSize;
  api_.vrings[1].addresses.used = mem_.host(mem_.end() - used_bytes + 1024);
  make_session(1);
  connect(0, 1);
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  EXPECT_EQ(session_->stats().start_errors.load(), 1u);
}

// SET_VRING_NUM changes the size without rte_vhost translating the addresses again: the running
// pair stops, and its restart checks the rings for the new size.
TEST_F(VhostSessionTest, ARingSizeRaisedAfterTheCheckIsCheckedAgain) {
  api_.vrings[1].addresses.used = mem_.host(mem_.end() - 4096);
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  api_.vrings[1].addresses.size = 32768;
  const QuiesceAction num{Kind::kRestartVring, 1, 0};
  session_->before_message(num);
  session_->after_message(num);
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  EXPECT_EQ(session_->stats().start_errors.load(), 1u);
}

// NET_SET_MTU on a running set: the pairs restart, so that guest RX applies the new limit.
TEST_F(VhostSessionTest, NetSetMtuRestartsThePairsWithTheNewLimit) {
  api_.features |= bit(f::kMtu);
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  QuiesceAction mtu{Kind::kMtu, 0, 0};
  mtu.mtu = 1500;
  session_->before_message(mtu);
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  session_->after_message(mtu);
  EXPECT_EQ(session_->running_queue_pairs(), 1u);
  EXPECT_EQ(session_->mtu(), 1500);
  EXPECT_EQ(session_->stats().stops.load(), 1u);
  session_->before_message(mtu);  // the same MTU again: nothing to restart
  session_->after_message(mtu);
  EXPECT_EQ(session_->stats().stops.load(), 1u);
}

TEST_F(VhostSessionTest, ShutdownStopsForGood) {
  make_session(1);
  connect(0, 1);
  session_->shutdown();
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  session_->on_vring_state_changed(0, true);
  session_->on_new_device();
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
}

QuiesceAction send_rarp(const net::MacAddress& mac) {
  QuiesceAction a{Kind::kAnnounce, 0, 0};
  a.mac = mac;
  return a;
}

TEST_F(VhostSessionTest, SendRarpGoesOutOfTheFirstRunningPairsBackend) {
  make_session(2);
  connect(0, 3);
  ASSERT_EQ(session_->running_queue_pairs(), 2u);
  const std::vector<std::string> before = events_;
  const net::MacAddress mac{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
  session_->before_message(send_rarp(mac));
  session_->after_message(send_rarp(mac));
  EXPECT_EQ(events_, before) << "nothing stops or restarts for an announcement";
  ASSERT_TRUE(wait_for([&] { return session_->stats().announcements.load() == 1; }));
  const auto frames = endpoint_.frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].queue, 0u);
  const auto rarp = net::rarp_announcement(mac);
  EXPECT_EQ(frames[0].bytes, std::vector<uint8_t>(rarp.begin(), rarp.end()));
  EXPECT_EQ(session_->stats().announce_requests.load(), 1u);
  EXPECT_EQ(session_->stats().announce_failures.load(), 0u);
  EXPECT_EQ(session_->running_queue_pairs(), 2u);
  // Once only: later passes send nothing more.
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(endpoint_.frames().size(), 1u);
}

TEST_F(VhostSessionTest, SendRarpBeforeAnyPairRunsWaitsForTheFirstStart) {
  make_session(1);
  const net::MacAddress mac{0x02, 0, 0, 0, 0, 7};
  session_->before_message(send_rarp(mac));
  session_->after_message(send_rarp(mac));
  EXPECT_TRUE(endpoint_.frames().empty());
  connect(0, 1);
  ASSERT_TRUE(wait_for([&] { return session_->stats().announcements.load() == 1; }));
  ASSERT_EQ(endpoint_.frames().size(), 1u);
  EXPECT_TRUE(std::equal(mac.begin(), mac.end(), endpoint_.frames()[0].bytes.begin() + 6));
}

TEST_F(VhostSessionTest, AnAnnouncementTheBackendRefusesIsTriedAgainThenGivenUp) {
  make_session(1);
  connect(0, 1);
  // Refused a few times (no mbuf, a full ring): a later pass sends it.
  endpoint_.refuse_frames = 3;
  session_->before_message(send_rarp({0x02, 0, 0, 0, 0, 1}));
  ASSERT_TRUE(wait_for([&] { return session_->stats().announcements.load() == 1; }));
  EXPECT_EQ(endpoint_.refuse_frames.load(), 0);
  // Refused for good: given up after a bounded number of passes, and counted.
  endpoint_.refuse_frames = 1 << 30;
  session_->before_message(send_rarp({0x02, 0, 0, 0, 0, 2}));
  ASSERT_TRUE(wait_for([&] { return session_->stats().announce_failures.load() == 1; }));
  EXPECT_EQ(session_->stats().announcements.load(), 1u);
  EXPECT_EQ(endpoint_.frames().size(), 1u);
  EXPECT_EQ(session_->running_queue_pairs(), 1u);
}

// --- packed rings -------------------------------------------------------------------------------

// The driver side of a packed virtqueue (virtio 1.2, 2.8), as much as the session tests need:
// one descriptor per buffer, buffer ids from a free list, both wrap counters kept as a driver
// keeps them. Descriptor ring at `gpa`, then the driver and the device event suppression areas.
class PackedGuestRing {
 public:
  PackedGuestRing(TestMemory& m, uint64_t gpa, uint16_t size, bool in_order)
      : m_(m), gpa_(gpa), size_(size), in_order_(in_order) {
    std::memset(m_.host(gpa_), 0, 16 * uint64_t{size_} + 8);
    for (uint16_t id = 0; id < size_; ++id)
      free_ids_.push_back(static_cast<uint16_t>(size_ - 1 - id));
  }

  virtio::RingAddresses addresses() const {
    return {m_.host(desc_gpa()), m_.host(desc_gpa() + desc_bytes()), m_.host(device_event_gpa()),
            size_};
  }
  uint64_t desc_gpa() const { return gpa_; }
  uint64_t desc_bytes() const { return 16 * uint64_t{size_}; }
  uint64_t device_event_gpa() const { return gpa_ + desc_bytes() + 4; }

  // Makes `b` available as a chain of one descriptor, its flags stored last.
  void post(const Buf& b) {
    ASSERT_FALSE(free_ids_.empty());
    const uint16_t id = free_ids_.back();
    free_ids_.pop_back();
    uint8_t* d = desc(avail_position_);
    std::memcpy(d, &b.gpa, 8);
    std::memcpy(d + 8, &b.len, 4);
    std::memcpy(d + 12, &id, 2);
    const auto flags =
        static_cast<uint16_t>((b.writable ? virtio::kDescFWrite : 0) |
                              (avail_wrap_ ? virtio::kPackedDescFAvail : virtio::kPackedDescFUsed));
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(d + 14))
        .store(flags, std::memory_order_release);
    outstanding_.push_back(id);
    advance(avail_position_, avail_wrap_, 1);
  }

  // Reads every used descriptor the device has written; returns the lengths of the buffers they
  // return (0 for the buffers of an IN_ORDER batch before its last).
  std::vector<uint32_t> drain_used() {
    std::vector<uint32_t> lens;
    for (;;) {
      uint8_t* d = desc(used_position_);
      const uint16_t flags = std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(d + 14))
                                 .load(std::memory_order_acquire);
      const bool avail = (flags & virtio::kPackedDescFAvail) != 0;
      const bool used = (flags & virtio::kPackedDescFUsed) != 0;
      if (avail != used_wrap_ || used != used_wrap_) return lens;
      uint16_t id;
      uint32_t len;
      std::memcpy(&len, d + 8, 4);
      std::memcpy(&id, d + 12, 2);
      const auto it = std::find(outstanding_.begin(), outstanding_.end(), id);
      if (it == outstanding_.end()) {
        ADD_FAILURE() << "the device returned buffer id " << id << ", which is not out";
        return lens;
      }
      // Without IN_ORDER a used descriptor returns its own buffer; with it, every buffer up to
      // its id (2.8.9). Either way the device skipped one descriptor per buffer.
      const auto first = in_order_ ? outstanding_.begin() : it;
      const auto n = static_cast<uint32_t>(it - first + 1);
      for (auto i = first; i != it; ++i) lens.push_back(0);
      lens.push_back(len);
      for (auto i = first; i <= it; ++i) free_ids_.push_back(*i);
      outstanding_.erase(first, it + 1);
      advance(used_position_, used_wrap_, n);
      used_count_ += n;
    }
  }
  // Buffers returned so far (reads what the device has written since the last call).
  uint64_t used_count() {
    drain_used();
    return used_count_;
  }
  // The driver's positions, encoded as vhost-user carries them.
  uint16_t avail_index() const { return encode(avail_position_, avail_wrap_); }
  uint16_t used_index() const { return encode(used_position_, used_wrap_); }

  static uint16_t encode(uint16_t position, bool wrap) {
    return static_cast<uint16_t>(position | (wrap ? virtio::kPackedWrapBit : 0));
  }

 private:
  uint8_t* desc(uint16_t position) const { return m_.host(gpa_ + 16 * uint64_t{position}); }
  void advance(uint16_t& position, bool& wrap, uint32_t n) const {
    for (uint32_t i = 0; i < n; ++i) {
      if (++position == size_) {
        position = 0;
        wrap = !wrap;
      }
    }
  }

  TestMemory& m_;
  uint64_t gpa_;
  uint16_t size_;
  bool in_order_;
  uint16_t avail_position_ = 0;
  bool avail_wrap_ = true;
  uint16_t used_position_ = 0;
  bool used_wrap_ = true;
  uint64_t used_count_ = 0;
  std::vector<uint16_t> free_ids_;
  std::vector<uint16_t> outstanding_;  // ids made available, in that order, not yet used
};

// The session over packed rings (VIRTIO_F_RING_PACKED negotiated): the same fixture, with the
// vrings the seam hands over replaced by packed ones and rte_vhost's base for a new packed ring.
class PackedVhostSessionTest : public VhostSessionTest {
 protected:
  static constexpr uint64_t kPackedRings = 0x108000;  // between the split rings and the buffers

  void use_packed_rings(uint16_t size, bool in_order = false) {
    api_.features |= bit(f::kRingPacked);
    if (in_order) api_.features |= bit(f::kInOrder);
    for (uint16_t v = 0; v < 4; ++v) {
      packed_.push_back(
          std::make_unique<PackedGuestRing>(mem_, kPackedRings + 0x1000 * v, size, in_order));
      api_.vrings[v].addresses = packed_[v]->addresses();
      api_.bases[v] = {virtio::kPackedWrapBit, virtio::kPackedWrapBit};
    }
  }
  void post_rx_packed(uint16_t vring, int n) {
    for (int i = 0; i < n; ++i) {
      packed_[vring]->post(Buf{next_buffer_, 2048, true});
      next_buffer_ += 2048;
    }
  }
  void send_packed(uint16_t vring) {
    const uint64_t gpa = next_buffer_;
    next_buffer_ += 2048;
    std::memset(mem_.host(gpa), 0, 12);
    for (int i = 0; i < 60; ++i) mem_.host(gpa)[12 + i] = static_cast<uint8_t>(i);
    packed_[vring]->post(Buf{gpa, 72, false});
  }
  // `frames` round trips on pair 0, one at a time: a receive buffer, a frame, both used.
  void round_trips(int frames) {
    for (int i = 0; i < frames; ++i) {
      const uint64_t rx_before = packed_[0]->used_count();
      const uint64_t tx_before = packed_[1]->used_count();
      post_rx_packed(0, 1);
      send_packed(1);
      ASSERT_TRUE(wait_for([&] { return packed_[0]->used_count() == rx_before + 1; }))
          << "frame " << i << " never came back";
      ASSERT_TRUE(wait_for([&] { return packed_[1]->used_count() == tx_before + 1; }))
          << "frame " << i << " was never returned";
      next_buffer_ = kBuffers;  // every buffer is back with the driver: reuse them
    }
  }

  std::vector<std::unique_ptr<PackedGuestRing>> packed_;
};

TEST_F(PackedVhostSessionTest, StartsOnPackedRingsAndForwards) {
  use_packed_rings(kRingSize);
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  EXPECT_TRUE(virtio::has(session_->features(), f::kRingPacked));
  round_trips(3);
  post_rx_packed(0, 1);
  send_packed(1);
  std::vector<uint32_t> lens;
  ASSERT_TRUE(wait_for([&] {
    auto more = packed_[0]->drain_used();
    lens.insert(lens.end(), more.begin(), more.end());
    return !lens.empty();
  }));
  EXPECT_THAT(lens, ElementsAre(12u + 60u)) << "the frame and its header in the receive buffer";
  uint64_t count = 0;
  EXPECT_EQ(read(callfds_[0], &count, sizeof(count)), 8) << "the guest RX call fd was written";
}

// A packed ring's size need not be a power of two; a split ring's must.
TEST_F(PackedVhostSessionTest, RingSizesNeedNotBePowersOfTwo) {
  use_packed_rings(50);
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  round_trips(60);  // past the end of the ring: both wrap counters flip
  session_->on_destroy_device();
  EXPECT_EQ(api_.written_back[1].last_avail_idx, PackedGuestRing::encode(10, false));

  session_.reset();
  api_.features &= ~bit(f::kRingPacked);
  for (uint16_t v = 0; v < 2; ++v) {
    api_.vrings[v].addresses = rings_[v]->addresses();
    api_.vrings[v].addresses.size = 50;
    api_.bases[v] = {0, 0};
  }
  make_session(1);
  connect(0, 1);
  EXPECT_EQ(session_->running_queue_pairs(), 0u) << "a split ring of 50 entries";
  EXPECT_EQ(session_->stats().start_errors.load(), 1u);
}

// The indexes written back at a stop are the rings' own encoding (position, wrap counter in bit
// 15), passed to rte_vhost unchanged; the next start resumes from them, wrap counters included.
TEST_F(PackedVhostSessionTest, StopWritesBackWrapCountersAndTheRestartResumesFromThem) {
  use_packed_rings(kRingSize);
  make_session(1);
  connect(0, 1);
  round_trips(kRingSize + 6);  // 70 buffers each way: both rings wrapped once
  ASSERT_EQ(packed_[1]->avail_index(), PackedGuestRing::encode(6, false));

  session_->before_message({Kind::kStopVring, 1, 0});  // GET_VRING_BASE 1
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  for (uint16_t v = 0; v < 2; ++v) {
    SCOPED_TRACE(v);
    // Position 6, wrap counter 0 (it started at 1 and flipped once): bit 15 clear.
    EXPECT_EQ(api_.written_back[v].last_avail_idx, PackedGuestRing::encode(6, false));
    EXPECT_EQ(api_.written_back[v].used_idx, PackedGuestRing::encode(6, false));
  }
  session_->after_message({Kind::kStopVring, 1, 0});

  // The guest sets the vring up again; the session resumes from the written-back indexes.
  session_->on_vring_state_changed(1, true);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  round_trips(kRingSize);  // a second wrap: the counters are back at 1
  session_->on_destroy_device();
  for (uint16_t v = 0; v < 2; ++v) {
    SCOPED_TRACE(v);
    EXPECT_EQ(api_.written_back[v].last_avail_idx, PackedGuestRing::encode(6, true));
    EXPECT_EQ(api_.written_back[v].used_idx, PackedGuestRing::encode(6, true));
  }
}

// Chains the device still holds at a stop go back as used with length 0, and the written-back
// indexes are past them: what GET_VRING_BASE answers (the available side only) is exact.
TEST_F(PackedVhostSessionTest, StopDrainsHeldChainsBeforeTheWriteBack) {
  use_packed_rings(kRingSize);
  make_session(1);
  connect(0, 1);
  post_rx_packed(0, 5);
  send_packed(1);
  ASSERT_TRUE(wait_for([&] { return packed_[1]->used_count() == 1; }));
  ASSERT_TRUE(wait_for([&] { return packed_[0]->used_count() == 1; }));
  session_->on_destroy_device();
  EXPECT_EQ(packed_[0]->used_count(), 5u) << "the four unused receive buffers came back";
  EXPECT_EQ(api_.written_back[0].last_avail_idx, PackedGuestRing::encode(5, true));
  EXPECT_EQ(api_.written_back[0].used_idx, PackedGuestRing::encode(5, true));
  EXPECT_EQ(api_.written_back[0].used_idx, packed_[0]->used_index());
}

// --- packed rings across a restart of pmdnetd (ring_state.h) -------------------------------------

// A front-end that lost its back-end hands the next one the base it gave the last (QEMU 7.2 for
// packed rings: 0x8000, position 0 and wrap counter 1, for rings that are elsewhere). The session
// records where each packed ring stopped, and a new session resumes there when the ring, the
// memory files and that stale base all match.
class PackedRingResumeTest : public PackedVhostSessionTest {
 protected:
  static constexpr uint16_t kStaleBase = virtio::kPackedWrapBit;
  const std::vector<MemoryFile> files_{
      {.gpa = 0x100000, .size = 0x40000, .device = 5, .inode = 42}};

  void make_resuming_session(RingState* saved) {
    session_ = std::make_unique<VhostSession>(
        7, api_, endpoint_, poller_,
        VhostSessionOptions{.max_queue_pairs = 1, .saved_rings = saved});
    session_->set_memory_files(files_);
  }
  // What QEMU sends for each vring of pair 0 before enabling it: SET_VRING_BASE with `base`.
  void frontend_sets_bases(uint16_t base) {
    for (uint16_t v = 0; v < 2; ++v) {
      api_.bases[v] = {base, base};  // rte_vhost sets both sides from the one number
      QuiesceAction a{Kind::kRestartVring, v, 0};
      a.sets_base = true;
      session_->before_message(a);
      session_->after_message(a);
    }
  }
  // A first pmdnetd that moved both rings of pair 0 to position 6, wrap counter 0, then stopped.
  RingState run_and_stop() {
    make_resuming_session(nullptr);
    frontend_sets_bases(kStaleBase);
    connect(0, 1);
    EXPECT_EQ(session_->running_queue_pairs(), 1u);
    round_trips(kRingSize + 6);
    session_->shutdown();
    RingState state{session_->memory_files(), session_->packed_ring_positions()};
    session_.reset();
    return state;
  }
};

TEST_F(PackedRingResumeTest, StopRecordsEachPackedRingWithItsIdentityAndTheFrontEndsBase) {
  use_packed_rings(kRingSize);
  const RingState state = run_and_stop();
  EXPECT_EQ(state.memory, files_);
  ASSERT_EQ(state.rings.size(), 2u);
  for (uint16_t v = 0; v < 2; ++v) {
    SCOPED_TRACE(v);
    const SavedRing& r = state.rings[v];
    EXPECT_EQ(r.vring, v);
    EXPECT_EQ(r.size, kRingSize);
    EXPECT_EQ(r.desc_gpa, packed_[v]->desc_gpa());
    EXPECT_EQ(r.driver_gpa, packed_[v]->desc_gpa() + packed_[v]->desc_bytes());
    EXPECT_EQ(r.device_gpa, packed_[v]->device_event_gpa());
    EXPECT_EQ(r.frontend_base, kStaleBase);
    EXPECT_EQ(r.position.last_avail_idx, PackedGuestRing::encode(6, false));
    EXPECT_EQ(r.position.used_idx, PackedGuestRing::encode(6, false));
  }
}

TEST_F(PackedRingResumeTest, ANewSessionGivenTheStaleBaseResumesAndForwards) {
  use_packed_rings(kRingSize);
  RingState saved = run_and_stop();
  make_resuming_session(&saved);
  frontend_sets_bases(kStaleBase);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  EXPECT_EQ(session_->stats().resumed_rings.load(), 2u);
  EXPECT_TRUE(saved.rings.empty()) << "a saved position is used once";
  round_trips(kRingSize);  // the guest's driver goes on where it was: frames flow both ways
  session_->shutdown();
  for (uint16_t v = 0; v < 2; ++v) {
    SCOPED_TRACE(v);
    EXPECT_EQ(api_.written_back[v].last_avail_idx, PackedGuestRing::encode(6, true));
  }
  // The front-end still holds its stale base: what this session saves says so.
  const auto again = session_->packed_ring_positions();
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].frontend_base, kStaleBase);
}

TEST_F(PackedRingResumeTest, TheFrontEndsOwnBaseStandsWhenAnythingDiffers) {
  use_packed_rings(kRingSize);
  const RingState first = run_and_stop();
  struct Case {
    const char* what;
    std::function<void(RingState&)> change;
    uint16_t frontend_base;
  };
  const std::vector<Case> cases = {
      {"another base from the front-end", [](RingState&) {}, PackedGuestRing::encode(6, false)},
      {"other memory files", [](RingState& s) { s.memory[0].inode = 43; }, kStaleBase},
      {"no memory files", [](RingState& s) { s.memory.clear(); }, kStaleBase},
      {"another ring address", [](RingState& s) { s.rings[1].desc_gpa += 0x1000; }, kStaleBase},
      {"another ring size", [](RingState& s) { s.rings[1].size = 32; }, kStaleBase},
      {"another vring", [](RingState& s) { s.rings[1].vring = 3; }, kStaleBase},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    RingState saved = first;
    c.change(saved);
    make_resuming_session(&saved);
    frontend_sets_bases(c.frontend_base);
    connect(0, 1);
    ASSERT_EQ(session_->running_queue_pairs(), 1u);
    const bool ring0_resumes = std::string_view(c.what) == "another ring address" ||
                               std::string_view(c.what) == "another ring size" ||
                               std::string_view(c.what) == "another vring";
    EXPECT_EQ(session_->stats().resumed_rings.load(), ring0_resumes ? 1u : 0u);
    EXPECT_TRUE(std::none_of(saved.rings.begin(), saved.rings.end(), [](const SavedRing& r) {
      return r.vring < 2;
    })) << "the first start from the front-end's base used up what was saved for its rings";
    session_->before_message({Kind::kStopVring, 1, 0});
    EXPECT_EQ(api_.written_back[1].last_avail_idx, c.frontend_base)
        << "vring 1 started from the front-end's base and nothing moved";
    session_.reset();
  }
}

TEST_F(PackedRingResumeTest, OnlyABaseTheFrontEndJustSetIsReplaced) {
  use_packed_rings(kRingSize);
  RingState saved = run_and_stop();
  make_resuming_session(&saved);
  for (uint16_t v = 0; v < 2; ++v) api_.bases[v] = {kStaleBase, kStaleBase};
  connect(0, 1);  // no SET_VRING_BASE: rte_vhost's base is not the front-end's word
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  EXPECT_EQ(session_->stats().resumed_rings.load(), 0u);
  EXPECT_EQ(saved.rings.size(), 2u);
}

// A saved position is for the first start after the restart, matched or not: a later
// SET_VRING_BASE with the saved value (the guest reset its device, which starts its rings at
// 0x8000 again) must find nothing left to take it for the stale one.
TEST_F(PackedRingResumeTest, ALaterSetVringBaseIsNeverTakenForTheStaleOne) {
  use_packed_rings(kRingSize);
  RingState saved = run_and_stop();
  saved.rings[0].frontend_base = PackedGuestRing::encode(3, true);  // vring 0 will not match
  make_resuming_session(&saved);
  frontend_sets_bases(kStaleBase);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  EXPECT_EQ(session_->stats().resumed_rings.load(), 1u) << "vring 1 only";
  EXPECT_TRUE(saved.rings.empty()) << "vring 0's unmatched record is dropped as well";
}

// After GET_VRING_BASE the front-end knows the position: what it will hand back is the answer.
TEST_F(PackedRingResumeTest, GetVringBaseUpdatesTheFrontEndsBase) {
  use_packed_rings(kRingSize);
  make_resuming_session(nullptr);
  frontend_sets_bases(kStaleBase);
  connect(0, 1);
  round_trips(kRingSize + 6);
  session_->before_message({Kind::kStopVring, 1, 0});
  session_->after_message({Kind::kStopVring, 1, 0});
  const auto positions = session_->packed_ring_positions();
  ASSERT_EQ(positions.size(), 2u);
  EXPECT_EQ(positions[0].frontend_base, kStaleBase) << "vring 0 was not asked";
  EXPECT_EQ(positions[1].frontend_base, PackedGuestRing::encode(6, false));
}

// Split rings need none of this: QEMU reads their position from the used ring.
TEST_F(VhostSessionTest, SplitRingsRecordNoPositions) {
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  session_->shutdown();
  EXPECT_TRUE(session_->packed_ring_positions().empty());
}

// With IN_ORDER the guest TX ring may return a batch as one used descriptor: the driver still
// gets every buffer back, and the written-back indexes are past all of them.
TEST_F(PackedVhostSessionTest, InOrderRingsReturnEveryBufferAndWriteBackTheirEnd) {
  use_packed_rings(kRingSize, /*in_order=*/true);
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  post_rx_packed(0, 8);
  for (int i = 0; i < 8; ++i) send_packed(1);
  ASSERT_TRUE(wait_for([&] { return packed_[1]->used_count() == 8; }));
  ASSERT_TRUE(wait_for([&] { return packed_[0]->used_count() == 8; }));
  session_->on_destroy_device();
  EXPECT_EQ(api_.written_back[1].last_avail_idx, PackedGuestRing::encode(8, true));
  EXPECT_EQ(api_.written_back[0].used_idx, PackedGuestRing::encode(8, true));
}

// A base the front-end set past the ring (SET_VRING_BASE is the front-end's) keeps the pair
// stopped; so does a device event area outside guest memory.
TEST_F(PackedVhostSessionTest, ABasePastTheRingOrAnEventAreaOutsideMemoryIsRefused) {
  use_packed_rings(kRingSize);
  api_.bases[0] = {static_cast<uint16_t>(virtio::kPackedWrapBit | kRingSize),
                   static_cast<uint16_t>(virtio::kPackedWrapBit | kRingSize)};
  make_session(1);
  connect(0, 1);
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  EXPECT_EQ(session_->stats().start_errors.load(), 1u);

  session_.reset();
  api_.bases[0] = {virtio::kPackedWrapBit, virtio::kPackedWrapBit};
  api_.vrings[1].addresses.used = mem_.host(mem_.end());  // just past the only region
  make_session(1);
  connect(0, 1);
  EXPECT_EQ(session_->running_queue_pairs(), 0u);
  EXPECT_EQ(session_->stats().start_errors.load(), 1u);
}

// With LOG_ALL, a packed ring's device writes (used descriptors in the descriptor ring, the
// device event suppression area) are logged at their guest-physical addresses, found from the
// session's own memory table; the split used-ring call is not made.
TEST_F(PackedVhostSessionTest, DirtyLoggingCoversTheDescriptorRingAndTheDeviceEventArea) {
  use_packed_rings(kRingSize);
  api_.features |= bit(f::kLogAll);
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  round_trips(2);
  for (uint16_t v = 0; v < 2; ++v) {
    SCOPED_TRACE(v);
    EXPECT_TRUE(wait_for([&] { return api_.logged(packed_[v]->desc_gpa(), 16 * kRingSize); }));
    EXPECT_TRUE(wait_for([&] { return api_.logged(packed_[v]->device_event_gpa(), 4); }));
  }
  EXPECT_EQ(api_.used_ring_logs.load(), 0u);
  EXPECT_GE(api_.logged_bytes.load(), 2u * 72) << "the received frames were logged too";
}

// The same rings in a memory table whose region starts elsewhere in guest-physical space: the
// logged addresses follow the table, not the host pointers.
TEST_F(PackedVhostSessionTest, DirtyLoggedAddressesComeFromTheMemoryTable) {
  use_packed_rings(kRingSize);
  api_.features |= bit(f::kLogAll);
  constexpr uint64_t kShift = 0x7000000000;
  for (GuestMemoryRegion& r : api_.regions) r.gpa += kShift;
  make_session(1);
  connect(0, 1);
  ASSERT_EQ(session_->running_queue_pairs(), 1u);
  session_->on_destroy_device();  // the stop logs the rings once more, after the drain
  EXPECT_TRUE(api_.logged(packed_[0]->desc_gpa() + kShift, 16 * kRingSize));
  EXPECT_TRUE(api_.logged(packed_[1]->device_event_gpa() + kShift, 4));
  EXPECT_FALSE(api_.logged(packed_[0]->desc_gpa(), 16 * kRingSize));
}

// --- the poll thread handshake ------------------------------------------------------------------

class CountingTarget final : public PollTarget {
 public:
  size_t poll() noexcept override {
    polls.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  std::atomic<uint64_t> polls{0};
};

TEST(PollThread, AssignmentIsAcknowledgedAndOldTargetsAreLeftAlone) {
  PollThread poller(PollThreadOptions{.idle = IdlePolicy::kBusy});
  CountingTarget a;
  CountingTarget b;
  int owner = 0;
  poller.set_targets(&owner, {&a});
  ASSERT_TRUE(wait_for([&] { return a.polls.load() > 10; }));
  poller.set_targets(&owner, {&b});
  const uint64_t a_after = a.polls.load();
  ASSERT_TRUE(wait_for([&] { return b.polls.load() > 10; }));
  EXPECT_EQ(a.polls.load(), a_after) << "a was polled after set_targets returned";
  poller.clear_targets(&owner);
  EXPECT_EQ(poller.target_count(), 0u);
  poller.stop();
  poller.set_targets(&owner, {&a});  // after stop: records, never blocks
  EXPECT_EQ(poller.target_count(), 1u);
}

}  // namespace
}  // namespace pmdnet::vhost_user
