// Tests of TelemetryClient against a stand-in for DPDK's telemetry socket: an AF_UNIX
// SOCK_SEQPACKET listener in a thread that greets, answers and hangs up like DPDK 22.11 does.
#include "daemon/pmdnetctl/client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

namespace pmdnet::ctl {
namespace {

namespace fs = std::filesystem;

constexpr const char* kGreeting = R"({"version":"DPDK 22.11.11","pid":1,"max_output_len":16384})";

// One connection's worth of a fake server: accepts once, then runs `session` on the socket.
class FakeServer {
 public:
  explicit FakeServer(std::function<void(int)> session) {
    static int serial = 0;
    path_ = fmt::format("/tmp/pmdnetctl-test-{}-{}.sock", getpid(), serial++);
    listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    EXPECT_GE(listen_fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_, 1), 0);
    thread_ = std::thread([this, session = std::move(session)] {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      session(fd);
      close(fd);
    });
  }
  ~FakeServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    close(listen_fd_);
    fs::remove(path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int listen_fd_ = -1;
  std::thread thread_;
};

void send_text(int fd, std::string_view text) {
  ASSERT_EQ(send(fd, text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
}

std::string receive_text(int fd) {
  char buf[2048];
  const ssize_t n = recv(fd, buf, sizeof(buf), 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

TEST(TelemetryClientTest, GreetsAndAnswersRequests) {
  FakeServer server([](int fd) {
    send_text(fd, kGreeting);
    for (int i = 0; i < 2; ++i) {
      const std::string request = receive_text(fd);
      send_text(fd, fmt::format(R"({{"{}":{}}})", request, i));
    }
  });
  auto client = TelemetryClient::connect(server.path());
  ASSERT_TRUE(client) << client.error().message;
  EXPECT_EQ(client->greeting(), kGreeting);
  auto r = client->request("/pmdnet/info");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, R"({"/pmdnet/info":0})");
  r = client->request("/pmdnet/port,vm1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, R"({"/pmdnet/port,vm1":1})");
}

TEST(TelemetryClientTest, ABigReplyArrivesWhole) {
  const std::string big = fmt::format(R"({{"/x":"{}"}})", std::string(16000, 'a'));
  FakeServer server([&](int fd) {
    send_text(fd, kGreeting);
    receive_text(fd);
    send_text(fd, big);
  });
  auto client = TelemetryClient::connect(server.path());
  ASSERT_TRUE(client) << client.error().message;
  auto r = client->request("/x");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, big);
}

TEST(TelemetryClientTest, NoSocketIsClosed) {
  auto client = TelemetryClient::connect("/tmp/pmdnetctl-test-no-such.sock");
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, Errc::kClosed);
  EXPECT_NE(client.error().message.find("No such file"), std::string::npos);
}

TEST(TelemetryClientTest, AStaleSocketIsClosed) {
  const std::string path = fmt::format("/tmp/pmdnetctl-test-stale-{}.sock", getpid());
  {
    const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    close(fd);  // the file stays, nobody listens
  }
  auto client = TelemetryClient::connect(path);
  fs::remove(path);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, Errc::kClosed);
  EXPECT_NE(client.error().message.find("refused"), std::string::npos) << client.error().message;
}

TEST(TelemetryClientTest, HangingUpAtOnceIsClosed) {
  // DPDK accepts and closes at once when 10 clients are connected.
  FakeServer server([](int) {});
  auto client = TelemetryClient::connect(server.path());
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, Errc::kClosed);
}

TEST(TelemetryClientTest, AForeignGreetingIsMalformed) {
  FakeServer server([](int fd) { send_text(fd, "hello"); });
  auto client = TelemetryClient::connect(server.path());
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, Errc::kMalformed);
}

TEST(TelemetryClientTest, ASilentServerTimesOut) {
  FakeServer server([](int fd) { receive_text(fd); });  // waits for us, we wait for it
  auto client = TelemetryClient::connect(server.path(), std::chrono::milliseconds(100));
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, Errc::kIo);
  EXPECT_NE(client.error().message.find("timed out"), std::string::npos);
}

TEST(TelemetryClientTest, ServerGoneMidSessionIsAnError) {
  FakeServer server([](int fd) { send_text(fd, kGreeting); });
  auto client = TelemetryClient::connect(server.path());
  ASSERT_TRUE(client) << client.error().message;
  auto r = client->request("/pmdnet/info");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().code == Errc::kClosed || r.error().code == Errc::kIo) << r.error().message;
}

TEST(TelemetryClientTest, RefusesRequestsDpdkCannotTake) {
  FakeServer server([](int fd) {
    send_text(fd, kGreeting);
    receive_text(fd);
  });
  auto client = TelemetryClient::connect(server.path());
  ASSERT_TRUE(client) << client.error().message;
  for (const std::string& bad :
       {std::string(), std::string("pmdnet/info"), "/" + std::string(1023, 'x')}) {
    auto r = client->request(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  }
}

TEST(TelemetryClientTest, BadPaths) {
  EXPECT_EQ(TelemetryClient::connect("").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(TelemetryClient::connect(std::string(200, 'p')).error().code, Errc::kInvalidArgument);
}

TEST(TelemetryClientTest, MovesOwnTheSocket) {
  FakeServer server([](int fd) {
    send_text(fd, kGreeting);
    const std::string request = receive_text(fd);
    send_text(fd, R"({"/a":1})");
  });
  auto client = TelemetryClient::connect(server.path());
  ASSERT_TRUE(client);
  TelemetryClient moved = std::move(*client);
  TelemetryClient assigned = std::move(moved);
  auto r = assigned.request("/a");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, R"({"/a":1})");
}

}  // namespace
}  // namespace pmdnet::ctl
