// RteVhostApi: the VhostApi seam implemented with DPDK 22.11's rte_vhost. A factory only: the
// rte_vhost types stay in the .cc file.
#pragma once

#include <memory>

#include "daemon/vhost_user/vhost_api.h"

namespace pmdnet::vhost_user {

std::unique_ptr<VhostApi> make_rte_vhost_api();

}  // namespace pmdnet::vhost_user
