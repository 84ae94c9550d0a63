// The vmlinux (ELF) loader and the kernel cache: a synthetic ELF kernel, compressed with liblzma and
// zlib into the payload of a synthetic bzImage, is extracted, cached, found again, and loaded into a
// guest memory at its physical addresses.
#include <elf.h>
#include <gtest/gtest.h>
#include <lzma.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "altovirt/base/files.h"
#include "altovirt/boot/bzimage.h"
#include "altovirt/boot/kernel_cache.h"
#include "altovirt/boot/vmlinux.h"
#include "altovirt/kvm/guest_memory.h"

using namespace altovirt;
using namespace altovirt::boot;

namespace {

// An ELF64 executable's header at the start of `f`, its `phnum` program headers right after it.
void put_elf_header(std::vector<uint8_t>& f, uint16_t machine, uint64_t entry, uint16_t phnum) {
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = machine;
  eh.e_version = EV_CURRENT;
  eh.e_entry = entry;
  eh.e_phoff = sizeof eh;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = phnum;
  std::memcpy(f.data(), &eh, sizeof eh);
}

// An x86-64 executable with two PT_LOAD segments at 16 MiB (text, entry at its start + 0x10) and
// 16 MiB + 64 KiB (data + 4 KiB of BSS), like a real vmlinux's layout in miniature.
std::vector<uint8_t> fake_vmlinux(uint16_t machine = EM_X86_64, uint64_t entry = 16 * MiB + 0x10) {
  const size_t text = 0x1000, data = 0x800;
  std::vector<uint8_t> f(0x1000 + text + data, 0);
  put_elf_header(f, machine, entry, 3);
  Elf64_Phdr ph[3]{};
  ph[0].p_type = PT_LOAD;
  ph[0].p_offset = 0x1000;
  ph[0].p_vaddr = 0xffffffff81000000;
  ph[0].p_paddr = 16 * MiB;
  ph[0].p_filesz = ph[0].p_memsz = text;
  ph[1].p_type = PT_NOTE;  // not loaded
  ph[1].p_paddr = 0;
  ph[2].p_type = PT_LOAD;
  ph[2].p_offset = 0x1000 + text;
  ph[2].p_vaddr = 0xffffffff81010000;
  ph[2].p_paddr = 16 * MiB + 0x10000;
  ph[2].p_filesz = data;
  ph[2].p_memsz = data + 0x1000;
  std::memcpy(f.data() + sizeof(Elf64_Ehdr), ph, sizeof ph);
  std::memset(f.data() + 0x1000, 0xc3, text);        // text: ret
  std::memset(f.data() + 0x1000 + text, 0x5a, data);  // data
  return f;
}

// One PT_LOAD of `text` bytes at 16 MiB followed by 1 MiB of BSS: each page of the file starts with
// its number (so a page loaded to the wrong place shows), every fifth page is zero in the file.
std::vector<uint8_t> big_vmlinux(size_t text) {
  std::vector<uint8_t> f(0x1000 + text, 0);
  put_elf_header(f, EM_X86_64, 16 * MiB, 1);
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_offset = 0x1000;
  ph.p_vaddr = 0xffffffff81000000;
  ph.p_paddr = 16 * MiB;
  ph.p_filesz = text;
  ph.p_memsz = text + 1 * MiB;
  std::memcpy(f.data() + sizeof(Elf64_Ehdr), &ph, sizeof ph);
  for (uint64_t page = 0; page < text / 4096; ++page) {
    if (page % 5 == 4) continue;
    uint8_t* p = f.data() + 0x1000 + page * 4096;
    std::memset(p, 0x90, 4096);
    uint64_t tag = page + 1;
    std::memcpy(p, &tag, sizeof tag);
  }
  return f;
}

std::vector<uint8_t> xz(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(in.size() + 4096);
  size_t pos = 0;
  EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, in.data(), in.size(), out.data(), &pos, out.size()),
            LZMA_OK);
  out.resize(pos);
  return out;
}

