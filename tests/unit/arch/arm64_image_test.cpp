// The arm64 Image loader against fake images in guest RAM.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "altovirt/arch/arm64/image.h"
#include "altovirt/arch/arm64/layout.h"

namespace altovirt::arch::arm64 {
namespace {

constexpr uint64_t kRam = 64 * MiB;

std::string write_file(const std::string& name, const std::vector<uint8_t>& bytes) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  return path;
}

std::vector<uint8_t> fake_image(uint64_t text_offset, uint64_t image_size, size_t file_size = 4096) {
  std::vector<uint8_t> b(file_size, 0xaa);
  for (int i = 0; i < 8; ++i) b[8 + static_cast<size_t>(i)] = static_cast<uint8_t>(text_offset >> (8 * i));
  for (int i = 0; i < 8; ++i) b[16 + static_cast<size_t>(i)] = static_cast<uint8_t>(image_size >> (8 * i));
  std::memcpy(b.data() + 56, "ARM\x64", 4);
  return b;
}

struct Ram {
  kvm::GuestMemory mem;
  Ram() { EXPECT_TRUE(mem.add(kRamBase, kRam, "test RAM")); }
};

TEST(Arm64Image, LoadsAtTextOffsetWithInitrdAfterItAndTheTreeAtTheTop) {
  Ram ram;
  auto kernel = write_file("Image", fake_image(0x80000, 3 * MiB));
  auto initrd = write_file("initrd", std::vector<uint8_t>(5000, 0x5a));
  auto k = load_image(kernel, initrd, ram.mem, kRamBase, kRam);
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_EQ(k->entry, kRamBase + 0x80000);
  EXPECT_EQ(k->dtb, kRamBase + kRam - 2 * MiB);
  ASSERT_TRUE(k->initrd);
  EXPECT_EQ(k->initrd->first, kRamBase + 4 * MiB);  // after text_offset + image_size, 2 MiB aligned
  EXPECT_EQ(k->initrd->second - k->initrd->first, 5000u);
  auto head = ram.mem.slice(k->entry + 56, 4);
  ASSERT_TRUE(head);
  EXPECT_EQ(std::memcmp(head->data(), "ARM\x64", 4), 0);
  auto rd = ram.mem.slice(k->initrd->first, 1);
  EXPECT_EQ((*rd)[0], 0x5a);
}

TEST(Arm64Image, RefusesWhatIsNotAnUncompressedArm64Image) {
  Ram ram;
  auto gz = write_file("Image.gz", {0x1f, 0x8b, 8, 0, 0, 0});
  auto r = load_image(gz, "", ram.mem, kRamBase, kRam);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("gunzip"), std::string::npos) << r.error().message();
  std::vector<uint8_t> bz(0x300, 0);
  std::memcpy(bz.data() + 0x202, "HdrS", 4);
  r = load_image(write_file("bzImage", bz), "", ram.mem, kRamBase, kRam);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("x86 bzImage"), std::string::npos) << r.error().message();
}

TEST(Arm64Image, SaysWhenRamIsTooSmall) {
  Ram ram;
  auto r = load_image(write_file("BigImage", fake_image(0, 80 * MiB)), "", ram.mem, kRamBase, kRam);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("give more with -m"), std::string::npos) << r.error().message();
  r = load_image(write_file("Image2", fake_image(0, 2 * MiB)), write_file("big-initrd", std::vector<uint8_t>(61 * MiB)),
                 ram.mem, kRamBase, kRam);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("-initrd"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace altovirt::arch::arm64
