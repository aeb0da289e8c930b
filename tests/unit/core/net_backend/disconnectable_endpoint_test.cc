// Tests of DisconnectableEndpoint: connect, disconnect and reconnect sequences driven from another
// thread, capability caching, the null fallback, action forwarding, and the fd that wakes the
// control loop.
#include "core/net_backend/disconnectable_endpoint.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <thread>

#include "core/base/event_fd.h"
#include "core/net_backend/loopback_endpoint.h"

namespace pmdnet {
namespace {

using namespace std::chrono_literals;

// An endpoint with distinctive capabilities and actions the test can inject.
class FakeEndpoint final : public Endpoint {
 public:
  explicit FakeEndpoint(int* alive = nullptr) : alive_(alive), fd_(*EventFd::create()) {
    if (alive_) ++*alive_;
  }
  ~FakeEndpoint() override {
    if (alive_) --*alive_;
  }
  std::string_view endpoint_type() const noexcept override { return "fake"; }
  Result<void> get_queues(std::span<const QueueConfig> config, const RssConfig* rss,
                          std::vector<std::unique_ptr<Queue>>& queues) override {
    last_rss_size = rss ? rss->indirection_table.size() : 0;
    return LoopbackEndpoint().get_queues(config, rss, queues);
  }
  void stop() override { ++stops; }
  bool is_ordered() const noexcept override { return true; }
  TxOffloadSupport tx_offload_support() const noexcept override {
    return {.ipv4_header = true, .tcp = true, .udp = false, .tso = true, .uso = false};
  }
  MultiQueueSupport multiqueue_support() const noexcept override { return {8, 256}; }
  bool tx_fast_completions() const noexcept override { return true; }
  uint64_t link_speed() const noexcept override { return 25'000'000'000; }
  Result<void> set_data_path_to_guest_vf(bool use_vf) override {
    use_vf_ = use_vf;
    return {};
  }
  Result<bool> get_data_path_to_guest_vf() const override { return use_vf_; }
  std::optional<EndpointAction> poll_endpoint_action() override {
    fd_.drain();
    if (actions_.empty()) return std::nullopt;
    auto a = actions_.front();
    actions_.pop_front();
    if (!actions_.empty()) fd_.signal();
    return a;
  }
  int endpoint_action_fd() const noexcept override { return fd_.fd(); }

  void inject(EndpointAction a) {
    actions_.push_back(a);
    fd_.signal();
  }

  int stops = 0;
  size_t last_rss_size = 0;

 private:
  int* alive_;
  EventFd fd_;
  std::deque<EndpointAction> actions_;
  bool use_vf_ = false;
};

class DisconnectableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = DisconnectableEndpoint::create();
    ASSERT_TRUE(created) << created.error().message;
    endpoint_ = std::move(created->first);
    control_.emplace(std::move(created->second));
  }

  bool readable() const { return wait_readable(endpoint_->endpoint_action_fd(), 0ms); }
  // What a control loop does: wait for the fd, then poll.
  std::optional<EndpointAction> wait_and_poll() {
    EXPECT_TRUE(wait_readable(endpoint_->endpoint_action_fd(), 5000ms));
    return endpoint_->poll_endpoint_action();
  }

