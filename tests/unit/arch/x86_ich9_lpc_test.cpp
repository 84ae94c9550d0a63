// The ICH9 LPC function's registers as OVMF programs them (PlatformPei's PMBASE/ACPI_EN set-up,
// BDS's PIRQ routing, RCBA), reached through a PciBus at 00:1f.0 as the firmware reaches them.
#include "altovirt/arch/x86/ich9_lpc.h"

#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include <vector>

#include "altovirt/pci/pci_bus.h"

using namespace altovirt;
using arch::x86::Ich9Lpc;

namespace {

struct Fixture {
  pci::PciBus bus;
  std::shared_ptr<Ich9Lpc> lpc = std::make_shared<Ich9Lpc>();
  pci::PciAddress at{0, 0x1f, 0};
  std::vector<std::pair<std::optional<uint16_t>, std::optional<uint16_t>>> moves;
  Fixture() {
    EXPECT_TRUE(bus.add(lpc, 0x1f, 0, false));
    lpc->set_pm_listener([this](auto old, auto now) { moves.emplace_back(old, now); });
  }
  uint32_t rd(unsigned off, unsigned size = 4) { return bus.config_read(at, off, size); }
  void wr(unsigned off, unsigned size, uint32_t v) { bus.config_write(at, off, size, v); }
};

}  // namespace

TEST(Ich9Lpc, IdentifiesAsTheIch9IsaBridge) {
  Fixture f;
  EXPECT_EQ(f.rd(PCI_VENDOR_ID), 0x29188086u);
  EXPECT_EQ(f.rd(PCI_CLASS_REVISION) >> 8, 0x060100u) << "class 06/01: what OVMF's SioBusDxe looks for";
}

TEST(Ich9Lpc, OvmfPmSetupEnablesThePmBlockAt0x600) {
  Fixture f;
  EXPECT_FALSE(f.lpc->pm_base()) << "ACPI_EN is clear after reset";
  EXPECT_EQ(f.rd(Ich9Lpc::kPmbase), 1u);
  f.wr(Ich9Lpc::kPmbase, 4, 0x601);  // PlatformPei: PMBASE = 0x600
  EXPECT_TRUE(f.moves.empty()) << "no decode before ACPI_EN";
  f.wr(Ich9Lpc::kAcpiCntl, 1, Ich9Lpc::kAcpiEnable);
  ASSERT_EQ(f.moves.size(), 1u);
  EXPECT_FALSE(f.moves[0].first);
  EXPECT_EQ(f.moves[0].second, 0x600);
  EXPECT_EQ(f.rd(Ich9Lpc::kPmbase) & 0xff80, 0x600u) << "read back on every timer tick";
}

TEST(Ich9Lpc, PmbaseMasksAndMoves) {
  Fixture f;
  f.lpc->set_pm_base(0x600);
  EXPECT_EQ(f.lpc->pm_base(), 0x600);
  f.wr(Ich9Lpc::kPmbase, 4, 0xffffffff);
  EXPECT_EQ(f.rd(Ich9Lpc::kPmbase), 0xff81u) << "bits 15:7 writable, bit 0 fixed";
  ASSERT_EQ(f.moves.size(), 1u);
  EXPECT_EQ(f.moves[0], (std::pair<std::optional<uint16_t>, std::optional<uint16_t>>{0x600, 0xff80}));
  f.wr(Ich9Lpc::kAcpiCntl, 1, 0);  // ACPI_EN off: the block stops decoding
  ASSERT_EQ(f.moves.size(), 2u);
  EXPECT_FALSE(f.moves[1].second);
  f.wr(Ich9Lpc::kAcpiCntl, 1, 0);  // no change, no call
  EXPECT_EQ(f.moves.size(), 2u);
}

TEST(Ich9Lpc, PirqRoutesAndRcbaAreStorage) {
  Fixture f;
  EXPECT_EQ(f.rd(Ich9Lpc::kPirqA), 0x80808080u) << "not routed after reset";
  f.wr(Ich9Lpc::kPirqA, 4, 0x0b0b0a0a);  // BDS: {10, 10, 11, 11}
  f.wr(Ich9Lpc::kPirqE, 4, 0xffffffff);
  EXPECT_EQ(f.rd(Ich9Lpc::kPirqA), 0x0b0b0a0au);
  EXPECT_EQ(f.rd(Ich9Lpc::kPirqE), 0x8f8f8f8fu);
  f.wr(Ich9Lpc::kRcba, 4, 0xfed1c001);
  EXPECT_EQ(f.rd(Ich9Lpc::kRcba), 0xfed1c001u);
  f.wr(Ich9Lpc::kRcba, 4, 0xffffffff);
  EXPECT_EQ(f.rd(Ich9Lpc::kRcba), 0xffffc001u);
  EXPECT_TRUE(f.moves.empty());
}
