// Recovery from faults in guest memory. A front-end can truncate the file behind a memory region
// after pmdnet mapped it (SET_MEM_TABLE was checked against fstat then; a memfd without seals can
// still shrink), and the next access to the missing part raises SIGBUS, on a worker, on the
// control thread or on rte_vhost's. The handler here finds the registered mapping the address
// lies in, replaces the whole mapping with private anonymous memory (reads then see zeros, writes
// reach nobody) and marks its owner faulted; the access is retried and succeeds. The owner's
// control thread sees the mark and breaks that port; the daemon and every other port go on.
// A SIGBUS outside every registered mapping gets the previous disposition (the default: a core).
#pragma once

#include <cstdint>
#include <span>

namespace pmdnet::vhost_user {

// Installs the SIGBUS handler once per process; later calls do nothing.
void install_guest_fault_handler();

// Registers the mappings of one owner (a vhost-user session), replacing what it registered
// before. False if the process-wide table (1024 mappings) is full; the mappings are then not
// protected. Control thread only (any one thread at a time per owner).
bool register_guest_mappings(const void* owner, std::span<const std::span<uint8_t>> mappings);
// Forgets the owner's mappings; call before they are unmapped.
void unregister_guest_mappings(const void* owner);
// Whether a fault hit one of the owner's registered mappings since they were registered.
bool guest_memory_faulted(const void* owner) noexcept;
// Faults recovered in this process.
uint64_t guest_faults_recovered() noexcept;

}  // namespace pmdnet::vhost_user
