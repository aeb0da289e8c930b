// pmdnetd's configuration as typed structs, and the functions that turn a YAML file into them:
// parse, resolve every default, and validate the whole file (docs/config.md is the reference).
//
// Lifecycle of a configuration:
//   1. load_config_file(path) reads the file, or parse_config(text, name) takes the text.
//   2. The YAML is parsed and every key is checked: its type, its range, and its relations to
//      other keys (duplicates, references, feature dependencies).
//   3. Any problem refuses the whole file. The error message has one line per problem,
//      `name:line:col: path.to.key: what is wrong`, sorted by position.
//   4. Otherwise every optional key has been resolved to its default, so a Config holds concrete
//      values only and its user never applies a default of its own.
//
// Nothing here touches DPDK or yaml-cpp types: the daemon maps EalSettings onto EalOptions and
// Backend onto an ethdev port.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/enum_set.h"
#include "core/base/result.h"

namespace pmdnet::config {

// ---- Limits (each documented in docs/config.md with its reason) ----

// Lcore ids are 0..kMaxLcores-1: RTE_MAX_LCORE in Debian's DPDK 22.11 build.
inline constexpr uint32_t kMaxLcores = 128;
// CPU ids in an lcore-to-CPU map (`eal.lcores: "1@5"`) are 0..kMaxCpus-1: CPU_SETSIZE.
inline constexpr uint32_t kMaxCpus = 1024;
// Queue pairs per vhost-user port: rte_vhost allocates at most VHOST_MAX_VRING (256) vrings,
// VHOST_MAX_QUEUE_PAIRS = 128.
inline constexpr uint32_t kMaxQueuePairs = 128;
// Ports with a dpdk backend: each is one ethdev, and RTE_MAX_ETHPORTS is 32 in Debian's build.
inline constexpr uint32_t kMaxDpdkPorts = 32;
// sizeof(sockaddr_un::sun_path) - 1: the path and its terminating NUL must fit in 108 bytes.
inline constexpr size_t kMaxSocketPathLength = 107;
// Port names appear in telemetry commands (`/pmdnet/port,<name>`) and log lines.
inline constexpr size_t kMaxPortNameLength = 32;
// EAL puts sockets under <runtime dir>/<file_prefix>/, whose path must fit sun_path too.
inline constexpr size_t kMaxFilePrefixLength = 64;
// virtio 1.2 5.1.4: the device MUST NOT set mtu below 68; the field is 16 bits wide.
inline constexpr uint32_t kMinMtu = 68;
inline constexpr uint32_t kMaxMtu = 65535;
// Descriptor ring sizes per ethdev queue: a power of two in this range.
inline constexpr uint32_t kMinDescriptors = 64;
inline constexpr uint32_t kMaxDescriptors = 32768;
// mbufs per port's mempool (2^22 - 1 mbufs of 2 KiB data room is about 9 GiB).
inline constexpr uint32_t kMaxMempoolSize = (1u << 22) - 1;
// -m for EAL, in megabytes (1 TiB).
inline constexpr uint32_t kMaxMemoryMb = 1u << 20;
// Toeplitz RSS key lengths accepted, in bytes: 40 is the standard key (most NICs, virtio,
// mlx5); 52 is what Intel i40e/ice report as hash_key_size. The daemon checks the key against
// the device's own size when it starts the port.
inline constexpr size_t kRssKeyLength = 40;
inline constexpr size_t kRssKeyLengthLong = 52;
// A lower bound on the memory one mbuf takes in a pool: RTE_MBUF_DEFAULT_BUF_SIZE (2176 bytes:
// 2048 data room + 128 headroom) plus the 128-byte struct rte_mbuf. Used to refuse pools that
// cannot fit in eal.memory_mb.
inline constexpr uint64_t kMinBytesPerMbuf = 2176 + 128;
// The largest file load_config_file reads.
inline constexpr size_t kMaxConfigFileSize = 1 << 20;
// The most problems one error message lists; the rest are counted.
inline constexpr size_t kMaxReportedErrors = 50;

// ---- Enumerations (their YAML names are in config/names.h) ----

// What a worker does when a pass over its queues found no work.
enum class IdlePolicy : uint8_t {
  kBusy,      // `busy`: keep polling; lowest latency, the CPU is always 100% busy
  kAdaptive,  // `adaptive`: back off when idle, wake within 50 us of traffic
  kCount,
};

// Which side of the vhost-user socket listens.
enum class VhostMode : uint8_t {
  kServer,  // `server`: pmdnetd creates the socket and listens; the VMM connects
  kClient,  // `client`: the VMM listens; pmdnetd connects and reconnects
  kCount,
};

// virtio-net features an operator can withhold from the guest. Each name covers the feature
// bits listed (virtio 1.2 5.1.3); everything else the daemon offers is not configurable.
enum class VhostFeature : uint8_t {
  kCsum,           // `csum`: VIRTIO_NET_F_CSUM (0), guest TX checksum offload
  kGuestCsum,      // `guest_csum`: VIRTIO_NET_F_GUEST_CSUM (1), guest RX partial checksums
  kTso,            // `tso`: VIRTIO_NET_F_HOST_TSO4 (11) and HOST_TSO6 (12), guest TX TSO
  kUso,            // `uso`: VIRTIO_NET_F_HOST_USO (56), guest TX USO
  kGuestTso,       // `guest_tso`: VIRTIO_NET_F_GUEST_TSO4 (7) and GUEST_TSO6 (8)
  kGuestUso,       // `guest_uso`: VIRTIO_NET_F_GUEST_USO4 (54) and GUEST_USO6 (55)
  kMrgRxbuf,       // `mrg_rxbuf`: VIRTIO_NET_F_MRG_RXBUF (15)
  kEventIdx,       // `event_idx`: VIRTIO_RING_F_EVENT_IDX (29)
  kIndirectDesc,   // `indirect_desc`: VIRTIO_RING_F_INDIRECT_DESC (28)
  kMq,             // `mq`: VIRTIO_NET_F_MQ (22)
  kGuestAnnounce,  // `guest_announce`: VIRTIO_NET_F_GUEST_ANNOUNCE (21)
  kCount,
};

// What sits behind a port.
enum class BackendType : uint8_t {
  kDpdk,      // `dpdk`: an ethdev port, physical (PCI) or virtual (vdev)
  kLoopback,  // `loopback`: guest TX comes back as guest RX (LoopbackEndpoint)
  kNull,      // `null`: guest TX is dropped, guest RX never sees a packet (NullEndpoint)
  kCount,
};

// How backend.device was written; tells the daemon whether to add --vdev or allow a PCI device.
enum class DeviceKind : uint8_t {
  kNone,  // no device: loopback and null backends
  kPci,   // a PCI address, e.g. 0000:01:00.0 (optionally followed by ,devargs)
  kVdev,  // a virtual device string, e.g. net_tap0,iface=tap0
  kCount,
};

// RSS hash types. Each maps to one RTE_ETH_RSS_* flag (docs/config.md has the table).
enum class RssHashType : uint8_t {
  kIpv4,       // `ipv4`: RTE_ETH_RSS_IPV4
  kIpv4Frag,   // `ipv4_frag`: RTE_ETH_RSS_FRAG_IPV4
  kIpv4Tcp,    // `ipv4_tcp`: RTE_ETH_RSS_NONFRAG_IPV4_TCP
  kIpv4Udp,    // `ipv4_udp`: RTE_ETH_RSS_NONFRAG_IPV4_UDP
  kIpv4Sctp,   // `ipv4_sctp`: RTE_ETH_RSS_NONFRAG_IPV4_SCTP
  kIpv4Other,  // `ipv4_other`: RTE_ETH_RSS_NONFRAG_IPV4_OTHER
  kIpv6,       // `ipv6`: RTE_ETH_RSS_IPV6
  kIpv6Frag,   // `ipv6_frag`: RTE_ETH_RSS_FRAG_IPV6
  kIpv6Tcp,    // `ipv6_tcp`: RTE_ETH_RSS_NONFRAG_IPV6_TCP
  kIpv6Udp,    // `ipv6_udp`: RTE_ETH_RSS_NONFRAG_IPV6_UDP
  kIpv6Sctp,   // `ipv6_sctp`: RTE_ETH_RSS_NONFRAG_IPV6_SCTP
  kIpv6Other,  // `ipv6_other`: RTE_ETH_RSS_NONFRAG_IPV6_OTHER
  kIpv6Ex,     // `ipv6_ex`: RTE_ETH_RSS_IPV6_EX
  kIpv6TcpEx,  // `ipv6_tcp_ex`: RTE_ETH_RSS_IPV6_TCP_EX
  kIpv6UdpEx,  // `ipv6_udp_ex`: RTE_ETH_RSS_IPV6_UDP_EX
  kCount,
};

enum class LogLevel : uint8_t {
  kTrace,
  kDebug,
  kInfo,
  kWarn,
  kError,
  kCritical,
  kOff,
  kCount,
};

// Where log lines go.
enum class LogSink : uint8_t {
  kStderr,   // `stderr`: plain lines on stderr (systemd stores them in the journal too)
  kJournal,  // `journal`: sd_journal with priority and fields
  kFile,     // `file`: appended to logging.file
  kCount,
};

using VhostFeatureSet = EnumSet<VhostFeature>;
using RssHashTypes = EnumSet<RssHashType>;
using MacAddress = std::array<uint8_t, 6>;

// The RSS groups: `ip`, `tcp`, `udp` and `sctp` stand for these sets, like RTE_ETH_RSS_IP,
// RTE_ETH_RSS_TCP, RTE_ETH_RSS_UDP and RTE_ETH_RSS_SCTP.
inline constexpr RssHashTypes kRssGroupIp{
    RssHashType::kIpv4,     RssHashType::kIpv4Frag,  RssHashType::kIpv4Other, RssHashType::kIpv6,
    RssHashType::kIpv6Frag, RssHashType::kIpv6Other, RssHashType::kIpv6Ex};
inline constexpr RssHashTypes kRssGroupTcp{RssHashType::kIpv4Tcp, RssHashType::kIpv6Tcp,
                                           RssHashType::kIpv6TcpEx};
inline constexpr RssHashTypes kRssGroupUdp{RssHashType::kIpv4Udp, RssHashType::kIpv6Udp,
                                           RssHashType::kIpv6UdpEx};
inline constexpr RssHashTypes kRssGroupSctp{RssHashType::kIpv4Sctp, RssHashType::kIpv6Sctp};
// The default hash_types: [ip, tcp, udp].
inline constexpr RssHashTypes kDefaultRssHashTypes = kRssGroupIp | kRssGroupTcp | kRssGroupUdp;

// ---- The configuration ----

// `eal:` The DPDK Environment Abstraction Layer. The daemon maps this onto EalOptions.
struct EalSettings {
  // The EAL lcore set, in DPDK's -l/--lcores syntax ("0-2", "0,3", "0@0,1@(2-3)").
  // Default: derived from main_lcore and the workers, e.g. "0,1,2".
  std::string lcores;
  // The lcore that runs the control thread (EAL's main lcore). Default 0.
  uint32_t main_lcore = 0;
  // Run without hugepages (--no-huge). Default false: production uses hugepages.
  bool no_huge = false;
  // -m: megabytes reserved at start. Default 256 with no_huge, 0 (DPDK's dynamic memory)
  // otherwise. Must be positive with no_huge.
  uint32_t memory_mb = 0;
  // --file-prefix: names the runtime directory and hugepage files. Default "pmdnet".
  std::string file_prefix = "pmdnet";
  // Appended verbatim to the EAL argv. Default empty. Options that other keys control
  // (-l, -c, --lcores, --main-lcore, -m, --no-huge, --file-prefix, --no-telemetry, --telemetry)
  // are refused.
  std::vector<std::string> extra_args;

