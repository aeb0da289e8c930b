// Test data for the telemetry and pmdnetctl tests: DaemonSnapshots shaped like pmdnetd's, with the
// real guest counter names (core/virtio_net's drop reasons, header and ring errors), and sizes from
// a couple of ports to many ports and queue pairs, so the replies must page.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/telemetry/snapshot.h"

namespace pmdnet::telemetry::testing {

inline constexpr std::array<std::string_view, 9> kDropReasons = {
    "tx_chain_too_short",   "tx_writable_buffer",    "tx_bad_header",
    "tx_too_many_segments", "rx_no_buffers",         "rx_too_small",
    "rx_readable_buffer",   "rx_header_not_written", "rx_cannot_deliver"};
inline constexpr std::array<std::string_view, 18> kHeaderErrors = {
    "frame_too_short",        "bad_ipv4_header",        "bad_ipv6_header",
    "bad_tcp_header",         "csum_not_negotiated",    "csum_offsets_past_packet",
    "csum_not_tcp_or_udp",    "gso_unknown_type",       "gso_not_negotiated",
    "gso_ecn_not_negotiated", "gso_without_needs_csum", "gso_size_zero",
    "gso_without_headers",    "gso_protocol_mismatch",  "gso_hdr_len_mismatch",
    "rx_gso_not_negotiated",  "rx_gso_bad_metadata",    "rx_gso_checksum_invalid"};
inline constexpr std::array<std::string_view, 13> kRingErrors = {
    "avail_index_jump",     "head_out_of_range",       "next_out_of_range",
    "chain_too_long",       "indirect_not_negotiated", "indirect_nested",
    "indirect_with_next",   "indirect_bad_length",     "indirect_out_of_memory",
    "buffer_out_of_memory", "readable_after_writable", "chain_too_large",
    "head_in_use"};

// A queue pair whose counters are derived from `seed` (so pairs and ports differ), with every
// guest counter pmdnetd reports (zeros included) and a dpdk-like backend list.
inline QueuePairSnapshot sample_queue_pair(uint32_t index, int32_t lcore, uint64_t seed) {
  QueuePairSnapshot qp;
  qp.index = index;
  qp.worker_lcore = lcore;
  auto g = [&](std::string name, uint64_t v) { qp.guest.push_back({std::move(name), v}); };
  g("guest_tx_packets", 1000 * seed + index);
  g("guest_tx_bytes", 1500000 * seed + index);
  g("guest_rx_packets", 2000 * seed + index);
  g("guest_rx_bytes", 3000000 * seed + index);
  g("guest_rx_merged_buffers", 7 * seed);
  g("notifications", 11 * seed);
  g("backend_errors", seed % 3);
  for (std::string_view r : kDropReasons)
    g(fmt::format("drop_{}", r), r == "rx_no_buffers" ? seed : 0);
  for (std::string_view e : kHeaderErrors) {
    g(fmt::format("tx_header_{}", e), e == "bad_tcp_header" ? 2 * seed : 0);
  }
  for (std::string_view e : kRingErrors)
    g(fmt::format("tx_ring_{}", e), e == "head_in_use" ? 1 : 0);
  for (std::string_view e : kRingErrors) g(fmt::format("rx_ring_{}", e), 0);
  auto b = [&](std::string name, uint64_t v) { qp.backend.push_back({std::move(name), v}); };
  b("rx_packets", 2000 * seed + index);
  b("tx_packets", 1000 * seed + index);
  b("rx_errors", 1);
  b("tx_errors", 0);
  b("rx_vlan_packets", 0);
  b("tx_vlan_packets", 0);
  b("tx_sw_tso", 5 * seed);
  b("tx_sw_checksum", 3 * seed);
  b("rx_too_large", 0);
  return qp;
}

inline PortSnapshot sample_port(std::string name, uint32_t queue_pairs, uint64_t seed) {
  PortSnapshot p;
  p.name = std::move(name);
  p.socket = fmt::format("/run/pmdnet/{}.sock", p.name);
  p.mode = "server";
  p.backend = "dpdk";
  p.device = "net_null0";
  p.connected = queue_pairs > 0;
  p.link_up = true;
  p.link_speed_bps = 10'000'000'000;
  p.link_changes = 1;
  p.backend_configurations = 5;
  p.rss_reta = {0, 1, 1, 0, 0, 1, 1, 0};
  p.restarts = 0;
  p.connections = 2;
  p.refused_connections = 1;
  p.session_starts = 3;
  p.session_stops = 2;
  p.resumed_rings = 4;
  p.announcements = 7;
  p.announce_failures = 1;
  p.start_errors = 4;
  p.refused_messages = 5;
  p.guest_memory_faults = 6;
  for (uint32_t i = 0; i < queue_pairs; ++i) {
    p.queue_pairs.push_back(sample_queue_pair(i, static_cast<int32_t>(1 + i % 2), seed));
  }
  return p;
}

// Two ports (one connected with 2 queue pairs, "vm-2.eth0" idle) and two workers.
inline DaemonSnapshot sample_snapshot(uint64_t seed = 1) {
  DaemonSnapshot s;
  s.version = "0.1.0";
  s.tsc_hz = 2'400'000'000;
  s.reloads = 3;
  s.failed_reloads = 1;
  s.ports.push_back(sample_port("vm1", 2, seed));
  s.ports.push_back(sample_port("vm-2.eth0", 0, seed));
  s.ports[1].backend = "loopback";
  s.ports[1].device = "";
  s.ports[1].mode = "client";
  s.workers.push_back({1, "busy", 300, 100, 5000, 2, 200});
  s.workers.push_back({2, "adaptive", 0, 0, 0, 0});
  return s;
}

// `ports` ports of `queue_pairs` pairs each, and `workers` workers: big enough to page.
inline DaemonSnapshot large_snapshot(uint32_t ports, uint32_t queue_pairs, uint32_t workers) {
  DaemonSnapshot s;
  s.version = "0.1.0";
  s.tsc_hz = 2'000'000'000;
  for (uint32_t i = 0; i < ports; ++i) {
    s.ports.push_back(
        sample_port(fmt::format("port-{:03}.with-a-long-name", i), queue_pairs, i + 1));
  }
  for (uint32_t i = 0; i < workers; ++i) {
    s.workers.push_back(
        {i + 1, i % 2 == 0 ? "busy" : "adaptive", 10ull * i, 5ull * i, 100ull * i, i, 3ull * i});
  }
  return s;
}

}  // namespace pmdnet::telemetry::testing
