// Guest RAM from a file (-mem-path / memory-backend-file) on an ordinary directory, which QEMU
// allows too: the hugetlbfs case differs only in page size and pool check (host hugepages_test; the
// real mount is exercised by the vmm system test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "altovirt/vmm/ram_backing.h"

using namespace altovirt;
using ::testing::HasSubstr;

namespace {

class RamFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ram_backing_test." + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(RamFileTest, RegionsComeFromOneUnlinkedFile) {
  kvm::GuestMemory mem;
  vmm::RamBacking b{dir_.string(), false, true, "-mem-path " + dir_.string()};
  ASSERT_TRUE(vmm::prepare_ram_backing(mem, b, 8 << 20, "/nonexistent-sysfs"));
  ASSERT_TRUE(mem.add(0, 6 << 20, "low"));
  ASSERT_TRUE(mem.add(1ull << 32, 2 << 20, "high"));
  EXPECT_EQ(mem.total(), 8u << 20);
  // No name is left in the directory, even while the VM runs.
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
  uint8_t pattern[4] = {1, 2, 3, 4};
  ASSERT_TRUE(mem.write((1ull << 32) + 100, pattern));
  auto back = mem.slice((1ull << 32) + 100, 4);
  ASSERT_TRUE(back);
  EXPECT_EQ(std::vector<uint8_t>(back->begin(), back->end()), std::vector<uint8_t>({1, 2, 3, 4}));
  // The two regions are distinct parts of the file: the low one is untouched.
  auto low = mem.slice(100, 4);
  ASSERT_TRUE(low);
  EXPECT_EQ((*low)[0], 0);
  // More than the file holds is refused.
  EXPECT_FALSE(mem.add(2ull << 32, 2 << 20, "extra"));
}

TEST_F(RamFileTest, PreallocatedPrivateFile) {
  kvm::GuestMemory mem;
  ASSERT_TRUE(vmm::prepare_ram_backing(mem, {dir_.string(), true, false, "-mem-path x"}, 4 << 20, "/nonexistent"));
  ASSERT_TRUE(mem.add(0, 4 << 20, "ram"));
  EXPECT_EQ(mem.regions().size(), 1u);
  EXPECT_TRUE(mem.write(0, std::vector<uint8_t>(4096, 7)));
}

TEST_F(RamFileTest, PreallocatedAnonymous) {
  kvm::GuestMemory mem;
  ASSERT_TRUE(vmm::prepare_ram_backing(mem, {"", true, false, "-mem-prealloc"}, 4 << 20, "/nonexistent"));
  ASSERT_TRUE(mem.add(0, 4 << 20, "ram"));
  EXPECT_TRUE(mem.write(0, std::vector<uint8_t>(16, 7)));
}

TEST_F(RamFileTest, AMissingDirectoryIsNamed) {
  kvm::GuestMemory mem;
  auto s = vmm::prepare_ram_backing(mem, {"/nonexistent/hugepages", false, false, "-mem-path /nonexistent/hugepages"},
                                    4 << 20);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("-mem-path /nonexistent/hugepages: cannot use /nonexistent/hugepages"));
}

}  // namespace