  bool operator==(const EalSettings&) const = default;
};

// `workers:` One DPDK lcore each, pinned, polling the queue pairs assigned to it.
struct Worker {
  uint32_t lcore = 0;
  IdlePolicy idle = IdlePolicy::kAdaptive;  // default adaptive

  bool operator==(const Worker&) const = default;
};

// `ports[].vhost_user:` The guest-facing side of a port.
struct VhostUser {
  // Absolute path of the vhost-user socket; at most 107 bytes. Required.
  std::string socket;
  VhostMode mode = VhostMode::kServer;  // default server
  uint32_t queue_pairs = 1;             // 1..128, default 1
  uint32_t mtu = 1500;                  // 68..65535, default 1500 (offered as VIRTIO_NET_F_MTU)
  // A unicast address, informational only: the guest gets its MAC from the VMM (rte_vhost 22.11
  // has no net config space); the daemon warns when it is set. Default: none.
  std::optional<MacAddress> mac;
  // Features withheld from the guest. Default: none.
  VhostFeatureSet disabled_features;
  // Whether the guest is offered packed virtqueues (VIRTIO_F_RING_PACKED) and in-order
  // completion (VIRTIO_F_IN_ORDER); false withholds the feature. Default: both offered.
  bool packed_ring = true;
  bool in_order = true;

