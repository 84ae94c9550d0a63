// The altoctl binary against a fake sysfs tree (--sysfs-root): exit codes, messages, --help, JSON, and
// that refusals leave the tree untouched. Only commands that read or refuse are run here: writes to a
// plain directory would not be acted on by a kernel (the library tests cover those with FakeKernel).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "fixture.h"
#include "run_command.h"

namespace altovirt::host::testing {
namespace {

using ::testing::HasSubstr;

using altovirt::testing::CliRun;

class AltoctlCli : public HostFixture {
 protected:
  CliRun altoctl(const std::string& args) {
    std::string cmd = std::string(ALTOCTL_PATH) + " --sysfs-root " + k.root() + " --state-dir " + state_dir + " " +
                      args + " 2>&1";
    return altovirt::testing::run_command(cmd);
  }
  void expect_refused(const std::string& args, const std::string& needle, int status = 1) {
    std::string before = k.snapshot();
    CliRun r = altoctl(args);
    EXPECT_EQ(r.status, status) << args << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(needle)) << args;
    EXPECT_EQ(k.snapshot(), before) << args << " changed the tree";
  }
};

TEST_F(AltoctlCli, NodedevListShowsDriversGroupsAndSriov) {
  CliRun r = altoctl("nodedev-list");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("0000:01:00.0  pci_0000_01_00_0   8086:10d3 0200   e1000e      8"));
  EXPECT_THAT(r.output, HasSubstr("PF 0/4 VFs"));
  CliRun j = altoctl("nodedev-list --cap pci --json");
  ASSERT_EQ(j.status, 0) << j.output;
  auto arr = nlohmann::json::parse(j.output);
  ASSERT_EQ(arr.size(), 7u);
  EXPECT_EQ(arr[5]["address"], "0000:01:00.0");
  EXPECT_EQ(arr[5]["driver"], "e1000e");
  EXPECT_EQ(arr[5]["iommu_group"], 8);
  EXPECT_EQ(arr[6]["sriov"]["totalvfs"], 4);
  EXPECT_TRUE(arr[0]["iommu_group"].is_null());
  EXPECT_EQ(altoctl("nodedev-list --cap net").status, 2);
}

TEST_F(AltoctlCli, SriovListJson) {
  CliRun r = altoctl("sriov-list pci_0000_02_00_0 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["pf"], "0000:02:00.0");
  EXPECT_EQ(j["totalvfs"], 4);
  EXPECT_EQ(j["numvfs"], 0);
  EXPECT_TRUE(j["vfs"].empty());
}

TEST_F(AltoctlCli, RefusalsExitOneNameTheDeviceAndChangeNothing) {
  expect_refused("nodedev-detach 0000:09:00.0", "error: PCI device 0000:09:00.0 does not exist");
  expect_refused("nodedev-detach 00:04.0", "0000:00:04.0 is a PCI bridge");
  expect_refused("nodedev-detach 00:1f.2", "0000:00:1f.3 (driver i801_smbus)");
  expect_refused("sriov-set 02:00.0 5", "supports at most 4 (sriov_totalvfs)");
  expect_refused("sriov-set 01:00.0 1", "not an SR-IOV physical function");
  expect_refused("nodedev-reattach 0000:09:00.0", "0000:09:00.0 does not exist");
  expect_refused("nodedev-reset 00:1f.2", "cannot be reset");
}

TEST_F(AltoctlCli, UsageErrorsExitTwo) {
  expect_refused("nodedev-detach bogus", "'bogus' is not a PCI device name", 2);
  expect_refused("nodedev-detach", "device is required", 2);
  expect_refused("sriov-set 02:00.0 many", "count", 2);
  expect_refused("sriov-set 02:00.0 2 --autoprobe=maybe", "--autoprobe", 2);
  expect_refused("no-such-command", "unknown command 'no-such-command'", 2);
}

TEST_F(AltoctlCli, EveryCommandHasHelp) {
  for (const char* c : {"", "host-validate", "nodedev-list", "nodedev-detach", "nodedev-reattach", "nodedev-reset",
                        "sriov-set", "sriov-list"}) {
    CliRun r = altoctl(std::string(c) + " --help");
    EXPECT_EQ(r.status, 0) << c;
    EXPECT_THAT(r.output, HasSubstr("Usage:")) << c;
  }
}

TEST_F(AltoctlCli, HostValidateReportsAndExits) {
  CliRun r = altoctl("host-validate --device 01:00.0");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("PASS  IOMMU group of 0000:01:00.0"));
  EXPECT_THAT(r.output, HasSubstr("Passthrough can work on this host."));
  CliRun bad = altoctl("host-validate --device 00:1f.2 --json");
  EXPECT_EQ(bad.status, 1) << bad.output;
  auto j = nlohmann::json::parse(bad.output);
  EXPECT_EQ(j["passthrough_possible"], false);
}

}  // namespace
}  // namespace altovirt::host::testing
