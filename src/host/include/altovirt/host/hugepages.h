// Hugepage facts about the host, read before guest RAM is backed by a file on a hugetlbfs mount
// (-object memory-backend-file,mem-path=DIR / -mem-path DIR), so that a request the host cannot
// satisfy fails with a message saying what to reserve, before anything starts.
//
// The kernel's interfaces (Documentation/admin-guide/mm/hugetlbpage.rst):
//  - statfs(2) on a hugetlbfs mount reports f_type HUGETLBFS_MAGIC and f_bsize = its page size;
//  - /sys/kernel/mm/hugepages/hugepages-<N>kB/{nr,free,resv}_hugepages per page size: free counts
//    pages not yet faulted in, including those already reserved by a mapping (resv), so what a new
//    mapping can get is free - resv.
//
// Threading: stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "altovirt/base/error.h"

namespace altovirt::host {

struct MemPath {
  uint64_t page_size = 0;  // bytes; 4096 (the base page) when not hugetlbfs
  bool hugetlbfs = false;
};

// statfs(2) of `dir`; `option` names the option in errors (e.g. "-mem-path /dev/hugepages").
Result<MemPath> mem_path_info(const std::string& dir, std::string_view option);

struct HugepagePool {
  uint64_t page_size = 0;
  uint64_t total = 0, free = 0, reserved = 0;
  uint64_t available() const { return free > reserved ? free - reserved : 0; }
};

// The pool of `page_size` hugepages under `sysfs_root` (normally /sys; tests pass a fake tree).
Result<HugepagePool> read_hugepage_pool(uint64_t page_size, const std::string& sysfs_root = "/sys");

// "2 MiB", "1 GiB", "64 KiB".
std::string page_size_name(uint64_t bytes);

// Checks that `bytes` of guest RAM fit in the free `page_size` hugepages. The error names `option`,
// the pages needed and free, and how to reserve more.
Status check_hugepages_free(uint64_t page_size, uint64_t bytes, std::string_view option,
                            const std::string& sysfs_root = "/sys");

}  // namespace altovirt::host
