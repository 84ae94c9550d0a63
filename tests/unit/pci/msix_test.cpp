// MSI-X (PCI 3.0 6.8.2) and MSI (6.8.1) capability semantics: table layout, masks, PBA, and the
// route updates they produce through MsiSink.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include <cstring>

#include "altovirt/pci/msi.h"
#include "altovirt/pci/msix.h"

using namespace altovirt::pci;

namespace {

struct Recorder : MsiSink {
  struct Change {
    unsigned vector;
    MsiMessage msg;
    bool masked;
  };
  std::vector<std::pair<bool, unsigned>> enables;
  std::vector<Change> changes;
  std::vector<std::pair<unsigned, MsiMessage>> injected;
  void enable_changed(bool e, unsigned n) override { enables.push_back({e, n}); }
  void vector_changed(unsigned v, const MsiMessage& m, bool masked) override { changes.push_back({v, m, masked}); }
  void inject(unsigned v, const MsiMessage& m) override { injected.push_back({v, m}); }
};

void write32(MsixCapability& m, uint64_t off, uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  m.table_write(off, b);
}
uint32_t read32(MsixCapability& m, uint64_t off) {
  uint8_t b[4];
  m.table_read(off, b);
  uint32_t v;
  std::memcpy(&v, b, 4);
  return v;
}
uint64_t pba64(MsixCapability& m) {
  uint8_t b[8];
  m.pba_read(0, b);
  uint64_t v;
  std::memcpy(&v, b, 8);
  return v;
}
void control(ConfigSpace& c, MsixCapability& m, uint16_t v) {
  c.write(m.offset() + PCI_MSIX_FLAGS, 2, v);
  m.control_written();
}

struct MsixFixture : ::testing::Test {
  ConfigSpace config;
  Recorder sink;
  std::unique_ptr<MsixCapability> msix;
  void SetUp() override {
    auto m = MsixCapability::create(config, sink, 4, 0, 0x2000, 0, 0x3000);
    ASSERT_TRUE(m);
    msix = std::move(*m);
  }
  void program(unsigned v, uint32_t addr, uint32_t data) {
    write32(*msix, v * 16 + 0, addr);
    write32(*msix, v * 16 + 4, 0);
    write32(*msix, v * 16 + 8, data);
  }
};

}  // namespace

