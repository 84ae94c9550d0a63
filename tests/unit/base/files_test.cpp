#include "altovirt/base/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

namespace altovirt {
namespace {

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/altovirt-files-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(FilesTest, AtomicWriteThenRead) {
  std::string p = dir_ + "/state.json";
  ASSERT_TRUE(write_file_atomic(p, "{\"a\":1}\n"));
  EXPECT_EQ(read_file(p).value(), "{\"a\":1}\n");
  ASSERT_TRUE(write_file_atomic(p, "second"));
  EXPECT_EQ(read_file(p).value(), "second");
  // No temporary file is left behind.
  EXPECT_EQ(list_dir(dir_).value(), std::vector<std::string>{"state.json"});
}

TEST_F(FilesTest, ReadIntoFillsTheBufferOrRefusesAFileTooLarge) {
  std::string p = dir_ + "/Image";
  ASSERT_TRUE(write_file_atomic(p, "kernel bytes"));
  std::vector<uint8_t> room(16, 0xee);
  auto n = read_into(p, room);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 12u);
  EXPECT_EQ(std::string(room.begin(), room.begin() + 12), "kernel bytes");
  EXPECT_EQ(room[12], 0xee);  // past the file: untouched
  std::vector<uint8_t> small(4, 0xee);
  auto r = read_into(p, small);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("is 12 bytes: more than the 4 bytes"), std::string::npos) << r.error().message();
  EXPECT_EQ(small, std::vector<uint8_t>(4, 0xee));
}

TEST_F(FilesTest, ReadHeadGivesTheFirstBytesAndTheWholeSize) {
  std::string p = dir_ + "/bzImage";
  ASSERT_TRUE(write_file_atomic(p, "0123456789"));
  auto h = read_head(p, 4);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(std::string(h->bytes.begin(), h->bytes.end()), "0123");
  EXPECT_EQ(h->size, 10u);
  auto all = read_head(p, 100);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->bytes.size(), 10u);
  EXPECT_FALSE(read_head(dir_ + "/missing", 4));
}

TEST_F(FilesTest, ReadTrimmedStripsSysfsNewline) {
  std::string p = dir_ + "/vendor";
  ASSERT_TRUE(write_file_atomic(p, "0x8086\n"));
  EXPECT_EQ(read_trimmed(p).value(), "0x8086");
}

TEST_F(FilesTest, ErrorsNameThePath) {
  auto r = read_file(dir_ + "/missing");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno(), ENOENT);
  EXPECT_NE(r.error().message().find(dir_ + "/missing"), std::string::npos);
  auto w = write_sysfs(dir_ + "/missing", "1");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().sys_errno(), ENOENT);  // sysfs writes never create files
}

TEST_F(FilesTest, WriteSysfsReplacesContentOfExistingFile) {
  std::string p = dir_ + "/driver_override";
  ASSERT_TRUE(write_file_atomic(p, ""));
  ASSERT_TRUE(write_sysfs(p, "vfio-pci"));
  EXPECT_EQ(read_file(p).value(), "vfio-pci");
}

TEST_F(FilesTest, ListDirSortedAndLinks) {
  ASSERT_TRUE(make_dirs(dir_ + "/a/b/c"));
  ASSERT_TRUE(make_dirs(dir_ + "/a/b/c"));  // existing is fine
  ASSERT_TRUE(write_file_atomic(dir_ + "/a/z", ""));
  ASSERT_EQ(::symlink("../../drivers/e1000e", (dir_ + "/a/driver").c_str()), 0);
  EXPECT_EQ(list_dir(dir_ + "/a").value(), (std::vector<std::string>{"b", "driver", "z"}));
  EXPECT_EQ(read_link(dir_ + "/a/driver").value(), "../../drivers/e1000e");
  EXPECT_EQ(base_name(read_link(dir_ + "/a/driver").value()), "e1000e");
  EXPECT_TRUE(path_exists(dir_ + "/a/driver"));
  EXPECT_FALSE(path_exists(dir_ + "/a/nothing"));
  EXPECT_FALSE(list_dir(dir_ + "/nothing"));
}

TEST(BaseName, Cases) {
  EXPECT_EQ(base_name("/sys/bus/pci/drivers/vfio-pci"), "vfio-pci");
  EXPECT_EQ(base_name("/a/b/"), "b");
  EXPECT_EQ(base_name("plain"), "plain");
}

}  // namespace
}  // namespace altovirt
