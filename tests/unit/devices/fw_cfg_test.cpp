// fw_cfg as a firmware driver uses it (OVMF's QemuFwCfgLib, Linux's qemu_fw_cfg): the probe through
// the data port, the file directory, DMA reads with select, skip and zero fill, the refused write,
// requests and buffers outside RAM, and the rules for adding items.
#include "altovirt/devices/fw_cfg.h"

#include <endian.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "fake_guest.h"

namespace altovirt::devices {
namespace {

using virtio::testing::FakeRam;

constexpr uint64_t kBase = 0x100000, kReq = kBase + 0x100, kBuf = kBase + 0x1000;

// Puts a FWCfgDmaAccess {be32 control, be32 length, be64 buffer} at `at` and starts it with one
// 64-bit big-endian write to the DMA address register at `reg` (+4 on ports, +16 on MMIO).
void start_dma64(FwCfg& cfg, FakeRam& ram, uint64_t reg, uint64_t at, uint32_t control, uint32_t length, uint64_t buffer) {
  uint32_t c = htobe32(control), l = htobe32(length);
  uint64_t a = htobe64(buffer);
  std::memcpy(ram.at(at), &c, 4);
  std::memcpy(ram.at(at) + 4, &l, 4);
  std::memcpy(ram.at(at) + 8, &a, 8);
  uint64_t req = htobe64(at);
  cfg.io_write(reg, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&req), 8));
}

class FwCfgTest : public ::testing::Test {
 protected:
  void select(uint16_t key) {
    uint8_t b[2] = {static_cast<uint8_t>(key), static_cast<uint8_t>(key >> 8)};
    cfg.io_write(0, b);
  }
  std::vector<uint8_t> read_data(size_t n) {
    std::vector<uint8_t> out(n);
    cfg.io_read(1, out);  // one `rep insb` of n bytes
    return out;
  }
  // Writes FWCfgDmaAccess at kReq and starts it the way OVMF does (high half, then low half).
  uint32_t dma(uint32_t control, uint32_t length, uint64_t buffer, uint64_t request = kReq) {
    uint32_t c = htobe32(control), l = htobe32(length);
    uint64_t a = htobe64(buffer);
    if (request >= kBase && request + 16 <= kBase + 0x10000) {
      std::memcpy(ram.at(request), &c, 4);
      std::memcpy(ram.at(request) + 4, &l, 4);
      std::memcpy(ram.at(request) + 8, &a, 8);
    }
    uint32_t hi = htobe32(static_cast<uint32_t>(request >> 32)), lo = htobe32(static_cast<uint32_t>(request));
    cfg.io_write(4, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&hi), 4));
    cfg.io_write(8, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&lo), 4));
    if (request < kBase || request + 16 > kBase + 0x10000) return 0xdeadbeef;
    return be32toh(ram.get<uint32_t>(request));
  }
  std::string buf_string(size_t n) { return std::string(reinterpret_cast<char*>(ram.at(kBuf)), n); }

  FakeRam ram{kBase, 0x10000};
  FwCfg cfg{ram};
};

TEST_F(FwCfgTest, ProbeThroughTheDataPort) {
  select(FwCfg::kSignature);
  auto sig = read_data(4);
  EXPECT_EQ(std::string(sig.begin(), sig.end()), "QEMU");
  select(FwCfg::kId);
  EXPECT_EQ(read_data(4), (std::vector<uint8_t>{3, 0, 0, 0})) << "traditional + DMA, little-endian";
  EXPECT_EQ(read_data(2), (std::vector<uint8_t>{0, 0})) << "past the end reads 0, never 0xff";
  select(0x2a);  // no such item
  EXPECT_EQ(read_data(3), (std::vector<uint8_t>{0, 0, 0}));
}

TEST_F(FwCfgTest, DmaRegisterReadsTheSignature) {
  uint8_t b[8];
  cfg.io_read(4, b);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), 8), "QEMU CFG");
}

TEST_F(FwCfgTest, NumericItemsAndTheirRules) {
  ASSERT_TRUE(cfg.set_item(FwCfg::kNbCpus, FwCfg::le16(2)));
  select(FwCfg::kNbCpus);
  EXPECT_EQ(read_data(2), (std::vector<uint8_t>{2, 0}));
  EXPECT_FALSE(cfg.set_item(FwCfg::kFileDir, {}));
  EXPECT_FALSE(cfg.set_item(FwCfg::kFirstFile, {})) << "file keys belong to add_file";
  EXPECT_FALSE(cfg.set_item(0x4005, {})) << "the write-channel bit is not part of a key";
  EXPECT_TRUE(cfg.set_item(0x8002, {1})) << "architecture-specific keys (0x8000+) are items";
  select(0x4000 | FwCfg::kNbCpus);
  EXPECT_EQ(read_data(2), (std::vector<uint8_t>{2, 0})) << "the write-channel bit selects the same item";
}

