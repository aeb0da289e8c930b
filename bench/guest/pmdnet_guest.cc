// pmdnet_guest: a guest for pmdnetd made of DPDK's net_virtio_user PMD (a real vhost-user
// client, or server with --server). It sends numbered UDP/IPv4 frames over one or more flows, at
// a paced rate or as fast as it can, receives whatever comes back, and prints what it counted.
// With --echo (a loopback port) every frame must come back intact: lost or corrupted ones make
// the exit code 1. The daemon's end-to-end tests, scripts/run.sh and the benchmarks use it.
//
//   pmdnet_guest --socket PATH [--server] [--queues Q] [--ring N] [--size B] [--flows F]
//                [--rate PPS] [--packets N] [--duration S] [--warmup S] [--echo] [--max-loss N]
//                [--tcp] [--tso MSS] [--no-in-order] [--packed] [--report] [--connect-timeout S]
//                [--drain-ms MS] [--linger-ms MS] [--lcore N] [--file-prefix P]
// Stops sending after N packets, after S seconds (plus the warm-up), or on SIGINT/SIGTERM,
// whichever is first; then waits up to --drain-ms for frames still coming back (with --echo,
// until all have), prints "sent=.. received=.. lost=.. corrupt=.. seconds=.. pps=.. mbps=..
// ring_full=..", and stays connected --linger-ms more (so that the daemon's per-session counters
// can be read) before it exits. ring_full counts frames the TX ring did not take (the guest
// frees and rebuilds them): the sign that the host, not the guest, is the bottleneck.
//
// Benchmark modes (scripts/bench.sh):
//   --warmup S   counts from S seconds after the start: a second line "window: sent=..
//                received=.. ring_full=.. seconds=.. pps=.. mbps=.." covers the time from the end
//                of the warm-up to the end of sending (the first line still covers everything).
//   --tcp        TCP/IPv4 frames (20-byte header plus a 12-byte timestamp option, as Linux sends)
//                with the TCP checksum offloaded to the host (virtio NEEDS_CSUM).
//   --tso MSS    implies --tcp: frames of up to 65536 bytes (--size; default 65536) with TCP
//                segmentation offload requested (RTE_MBUF_F_TX_TCP_SEG, tso_segsz MSS), which the
//                virtio PMD sends as a virtio_net_hdr with GSO_TCPV4: the host segments them.
//                Each frame is two 32 KB mbufs; only its headers are written (not its payload).
//   --ring N     virtio ring size (queue_size), 256 by default.
//   --no-in-order  does not ask for VIRTIO_F_IN_ORDER (net_virtio_user's in_order=0; it asks by
//                default).
//   --packed     asks for packed virtqueues (VIRTIO_F_RING_PACKED, net_virtio_user's packed_vq=1);
//                split rings by default.
#include <fmt/format.h>
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): sigaction is POSIX, not <csignal>
#include <unistd.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr const char* kPort = "net_virtio_user0";
constexpr uint16_t kBurst = 32;
constexpr size_t kHeaders = 14 + 20 + 8;
constexpr size_t kTcpHeaders = 14 + 20 + 32;  // TCP with NOP, NOP, timestamp (10 bytes)
constexpr size_t kStamp = 16;                 // magic (4), flow (4), sequence (8)
constexpr uint32_t kMagic = 0x706d646e;       // "pmdn"
constexpr uint32_t kMaxTsoFrame = 65536;
constexpr uint16_t kBigSegment = 32768;  // data room of the TSO pool's mbufs

std::atomic<bool> g_stop{false};

struct Options {
  std::string socket;
  bool server = false;
  uint16_t queues = 1;
  uint32_t size = 64;
  uint32_t flows = 1;
  uint64_t rate = 0;     // packets per second; 0: unpaced
  uint64_t packets = 0;  // 0: no limit
  double duration = 0;   // seconds; 0: no limit
  double warmup = 0;     // seconds before the window counts
  bool echo = false;
  uint64_t max_loss = 0;
  bool tcp = false;
  uint16_t tso = 0;  // MSS; 0: no TSO
  uint16_t ring = 256;
  bool in_order = true;
  bool packed = false;
  bool report = false;
  double connect_timeout = 10;
  uint32_t drain_ms = 1000;
  uint32_t linger_ms = 0;
  unsigned lcore = 0;
  std::string file_prefix;
};