  std::unique_ptr<DisconnectableEndpoint> endpoint_;
  std::optional<DisconnectableEndpointControl> control_;
};

TEST_F(DisconnectableTest, BehavesAsNullBeforeTheFirstConnect) {
  EXPECT_EQ(endpoint_->endpoint_type(), "null");
  EXPECT_FALSE(endpoint_->has_connected());
  EXPECT_FALSE(endpoint_->is_connected());
  // Conservative defaults until something connects (the seed panics here).
  EXPECT_FALSE(endpoint_->is_ordered());
  EXPECT_EQ(endpoint_->tx_offload_support(), TxOffloadSupport{});
  EXPECT_EQ(endpoint_->multiqueue_support(), (MultiQueueSupport{1, 0}));
  EXPECT_FALSE(endpoint_->tx_fast_completions());
  EXPECT_EQ(endpoint_->link_speed(), Endpoint::kDefaultLinkSpeed);
  EXPECT_FALSE(readable());
  EXPECT_FALSE(endpoint_->poll_endpoint_action());
  std::vector<QueueConfig> config(2);
  std::vector<std::unique_ptr<Queue>> queues;
  ASSERT_TRUE(endpoint_->get_queues(config, nullptr, queues));
  EXPECT_EQ(queues.size(), 2u);
  EXPECT_FALSE(endpoint_->set_data_path_to_guest_vf(true));
}

TEST_F(DisconnectableTest, ConnectFromAnotherThreadWakesTheControlLoop) {
  int alive = 0;
  std::thread t([&] { ASSERT_TRUE(control_->connect(std::make_unique<FakeEndpoint>(&alive))); });
  EXPECT_EQ(wait_and_poll(), EndpointAction::restart_required());
  t.join();
  EXPECT_EQ(alive, 1);
  EXPECT_TRUE(endpoint_->is_connected());
  EXPECT_EQ(endpoint_->endpoint_type(), "fake");
  EXPECT_TRUE(endpoint_->is_ordered());
  EXPECT_EQ(endpoint_->tx_offload_support(), (TxOffloadSupport{true, true, false, true, false}));
  EXPECT_EQ(endpoint_->multiqueue_support(), (MultiQueueSupport{8, 256}));
  EXPECT_TRUE(endpoint_->tx_fast_completions());
  EXPECT_EQ(endpoint_->link_speed(), 25'000'000'000u);
  ASSERT_TRUE(endpoint_->set_data_path_to_guest_vf(true));
  EXPECT_EQ(endpoint_->get_data_path_to_guest_vf(), true);
  EXPECT_FALSE(readable());
  EXPECT_FALSE(endpoint_->poll_endpoint_action());
  // The connected endpoint goes with its owner, while `alive` still exists.
  endpoint_.reset();
  EXPECT_EQ(alive, 0);
}

TEST_F(DisconnectableTest, CallsGoToTheConnectedEndpoint) {
  auto fake = std::make_unique<FakeEndpoint>();
  FakeEndpoint* raw = fake.get();
  ASSERT_TRUE(control_->connect(std::move(fake)));
  ASSERT_EQ(wait_and_poll(), EndpointAction::restart_required());
  std::vector<uint16_t> table(16);
  RssConfig rss{.indirection_table = table};
  std::vector<QueueConfig> config(1);
  std::vector<std::unique_ptr<Queue>> queues;
  ASSERT_TRUE(endpoint_->get_queues(config, &rss, queues));
  EXPECT_EQ(raw->last_rss_size, 16u);
  queues.clear();
  endpoint_->stop();
  EXPECT_EQ(raw->stops, 1);
}

TEST_F(DisconnectableTest, DisconnectHandsBackTheEndpointOnlyAfterTheNextPoll) {
  int alive = 0;
  auto fake = std::make_unique<FakeEndpoint>(&alive);
  Endpoint* raw = fake.get();
  ASSERT_TRUE(control_->connect(std::move(fake)));
  ASSERT_EQ(wait_and_poll(), EndpointAction::restart_required());

  std::optional<Completion<std::unique_ptr<Endpoint>>> done;
  std::thread t([&] {
    auto d = control_->disconnect();
    ASSERT_TRUE(d);
    done.emplace(std::move(*d));
  });
  t.join();
  EXPECT_FALSE(done->try_take());  // not applied yet

  EXPECT_EQ(wait_and_poll(), EndpointAction::restart_required());
  EXPECT_EQ(endpoint_->endpoint_type(), "null");
  EXPECT_FALSE(endpoint_->is_connected());
  EXPECT_FALSE(done->try_take());  // held back until the caller polls again
  EXPECT_EQ(alive, 1);

  // The fd stays readable so the control loop comes back, and that poll hands the endpoint over.
  EXPECT_FALSE(wait_and_poll());
  auto old = done->wait(1000ms);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->get(), raw);
  EXPECT_EQ(alive, 1);  // handed back, not destroyed
  old->reset();
  EXPECT_EQ(alive, 0);
  EXPECT_FALSE(readable());

  // The capabilities of the last connected endpoint stay cached while disconnected.
  EXPECT_TRUE(endpoint_->has_connected());
  EXPECT_EQ(endpoint_->multiqueue_support(), (MultiQueueSupport{8, 256}));
}

TEST_F(DisconnectableTest, ReconnectAfterDisconnect) {
  ASSERT_TRUE(control_->connect(std::make_unique<FakeEndpoint>()));
  ASSERT_EQ(wait_and_poll(), EndpointAction::restart_required());
  auto done = control_->disconnect();
  ASSERT_TRUE(done);
  ASSERT_EQ(wait_and_poll(), EndpointAction::restart_required());
  // A new connect may be queued before the old endpoint has been handed back.
  ASSERT_TRUE(control_->connect(std::make_unique<LoopbackEndpoint>()));
  EXPECT_EQ(wait_and_poll(), EndpointAction::restart_required());
  ASSERT_TRUE(done->try_take());  // the disconnect completed on that poll
  EXPECT_EQ(endpoint_->endpoint_type(), "loopback");
  EXPECT_EQ(endpoint_->multiqueue_support(), (MultiQueueSupport{UINT16_MAX, 64}));
  EXPECT_EQ(endpoint_->tx_offload_support(), TxOffloadSupport{});
}

TEST_F(DisconnectableTest, QueuedUpdatesApplyOnePerPollInOrder) {
  ASSERT_TRUE(control_->connect(std::make_unique<FakeEndpoint>()));
  auto d1 = control_->disconnect();
  ASSERT_TRUE(d1);
  ASSERT_TRUE(control_->connect(std::make_unique<LoopbackEndpoint>()));
  EXPECT_EQ(wait_and_poll(), EndpointAction::restart_required());
  EXPECT_EQ(endpoint_->endpoint_type(), "fake");
  EXPECT_EQ(wait_and_poll(), EndpointAction::restart_required());
  EXPECT_EQ(endpoint_->endpoint_type(), "null");
  EXPECT_EQ(wait_and_poll(), EndpointAction::restart_required());
  EXPECT_EQ(endpoint_->endpoint_type(), "loopback");
  auto old = d1->try_take();
  ASSERT_TRUE(old && *old);
  EXPECT_EQ((**old)->endpoint_type(), "fake");
  EXPECT_FALSE(readable());
}

TEST_F(DisconnectableTest, ConnectWhileConnectedIsRefused) {
  ASSERT_TRUE(control_->connect(std::make_unique<FakeEndpoint>()));
  auto again = control_->connect(std::make_unique<FakeEndpoint>());  // even before it applies
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kState);
  auto null = control_->connect(nullptr);
  ASSERT_FALSE(null);
  EXPECT_EQ(null.error().code, Errc::kInvalidArgument);
}