std::vector<uint8_t> gz(const std::vector<uint8_t>& in) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&z, in.size()) + 64);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A bzImage (protocol 2.15) whose protected-mode part is 0x200 bytes of stub followed by `payload`
// and the 4-byte uncompressed size the kernel's build appends.
BzImage fake_bzimage(const std::vector<uint8_t>& payload, uint32_t size) {
  BzImage img;
  img.header.boot_flag = 0xaa55;
  img.header.header = 0x53726448;
  img.header.version = 0x020f;
  img.header.loadflags = LOADED_HIGH;
  img.header.xloadflags = XLF_KERNEL_64;
  img.header.init_size = 1 * MiB;
  img.header.initrd_addr_max = 0x7fffffff;
  img.header.cmdline_size = 2047;
  img.kernel.assign(0x200, 0x90);
  img.kernel.insert(img.kernel.end(), payload.begin(), payload.end());
  for (int i = 0; i < 4; ++i) img.kernel.push_back(static_cast<uint8_t>(size >> (8 * i)));
  img.header.payload_offset = 0x200;
  img.header.payload_length = static_cast<uint32_t>(payload.size() + 4);
  return img;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/altovirt-kcache-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST(Vmlinux, ParsesLoadSegmentsAndEntry) {
  auto f = fake_vmlinux();
  ASSERT_TRUE(is_elf(f));
  auto k = parse_vmlinux(f, "k");
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_EQ(k->entry, 16 * MiB + 0x10);
  ASSERT_EQ(k->segments.size(), 2u);  // the PT_NOTE is skipped
  EXPECT_EQ(k->start(), 16 * MiB);
  EXPECT_EQ(k->end(), 16 * MiB + 0x10000 + 0x1800);
}

TEST(Vmlinux, RefusesWhatIsNotAnX86Kernel) {
  EXPECT_FALSE(parse_vmlinux(std::vector<uint8_t>(4096, 0), "k"));
  auto arm = parse_vmlinux(fake_vmlinux(EM_AARCH64), "-kernel 'Image'");
  ASSERT_FALSE(arm);
  EXPECT_NE(arm.error().message().find("-kernel 'Image'"), std::string::npos);
  EXPECT_NE(arm.error().message().find("x86-64"), std::string::npos);
  auto entry = parse_vmlinux(fake_vmlinux(EM_X86_64, 0xffffffff81000000), "k");
  ASSERT_FALSE(entry);
  EXPECT_NE(entry.error().message().find("entry point"), std::string::npos);
  auto truncated = fake_vmlinux();
  truncated.resize(0x1400);  // the data segment runs past the end
  EXPECT_FALSE(parse_vmlinux(truncated, "k"));
}

// A page that is zero in the file ends zero in RAM whatever RAM held (after a reboot it held the
// last boot's data); on fresh RAM it is skipped, which only shows in the time it saves.
TEST(Vmlinux, APageZeroInTheFileIsZeroInRamOverOldData) {
  auto f = fake_vmlinux();
  std::memset(f.data() + 0x1000, 0, 0x1000);  // the text page: zero in the file
  f[0x1000 + 0x800] = 0;
  auto k = parse_vmlinux(f, "k");
  ASSERT_TRUE(k);
  kvm::GuestMemory dirty;
  ASSERT_TRUE(dirty.add(0, 32 * MiB, "ram"));
  std::memset(dirty.slice(0, 32 * MiB)->data(), 0xee, 32 * MiB);
  ASSERT_TRUE(load_vmlinux(*k, f, dirty));
  auto page = dirty.slice(16 * MiB, 0x1000);
  EXPECT_TRUE(std::all_of(page->begin(), page->end(), [](uint8_t b) { return b == 0; }));
  EXPECT_EQ((*dirty.slice(16 * MiB + 0x10000, 1))[0], 0x5a);  // the data segment still copied
  kvm::GuestMemory fresh;
  ASSERT_TRUE(fresh.add(0, 32 * MiB, "ram"));
  ASSERT_TRUE(load_vmlinux(*k, f, fresh));
  auto fresh_page = fresh.slice(16 * MiB, 0x1000);
  EXPECT_TRUE(std::all_of(fresh_page->begin(), fresh_page->end(), [](uint8_t b) { return b == 0; }));
  EXPECT_EQ((*fresh.slice(16 * MiB + 0x10000 + 0x7ff, 1))[0], 0x5a);
}

TEST(Vmlinux, LoadsSegmentsAtPhysicalAddressesAndZeroesBss) {
  kvm::GuestMemory mem;
  ASSERT_TRUE(mem.add(0, 32 * MiB, "ram"));
  auto all = mem.slice(0, 32 * MiB);
  std::memset(all->data(), 0xee, all->size());  // not a fresh mapping: BSS must be cleared
  auto f = fake_vmlinux();
  auto k = parse_vmlinux(f, "k");
  ASSERT_TRUE(load_vmlinux(*k, f, mem));
  auto text = mem.slice(16 * MiB, 0x1000);
  EXPECT_EQ((*text)[0], 0xc3);
  EXPECT_EQ((*text)[0xfff], 0xc3);
  auto data = mem.slice(16 * MiB + 0x10000, 0x1800);
  EXPECT_EQ((*data)[0x7ff], 0x5a);
  EXPECT_EQ((*data)[0x800], 0);    // BSS
  EXPECT_EQ((*data)[0x17ff], 0);
  EXPECT_EQ((*mem.slice(16 * MiB + 0x1000, 1))[0], 0xee);  // between segments: untouched
}

TEST(KernelCache, ExtractsXzAndGzipPayloads) {
  auto elf = fake_vmlinux();
  for (auto& payload : {xz(elf), gz(elf)}) {
    auto out = extract_vmlinux(fake_bzimage(payload, static_cast<uint32_t>(elf.size())), "k");
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_EQ(*out, elf);
  }
  // A wrong size hint changes nothing: it only sizes the first buffer.
  auto out = extract_vmlinux(fake_bzimage(xz(elf), 7), "k");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, elf);
}