template <typename T>
bool parse_number(std::string_view s, T& out) {
  if constexpr (std::is_floating_point_v<T>) {
    try {
      size_t used = 0;
      out = static_cast<T>(std::stod(std::string(s), &used));
      return used == s.size() && out >= 0;
    } catch (...) {
      return false;
    }
  } else {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
  }
}

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  o.file_prefix = fmt::format("pmdnet-guest-{}", getpid());
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    bool ok = true;
    if (a == "--server") {
      o.server = true;
    } else if (a == "--echo") {
      o.echo = true;
    } else if (a == "--tcp") {
      o.tcp = true;
    } else if (a == "--no-in-order") {
      o.in_order = false;
    } else if (a == "--packed") {
      o.packed = true;
    } else if (a == "--report") {
      o.report = true;
    } else if (auto v = (a.starts_with("--") ? value() : std::nullopt); v) {
      if (a == "--socket")
        o.socket = *v;
      else if (a == "--file-prefix")
        o.file_prefix = *v;
      else if (a == "--queues")
        ok = parse_number(*v, o.queues) && o.queues > 0;
      else if (a == "--size")
        ok = parse_number(*v, o.size) && o.size >= kHeaders + kStamp;
      else if (a == "--flows")
        ok = parse_number(*v, o.flows) && o.flows > 0;
      else if (a == "--rate")
        ok = parse_number(*v, o.rate);
      else if (a == "--packets")
        ok = parse_number(*v, o.packets);
      else if (a == "--duration")
        ok = parse_number(*v, o.duration);
      else if (a == "--warmup")
        ok = parse_number(*v, o.warmup);
      else if (a == "--tso")
        ok = parse_number(*v, o.tso) && o.tso >= 64 && o.tso <= 9000;
      else if (a == "--ring")
        ok = parse_number(*v, o.ring) && o.ring >= 64 && o.ring <= 32768;
      else if (a == "--max-loss")
        ok = parse_number(*v, o.max_loss);
      else if (a == "--connect-timeout")
        ok = parse_number(*v, o.connect_timeout);
      else if (a == "--drain-ms")
        ok = parse_number(*v, o.drain_ms);
      else if (a == "--linger-ms")
        ok = parse_number(*v, o.linger_ms);
      else if (a == "--lcore")
        ok = parse_number(*v, o.lcore);
      else
        ok = false;
    } else {
      ok = false;
    }
    if (!ok) {
      fmt::print(stderr, "pmdnet_guest: bad argument '{}' (or its value)\n", a);
      return std::nullopt;
    }
  }
  if (o.socket.empty()) {
    fmt::print(stderr, "pmdnet_guest: --socket PATH is required\n");
    return std::nullopt;
  }
  bool size_given = false;
  for (int i = 1; i < argc; ++i) size_given = size_given || std::string_view(argv[i]) == "--size";
  if (o.tso != 0) {
    o.tcp = true;
    if (!size_given) o.size = kMaxTsoFrame;
    if (o.echo) {
      fmt::print(stderr, "pmdnet_guest: --echo cannot check segmented (--tso) frames\n");
      return std::nullopt;
    }
  }
  // One mbuf of the default pool holds a frame, except with --tso (chains of 32 KB mbufs).
  const uint32_t max_size = o.tso != 0 ? kMaxTsoFrame : RTE_MBUF_DEFAULT_DATAROOM;
  const uint32_t min_size = (o.tcp ? kTcpHeaders : kHeaders) + kStamp;
  if (o.size < min_size || o.size > max_size) {
    fmt::print(stderr, "pmdnet_guest: --size must be in {}..{} here\n", min_size, max_size);
    return std::nullopt;
  }
  return o;
}

void store16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8), p[1] = uint8_t(v); }

