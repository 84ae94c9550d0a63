#include "altovirt/host/binding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "altovirt/base/files.h"
#include "fixture.h"

namespace altovirt::host::testing {
namespace {

using ::testing::HasSubstr;

class BindingTest : public HostFixture {
 protected:
  BindOptions fast{std::chrono::milliseconds(50), std::chrono::milliseconds(1)};

  // Runs `op`, which must fail with a message containing `needle`, and checks nothing changed.
  template <class Op>
  void expect_refused(Op op, const std::string& needle) {
    std::string before = k.snapshot();
    auto writes = k.writes.size();
    auto r = op();
    ASSERT_FALSE(r) << "not refused";
    EXPECT_THAT(r.error().message(), HasSubstr(needle));
    EXPECT_EQ(k.snapshot(), before) << "the fake sysfs tree changed";
    EXPECT_EQ(k.writes.size(), writes) << "refusal wrote to sysfs: " << k.writes.back();
  }
};

TEST_F(BindingTest, DetachBindsVfioThroughDriverOverrideAndRecordsTheDriver) {
  auto state = open_state();
  auto r = detach_device(k, state, addr("01:00.0"), false, fast);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].previous_driver, "e1000e");
  EXPECT_FALSE((*r)[0].already);
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "vfio-pci");
  EXPECT_EQ(read_pci_device(k, addr("01:00.0"))->driver_override, "vfio-pci");
  EXPECT_EQ(k.writes, (std::vector<std::string>{"/sys/bus/pci/devices/0000:01:00.0/driver_override=vfio-pci",
                                                "/sys/bus/pci/drivers/e1000e/unbind=0000:01:00.0",
                                                "/sys/bus/pci/drivers_probe=0000:01:00.0"}));
  EXPECT_EQ(state.original_driver(addr("01:00.0")), "e1000e");
  // The record is on disk, not only in memory.
  EXPECT_THAT(*read_file(state.state_file()), HasSubstr("\"original_driver\": \"e1000e\""));
}

TEST_F(BindingTest, DetachTwiceSaysAlreadyAndKeepsTheOriginal) {
  auto state = open_state();
  ASSERT_TRUE(detach_device(k, state, addr("01:00.0"), false, fast));
  auto r = detach_device(k, state, addr("01:00.0"), false, fast);
  ASSERT_TRUE(r);
  EXPECT_TRUE((*r)[0].already);
  EXPECT_EQ(state.original_driver(addr("01:00.0")), "e1000e");
}

TEST_F(BindingTest, DetachLoadsVfioPciWhenMissing) {
  std::filesystem::remove_all(k.path("/sys/bus/pci/drivers/vfio-pci"));
  auto state = open_state();
  ASSERT_TRUE(detach_device(k, state, addr("01:00.0"), false, fast));
  EXPECT_EQ(k.modules, std::vector<std::string>{"vfio-pci"});
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "vfio-pci");
}

TEST_F(BindingTest, RealRootRefusesModuleLoadingForATestTree) {
  SysfsRoot other(k.root());
  auto st = other.load_module("vfio-pci");
  ASSERT_FALSE(st);
  EXPECT_THAT(st.error().message(), HasSubstr("not the real host"));
}

TEST_F(BindingTest, ReattachGivesTheDeviceBackToItsOriginalDriver) {
  auto state = open_state();
  ASSERT_TRUE(detach_device(k, state, addr("01:00.0"), false, fast));
  k.writes.clear();
  auto r = reattach_device(k, state, addr("pci_0000_01_00_0"), fast);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, "e1000e");
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "e1000e");
  EXPECT_EQ(read_pci_device(k, addr("01:00.0"))->driver_override, "");
  EXPECT_EQ(k.writes, (std::vector<std::string>{"/sys/bus/pci/drivers/vfio-pci/unbind=0000:01:00.0",
                                                "/sys/bus/pci/devices/0000:01:00.0/driver_override=\n",
                                                "/sys/bus/pci/drivers/e1000e/bind=0000:01:00.0"}));
  EXPECT_FALSE(state.original_driver(addr("01:00.0")));
}

TEST_F(BindingTest, ReattachWithoutRecordLetsTheKernelProbe) {
  {
    auto state = open_state();
    ASSERT_TRUE(detach_device(k, state, addr("01:00.0"), false, fast));
  }
  std::filesystem::remove(state_dir + "/state.json");
  auto state = open_state();
  auto r = reattach_device(k, state, addr("01:00.0"), fast);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "e1000e");
  EXPECT_EQ(k.writes.back(), "/sys/bus/pci/drivers_probe=0000:01:00.0");
}

TEST_F(BindingTest, ReattachFailsClearlyWhenTheDriverDoesNotBind) {
  auto state = open_state();
  ASSERT_TRUE(detach_device(k, state, addr("01:00.0"), false, fast));
  k.refuse_probe("0000:01:00.0", "e1000e");
  auto r = reattach_device(k, state, addr("01:00.0"), fast);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("its driver e1000e did not bind it"));
  EXPECT_THAT(r.error().message(), HasSubstr("altoctl nodedev-reattach 0000:01:00.0"));
  // The record stays so that the retry knows the driver.
  EXPECT_EQ(state.original_driver(addr("01:00.0")), "e1000e");
}

