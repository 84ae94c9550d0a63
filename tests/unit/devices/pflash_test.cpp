// The CFI flash as OVMF uses it: its flash probe, variable writes (program, erase, read array) that
// reach the backing file, the mode changes the machine's memory slot follows, a read-only code
// flash, command errors, and the checks on the image file.
#include "altovirt/devices/pflash.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace altovirt::devices {
namespace {

class PflashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pflash-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
    path = dir + "/vars.fd";
    std::vector<uint8_t> image(4 * Pflash::kBlockSize, 0);
    for (size_t i = 0; i < image.size(); ++i) image[i] = static_cast<uint8_t>(i * 7 + 1);
    write_file(path, image);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  static void write_file(const std::string& p, const std::vector<uint8_t>& bytes) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  static std::vector<uint8_t> read_file(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
  }
  static void put(Pflash& f, uint64_t off, uint8_t v) { f.io_write(off, std::span<const uint8_t>(&v, 1)); }
  static uint8_t get(Pflash& f, uint64_t off) {
    uint8_t v;
    f.io_read(off, std::span<uint8_t>(&v, 1));
    return v;
  }
  std::string dir, path;
};

TEST_F(PflashTest, OvmfsProbeSeesFlash) {
  auto f = Pflash::open(path, false, "<nvram>");
  ASSERT_TRUE(f) << f.error().message();
  // QemuFlashDetected: clear status, read back (RAM would give 0x50); read status (ROM would give the
  // original byte, RAM 0x70, flash the cleared status 0).
  const uint8_t original = get(**f, 0x10);
  put(**f, 0x10, 0x50);
  EXPECT_EQ(get(**f, 0x10), original);
  put(**f, 0x10, 0x70);
  EXPECT_EQ(get(**f, 0x10), 0x00);
  put(**f, 0x10, 0xff);
  EXPECT_EQ(get(**f, 0x10), original);
}

TEST_F(PflashTest, ProgramAndEraseReachTheFile) {
  {
    auto f = Pflash::open(path, false, "<nvram>");
    ASSERT_TRUE(f);
    // Erase block 1, then program two bytes in it, then back to read array (OVMF's QemuFlashWrite).
    put(**f, Pflash::kBlockSize + 5, 0x20);
    put(**f, Pflash::kBlockSize + 5, 0xd0);
    put(**f, 0, 0x70);
    EXPECT_EQ(get(**f, 0) & Pflash::kStatusReady, Pflash::kStatusReady);
    put(**f, Pflash::kBlockSize + 8, 0x10);
    put(**f, Pflash::kBlockSize + 8, 0xab);
    put(**f, Pflash::kBlockSize + 9, 0x40);
    put(**f, Pflash::kBlockSize + 9, 0xcd);
    put(**f, Pflash::kBlockSize + 9, 0xff);
    EXPECT_EQ(get(**f, Pflash::kBlockSize + 8), 0xab);
    EXPECT_EQ((*f)->contents()[Pflash::kBlockSize + 9], 0xcd) << "the memory slot's bytes are the flash";
    // Already in the file before the flash goes away (read-array wrote it back).
    auto now = read_file(path);
    EXPECT_EQ(now[Pflash::kBlockSize + 8], 0xab);
  }
  auto bytes = read_file(path);
  ASSERT_EQ(bytes.size(), 4u * Pflash::kBlockSize);
  EXPECT_EQ(bytes[Pflash::kBlockSize], 0xff) << "the erased block";
  EXPECT_EQ(bytes[2 * Pflash::kBlockSize - 1], 0xff);
  EXPECT_EQ(bytes[Pflash::kBlockSize + 9], 0xcd);
  EXPECT_EQ(bytes[Pflash::kBlockSize - 1], static_cast<uint8_t>((Pflash::kBlockSize - 1) * 7 + 1)) << "block 0 untouched";
  EXPECT_EQ(bytes[2 * Pflash::kBlockSize], static_cast<uint8_t>(2 * Pflash::kBlockSize * 7 + 1)) << "block 2 untouched";
}

TEST_F(PflashTest, ModeChangesAreReportedForTheMemorySlot) {
  auto f = Pflash::open(path, false, "<nvram>");
  ASSERT_TRUE(f);
  std::vector<bool> changes;
  (*f)->set_mode_listener([&](bool array) { changes.push_back(array); });
  EXPECT_TRUE((*f)->array_mode());
  put(**f, 0, 0x70);
  put(**f, 0, 0x70);  // no change, no call
  EXPECT_FALSE((*f)->array_mode());
  put(**f, 0, 0xff);
  put(**f, 0, 0x10);  // the first cycle of a program stays in array mode
  put(**f, 0, 0x00);  // ... the second enters status mode
  (*f)->reset();
  EXPECT_EQ(changes, (std::vector<bool>{false, true, false, true}));
  EXPECT_TRUE((*f)->array_mode());
}