// A UDP/IPv4 frame of `size` bytes for `flow`, stamped with `seq`; checksums left zero (UDP's 0
// means "none"; the IPv4 one is filled in).
// Ethernet + IPv4 (no options, DF, TTL 64, `protocol`) for a frame of `size` bytes, with the
// IPv4 header checksum; the `l4_zero` bytes after it are zeroed. Returns the L4 header.
uint8_t* build_eth_ipv4(uint8_t* f, uint32_t size, uint8_t protocol, size_t l4_zero) {
  const uint8_t eth[14] = {0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 0x08, 0x00};
  std::memcpy(f, eth, 14);
  uint8_t* ip = f + 14;
  std::memset(ip, 0, 20 + l4_zero);
  ip[0] = 0x45;
  store16(ip + 2, static_cast<uint16_t>(size - 14));
  store16(ip + 6, 0x4000);
  ip[8] = 64;
  ip[9] = protocol;
  const uint8_t addrs[8] = {198, 18, 0, 1, 198, 18, 0, 2};
  std::memcpy(ip + 12, addrs, 8);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (uint32_t{ip[i]} << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  store16(ip + 10, static_cast<uint16_t>(~sum));
  return ip + 20;
}

void build(uint8_t* f, uint32_t size, uint32_t flow, uint64_t seq) {
  uint8_t* udp = build_eth_ipv4(f, size, 17, 8);
  store16(udp, static_cast<uint16_t>(10000 + flow));
  store16(udp + 2, 9);  // discard
  store16(udp + 4, static_cast<uint16_t>(size - 34));
  uint8_t* stamp = f + kHeaders;
  std::memcpy(stamp, &kMagic, 4);
  std::memcpy(stamp + 4, &flow, 4);
  std::memcpy(stamp + 8, &seq, 8);
  for (uint32_t i = kHeaders + kStamp; i < size; ++i) f[i] = static_cast<uint8_t>(seq + i);
}

void store32(uint8_t* p, uint32_t v) { store16(p, uint16_t(v >> 16)), store16(p + 2, uint16_t(v)); }

// The headers of a TCP/IPv4 frame of `size` bytes for `flow` (the IPv4 checksum filled in, the
// TCP one left to the host), then the stamp. With `fill`, the payload after the stamp too.
void build_tcp(uint8_t* f, uint32_t size, uint32_t flow, uint64_t seq, bool fill) {
  uint8_t* tcp = build_eth_ipv4(f, size, 6, 32);
  store16(tcp, static_cast<uint16_t>(10000 + flow));
  store16(tcp + 2, 5201);
  store32(tcp + 4, static_cast<uint32_t>(seq * (size - kTcpHeaders)));  // sequence number
  tcp[12] = 8 << 4;                                                     // data offset: 32 bytes
  tcp[13] = 0x18;                                                       // PSH, ACK
  store16(tcp + 14, 0xffff);
  tcp[20] = 1, tcp[21] = 1, tcp[22] = 8, tcp[23] = 10;  // NOP, NOP, timestamp
  store32(tcp + 24, static_cast<uint32_t>(seq));
  uint8_t* stamp = f + kTcpHeaders;
  std::memcpy(stamp, &kMagic, 4);
  std::memcpy(stamp + 4, &flow, 4);
  std::memcpy(stamp + 8, &seq, 8);
  if (fill) {
    for (uint32_t i = kTcpHeaders + kStamp; i < size; ++i) f[i] = static_cast<uint8_t>(seq + i);
  }
}

// Whether `m` is one of ours and intact; sets `seq`. `headers`: where the stamp starts.
bool check(const rte_mbuf* m, uint32_t size, size_t headers, uint64_t& seq) {
  if (m->pkt_len != size) return false;
  std::vector<uint8_t> buf(size);
  const auto* f = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, size, buf.data()));
  uint32_t magic = 0;
  uint32_t flow = 0;
  std::memcpy(&magic, f + headers, 4);
  std::memcpy(&flow, f + headers + 4, 4);
  std::memcpy(&seq, f + headers + 8, 8);
  if (magic != kMagic) return false;
  for (uint32_t i = static_cast<uint32_t>(headers + kStamp); i < size; ++i) {
    if (f[i] != static_cast<uint8_t>(seq + i)) return false;
  }
  return true;
}

