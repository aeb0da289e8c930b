// VhostApi: the seam between pmdnet's vhost-user glue and DPDK's rte_vhost. It names only the
// rte_vhost calls the glue makes, in pmdnet's own types, so VhostSession (which turns a vhost-user
// device into GuestMemory and VirtioNetQueues) can be unit-tested with a fake and no socket.
// RteVhostApi (rte_vhost_api.h) is the real implementation; nothing else calls rte_vhost_* for a
// device.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/base/result.h"
#include "core/guest_memory/guest_memory.h"
#include "core/virtio_net/virtio_net_queue.h"
#include "core/virtqueue/split_ring.h"

namespace pmdnet::vhost_user {

// One vring as rte_vhost has translated it: host pointers to its three parts, its size, and the
// call eventfd the guest gave (SET_VRING_CALL), or -1.
struct VringInfo {
  virtio::RingAddresses addresses;
  int callfd = -1;
  uint64_t log_guest_addr = 0;  // where the used ring is, for dirty logging (0: not logged)
};

class VhostApi {
 public:
  virtual ~VhostApi() = default;

  // rte_vhost_get_negotiated_features.
  virtual Result<uint64_t> negotiated_features(int vid) = 0;
  // rte_vhost_get_mem_table: the regions as {gpa, size, host}.
  virtual Result<std::vector<GuestMemoryRegion>> mem_table(int vid) = 0;
  // Where rte_vhost mapped each region's file (rte_vhost_mem_region's mmap_addr, mmap_size): what
  // a fault in guest memory is recovered over (guest_fault.h).
  virtual Result<std::vector<std::span<uint8_t>>> memory_mappings(int vid) = 0;
  // rte_vhost_get_vhost_vring.
  virtual Result<VringInfo> vring(int vid, uint16_t vring_index) = 0;
  // rte_vhost_get_vring_base / rte_vhost_set_vring_base (split rings: no wrap counters).
  virtual Result<virtio::RingIndexes> vring_base(int vid, uint16_t vring_index) = 0;
  virtual Result<void> set_vring_base(int vid, uint16_t vring_index,
                                      virtio::RingIndexes indexes) = 0;
  // rte_vhost_log_write: marks guest-physical [gpa, gpa + len) dirty (LOG_ALL negotiated only).
  virtual void log_write(int vid, uint64_t gpa, uint64_t len) noexcept = 0;
  // rte_vhost_log_used_vring: marks [offset, offset + len) of a used ring dirty.
  virtual void log_used_vring(int vid, uint16_t vring_index, uint64_t offset,
                              uint64_t len) noexcept = 0;
};

}  // namespace pmdnet::vhost_user
