// A vhost-user front-end of the tests' own, to play a hostile VMM against pmdnetd: it speaks the
// protocol from the public specification over a unix socket (messages, replies, fds with
// SCM_RIGHTS), owns a memfd as guest memory, lays out split rings in it, and drives them as a
// guest driver would, or as one must not: every message, size, address and fd is the test's.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace pmdnet::e2e {

// Front-end request ids and the bits the tests use (vhost-user and virtio 1.2).
enum : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kSetMemTable = 5,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kSetVringKick = 12,
  kSetVringCall = 13,
};
inline constexpr uint64_t kFeatureMrgRxbuf = uint64_t{1} << 15;
inline constexpr uint64_t kFeatureVersion1 = uint64_t{1} << 32;
inline constexpr uint16_t kDescNext = 1;
inline constexpr uint16_t kDescWrite = 2;
inline constexpr size_t kNetHdrLen = 12;  // virtio_net_hdr with num_buffers (VERSION_1)

class VhostFrontend {
 public:
  struct Options {
    uint64_t mem_size = 2 << 20;  // the memfd's size
    uint64_t region_size = 0;     // what SET_MEM_TABLE claims (0: mem_size)
    uint16_t ring_size = 16;
    uint64_t features = kFeatureVersion1;
  };

  VhostFrontend() : VhostFrontend(Options{}) {}
  explicit VhostFrontend(Options o) : o_(o) {
    if (o_.region_size == 0) o_.region_size = o_.mem_size;
    memfd_ = ::memfd_create("pmdnet-e2e-guest", MFD_CLOEXEC);
    if (memfd_ >= 0 && ::ftruncate(memfd_, static_cast<off_t>(o_.mem_size)) == 0) {
      void* p = ::mmap(nullptr, o_.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
      if (p != MAP_FAILED) mem_ = static_cast<uint8_t*>(p);
    }
    for (auto& fd : kick_) fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    for (auto& fd : call_) fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }
  ~VhostFrontend() {
    close_socket();
    if (mem_ != nullptr) ::munmap(mem_, o_.mem_size);
    if (memfd_ >= 0) ::close(memfd_);
    for (int fd : kick_) ::close(fd);
    for (int fd : call_) ::close(fd);
  }
  VhostFrontend(const VhostFrontend&) = delete;
  VhostFrontend& operator=(const VhostFrontend&) = delete;

  bool ready() const { return mem_ != nullptr; }
  int memfd() const { return memfd_; }
  int socket_fd() const { return sock_; }
  uint8_t* host(uint64_t gpa) const { return mem_ + gpa; }
  uint64_t uaddr(uint64_t gpa) const { return reinterpret_cast<uint64_t>(mem_) + gpa; }

  bool connect(const std::string& path,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      sock_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
      if (::connect(sock_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return true;
      close_socket();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }
  void close_socket() {
    if (sock_ >= 0) ::close(sock_);
    sock_ = -1;
  }

  // One message: header (request, flags = version 1, size) and payload, fds alongside.
  bool send(uint32_t request, const void* payload, uint32_t size, std::span<const int> fds = {},
            int flags = 0) {
    std::vector<uint8_t> m(12 + size);
    const uint32_t h[3] = {request, 1, size};
    std::memcpy(m.data(), h, sizeof(h));
    if (size > 0) std::memcpy(m.data() + 12, payload, size);
    iovec iov{m.data(), m.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * 8));
    if (!fds.empty()) {
      msg.msg_control = control.data();
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    return ::sendmsg(sock_, &msg, MSG_NOSIGNAL | flags) == static_cast<ssize_t>(m.size());
  }
  bool send_u64(uint32_t request, uint64_t v, std::span<const int> fds = {}) {
    return send(request, &v, sizeof(v), fds);
  }
  bool send_state(uint32_t request, uint32_t index, uint32_t num) {
    const uint32_t s[2] = {index, num};
    return send(request, s, sizeof(s));
  }
  // A reply's payload as a u64, within `timeout`.
  std::optional<uint64_t> reply_u64(std::chrono::milliseconds timeout) {
    pollfd p{sock_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    uint8_t buf[20];
    size_t got = 0;
    while (got < sizeof(buf)) {
      const ssize_t n = ::recv(sock_, buf + got, sizeof(buf) - got, 0);
      if (n <= 0) return std::nullopt;
      got += static_cast<size_t>(n);
    }
    uint64_t v;
    std::memcpy(&v, buf + 12, sizeof(v));
    return v;
  }
  // Whether pmdnetd closed the connection (the socket reads its end) within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{sock_, POLLIN | POLLRDHUP, 100};
      if (::poll(&p, 1, 100) == 1) {
        uint8_t buf[256];
        const ssize_t n = ::recv(sock_, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
      }
    }
    return false;
  }

  // Where ring `v`'s parts are, in guest-physical terms (guest memory starts at gpa 0).
  uint64_t desc_gpa(int v) const { return stride() * static_cast<uint64_t>(v); }
  uint64_t avail_gpa(int v) const { return desc_gpa(v) + 16 * uint64_t{o_.ring_size}; }
  uint64_t used_gpa(int v) const {
    return (avail_gpa(v) + 4 + 2 * uint64_t{o_.ring_size} + 2 + 3) & ~uint64_t{3};
  }
  uint64_t buffers_gpa() const { return 2 * stride(); }

  // SET_OWNER, GET_FEATURES, SET_FEATURES and SET_MEM_TABLE (one region: gpa 0, the claimed
  // size, this process's mapping as the user address, the memfd).
  bool negotiate() {
    if (!send(kSetOwner, nullptr, 0) || !send(kGetFeatures, nullptr, 0)) return false;
    const auto offered = reply_u64(std::chrono::milliseconds(5000));
    if (!offered) return false;
    return send_u64(kSetFeatures, *offered & o_.features) && send_mem_table();
  }
  bool send_mem_table() {
    struct {
      uint32_t nregions = 1;
      uint32_t padding = 0;
      uint64_t gpa, size, uaddr, offset;
    } table;
    table.gpa = 0;
    table.size = o_.region_size;
    table.uaddr = uaddr(0);
    table.offset = 0;
    const int fd = memfd_;
    return send(kSetMemTable, &table, sizeof(table), std::span(&fd, 1));
  }
  // NUM, BASE, ADDR (the layout above unless `used_override` names another used ring address),
  // CALL (`call_fd`, or the front-end's own eventfd when -1), then KICK, which enables the ring.
  bool setup_vring(int v, int call_fd = -1, std::optional<uint64_t> used_override = {}) {
    std::memset(host(desc_gpa(v)), 0, used_gpa(v) + 4 + 8 * o_.ring_size + 2 - desc_gpa(v));
    if (!send_state(kSetVringNum, static_cast<uint32_t>(v), o_.ring_size) ||
        !send_state(kSetVringBase, static_cast<uint32_t>(v), 0)) {
      return false;
    }
    struct {
      uint32_t index, flags;
      uint64_t desc, used, avail, log;
    } addr{static_cast<uint32_t>(v), 0,
           uaddr(desc_gpa(v)),       used_override ? *used_override : uaddr(used_gpa(v)),
           uaddr(avail_gpa(v)),      0};
    if (!send(kSetVringAddr, &addr, sizeof(addr))) return false;
    const int call = call_fd >= 0 ? call_fd : call_[v];
    return send_u64(kSetVringCall, static_cast<uint64_t>(v), std::span(&call, 1)) &&
           send_u64(kSetVringKick, static_cast<uint64_t>(v), std::span(&kick_[v], 1));
  }
  // negotiate(), then both rings of queue pair 0.
  bool bring_up(int tx_call_fd = -1) {
    return negotiate() && setup_vring(0) && setup_vring(1, tx_call_fd);
  }

  // Posts one chain on ring `v`, head = next avail index mod size (descriptors are reused in
  // ring order, so at most ring_size chains may be outstanding).
  void post(int v, std::span<const std::pair<uint64_t, uint32_t>> bufs, bool writable) {
    const uint16_t q = o_.ring_size;
    const uint16_t head = static_cast<uint16_t>(avail_idx_[v] % q);
    for (size_t i = 0; i < bufs.size(); ++i) {
      const auto index = static_cast<uint16_t>((head + i) % q);
      uint8_t* d = host(desc_gpa(v) + 16 * uint64_t{index});
      const uint64_t addr = bufs[i].first;
      const uint32_t len = bufs[i].second;
      const uint16_t flags = static_cast<uint16_t>((writable ? kDescWrite : 0) |
                                                   (i + 1 < bufs.size() ? kDescNext : 0));
      const auto next = static_cast<uint16_t>((index + 1) % q);
      std::memcpy(d, &addr, 8);
      std::memcpy(d + 8, &len, 4);
      std::memcpy(d + 12, &flags, 2);
      std::memcpy(d + 14, &next, 2);
    }
    auto* ring = reinterpret_cast<uint16_t*>(host(avail_gpa(v) + 4));
    ring[avail_idx_[v] % q] = head;
    avail_idx_[v] = static_cast<uint16_t>(avail_idx_[v] + bufs.size());
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(host(avail_gpa(v) + 2)))
        .store(avail_idx_[v], std::memory_order_release);
  }
  // A guest TX frame of `len` bytes (after a zero virtio_net_hdr, written unless `write` is
  // false) whose data lies at `gpa`.
  void post_tx(uint64_t gpa, uint32_t len, bool write = true) {
    if (write) std::memset(host(gpa), 0, kNetHdrLen);
    const std::pair<uint64_t, uint32_t> b{gpa, static_cast<uint32_t>(kNetHdrLen + len)};
    post(1, std::span(&b, 1), false);
  }
  // `count` receive chains on guest RX ring 0, each of `buffers` writable buffers of `len` bytes.
  void post_rx(int count, int buffers, uint32_t len) {
    for (int c = 0; c < count; ++c) {
      std::vector<std::pair<uint64_t, uint32_t>> chain;
      for (int b = 0; b < buffers; ++b) {
        chain.emplace_back(buffers_gpa() + 0x10000 + 0x1000 * uint64_t(c * buffers + b), len);
      }
      post(0, chain, true);
    }
  }
  uint16_t used_idx(int v) const {
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(host(used_gpa(v) + 2)))
        .load(std::memory_order_acquire);
  }
  uint16_t avail_idx(int v) const { return avail_idx_[v]; }

 private:
  uint64_t stride() const {
    const uint64_t end = ((16 * uint64_t{o_.ring_size} + 4 + 2 * o_.ring_size + 2 + 3) & ~3ull) +
                         4 + 8 * uint64_t{o_.ring_size} + 2;
    return (end + 4095) & ~uint64_t{4095};
  }

  Options o_;
  int memfd_ = -1;
  uint8_t* mem_ = nullptr;
  int sock_ = -1;
  int kick_[2] = {-1, -1};
  int call_[2] = {-1, -1};
  uint16_t avail_idx_[2] = {0, 0};
};

}  // namespace pmdnet::e2e
