// The VFIO layer's sysfs look-ups and its refusals before any ioctl, against a fake sysfs tree.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "altovirt/base/files.h"
#include "altovirt/host/sysfs.h"
#include "altovirt/vfio/manager.h"
#include "altovirt/vfio/sysfs.h"

namespace altovirt::vfio {
namespace {

namespace fs = std::filesystem;

class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/altovirt-vfio-sysfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    add_device("0000:01:00.0", 8, "e1000e");
    add_device("0000:02:00.0", 9, "vfio-pci");
    add_device("0000:00:1f.0", 7, "");
    add_device("0000:00:1f.3", 7, "i801_smbus");
    ASSERT_TRUE(make_dirs(root_ + "/sys/kernel/iommu_groups/9"));
    ASSERT_TRUE(write_file_atomic(root_ + "/sys/kernel/iommu_groups/9/reserved_regions",
                                  "0x00000000fee00000 0x00000000feefffff msi\n"));
  }
  void TearDown() override { fs::remove_all(root_); }

  void add_device(const std::string& bdf, unsigned group, const std::string& driver) {
    std::string dev = root_ + "/sys/devices/pci0000:00/" + bdf;
    ASSERT_TRUE(make_dirs(dev));
    ASSERT_TRUE(make_dirs(root_ + "/sys/bus/pci/devices"));
    fs::create_symlink(dev, root_ + "/sys/bus/pci/devices/" + bdf);
    std::string g = root_ + "/sys/kernel/iommu_groups/" + std::to_string(group);
    ASSERT_TRUE(make_dirs(g + "/devices"));
    fs::create_symlink(dev, g + "/devices/" + bdf);
    fs::create_symlink(g, dev + "/iommu_group");
    if (!driver.empty()) {
      ASSERT_TRUE(make_dirs(root_ + "/sys/bus/pci/drivers/" + driver));
      fs::create_symlink(root_ + "/sys/bus/pci/drivers/" + driver, dev + "/driver");
    }
  }

  std::string root_;
};

TEST_F(FakeSysfs, FindDevice) {
  host::SysfsRoot s(root_);
  EXPECT_EQ(find_device(s, "01:00.0").value().str(), "0000:01:00.0");
  EXPECT_EQ(find_device(s, "0000:00:1F.0").value().str(), "0000:00:1f.0");
  EXPECT_EQ(find_device(s, "pci_0000_02_00_0").value().str(), "0000:02:00.0");
  auto missing = find_device(s, "0000:09:00.0");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("there is no PCI device 0000:09:00.0"), std::string::npos);
  auto garbage = find_device(s, "eth0");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message().find("'eth0' is not a PCI device name"), std::string::npos) << garbage.error().message();
}

TEST_F(FakeSysfs, GroupsMembersReservedRegions) {
  host::SysfsRoot s(root_);
  EXPECT_EQ(iommu_group(s, host::PciAddress{0, 1, 0, 0}).value(), 8u);
  EXPECT_EQ(describe_group(s, 7).value(), "0000:00:1f.0 (no driver), 0000:00:1f.3 (i801_smbus)");
  auto rr = reserved_regions(s, 9).value();
  ASSERT_EQ(rr.size(), 1u);
  EXPECT_EQ(rr[0].start, 0xfee00000u);
  EXPECT_EQ(rr[0].end, 0xfeefffffu);
  EXPECT_EQ(rr[0].type, "msi");
  EXPECT_EQ(dev_vfio(s), root_ + "/dev/vfio/");
}

TEST_F(FakeSysfs, DeviceWithoutGroupMeansNoIommu) {
  host::SysfsRoot s(root_);
  fs::remove(root_ + "/sys/devices/pci0000:00/0000:01:00.0/iommu_group");
  auto g = iommu_group(s, host::PciAddress{0, 1, 0, 0});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message().find("0000:01:00.0 is in no IOMMU group"), std::string::npos);
  EXPECT_NE(g.error().message().find("intel_iommu=on"), std::string::npos);
}

TEST_F(FakeSysfs, OpenRefusesDeviceOnHostDriverNamingIt) {
  Manager m{std::make_shared<host::SysfsRoot>(root_)};
  auto d = m.open_device("01:00.0");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message(),
            "0000:01:00.0 is bound to e1000e, not to vfio-pci: detach it first (altoctl nodedev-detach 0000:01:00.0)");
  EXPECT_FALSE(m.has_devices());
  auto unbound = m.open_device("0000:00:1f.0");
  ASSERT_FALSE(unbound);
  EXPECT_NE(unbound.error().message().find("bound to no driver"), std::string::npos);
}

TEST_F(FakeSysfs, OpenWithoutVfioModuleSaysHowToLoadIt) {
  Manager m{std::make_shared<host::SysfsRoot>(root_)};  // the fake tree has no dev/vfio/vfio
  auto d = m.open_device("0000:02:00.0");
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("modprobe vfio-pci"), std::string::npos) << d.error().message();
}

}  // namespace
}  // namespace altovirt::vfio