TEST(KernelCache, NamesWhatItCannotExtract) {
  auto zstd_like = extract_vmlinux(fake_bzimage({0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4}, 100), "-kernel 'k'");
  ASSERT_FALSE(zstd_like);
  EXPECT_NE(zstd_like.error().message().find("xz and gzip"), std::string::npos);
  auto broken = xz(fake_vmlinux());
  broken[broken.size() / 2] ^= 0xff;
  EXPECT_FALSE(extract_vmlinux(fake_bzimage(broken, 0), "k"));
  auto not_elf = extract_vmlinux(fake_bzimage(gz(std::vector<uint8_t>(5000, 1)), 5000), "k");
  ASSERT_FALSE(not_elf);
  EXPECT_NE(not_elf.error().message().find("ELF"), std::string::npos);
  BzImage old = fake_bzimage(gz(fake_vmlinux()), 0);
  old.header.version = 0x0206;
  auto o = extract_vmlinux(old, "k");
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message().find("2.08"), std::string::npos);
}

TEST(KernelCache, StoresOnceThenMapsTheEntry) {
  TempDir dir;
  auto elf = fake_vmlinux();
  auto img = fake_bzimage(xz(elf), static_cast<uint32_t>(elf.size()));
  std::ofstream(dir.path() + "/a-file") << "x";  // a directory cannot be made under a file
  KernelCache cache({dir.path() + "/a-file/sub", dir.path() + "/kernels"});
  bool hit = true;
  auto first = cache.vmlinux(img, "k", &hit);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_FALSE(hit);
  std::string entry = dir.path() + "/kernels/" + KernelCache::entry_name(img);
  ASSERT_TRUE(std::filesystem::exists(entry));
  EXPECT_EQ(std::filesystem::file_size(entry), elf.size());
  auto second = cache.vmlinux(img, "k", &hit);
  ASSERT_TRUE(second);
  EXPECT_TRUE(hit);
  EXPECT_TRUE(std::equal(second->span().begin(), second->span().end(), elf.begin(), elf.end()));
  // Another kernel (a different payload) gets another entry.
  auto img2 = fake_bzimage(gz(elf), static_cast<uint32_t>(elf.size()));
  EXPECT_NE(KernelCache::entry_name(img2), KernelCache::entry_name(img));
}

TEST(KernelCache, ReplacesADamagedEntry) {
  TempDir dir;
  auto elf = fake_vmlinux();
  auto img = fake_bzimage(gz(elf), static_cast<uint32_t>(elf.size()));
  std::string entry = dir.path() + "/" + KernelCache::entry_name(img);
  std::ofstream(entry) << "truncated";
  KernelCache cache({dir.path()});
  bool hit = true;
  auto k = cache.vmlinux(img, "k", &hit);
  ASSERT_TRUE(k);
  EXPECT_FALSE(hit);
  EXPECT_EQ(std::filesystem::file_size(entry), elf.size());
}

