#include "altovirt/host/hugepages.h"

#include <linux/magic.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstring>

#include "altovirt/base/files.h"
#include "altovirt/base/parse.h"

namespace altovirt::host {

Result<MemPath> mem_path_info(const std::string& dir, std::string_view option) {
  struct statfs st {};
  if (::statfs(dir.c_str(), &st) != 0)
    return fail("{}: cannot use {}: {} (give a mounted hugetlbfs directory, e.g. /dev/hugepages)", option, dir,
                std::strerror(errno));
  MemPath p;
  p.hugetlbfs = static_cast<unsigned long>(st.f_type) == HUGETLBFS_MAGIC;
  p.page_size = p.hugetlbfs ? static_cast<uint64_t>(st.f_bsize) : 4096;
  if (p.page_size == 0 || (p.page_size & (p.page_size - 1)) != 0)
    return fail("{}: {} reports page size {}, not a power of two", option, dir, p.page_size);
  return p;
}

std::string page_size_name(uint64_t bytes) {
  if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0) return fmt::format("{} GiB", bytes >> 30);
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes % 1024 == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} bytes", bytes);
}

static std::string pool_dir(uint64_t page_size, const std::string& sysfs_root) {
  return fmt::format("{}/kernel/mm/hugepages/hugepages-{}kB", sysfs_root, page_size / 1024);
}

Result<HugepagePool> read_hugepage_pool(uint64_t page_size, const std::string& sysfs_root) {
  std::string dir = pool_dir(page_size, sysfs_root);
  if (!path_exists(dir))
    return fail("this host has no {} hugepages ({} is missing)", page_size_name(page_size), dir);
  HugepagePool p;
  p.page_size = page_size;
  auto field = [&](const char* name) -> Result<uint64_t> {
    AV_TRY_ASSIGN(std::string text, read_trimmed(dir + "/" + name));
    return parse_uint(text, dir + "/" + name);
  };
  AV_TRY_ASSIGN(p.total, field("nr_hugepages"));
  AV_TRY_ASSIGN(p.free, field("free_hugepages"));
  AV_TRY_ASSIGN(p.reserved, field("resv_hugepages"));
  return p;
}

Status check_hugepages_free(uint64_t page_size, uint64_t bytes, std::string_view option, const std::string& sysfs_root) {
  auto read = read_hugepage_pool(page_size, sysfs_root);
  if (!read) return std::unexpected(read.error().context(option));
  HugepagePool pool = *read;
  uint64_t needed = (bytes + page_size - 1) / page_size;
  if (needed <= pool.available()) return ok();
  std::string how =
      page_size >= (1ull << 30)
          ? fmt::format("reserve {} GiB pages at boot with hugepagesz=1G hugepages={} on the kernel command line (or, "
                        "if memory is not yet fragmented, echo {} > {}/nr_hugepages)",
                        page_size >> 30, pool.total + needed - pool.available(), pool.total + needed - pool.available(),
                        pool_dir(page_size, sysfs_root))
          : fmt::format("reserve more with: echo {} > {}/nr_hugepages", pool.total + needed - pool.available(),
                        pool_dir(page_size, sysfs_root));
  return fail("{}: guest RAM of {} MiB needs {} free {} hugepages, but only {} are free ({} total, {} reserved by "
              "other mappings); {}",
              option, bytes >> 20, needed, page_size_name(page_size), pool.available(), pool.total, pool.reserved, how);
}

}  // namespace altovirt::host
