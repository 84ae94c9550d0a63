// The hugepage availability check, against a fake sysfs tree (the real pools are the test host's).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "altovirt/host/hugepages.h"

using namespace altovirt;
using ::testing::HasSubstr;

namespace {

class FakeHugepages : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("hugepages_test." + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void pool(unsigned kib, unsigned nr, unsigned free, unsigned resv) {
    auto dir = root_ / "kernel/mm/hugepages" / ("hugepages-" + std::to_string(kib) + "kB");
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "nr_hugepages") << nr << "\n";
    std::ofstream(dir / "free_hugepages") << free << "\n";
    std::ofstream(dir / "resv_hugepages") << resv << "\n";
  }
  std::string root() const { return root_.string(); }
  std::filesystem::path root_;
};

constexpr uint64_t k2M = 2ull << 20, k1G = 1ull << 30;

TEST_F(FakeHugepages, ReadsThePoolOfThatSize) {
  pool(2048, 300, 280, 30);
  pool(1048576, 4, 4, 0);
  auto p = host::read_hugepage_pool(k2M, root());
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->total, 300u);
  EXPECT_EQ(p->free, 280u);
  EXPECT_EQ(p->reserved, 30u);
  EXPECT_EQ(p->available(), 250u);  // reserved pages are free but promised to another mapping
  auto g = host::read_hugepage_pool(k1G, root());
  ASSERT_TRUE(g);
  EXPECT_EQ(g->available(), 4u);
}

TEST_F(FakeHugepages, EnoughFreePagesPass) {
  pool(2048, 300, 280, 24);
  EXPECT_TRUE(host::check_hugepages_free(k2M, 512ull << 20, "-mem-path /dev/hugepages", root()));   // 256 <= 256
  pool(1048576, 2, 2, 0);
  EXPECT_TRUE(host::check_hugepages_free(k1G, 2 * k1G, "-mem-path /dev/hugepages1G", root()));
}

TEST_F(FakeHugepages, TooFewPagesSayHowManyAndHowToReserve) {
  pool(2048, 300, 280, 30);
  auto s = host::check_hugepages_free(k2M, 1ull << 30, "-object memory-backend-file,id=m", root());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(),
            "-object memory-backend-file,id=m: guest RAM of 1024 MiB needs 512 free 2 MiB hugepages, but only 250 are "
            "free (300 total, 30 reserved by other mappings); reserve more with: echo 562 > " +
                root() + "/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
}

TEST_F(FakeHugepages, GigabytePagesPointAtTheKernelCommandLine) {
  pool(1048576, 1, 1, 0);
  auto s = host::check_hugepages_free(k1G, 4 * k1G, "-mem-path /dev/hugepages1G", root());
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("needs 4 free 1 GiB hugepages, but only 1 are free"));
  EXPECT_THAT(s.error().message(), HasSubstr("hugepagesz=1G hugepages=4 on the kernel command line"));
}

TEST_F(FakeHugepages, AMissingPoolIsNamed) {
  pool(2048, 0, 0, 0);
  auto s = host::check_hugepages_free(k1G, k1G, "-mem-path /dev/hugepages1G", root());
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("-mem-path /dev/hugepages1G: this host has no 1 GiB hugepages"));
}

TEST(MemPath, OrdinaryDirectoriesHaveBasePages) {
  auto p = host::mem_path_info(std::filesystem::temp_directory_path().string(), "-mem-path /tmp");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->page_size, 4096u);
  // /tmp may be anything but hugetlbfs on a build machine.
  EXPECT_FALSE(p->hugetlbfs);
  auto missing = host::mem_path_info("/nonexistent/hugepages", "-mem-path /nonexistent/hugepages");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message(), HasSubstr("-mem-path /nonexistent/hugepages: cannot use /nonexistent/hugepages"));
  EXPECT_EQ(host::page_size_name(k2M), "2 MiB");
  EXPECT_EQ(host::page_size_name(k1G), "1 GiB");
  EXPECT_EQ(host::page_size_name(64 << 10), "64 KiB");
}

}  // namespace
