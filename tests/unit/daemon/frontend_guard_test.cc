// Unit tests of what guards pmdnetd against a hostile vhost-user front-end: call fds (eventfd
// only, never blocking), memory tables checked against the files they map, the connection socket
// (found, timed out, cut off when its replies pile up, seen gone), and recovery from a fault in
// guest memory whose file shrank.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "daemon/vhost_user/call_fd.h"
#include "daemon/vhost_user/connection_socket.h"
#include "daemon/vhost_user/guest_fault.h"
#include "daemon/vhost_user/vhost_user_msg.h"

namespace pmdnet::vhost_user {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// --- call fds ------------------------------------------------------------------------------------

TEST(CallFd, AnEventfdIsAcceptedAndMadeNonBlocking) {
  const int fd = eventfd(0, 0);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(prepare_call_fd(fd));
  EXPECT_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  notify_call_fd(fd);
  uint64_t count = 0;
  ASSERT_EQ(read(fd, &count, sizeof(count)), 8);
  EXPECT_EQ(count, 1u);
  close(fd);
  EXPECT_TRUE(prepare_call_fd(-1)) << "no call fd: the guest polls";
}

// A saturated counter would block a blocking write for ever; the worker must go on.
TEST(CallFd, ASaturatedEventfdDoesNotBlockTheNotification) {
  const int fd = eventfd(0, 0);
  ASSERT_GE(fd, 0);
  const uint64_t almost = 0xfffffffffffffffeULL;
  ASSERT_EQ(write(fd, &almost, sizeof(almost)), 8);
  ASSERT_TRUE(prepare_call_fd(fd));
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) notify_call_fd(fd);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  close(fd);
}

TEST(CallFd, PipesSocketsAndFilesAreRefused) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  auto r = prepare_call_fd(p[1]);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not an eventfd"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("pipe:"), std::string::npos) << r.error().message;
  EXPECT_EQ(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0) << "a refused fd is left as it was";
  close(p[0]);
  close(p[1]);
  int s[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
  EXPECT_FALSE(prepare_call_fd(s[0]));
  close(s[0]);
  close(s[1]);
  const int file = memfd_create("callfd", MFD_CLOEXEC);
  EXPECT_FALSE(prepare_call_fd(file));
  close(file);
  EXPECT_FALSE(prepare_call_fd(12345)) << "not open";
}

// Without the SIGPIPE disposition pmdnetd sets, a write to a pipe whose reader is gone ends the
// process; refused before any write happens.
TEST(CallFd, APipeWithoutAReaderIsRefusedBeforeAnyWrite) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  close(p[0]);
  EXPECT_FALSE(prepare_call_fd(p[1]));
  close(p[1]);
}

// --- memory tables -------------------------------------------------------------------------------

std::vector<uint8_t> mem_table_message(const std::vector<VhostUserMemoryRegion>& regions,
                                       uint32_t nregions) {
  const uint32_t size = static_cast<uint32_t>(kMemTableHeaderSize + 32 * regions.size());
  std::vector<uint8_t> m(kVhostUserHeaderSize + size);
  const VhostUserMsgHeader h{static_cast<uint32_t>(VhostUserRequest::kSetMemTable), 1, size};
  std::memcpy(m.data(), &h, sizeof(h));
  std::memcpy(m.data() + kVhostUserHeaderSize, &nregions, sizeof(nregions));
  if (!regions.empty()) {
    std::memcpy(m.data() + kVhostUserHeaderSize + kMemTableHeaderSize, regions.data(),
                32 * regions.size());
  }
  return m;
}

TEST(MemTable, ParsesItsRegionsAndRefusesShortOrOversizedTables) {
  const std::vector<VhostUserMemoryRegion> two = {{0, 0x1000, 0x7000, 0}, {0x1000, 0x2000, 0, 16}};
  auto parsed = parse_mem_table(mem_table_message(two, 2));
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[1].memory_size, 0x2000u);
  EXPECT_EQ((*parsed)[1].mmap_offset, 16u);
  EXPECT_FALSE(parse_mem_table(mem_table_message(two, 3))) << "more regions than the payload holds";
  std::vector<VhostUserMemoryRegion> nine(9, {0, 0x1000, 0, 0});
  EXPECT_FALSE(parse_mem_table(mem_table_message(nine, 9)));
  auto m = mem_table_message(two, 2);
  EXPECT_FALSE(parse_mem_table(std::span(m).first(kVhostUserHeaderSize + 4)));
  EXPECT_FALSE(parse_mem_table(std::span(m).first(5)));
  EXPECT_TRUE(parse_mem_table(mem_table_message({}, 0))) << "0 regions parse; rte_vhost decides";
}

class MemTableFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_ = memfd_create("guest", MFD_CLOEXEC);
    ASSERT_GE(fd_, 0);
    ASSERT_EQ(ftruncate(fd_, 1 << 20), 0);
  }
  void TearDown() override { close(fd_); }
  int fd_ = -1;
};

TEST_F(MemTableFiles, ARegionInsideItsFileIsAccepted) {
  const VhostUserMemoryRegion whole{0, 1 << 20, 0, 0};
  EXPECT_TRUE(check_mem_table_files(std::span(&whole, 1), std::span(&fd_, 1)));
  const VhostUserMemoryRegion tail{0, 4096, 0, (1 << 20) - 4096};
  EXPECT_TRUE(check_mem_table_files(std::span(&tail, 1), std::span(&fd_, 1)));
}

TEST_F(MemTableFiles, ARegionLargerThanItsFileIsRefused) {
  const VhostUserMemoryRegion big{0, 2 << 20, 0, 0};
  auto r = check_mem_table_files(std::span(&big, 1), std::span(&fd_, 1));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("past the file's end"), std::string::npos) << r.error().message;
  const VhostUserMemoryRegion offset{0, 1 << 20, 0, 4096};
  EXPECT_FALSE(check_mem_table_files(std::span(&offset, 1), std::span(&fd_, 1)));
  const VhostUserMemoryRegion wraps{0, 0x2000, 0, ~uint64_t{0} - 0x1000};
  EXPECT_FALSE(check_mem_table_files(std::span(&wraps, 1), std::span(&fd_, 1)));
  const VhostUserMemoryRegion empty{0, 0, 0, 0};
  EXPECT_FALSE(check_mem_table_files(std::span(&empty, 1), std::span(&fd_, 1)));
}

TEST_F(MemTableFiles, MissingFdsAndNonFilesAreRefused) {
  const VhostUserMemoryRegion r{0, 4096, 0, 0};
  EXPECT_FALSE(check_mem_table_files(std::span(&r, 1), {}));
  const int two[] = {fd_, fd_};
  EXPECT_FALSE(check_mem_table_files(std::span(&r, 1), two));
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  EXPECT_FALSE(check_mem_table_files(std::span(&r, 1), std::span(&p[0], 1)));
  close(p[0]);
  close(p[1]);
  const int closed = 9999;
  EXPECT_FALSE(check_mem_table_files(std::span(&r, 1), std::span(&closed, 1)));
}

// --- the connection socket -----------------------------------------------------------------------

class ConnectionSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() / ("pmdnet-conn-" + std::to_string(getpid()))).string();
    fs::remove(path_);
    listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a = address();
    ASSERT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(listen(listener_, 4), 0);
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    close(listener_);
    fs::remove(path_);
  }
  sockaddr_un address() const {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path_.c_str());
    return a;
  }
  // A connected pair: {the client's end, the accepted end}.
  std::pair<int, int> connect_pair() {
    const int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a = address();
    EXPECT_EQ(connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    const int s = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    fds_.push_back(c);
    fds_.push_back(s);
    return {c, s};
  }
  static bool same_socket(int a, int b) {
    struct stat sa {
    }, sb{};
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino;
  }
  std::string path_;
  int listener_ = -1;
  std::vector<int> fds_;
};

TEST_F(ConnectionSocketTest, FindsTheAcceptedEndInServerModeAndTheConnectingEndInClientMode) {
  auto [client, server] = connect_pair();
  ConnectionSocket s = ConnectionSocket::find(path_, /*client_mode=*/false, nullptr);
  ASSERT_TRUE(s.valid());
  EXPECT_TRUE(same_socket(s.fd(), server));
  ConnectionSocket c = ConnectionSocket::find(path_, /*client_mode=*/true, nullptr);
  ASSERT_TRUE(c.valid());
  EXPECT_TRUE(same_socket(c.fd(), client));
  EXPECT_FALSE(ConnectionSocket::find(path_ + "x", false, nullptr).valid());
}

TEST_F(ConnectionSocketTest, SkipsTheKnownConnectionAndOnesWhosePeerIsGone) {
  auto [client1, server1] = connect_pair();
  ConnectionSocket first = ConnectionSocket::find(path_, false, nullptr);
  ASSERT_TRUE(first.valid());
  EXPECT_FALSE(first.peer_gone());
  auto [client2, server2] = connect_pair();
  ConnectionSocket second = ConnectionSocket::find(path_, false, &first);
  ASSERT_TRUE(second.valid());
  EXPECT_TRUE(same_socket(second.fd(), server2));
  shutdown(client1, SHUT_RDWR);
  EXPECT_TRUE(first.peer_gone());
  EXPECT_FALSE(second.peer_gone());
  ConnectionSocket again = ConnectionSocket::find(path_, false, nullptr);
  ASSERT_TRUE(again.valid());
  EXPECT_TRUE(same_socket(again.fd(), server2)) << "a connection whose peer is gone is not new";
  (void)server1;
}

