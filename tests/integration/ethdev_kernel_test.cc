// Integration tests of EthdevEndpoint/EthdevQueue against the Linux kernel, each in a forked
// child with its own network namespace and EAL:
//   - net_tap: what pmdnet's fake peer sends through tx_avail with each offload (IPv4 header and
//     TCP/UDP checksums, TSO over IPv4 and IPv6, USO, VLAN insert), done by the PMD ("Native")
//     or by pmdnet's software fallbacks ("Software"), must reach plain kernel sockets byte for
//     byte: the kernel drops bad checksums and mangled segments, which is the proof. TCP is
//     spoken by hand (SYN, the kernel's SYN-ACK read through rx_poll, ACK, data); an AF_PACKET
//     capture checks the segment sizes on the wire.
//   - net_tap RX: the checksum states rx_poll reports for what the kernel sends and for frames
//     with deliberately bad checksums injected through AF_PACKET, as net_tap computes them.
//   - net_af_packet with two queue pairs on a veth: PACKET_FANOUT hashes flows across the queue
//     sockets, and an RssConfig on a port without RSS degrades without failing.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/offload/checksum.h"
#include "pmd_backends/eal.h"
#include "pmd_backends/ethdev.h"
#include "tests/integration/eal_child.h"
#include "tests/unit/core/net_backend/test_buffer_access.h"

namespace pmdnet {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Mac = std::array<uint8_t, 6>;
using IpAddr = std::array<uint8_t, 16>;  // IPv4 in the first 4 bytes
using offload::load_be16;
using offload::load_be32;
using offload::store_be16;
using offload::store_be32;
using pmdnet::testing::eal_runtime_dir;
using pmdnet::testing::run_in_child;
using pmdnet::testing::TestBufferAccess;
using pmdnet::testing::TestGuestMemory;

constexpr const char* kProgram = "pmdnet_ethdev_kernel_test";
constexpr const char* kTap = "pmdtap0";
constexpr auto kTimeout = std::chrono::seconds(5);

constexpr uint64_t kMemSize = 16u << 20;
constexpr uint64_t kTxGpa = 0;            // guest TX frames are written here
constexpr uint64_t kRxGpa = 8u << 20;     // receive buffers start here
constexpr uint32_t kRxBufferSize = 4096;  // each receive buffer
constexpr uint32_t kRxBuffers = 256;      // posted per queue

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kFin = 0x01;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kPsh = 0x08;
constexpr uint8_t kAck = 0x10;

// The peer pmdnet plays on the tap; the kernel side has the .1 addresses.
constexpr Mac kPeerMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr IpAddr kKernelIp4 = {10, 10, 0, 1};
constexpr IpAddr kPeerIp4 = {10, 10, 0, 2};
constexpr IpAddr kKernelIp6 = {0xfd, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr IpAddr kPeerIp6 = {0xfd, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Commands and the namespace.

const char* ip_binary() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "ip";
}

// Runs `ip <args>` (split on spaces) and waits for it by PID; a test failure unless it exits 0.
bool ip(const std::string& args) {
  std::vector<std::string> argv = {ip_binary()};
  std::istringstream in(args);
  for (std::string word; in >> word;) argv.push_back(word);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = posix_spawn(&pid, cargv[0], nullptr, nullptr, cargv.data(), environ); rc != 0) {
    ADD_FAILURE() << "posix_spawn(ip " << args << "): " << std::strerror(rc);
    return false;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ADD_FAILURE() << "waitpid(ip " << args << "): " << std::strerror(errno);
      return false;
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "`ip " << args << "` failed with status " << status;
    return false;
  }
  return true;
}

// Moves this (child) process into a new network namespace with lo up. Everything created in it
// (interfaces, addresses, sockets' bindings) vanishes when the child exits.
bool enter_netns() {
  if (unshare(CLONE_NEWNET) != 0) {
    ADD_FAILURE() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
    return false;
  }
  return ip("link set lo up");
}

// The MAC address of `name` in this netns (sysfs shows the mounter's netns, so ioctl).
std::optional<Mac> interface_mac(const char* name) {
  Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (!s.valid() || ioctl(s.get(), SIOCGIFHWADDR, &ifr) != 0) {
    ADD_FAILURE() << "SIOCGIFHWADDR " << name << ": " << std::strerror(errno);
    return std::nullopt;
  }
  Mac mac;
  std::memcpy(mac.data(), ifr.ifr_hwaddr.sa_data, mac.size());
  return mac;
}

std::string mac_string(const Mac& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4],
                     m[5]);
}