  bool operator==(const VhostUser&) const = default;
};

// The largest RSS indirection table a NIC has (RTE_ETH_RSS_RETA_SIZE_512).
inline constexpr size_t kMaxRssReta = 512;

// `ports[].backend.rss:` Receive-side scaling on the NIC (dpdk backends only).
struct Rss {
  // The Toeplitz key, 40 or 52 bytes. Default empty: the driver's own key.
  std::vector<uint8_t> key;
  RssHashTypes hash_types = kDefaultRssHashTypes;  // default [ip, tcp, udp]
  // The indirection table: entry i sends hash bucket i (modulo the table's length) to that
  // queue. A power of two of at most kMaxRssReta entries, each below the backend's queues; the
  // daemon repeats it over the NIC's table, whose size it must divide. Empty: the driver's table.
  std::vector<uint16_t> reta;

  bool operator==(const Rss&) const = default;
};

// `ports[].backend.offloads:` Whether the NIC's own offloads are used. Off means pmdnetd does
// the work in software; what the guest is offered is set by vhost_user.disable_features.
struct Offloads {
  bool checksum = true;  // IPv4/TCP/UDP checksum
  bool tso = true;       // TCP segmentation
  bool uso = true;       // UDP segmentation
  bool vlan = true;      // VLAN insertion (guest TX); received tags always stay in the frame
  // Guest RX: merge received TCP/IPv4 segments into TSO frames (rte_gro) for guests that
  // negotiated GUEST_TSO4. Costs a header parse per received packet. Default false.
  bool gro = false;