TEST(KernelCache, WorksWithoutAWritableDirectory) {
  auto elf = fake_vmlinux();
  KernelCache cache({});
  bool hit = true;
  auto k = cache.vmlinux(fake_bzimage(xz(elf), 0), "k", &hit);
  ASSERT_TRUE(k);
  EXPECT_FALSE(hit);
  EXPECT_EQ(k->span().size(), elf.size());
}

// A bzImage file for `img`: 5 sectors of real-mode part with the header at 0x1f1, then the kernel.
static std::vector<uint8_t> bzimage_file(const BzImage& img) {
  std::vector<uint8_t> file(5 * 512, 0);
  std::memcpy(file.data() + 0x1f1, &img.header, sizeof img.header);
  file[0x201] = 0x66;  // header length: up to 0x268
  file.insert(file.end(), img.kernel.begin(), img.kernel.end());
  file.resize(std::max<size_t>(file.size(), 0x1000));
  return file;
}

// Writes (or replaces) `path` with `bytes`; returns the path.
static std::string put_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  return path;
}

TEST(KernelCache, BootsAnExtractedKernelAtItsEntry) {
  TempDir dir;
  auto elf = fake_vmlinux();
  BzImage img = fake_bzimage(xz(elf), static_cast<uint32_t>(elf.size()));
  std::string path = put_file(dir.path() + "/bzImage", bzimage_file(img));
  auto layout = MemoryLayout::make(64 * MiB, 40);
  ASSERT_TRUE(layout);
  kvm::GuestMemory mem;
  ASSERT_TRUE(mem.add(0, 64 * MiB, "ram"));
  KernelFiles files;
  files.kernel = path;
  files.cmdline = "console=ttyS0";
  files.cache_dirs = {dir.path() + "/cache"};
  auto entry = load_linux(files, *layout, mem);
  ASSERT_TRUE(entry) << entry.error().message();
  EXPECT_EQ(*entry, 16 * MiB + 0x10);
  EXPECT_EQ((*mem.slice(16 * MiB, 1))[0], 0xc3);
  files.extract = false;  // through the bzImage's decompressor: the 64-bit entry at 1 MiB + 0x200
  auto legacy = load_linux(files, *layout, mem);
  ASSERT_TRUE(legacy) << legacy.error().message();
  EXPECT_EQ(*legacy, kKernelAddress + 0x200);
  // A bare vmlinux boots at its entry too.
  std::string vm = dir.path() + "/vmlinux";
  std::ofstream(vm, std::ios::binary).write(reinterpret_cast<const char*>(elf.data()), static_cast<long>(elf.size()));
  files.kernel = vm;
  auto bare = load_linux(files, *layout, mem);
  ASSERT_TRUE(bare) << bare.error().message();
  EXPECT_EQ(*bare, 16 * MiB + 0x10);
  EXPECT_TRUE(check_kernel_file(vm, "-kernel"));
  EXPECT_TRUE(check_kernel_file(path, "-kernel"));
}

// After one boot, the cache knows the bzImage by its file's identity (no read of the whole file);
// once the file changes, it does not.
TEST(KernelCache, KnowsAnUnchangedBzImageByItsIdentity) {
  TempDir dir;
  auto elf = fake_vmlinux();
  BzImage img = fake_bzimage(xz(elf), static_cast<uint32_t>(elf.size()));
  std::vector<uint8_t> file = bzimage_file(img);
  std::string path = put_file(dir.path() + "/bzImage", file);
  KernelCache cache({dir.path() + "/cache"});
  EXPECT_FALSE(cache.known(path));
  auto layout = MemoryLayout::make(64 * MiB, 40);
  ASSERT_TRUE(layout);
  kvm::GuestMemory mem;
  ASSERT_TRUE(mem.add(0, 64 * MiB, "ram"));
  KernelFiles files;
  files.kernel = path;
  files.cache_dirs = {dir.path() + "/cache"};
  ASSERT_TRUE(load_linux(files, *layout, mem));
  auto k = cache.known(path);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->span().size(), elf.size());
  auto again = load_linux(files, *layout, mem);  // through the link
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, 16 * MiB + 0x10);
  file.push_back(0);  // the file changes: its identity with it
  put_file(path, file);
  EXPECT_FALSE(cache.known(path));
  // A link naming a path outside the cache is not followed.
  std::string link;
  auto names = list_dir(dir.path() + "/cache");
  ASSERT_TRUE(names);
  for (auto& n : *names)
    if (n.starts_with("bzimage-")) link = dir.path() + "/cache/" + n;
  ASSERT_FALSE(link.empty());
  ASSERT_TRUE(load_linux(files, *layout, mem));  // relinks the changed file
  auto text = read_file(link).value();
  auto id = text.substr(0, text.find('\n'));
  ASSERT_TRUE(write_file_atomic(link, id + "\n../../etc/passwd\n"));
  EXPECT_FALSE(cache.known(path));
}