// A counter of /proc/net/snmp (IPv4, "Udp", "InCsumErrors") or /proc/net/snmp6 ("Udp6",
// "InCsumErrors"), for this netns; -1 if absent.
int64_t snmp_counter(const std::string& proto, const std::string& field) {
  const bool v6 = proto.ends_with('6');
  std::ifstream in(v6 ? "/proc/net/snmp6" : "/proc/net/snmp");
  std::string line;
  if (v6) {
    std::string key;
    int64_t value = 0;
    while (in >> key >> value) {
      if (key == proto + field) return value;
    }
    return -1;
  }
  while (std::getline(in, line)) {
    if (!line.starts_with(proto + ":")) continue;
    std::string values;
    if (!std::getline(in, values)) return -1;
    std::istringstream names(line.substr(proto.size() + 1));
    std::istringstream nums(values.substr(proto.size() + 1));
    std::string name;
    int64_t num = 0;
    while (names >> name && nums >> num) {
      if (name == field) return num;
    }
    return -1;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Kernel sockets.

// Waits until `fd` is readable or `deadline` passes. EINTR (net_tap's RX trigger is a signal)
// restarts the wait.
bool wait_readable(int fd, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left < 0) return false;
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    const int r = poll(&p, 1, static_cast<int>(left) + 1);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

SockAddr sock_addr(bool v6, const IpAddr& addr, uint16_t port) {
  SockAddr a;
  if (v6) {
    auto* s = reinterpret_cast<sockaddr_in6*>(&a.ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    std::memcpy(&s->sin6_addr, addr.data(), 16);
    a.len = sizeof(sockaddr_in6);
  } else {
    auto* s = reinterpret_cast<sockaddr_in*>(&a.ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    std::memcpy(&s->sin_addr, addr.data(), 4);
    a.len = sizeof(sockaddr_in);
  }
  return a;
}

// A kernel socket of `type` bound to `addr`:0 (or `port`), with its bound port in `port`.
Fd bound_socket(int type, bool v6, const IpAddr& addr, uint16_t& port) {
  Fd s(socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return s;
  }
  // Room for a whole 64 KB superframe's segments before anyone reads (root may exceed rmem_max).
  const int rcvbuf = 4 << 20;
  (void)setsockopt(s.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
  const SockAddr a = sock_addr(v6, addr, port);
  if (bind(s.get(), a.get(), a.len) != 0) {
    ADD_FAILURE() << "bind: " << std::strerror(errno);
    return Fd();
  }
  SockAddr got;
  got.len = sizeof(got.ss);
  getsockname(s.get(), reinterpret_cast<sockaddr*>(&got.ss), &got.len);
  port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&got.ss)->sin6_port
                  : reinterpret_cast<sockaddr_in*>(&got.ss)->sin_port);
  return s;
}

Fd udp_socket(bool v6, const IpAddr& addr, uint16_t& port) {
  return bound_socket(SOCK_DGRAM, v6, addr, port);
}

Fd tcp_listener(bool v6, uint16_t& port) {
  Fd s = bound_socket(SOCK_STREAM, v6, v6 ? kKernelIp6 : kKernelIp4, port);
  if (s.valid() && listen(s.get(), 4) != 0) {
    ADD_FAILURE() << "listen: " << std::strerror(errno);
    return Fd();
  }
  return s;
}

// The next datagram on the non-blocking `fd`, waiting until `deadline`.
std::optional<std::vector<uint8_t>> recv_datagram(int fd, Clock::time_point deadline) {
  std::vector<uint8_t> buf(65536);
  for (;;) {
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n >= 0) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN || !wait_readable(fd, deadline)) return std::nullopt;
  }
}

// Reads the non-blocking stream `fd` until `n` bytes arrived, EOF, or `deadline`.
std::vector<uint8_t> recv_stream(int fd, size_t n, Clock::time_point deadline) {
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(65536);
  while (out.size() < n) {
    const ssize_t r = recv(fd, buf.data(), buf.size(), 0);
    if (r > 0) {
      out.insert(out.end(), buf.begin(), buf.begin() + r);
    } else if (r == 0) {
      break;
    } else if (errno != EINTR && (errno != EAGAIN || !wait_readable(fd, deadline))) {
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Frames.

// One direction of a flow: who sends to whom.
struct Flow {
  bool v6 = false;
  Mac src_mac{};
  Mac dst_mac{};
  IpAddr src_ip{};
  IpAddr dst_ip{};
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
};

struct TcpFields {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  std::vector<uint8_t> options;
};

// A received frame's headers: offsets into the frame and the fields the tests look at.
struct Parsed {
  std::optional<uint16_t> vlan_tci;
  bool v6 = false;
  uint8_t proto = 0;
  size_t l3 = 0;
  size_t l4 = 0;
  size_t payload = 0;
  size_t payload_len = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t tcp_flags = 0;
};

// Parses Ethernet (one optional 802.1Q tag), IPv4 or IPv6 (no extension headers), TCP or UDP.
std::optional<Parsed> parse(std::span<const uint8_t> f) {
  if (f.size() < 14) return std::nullopt;
  Parsed p;
  uint16_t type = load_be16(f.data() + 12);
  p.l3 = 14;
  if (type == 0x8100) {
    if (f.size() < 18) return std::nullopt;
    p.vlan_tci = load_be16(f.data() + 14);
    type = load_be16(f.data() + 16);
    p.l3 = 18;
  }
  size_t end = 0;
  if (type == 0x0800) {
    if (f.size() < p.l3 + 20) return std::nullopt;
    const size_t ihl = size_t{f[p.l3] & 0xfu} * 4;
    end = p.l3 + load_be16(f.data() + p.l3 + 2);
    p.proto = f[p.l3 + 9];
    p.l4 = p.l3 + ihl;
  } else if (type == 0x86dd) {
    if (f.size() < p.l3 + 40) return std::nullopt;
    p.v6 = true;
    p.proto = f[p.l3 + 6];
    p.l4 = p.l3 + 40;
    end = p.l4 + load_be16(f.data() + p.l3 + 4);
  } else {
    return std::nullopt;
  }
  if (end > f.size()) return std::nullopt;
  if (p.proto == kTcp) {
    if (end < p.l4 + 20) return std::nullopt;
    p.seq = load_be32(f.data() + p.l4 + 4);
    p.ack = load_be32(f.data() + p.l4 + 8);
    p.tcp_flags = f[p.l4 + 13];
    p.payload = p.l4 + size_t{f[p.l4 + 12]} / 16 * 4;
  } else if (p.proto == kUdp) {
    if (end < p.l4 + 8) return std::nullopt;
    p.payload = p.l4 + 8;
  } else {
    return std::nullopt;
  }
  if (p.payload > end) return std::nullopt;
  p.src_port = load_be16(f.data() + p.l4);
  p.dst_port = load_be16(f.data() + p.l4 + 2);
  p.payload_len = end - p.payload;
  return p;
}

uint16_t pseudo_sum(std::span<const uint8_t> f, size_t l3, bool v6, uint8_t proto,
                    uint32_t l4_len) {
  const uint8_t* ip = f.data() + l3;
  if (v6) {
    return offload::ipv6_pseudo_header_sum(std::span<const uint8_t, 16>(ip + 8, 16),
                                           std::span<const uint8_t, 16>(ip + 24, 16), proto,
                                           l4_len);
  }
  return offload::ipv4_pseudo_header_sum(std::span<const uint8_t, 4>(ip + 12, 4),
                                         std::span<const uint8_t, 4>(ip + 16, 4), proto,
                                         static_cast<uint16_t>(l4_len));
}

// Whether the IPv4 header checksum and the TCP/UDP checksum of a parsed frame hold.
bool checksums_ok(std::span<const uint8_t> f, const Parsed& p) {
  if (!p.v6 && offload::internet_checksum(f.subspan(p.l3, p.l4 - p.l3)) != 0) return false;
  const auto l4_len = static_cast<uint32_t>(p.payload + p.payload_len - p.l4);
  const uint16_t pseudo = pseudo_sum(f, p.l3, p.v6, p.proto, l4_len);
  return offload::tcp_checksum(pseudo, offload::ones_sum(f.subspan(p.l4, l4_len))) == 0;
}

uint16_t next_ip_id() {
  static uint16_t id = 0x100;
  return id++;
}

// An Ethernet frame of `flow` carrying TCP (with `tcp`) or UDP and `payload`. The IPv4 header
// checksum and the L4 checksum are filled only when asked, else left zero for an offload.
std::vector<uint8_t> build_frame(const Flow& flow, uint8_t proto, const TcpFields& tcp,
                                 std::span<const uint8_t> payload, bool fill_ip_checksum,
                                 bool fill_l4_checksum) {
  const size_t l3 = 14;
  const size_t l4 = l3 + (flow.v6 ? 40 : 20);
  const size_t l4_header = proto == kTcp ? 20 + tcp.options.size() : 8;
  const size_t l4_total = l4_header + payload.size();
  std::vector<uint8_t> f(l4 + l4_total);
  std::copy(flow.dst_mac.begin(), flow.dst_mac.end(), f.begin());
  std::copy(flow.src_mac.begin(), flow.src_mac.end(), f.begin() + 6);
  store_be16(f.data() + 12, flow.v6 ? 0x86dd : 0x0800);
  uint8_t* ip = f.data() + l3;
  if (flow.v6) {
    ip[0] = 0x60;
    store_be16(ip + 4, static_cast<uint16_t>(l4_total));
    ip[6] = proto;
    ip[7] = 64;
    std::copy(flow.src_ip.begin(), flow.src_ip.end(), ip + 8);
    std::copy(flow.dst_ip.begin(), flow.dst_ip.end(), ip + 24);
  } else {
    ip[0] = 0x45;
    store_be16(ip + 2, static_cast<uint16_t>(20 + l4_total));
    store_be16(ip + 4, next_ip_id());
    store_be16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = proto;
    std::copy_n(flow.src_ip.begin(), 4, ip + 12);
    std::copy_n(flow.dst_ip.begin(), 4, ip + 16);
    if (fill_ip_checksum) {
      store_be16(ip + 10, offload::ipv4_header_checksum(std::span<const uint8_t>(ip, 20)));
    }
  }
  uint8_t* th = f.data() + l4;
  store_be16(th, flow.src_port);
  store_be16(th + 2, flow.dst_port);
  if (proto == kTcp) {
    store_be32(th + 4, tcp.seq);
    store_be32(th + 8, tcp.ack);
    th[12] = static_cast<uint8_t>((l4_header / 4) << 4);
    th[13] = tcp.flags;
    store_be16(th + 14, 65535);
    std::copy(tcp.options.begin(), tcp.options.end(), th + 20);
  } else {
    store_be16(th + 4, static_cast<uint16_t>(l4_total));
  }
  std::copy(payload.begin(), payload.end(), f.begin() + static_cast<long>(l4 + l4_header));
  if (fill_l4_checksum) {
    const uint16_t pseudo = pseudo_sum(f, l3, flow.v6, proto, static_cast<uint32_t>(l4_total));
    const uint16_t sum = offload::ones_sum(std::span<const uint8_t>(th, l4_total));
    store_be16(th + (proto == kTcp ? 16 : 6), proto == kTcp ? offload::tcp_checksum(pseudo, sum)
                                                            : offload::udp_checksum(pseudo, sum));
  }
  return f;
}

// Payload bytes that do not repeat every 256 bytes, so reordered segments show.
std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(i * 31 + (i >> 8) + seed * 7);
  return p;
}

// The TxMetadata virtio's header parser produces for `frame`, with `offloads`.
TxMetadata metadata(std::span<const uint8_t> frame, TxFlags offloads, uint16_t mss = 0,
                    std::optional<VlanMetadata> vlan = std::nullopt) {
  const auto p = parse(frame);
  EXPECT_TRUE(p.has_value());
  if (!p) return {};
  return TxMetadata{.segment_count = 1,
                    .flags = offloads.with_is_ipv4(!p->v6).with_is_ipv6(p->v6),
                    .len = static_cast<uint32_t>(frame.size()),
                    .l2_len = static_cast<uint8_t>(p->l3),
                    .l3_len = static_cast<uint16_t>(p->l4 - p->l3),
                    .l4_len = static_cast<uint8_t>(p->payload - p->l4),
                    .transport_header_offset = static_cast<uint16_t>(p->l4),
                    .max_segment_size = mss,
                    .vlan = vlan};
}

TxMetadata plain(std::span<const uint8_t> frame) {
  return TxMetadata{.segment_count = 1, .len = static_cast<uint32_t>(frame.size())};
}

const TxFlags kTcpChecksums = TxFlags().with_offload_tcp_checksum(true);
const TxFlags kUdpChecksums = TxFlags().with_offload_udp_checksum(true);

TxFlags tso_flags(bool v6) {
  return kTcpChecksums.with_offload_tcp_segmentation(true).with_offload_ip_header_checksum(!v6);
}
TxFlags uso_flags(bool v6) {
  return kUdpChecksums.with_offload_udp_segmentation(true).with_offload_ip_header_checksum(!v6);
}

// ---------------------------------------------------------------------------------------------
// The pmdnet side: an endpoint, its queues, guest memory and posted receive buffers.

struct TxFrame {
  std::vector<uint8_t> bytes;
  TxMetadata md;
};

struct RxFrame {
  RxMetadata md;
  std::vector<uint8_t> bytes;
};

class Datapath {
 public:
  Datapath() = default;
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;
  ~Datapath() { close(); }

  // Opens `spec` with `nqueues` queue pairs and posts kRxBuffers buffers on each.
  bool open(const EthdevSpec& spec, size_t nqueues = 1, const RssConfig* rss = nullptr) {
    auto ep = make_ethdev_endpoint(spec);
    if (!ep) {
      ADD_FAILURE() << ep.error().message;
      return false;
    }
    endpoint_ = std::move(*ep);
    std::vector<QueueConfig> configs(nqueues);
    if (auto r = endpoint_->get_queues(configs, rss, queues_); !r) {
      ADD_FAILURE() << r.error().message;
      return false;
    }
    if (queues_.size() != nqueues) {
      ADD_FAILURE() << queues_.size() << " queues";
      return false;
    }
    for (size_t q = 0; q < nqueues; ++q) {
      std::vector<RxId> ids;
      for (uint32_t i = 0; i < kRxBuffers; ++i) {
        const RxId id{static_cast<uint32_t>(q * kRxBuffers + i)};
        pool_.add_buffer(id, {{kRxGpa + uint64_t{id.value} * kRxBufferSize, kRxBufferSize}});
        ids.push_back(id);
      }
      queues_[q]->rx_avail(pool_, ids);
    }
    return true;
  }

  void close() {
    queues_.clear();
    if (endpoint_) endpoint_->stop();
    endpoint_.reset();
  }

  Endpoint& endpoint() { return *endpoint_; }
  Queue& queue(size_t q = 0) { return *queues_.at(q); }
  const EthdevQueueStats& stats(size_t q = 0) const {
    return *dynamic_cast<const EthdevQueueStats*>(queues_.at(q)->queue_stats());
  }

  // Sends `frames` on queue `q`, each in two guest segments; false (with a test failure)
  // unless tx_avail consumed them all.
  bool send(const std::vector<TxFrame>& frames, size_t q = 0) {
    std::vector<TxSegment> segs;
    uint64_t gpa = kTxGpa;
    for (const TxFrame& f : frames) {
      if (!gm_.mem().write_at(gpa, f.bytes).has_value()) {
        ADD_FAILURE() << "guest memory write";
        return false;
      }
      const auto len = static_cast<uint32_t>(f.bytes.size());
      const uint32_t cut = std::min<uint32_t>(len, 42);
      TxMetadata m = f.md;
      m.segment_count = cut < len ? 2 : 1;
      segs.push_back(TxSegment::make_head(m, gpa, cut));
      if (cut < len) segs.push_back(TxSegment::make_tail(gpa + cut, len - cut));
      gpa += (len + 63) & ~uint64_t{63};
    }
    auto r = queues_.at(q)->tx_avail(pool_, segs);
    if (!r) {
      ADD_FAILURE() << "tx_avail failed";
      return false;
    }
    EXPECT_EQ(r->segments_consumed, segs.size());
    // In zero-copy mode (net_tap and net_af_packet free every mbuf inside tx_burst) each frame
    // completes through tx_poll, right away; copied ones too.
    std::array<TxId, 64> done{};
    auto n = queues_[q]->tx_poll(pool_, done);
    EXPECT_TRUE(n.has_value());
    EXPECT_EQ(n.value_or(0), r->completed_synchronously ? 0u : frames.size());
    return r->segments_consumed == segs.size();
  }
  bool send(std::vector<uint8_t> bytes, const TxMetadata& md, size_t q = 0) {
    return send({TxFrame{std::move(bytes), md}}, q);
  }

  // What queue `q` holds right now; the buffers are posted again.
  std::vector<RxFrame> poll(size_t q = 0) {
    std::vector<RxFrame> out;
    std::array<RxId, 64> ids{};
    for (;;) {
      auto r = queues_.at(q)->rx_poll(pool_, ids);
      if (!r) {
        ADD_FAILURE() << "rx_poll failed";
        break;
      }
      for (size_t i = 0; i < *r; ++i) {
        const auto h = pool_.header(ids[i]);
        EXPECT_TRUE(h.has_value());
        if (h) out.push_back(RxFrame{*h, pool_.read_back(ids[i], h->len)});
      }
      queues_[q]->rx_avail(pool_, std::span<const RxId>(ids.data(), *r));
      if (*r < ids.size()) break;
    }
    return out;
  }

  // Polls queue `q` until `n` frames matched `want` or kTimeout passed; returns the matches.
  std::vector<RxFrame> wait_for(const std::function<bool(const RxFrame&)>& want, size_t n,
                                size_t q = 0) {
    std::vector<RxFrame> got;
    const auto deadline = Clock::now() + kTimeout;
    while (got.size() < n && Clock::now() < deadline) {
      auto frames = poll(q);
      for (auto& f : frames) {
        if (want(f)) got.push_back(std::move(f));
      }
      if (frames.empty()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return got;
  }

 private:
  TestGuestMemory gm_{{0}, kMemSize};
  TestBufferAccess pool_{gm_.mem()};
  std::unique_ptr<Endpoint> endpoint_;
  std::vector<std::unique_ptr<Queue>> queues_;
};

// ---------------------------------------------------------------------------------------------
// The kernel's side of the tap.

// An AF_PACKET socket on one interface: what the kernel receives there (with the 802.1Q tag it
// moved out of the frame, from PACKET_AUXDATA), and a way to transmit raw frames on it.
class PacketSocket {
 public:
  struct Frame {
    std::vector<uint8_t> bytes;
    uint8_t pkttype = 0;
    std::optional<uint16_t> tci;
  };

  bool open(int ifindex) {
    ifindex_ = ifindex;
    fd_ = Fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)));
    const int one = 1;
    const int rcvbuf = 16 << 20;
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    if (!fd_.valid() || setsockopt(fd_.get(), SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) != 0 ||
        setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0 ||
        bind(fd_.get(), reinterpret_cast<const sockaddr*>(&sll), sizeof(sll)) != 0) {
      ADD_FAILURE() << "AF_PACKET socket: " << std::strerror(errno);
      return false;
    }
    return true;
  }

  // Everything captured so far that the kernel received (not what it sent).
  std::vector<Frame> drain_incoming() {
    std::vector<Frame> out;
    std::vector<uint8_t> buf(128 * 1024);
    for (;;) {
      sockaddr_ll from{};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(tpacket_auxdata))];
      iovec iov{buf.data(), buf.size()};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof(from);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      const ssize_t n = recvmsg(fd_.get(), &msg, MSG_TRUNC);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (from.sll_pkttype == PACKET_OUTGOING) continue;
      Frame f;
      f.bytes.assign(buf.begin(), buf.begin() + std::min<ssize_t>(n, ssize_t(buf.size())));
      EXPECT_LE(static_cast<size_t>(n), buf.size()) << "captured frame truncated";
      f.pkttype = from.sll_pkttype;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
        tpacket_auxdata aux;
        std::memcpy(&aux, CMSG_DATA(c), sizeof(aux));
        if (aux.tp_status & TP_STATUS_VLAN_VALID) f.tci = aux.tp_vlan_tci;
      }
      out.push_back(std::move(f));
    }
    return out;
  }

  bool send(std::span<const uint8_t> frame) {
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex_;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, frame.data(), 6);
    const ssize_t n = sendto(fd_.get(), frame.data(), frame.size(), 0,
                             reinterpret_cast<const sockaddr*>(&to), sizeof(to));
    EXPECT_EQ(n, static_cast<ssize_t>(frame.size())) << std::strerror(errno);
    return n == static_cast<ssize_t>(frame.size());
  }

 private:
  Fd fd_;
  int ifindex_ = 0;
};

