// GuestMemory: the guest's RAM, as a list of regions (guest physical address, size, host mapping).
// The regions are fixed once built; their contents are the guest's and change under any thread.
// The list is what KVM memory slots are made from and what the VFIO layer DMA-maps (IOVA = GPA).
//
// Threading: add() only while building the VM, single-threaded; after that every const method is
// safe from any thread (accesses to the bytes race with the guest, as they do on real hardware).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/base/mapping.h"

namespace altovirt::kvm {

struct RamRegion {
  uint64_t gpa;
  uint64_t size;
  uint8_t* host;
};

// A file that backs all of guest RAM (-object memory-backend-file / -mem-path), e.g. on a hugetlbfs
// mount. The caller has checked the directory and the free hugepages (host::check_hugepages_free).
struct RamFile {
  std::string dir;
  uint64_t page_size = 4096;  // every region's size and file offset is a multiple of it
  bool share = false;         // MAP_SHARED (share=on), else MAP_PRIVATE as QEMU does
  bool prealloc = false;      // fault every page in at map time (MAP_POPULATE)
  std::string option;         // the option as given, for messages
};

class GuestMemory {
 public:
  // Without use_file(): anonymous memory (MAP_NORESERVE: untouched pages cost nothing) for
  // [gpa, gpa + size). After it: the next `size` bytes of the file.
  Status add(uint64_t gpa, uint64_t size, std::string_view what);
  // Creates an unlinked file of `total` bytes in f.dir (O_TMPFILE, or mkstemp + unlink where the file
  // system lacks O_TMPFILE), from which later add() calls map their regions at successive offsets.
  // The file lives as long as the GuestMemory (fd and mappings), and no name is ever left behind.
  Status use_file(const RamFile& f, uint64_t total);
  // Anonymous RAM, but faulted in at map time (-mem-prealloc without -mem-path).
  void prealloc_anonymous() { prealloc_anonymous_ = true; }

  const std::vector<RamRegion>& regions() const { return regions_; }
  uint64_t total() const;
  // The host bytes of [gpa, gpa + len), which must lie inside one region.
  Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const;
  Status write(uint64_t gpa, std::span<const uint8_t> data) const;

 private:
  std::vector<RamRegion> regions_;
  std::vector<Mapping> mappings_;
  UniqueFd file_;
  RamFile file_spec_;
  uint64_t file_size_ = 0, file_used_ = 0;
  bool prealloc_anonymous_ = false;
};

}  // namespace altovirt::kvm