TEST_F(FwCfgTest, FileDirectoryIsBigEndianInOrderAdded) {
  auto k1 = cfg.add_file("etc/e820", FwCfg::e820_file(std::vector<FwCfg::E820Entry>{{0, 0x8000000, 1}}));
  auto k2 = cfg.add_file("bootorder", {'/', '\0'});
  ASSERT_TRUE(k1 && k2);
  EXPECT_EQ(*k1, FwCfg::kFirstFile);
  EXPECT_EQ(*k2, FwCfg::kFirstFile + 1);
  select(FwCfg::kFileDir);
  auto dir = read_data(4 + 2 * 64);
  EXPECT_EQ(be32toh(*reinterpret_cast<uint32_t*>(dir.data())), 2u);
  const uint8_t* e = dir.data() + 4;
  EXPECT_EQ(be32toh(*reinterpret_cast<const uint32_t*>(e)), 20u) << "one e820 entry is 20 bytes";
  EXPECT_EQ(be16toh(*reinterpret_cast<const uint16_t*>(e + 4)), FwCfg::kFirstFile);
  EXPECT_STREQ(reinterpret_cast<const char*>(e + 8), "etc/e820");
  EXPECT_STREQ(reinterpret_cast<const char*>(e + 64 + 8), "bootorder");
  // The file through its key: {le64 0, le64 128 MiB, le32 1}.
  select(*k1);
  auto entry = read_data(20);
  uint64_t len;
  std::memcpy(&len, entry.data() + 8, 8);
  EXPECT_EQ(len, 0x8000000u);
  EXPECT_EQ(entry[16], 1);
}

TEST_F(FwCfgTest, FileNamesAreCheckedAndReplacingUpdatesTheSize) {
  EXPECT_FALSE(cfg.add_file("", {}));
  EXPECT_FALSE(cfg.add_file(std::string(56, 'x'), {})) << "55 bytes and the NUL fill the field";
  EXPECT_TRUE(cfg.add_file(std::string(55, 'x'), {}));
  ASSERT_TRUE(cfg.add_file("etc/acpi/tables", std::vector<uint8_t>(10, 1)));
  EXPECT_FALSE(cfg.add_file("etc/acpi/tables", {})) << "duplicate";
  ASSERT_TRUE(cfg.replace_file("etc/acpi/tables", std::vector<uint8_t>(300, 2)));
  EXPECT_FALSE(cfg.replace_file("etc/none", {}));
  select(FwCfg::kFileDir);
  auto dir = read_data(4 + 2 * 64);
  EXPECT_EQ(be32toh(*reinterpret_cast<uint32_t*>(dir.data() + 4 + 64)), 300u);
}

TEST_F(FwCfgTest, DmaSelectAndReadThenZeroFillPastTheEnd) {
  ASSERT_TRUE(cfg.add_file("etc/hello", {'h', 'e', 'l', 'l', 'o'}));
  std::memset(ram.at(kBuf), 0xee, 16);
  uint32_t control = uint32_t{FwCfg::kFirstFile} << 16 | FwCfg::kDmaSelect | FwCfg::kDmaRead;
  EXPECT_EQ(dma(control, 3, kBuf), 0u) << "control 0: done, no error";
  EXPECT_EQ(buf_string(3), "hel");
  EXPECT_EQ(ram.at(kBuf)[3], 0xee) << "nothing written past the length";
  // The next read continues at offset 3 and fills what the item lacks with zeros.
  EXPECT_EQ(dma(FwCfg::kDmaRead, 6, kBuf), 0u);
  EXPECT_EQ(buf_string(6), std::string("lo\0\0\0\0", 6));
  EXPECT_EQ(ram.at(kBuf)[6], 0xee);
}

TEST_F(FwCfgTest, DmaSkipMovesTheOffset) {
  ASSERT_TRUE(cfg.add_file("etc/abc", {'a', 'b', 'c', 'd'}));
  uint32_t control = uint32_t{FwCfg::kFirstFile} << 16 | FwCfg::kDmaSelect | FwCfg::kDmaSkip;
  EXPECT_EQ(dma(control, 2, 0), 0u) << "a skip needs no buffer";
  auto rest = read_data(3);
  EXPECT_EQ(std::string(rest.begin(), rest.end()), std::string("cd\0", 3)) << "the data port continues where DMA left off";
}

TEST_F(FwCfgTest, DmaWriteIsRefusedWithTheErrorBit) {
  ASSERT_TRUE(cfg.add_file("etc/ro", {1, 2}));
  uint32_t control = uint32_t{FwCfg::kFirstFile} << 16 | FwCfg::kDmaSelect | FwCfg::kDmaWrite;
  std::memset(ram.at(kBuf), 9, 2);
  EXPECT_EQ(dma(control, 2, kBuf), FwCfg::kDmaError);
  select(FwCfg::kFirstFile);
  EXPECT_EQ(read_data(2), (std::vector<uint8_t>{1, 2})) << "the item is unchanged";
}