// The tap's kernel interface, the fake peer pmdnet plays on it, and a capture of what the
// kernel receives there.
struct TapSide {
  Mac kernel_mac{};
  int ifindex = 0;
  PacketSocket capture;

  // The flow from pmdnet's peer to the kernel.
  Flow to_kernel(bool v6, uint16_t peer_port, uint16_t kernel_port) const {
    return Flow{.v6 = v6,
                .src_mac = kPeerMac,
                .dst_mac = kernel_mac,
                .src_ip = v6 ? kPeerIp6 : kPeerIp4,
                .dst_ip = v6 ? kKernelIp6 : kKernelIp4,
                .src_port = peer_port,
                .dst_port = kernel_port};
  }
  Flow from_kernel(bool v6, uint16_t kernel_port, uint16_t peer_port) const {
    Flow f = to_kernel(v6, peer_port, kernel_port);
    std::swap(f.src_mac, f.dst_mac);
    std::swap(f.src_ip, f.dst_ip);
    std::swap(f.src_port, f.dst_port);
    return f;
  }
};

// Sends plain UDP datagrams (checksums filled in, no offload asked) with `sizes` payload bytes
// along `flow` and checks that the kernel socket `sock` receives each byte for byte. Returns how
// many of their frames are long enough for zero copy (EthdevSpec::tx_zero_copy_min).
size_t plain_datagrams_arrive(Datapath& dp, const Flow& flow, std::initializer_list<size_t> sizes,
                              int sock) {
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<TxFrame> frames;
  size_t large = 0;
  for (size_t n : sizes) {
    payloads.push_back(pattern(n, static_cast<uint32_t>(n) + 1));
    auto f = build_frame(flow, kUdp, {}, payloads.back(), true, true);
    if (f.size() >= EthdevSpec{}.tx_zero_copy_min) ++large;
    frames.push_back(TxFrame{f, plain(f)});
  }
  if (!dp.send(frames)) return large;
  for (size_t i = 0; i < payloads.size(); ++i) {
    const auto got = recv_datagram(sock, Clock::now() + kTimeout);
    if (!got) {
      ADD_FAILURE() << "datagram " << i << " did not arrive";
      break;
    }
    EXPECT_TRUE(*got == payloads[i]) << "datagram " << i << ": " << got->size() << " bytes";
  }
  return large;
}