// Fills `burst` with `n` frames of `o.size` bytes starting at sequence `seq`. UDP and TCP frames
// are one mbuf from `pool`; TSO frames are chains of kBigSegment-byte mbufs from `big`. Returns
// how many it built (0 when a pool is empty: the burst is retried).
uint16_t make_burst(const Options& o, rte_mempool* pool, rte_mempool* big, rte_mbuf** burst,
                    uint16_t n, uint64_t seq) {
  if (o.tso == 0) {
    if (rte_pktmbuf_alloc_bulk(pool, burst, n) != 0) return 0;
    for (uint16_t i = 0; i < n; ++i) {
      auto* f =
          reinterpret_cast<uint8_t*>(rte_pktmbuf_append(burst[i], static_cast<uint16_t>(o.size)));
      const auto flow = static_cast<uint32_t>((seq + i) % o.flows);
      if (o.tcp) {
        build_tcp(f, o.size, flow, seq + i, true);
        burst[i]->l2_len = 14, burst[i]->l3_len = 20, burst[i]->l4_len = 32;
        burst[i]->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
      } else {
        build(f, o.size, flow, seq + i);
      }
    }
    return n;
  }
  const uint32_t per_frame = (o.size + kBigSegment - 1) / kBigSegment;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): rte_pktmbuf_alloc_bulk fills it
  std::array<rte_mbuf*, size_t{kBurst} * (kMaxTsoFrame / kBigSegment)> segs;
  if (rte_pktmbuf_alloc_bulk(big, segs.data(), n * per_frame) != 0) return 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* head = segs[size_t{i} * per_frame];
    uint32_t left = o.size;
    for (uint32_t k = 0; k < per_frame; ++k) {
      rte_mbuf* m = segs[i * per_frame + k];
      const auto len = static_cast<uint16_t>(std::min<uint32_t>(left, kBigSegment));
      (void)rte_pktmbuf_append(m, len);
      left -= len;
      if (k > 0) (void)rte_pktmbuf_chain(head, m);
    }
    build_tcp(rte_pktmbuf_mtod(head, uint8_t*), o.size, static_cast<uint32_t>((seq + i) % o.flows),
              seq + i, false);
    head->l2_len = 14, head->l3_len = 20, head->l4_len = 32;
    head->tso_segsz = o.tso;
    head->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
    burst[i] = head;
  }
  return n;
}

