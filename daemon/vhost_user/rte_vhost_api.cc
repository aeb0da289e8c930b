// RteVhostApi: thin wrappers over rte_vhost_get_negotiated_features, rte_vhost_get_mem_table,
// rte_vhost_get_vhost_vring, rte_vhost_get/set_vring_base, rte_vhost_log_write and
// rte_vhost_log_used_vring.
#include "daemon/vhost_user/rte_vhost_api.h"

#include <fmt/format.h>
#include <rte_vhost.h>

#include <cstdlib>

namespace pmdnet::vhost_user {

namespace {

class RteVhostApi final : public VhostApi {
 public:
  Result<uint64_t> negotiated_features(int vid) override {
    uint64_t features = 0;
    if (rte_vhost_get_negotiated_features(vid, &features) != 0) {
      return make_error(Errc::kDevice, fmt::format("vid {}: no negotiated features", vid));
    }
    return features;
  }

  Result<std::vector<GuestMemoryRegion>> mem_table(int vid) override {
    rte_vhost_memory* mem = nullptr;
    // rte_vhost_get_mem_table mallocs a copy of the table; we free it.
    if (rte_vhost_get_mem_table(vid, &mem) != 0 || mem == nullptr) {
      return make_error(Errc::kDevice, fmt::format("vid {}: no memory table", vid));
    }
    std::vector<GuestMemoryRegion> regions;
    regions.reserve(mem->nregions);
    for (uint32_t i = 0; i < mem->nregions; ++i) {
      const rte_vhost_mem_region& r = mem->regions[i];
      // Without VIRTIO_F_ACCESS_PLATFORM (never offered) descriptor addresses are guest-physical,
      // which is what guest_phys_addr maps; host_user_addr is where rte_vhost mmap'ed it.
      regions.push_back(GuestMemoryRegion{.gpa = r.guest_phys_addr,
                                          .size = r.size,
                                          // rte_vhost hands the mapping over as an integer.
                                          // NOLINTNEXTLINE(performance-no-int-to-ptr): see above
                                          .host = reinterpret_cast<uint8_t*>(r.host_user_addr)});
    }
    std::free(mem);  // NOLINT(cppcoreguidelines-no-malloc): rte_vhost allocated it with malloc
    return regions;
  }

  Result<std::vector<std::span<uint8_t>>> memory_mappings(int vid) override {
    rte_vhost_memory* mem = nullptr;
    if (rte_vhost_get_mem_table(vid, &mem) != 0 || mem == nullptr) {
      return make_error(Errc::kDevice, fmt::format("vid {}: no memory table", vid));
    }
    std::vector<std::span<uint8_t>> mappings;
    for (uint32_t i = 0; i < mem->nregions; ++i) {
      const rte_vhost_mem_region& r = mem->regions[i];
      mappings.emplace_back(static_cast<uint8_t*>(r.mmap_addr), r.mmap_size);
    }
    std::free(mem);  // NOLINT(cppcoreguidelines-no-malloc): rte_vhost allocated it with malloc
    return mappings;
  }

  Result<VringInfo> vring(int vid, uint16_t vring_index) override {
    rte_vhost_vring v{};
    if (rte_vhost_get_vhost_vring(vid, vring_index, &v) != 0) {
      return make_error(Errc::kDevice, fmt::format("vid {}: no vring {}", vid, vring_index));
    }
    VringInfo info;
    // desc, avail and used share their unions with a packed ring's desc_packed, driver_event and
    // device_event: the same three pointers whichever layout was negotiated.
    info.addresses.desc = reinterpret_cast<uint8_t*>(v.desc);
    info.addresses.avail = reinterpret_cast<uint8_t*>(v.avail);
    info.addresses.used = reinterpret_cast<uint8_t*>(v.used);
    info.addresses.size = v.size;
    // "Deprecated" in favour of rte_vhost_vring_call, which pmdnet cannot use
    // (docs/vhost_user.md, the guest is notified through its call fd).
    info.callfd = v.callfd;
    info.log_guest_addr = v.log_guest_addr;
    if (info.addresses.desc == nullptr || info.addresses.avail == nullptr ||
        info.addresses.used == nullptr) {
      return make_error(Errc::kState,
                        fmt::format("vid {}: vring {} is not mapped", vid, vring_index));
    }
    return info;
  }

  // Packed rings: rte_vhost joins (get) and splits (set) position and wrap counter at bit 15,
  // as virtio::RingIndexes carries them; the values pass through unchanged.
  Result<virtio::RingIndexes> vring_base(int vid, uint16_t vring_index) override {
    uint16_t last_avail = 0;
    uint16_t last_used = 0;
    if (rte_vhost_get_vring_base(vid, vring_index, &last_avail, &last_used) != 0) {
      return make_error(Errc::kDevice,
                        fmt::format("vid {}: no base for vring {}", vid, vring_index));
    }
    return virtio::RingIndexes{.last_avail_idx = last_avail, .used_idx = last_used};
  }

  Result<void> set_vring_base(int vid, uint16_t vring_index, virtio::RingIndexes indexes) override {
    if (rte_vhost_set_vring_base(vid, vring_index, indexes.last_avail_idx, indexes.used_idx) != 0) {
      return make_error(Errc::kDevice,
                        fmt::format("vid {}: cannot set the base of vring {}", vid, vring_index));
    }
    return {};
  }

  void log_write(int vid, uint64_t gpa, uint64_t len) noexcept override {
    rte_vhost_log_write(vid, gpa, len);
  }

  void log_used_vring(int vid, uint16_t vring_index, uint64_t offset,
                      uint64_t len) noexcept override {
    rte_vhost_log_used_vring(vid, vring_index, offset, len);
  }
};

}  // namespace

std::unique_ptr<VhostApi> make_rte_vhost_api() { return std::make_unique<RteVhostApi>(); }

}  // namespace pmdnet::vhost_user