// A TCP connection pmdnet's peer opened by hand to a kernel listener.
struct PeerTcp {
  Flow flow;
  uint32_t snd_nxt = 0;  // the peer's next sequence number
  uint32_t rcv_nxt = 0;  // the kernel's next sequence number, acknowledged by the peer
  Fd accepted;           // the kernel's end, non-blocking

  // A data segment at snd_nxt (which it advances).
  std::vector<uint8_t> data(std::span<const uint8_t> payload, bool fill_checksums) {
    auto f = build_frame(flow, kTcp, TcpFields{snd_nxt, rcv_nxt, kAck | kPsh, {}}, payload,
                         fill_checksums, fill_checksums);
    snd_nxt += static_cast<uint32_t>(payload.size());
    return f;
  }
};

bool send_plain(Datapath& dp, std::vector<uint8_t> frame) {
  const TxMetadata md = plain(frame);
  return dp.send(std::move(frame), md);
}

// SYN (MSS 1460) through the ethdev, the kernel's SYN-ACK through rx_poll, ACK, then accept().
bool tcp_connect(Datapath& dp, const TapSide& tap, bool v6, uint16_t peer_port, int listener,
                 uint16_t kernel_port, PeerTcp& c) {
  c.flow = tap.to_kernel(v6, peer_port, kernel_port);
  const uint32_t isn = 0x10000000u + peer_port * 0x1000u;
  const TcpFields syn{isn, 0, kSyn, {2, 4, 0x05, 0xb4}};
  if (!send_plain(dp, build_frame(c.flow, kTcp, syn, {}, true, true))) return false;
  const auto synack = dp.wait_for(
      [&](const RxFrame& r) {
        const auto p = parse(r.bytes);
        return p && p->v6 == v6 && p->proto == kTcp && p->src_port == kernel_port &&
               p->dst_port == peer_port && (p->tcp_flags & (kSyn | kAck)) == (kSyn | kAck) &&
               p->ack == isn + 1;
      },
      1);
  if (synack.empty()) {
    ADD_FAILURE() << "no SYN-ACK from the kernel";
    return false;
  }
  c.snd_nxt = isn + 1;
  c.rcv_nxt = parse(synack[0].bytes)->seq + 1;
  const TcpFields ack{c.snd_nxt, c.rcv_nxt, kAck, {}};
  if (!send_plain(dp, build_frame(c.flow, kTcp, ack, {}, true, true))) return false;
  if (!wait_readable(listener, Clock::now() + kTimeout)) {
    ADD_FAILURE() << "the kernel accepted no connection";
    return false;
  }
  c.accepted = Fd(accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!c.accepted.valid()) {
    ADD_FAILURE() << "accept: " << std::strerror(errno);
    return false;
  }
  return true;
}

// A UDP payload of `n` bytes (even) for `flow` whose checksum computes to 0: it must leave as
// 0xffff, since 0 means "no checksum" (which the kernel drops over IPv6).
std::vector<uint8_t> zero_checksum_payload(const Flow& flow, size_t n) {
  auto payload = pattern(n, 5);
  payload[n - 2] = payload[n - 1] = 0;
  const auto f = build_frame(flow, kUdp, {}, payload, true, false);
  const auto p = parse(f);
  const auto l4_len = static_cast<uint32_t>(8 + n);
  const uint16_t sum =
      offload::ones_add(pseudo_sum(f, p->l3, flow.v6, kUdp, l4_len),
                        offload::ones_sum(std::span<const uint8_t>(f).subspan(p->l4, l4_len)));
  store_be16(payload.data() + n - 2, static_cast<uint16_t>(~sum));
  return payload;
}