// The initrd goes from its file straight into guest RAM, where the zero page says it is.
TEST(LoadLinux, TheInitrdLandsWhereTheZeroPageSays) {
  TempDir dir;
  auto elf = fake_vmlinux();
  std::string vm = put_file(dir.path() + "/vmlinux", elf);
  std::vector<uint8_t> initrd(3 * 4096 + 17);
  for (size_t i = 0; i < initrd.size(); ++i) initrd[i] = static_cast<uint8_t>(i * 13 + 5);
  std::string rd = put_file(dir.path() + "/initrd", initrd);
  auto layout = MemoryLayout::make(64 * MiB, 40);
  ASSERT_TRUE(layout);
  kvm::GuestMemory mem;
  ASSERT_TRUE(mem.add(0, 64 * MiB, "ram"));
  KernelFiles files;
  files.kernel = vm;
  files.initrd = rd;
  ASSERT_TRUE(load_linux(files, *layout, mem));
  boot_params bp;
  std::memcpy(&bp, mem.slice(kBootParamsAddress, sizeof bp)->data(), sizeof bp);
  ASSERT_EQ(bp.hdr.ramdisk_size, initrd.size());
  auto placed = mem.slice(bp.hdr.ramdisk_image, initrd.size());
  ASSERT_TRUE(placed);
  EXPECT_TRUE(std::equal(initrd.begin(), initrd.end(), placed->begin()));
  // A reboot's load (the initrd read beside the vmlinux's reload) over RAM the last boot wrote
  // everywhere: the kernel, the zero page and the initrd are each what a first boot put there.
  auto all = mem.slice(0, 64 * MiB);
  std::memset(all->data(), 0xee, all->size());
  files.ram_fresh = false;
  ASSERT_TRUE(load_linux(files, *layout, mem));
  boot_params again;
  std::memcpy(&again, mem.slice(kBootParamsAddress, sizeof again)->data(), sizeof again);
  EXPECT_EQ(std::memcmp(&again, &bp, sizeof bp), 0);
  EXPECT_TRUE(std::equal(initrd.begin(), initrd.end(), placed->begin()));
  auto k = parse_vmlinux(elf, "k");
  ASSERT_TRUE(k);
  for (auto& seg : k->segments) {
    auto ram = mem.slice(seg.paddr, seg.memsz);
    EXPECT_EQ(std::memcmp(ram->data(), elf.data() + seg.offset, seg.filesz), 0) << "segment at " << seg.paddr;
    EXPECT_TRUE(std::all_of(ram->begin() + static_cast<long>(seg.filesz), ram->end(), [](uint8_t b) { return b == 0; }));
  }
  // An initrd that cannot be read fails the load with its name, whichever thread read it.
  files.initrd = dir.path() + "/none";
  auto missing = load_linux(files, *layout, mem);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("-initrd '" + files.initrd + "' cannot be read"), std::string::npos)
      << missing.error().message();
  files.ram_fresh = true;
  std::ofstream(dir.path() + "/empty");
  files.initrd = dir.path() + "/empty";
  auto empty = load_linux(files, *layout, mem);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("is empty"), std::string::npos) << empty.error().message();
}

