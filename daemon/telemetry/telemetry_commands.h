// pmdnetd's DPDK telemetry commands (/pmdnet/info, /pmdnet/ports, /pmdnet/port, /pmdnet/workers):
// registration with rte_telemetry_register_cmd and the provider that feeds them. The replies'
// layout is in replies.h and README.md; no DPDK type appears here.
#pragma once

#include <functional>

#include "core/base/result.h"
#include "daemon/telemetry/snapshot.h"

namespace pmdnet::telemetry {

// Where the commands get their data: called once per command, on one of DPDK's telemetry threads
// (one per connected client, so possibly on several at once). It must be thread-safe, should be
// quick (it holds up that client only), and must not call register_telemetry_commands or
// clear_telemetry_provider (it would deadlock).
using SnapshotProvider = std::function<DaemonSnapshot()>;

// Makes `provider` the source of the /pmdnet/* commands, registering them with DPDK on the first
// successful call (DPDK cannot unregister, so later calls only swap the provider). Works before
// or after rte_eal_init; the commands are reachable once EAL has started telemetry (not with
// --no-telemetry). When it returns, the previous provider is not running and will not be called
// again. Errors: kInvalidArgument for an empty provider (nothing changes); kResource if DPDK
// refused a registration (the provider is installed anyway and a later call retries the
// commands still missing).
Result<void> register_telemetry_commands(SnapshotProvider provider);

// Removes the provider: the commands then reply null. When it returns, no call to the old
// provider is running, so whatever it referenced may be destroyed. Safe to call at any time.
void clear_telemetry_provider();

}  // namespace pmdnet::telemetry