// Sends one 64 KB TSO superframe of `mss` on a new connection; the kernel must receive the exact
// byte stream, and the capture must show segments of `mss` payload bytes (the last shorter),
// each within the MTU, each carrying `vlan`'s tag.
void tso_case(Datapath& dp, TapSide& tap, bool v6, uint16_t mss, uint16_t peer_port,
              std::optional<VlanMetadata> vlan = std::nullopt) {
  SCOPED_TRACE(fmt::format("{} mss {}{}", v6 ? "IPv6" : "IPv4", mss, vlan ? " vlan" : ""));
  uint16_t port = 0;
  Fd listener = tcp_listener(v6, port);
  ASSERT_TRUE(listener.valid());
  PeerTcp c;
  ASSERT_TRUE(tcp_connect(dp, tap, v6, peer_port, listener.get(), port, c));
  (void)tap.capture.drain_incoming();  // the handshake
  const size_t headers = 14 + (v6 ? 40 : 20) + 20;
  const auto payload = pattern(65536 - headers, mss);
  auto frame = c.data(payload, false);
  ASSERT_EQ(frame.size(), 65536u);
  const TxMetadata md = metadata(frame, tso_flags(v6), mss, vlan);
  ASSERT_TRUE(dp.send(std::move(frame), md));
  const auto got = recv_stream(c.accepted.get(), payload.size(), Clock::now() + kTimeout);
  EXPECT_EQ(got.size(), payload.size());
  EXPECT_TRUE(got == payload) << "the kernel received other bytes";

  std::vector<size_t> sizes;
  for (const auto& f : tap.capture.drain_incoming()) {
    const auto p = parse(f.bytes);
    if (!p || p->proto != kTcp || p->src_port != peer_port || p->payload_len == 0) continue;
    sizes.push_back(p->payload_len);
    EXPECT_LE(f.bytes.size(), 1514u);
    EXPECT_TRUE(checksums_ok(f.bytes, *p));
    if (vlan) {
      EXPECT_EQ(f.tci, vlan->to_tci());
    } else {
      EXPECT_FALSE(f.tci.has_value());
    }
  }
  std::vector<size_t> want(payload.size() / mss, mss);
  if (payload.size() % mss != 0) want.push_back(payload.size() % mss);
  EXPECT_EQ(sizes, want) << "segment payload sizes on the wire";
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

class KernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int serial = 0;
    prefix_ = fmt::format("pmdnet-kern-{}-{}", getpid(), serial++);
    options_.no_huge = true;
    options_.memory_mb = 256;
    options_.file_prefix = prefix_;
    options_.driver_dirs = {default_pmd_dir()};
    options_.no_pci = true;
    options_.log_level = "*:error";
    options_.no_telemetry = true;
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(eal_runtime_dir(prefix_), ec);
    EXPECT_FALSE(ec) << ec.message();
  }

  // In the child (already in its netns): EAL with `vdevs`.
  bool start_eal(std::optional<Eal>& eal, std::vector<std::string> vdevs) {
    options_.vdevs = std::move(vdevs);
    auto e = Eal::init(options_, kProgram);
    if (!e) {
      ADD_FAILURE() << e.error().message;
      return false;
    }
    eal.emplace(std::move(*e));
    return true;
  }

  static EthdevSpec spec(std::string device) {
    EthdevSpec s;
    s.device = std::move(device);
    s.mempool_size = 4095;
    s.rx_descriptors = 512;
    s.tx_descriptors = 512;
    return s;
  }

  std::string prefix_;
  EalOptions options_;
};

class TapTest : public KernelTest {
 protected:
  // In the child: a new netns; EAL with net_tap, whose kernel interface appears in that netns;
  // the endpoint with one queue; the kernel side with 10.10.0.1/24 and fd10::1/64 (no DAD) and
  // static neighbour entries for the peer; and the capture socket. The caller declares `eal`
  // before `dp`, so the port closes before EAL is cleaned up.
  bool bring_up(std::optional<Eal>& eal, Datapath& dp, TapSide& tap, bool hw_tx, bool hw_rx) {
    if (!enter_netns()) return false;
    if (!start_eal(eal, {fmt::format("net_tap0,iface={}", kTap)})) return false;
    EthdevSpec s = spec("net_tap0");
    s.hw_tx_offloads = hw_tx;
    s.hw_rx_checksum = hw_rx;
    s.tx_zero_copy = tx_zero_copy_;
    if (!dp.open(s)) return false;
    const auto mac = interface_mac(kTap);
    if (!mac) return false;
    tap.kernel_mac = *mac;
    tap.ifindex = static_cast<int>(if_nametoindex(kTap));
    const std::string peer = mac_string(kPeerMac);
    return ip(fmt::format("addr add 10.10.0.1/24 dev {}", kTap)) &&
           ip(fmt::format("-6 addr add fd10::1/64 dev {} nodad", kTap)) &&
           ip(fmt::format("neigh add 10.10.0.2 lladdr {} dev {} nud permanent", peer, kTap)) &&
           ip(fmt::format("-6 neigh add fd10::2 lladdr {} dev {} nud permanent", peer, kTap)) &&
           tap.capture.open(tap.ifindex);
  }

  bool tx_zero_copy_ = true;  // EthdevSpec::tx_zero_copy for bring_up
};

// Parameter: EthdevSpec::hw_tx_offloads (net_tap's own checksums and rte_gso TSO, or pmdnet's
// software fallbacks).
class TapTxTest : public TapTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool native() const { return GetParam(); }
};

// Parameter: EthdevSpec::hw_rx_checksum.
class TapRxTest : public TapTest, public ::testing::WithParamInterface<bool> {};

std::string offload_name(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Native" : "Software";
}

// ---------------------------------------------------------------------------------------------
// net_tap TX into the kernel.

TEST_P(TapTxTest, TcpChecksumsReachAKernelSocket) {
  run_in_child([&] {
    std::optional<Eal> eal;
    Datapath dp;
    TapSide tap;
    ASSERT_TRUE(bring_up(eal, dp, tap, native(), true));
    const int64_t csum_errors = snmp_counter("Tcp", "InCsumErrors");
    uint64_t offloaded = 0;
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
      uint16_t port = 0;
      Fd listener = tcp_listener(v6, port);
      ASSERT_TRUE(listener.valid());
      PeerTcp c;
      ASSERT_TRUE(tcp_connect(dp, tap, v6, v6 ? 40006 : 40004, listener.get(), port, c));
      std::vector<uint8_t> expected;
      std::vector<TxFrame> frames;
      // Odd and even lengths, up to a full 1500-byte MTU segment over IPv6.
      for (size_t n : {1u, 777u, 1440u}) {
        const auto payload = pattern(n, static_cast<uint32_t>(n));
        expected.insert(expected.end(), payload.begin(), payload.end());
        auto f = c.data(payload, false);  // zero IPv4 header and TCP checksums
        const TxMetadata md = metadata(f, kTcpChecksums.with_offload_ip_header_checksum(!v6));
        frames.push_back(TxFrame{std::move(f), md});
      }
      ASSERT_TRUE(dp.send(frames));
      offloaded += frames.size();
      const auto got = recv_stream(c.accepted.get(), expected.size(), Clock::now() + kTimeout);
      EXPECT_EQ(got.size(), expected.size());
      EXPECT_TRUE(got == expected) << "the kernel received other bytes";
    }
    EXPECT_EQ(snmp_counter("Tcp", "InCsumErrors"), csum_errors);
    EXPECT_EQ(dp.stats().tx_errors(), 0u);
    EXPECT_EQ(dp.stats().tx_sw_checksum_.get(), native() ? 0u : offloaded);
  });
}