// The start-up check reads only a bzImage's header, and still refuses what cannot boot.
TEST(LoadLinux, TheKernelCheckRefusesWhatIsNoBootableKernel) {
  TempDir dir;
  auto write = [&](const std::string& name, const std::vector<uint8_t>& bytes) { return put_file(dir.path() + "/" + name, bytes); };
  auto garbage = check_kernel_file(write("garbage", std::vector<uint8_t>(200 * 1024, 0x41)), "-kernel 'garbage'");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message().find("-kernel 'garbage' is not a Linux bzImage"), std::string::npos);
  // A header whose setup sectors run past the file's end: truncated.
  std::vector<uint8_t> head(0x1000, 0);
  setup_header h{};
  h.setup_sects = 40;
  h.boot_flag = 0xaa55;
  h.header = 0x53726448;
  h.version = 0x020f;
  h.loadflags = LOADED_HIGH;
  h.xloadflags = XLF_KERNEL_64;
  std::memcpy(head.data() + 0x1f1, &h, sizeof h);
  head[0x201] = 0x66;
  auto truncated = check_kernel_file(write("truncated", head), "-kernel 't'");
  ASSERT_FALSE(truncated);
  EXPECT_NE(truncated.error().message().find("is truncated"), std::string::npos) << truncated.error().message();
  auto missing = check_kernel_file(dir.path() + "/none", "-kernel 'none'");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("cannot be read"), std::string::npos);
}

// Every page lands where it belongs. Loaded again over itself (a guest reboot, RAM not fresh)
// nothing is written; after the guest changed one text page and one BSS page exactly those two are.
TEST(Vmlinux, AReloadWritesOnlyWhatChanged) {
  const size_t text = 12 * MiB;
  auto f = big_vmlinux(text);
  auto k = parse_vmlinux(f, "k");
  ASSERT_TRUE(k) << k.error().message();
  kvm::GuestMemory mem;
  ASSERT_TRUE(mem.add(0, 64 * MiB, "ram"));
  auto all = mem.slice(0, 64 * MiB);
  std::memset(all->data(), 0xee, all->size());  // the last boot's data everywhere
  const size_t pages = (text + 1 * MiB) / 4096, nonzero = text / 4096 - text / 4096 / 5;
  auto first = load_vmlinux(*k, f, mem, false);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->written, pages);  // nothing held the file's bytes
  EXPECT_EQ(first->unchanged, 0u);
  auto ram = mem.slice(16 * MiB, text + 1 * MiB);
  EXPECT_EQ(std::memcmp(ram->data(), f.data() + 0x1000, text), 0);
  EXPECT_TRUE(std::all_of(ram->begin() + text, ram->end(), [](uint8_t b) { return b == 0; }));
  auto again = load_vmlinux(*k, f, mem, false);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->written, 0u);
  EXPECT_EQ(again->unchanged, nonzero);
  (*ram)[100 * 4096 + 9] ^= 0xff;  // a text page (page 100 is not one of the zero ones)
  (*ram)[text + 4096 + 1] = 1;     // a BSS page
  auto third = load_vmlinux(*k, f, mem, false);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->written, 2u);
  EXPECT_EQ(third->unchanged, nonzero - 1);
  EXPECT_EQ(std::memcmp(ram->data(), f.data() + 0x1000, text), 0);
  EXPECT_EQ((*ram)[text + 4096 + 1], 0);
  // Changes at both ends of a page and on both sides of a 16-byte piece's boundary: the reload
  // writes only the pieces that differ, and every changed byte comes back.
  for (size_t at : {size_t{0}, size_t{15}, size_t{16}, size_t{63}, size_t{64}, size_t{2000}, size_t{4095}})
    (*ram)[101 * 4096 + at] ^= 0x5a;
  auto fourth = load_vmlinux(*k, f, mem, false);
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->written, 1u);
  EXPECT_EQ(std::memcmp(ram->data(), f.data() + 0x1000, text), 0);
  // A reload is shared by two threads in runs of 64 pages: changes in the first page, in runs of
  // both threads, in the last text page and in the BSS's last page all come back, each counted once.
  const size_t last_bss = (text + 1 * MiB) / 4096 - 1;
  for (size_t page : {size_t{0}, size_t{63}, size_t{64}, size_t{127}, size_t{128}, size_t{1000}, text / 4096 - 1})
    (*ram)[page * 4096 + 7] ^= 0x33;
  (*ram)[last_bss * 4096 + 4095] = 9;
  auto fifth = load_vmlinux(*k, f, mem, false);
  ASSERT_TRUE(fifth);
  EXPECT_EQ(fifth->written, 8u);
  EXPECT_EQ(std::memcmp(ram->data(), f.data() + 0x1000, text), 0);
  EXPECT_TRUE(std::all_of(ram->begin() + text, ram->end(), [](uint8_t b) { return b == 0; }));
}
