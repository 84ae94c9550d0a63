#include "altovirt/host/validate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/utsname.h>

#include "fixture.h"

namespace altovirt::host::testing {
namespace {

using ::testing::HasSubstr;

using ValidateTest = HostFixture;

const Check& find(const std::vector<Check>& checks, const std::string& name) {
  for (const auto& c : checks)
    if (c.name == name) return c;
  throw std::runtime_error("no check " + name);
}

TEST_F(ValidateTest, AGoodHostPasses) {
  auto checks = validate_host(k, {});
  EXPECT_EQ(find(checks, "IOMMU hardware").status, CheckStatus::pass);
  EXPECT_EQ(find(checks, "IOMMU groups").status, CheckStatus::pass);
  EXPECT_EQ(find(checks, "IOMMU groups").detail, "4 groups in /sys/kernel/iommu_groups");
  EXPECT_EQ(find(checks, "interrupt remapping").status, CheckStatus::pass);
  EXPECT_EQ(find(checks, "vfio-pci driver").status, CheckStatus::pass);
  EXPECT_EQ(find(checks, "/dev/vfio/vfio").status, CheckStatus::pass);
  EXPECT_EQ(find(checks, "KVM").status, CheckStatus::pass);
  EXPECT_TRUE(passthrough_possible(checks));
}

TEST_F(ValidateTest, NoIommuFailsWithTheKernelCommandLineFix) {
  std::filesystem::remove_all(k.path("/sys/class/iommu"));
  std::filesystem::remove_all(k.path("/sys/kernel/iommu_groups"));
  std::filesystem::create_directories(k.path("/sys/kernel/iommu_groups"));
  auto checks = validate_host(k, {});
  EXPECT_EQ(find(checks, "IOMMU hardware").status, CheckStatus::fail);
  EXPECT_THAT(find(checks, "IOMMU hardware").fix, HasSubstr("intel_iommu=on"));
  EXPECT_EQ(find(checks, "IOMMU groups").status, CheckStatus::fail);
  EXPECT_FALSE(passthrough_possible(checks));
}

// An arm64 host: an SMMUv3 and the GICv3 ITS's MSI domains, else FAIL with the firmware's and the
// kernel's fixes.
TEST_F(ValidateTest, Arm64LooksForAnSmmuV3AndTheIts) {
  std::filesystem::remove_all(k.path("/sys/class/iommu"));
  std::filesystem::create_directories(k.path("/sys/class/iommu/smmu3.0x0000000009050000"));
  k.put_file("/proc/interrupts", "  40:  0  ITS-MSI 524288 Edge  eth0\n");
  ValidateOptions arm;
  arm.arch = "aarch64";
  auto checks = validate_host(k, arm);
  EXPECT_EQ(find(checks, "IOMMU hardware").status, CheckStatus::pass);
  EXPECT_EQ(find(checks, "IOMMU hardware").detail, "SMMUv3 smmu3.0x0000000009050000");
  EXPECT_EQ(find(checks, "MSI isolation (GICv3 ITS)").status, CheckStatus::pass);
  EXPECT_THROW(find(checks, "interrupt remapping"), std::runtime_error);  // an x86 notion
  EXPECT_TRUE(passthrough_possible(checks));

  std::filesystem::remove_all(k.path("/sys/class/iommu"));
  std::filesystem::create_directories(k.path("/sys/class/iommu"));
  k.put_file("/proc/interrupts", "  40:  0  GICv3 27 Level  arch_timer\n");
  checks = validate_host(k, arm);
  EXPECT_EQ(find(checks, "IOMMU hardware").status, CheckStatus::fail);
  EXPECT_THAT(find(checks, "IOMMU hardware").fix, HasSubstr("Support Smmu"));
  EXPECT_THAT(find(checks, "IOMMU hardware").fix, HasSubstr("CONFIG_ARM_SMMU_V3"));
  EXPECT_EQ(find(checks, "MSI isolation (GICv3 ITS)").status, CheckStatus::fail);
  EXPECT_THAT(find(checks, "MSI isolation (GICv3 ITS)").fix, HasSubstr("GICv3 with an ITS"));
  EXPECT_FALSE(passthrough_possible(checks));
}

TEST_F(ValidateTest, InterruptRemappingMissingFailsUnlessUnsafeAllowed) {
  k.put_file("/proc/interrupts", "  24:  0  PCI-MSI 524288-edge  eth0\n");
  auto checks = validate_host(k, {});
  EXPECT_EQ(find(checks, "interrupt remapping").status, CheckStatus::fail);
  EXPECT_THAT(find(checks, "interrupt remapping").fix, HasSubstr("allow_unsafe_interrupts=1"));
  k.put_file("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y\n");
  EXPECT_EQ(find(validate_host(k, {}), "interrupt remapping").status, CheckStatus::warn);
}

TEST_F(ValidateTest, VfioNotLoadedWarnsAndLoadModulesLoadsIt) {
  std::filesystem::remove_all(k.path("/sys/bus/pci/drivers/vfio-pci"));
  std::filesystem::remove_all(k.path("/sys/module/vfio"));
  std::filesystem::remove(k.path("/dev/vfio/vfio"));
  utsname u{};
  ::uname(&u);
  k.put_file(std::string("/lib/modules/") + u.release + "/modules.dep",
             "kernel/drivers/vfio/pci/vfio-pci.ko: kernel/drivers/vfio/vfio.ko\n");
  auto checks = validate_host(k, {});
  EXPECT_EQ(find(checks, "vfio-pci driver").status, CheckStatus::warn);
  EXPECT_THAT(find(checks, "vfio-pci driver").fix, HasSubstr("--load-modules"));
  EXPECT_EQ(find(checks, "/dev/vfio/vfio").status, CheckStatus::warn);
  EXPECT_TRUE(passthrough_possible(checks));
  EXPECT_TRUE(k.modules.empty());

  ValidateOptions load;
  load.load_modules = true;
  EXPECT_EQ(find(validate_host(k, load), "vfio-pci driver").status, CheckStatus::pass);
  EXPECT_EQ(k.modules, std::vector<std::string>{"vfio-pci"});
}

TEST_F(ValidateTest, VfioNotAvailableFails) {
  std::filesystem::remove_all(k.path("/sys/bus/pci/drivers/vfio-pci"));
  auto checks = validate_host(k, {});
  EXPECT_EQ(find(checks, "vfio-pci driver").status, CheckStatus::fail);
  EXPECT_FALSE(passthrough_possible(checks));
}

TEST_F(ValidateTest, DeviceChecksGroupAndReset) {
  ValidateOptions o;
  o.device = addr("01:00.0");
  auto checks = validate_host(k, o);
  EXPECT_EQ(find(checks, "IOMMU group of 0000:01:00.0").status, CheckStatus::pass);
  EXPECT_EQ(find(checks, "IOMMU group of 0000:01:00.0").detail, "group 8: no other device; viable");
  EXPECT_EQ(find(checks, "reset of 0000:01:00.0").detail, "methods: pm bus");

  o.device = addr("00:1f.2");
  checks = validate_host(k, o);
  const Check& g = find(checks, "IOMMU group of 0000:00:1f.2");
  EXPECT_EQ(g.status, CheckStatus::fail);
  EXPECT_THAT(g.detail, HasSubstr("not viable because of 0000:00:1f.3 (i801_smbus)"));
  EXPECT_THAT(g.fix, HasSubstr("altoctl nodedev-detach 0000:00:1f.2 --group"));
  EXPECT_EQ(find(checks, "reset of 0000:00:1f.2").status, CheckStatus::warn);
  EXPECT_FALSE(passthrough_possible(checks));

  o.device = addr("00:04.0");
  EXPECT_EQ(find(validate_host(k, o), "device 0000:00:04.0").status, CheckStatus::fail);
  o.device = addr("09:00.0");
  EXPECT_THAT(find(validate_host(k, o), "device 0000:09:00.0").detail, HasSubstr("does not exist"));
}

}  // namespace
}  // namespace altovirt::host::testing
