#include "altovirt/boot/vmlinux.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <system_error>

#include "altovirt/boot/layout.h"

namespace altovirt::boot {

uint64_t Vmlinux::start() const {
  uint64_t s = UINT64_MAX;
  for (auto& seg : segments) s = std::min(s, seg.paddr);
  return segments.empty() ? 0 : s;
}

uint64_t Vmlinux::end() const {
  uint64_t e = 0;
  for (auto& seg : segments) e = std::max(e, seg.paddr + seg.memsz);
  return e;
}

bool is_elf(std::span<const uint8_t> file) {
  return file.size() >= SELFMAG && std::memcmp(file.data(), ELFMAG, SELFMAG) == 0;
}

Result<Vmlinux> parse_vmlinux(std::span<const uint8_t> file, std::string_view what) {
  Elf64_Ehdr eh;
  if (file.size() < sizeof eh || !is_elf(file)) return fail("{} is not an ELF file", what);
  std::memcpy(&eh, file.data(), sizeof eh);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
    return fail("{} is an ELF file but not a 64-bit x86-64 one", what);
  if (eh.e_type != ET_EXEC) return fail("{} is an ELF file but not an executable (a kernel vmlinux is one)", what);
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
      eh.e_phoff > file.size() || uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > file.size() - eh.e_phoff)
    return fail("{}: the ELF program headers are missing or run past the end of the file", what);
  Vmlinux k;
  k.entry = eh.e_entry;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, file.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz || ph.p_offset > file.size() || ph.p_filesz > file.size() - ph.p_offset)
      return fail("{}: segment {} runs past the end of the file", what, i);
    if (ph.p_paddr < kKernelAddress || ph.p_paddr + ph.p_memsz < ph.p_paddr)
      return fail("{}: segment {} loads at {:#x}, below 1 MiB; is this a Linux vmlinux?", what, i, ph.p_paddr);
    k.segments.push_back(ElfSegment{ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz});
  }
  if (k.segments.empty()) return fail("{}: the ELF file has nothing to load", what);
  bool entry_loaded = std::ranges::any_of(
      k.segments, [&](const ElfSegment& s) { return k.entry >= s.paddr && k.entry < s.paddr + s.memsz; });
  if (!entry_loaded)
    return fail("{}: the entry point {:#x} is not a physical address inside the kernel; is this a Linux vmlinux?",
                what, k.entry);
  return k;
}

namespace {
constexpr size_t kPage = 4096;

bool all_zero(const uint8_t* p, size_t n) {
  static const uint8_t kZero[kPage] = {};
  return std::memcmp(p, kZero, n) == 0;
}

// One segment's pages: where they go in guest RAM, and where the file's part of them is.
struct SegmentPages {
  std::span<uint8_t> dst;
  const uint8_t* src;
  size_t filesz;
};

// Copies src over dst in 16-byte pieces where they differ, so that a page the last boot changed in
// a few places (alternatives and static keys patched into kernel text, data the kernel updated)
// takes a few writes instead of a whole page's. In the test host 16-byte pieces (one SSE store
// each) took 0.30-0.33 s, 64-byte ones 0.35-0.36 s and whole pages 0.48 s (the reboot's load).
void write_changed_pieces(uint8_t* dst, const uint8_t* src, size_t n) {
  constexpr size_t kPiece = 16;
  for (size_t i = 0; i < n; i += kPiece) {
    size_t m = std::min(kPiece, n - i);
    if (std::memcmp(dst + i, src + i, m) != 0) std::memcpy(dst + i, src + i, m);
  }
}

// Loads the pages of all segments, or with `ways` > 1 one share of them: counting pages over all
// segments, share `part` takes the runs of kRun pages numbered part, part + ways, part + 2 ways, ...
// Shares touch disjoint pages, so threads may load them at once.
constexpr size_t kRun = 64;
VmlinuxLoad load_pages(const std::vector<SegmentPages>& segs, bool ram_fresh, unsigned part = 0, unsigned ways = 1) {
  VmlinuxLoad c;
  size_t index = 0;
  for (const SegmentPages& s : segs) {
    for (size_t off = 0; off < s.dst.size(); off += kPage) {
      if ((index++ / kRun) % ways != part) continue;
      size_t n = std::min(kPage, s.dst.size() - off);
      size_t from_file = off < s.filesz ? std::min(n, s.filesz - off) : 0;
      uint8_t* dst = s.dst.data() + off;
      const uint8_t* src = s.src + off;
      if (from_file > 0 && !all_zero(src, from_file)) {
        if (!ram_fresh && std::memcmp(dst, src, from_file) == 0 && all_zero(dst + from_file, n - from_file)) {
          ++c.unchanged;
          continue;
        }
        if (ram_fresh) std::memcpy(dst, src, from_file);
        else write_changed_pieces(dst, src, from_file);
        if (from_file < n) std::memset(dst + from_file, 0, n - from_file);
        ++c.written;
      } else if (!all_zero(dst, n)) {
        std::memset(dst, 0, n);
        ++c.written;
      }
    }
  }
  return c;
}
}  // namespace

// Page by page, and a page that is zero in the file is written only when guest RAM there is not
// zero already: an x86 vmlinux carries its .bss, .brk and .init.scratch as zeros in the file (27 of
// the 57 MiB Debian 6.1 loads), and on fresh RAM, which reads as zero without being allocated,
// copying them only allocated and wrote pages the guest gets zeroed anyway (about half the load
// time in the test host). After a guest reboot RAM holds the old boot's data: a page is compared
// before it is written, since most of the kernel's text and read-only data still hold what the last
// boot loaded, and reading two pages costs less than writing one (in the test host 4,201 of the
// Debian kernel's 7,624 non-zero pages were unchanged after a boot, and the reboot's load took
// 0.50-0.54 s instead of 0.58-0.64 s). A page that did change is written only in the pieces that
// differ (write_changed_pieces; about a third of them): in the test host, under TCG, every store to
// a page the guest ran code from is slow (QEMU drops the code translated from it), and the whole
// load went from 0.50 s to about 0.3 s, and with a second thread (below) to about 0.27 s.
Result<VmlinuxLoad> load_vmlinux(const Vmlinux& kernel, std::span<const uint8_t> file, const kvm::GuestMemory& memory,
                                 bool ram_fresh) {
  std::vector<SegmentPages> segs;
  for (auto& s : kernel.segments) {
    AV_TRY_ASSIGN(std::span<uint8_t> dst, memory.slice(s.paddr, s.memsz));
    segs.push_back({dst, file.data() + s.offset, s.filesz});
  }
  if (ram_fresh) return load_pages(segs, ram_fresh);
  // A reload in two threads, each taking every other run of 64 pages: in the test host (TCG, two
  // CPUs) the reboot's load took 0.26-0.29 s instead of 0.32-0.37 s (9 reboots each), since the
  // slow stores to pages the guest ran code from are QEMU's work per page, not memory bandwidth.
  // A fresh load is a plain copy, which a second thread did not speed up.
  std::future<VmlinuxLoad> other;
  try {
    other = std::async(std::launch::async, [&] { return load_pages(segs, false, 1, 2); });
  } catch (const std::system_error&) {
    // No second thread to be had (a resource limit): this one loads both shares.
  }
  VmlinuxLoad c = load_pages(segs, false, 0, 2);
  VmlinuxLoad o = other.valid() ? other.get() : load_pages(segs, false, 1, 2);
  c.written += o.written;
  c.unchanged += o.unchanged;
  return c;
}

}  // namespace altovirt::boot