TEST_F(BindingTest, FailedVfioBindRollsBackToTheHostDriver) {
  auto state = open_state();
  k.refuse_probe("0000:01:00.0", "vfio-pci");
  auto r = detach_device(k, state, addr("01:00.0"), false, fast);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("vfio-pci did not bind PCI device 0000:01:00.0"));
  EXPECT_THAT(r.error().message(), HasSubstr("driver now: e1000e"));
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "e1000e");
  EXPECT_EQ(read_pci_device(k, addr("01:00.0"))->driver_override, "");
  EXPECT_FALSE(state.original_driver(addr("01:00.0")));
}

TEST_F(BindingTest, RefusesANonexistentDevice) {
  auto state = open_state();
  expect_refused([&] { return detach_device(k, state, addr("09:00.0"), false, fast); },
                 "PCI device 0000:09:00.0 does not exist");
  expect_refused([&] { return reattach_device(k, state, addr("09:00.0"), fast); }, "0000:09:00.0 does not exist");
  expect_refused([&] { return reset_device(k, state, addr("09:00.0")); }, "0000:09:00.0 does not exist");
}

TEST_F(BindingTest, RefusesABridge) {
  auto state = open_state();
  expect_refused([&] { return detach_device(k, state, addr("00:04.0"), false, fast); },
                 "PCI device 0000:00:04.0 is a PCI bridge (class 060400)");
  expect_refused([&] { return detach_device(k, state, addr("00:04.0"), true, fast); }, "is a PCI bridge");
}

TEST_F(BindingTest, RefusesADeviceWithoutIommuGroup) {
  auto state = open_state();
  expect_refused([&] { return detach_device(k, state, addr("00:00.0"), false, fast); },
                 "0000:00:00.0 has no IOMMU group");
}

TEST_F(BindingTest, RefusesANonViableGroupNamingTheOthers) {
  auto state = open_state();
  expect_refused([&] { return detach_device(k, state, addr("00:1f.2"), false, fast); },
                 "IOMMU group 7 of PCI device 0000:00:1f.2 is not viable: 0000:00:1f.3 (driver i801_smbus) is in "
                 "the same group");
  auto r = detach_device(k, state, addr("00:1f.2"), false, fast);
  EXPECT_THAT(r.error().message(), HasSubstr("altoctl nodedev-detach 0000:00:1f.2 --group"));
  EXPECT_FALSE(state.original_driver(addr("00:1f.2")));
}

TEST_F(BindingTest, GroupDetachesEveryEndpoint) {
  auto state = open_state();
  auto r = detach_device(k, state, addr("00:1f.2"), true, fast);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->size(), 3u);
  for (const char* a : {"0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3"}) EXPECT_EQ(k.driver_of(a), "vfio-pci") << a;
  EXPECT_EQ(state.original_driver(addr("00:1f.3")), "i801_smbus");
  EXPECT_EQ(state.original_driver(addr("00:1f.2")), "");
  ASSERT_TRUE(reattach_device(k, state, addr("00:1f.3"), fast));
  EXPECT_EQ(k.driver_of("0000:00:1f.3"), "i801_smbus");
}

TEST_F(BindingTest, RefusesADeviceInUseByARunningVm) {
  auto state = open_state();
  ASSERT_TRUE(state.claim(addr("01:00.0"), "vm1", ::getpid()));
  expect_refused([&] { return detach_device(k, state, addr("01:00.0"), false, fast); },
                 "cannot detach PCI device 0000:01:00.0: it is in use by running VM 'vm1'");
  expect_refused([&] { return reattach_device(k, state, addr("01:00.0"), fast); }, "in use by running VM 'vm1'");
  expect_refused([&] { return reset_device(k, state, addr("01:00.0")); }, "cannot reset PCI device 0000:01:00.0");
  // A group detach refuses too when another member is in use.
  ASSERT_TRUE(state.claim(addr("00:1f.3"), "vm2", ::getpid()));
  expect_refused([&] { return detach_device(k, state, addr("00:1f.2"), true, fast); },
                 "0000:00:1f.3: it is in use by running VM 'vm2'");
}

TEST_F(BindingTest, ADeadVmDoesNotHoldItsDevice) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  auto state = open_state();
  ASSERT_TRUE(state.claim(addr("01:00.0"), "dead", child));
  EXPECT_TRUE(detach_device(k, state, addr("01:00.0"), false, fast));
}

TEST_F(BindingTest, ResetWritesTheResetFile) {
  auto state = open_state();
  auto r = reset_device(k, state, addr("02:00.0"));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "flr bus");
  EXPECT_EQ(k.resets, std::vector<std::string>{"0000:02:00.0"});
  expect_refused([&] { return reset_device(k, state, addr("00:1f.2")); },
                 "PCI device 0000:00:1f.2 cannot be reset");
}

}  // namespace
}  // namespace altovirt::host::testing