TEST_P(TapTxTest, UdpChecksumsReachAKernelSocket) {
  run_in_child([&] {
    std::optional<Eal> eal;
    Datapath dp;
    TapSide tap;
    ASSERT_TRUE(bring_up(eal, dp, tap, native(), true));
    uint64_t offloaded = 0;
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
      const char* mib = v6 ? "Udp6" : "Udp";
      uint16_t port = 0;
      Fd sock = udp_socket(v6, v6 ? kKernelIp6 : kKernelIp4, port);
      ASSERT_TRUE(sock.valid());
      const Flow flow = tap.to_kernel(v6, 41000, port);
      const int64_t csum_errors = snmp_counter(mib, "InCsumErrors");
      ASSERT_GE(csum_errors, 0);

      // The control: a wrong checksum without an offload, which the kernel must drop. It goes
      // first, so the datagrams after it show that it was not delivered.
      auto bad = build_frame(flow, kUdp, {}, pattern(100, 99), true, true);
      bad.back() ^= 0x5a;
      std::vector<TxFrame> frames = {TxFrame{bad, plain(bad)}};
      std::vector<std::vector<uint8_t>> expected;
      for (size_t n : {1u, 777u, v6 ? 1452u : 1472u}) expected.push_back(pattern(n, 3));
      if (v6) expected.push_back(zero_checksum_payload(flow, 64));
      for (const auto& payload : expected) {
        auto f = build_frame(flow, kUdp, {}, payload, false, false);
        const TxMetadata md = metadata(f, kUdpChecksums.with_offload_ip_header_checksum(!v6));
        frames.push_back(TxFrame{std::move(f), md});
      }
      ASSERT_TRUE(dp.send(frames));
      offloaded += expected.size();
      for (size_t i = 0; i < expected.size(); ++i) {
        const auto got = recv_datagram(sock.get(), Clock::now() + kTimeout);
        ASSERT_TRUE(got.has_value()) << "datagram " << i << " did not arrive";
        EXPECT_TRUE(*got == expected[i]) << "datagram " << i << ": " << got->size() << " bytes";
      }
      std::array<uint8_t, 16> more{};
      EXPECT_LT(recv(sock.get(), more.data(), more.size(), 0), 0) << "an extra datagram";
      EXPECT_EQ(snmp_counter(mib, "InCsumErrors"), csum_errors + 1) << "the control datagram";

      // The zero-checksum datagram went out as 0xffff.
      if (v6) {
        bool seen = false;
        for (const auto& f : tap.capture.drain_incoming()) {
          const auto p = parse(f.bytes);
          if (!p || !p->v6 || p->proto != kUdp || p->payload_len != 64) continue;
          EXPECT_EQ(load_be16(f.bytes.data() + p->l4 + 6), 0xffff);
          seen = true;
        }
        EXPECT_TRUE(seen);
      }
    }
    EXPECT_EQ(dp.stats().tx_errors(), 0u);
    EXPECT_EQ(dp.stats().tx_sw_checksum_.get(), native() ? 0u : offloaded);
  });
}

TEST_P(TapTxTest, TsoOverIpv4) {
  run_in_child([&] {
    std::optional<Eal> eal;
    Datapath dp;
    TapSide tap;
    ASSERT_TRUE(bring_up(eal, dp, tap, native(), true));
    // 14 + 20 + 20 + 1446 = 1500: the largest mss net_tap's rte_gso accepts at MTU 1500.
    tso_case(dp, tap, false, 1446, 42001);
    // Beyond it net_tap would refuse the packet, and with an odd mss corrupt the checksums:
    // both go to software.
    tso_case(dp, tap, false, 1448, 42002);
    tso_case(dp, tap, false, 1399, 42003);
    EXPECT_EQ(dp.stats().tx_errors(), 0u);
    EXPECT_EQ(dp.stats().tx_packets(), 3u * 3u);  // SYN, ACK and the superframe per connection
    EXPECT_EQ(dp.stats().tx_sw_tso_.get(), native() ? 2u : 3u);
  });
}

TEST_P(TapTxTest, TsoOverIpv6) {
  run_in_child([&] {
    std::optional<Eal> eal;
    Datapath dp;
    TapSide tap;
    ASSERT_TRUE(bring_up(eal, dp, tap, native(), true));
    // rte_gso leaves TCP over IPv6 unsegmented: software in both modes, even where the mss
    // would fit net_tap's MTU check (1400).
    tso_case(dp, tap, true, 1440, 43001);
    tso_case(dp, tap, true, 1400, 43002);
    EXPECT_EQ(dp.stats().tx_errors(), 0u);
    EXPECT_EQ(dp.stats().tx_sw_tso_.get(), 2u);
  });
}

TEST_P(TapTxTest, UsoArrivesAsSeparateDatagrams) {
  run_in_child([&] {
    std::optional<Eal> eal;
    Datapath dp;
    TapSide tap;
    ASSERT_TRUE(bring_up(eal, dp, tap, native(), true));
    constexpr uint16_t kMss = 1200;
    const auto payload = pattern(5000, 11);  // 4 datagrams of 1200 bytes and one of 200
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
      uint16_t port = 0;
      Fd sock = udp_socket(v6, v6 ? kKernelIp6 : kKernelIp4, port);
      ASSERT_TRUE(sock.valid());
      auto f = build_frame(tap.to_kernel(v6, 44000, port), kUdp, {}, payload, false, false);
      const TxMetadata md = metadata(f, uso_flags(v6), kMss);
      ASSERT_TRUE(dp.send(std::move(f), md));
      for (size_t off = 0; off < payload.size(); off += kMss) {
        const auto got = recv_datagram(sock.get(), Clock::now() + kTimeout);
        ASSERT_TRUE(got.has_value()) << "datagram at " << off << " did not arrive";
        const size_t n = std::min<size_t>(kMss, payload.size() - off);
        EXPECT_TRUE(std::equal(got->begin(), got->end(), payload.begin() + long(off),
                               payload.begin() + long(off + n)) &&
                    got->size() == n)
            << "datagram at " << off << ": " << got->size() << " bytes";
      }
      std::array<uint8_t, 16> more{};
      EXPECT_LT(recv(sock.get(), more.data(), more.size(), 0), 0) << "an extra datagram";
    }
    // net_tap has no USO: software in both modes.
    EXPECT_EQ(dp.stats().tx_errors(), 0u);
    EXPECT_EQ(dp.stats().tx_sw_uso_.get(), 2u);
    EXPECT_EQ(dp.stats().tx_segments_.get(), 10u);
  });
}