TEST_F(PflashTest, CommandErrorsSetStatusBits) {
  auto f = Pflash::open(path, false, "<nvram>");
  ASSERT_TRUE(f);
  const uint8_t before = get(**f, 0);
  put(**f, 0, 0x20);
  put(**f, 0, 0x55);  // erase not confirmed
  uint8_t s = get(**f, 0);
  EXPECT_EQ(s & (Pflash::kStatusEraseError | Pflash::kStatusProgramError), Pflash::kStatusEraseError | Pflash::kStatusProgramError);
  put(**f, 0, 0x50);  // clear status
  put(**f, 0, 0x98);  // a command this flash does not have (CFI query)
  EXPECT_NE(get(**f, 0) & Pflash::kStatusProgramError, 0);
  put(**f, 0, 0xff);
  EXPECT_EQ(get(**f, 0), before) << "nothing was erased";
  uint8_t wide[4];
  put(**f, 0, 0x70);
  (*f)->io_read(0, wide);
  EXPECT_EQ(wide[3], wide[0]) << "status in every byte of a wider read";
}

TEST_F(PflashTest, ReadOnlyCodeIgnoresWrites) {
  auto f = Pflash::open(path, true, "<loader>");
  ASSERT_TRUE(f);
  const uint8_t before = get(**f, 7);
  put(**f, 7, 0x20);
  put(**f, 7, 0xd0);
  put(**f, 7, 0x70);
  EXPECT_TRUE((*f)->array_mode());
  EXPECT_EQ(get(**f, 7), before);
  put(**f, 1u << 30, 0x70);  // beyond the flash: ignored
}

TEST_F(PflashTest, ImageFileChecks) {
  auto missing = Pflash::open(dir + "/none.fd", true, "<loader>");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("<loader> " + dir + "/none.fd"), std::string::npos) << missing.error().message();
  write_file(dir + "/odd.fd", std::vector<uint8_t>(1000, 0));
  auto odd = Pflash::open(dir + "/odd.fd", true, "<loader>");
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message().find("not a flash image"), std::string::npos) << odd.error().message();
  write_file(dir + "/empty.fd", {});
  EXPECT_FALSE(Pflash::open(dir + "/empty.fd", true, "<loader>"));
  EXPECT_FALSE(Pflash::open(dir, true, "<loader>")) << "a directory";
  if (::geteuid() != 0) {
    ::chmod(path.c_str(), 0444);
    auto ro = Pflash::open(path, false, "<nvram>");
    ASSERT_FALSE(ro);
    EXPECT_NE(ro.error().message().find("must be writable"), std::string::npos) << ro.error().message();
  }
}

}  // namespace
}  // namespace altovirt::devices