TEST_F(DisconnectableTest, DisconnectWhenNothingIsConnectedGivesBackNull) {
  auto done = control_->disconnect();
  ASSERT_TRUE(done);
  EXPECT_EQ(wait_and_poll(), EndpointAction::restart_required());
  EXPECT_FALSE(wait_and_poll());
  auto old = done->try_take();
  ASSERT_TRUE(old && *old);
  EXPECT_EQ(**old, nullptr);
}

TEST_F(DisconnectableTest, ForwardsTheConnectedEndpointsActions) {
  auto fake = std::make_unique<FakeEndpoint>();
  FakeEndpoint* raw = fake.get();
  ASSERT_TRUE(control_->connect(std::move(fake)));
  ASSERT_EQ(wait_and_poll(), EndpointAction::restart_required());
  EXPECT_FALSE(readable());
  raw->inject(EndpointAction::link_status_notify(false));
  raw->inject(EndpointAction::link_status_notify(true));
  EXPECT_EQ(wait_and_poll(), EndpointAction::link_status_notify(false));
  EXPECT_EQ(wait_and_poll(), EndpointAction::link_status_notify(true));
  EXPECT_FALSE(readable());

  // After a disconnect the old endpoint's fd is no longer watched.
  auto done = control_->disconnect();
  ASSERT_TRUE(done);
  ASSERT_EQ(wait_and_poll(), EndpointAction::restart_required());
  ASSERT_FALSE(wait_and_poll());
  auto old = done->try_take();
  ASSERT_TRUE(old && *old);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-static-cast-downcast): the test made a FakeEndpoint
  static_cast<FakeEndpoint*>(old->value().get())->inject(EndpointAction::restart_required());
  EXPECT_FALSE(readable());
}

