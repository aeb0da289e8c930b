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
#include "core/virtqueue/virtqueue.h"

namespace pmdnet::vhost_user {

// One vring as rte_vhost has translated it: host pointers to its three parts (split: descriptor
// table, available ring, used ring; packed: descriptor ring, driver and device event suppression,
// rte_vhost_vring's desc_packed, driver_event and device_event), its size, and the call eventfd
// the guest gave (SET_VRING_CALL), or -1.
struct VringInfo {
  virtio::RingAddresses addresses;
  int callfd = -1;
  uint64_t log_guest_addr = 0;  // the front-end's log address for the ring (0: none)
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
  // rte_vhost_get_vring_base / rte_vhost_set_vring_base. Split rings: free-running 16-bit
  // indexes. Packed rings: the position in bits 0..14 and the wrap counter in bit 15, as the
  // layout's RingIndexes carry them; rte_vhost splits and joins them the same way.
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
