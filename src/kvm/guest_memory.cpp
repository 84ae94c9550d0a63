#include "altovirt/kvm/guest_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14 UAPI, missing from older libc headers
#endif

namespace altovirt::kvm {

Status GuestMemory::add(uint64_t gpa, uint64_t size, std::string_view what) {
  for (auto& r : regions_)
    if (gpa < r.gpa + r.size && r.gpa < gpa + size)
      return fail("guest RAM {:#x} (+{:#x}) overlaps {:#x} (+{:#x})", gpa, size, r.gpa, r.size);
  if (file_) {
    const RamFile& f = file_spec_;
    if (size % f.page_size != 0 || size > file_size_ - file_used_)
      return fail("{}: {} of {} MiB is not a multiple of the {} KiB page size of {} or exceeds the file", f.option, what,
                  size >> 20, f.page_size >> 10, f.dir);
    int flags = (f.share ? MAP_SHARED : MAP_PRIVATE) | (f.prealloc ? MAP_POPULATE : 0);
    auto m = Mapping::map_fd(file_.get(), size, PROT_READ | PROT_WRITE, flags, static_cast<off_t>(file_used_), what);
    if (!m) return std::unexpected(m.error().context(fmt::format("{}: {} in {}", f.option, what, f.dir)));
    // Only for a non-hugetlbfs file (4 KiB pages): hugetlbfs pages are huge already.
    if (f.page_size == 4096) (void)::madvise(m->addr(), size, MADV_HUGEPAGE);
    file_used_ += size;
    regions_.push_back({gpa, size, m->bytes()});
    mappings_.push_back(std::move(*m));
    return ok();
  }
  // 2 MiB aligned and marked for transparent huge pages (as QEMU does): fewer page faults when the
  // guest first touches its RAM and when VFIO pins it, and 2 MiB entries in KVM's nested page
  // tables. Hosts with THP off ("never") ignore the advice.
  AV_TRY_ASSIGN(Mapping m, Mapping::anonymous_aligned(size, 2 << 20, MAP_NORESERVE, what));
  (void)::madvise(m.addr(), size, MADV_HUGEPAGE);
  // MADV_POPULATE_WRITE (Linux 5.14) faults the pages in after THP advice, so they come huge.
  if (prealloc_anonymous_ && ::madvise(m.addr(), size, MADV_POPULATE_WRITE) != 0)
    for (uint64_t off = 0; off < size; off += 4096) m.bytes()[off] = 0;
  regions_.push_back({gpa, size, m.bytes()});
  mappings_.push_back(std::move(m));
  return ok();
}

Status GuestMemory::use_file(const RamFile& f, uint64_t total) {
  if (!regions_.empty()) return fail("{}: guest RAM is already allocated", f.option);
  if (f.page_size == 0 || total % f.page_size != 0)
    return fail("{}: guest RAM of {} MiB is not a multiple of the {} KiB page size of {}: give -m a multiple of it",
                f.option, total >> 20, f.page_size >> 10, f.dir);
  // No name in the directory, ever: a crash cannot leak hugepages held by a forgotten file.
  UniqueFd fd(::open(f.dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) {
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
      return fail_errno(errno, "{}: creating the guest RAM file in {}", f.option, f.dir);
    std::string name = f.dir + "/altovirt-ram-XXXXXX";
    fd = UniqueFd(::mkostemp(name.data(), O_CLOEXEC));
    if (!fd) return fail_errno(errno, "{}: creating the guest RAM file in {}", f.option, f.dir);
    ::unlink(name.c_str());
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(total)) != 0)
    return fail_errno(errno, "{}: sizing the guest RAM file in {} to {} MiB", f.option, f.dir, total >> 20);
  file_ = std::move(fd);
  file_spec_ = f;
  file_size_ = total;
  file_used_ = 0;
  return ok();
}

uint64_t GuestMemory::total() const {
  uint64_t t = 0;
  for (auto& r : regions_) t += r.size;
  return t;
}

Result<std::span<uint8_t>> GuestMemory::slice(uint64_t gpa, uint64_t len) const {
  for (auto& r : regions_)
    if (gpa >= r.gpa && len <= r.size && gpa - r.gpa <= r.size - len)
      return std::span<uint8_t>(r.host + (gpa - r.gpa), len);
  return fail("guest range {:#x} (+{:#x}) is not inside guest RAM", gpa, len);
}

Status GuestMemory::write(uint64_t gpa, std::span<const uint8_t> data) const {
  AV_TRY_ASSIGN(auto dst, slice(gpa, data.size()));
  std::memcpy(dst.data(), data.data(), data.size());
  return ok();
}

}  // namespace altovirt::kvm
