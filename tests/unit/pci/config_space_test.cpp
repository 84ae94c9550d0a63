// PCI config space rules: RO/RW/W1C bits, BAR sizing (32/64-bit, prefetchable, I/O), capability
// lists, and BAR decode notifications.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include "altovirt/pci/pci_device.h"

using namespace altovirt::pci;

namespace {

class TestDevice : public PciDevice {
 public:
  TestDevice() : PciDevice("test", 0x1234, 0x5678, 0x020000, 3) {}
  using PciDevice::define_bar;
  struct Change {
    unsigned bar;
    std::optional<uint64_t> from, to;
  };
  std::vector<Change> changes;

 protected:
  void bar_mapping_changed(unsigned bar, std::optional<uint64_t> from, std::optional<uint64_t> to) override {
    changes.push_back({bar, from, to});
  }
};

// What a guest does to size a BAR (PCI 3.0 6.2.5.1): write all ones, read back, restore.
uint32_t size_probe(PciDevice& d, unsigned off) {
  uint32_t old = d.config_read(off, 4);
  d.config_write(off, 4, 0xffffffff);
  uint32_t v = d.config_read(off, 4);
  d.config_write(off, 4, old);
  return v;
}

}  // namespace

TEST(ConfigSpace, ReadOnlyBitsIgnoreWrites) {
  TestDevice d;
  d.config_write(PCI_VENDOR_ID, 4, 0xdeadbeef);
  EXPECT_EQ(d.config_read(PCI_VENDOR_ID, 2), 0x1234u);
  EXPECT_EQ(d.config_read(PCI_DEVICE_ID, 2), 0x5678u);
  EXPECT_EQ(d.config_read(PCI_CLASS_REVISION, 4), 0x02000003u);
}

TEST(ConfigSpace, WritableBitsTakeOnlyTheMask) {
  TestDevice d;
  d.config_write(PCI_COMMAND, 2, 0xffff);
  uint16_t want = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
                  PCI_COMMAND_INTX_DISABLE;
  EXPECT_EQ(d.config_read(PCI_COMMAND, 2), want);
  d.config_write(PCI_INTERRUPT_LINE, 1, 0x0b);
  EXPECT_EQ(d.config_read(PCI_INTERRUPT_LINE, 1), 0x0bu);
}

TEST(ConfigSpace, WriteOneToClearStatusBits) {
  TestDevice d;
  d.config().set16(PCI_STATUS, PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_DETECTED_PARITY | PCI_STATUS_66MHZ);
  d.config_write(PCI_STATUS, 2, 0);  // writing 0 changes nothing
  EXPECT_EQ(d.config_read(PCI_STATUS, 2), unsigned{PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_DETECTED_PARITY | PCI_STATUS_66MHZ});
  d.config_write(PCI_STATUS, 2, PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_66MHZ);  // 66MHZ is RO
  EXPECT_EQ(d.config_read(PCI_STATUS, 2), unsigned{PCI_STATUS_DETECTED_PARITY | PCI_STATUS_66MHZ});
}

TEST(ConfigSpace, MisalignedAccessesReadOnesAndAreDropped) {
  TestDevice d;
  EXPECT_EQ(d.config().read(PCI_COMMAND + 1, 2), 0xffffffffu);
  EXPECT_EQ(d.config().read(4094, 4), 0xffffffffu);
  d.config().write(PCI_COMMAND + 1, 2, 0xffff);
  EXPECT_EQ(d.config_read(PCI_COMMAND, 2), 0u);
}

TEST(Bar, Mem32SizingReturnsSizeMaskAndTypeBits) {
  TestDevice d;
  ASSERT_TRUE(d.define_bar(0, {BarKind::mem32, 0x4000, false}));
  EXPECT_EQ(size_probe(d, PCI_BASE_ADDRESS_0), 0xffffc000u);
  ASSERT_TRUE(d.define_bar(1, {BarKind::mem32, 0x100000, true}));
  EXPECT_EQ(size_probe(d, PCI_BASE_ADDRESS_1), 0xfff00000u | PCI_BASE_ADDRESS_MEM_PREFETCH);
}

TEST(Bar, Mem64SizingSpansTwoRegisters) {
  TestDevice d;
  ASSERT_TRUE(d.define_bar(2, {BarKind::mem64, uint64_t{8} << 30, true}));  // 8 GiB
  EXPECT_EQ(size_probe(d, PCI_BASE_ADDRESS_2), 0x0000000cu);  // low 32 address bits all RO zero
  EXPECT_EQ(size_probe(d, PCI_BASE_ADDRESS_3), 0xfffffffeu);
  EXPECT_EQ(d.bar(2).kind, BarKind::mem64);
  EXPECT_EQ(d.bar(3).kind, BarKind::none);
}