// The kernel here may lack 802.1Q (no VLAN subinterfaces), but it delivers priority-tagged
// frames (VLAN id 0) to the interface's own IP stack, checksums checked; frames of another VLAN
// id are checked through the capture, which reports the tag from PACKET_AUXDATA.
TEST_P(TapTxTest, VlanInsert) {
  run_in_child([&] {
    std::optional<Eal> eal;
    Datapath dp;
    TapSide tap;
    ASSERT_TRUE(bring_up(eal, dp, tap, native(), true));
    const VlanMetadata prio = VlanMetadata().with_vlan_id(0).with_priority(5);
    const VlanMetadata vlan100 = VlanMetadata().with_vlan_id(100).with_priority(3);

    // Priority-tagged UDP over IPv4 and IPv6, with the UDP checksum offloaded.
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
      uint16_t port = 0;
      Fd sock = udp_socket(v6, v6 ? kKernelIp6 : kKernelIp4, port);
      ASSERT_TRUE(sock.valid());
      const auto payload = pattern(999, 21);
      auto f = build_frame(tap.to_kernel(v6, 45000, port), kUdp, {}, payload, false, false);
      const TxMetadata md =
          metadata(f, kUdpChecksums.with_offload_ip_header_checksum(!v6), 0, prio);
      ASSERT_TRUE(dp.send(std::move(f), md));
      const auto got = recv_datagram(sock.get(), Clock::now() + kTimeout);
      ASSERT_TRUE(got.has_value()) << "the priority-tagged datagram did not arrive";
      EXPECT_TRUE(*got == payload);
      // An untagged frame would arrive too: the capture shows the tag.
      size_t tagged = 0;
      for (const auto& c : tap.capture.drain_incoming()) {
        const auto p = parse(c.bytes);
        if (!p || p->proto != kUdp || p->v6 != v6 || p->src_port != 45000) continue;
        EXPECT_EQ(c.tci, prio.to_tci());
        ++tagged;
      }
      EXPECT_EQ(tagged, 1u);
    }
    // A priority-tagged TSO superframe (native: 18 + 20 + 20 + 1400 fits net_tap's MTU check):
    // every segment carries the tag.
    tso_case(dp, tap, false, 1400, 45001, prio);
    EXPECT_EQ(dp.stats().tx_sw_tso_.get(), native() ? 0u : 1u);

    // VLAN 100: not for the kernel's IP stack, but the capture sees the tag and intact checksums.
    (void)tap.capture.drain_incoming();
    const auto payload = pattern(1000, 23);
    auto f = build_frame(tap.to_kernel(false, 45002, 9), kUdp, {}, payload, false, false);
    const TxMetadata md =
        metadata(f, kUdpChecksums.with_offload_ip_header_checksum(true), 0, vlan100);
    ASSERT_TRUE(dp.send(std::move(f), md));
    std::optional<PacketSocket::Frame> seen;
    const auto deadline = Clock::now() + kTimeout;
    while (!seen && Clock::now() < deadline) {
      for (auto& c : tap.capture.drain_incoming()) {
        const auto p = parse(c.bytes);
        if (p && p->proto == kUdp && p->src_port == 45002) seen = std::move(c);
      }
      if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(seen.has_value()) << "the VLAN 100 frame was not captured";
    EXPECT_EQ(seen->tci, vlan100.to_tci());
    const auto p = parse(seen->bytes);
    EXPECT_TRUE(checksums_ok(seen->bytes, *p));
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), seen->bytes.begin() + long(p->payload),
                           seen->bytes.end()));

    // net_tap cannot insert tags: software in both modes, one per tagged guest packet.
    EXPECT_EQ(dp.stats().tx_errors(), 0u);
    EXPECT_EQ(dp.stats().tx_sw_vlan_.get(), 4u);
    EXPECT_EQ(dp.stats().tx_vlan_packets(), 4u);
  });
}

// Plain frames (no offload) of EthdevSpec::tx_zero_copy_min bytes and more leave as mbufs over
// the guest's buffers (two of them: send() cuts each frame in two segments): the kernel must
// receive the guest's bytes, and every frame, copied or not, completes through tx_poll. With
// zero copy off, all of them are copied and complete in tx_avail.
TEST_F(TapTest, PlainFramesLeaveWithoutACopy) {
  for (bool zero_copy : {true, false}) {
    SCOPED_TRACE(zero_copy ? "zero copy" : "copy");
    tx_zero_copy_ = zero_copy;
    run_in_child([&] {
      std::optional<Eal> eal;
      Datapath dp;
      TapSide tap;
      ASSERT_TRUE(bring_up(eal, dp, tap, true, true));
      uint64_t large = 0;
      for (bool v6 : {false, true}) {
        SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
        uint16_t port = 0;
        Fd sock = udp_socket(v6, v6 ? kKernelIp6 : kKernelIp4, port);
        ASSERT_TRUE(sock.valid());
        const Flow flow = tap.to_kernel(v6, 42000, port);
        large += plain_datagrams_arrive(dp, flow, {100, 777, v6 ? 1452u : 1472u}, sock.get());
      }
      EXPECT_EQ(large, 4u);
      EXPECT_EQ(dp.stats().tx_zero_copy_.get(), zero_copy ? large : 0u);
      EXPECT_EQ(dp.stats().tx_packets(), 6u);
      EXPECT_EQ(dp.stats().tx_errors(), 0u);
    });
  }
}

INSTANTIATE_TEST_SUITE_P(, TapTxTest, ::testing::Bool(), offload_name);

// ---------------------------------------------------------------------------------------------
// net_tap RX from the kernel.

