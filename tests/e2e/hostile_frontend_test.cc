// pmdnetd against a hostile vhost-user front-end: the test plays a compromised VMM on one port
// ("bad") with a front-end of its own (vhost_frontend.h), while a well-behaved guest (pmdnet_guest
// on net_virtio_user) uses another port ("good") on the same worker. Whatever the bad front-end
// sends, the daemon must live, touch no memory outside the guest's, and keep the good port
// forwarding and its control plane answering.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/daemon_fixture.h"
#include "tests/e2e/vhost_frontend.h"

namespace pmdnet::e2e {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class HostileFrontendTest : public DaemonTest {
 protected:
  // A backend that completes every guest transmit at once (loopback waits for receive buffers).
  static constexpr const char* kNullBackend = "      type: null\n";
  // Both ports on the one worker; `bad_backend` is the bad port's backend YAML.
  void start(const std::string& bad_backend = "      type: loopback\n") {
    write_config(config({"good"}, fmt::format("  - name: bad\n    vhost_user:\n      socket: {}\n"
                                              "    backend:\n{}",
                                              socket("bad"), bad_backend)));
    start_daemon({socket("good"), socket("bad")});
  }
  // The good guest's echo through the good port: every frame back, none lost.
  void expect_good_port_forwards() {
    std::string out;
    EXPECT_EQ(run_guest("good", {"--echo", "--packets", "3000", "--rate", "10000"}, out,
                        milliseconds(60000)),
              0)
        << out << "\npmdnetd said:\n"
        << daemon_->output();
    EXPECT_THAT(out, HasSubstr("lost=0 corrupt=0"));
  }
  void expect_daemon_alive() {
    ASSERT_FALSE(daemon_->wait(milliseconds(0)).has_value())
        << "pmdnetd ended (" << exit_code(daemon_->wait(milliseconds(0))) << "):\n"
        << daemon_->output();
  }
  uint64_t bad_port(const std::string& counter) {
    return sum_of(telemetry("/pmdnet/port,bad"), counter);
  }
  // Posts guest TX frames on the bad front-end's ring for `d`, as fast as the ring recycles.
  static void push_tx_for(VhostFrontend& f, std::chrono::milliseconds d, uint64_t gpa) {
    const auto until = steady_clock::now() + d;
    while (steady_clock::now() < until) {
      while (static_cast<uint16_t>(f.avail_idx(1) - f.used_idx(1)) < 16) f.post_tx(gpa, 60);
      std::this_thread::sleep_for(1ms);
    }
  }
};

// SET_VRING_CALL with the write end of a pipe whose reader is closed: the first notification
// would raise SIGPIPE. The call fd is refused (not an eventfd), and the daemon ignores SIGPIPE.
TEST_F(HostileFrontendTest, ACallFdPipeWithoutAReaderNeitherKillsNorStarts) {
  start(kNullBackend);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ::close(p[0]);
  VhostFrontend bad;
  ASSERT_TRUE(bad.connect(socket("bad")));
  ASSERT_TRUE(bad.bring_up(/*tx_call_fd=*/p[1]));
  push_tx_for(bad, 1000ms, bad.buffers_gpa());
  expect_daemon_alive();
  EXPECT_TRUE(eventually([&] { return bad_port("start_errors") > 0; }, 5000ms))
      << telemetry("/pmdnet/port,bad");
  EXPECT_THAT(daemon_->output(), HasSubstr("is not an eventfd"));
  expect_good_port_forwards();
  ::close(p[1]);
}

// A call fd nobody reads would block the worker once full, and with it the good port. The pipe is
// handed over full, so the first notification would block.
TEST_F(HostileFrontendTest, ACallFdThatWouldBlockDoesNotStallTheWorker) {
  start(kNullBackend);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
  const std::vector<uint8_t> chunk(4096);
  while (::write(p[1], chunk.data(), chunk.size()) > 0) {
  }
  ASSERT_EQ(fcntl(p[1], F_SETFL, 0), 0);
  VhostFrontend bad;
  ASSERT_TRUE(bad.connect(socket("bad")));
  ASSERT_TRUE(bad.bring_up(/*tx_call_fd=*/p[1]));
  std::thread pusher([&] { push_tx_for(bad, 8000ms, bad.buffers_gpa()); });
  expect_good_port_forwards();
  pusher.join();
  expect_daemon_alive();
  ::close(p[0]);
  ::close(p[1]);
}

// A region larger than its memfd: rte_vhost would map past the file's end, and the first access
// there raise SIGBUS. SET_MEM_TABLE is refused before it is mapped; the connection ends.
TEST_F(HostileFrontendTest, ARegionLargerThanItsFileIsRefused) {
  start();
  VhostFrontend bad(VhostFrontend::Options{.mem_size = 1 << 20, .region_size = 2 << 20});
  ASSERT_TRUE(bad.connect(socket("bad")));
  ASSERT_TRUE(bad.negotiate());
  EXPECT_TRUE(bad.closed_by_peer(5000ms)) << daemon_->output();
  expect_daemon_alive();
  EXPECT_THAT(daemon_->output(), HasSubstr("past the file's end"));
  EXPECT_GE(bad_port("refused_messages"), 1u);
  expect_good_port_forwards();
}

// The memfd shrinks after SET_MEM_TABLE, and a descriptor points into the part that is gone: the
// worker's access faults (SIGBUS), is recovered, and that port alone breaks.
TEST_F(HostileFrontendTest, GuestMemoryTruncatedUnderARunningPortBreaksOnlyThatPort) {
  start();
  VhostFrontend bad;
  ASSERT_TRUE(bad.connect(socket("bad")));
  ASSERT_TRUE(bad.bring_up());
  ASSERT_TRUE(eventually([&] { return bad_port("queue_pairs") == 1; }, 10000ms))
      << daemon_->output();
  const uint64_t gone = 1 << 20;
  std::memset(bad.host(gone), 0, kNetHdrLen);
  // The rings stay (they lie below buffers_gpa()); the frame's buffer goes.
  ASSERT_EQ(::ftruncate(bad.memfd(), static_cast<off_t>(bad.buffers_gpa())), 0);
  bad.post_tx(gone, 1000, /*write=*/false);
  EXPECT_TRUE(bad.closed_by_peer(10000ms)) << daemon_->output();
  expect_daemon_alive();
  EXPECT_THAT(daemon_->output(), HasSubstr("guest memory faulted"));
  EXPECT_GE(bad_port("guest_memory_faults"), 1u);
  expect_good_port_forwards();
}

// A used ring that starts inside the region and runs past its end: rte_vhost's own length check
// fails but keeps the pointer, and the ring would be "ready". pmdnetd checks it and never starts.
TEST_F(HostileFrontendTest, AUsedRingRunningPastItsRegionNeverStarts) {
  start();
  VhostFrontend bad;
  ASSERT_TRUE(bad.connect(socket("bad")));
  ASSERT_TRUE(bad.negotiate());
  ASSERT_TRUE(bad.setup_vring(0));
  ASSERT_TRUE(bad.setup_vring(1, -1, bad.uaddr((2 << 20) - 64)));  // 134 bytes, 64 inside
  EXPECT_TRUE(eventually([&] { return bad_port("start_errors") > 0; }, 5000ms))
      << telemetry("/pmdnet/port,bad");
  EXPECT_EQ(bad_port("queue_pairs"), 0u);
  EXPECT_THAT(daemon_->output(), HasSubstr("does not lie in guest memory"));
  expect_daemon_alive();
  expect_good_port_forwards();
}

// SET_VRING_NUM raised from 256 to 32768 after the rings were checked: rte_vhost changes the size
// without translating again; pmdnetd stops the pair and checks again at its restart.
TEST_F(HostileFrontendTest, ARingSizeRaisedAfterTheCheckIsRefusedAtTheRestart) {
  start();
  VhostFrontend bad(VhostFrontend::Options{.ring_size = 256});
  ASSERT_TRUE(bad.connect(socket("bad")));
  ASSERT_TRUE(bad.negotiate());
  ASSERT_TRUE(bad.setup_vring(0));
  ASSERT_TRUE(bad.setup_vring(1, -1, bad.uaddr((2 << 20) - 4096)));  // 256 entries fit
  ASSERT_TRUE(eventually([&] { return bad_port("queue_pairs") == 1; }, 10000ms))
      << daemon_->output();
  ASSERT_TRUE(bad.send_state(kSetVringNum, 1, 32768));
  EXPECT_TRUE(eventually([&] { return bad_port("start_errors") > 0; }, 5000ms))
      << telemetry("/pmdnet/port,bad");
  EXPECT_EQ(bad_port("queue_pairs"), 0u);
  expect_daemon_alive();
  expect_good_port_forwards();
}

// Receive buffers too small for every frame the NIC has (net_null never runs dry): each pass
// drops what does not fit and moves on, so the good port on the same worker keeps forwarding.
TEST_F(HostileFrontendTest, ReceiveBuffersTooSmallForEveryFrameDoNotStarveTheWorker) {
  start("      type: dpdk\n      device: net_null0\n");
  VhostFrontend bad;
  ASSERT_TRUE(bad.connect(socket("bad")));
  ASSERT_TRUE(bad.bring_up());
  bad.post_rx(16, 1, 40);  // room for 28 bytes of frame after the header; net_null's are 64
  ASSERT_TRUE(eventually([&] { return bad_port("queue_pairs") == 1; }, 10000ms))
      << daemon_->output();
  expect_good_port_forwards();
  expect_daemon_alive();
}

// The same with MRG_RXBUF: 4 chains of 4 x 48 B hold 756 bytes of frame; net_null's are 1500.
TEST_F(HostileFrontendTest, MergeableReceiveBuffersTooSmallDoNotStarveTheWorker) {
  start("      type: dpdk\n      device: net_null0,size=1500\n");
  VhostFrontend bad(VhostFrontend::Options{.features = kFeatureVersion1 | kFeatureMrgRxbuf});
  ASSERT_TRUE(bad.connect(socket("bad")));
  ASSERT_TRUE(bad.bring_up());
  bad.post_rx(4, 4, 48);  // 4 chains of 4 x 48 B
  ASSERT_TRUE(eventually([&] { return bad_port("queue_pairs") == 1; }, 10000ms))
      << daemon_->output();
  expect_good_port_forwards();
  expect_daemon_alive();
}

// A header that promises a payload which never comes would hold rte_vhost's only thread in a
// blocking read: no other port could connect. The read times out and that connection ends.
TEST_F(HostileFrontendTest, AMessageThatNeverCompletesDoesNotStallOtherPorts) {
  start();
  VhostFrontend bad;
  ASSERT_TRUE(bad.connect(socket("bad")));
  ASSERT_TRUE(bad.send(kSetOwner, nullptr, 0));
  const uint32_t header[3] = {kSetFeatures, 1, 8};  // and no payload
  ASSERT_EQ(::send(bad.socket_fd(), header, sizeof(header), MSG_NOSIGNAL),
            static_cast<ssize_t>(sizeof(header)));
  expect_good_port_forwards();
  EXPECT_TRUE(bad.closed_by_peer(5000ms));
  expect_daemon_alive();
}

// Requests flooded without reading the replies would fill the socket and block rte_vhost's
// thread in a reply. Once replies pile up unread, that connection is cut off.
TEST_F(HostileFrontendTest, FloodedRequestsWithUnreadRepliesAreCutOff) {
  start();
  VhostFrontend bad;
  ASSERT_TRUE(bad.connect(socket("bad")));
  const auto until = steady_clock::now() + 3000ms;
  size_t sent = 0;
  while (steady_clock::now() < until) {
    if (bad.send(kGetFeatures, nullptr, 0, {}, MSG_DONTWAIT)) {
      ++sent;
    } else if (errno == EAGAIN) {
      std::this_thread::sleep_for(1ms);
    } else {
      break;  // cut off
    }
  }
  EXPECT_GT(sent, 100u);
  EXPECT_TRUE(bad.closed_by_peer(5000ms));
  EXPECT_THAT(daemon_->output(), HasSubstr("left unread"));
  expect_good_port_forwards();
  expect_daemon_alive();
}

// A front-end that reconnects the moment it closed: rte_vhost may see the new connection before
// the old one's end. The old session is retired then, not the new connection refused.
TEST_F(HostileFrontendTest, AReconnectRightAfterACloseIsNotRefused) {
  start();
  for (int i = 0; i < 100; ++i) {
    VhostFrontend f;
    ASSERT_TRUE(f.connect(socket("bad"))) << i;
    ASSERT_TRUE(f.send(kSetOwner, nullptr, 0));
    ASSERT_TRUE(f.send(kGetFeatures, nullptr, 0));
    ASSERT_TRUE(f.reply_u64(5000ms)) << "cycle " << i << ":\n" << daemon_->output();
  }
  EXPECT_TRUE(eventually([&] { return bad_port("connections") == 100; }, 5000ms))
      << telemetry("/pmdnet/port,bad");
  EXPECT_EQ(bad_port("refused_connections"), 0u) << daemon_->output();
  expect_daemon_alive();
}

}  // namespace
}  // namespace pmdnet::e2e