TEST(Bar, IoSizing) {
  TestDevice d;
  ASSERT_TRUE(d.define_bar(4, {BarKind::io, 0x20, false}));
  EXPECT_EQ(size_probe(d, PCI_BASE_ADDRESS_4), 0x0000ffe1u);
}

TEST(Bar, RejectsBadDefinitions) {
  TestDevice d;
  EXPECT_FALSE(d.define_bar(0, {BarKind::mem32, 0x3000, false}));  // not a power of two
  EXPECT_FALSE(d.define_bar(5, {BarKind::mem64, 0x1000, false}));  // no room for the upper half
  EXPECT_FALSE(d.define_bar(6, {BarKind::mem32, 0x1000, false}));
  EXPECT_FALSE(d.define_bar(0, {BarKind::io, 0x1000, false}));     // I/O BARs are at most 256 bytes
  ASSERT_TRUE(d.define_bar(0, {BarKind::mem32, 0x1000, false}));
  EXPECT_FALSE(d.define_bar(0, {BarKind::mem32, 0x1000, false}));  // twice
}

TEST(Bar, DecodeChangesAreReported) {
  TestDevice d;
  ASSERT_TRUE(d.define_bar(0, {BarKind::mem64, 0x4000, false}));
  d.config_write(PCI_BASE_ADDRESS_0, 4, 0xc0004000);
  d.config_write(PCI_BASE_ADDRESS_1, 4, 0x1);
  EXPECT_TRUE(d.changes.empty()) << "memory decode is off: nothing is mapped yet";
  EXPECT_EQ(d.bar_address(0), std::nullopt);
  d.config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_EQ(d.changes[0].bar, 0u);
  EXPECT_EQ(d.changes[0].from, std::nullopt);
  EXPECT_EQ(d.changes[0].to, uint64_t{0x1c0004000});
  d.config_write(PCI_BASE_ADDRESS_1, 4, 0x2);  // the guest moves the BAR with decode on
  ASSERT_EQ(d.changes.size(), 2u);
  EXPECT_EQ(d.changes[1].from, uint64_t{0x1c0004000});
  EXPECT_EQ(d.changes[1].to, uint64_t{0x2c0004000});
  d.config_write(PCI_COMMAND, 2, 0);
  ASSERT_EQ(d.changes.size(), 3u);
  EXPECT_EQ(d.changes[2].to, std::nullopt);
}

TEST(Bar, SizingPatternIsNotAnAddress) {
  TestDevice d;
  ASSERT_TRUE(d.define_bar(0, {BarKind::mem32, 0x1000, false}));
  d.config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
  d.config_write(PCI_BASE_ADDRESS_0, 4, 0xffffffff);
  EXPECT_EQ(d.bar_address(0), std::nullopt);
}

TEST(Capabilities, ListIsLinkedAndFindable) {
  TestDevice d;
  EXPECT_EQ(d.config().find_capability(PCI_CAP_ID_MSI), std::nullopt);
  auto a = d.config().add_capability(PCI_CAP_ID_PM, 8);
  auto b = d.config().add_capability(PCI_CAP_ID_MSI, 24);
  auto c = d.config().add_capability(PCI_CAP_ID_EXP, 60);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, 0x40u);
  EXPECT_TRUE(d.config_read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
  EXPECT_EQ(d.config_read(PCI_CAPABILITY_LIST, 1), *a);
  EXPECT_EQ(d.config_read(*a + 1, 1), *b);
  EXPECT_EQ(d.config_read(*b + 1, 1), *c);
  EXPECT_EQ(d.config_read(*c + 1, 1), 0u);
  EXPECT_EQ(*b % 4, 0u);
  EXPECT_EQ(d.config().find_capability(PCI_CAP_ID_MSI), *b);
  EXPECT_EQ(d.config().find_capability(PCI_CAP_ID_EXP), *c);
  EXPECT_FALSE(d.config().add_capability(PCI_CAP_ID_VNDR, 200)) << "capabilities must fit below 0x100";
}

TEST(Capabilities, ExtendedListStartsAt0x100) {
  TestDevice d;
  auto a = d.config().add_ext_capability(PCI_EXT_CAP_ID_ERR, 2, 0x48);
  auto b = d.config().add_ext_capability(PCI_EXT_CAP_ID_DSN, 1, 0x0c);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, 0x100u);
  EXPECT_EQ(d.config_read(0x100, 4) >> 20, *b);
  EXPECT_EQ(d.config().find_ext_capability(PCI_EXT_CAP_ID_DSN), *b);
  EXPECT_EQ(d.config().find_ext_capability(PCI_EXT_CAP_ID_SRIOV), std::nullopt);
}
