#include "altovirt/host/pci_device.h"

#include <gtest/gtest.h>

#include "altovirt/host/pci_names.h"
#include "fixture.h"

namespace altovirt::host::testing {
namespace {

using PciDeviceTest = HostFixture;

TEST_F(PciDeviceTest, ListsEveryDeviceSorted) {
  auto list = list_pci_devices(k);
  ASSERT_TRUE(list);
  std::vector<std::string> names;
  for (const auto& a : *list) names.push_back(a.str());
  EXPECT_EQ(names, (std::vector<std::string>{"0000:00:00.0", "0000:00:04.0", "0000:00:1f.0", "0000:00:1f.2",
                                             "0000:00:1f.3", "0000:01:00.0", "0000:02:00.0"}));
}

TEST_F(PciDeviceTest, ReadsIdsDriverGroupAndReset) {
  auto d = read_pci_device(k, addr("01:00.0"));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->vendor, 0x8086);
  EXPECT_EQ(d->device, 0x10d3);
  EXPECT_EQ(d->class_code, 0x020000u);
  EXPECT_EQ(d->subsystem_vendor, 0x8086);
  EXPECT_EQ(d->driver, "e1000e");
  EXPECT_EQ(d->driver_override, "");
  EXPECT_EQ(d->iommu_group, 8u);
  EXPECT_EQ(d->group_members, std::vector<PciAddress>{addr("01:00.0")});
  EXPECT_TRUE(d->has_reset);
  EXPECT_EQ(d->reset_methods, (std::vector<std::string>{"pm", "bus"}));
  EXPECT_FALSE(d->is_bridge());
  EXPECT_FALSE(d->is_pf());
  EXPECT_FALSE(d->is_vf());
}

TEST_F(PciDeviceTest, ReadsGroupMembersAndNoReset) {
  auto d = read_pci_device(k, addr("00:1f.2"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->driver, "");
  EXPECT_EQ(d->group_members, (std::vector<PciAddress>{addr("00:1f.0"), addr("00:1f.2"), addr("00:1f.3")}));
  EXPECT_FALSE(d->has_reset);
  EXPECT_TRUE(d->reset_methods.empty());
}

TEST_F(PciDeviceTest, HostBridgeWithoutGroup) {
  auto d = read_pci_device(k, addr("00:00.0"));
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->iommu_group);
  EXPECT_TRUE(d->group_members.empty());
}

TEST_F(PciDeviceTest, BridgeFromClass0604) {
  EXPECT_TRUE(read_pci_device(k, addr("00:04.0"))->is_bridge());
  EXPECT_FALSE(read_pci_device(k, addr("00:1f.0"))->is_bridge());  // ISA bridge 0601 is an endpoint
  EXPECT_FALSE(read_pci_device(k, addr("00:00.0"))->is_bridge());
}

TEST_F(PciDeviceTest, ReadsSriovPfAndVfs) {
  ASSERT_TRUE(k.write("/sys/bus/pci/devices/0000:02:00.0/sriov_numvfs", "2"));
  auto pf = read_pci_device(k, addr("02:00.0"));
  ASSERT_TRUE(pf);
  EXPECT_TRUE(pf->is_pf());
  EXPECT_EQ(pf->sriov_totalvfs, 4u);
  EXPECT_EQ(pf->sriov_numvfs, 2u);
  EXPECT_EQ(pf->sriov_drivers_autoprobe, true);
  EXPECT_EQ(pf->virtfns, (std::vector<PciAddress>{addr("02:00.1"), addr("02:00.2")}));
  auto vf = read_pci_device(k, addr("02:00.2"));
  ASSERT_TRUE(vf);
  EXPECT_TRUE(vf->is_vf());
  EXPECT_EQ(vf->physfn, addr("02:00.0"));
  EXPECT_EQ(vf->iommu_group, 11u);
  EXPECT_EQ(vf->driver, "nvme");
}

TEST_F(PciDeviceTest, MissingDeviceIsAnErrorNamingIt) {
  auto d = read_pci_device(k, addr("09:00.0"));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message(),
            "PCI device 0000:09:00.0 does not exist on this host (see 'altoctl nodedev-list' for the devices there are)");
}

TEST(GroupViability, DriversThatKeepAGroupViable) {
  EXPECT_TRUE(driver_keeps_group_viable(""));
  EXPECT_TRUE(driver_keeps_group_viable("vfio-pci"));
  EXPECT_TRUE(driver_keeps_group_viable("pci-stub"));
  EXPECT_TRUE(driver_keeps_group_viable("pcieport"));
  EXPECT_FALSE(driver_keeps_group_viable("e1000e"));
  EXPECT_FALSE(driver_keeps_group_viable("i801_smbus"));
}

TEST_F(PciDeviceTest, GroupBlockersNameTheBoundEndpoints) {
  auto d = read_pci_device(k, addr("00:1f.2"));
  auto b = group_blockers(k, *d);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].address, addr("00:1f.3"));
  EXPECT_EQ((*b)[0].driver, "i801_smbus");
  // Ignored when it is detached in the same operation.
  EXPECT_TRUE(group_blockers(k, *d, {addr("00:1f.3")})->empty());
  // A bridge in the group never blocks, whatever its driver.
  k.add_driver("shpchp");
  k.add_device({"0000:00:1e.0", 0x8086, 0x244e, 0x060401, "shpchp", 12, 0, 0, ""});
  k.add_device({"0000:05:00.0", 0x8086, 0x10d3, 0x020000, "", 12, 0, 0, ""});
  EXPECT_TRUE(group_blockers(k, *read_pci_device(k, addr("05:00.0")))->empty());
}

TEST(PciNames, NamesFromTheDatabaseAndFallbacks) {
  char tmpl[] = "/tmp/altovirt-ids-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  std::string ids = "8086  Intel Corporation\n\t10d3  82574L Gigabit Network Connection\n"
                    "C 02  Network controller\n\t00  Ethernet controller\n";
  ASSERT_EQ(::write(fd, ids.data(), ids.size()), static_cast<ssize_t>(ids.size()));
  ::close(fd);
  {
    PciNames names(tmpl);
    EXPECT_EQ(names.vendor(0x8086), "Intel Corporation");
    EXPECT_EQ(names.device(0x8086, 0x10d3), "82574L Gigabit Network Connection");
    EXPECT_EQ(names.device(0x8086, 0x1234), "Device 1234");
    EXPECT_EQ(names.vendor(0xabcd), "Vendor abcd");
    EXPECT_EQ(names.class_name(0x020000), "Ethernet controller");
    EXPECT_EQ(names.class_name(0xff0000), "Class ff00");
  }
  ::unlink(tmpl);
}

}  // namespace
}  // namespace altovirt::host::testing
