#include "altovirt/host/pci_address.h"

#include <gtest/gtest.h>

namespace altovirt::host {
namespace {

TEST(PciAddress, AcceptsTheThreeForms) {
  for (const char* s : {"0000:03:00.0", "03:00.0", "pci_0000_03_00_0"}) {
    auto a = parse_pci_address(s);
    ASSERT_TRUE(a) << s << ": " << a.error().message();
    EXPECT_EQ(a->str(), "0000:03:00.0") << s;
    EXPECT_EQ(a->node_name(), "pci_0000_03_00_0") << s;
  }
}

TEST(PciAddress, KeepsEveryField) {
  auto a = parse_pci_address("abcd:ef:1f.7");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->domain, 0xabcdu);
  EXPECT_EQ(a->bus, 0xef);
  EXPECT_EQ(a->slot, 0x1f);
  EXPECT_EQ(a->function, 7);
  EXPECT_EQ(a->str(), "abcd:ef:1f.7");
  EXPECT_EQ(a->node_name(), "pci_abcd_ef_1f_7");
  EXPECT_EQ(parse_pci_address("pci_abcd_ef_1f_7")->str(), "abcd:ef:1f.7");
}

TEST(PciAddress, RefusesEverythingElseWithTheAcceptedForms) {
  for (const char* s : {"", "bogus", "0000:03:00.8", "03:20.0", "03:00", "0000:03:00.0x", "000:03:00.0",
                        "pci_0000_03_00", "pci_0000:03:00.0", "0000:103:00.0", "03:00.0 ", "-3:00.0",
                        "pci_0000_03_00_0_"}) {
    auto a = parse_pci_address(s);
    ASSERT_FALSE(a) << "accepted '" << s << "'";
    EXPECT_NE(a.error().message().find(std::string("'") + s + "' is not a PCI device name"), std::string::npos)
        << a.error().message();
    EXPECT_NE(a.error().message().find("0000:03:00.0 or 03:00.0"), std::string::npos);
    EXPECT_NE(a.error().message().find("pci_0000_03_00_0"), std::string::npos);
  }
}

TEST(PciAddress, OrdersByDomainBusSlotFunction) {
  EXPECT_LT(*parse_pci_address("00:1f.7"), *parse_pci_address("01:00.0"));
  EXPECT_LT(*parse_pci_address("02:00.0"), *parse_pci_address("02:00.1"));
}

}  // namespace
}  // namespace altovirt::host