int run(const Options& o) {
  const std::string lcores = std::to_string(o.lcore);
  const std::string memory = o.tso != 0 ? "1024" : "512";
  std::vector<std::string> args = {
      "pmdnet_guest", "--no-huge",     "-m",          memory,           "--no-pci",    "-l",
      lcores,         "--file-prefix", o.file_prefix, "--no-telemetry", "--log-level", "*:error"};
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    fmt::print(stderr, "pmdnet_guest: rte_eal_init: {}\n", rte_strerror(rte_errno));
    return 2;
  }
  int rc = 1;
  rte_mempool* pool =
      rte_pktmbuf_pool_create("guest", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  // TSO frames: two 32 KB mbufs each; enough for every ring slot plus bursts and caches.
  rte_mempool* big =
      o.tso == 0 ? nullptr
                 : rte_pktmbuf_pool_create("guest_big", 2 * uint32_t{o.ring} * o.queues + 2047, 64,
                                           0, RTE_PKTMBUF_HEADROOM + kBigSegment, SOCKET_ID_ANY);
  if (o.tso != 0 && big == nullptr) {
    fmt::print(stderr, "pmdnet_guest: cannot create the TSO mbuf pool: {}\n",
               rte_strerror(rte_errno));
  }
  uint16_t port = 0;
  bool plugged = false;
  const std::string devargs = fmt::format(
      "path={},queues={},queue_size={},mrg_rxbuf=1,in_order={},packed_vq={},server={}", o.socket,
      o.queues, o.ring, o.in_order ? 1 : 0, o.packed ? 1 : 0, o.server ? 1 : 0);
  const auto connect_deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(o.connect_timeout);
  while (pool != nullptr && (o.tso == 0 || big != nullptr) && !g_stop) {
    if (rte_eal_hotplug_add("vdev", kPort, devargs.c_str()) == 0) {
      plugged = true;
      break;
    }
    if (std::chrono::steady_clock::now() > connect_deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!plugged) {
    fmt::print(stderr, "pmdnet_guest: cannot connect to {}\n", o.socket);
  } else if (rte_eth_dev_get_port_by_name(kPort, &port) == 0) {
    rte_eth_conf conf{};
    conf.rxmode.offloads = RTE_ETH_RX_OFFLOAD_SCATTER;
    uint64_t tx_offloads = 0;
    if (o.tcp) tx_offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
    if (o.tso != 0) tx_offloads |= RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    conf.txmode.offloads = tx_offloads;
    rte_eth_dev_info info{};
    bool up = rte_eth_dev_info_get(port, &info) == 0;
    if (up && (info.tx_offload_capa & tx_offloads) != tx_offloads) {
      fmt::print(stderr,
                 "pmdnet_guest: the host does not offer the TX offloads asked for "
                 "(checksum{})\n",
                 o.tso != 0 ? ", TSO" : "");
      up = false;
    }
    up = up && rte_eth_dev_configure(port, o.queues, o.queues, &conf) == 0;
    for (uint16_t q = 0; up && q < o.queues; ++q) {
      up = rte_eth_rx_queue_setup(port, q, o.ring, SOCKET_ID_ANY, nullptr, pool) == 0 &&
           rte_eth_tx_queue_setup(port, q, o.ring, SOCKET_ID_ANY, nullptr) == 0;
    }
    up = up && rte_eth_dev_start(port) == 0;
    if (!up) {
      fmt::print(stderr, "pmdnet_guest: cannot start the virtio_user port\n");
    } else {
      uint64_t sent = 0, received = 0, corrupt = 0, ring_full = 0;
      const uint64_t hz = rte_get_tsc_hz();
      const uint64_t start = rte_rdtsc();
      const uint64_t warmup_end = start + static_cast<uint64_t>(o.warmup * double(hz));
      const uint64_t end =
          o.duration > 0 ? warmup_end + static_cast<uint64_t>(o.duration * double(hz)) : 0;
      uint64_t last_report = start, last_sent = 0, last_received = 0;
      // The window: from the end of the warm-up to the end of sending.
      bool in_window = o.warmup <= 0;
      uint64_t w_start = start, w_sent = 0, w_received = 0, w_ring_full = 0;
      uint64_t w_end = 0, w_end_sent = 0, w_end_received = 0, w_end_ring_full = 0;
      uint64_t seq = 0;
      // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): make_burst fills it
      std::array<rte_mbuf*, kBurst> burst;
      bool sending = true;
      uint64_t drain_until = 0;
      const size_t headers = o.tcp ? kTcpHeaders : kHeaders;
      for (;;) {
        const uint64_t now = rte_rdtsc();
        if (!in_window && now >= warmup_end) {
          in_window = true;
          w_start = now, w_sent = sent, w_received = received, w_ring_full = ring_full;
        }
        if (sending && (g_stop || (end != 0 && now >= end) || (o.packets && sent >= o.packets))) {
          sending = false;
          drain_until = now + hz * o.drain_ms / 1000;
          if (!in_window) {  // stopped during the warm-up: an empty window
            in_window = true;
            w_start = now, w_sent = sent, w_received = received, w_ring_full = ring_full;
          }
          w_end = now, w_end_sent = sent, w_end_received = received, w_end_ring_full = ring_full;
        }
        if (!sending && (now >= drain_until || (o.echo && received >= sent))) break;
        if (sending) {
          uint64_t want = kBurst;
          if (o.rate != 0) {
            const uint64_t due = (now - start) * o.rate / hz + 1;
            want = due > sent ? std::min<uint64_t>(due - sent, kBurst) : 0;
          }
          if (o.packets) want = std::min(want, o.packets - sent);
          uint16_t n =
              want > 0 ? make_burst(o, pool, big, burst.data(), static_cast<uint16_t>(want), seq)
                       : 0;
          if (n > 0 && o.tcp) {
            // Pseudo-header checksums, as the virtio PMD wants them for NEEDS_CSUM and TSO.
            const uint16_t ready = rte_eth_tx_prepare(port, 0, burst.data(), n);
            if (ready < n) {
              fmt::print(stderr, "pmdnet_guest: rte_eth_tx_prepare: {}\n", rte_strerror(rte_errno));
              rte_pktmbuf_free_bulk(burst.data() + ready, n - ready);
              n = ready;
            }
          }
          uint16_t done = 0;
          for (uint16_t q = 0; done < n && q < o.queues; ++q) {
            done += rte_eth_tx_burst(port, q, burst.data() + done, n - done);
          }
          if (done < n) {  // ring full: freed, and built again next time
            ring_full += n - done;
            rte_pktmbuf_free_bulk(burst.data() + done, n - done);
          }
          seq += done;
          sent += done;
        }
        for (uint16_t q = 0; q < o.queues; ++q) {
          const uint16_t got = rte_eth_rx_burst(port, q, burst.data(), kBurst);
          for (uint16_t i = 0; i < got; ++i) {
            uint64_t s = 0;
            if (o.echo && !check(burst[i], o.size, headers, s)) ++corrupt;
            ++received;
          }
          if (got) rte_pktmbuf_free_bulk(burst.data(), got);
        }
        if (o.report && now - last_report >= hz) {
          const double secs = double(now - last_report) / double(hz);
          fmt::print("tx {:.0f} pps, rx {:.0f} pps ({:.1f} Mbit/s)\n", (sent - last_sent) / secs,
                     (received - last_received) / secs,
                     (received - last_received) * o.size * 8 / secs / 1e6);
          std::fflush(stdout);
          last_report = now, last_sent = sent, last_received = received;
        }
      }
      const double secs = double(rte_rdtsc() - start) / double(hz);
      const uint64_t lost = o.echo && sent > received ? sent - received : 0;
      fmt::print(
          "sent={} received={} lost={} corrupt={} seconds={:.2f} pps={:.0f} mbps={:.1f} "
          "ring_full={}\n",
          sent, received, lost, corrupt, secs, sent / secs, sent * o.size * 8 / secs / 1e6,
          ring_full);
      if (o.warmup > 0) {
        const double w_secs = double(w_end - w_start) / double(hz);
        const uint64_t w_n = w_end_sent - w_sent;
        fmt::print(
            "window: sent={} received={} ring_full={} seconds={:.3f} pps={:.0f} mbps={:.1f}\n", w_n,
            w_end_received - w_received, w_end_ring_full - w_ring_full, w_secs,
            w_secs > 0 ? double(w_n) / w_secs : 0.0,
            w_secs > 0 ? double(w_n) * o.size * 8 / w_secs / 1e6 : 0.0);
      }
      std::fflush(stdout);
      rc = (!o.echo || (lost <= o.max_loss && corrupt == 0)) && sent > 0 ? 0 : 1;
      const uint64_t linger_end = rte_rdtsc() + hz * o.linger_ms / 1000;
      while (!g_stop && rte_rdtsc() < linger_end) {
        for (uint16_t q = 0; q < o.queues; ++q) {
          const uint16_t got = rte_eth_rx_burst(port, q, burst.data(), kBurst);
          if (got) rte_pktmbuf_free_bulk(burst.data(), got);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      (void)rte_eth_dev_stop(port);
    }
    (void)rte_eth_dev_close(port);
    (void)rte_eal_hotplug_remove("vdev", kPort);
  }
  if (big != nullptr) rte_mempool_free(big);
  if (pool != nullptr) rte_mempool_free(pool);
  rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path("/var/run/dpdk") / o.file_prefix, ec);
  return rc;
}

}  // namespace

// Under LeakSanitizer (the sanitizer build's tests run this tool): DPDK's virtio_user leaks its
// interrupt handles when an attach fails (a retry while the daemon refuses a second connection).
// That is DPDK's, not ours.
// NOLINTNEXTLINE(bugprone-reserved-identifier): the name LeakSanitizer calls
extern "C" const char* __lsan_default_suppressions() {
  return "leak:rte_intr_instance_alloc\nleak:librte_net_virtio.so\n";
}

int main(int argc, char** argv) {
  auto options = parse(argc, argv);
  if (!options) return 2;
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = true; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  return run(*options);
}