TEST_F(MsixFixture, CapabilityDescribesTableAndPba) {
  unsigned cap = msix->offset();
  EXPECT_EQ(config.get8(cap), PCI_CAP_ID_MSIX);
  EXPECT_EQ(config.read(cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE, 3u);  // N-1
  EXPECT_EQ(config.read(cap + PCI_MSIX_TABLE, 4), 0x2000u);
  EXPECT_EQ(config.read(cap + PCI_MSIX_PBA, 4), 0x3000u);
  config.write(cap + PCI_MSIX_FLAGS, 2, 0xffff);
  EXPECT_EQ(config.read(cap + PCI_MSIX_FLAGS, 2), unsigned{PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | 3});
  EXPECT_TRUE(msix->in_table(0, 0x2000 + 63, 1));
  EXPECT_FALSE(msix->in_table(0, 0x2040, 4));
  EXPECT_TRUE(msix->in_pba(0, 0x3000, 8));
  EXPECT_FALSE(msix->in_pba(1, 0x3000, 8));
}

TEST_F(MsixFixture, VectorsStartMaskedAndTableReadsBack) {
  for (unsigned v = 0; v < 4; ++v) EXPECT_EQ(read32(*msix, v * 16 + 12), 1u) << "vector " << v;
  program(2, 0xfee01000, 0x4041);
  EXPECT_EQ(read32(*msix, 32), 0xfee01000u);
  EXPECT_EQ(read32(*msix, 40), 0x4041u);
  EXPECT_EQ(msix->message(2), (MsiMessage{0xfee01000, 0x4041}));
}

TEST_F(MsixFixture, OddAccessesReadOnesAndAreDropped) {
  uint8_t b2[2] = {0, 0};
  msix->table_write(0, b2);
  uint8_t r2[2];
  msix->table_read(0, r2);
  EXPECT_EQ(r2[0], 0xff);
  write32(*msix, 2, 0x1234);  // misaligned
  EXPECT_EQ(read32(*msix, 0), 0u);
  EXPECT_EQ(read32(*msix, 4 * 16), 0xffffffffu) << "past the table";
}

TEST_F(MsixFixture, RoutesFollowEnableFunctionMaskAndVectorMask) {
  program(0, 0xfee00000, 0x31);
  ASSERT_FALSE(sink.changes.empty());
  EXPECT_TRUE(sink.changes.back().masked) << "MSI-X is still disabled";
  sink.changes.clear();
  control(config, *msix, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
  ASSERT_EQ(sink.enables.size(), 1u);
  EXPECT_EQ(sink.enables[0], std::make_pair(true, 4u));
  sink.changes.clear();
  write32(*msix, 12, 0);  // unmask vector 0 while the function is masked
  ASSERT_EQ(sink.changes.size(), 1u);
  EXPECT_TRUE(sink.changes[0].masked);
  sink.changes.clear();
  control(config, *msix, PCI_MSIX_FLAGS_ENABLE);  // function unmasked
  ASSERT_EQ(sink.changes.size(), 4u);
  EXPECT_FALSE(sink.changes[0].masked);
  EXPECT_EQ(sink.changes[0].msg, (MsiMessage{0xfee00000, 0x31}));
  EXPECT_TRUE(sink.changes[1].masked) << "vector 1 is still masked";
  sink.changes.clear();
  write32(*msix, 12, 1);
  ASSERT_EQ(sink.changes.size(), 1u);
  EXPECT_TRUE(sink.changes[0].masked);
}

TEST_F(MsixFixture, MaskedVectorSetsPendingBitAndUnmaskDeliversIt) {
  program(1, 0xfee00000, 0x41);
  control(config, *msix, PCI_MSIX_FLAGS_ENABLE);
  msix->signal(1);  // vector 1 is masked
  EXPECT_TRUE(sink.injected.empty());
  EXPECT_EQ(pba64(*msix), 0x2u);
  write32(*msix, 16 + 12, 0);  // unmask: sent, and the pending bit cleared (6.8.2.9)
  ASSERT_EQ(sink.injected.size(), 1u);
  EXPECT_EQ(sink.injected[0].first, 1u);
  EXPECT_EQ(sink.injected[0].second, (MsiMessage{0xfee00000, 0x41}));
  EXPECT_EQ(pba64(*msix), 0u);
  msix->signal(1);  // unmasked: delivered at once, nothing pending
  EXPECT_EQ(sink.injected.size(), 2u);
  EXPECT_EQ(pba64(*msix), 0u);
}

TEST_F(MsixFixture, FunctionMaskHoldsInterruptsPending) {
  program(3, 0xfee00000, 0x51);
  write32(*msix, 3 * 16 + 12, 0);
  control(config, *msix, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
  msix->signal(3);
  EXPECT_TRUE(sink.injected.empty());
  EXPECT_TRUE(msix->pending(3));
  control(config, *msix, PCI_MSIX_FLAGS_ENABLE);
  ASSERT_EQ(sink.injected.size(), 1u);
  EXPECT_FALSE(msix->pending(3));
}

TEST_F(MsixFixture, PbaIsReadOnly) {
  msix->set_pending(0, true);
  EXPECT_EQ(pba64(*msix), 1u);
  EXPECT_TRUE(msix->pending(0));
  msix->set_pending(0, false);
  EXPECT_EQ(pba64(*msix), 0u);
}

TEST(MsixCreate, RejectsBadGeometry) {
  ConfigSpace c;
  Recorder s;
  EXPECT_FALSE(MsixCapability::create(c, s, 0, 0, 0, 0, 0x800));
  EXPECT_FALSE(MsixCapability::create(c, s, 2049, 0, 0, 0, 0x800));
  EXPECT_FALSE(MsixCapability::create(c, s, 4, 6, 0, 0, 0x800));
  EXPECT_FALSE(MsixCapability::create(c, s, 4, 0, 4, 0, 0x800));
}

TEST(Msi, MultipleMessagesAndPerVectorMask) {
  ConfigSpace c;
  Recorder s;
  auto m = MsiCapability::create(c, s, 4);
  ASSERT_TRUE(m);
  unsigned cap = (*m)->offset();
  EXPECT_EQ(c.read(cap + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_QMASK, 2u << 1);  // 4 vectors capable
  c.write(cap + PCI_MSI_ADDRESS_LO, 4, 0xfee00000);
  c.write(cap + PCI_MSI_DATA_64, 2, 0x4020);
  c.write(cap + PCI_MSI_MASK_64, 4, 0xffffffff);
  EXPECT_EQ(c.read(cap + PCI_MSI_MASK_64, 4), 0xfu) << "only 4 mask bits exist";
  c.write(cap + PCI_MSI_MASK_64, 4, 0x2);  // vector 1 masked
  c.write(cap + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE | (2 << 4));  // enable 4
  (*m)->config_written();
  ASSERT_EQ(s.enables.size(), 1u);
  EXPECT_EQ(s.enables[0], std::make_pair(true, 4u));
  ASSERT_EQ(s.changes.size(), 4u);
  EXPECT_EQ(s.changes[3].msg.data, 0x4023u) << "vector 3 sends data | 3";
  EXPECT_TRUE(s.changes[1].masked);
  (*m)->signal(1);
  EXPECT_TRUE(s.injected.empty());
  EXPECT_EQ(c.read(cap + PCI_MSI_PENDING_64, 4), 0x2u);
  c.write(cap + PCI_MSI_PENDING_64, 4, 0);  // pending bits are read-only
  EXPECT_EQ(c.read(cap + PCI_MSI_PENDING_64, 4), 0x2u);
  c.write(cap + PCI_MSI_MASK_64, 4, 0);
  (*m)->config_written();
  ASSERT_EQ(s.injected.size(), 1u);
  EXPECT_EQ(s.injected[0].second.data, 0x4021u);
}