TEST_F(ConnectionSocketTest, AHalfSentMessageTimesOutInsteadOfBlocking) {
  auto [client, server] = connect_pair();
  ConnectionSocket s = ConnectionSocket::find(path_, false, nullptr);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(s.set_timeouts(100ms));
  ASSERT_EQ(write(client, "12345", 5), 5);  // a header promising more
  char buf[12];
  ASSERT_EQ(read(server, buf, 5), 5);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(read(server, buf, sizeof(buf)), -1) << "the timeout is the socket's: every fd has it";
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST_F(ConnectionSocketTest, CountsRepliesLeftUnreadAndShutsDown) {
  auto [client, server] = connect_pair();
  ConnectionSocket s = ConnectionSocket::find(path_, false, nullptr);
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(s.unread_bytes(), 0u);
  std::vector<uint8_t> reply(20, 1);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(write(server, reply.data(), reply.size()), 20);
  ASSERT_TRUE(s.unread_bytes());
  EXPECT_GT(*s.unread_bytes(), kMaxUnreadReplyBytes) << "200 small replies, with their overhead";
  s.shut_down();
  EXPECT_TRUE(s.peer_gone());
  pollfd p{client, POLLRDHUP, 0};
  EXPECT_EQ(poll(&p, 1, 1000), 1) << "the front-end sees the end";
}

// --- faults in guest memory ----------------------------------------------------------------------

TEST(GuestFault, AnAccessPastATruncatedFileIsRecoveredAndMarksItsOwner) {
  install_guest_fault_handler();
  const int fd = memfd_create("guest", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  constexpr size_t kSize = 1 << 20;
  ASSERT_EQ(ftruncate(fd, kSize), 0);
  auto* p = static_cast<uint8_t*>(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(p, MAP_FAILED);
  p[0] = 1;
  const int owner = 0;
  const std::span<uint8_t> mapping(p, kSize);
  ASSERT_TRUE(register_guest_mappings(&owner, std::span(&mapping, 1)));
  EXPECT_FALSE(guest_memory_faulted(&owner));
  ASSERT_EQ(ftruncate(fd, 4096), 0);  // the front-end shrinks the file under the mapping
  const uint64_t before = guest_faults_recovered();
  volatile uint8_t* far = p + kSize - 1;
  *far = 7;  // SIGBUS, recovered: the write lands in private memory
  EXPECT_EQ(*far, 7);
  EXPECT_EQ(p[0], 0) << "the whole mapping is replaced, zeros now";
  EXPECT_TRUE(guest_memory_faulted(&owner));
  EXPECT_EQ(guest_faults_recovered(), before + 1);
  unregister_guest_mappings(&owner);
  EXPECT_FALSE(guest_memory_faulted(&owner));
  munmap(p, kSize);
  close(fd);
}

TEST(GuestFault, ASigbusOutsideEveryMappingStillEndsTheProcess) {
  install_guest_fault_handler();
  EXPECT_EXIT(
      {
        const int fd = memfd_create("other", MFD_CLOEXEC);
        if (ftruncate(fd, 8192) != 0) _exit(3);
        auto* p = static_cast<uint8_t*>(mmap(nullptr, 8192, PROT_READ, MAP_SHARED, fd, 0));
        if (ftruncate(fd, 0) != 0) _exit(4);
        volatile uint8_t v = p[4096];
        (void)v;
        _exit(0);
      },
      // Killed by SIGBUS; under AddressSanitizer, whose handler was there before, its report.
      [](int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }, "");
}

TEST(GuestFault, RegistrationReplacesAndTheTableIsBounded) {
  const int a = 0;
  std::vector<std::span<uint8_t>> many(1025, std::span<uint8_t>(static_cast<uint8_t*>(nullptr), 0));
  EXPECT_FALSE(register_guest_mappings(&a, many));
  unregister_guest_mappings(&a);
  many.resize(8);
  EXPECT_TRUE(register_guest_mappings(&a, many));
  EXPECT_TRUE(register_guest_mappings(&a, many)) << "the owner's old entries are replaced";
  unregister_guest_mappings(&a);
}

}  // namespace
}  // namespace pmdnet::vhost_user