TEST_F(FwCfgTest, BuffersAndRequestsOutsideRam) {
  uint32_t control = uint32_t{FwCfg::kSignature} << 16 | FwCfg::kDmaSelect | FwCfg::kDmaRead;
  EXPECT_EQ(dma(control, 4, kBase + 0x10000 - 2), FwCfg::kDmaError) << "a buffer crossing RAM's end";
  EXPECT_EQ(dma(control, 0xffffffff, kBuf), FwCfg::kDmaError) << "a zero fill beyond RAM";
  EXPECT_EQ(dma(control, 4, 0xfffffffffffffffe), FwCfg::kDmaError) << "a buffer address that wraps";
  // A request outside RAM has nowhere to answer: nothing happens (and nothing crashes).
  dma(control, 4, kBuf, 0x10);
  dma(control, 4, kBuf, kBase + 0x10000 - 8);
  EXPECT_EQ(dma(control, 4, kBuf), 0u) << "the device still works";
  EXPECT_EQ(buf_string(4), "QEMU");
}

TEST_F(FwCfgTest, SixtyFourBitAddressWriteAndReset) {
  start_dma64(cfg, ram, 4, kReq, uint32_t{FwCfg::kSignature} << 16 | FwCfg::kDmaSelect | FwCfg::kDmaRead, 4, kBuf);
  EXPECT_EQ(be32toh(ram.get<uint32_t>(kReq)), 0u);
  EXPECT_EQ(buf_string(4), "QEMU");
  // A high half written and then a reset: the next low-half write starts from a clean address.
  uint32_t hi = htobe32(0x1234);
  cfg.io_write(4, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&hi), 4));
  select(FwCfg::kId);
  cfg.reset();
  EXPECT_EQ(read_data(4), (std::vector<uint8_t>{'Q', 'E', 'M', 'U'})) << "reset selects the signature";
  EXPECT_EQ(dma(FwCfg::kDmaRead, 4, kBuf), 0u) << "no stale high half";
}

}  // namespace
}  // namespace altovirt::devices

namespace altovirt::devices {
namespace {

// The memory-mapped registers as ArmVirtPkg's QemuFwCfgLib uses them on the arm64 virt board: a
// big-endian selector at +8, 8-byte data reads at +0, one 64-bit big-endian DMA write at +16.
TEST(FwCfgMmioTest, SelectorDataAndDmaAtTheirMmioOffsets) {
  FakeRam ram{kBase, 0x10000};
  FwCfg cfg{ram, FwCfg::Interface::mmio};
  ASSERT_TRUE(cfg.add_file("etc/arm", {'a', 'r', 'm', '6', '4', '!', '!', '!', '?'}));
  const uint8_t sel[2] = {0x00, 0x20};  // key 0x20, big-endian
  cfg.io_write(8, sel);
  uint8_t eight[8];
  cfg.io_read(0, eight);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(eight), 8), "arm64!!!") << "a 64-bit read gives 8 bytes in order";
  uint8_t one;
  cfg.io_read(0, std::span<uint8_t>(&one, 1));
  EXPECT_EQ(one, '?');
  // A little-endian selector (x86's) would have picked key 0x2000, which does not exist.
  const uint8_t sel_le[2] = {0x20, 0x00};
  cfg.io_write(8, sel_le);
  cfg.io_read(0, std::span<uint8_t>(&one, 1));
  EXPECT_EQ(one, 0) << "key 0x2000 is no item";
  // The DMA register reads as "QEMU CFG".
  uint8_t sig[8];
  cfg.io_read(16, sig);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(sig), 8), "QEMU CFG");
  // DMA: select the file and read 5 bytes.
  start_dma64(cfg, ram, 16, kReq, uint32_t{FwCfg::kFirstFile} << 16 | FwCfg::kDmaSelect | FwCfg::kDmaRead, 5, kBuf);
  EXPECT_EQ(be32toh(ram.get<uint32_t>(kReq)), 0u) << "done without error";
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(kBuf)), 5), "arm64");
  // The port interface's offsets mean nothing here: a write at +0 (x86's selector) selects nothing.
  cfg.io_write(8, sel);
  cfg.io_read(0, std::span<uint8_t>(&one, 1));
  EXPECT_EQ(one, 'a') << "the selector at +8 rewound the item";
  const uint8_t signature_key[2] = {0x00, 0x00};
  cfg.io_write(0, signature_key);
  cfg.io_read(0, std::span<uint8_t>(&one, 1));
  EXPECT_EQ(one, 'r') << "a write at +0 did not select the signature: the item streams on";
}

}  // namespace
}  // namespace altovirt::devices