  bool operator==(const Offloads&) const = default;
};

// `ports[].backend:` The host-facing side of a port.
struct Backend {
  BackendType type = BackendType::kNull;  // required key
  // dpdk only, required there: a PCI address or a vdev string, passed to EAL as written.
  std::string device;
  DeviceKind device_kind = DeviceKind::kNone;
  // Queue pairs of the backend, one per guest queue pair: always vhost_user.queue_pairs (for
  // every type; a dpdk backend may restate it, and is refused if it differs).
  uint32_t queues = 1;
  // The fields below apply to dpdk backends and hold their defaults for the others.
  Rss rss;
  Offloads offloads;
  uint32_t rx_descriptors = 1024;  // power of two in 64..32768, default 1024
  uint32_t tx_descriptors = 1024;  // power of two in 64..32768, default 1024
  // mbufs in the port's pool. Default: the smallest 2^n - 1 that is at least 8191 and at least
  // 2 * queues * (rx_descriptors + tx_descriptors). At least queues * (rx + tx) descriptors.
  uint32_t mempool_size = 8191;
  // Guest TX of large plain frames as mbufs over guest memory, on PMDs that allow it (net_null,
  // net_tap, net_af_packet; every other port copies). false: always copy.
  bool tx_zero_copy = true;

  bool operator==(const Backend&) const = default;
};

// `ports[]:` One vhost-user device and the backend its packets go to.
struct Port {
  std::string name;  // [A-Za-z0-9][A-Za-z0-9_.-]*, at most 32 characters, unique. Required.
  VhostUser vhost_user;
  Backend backend;

  bool operator==(const Port&) const = default;
};

// `affinity[]:` Pins one queue pair of a port to a worker. Queue pairs without an entry are
// spread over the workers round-robin.
struct Affinity {
  std::string port;    // a port name
  uint32_t queue = 0;  // a queue pair index, below that port's queue_pairs
  uint32_t lcore = 0;  // a worker's lcore

  bool operator==(const Affinity&) const = default;
};

// `logging:`
struct Logging {
  LogLevel level = LogLevel::kInfo;  // default info
  LogSink sink = LogSink::kStderr;   // default stderr
  std::filesystem::path file;        // absolute; required with sink file, refused otherwise

  bool operator==(const Logging&) const = default;
};

// `telemetry:` DPDK telemetry (the dpdk_telemetry.v2 socket) and the /pmdnet/* commands.
struct Telemetry {
  bool enabled = true;  // default true

  bool operator==(const Telemetry&) const = default;
};

struct Config {
  EalSettings eal;
  std::vector<Worker> workers;  // at least one
  std::vector<Port> ports;      // default none
  std::vector<Affinity> affinity;
  Logging logging;
  Telemetry telemetry;
  // `state_dir:` Where pmdnetd keeps what must outlive a restart of it: the positions of the
  // guests' packed rings (docs/vhost_user.md). An absolute directory, created when missing.
  // Default empty: $RUNTIME_DIRECTORY (systemd's RuntimeDirectory), else /run/pmdnet.
  std::filesystem::path state_dir;

  bool operator==(const Config&) const = default;
};

// ---- Loading ----

// Parses and validates `yaml`. `source_name` (usually the file path) starts every error line.
// Errors: kInvalidArgument with one `source_name:line:col: message` line per problem.
Result<Config> parse_config(std::string_view yaml, std::string_view source_name);

// Reads `path` (at most kMaxConfigFileSize bytes) and calls parse_config with the path as the
// source name. Errors: kIo (`path: cannot read ...`) or those of parse_config.
Result<Config> load_config_file(const std::filesystem::path& path);

// The built-in default configuration's YAML (scripts/run.sh and `pmdnetd` without --config):
// one port, vm0, on /tmp/pmdnet-vm0.sock with a loopback backend; no hugepages; main lcore 0,
// one adaptive worker on lcore 1.
std::string_view default_config_yaml();

// default_config_yaml() parsed; its source name is "<built-in default>". Always succeeds (a
// unit test holds it to that), but returns a Result like every other loader.
Result<Config> default_config();

// ---- Helpers ----

// "52:54:00:12:34:56".
std::string format_mac(const MacAddress& mac);

}  // namespace pmdnet::config
