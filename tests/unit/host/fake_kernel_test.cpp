// The fake kernel must behave like the real one where the host layer depends on it; otherwise the
// other tests would prove nothing.
#include "fake_kernel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "altovirt/host/pci_device.h"

namespace altovirt::host::testing {
namespace {

TEST(FakeKernel, NonZeroOverNonZeroNumVfsIsBusyAsInTheKernel) {
  FakeKernel k;
  k.add_device({"0000:02:00.0", 0x1b36, 0x0010, 0x010802, "", 9, 4, 0x0010, "flr"});
  ASSERT_TRUE(k.write("/sys/bus/pci/devices/0000:02:00.0/sriov_numvfs", "2"));
  auto st = k.write("/sys/bus/pci/devices/0000:02:00.0/sriov_numvfs", "3");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().sys_errno(), EBUSY);
  EXPECT_EQ(k.write("/sys/bus/pci/devices/0000:02:00.0/sriov_numvfs", "5").error().sys_errno(), ERANGE);
}

TEST(FakeKernel, BindOfABoundDeviceIsBusyAndUnbindOfAnotherDriverFails) {
  FakeKernel k;
  k.add_driver("e1000e");
  k.add_driver("vfio-pci");
  k.set_default_driver(0x8086, 0x10d3, "e1000e");
  k.add_device({"0000:01:00.0", 0x8086, 0x10d3, 0x020000, "e1000e", 8, 0, 0, "flr"});
  EXPECT_EQ(k.write("/sys/bus/pci/drivers/e1000e/bind", "0000:01:00.0").error().sys_errno(), EBUSY);
  EXPECT_EQ(k.write("/sys/bus/pci/drivers/vfio-pci/unbind", "0000:01:00.0").error().sys_errno(), ENODEV);
  // vfio-pci has no id table: without driver_override it does not match.
  ASSERT_TRUE(k.write("/sys/bus/pci/drivers/e1000e/unbind", "0000:01:00.0"));
  EXPECT_EQ(k.write("/sys/bus/pci/drivers/vfio-pci/bind", "0000:01:00.0").error().sys_errno(), ENODEV);
  // driver_override makes drivers_probe pick vfio-pci, and only vfio-pci match.
  ASSERT_TRUE(k.write("/sys/bus/pci/devices/0000:01:00.0/driver_override", "vfio-pci"));
  EXPECT_EQ(k.write("/sys/bus/pci/drivers/e1000e/bind", "0000:01:00.0").error().sys_errno(), ENODEV);
  ASSERT_TRUE(k.write("/sys/bus/pci/drivers_probe", "0000:01:00.0"));
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "vfio-pci");
}

TEST(FakeKernel, UnexpectedWritesAreErrors) {
  FakeKernel k;
  k.add_device({"0000:01:00.0", 0x8086, 0x10d3, 0x020000, "", 8, 0, 0, "flr"});
  EXPECT_FALSE(k.write("/sys/bus/pci/devices/0000:01:00.0/vendor", "0x1234"));
  EXPECT_FALSE(k.write("/sys/bus/pci/devices/0000:01:00.0/nonexistent", "1"));
}

}  // namespace
}  // namespace altovirt::host::testing