TEST_F(DisconnectableTest, UpdatesTakePrecedenceOverEndpointActions) {
  auto fake = std::make_unique<FakeEndpoint>();
  FakeEndpoint* raw = fake.get();
  ASSERT_TRUE(control_->connect(std::move(fake)));
  ASSERT_EQ(wait_and_poll(), EndpointAction::restart_required());
  raw->inject(EndpointAction::link_status_notify(true));
  auto done = control_->disconnect();
  ASSERT_TRUE(done);
  EXPECT_EQ(wait_and_poll(), EndpointAction::restart_required());  // the disconnect
  EXPECT_EQ(endpoint_->endpoint_type(), "null");
}

TEST_F(DisconnectableTest, DestroyingTheEndpointClosesTheControl) {
  int alive = 0;
  ASSERT_TRUE(control_->connect(std::make_unique<FakeEndpoint>(&alive)));
  ASSERT_EQ(wait_and_poll(), EndpointAction::restart_required());
  auto applied = control_->disconnect();  // applied, reply pending
  ASSERT_TRUE(applied);
  ASSERT_EQ(wait_and_poll(), EndpointAction::restart_required());
  ASSERT_TRUE(control_->connect(std::make_unique<FakeEndpoint>(&alive)));  // queued only
  auto queued = control_->disconnect();                                    // queued only
  ASSERT_TRUE(queued);
  EXPECT_EQ(alive, 2);

  endpoint_.reset();
  EXPECT_EQ(alive, 1);  // the queued connect was dropped; the applied disconnect handed back
  auto old = applied->try_take();
  ASSERT_TRUE(old && *old);
  EXPECT_NE(**old, nullptr);
  auto lost = queued->try_take();
  ASSERT_TRUE(lost);
  ASSERT_FALSE(*lost);
  EXPECT_EQ(lost->error().code, Errc::kClosed);

  auto c = control_->connect(std::make_unique<FakeEndpoint>());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::kClosed);
  auto d = control_->disconnect();
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Errc::kClosed);
}

TEST_F(DisconnectableTest, ManyCyclesFromAControlThread) {
  // A control thread connects and disconnects repeatedly, waiting for each endpoint to come back;
  // this thread plays the frontend's control loop.
  constexpr int kCycles = 200;
  int alive = 0;
  std::atomic<bool> finished{false};
  std::thread control([&] {
    for (int i = 0; i < kCycles; ++i) {
      ASSERT_TRUE(control_->connect(std::make_unique<FakeEndpoint>(&alive)));
      auto done = control_->disconnect();
      ASSERT_TRUE(done);
      auto old = done->wait(5000ms);
      ASSERT_TRUE(old) << old.error().message;
      ASSERT_NE(*old, nullptr);
    }
    finished = true;
  });
  int restarts = 0;
  while (!finished) {
    if (!wait_readable(endpoint_->endpoint_action_fd(), 10ms)) continue;
    if (auto a = endpoint_->poll_endpoint_action()) {
      EXPECT_EQ(*a, EndpointAction::restart_required());
      ++restarts;
    }
  }
  control.join();
  EXPECT_EQ(restarts, 2 * kCycles);
  EXPECT_EQ(alive, 0);
}

}  // namespace
}  // namespace pmdnet
