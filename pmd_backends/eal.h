// DPDK's Environment Abstraction Layer: typed options, their translation to an EAL argv, and a
// move-only owner of the process's single EAL instance.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"

namespace pmdnet {

// The EAL command line, as typed fields. Each maps to one or two EAL arguments (see
// build_eal_args for the order).
struct EalOptions {
  // The lcore set: "0-1" or "0,2" (passed as -l), or a mapping such as "0@0,1@1" or "(0,1)@2"
  // (passed as --lcores). Empty: DPDK's default, every CPU the process may run on.
  std::string lcores;
  // The lcore that runs the thread calling Eal::init; -1: DPDK's default, the first lcore.
  int main_lcore = -1;
  // --no-huge: memory comes from anonymous pages instead of hugepages (tests, CI, the demo).
  bool no_huge = true;
  // -m: megabytes reserved at start. Must be positive with no_huge; with hugepages, 0 means
  // DPDK's dynamic mode (no -m).
  uint32_t memory_mb = 256;
  // --file-prefix: names the runtime directory (/var/run/dpdk/<prefix> as root) and the
  // hugepage files, so several DPDK processes can coexist. Required: non-empty, no '/' and no
  // whitespace.
  std::string file_prefix;
  // -d: a PMD shared object or a directory of them to dlopen (see default_pmd_dir).
  std::vector<std::string> driver_dirs;
  // --vdev: virtual devices, e.g. "net_null0" or "net_ring0"; no whitespace.
  std::vector<std::string> vdevs;
  // --no-pci: skip the PCI bus scan (no physical NICs).
  bool no_pci = false;
  // --log-level, e.g. "*:error" or "lib.eal:debug". Empty: DPDK's default.
  std::string log_level;
  // Appended verbatim after everything else.
  std::vector<std::string> extra_args;
  // --no-telemetry: no telemetry thread and no dpdk_telemetry.v2 socket.
  bool no_telemetry = false;
};

// Validates `options` and builds the EAL argv. A pure function: it reads no global state and
// calls no DPDK code. Order: program_name, --no-huge, -m N, --file-prefix=P, -l L or
// --lcores=L, --main-lcore=N, (-d DIR)..., (--vdev=V)..., --no-pci, --log-level=X,
// --no-telemetry, extra_args... . Fails with kInvalidArgument naming the offending field.
Result<std::vector<std::string>> build_eal_args(const EalOptions& options,
                                                std::string_view program_name);

// The directory holding Debian's PMD plugins (librte_net_*.so, librte_mempool_ring.so, ...):
// "/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0" for DPDK 22.11 on this platform.
const char* default_pmd_dir();

// The NUMA socket of EAL lcore `lcore` (rte_lcore_to_socket_id), or -1 (SOCKET_ID_ANY) where
// EAL does not know it. Needs a live EAL.
int lcore_numa_socket(uint32_t lcore) noexcept;

// The process's EAL. Only one can be live per process, and only once: DPDK cannot initialise
// EAL again after rte_eal_cleanup(), nor after an rte_eal_init() that failed (a failure can leave
// plugins loaded, threads, the runtime directory and shared memory behind, and DPDK may then
// accept a second call that silently drops the devices the first one choked on).
//
// Lifecycle:
//   1. Eal::init(options) builds the argv, runs rte_eal_init() and, on success, returns the
//      owner. The calling thread becomes the main lcore's thread and is pinned to its CPU set.
//   2. The owner may be moved; the moved-from object owns nothing.
//   3. Destroying the owner calls rte_eal_cleanup(). No DPDK call may follow, and every
//      further Eal::init returns kState.
class Eal {
 public:
  // Initialises EAL. Errors:
  //   kInvalidArgument  `options` failed validation (EAL untouched; init may be retried);
  //   kState            an Eal is live, was cleaned up, or an earlier init failed;
  //   kDevice           rte_eal_init failed; the message has rte_strerror(rte_errno) and the
  //                     argv, and EAL's own log line on stderr says which argument or step.
  // Never calls rte_exit().
  static Result<Eal> init(const EalOptions& options, std::string_view program_name = "pmdnetd");

  Eal(Eal&& other) noexcept;
  Eal& operator=(Eal&& other) noexcept;
  Eal(const Eal&) = delete;
  Eal& operator=(const Eal&) = delete;
  ~Eal();

 private:
  Eal() = default;
  void reset() noexcept;

  bool owns_ = false;
};

}  // namespace pmdnet
