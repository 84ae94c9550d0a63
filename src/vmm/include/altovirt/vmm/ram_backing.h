// Guest RAM backed by a file (-object memory-backend-file / -mem-path) or preallocated
// (-mem-prealloc): checks the host can hold it, then sets up the GuestMemory before any region is
// mapped, so that a request the host cannot satisfy fails before anything starts.
//
// Threading: called once while the machine is built, single-threaded.
#pragma once

#include <cstdint>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/kvm/guest_memory.h"
#include "altovirt/vmm/options.h"

namespace altovirt::vmm {

// For a hugetlbfs mem_path: `ram` must be a multiple of its page size and fit in the free pages
// (read under `sysfs_root`). A directory on another file system is allowed, as QEMU allows (4 KiB
// pages, no pool to check).
Status prepare_ram_backing(kvm::GuestMemory& memory, const RamBacking& backing, uint64_t ram,
                           const std::string& sysfs_root = "/sys");

}  // namespace altovirt::vmm