// What the kernel sends (UDP over IPv4 and IPv6, a TCP SYN) and frames injected through
// AF_PACKET with bad checksums, each with the checksum states net_tap reports (tap_verify_csum:
// IPv4 header good/bad; TCP/UDP good/bad, or L4_CKSUM_NONE for an IPv4 UDP checksum of 0; nothing
// for the IPv6 header; nothing at all without the RX checksum offload).
TEST_P(TapRxTest, ChecksumStatesOfWhatTheKernelSends) {
  run_in_child([&] {
    const bool hw = GetParam();
    std::optional<Eal> eal;
    Datapath dp;
    TapSide tap;
    ASSERT_TRUE(bring_up(eal, dp, tap, true, hw));
    using S = RxChecksumState;
    struct Case {
      const char* what;
      uint16_t dst_port;
      bool v6;
      uint8_t proto;
      S ip;  // with hw_rx_checksum; Unknown without
      S l4;
      std::vector<uint8_t> frame;  // injected through AF_PACKET; empty: a kernel socket sends
    };
    std::vector<Case> cases = {
        {"kernel UDP/IPv4", 7001, false, kUdp, S::Good, S::Good, {}},
        {"kernel UDP/IPv6", 7002, true, kUdp, S::Unknown, S::Good, {}},
        {"kernel TCP SYN", 7003, false, kTcp, S::Good, S::Good, {}},
        {"bad UDP checksum", 7004, false, kUdp, S::Good, S::Bad, {}},
        {"bad IPv4 header checksum", 7005, false, kUdp, S::Bad, S::Good, {}},
        // net_tap reports L4_CKSUM_NONE ("no checksum") for it, which maps to ValidatedButWrong.
        {"UDP/IPv4 without checksum", 7006, false, kUdp, S::Good, S::ValidatedButWrong, {}},
        {"bad UDP/IPv6 checksum", 7007, true, kUdp, S::Unknown, S::Bad, {}},
    };
    const auto payload = pattern(300, 31);
    for (Case& c : cases) {
      if (c.dst_port < 7004) continue;
      const Flow flow = tap.from_kernel(c.v6, 5000, c.dst_port);
      const bool zero_udp = c.dst_port == 7006;
      c.frame = build_frame(flow, kUdp, {}, payload, true, !zero_udp);
      const size_t l3 = 14;
      const size_t l4 = l3 + (c.v6 ? 40 : 20);
      if (c.l4 == S::Bad) c.frame[l4 + 6] ^= 0x40;
      if (c.ip == S::Bad) c.frame[l3 + 10] ^= 0x40;
    }

    Fd udp4 = Fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    Fd udp6 = Fd(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    Fd tcp = Fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const SockAddr to4 = sock_addr(false, kPeerIp4, 7001);
    const SockAddr to6 = sock_addr(true, kPeerIp6, 7002);
    const SockAddr to_tcp = sock_addr(false, kPeerIp4, 7003);
    ASSERT_EQ(sendto(udp4.get(), payload.data(), payload.size(), 0, to4.get(), to4.len),
              ssize_t(payload.size()))
        << std::strerror(errno);
    ASSERT_EQ(sendto(udp6.get(), payload.data(), payload.size(), 0, to6.get(), to6.len),
              ssize_t(payload.size()))
        << std::strerror(errno);
    ASSERT_NE(connect(tcp.get(), to_tcp.get(), to_tcp.len), 0);
    ASSERT_EQ(errno, EINPROGRESS);
    for (const Case& c : cases) {
      if (!c.frame.empty()) {
        ASSERT_TRUE(tap.capture.send(c.frame)) << c.what;
      }
    }

    std::map<uint16_t, RxFrame> got;
    const auto frames = dp.wait_for(
        [&](const RxFrame& r) {
          const auto p = parse(r.bytes);
          if (!p || p->dst_port < 7001 || p->dst_port > 7007 || got.contains(p->dst_port)) {
            return false;
          }
          got.emplace(p->dst_port, r);
          return true;
        },
        cases.size());
    EXPECT_EQ(frames.size(), cases.size());
    for (const Case& c : cases) {
      SCOPED_TRACE(c.what);
      const auto it = got.find(c.dst_port);
      ASSERT_NE(it, got.end()) << "not received";
      const RxMetadata& md = it->second.md;
      const auto& bytes = it->second.bytes;
      EXPECT_EQ(md.len, bytes.size());
      EXPECT_EQ(md.ip_checksum, hw ? c.ip : S::Unknown);
      EXPECT_EQ(md.l4_checksum, hw ? c.l4 : S::Unknown);
      // rte_net_get_ptype runs whatever the offloads.
      EXPECT_EQ(md.l3_protocol, c.v6 ? L3Protocol::Ipv6 : L3Protocol::Ipv4);
      EXPECT_EQ(md.l4_protocol, c.proto == kTcp ? L4Protocol::Tcp : L4Protocol::Udp);
      EXPECT_FALSE(md.vlan.has_value());
      const auto p = parse(bytes);
      ASSERT_TRUE(p.has_value());
      if (!c.frame.empty()) {
        EXPECT_TRUE(bytes == c.frame) << "injected frame changed";
      } else if (c.proto == kUdp) {
        EXPECT_TRUE(checksums_ok(bytes, *p));
        EXPECT_TRUE(std::equal(payload.begin(), payload.end(), bytes.begin() + long(p->payload),
                               bytes.end()));
      } else {
        EXPECT_TRUE(checksums_ok(bytes, *p));
        EXPECT_EQ(p->tcp_flags & (kSyn | kAck | kFin), kSyn);
      }
    }
    EXPECT_EQ(dp.stats().rx_errors(), 0u);
  });
}

std::string rx_checksum_name(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "HwChecksum" : "NoChecksum";
}

INSTANTIATE_TEST_SUITE_P(, TapRxTest, ::testing::Bool(), rx_checksum_name);

// ---------------------------------------------------------------------------------------------
// net_af_packet with two queue pairs.

class AfPacketTest : public KernelTest {
 protected:
  // In the child: a new netns with the veth pair pmdveth0 (for net_af_packet) and pmdveth1
  // (10.20.0.1/24, the kernel's side), both up; the MAC of pmdveth0, or nullopt on failure.
  std::optional<Mac> veth_pair() {
    if (!enter_netns() || !ip("link add pmdveth0 type veth peer name pmdveth1") ||
        !ip("link set pmdveth0 up") || !ip("link set pmdveth1 up") ||
        !ip("addr add 10.20.0.1/24 dev pmdveth1")) {
      return std::nullopt;
    }
    return interface_mac("pmdveth0");
  }
};

// 22.11's af_packet joins its queue sockets in a PACKET_FANOUT_HASH group: the kernel hashes
// each flow to one socket. Flows sent from the peer veth must spread over both queues, every
// packet of a flow on the same queue; the RssConfig finds no RSS or RETA and is ignored.
TEST_F(AfPacketTest, FanoutSpreadsFlowsOverTwoQueues) {
  run_in_child([&] {
    const auto mac0 = veth_pair();
    ASSERT_TRUE(mac0.has_value());
    ASSERT_TRUE(ip(fmt::format("neigh add 10.20.0.2 lladdr {} dev pmdveth1 nud permanent",
                               mac_string(*mac0))));
    std::optional<Eal> eal;
    Datapath dp;
    ASSERT_TRUE(start_eal(eal, {"net_af_packet0,iface=pmdveth0,qpairs=2"}));
    EthdevSpec s = spec("net_af_packet0");
    s.max_queues = 2;
    const std::vector<uint8_t> key(40, 0x6d);
    const std::vector<uint16_t> table = {0, 1, 0, 1};
    const RssConfig rss{.key = key,
                        .indirection_table = table,
                        .flags = rss_hash::kIpv4 | rss_hash::kUdpIpv4 | rss_hash::kTcpIpv4};
    ASSERT_TRUE(dp.open(s, 2, &rss));
    EXPECT_EQ(dp.endpoint().multiqueue_support().max_queues, 2);
    EXPECT_EQ(dp.endpoint().multiqueue_support().indirection_table_size, 0);

    constexpr uint16_t kFlows = 32;
    constexpr uint16_t kPerFlow = 4;
    constexpr uint16_t kBasePort = 21000;
    constexpr uint16_t kDstPort = 9999;
    const IpAddr src = {10, 20, 0, 1};
    const SockAddr to = sock_addr(false, IpAddr{10, 20, 0, 2}, kDstPort);
    std::vector<Fd> socks;
    for (uint16_t i = 0; i < kFlows; ++i) {
      uint16_t port = static_cast<uint16_t>(kBasePort + i);
      socks.push_back(udp_socket(false, src, port));
      ASSERT_TRUE(socks.back().valid());
    }
    for (uint16_t j = 0; j < kPerFlow; ++j) {
      for (uint16_t i = 0; i < kFlows; ++i) {
        const auto payload = pattern(64 + j, i);
        ASSERT_EQ(sendto(socks[i].get(), payload.data(), payload.size(), 0, to.get(), to.len),
                  ssize_t(payload.size()))
            << std::strerror(errno);
      }
    }

    std::map<uint16_t, std::set<size_t>> queues_of_flow;
    std::array<size_t, 2> per_queue{};
    size_t total = 0;
    const auto deadline = Clock::now() + kTimeout;
    while (total < size_t{kFlows} * kPerFlow && Clock::now() < deadline) {
      bool any = false;
      for (size_t q = 0; q < 2; ++q) {
        for (const RxFrame& f : dp.poll(q)) {
          any = true;
          const auto p = parse(f.bytes);
          if (!p || p->proto != kUdp || p->dst_port != kDstPort) continue;
          const uint16_t flow = static_cast<uint16_t>(p->src_port - kBasePort);
          ASSERT_LT(flow, kFlows);
          queues_of_flow[flow].insert(q);
          ++per_queue[q];
          ++total;
        }
      }
      if (!any) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    EXPECT_EQ(total, size_t{kFlows} * kPerFlow);
    EXPECT_EQ(queues_of_flow.size(), kFlows);
    for (const auto& [flow, qs] : queues_of_flow) {
      EXPECT_EQ(qs.size(), 1u) << "flow " << flow << " landed on several queues";
    }
    EXPECT_GT(per_queue[0], 0u) << "queue 0 got nothing";
    EXPECT_GT(per_queue[1], 0u) << "queue 1 got nothing";
    EXPECT_EQ(dp.stats(0).rx_errors() + dp.stats(1).rx_errors(), 0u);
  });
}

// net_af_packet copies each mbuf into its socket's ring inside tx_burst and frees it, so plain
// frames leave zero-copy: datagrams sent through the veth must reach a kernel socket on its
// peer byte for byte, each completing through tx_poll.
TEST_F(AfPacketTest, PlainFramesReachTheVethPeerWithoutACopy) {
  run_in_child([&] {
    const auto mac0 = veth_pair();
    const auto mac1 = interface_mac("pmdveth1");
    ASSERT_TRUE(mac0.has_value() && mac1.has_value());
    std::optional<Eal> eal;
    Datapath dp;
    ASSERT_TRUE(start_eal(eal, {"net_af_packet0,iface=pmdveth0"}));
    ASSERT_TRUE(dp.open(spec("net_af_packet0")));
    uint16_t port = 0;
    Fd sock = udp_socket(false, IpAddr{10, 20, 0, 1}, port);
    ASSERT_TRUE(sock.valid());
    const Flow flow{.v6 = false,
                    .src_mac = *mac0,
                    .dst_mac = *mac1,
                    .src_ip = {10, 20, 0, 2},
                    .dst_ip = {10, 20, 0, 1},
                    .src_port = 43000,
                    .dst_port = port};
    // The 64-byte datagram's frame is copied, the others go zero-copy.
    EXPECT_EQ(plain_datagrams_arrive(dp, flow, {64, 700, 1472}, sock.get()), 2u);
    EXPECT_EQ(dp.stats().tx_zero_copy_.get(), 2u);
    EXPECT_EQ(dp.stats().tx_errors(), 0u);
  });
}

}  // namespace
}  // namespace pmdnet
