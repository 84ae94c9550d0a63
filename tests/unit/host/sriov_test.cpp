#include "altovirt/host/sriov.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "fixture.h"

namespace altovirt::host::testing {
namespace {

using ::testing::HasSubstr;

class SriovTest : public HostFixture {
 protected:
  SriovOptions opts(std::optional<bool> autoprobe = std::nullopt, bool vfio = false) {
    SriovOptions o;
    o.autoprobe = autoprobe;
    o.vfio = vfio;
    o.bind = {std::chrono::milliseconds(50), std::chrono::milliseconds(1)};
    return o;
  }
  template <class Op>
  void expect_refused(Op op, const std::string& needle) {
    std::string before = k.snapshot();
    auto writes = k.writes.size();
    auto r = op();
    ASSERT_FALSE(r) << "not refused";
    EXPECT_THAT(r.error().message(), HasSubstr(needle));
    EXPECT_EQ(k.snapshot(), before) << "the fake sysfs tree changed";
    EXPECT_EQ(k.writes.size(), writes);
  }
  std::vector<std::string> numvfs_writes() const {
    std::vector<std::string> out;
    for (const auto& w : k.writes)
      if (w.find("sriov_numvfs=") != std::string::npos) out.push_back(w.substr(w.find('=') + 1));
    return out;
  }
};

TEST_F(SriovTest, CreatesVfsEachInItsOwnGroup) {
  auto state = open_state();
  auto r = sriov_set(k, state, addr("02:00.0"), 2, opts());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->previous, 0u);
  EXPECT_EQ(r->vfs, (std::vector<PciAddress>{addr("02:00.1"), addr("02:00.2")}));
  EXPECT_EQ(read_pci_device(k, addr("02:00.1"))->iommu_group, 10u);
  EXPECT_EQ(read_pci_device(k, addr("02:00.2"))->iommu_group, 11u);
  EXPECT_EQ(k.driver_of("0000:02:00.1"), "nvme");  // autoprobe was on
}

TEST_F(SriovTest, ChangingANonZeroCountGoesThroughZero) {
  auto state = open_state();
  ASSERT_TRUE(sriov_set(k, state, addr("02:00.0"), 2, opts()));
  ASSERT_TRUE(sriov_set(k, state, addr("02:00.0"), 3, opts()));
  EXPECT_EQ(numvfs_writes(), (std::vector<std::string>{"2", "0", "3"}));
  EXPECT_EQ(read_pci_device(k, addr("02:00.0"))->virtfns.size(), 3u);
  ASSERT_TRUE(sriov_set(k, state, addr("02:00.0"), 0, opts()));
  EXPECT_TRUE(read_pci_device(k, addr("02:00.0"))->virtfns.empty());
  EXPECT_FALSE(k.exists("/sys/bus/pci/devices/0000:02:00.1"));
  // Same count again: nothing written.
  auto before = k.writes.size();
  ASSERT_TRUE(sriov_set(k, state, addr("02:00.0"), 0, opts()));
  EXPECT_EQ(k.writes.size(), before);
}

TEST_F(SriovTest, AutoprobeOffKeepsVfsOffHostDrivers) {
  auto state = open_state();
  ASSERT_TRUE(sriov_set(k, state, addr("02:00.0"), 2, opts(false)));
  EXPECT_EQ(k.driver_of("0000:02:00.1"), "");
  EXPECT_EQ(k.driver_of("0000:02:00.2"), "");
  EXPECT_EQ(read_pci_device(k, addr("02:00.0"))->sriov_drivers_autoprobe, false);
}

TEST_F(SriovTest, VfioBindsEveryVfAndRestoresAutoprobe) {
  auto state = open_state();
  auto r = sriov_set(k, state, addr("02:00.0"), 3, opts(std::nullopt, true));
  ASSERT_TRUE(r) << r.error().message();
  for (const char* vf : {"0000:02:00.1", "0000:02:00.2", "0000:02:00.3"}) {
    EXPECT_EQ(k.driver_of(vf), "vfio-pci") << vf;
    // Never touched by nvme: the original driver recorded is none.
    EXPECT_EQ(state.original_driver(*parse_pci_address(vf)), "");
  }
  EXPECT_EQ(read_pci_device(k, addr("02:00.0"))->sriov_drivers_autoprobe, true);
  // Removing the VFs drops their records.
  ASSERT_TRUE(sriov_set(k, state, addr("02:00.0"), 0, opts()));
  EXPECT_FALSE(state.original_driver(addr("02:00.1")));
}

TEST_F(SriovTest, RefusesMoreThanTotalVfs) {
  auto state = open_state();
  expect_refused([&] { return sriov_set(k, state, addr("02:00.0"), 5, opts(false, true)); },
                 "cannot create 5 VFs on PCI device 0000:02:00.0: it supports at most 4 (sriov_totalvfs)");
  ASSERT_TRUE(sriov_set(k, state, addr("02:00.0"), 2, opts()));
  expect_refused([&] { return sriov_set(k, state, addr("02:00.0"), 5, opts()); }, "at most 4");
}

TEST_F(SriovTest, RefusesANonPfAVfAndANonexistentDevice) {
  auto state = open_state();
  expect_refused([&] { return sriov_set(k, state, addr("01:00.0"), 2, opts()); },
                 "PCI device 0000:01:00.0 is not an SR-IOV physical function");
  expect_refused([&] { return sriov_set(k, state, addr("07:00.0"), 2, opts()); }, "0000:07:00.0 does not exist");
  ASSERT_TRUE(sriov_set(k, state, addr("02:00.0"), 1, opts()));
  expect_refused([&] { return sriov_set(k, state, addr("02:00.1"), 1, opts()); },
                 "0000:02:00.1 is a virtual function; VFs are managed on their physical function 0000:02:00.0");
}

TEST_F(SriovTest, RefusesToRemoveAVfInUse) {
  auto state = open_state();
  ASSERT_TRUE(sriov_set(k, state, addr("02:00.0"), 2, opts(false)));
  ASSERT_TRUE(state.claim(addr("02:00.2"), "vm7", ::getpid()));
  expect_refused([&] { return sriov_set(k, state, addr("02:00.0"), 0, opts()); },
                 "cannot change the VF count of PCI device 0000:02:00.0: its VF 0000:02:00.2 is in use by running VM 'vm7'");
  expect_refused([&] { return sriov_set(k, state, addr("02:00.0"), 4, opts()); }, "in use by running VM 'vm7'");
  // Keeping the count is fine.
  EXPECT_TRUE(sriov_set(k, state, addr("02:00.0"), 2, opts()));
}

}  // namespace
}  // namespace altovirt::host::testing
