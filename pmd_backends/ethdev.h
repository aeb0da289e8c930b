// EthdevEndpoint: the core Endpoint over one DPDK ethdev port (a PCI NIC through its PMD, or a
// vdev such as net_ring or net_null), and the per-queue statistics its EthdevQueues keep.
//
// Lifecycle:
//   1. make_ethdev_endpoint(spec) finds the port (probing the device if needed) and reads its
//      capabilities: multiqueue_support, tx_offload_support (native plus software fallbacks),
//      rx_offload_support (validated checksums, GRO's coalesced TCP/IPv4 frames).
//   2. get_queues(configs, rss, out) configures configs.size() RX/TX queue pairs, each with its
//      own mempool on its worker's NUMA socket (else the port's), applies RSS where the port has
//      it, starts the port and appends the queues. Once per endpoint.
//   3. The queues copy guest TX into mbufs (completing synchronously), or on ports that allow it
//      (EthdevSpec::tx_zero_copy) hand large plain frames over as mbufs on guest memory
//      (completing through tx_poll), and copy NIC RX into the posted guest buffers.
//   4. After the queues are destroyed, stop() stops and closes the port and frees the mempools.
//
// Link state: LSC interrupts where the PMD has them (RTE_ETH_DEV_INTR_LSC), else a timer every
// link_poll_ms, make endpoint_action_fd() readable; poll_endpoint_action() then reports a change of
// the link's up/down state as EndpointAction::LinkStatusNotify (the first call reports the state
// found at get_queues if it differs from "down").
//
// RSS degrades silently: a port without RSS (or with a single queue) receives on queue 0 only;
// a key of the wrong size keeps the port's key; hash types the port lacks are dropped.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/base/counter.h"
#include "core/base/result.h"
#include "core/net_backend/endpoint.h"
#include "core/net_backend/packet.h"
#include "core/net_backend/queue.h"
#include "core/net_backend/queue_counters.h"
#include "core/offload/soft_offload.h"
#include "pmd_backends/rss.h"

namespace pmdnet {

struct EthdevSpec {
  // A vdev devargs string ("net_ring0", "net_null0,size=64") or a PCI address ("0000:03:00.0").
  // A device EAL already probed (--vdev, PCI scan) is used as is; another is hotplugged.
  std::string device;
  uint16_t max_queues = 1;         // caps multiqueue_support().max_queues
  uint16_t rx_descriptors = 1024;  // per RX queue (adjusted to the port's limits)
  uint16_t tx_descriptors = 1024;  // per TX queue
  uint16_t mtu = 0;                // 0: the port's default
  uint32_t mempool_size = 8191;    // mbufs per queue
  bool hw_tx_offloads = true;      // use the port's TX checksum/TSO/USO/VLAN offloads
  // Each of the port's native TX offloads, when hw_tx_offloads is on (off: software does it).
  bool hw_checksum = true;
  bool hw_tso = true;
  bool hw_uso = true;
  bool hw_vlan = true;
  // RSS when get_queues is given no RssConfig: the key (empty: the port's own) and the hash
  // types (none: IP, TCP and UDP); both masked by what the port can do.
  std::vector<uint8_t> rss_key;
  // The operator's indirection table (config backend.rss.reta): repeated over the port's table,
  // whose size it must divide; entries are queue indexes, taken modulo the queues in use. Empty:
  // the driver's table.
  std::vector<uint16_t> rss_reta;
  RssHashTypes rss_hash_types;
  bool hw_rx_checksum = true;  // ask the port for RX checksum validation
  // Merge received TCP/IPv4 segments (rte_gro, within one burst) into coalesced frames, on queues
  // whose frontend accepts them (QueueConfig::accepts_coalesced_tcp4). Only segments whose
  // checksums are known good are merged (validated in software when the port does not).
  bool rx_gro = false;
  // Guest TX without a copy: plain frames (no offload, no VLAN tag) of at least tx_zero_copy_min
  // bytes go to the port as mbufs over the guest's buffers (external buffers), completed when the
  // PMD frees them. Only on ports whose PMD is done with the data inside rte_eth_tx_burst and
  // does no DMA (net_null, net_tap, net_af_packet); elsewhere every frame is copied.
  bool tx_zero_copy = true;
  uint32_t tx_zero_copy_min = 256;
  // How often the link is polled when the port has no link-state-change interrupt.
  uint32_t link_poll_ms = 1000;
};

// The counters one EthdevQueue keeps: QueueCounters (rx_packets_ counts packets delivered to the
// guest, tx_packets_ guest packets handed to the port, a TSO superframe once) plus drops by reason
// and software fallbacks. Single writer (the queue's worker).
class EthdevQueueStats final : public QueueCounters {
 public:
  // Guest TX drops, each also counted in tx_errors_.
  std::array<Counter, offload::kOffloadErrorCount> tx_offload_errors_;  // by OffloadError
  Counter tx_length_mismatch_;  // segment lengths disagree with the head's len
  Counter tx_guest_memory_;     // a segment outside guest memory
  Counter tx_too_large_;        // longer than kMaxTxFrame
  Counter tx_no_mbufs_;         // the mempool ran dry inside a packet
  Counter tx_prepare_failed_;   // rte_eth_tx_prepare refused the mbuf
  Counter tx_ring_full_;        // rte_eth_tx_burst did not take it (dropped, not retried)
  // Guest packets sent as mbufs over guest memory (EthdevSpec::tx_zero_copy), not dropped.
  Counter tx_zero_copy_;
  // Guest RX drops, each also counted in rx_errors_.
  Counter rx_too_large_;  // the packet is longer than the posted guest buffer
  // Frames whose 802.1Q/802.1ad tags the PMD had stripped, put back into the frame for the guest.
  Counter rx_vlan_reinserted_;
  // Guest RX coalescing (EthdevSpec::rx_gro).
  Counter rx_sw_checksum_;  // TCP/IPv4 segments whose checksums were validated in software
  Counter rx_gro_frames_;   // coalesced frames delivered (each counted once in rx_packets_)
  Counter rx_gro_merged_;   // NIC segments that went into them
  // Software fallbacks, per guest packet.
  Counter tx_sw_checksum_;
  Counter tx_sw_tso_;
  Counter tx_sw_uso_;
  Counter tx_sw_vlan_;
  Counter tx_segments_;  // mbuf chains produced by software segmentation

  // QueueCounters' six, then each of the above (tx_offload_<error> per OffloadError).
  void for_each_counter(const CounterVisitor& visit) const override;
};

// The largest guest TX frame accepted (a 64 KB GSO superframe plus headers, with room to spare).
inline constexpr uint32_t kMaxTxFrame = 128 * 1024;

// Opens the port of `spec.device`. Errors name the device and carry DPDK's reason.
Result<std::unique_ptr<Endpoint>> make_ethdev_endpoint(const EthdevSpec& spec);

}  // namespace pmdnet