namespace altovirt::devices {
namespace {

// The arm64 wiring, driven the way ArmVirtPkg's VirtNorFlashDxe drives it: every command written
// 32 bits wide to both 16-bit parts ((cmd << 16) | cmd), status read 32 bits wide, 256 KiB blocks.
class AavmfFlashTest : public PflashTest {
 protected:
  static constexpr uint64_t kBlock = 256 * 1024;
  void SetUp() override {
    PflashTest::SetUp();
    std::vector<uint8_t> image(4 * kBlock, 0x5a);
    write_file(path, image);
  }
  static void cmd(Pflash& f, uint64_t off, uint32_t c) { put32(f, off, c << 16 | c); }
  static void put32(Pflash& f, uint64_t off, uint32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    f.io_write(off, b);
  }
  static uint32_t get32(Pflash& f, uint64_t off) {
    uint8_t b[4];
    f.io_read(off, b);
    uint32_t v;
    std::memcpy(&v, b, 4);
    return v;
  }
};

TEST_F(AavmfFlashTest, UnlockEraseAndBufferedProgramAsVirtNorFlashDxe) {
  auto f = Pflash::open(path, false, "<nvram>", Pflash::aavmf());
  ASSERT_TRUE(f) << f.error().message();
  Pflash& fl = **f;
  const uint64_t block = 2 * kBlock;
  // NorFlashBlockIsLocked: read identifier at word 2 (byte 8) of the block: both parts unlocked.
  cmd(fl, block + 8, 0x90);
  EXPECT_EQ(get32(fl, block + 8), 0u);
  EXPECT_EQ(get32(fl, block), uint32_t{Pflash::kIntelMaker} << 16 | Pflash::kIntelMaker) << "word 0: the maker, both parts";
  // NorFlashUnlockSingleBlock: lock setup, unlock, then the status shows ready in both halves.
  cmd(fl, block, 0x60);
  cmd(fl, block, 0xd0);
  cmd(fl, 0, 0x70);
  EXPECT_EQ(get32(fl, 0), 0x00800080u);
  cmd(fl, 0, 0xff);
  // NorFlashEraseSingleBlock.
  cmd(fl, block, 0x20);
  cmd(fl, block, 0xd0);
  cmd(fl, 0, 0x70);
  EXPECT_EQ(get32(fl, 0) & 0x00b000b0u, 0x00800080u) << "ready, no erase or program error";
  cmd(fl, 0, 0xff);
  EXPECT_EQ(fl.contents()[block], 0xff);
  EXPECT_EQ(fl.contents()[block + kBlock - 1], 0xff) << "the whole 256 KiB block";
  EXPECT_EQ(fl.contents()[block - 1], 0x5a) << "the block before it untouched";
  EXPECT_EQ(fl.contents()[block + kBlock], 0x5a) << "the block after it untouched";
  // NorFlashWriteBuffer: setup (the buffer is free: status bit 7 read back at the target), the
  // count (words - 1, in both parts), the words, the confirm, the status, read array.
  const uint64_t target = block + 0x80;
  cmd(fl, target, 0xe8);
  EXPECT_EQ(get32(fl, target) & 0x80, 0x80u);
  cmd(fl, target, 3);
  for (uint32_t i = 0; i < 4; ++i) put32(fl, target + 4 * i, 0x11223344u + i);
  cmd(fl, 0, 0xd0);
  cmd(fl, 0, 0x70);
  EXPECT_EQ(get32(fl, 0), 0x00800080u) << "no error bits";
  cmd(fl, 0, 0x50);
  cmd(fl, 0, 0xff);
  EXPECT_TRUE(fl.array_mode());
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(get32(fl, target + 4 * i), 0x11223344u + i) << "word " << i;
  EXPECT_EQ(get32(fl, target + 16), 0xffffffffu) << "nothing past the count";
  // NorFlashWriteSingleWord.
  cmd(fl, block + 0x200, 0x40);
  put32(fl, block + 0x200, 0xcafef00d);
  cmd(fl, 0, 0xff);
  EXPECT_EQ(get32(fl, block + 0x200), 0xcafef00du);
  // All of it is in the file.
  auto bytes = read_file(path);
  uint32_t w;
  std::memcpy(&w, &bytes[target + 12], 4);
  EXPECT_EQ(w, 0x11223347u);
}

TEST_F(AavmfFlashTest, BufferedProgramWithoutConfirmIsASequenceError) {
  auto f = Pflash::open(path, false, "<nvram>", Pflash::aavmf());
  ASSERT_TRUE(f);
  Pflash& fl = **f;
  cmd(fl, 0, 0xe8);
  cmd(fl, 0, 0);          // one word
  put32(fl, 0, 0x1234);   // the word
  cmd(fl, 0, 0xff);       // not the confirm
  EXPECT_EQ(get32(fl, 0) & 0x30, 0x30u) << "SR.4 and SR.5";
  // A count beyond the part's buffer is refused before any word lands.
  cmd(fl, 0, 0x50);
  cmd(fl, 4 * 64, 0xe8);
  cmd(fl, 4 * 64, 0xffff);
  EXPECT_EQ(get32(fl, 0) & 0x30, 0x30u);
  put32(fl, 4 * 64, 0);
  cmd(fl, 0, 0x50);
  EXPECT_EQ(fl.contents()[4 * 64], 0x5a) << "the word after a refused count is no data";
}

TEST_F(AavmfFlashTest, ImageMustBeWholeBlocks) {
  write_file(path, std::vector<uint8_t>(kBlock + 4096, 0));
  auto f = Pflash::open(path, false, "<nvram>", Pflash::aavmf());
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message().find("256 KiB"), std::string::npos) << f.error().message();
  EXPECT_NE(f.error().message().find("AAVMF_VARS.fd"), std::string::npos) << f.error().message();
}

}  // namespace
}  // namespace altovirt::devices
