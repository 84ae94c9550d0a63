// bzImage header checks and the boot_params ("zero page") layout, per the Linux x86 boot protocol.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>

#include "altovirt/boot/bzimage.h"

using namespace altovirt::boot;

// Offsets fixed by the protocol (Documentation/arch/x86/zero-page.rst and boot.rst).
static_assert(offsetof(boot_params, hdr) == 0x1f1);
static_assert(offsetof(boot_params, e820_entries) == 0x1e8);
static_assert(offsetof(boot_params, e820_table) == 0x2d0);
static_assert(offsetof(boot_params, acpi_rsdp_addr) == 0x070);
static_assert(offsetof(setup_header, header) == 0x202 - 0x1f1);
static_assert(offsetof(setup_header, cmd_line_ptr) == 0x228 - 0x1f1);
static_assert(sizeof(boot_params) == 4096);

namespace {

std::vector<uint8_t> fake_bzimage(uint16_t version = 0x020f, uint8_t setup_sects = 4, bool kernel64 = true) {
  std::vector<uint8_t> f(64 * 1024, 0);
  setup_header h{};
  h.setup_sects = setup_sects;
  h.boot_flag = 0xaa55;
  h.jump = 0x66eb;  // jmp to 0x268: header up to 0x268
  h.header = 0x53726448;
  h.version = version;
  h.loadflags = LOADED_HIGH;
  h.initrd_addr_max = 0x7fffffff;
  h.cmdline_size = 2047;
  h.init_size = 32 << 20;
  h.xloadflags = kernel64 ? XLF_KERNEL_64 : 0;
  std::memcpy(f.data() + 0x1f1, &h, sizeof h);
  f[(setup_sects + 1) * 512] = 0xaa;  // first byte of the protected-mode kernel
  return f;
}

}  // namespace

TEST(BzImage, ParsesHeaderAndSplitsKernel) {
  auto img = parse_bzimage(fake_bzimage(), "test");
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_EQ(img->header.version, 0x020f);
  EXPECT_EQ(img->kernel.size(), 64 * 1024 - 5 * 512u);
  EXPECT_EQ(img->kernel[0], 0xaa);
  auto zero_sects = parse_bzimage(fake_bzimage(0x020f, 0), "test");  // 0 means 4
  ASSERT_TRUE(zero_sects);
  EXPECT_EQ(zero_sects->kernel.size(), 64 * 1024 - 5 * 512u);
}

TEST(BzImage, RejectsWhatItCannotBoot) {
  auto not_kernel = parse_bzimage(std::vector<uint8_t>(8192, 0), "'/etc/passwd'");
  ASSERT_FALSE(not_kernel);
  EXPECT_NE(not_kernel.error().message().find("'/etc/passwd' is not a Linux bzImage"), std::string::npos);
  auto old = parse_bzimage(fake_bzimage(0x0205), "k");
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().message().find("2.05"), std::string::npos);
  EXPECT_FALSE(parse_bzimage(fake_bzimage(0x020f, 4, false), "k"));
  EXPECT_FALSE(parse_bzimage(std::vector<uint8_t>(100, 0), "k"));
}

TEST(BootParams, CarriesCmdlineInitrdE820AndRsdp) {
  auto img = parse_bzimage(fake_bzimage(), "k");
  ASSERT_TRUE(img);
  auto layout = MemoryLayout::make(512 * MiB, 40);
  ASSERT_TRUE(layout);
  auto initrd = place_initrd(*img, *layout, 10 * MiB + 123);
  ASSERT_TRUE(initrd);
  EXPECT_EQ(initrd->address % 4096, 0u);
  EXPECT_LE(initrd->address + initrd->size, layout->low_ram_end());
  EXPECT_GT(initrd->address, 16 * MiB + img->header.init_size) << "clear of the decompressed kernel";
  auto bp = make_boot_params(*img, *layout, "console=ttyS0", *initrd);
  ASSERT_TRUE(bp);
  EXPECT_EQ(bp->hdr.header, 0x53726448u);
  EXPECT_EQ(bp->hdr.type_of_loader, 0xff);
  EXPECT_TRUE(bp->hdr.loadflags & CAN_USE_HEAP);
  EXPECT_EQ(bp->hdr.cmd_line_ptr, kCmdlineAddress);
  EXPECT_EQ(bp->hdr.ramdisk_image, initrd->address);
  EXPECT_EQ(bp->hdr.ramdisk_size, 10 * MiB + 123);
  EXPECT_EQ(bp->hdr.code32_start, kKernelAddress);
  EXPECT_EQ(bp->acpi_rsdp_addr, kAcpiBase);
  ASSERT_GE(bp->e820_entries, 4);
  EXPECT_EQ(bp->e820_table[0].addr, 0u);
  EXPECT_EQ(bp->e820_table[0].type, 1u);
}

TEST(BootParams, InitrdRespectsInitrdAddrMax) {
  auto f = fake_bzimage();
  auto img = parse_bzimage(f, "k");
  ASSERT_TRUE(img);
  img->header.initrd_addr_max = 0x0fffffff;  // 256 MiB - 1
  auto layout = MemoryLayout::make(1 * GiB, 40);
  auto initrd = place_initrd(*img, *layout, 4 * MiB);
  ASSERT_TRUE(initrd);
  EXPECT_LE(initrd->address + initrd->size, 0x10000000u);
}

TEST(BootParams, RejectsTooLongCmdlineAndHugeInitrd) {
  auto img = parse_bzimage(fake_bzimage(), "k");
  auto layout = MemoryLayout::make(128 * MiB, 40);
  ASSERT_TRUE(img && layout);
  EXPECT_FALSE(make_boot_params(*img, *layout, std::string(3000, 'x'), {}));
  auto big = place_initrd(*img, *layout, 100 * MiB);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message().find("-m"), std::string::npos) << "says what to do";
}
