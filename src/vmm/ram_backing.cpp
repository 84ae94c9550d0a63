#include "altovirt/vmm/ram_backing.h"

#include "altovirt/base/log.h"
#include "altovirt/host/hugepages.h"

namespace altovirt::vmm {

Status prepare_ram_backing(kvm::GuestMemory& memory, const RamBacking& b, uint64_t ram, const std::string& sysfs_root) {
  if (b.mem_path.empty()) {
    memory.prealloc_anonymous();
    log::info("vmm", "guest RAM: anonymous memory, preallocated ({})", b.option);
    return ok();
  }
  AV_TRY_ASSIGN(host::MemPath path, host::mem_path_info(b.mem_path, b.option));
  if (path.hugetlbfs) {
    // hugetlbfs maps and truncates only in whole pages (Documentation/admin-guide/mm/hugetlbpage.rst).
    if (ram % path.page_size != 0)
      return fail("{}: guest RAM of {} MiB is not a multiple of the {} pages of {}: give a size that is (e.g. {} MiB)",
                  b.option, ram >> 20, host::page_size_name(path.page_size), b.mem_path,
                  ((ram + path.page_size - 1) / path.page_size * path.page_size) >> 20);
    AV_TRY(host::check_hugepages_free(path.page_size, ram, b.option, sysfs_root));
  }
  AV_TRY(memory.use_file(kvm::RamFile{b.mem_path, path.page_size, b.share, b.prealloc, b.option}, ram));
  log::info("vmm", "guest RAM: {} MiB in {} ({}{} pages, {}{})", ram >> 20, b.mem_path,
            path.hugetlbfs ? "hugetlbfs, " : "", host::page_size_name(path.page_size),
            b.share ? "shared" : "private", b.prealloc ? ", preallocated" : "");
  return ok();
}

}  // namespace altovirt::vmm
