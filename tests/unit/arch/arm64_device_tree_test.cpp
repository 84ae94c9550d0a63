// The arm64 virt board's device tree, read back with libfdt as the kernel's early code would.
#include <gtest/gtest.h>
#include <libfdt.h>

#include <string>

#include "altovirt/arch/arm64/device_tree.h"
#include "altovirt/arch/arm64/layout.h"

namespace altovirt::arch::arm64 {
namespace {

struct Tree {
  std::vector<uint8_t> blob;
  const void* fdt() const { return blob.data(); }
  int node(const char* path) const { return fdt_path_offset(fdt(), path); }
  std::string str(const char* path, const char* prop) const {
    int len = 0;
    auto* p = static_cast<const char*>(fdt_getprop(fdt(), node(path), prop, &len));
    return p ? std::string(p, static_cast<size_t>(len > 0 ? len - 1 : 0)) : "<none>";
  }
  std::vector<uint32_t> cells(const char* path, const char* prop) const {
    int len = 0;
    auto* p = static_cast<const fdt32_t*>(fdt_getprop(fdt(), node(path), prop, &len));
    std::vector<uint32_t> out;
    for (int i = 0; p && i < len / 4; ++i) out.push_back(fdt32_to_cpu(p[i]));
    return out;
  }
};

Tree build(DeviceTreeConfig c) {
  auto r = build_device_tree(c);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return Tree{r ? *r : std::vector<uint8_t>{}};
}

DeviceTreeConfig two_cpus() {
  DeviceTreeConfig c;
  c.cpus = 2;
  c.ram_size = 256 * MiB;
  c.cmdline = "console=ttyAMA0 quiet";
  c.initrd = std::pair<uint64_t, uint64_t>{0x48000000, 0x48123456};
  return c;
}

TEST(Arm64DeviceTree, IsAValidTreeWithMemoryChosenAndCpus) {
  Tree t = build(two_cpus());
  ASSERT_EQ(fdt_check_header(t.fdt()), 0);
  EXPECT_EQ(t.str("/chosen", "bootargs"), "console=ttyAMA0 quiet");
  EXPECT_EQ(t.str("/chosen", "stdout-path"), "/pl011@9000000");
  EXPECT_EQ(t.cells("/chosen", "linux,initrd-start"), (std::vector<uint32_t>{0, 0x48000000}));
  EXPECT_EQ(t.cells("/chosen", "linux,initrd-end"), (std::vector<uint32_t>{0, 0x48123456}));
  EXPECT_EQ(t.cells("/memory@40000000", "reg"), (std::vector<uint32_t>{0, 0x40000000, 0, 256 * MiB}));
  EXPECT_GE(t.node("/cpus/cpu@0"), 0);
  EXPECT_GE(t.node("/cpus/cpu@1"), 0);
  EXPECT_LT(t.node("/cpus/cpu@2"), 0);
  EXPECT_EQ(t.str("/cpus/cpu@1", "enable-method"), "psci");
  EXPECT_EQ(t.str("/psci", "method"), "hvc");
}

TEST(Arm64DeviceTree, GicRedistributorsCoverEveryCpuAndTheItsIsOptional) {
  Tree t = build(two_cpus());
  EXPECT_EQ(t.str("/intc@8000000", "compatible"), "arm,gic-v3");
  EXPECT_EQ(t.cells("/intc@8000000", "reg"),
            (std::vector<uint32_t>{0, 0x08000000, 0, 0x10000, 0, 0x080a0000, 0, 2 * 0x20000}));
  EXPECT_GE(t.node("/intc@8000000/its@8080000"), 0);
  EXPECT_FALSE(t.cells("/pcie@3f000000", "msi-map").empty());
  auto c = two_cpus();
  c.its = false;
  Tree no_its = build(c);
  EXPECT_LT(no_its.node("/intc@8000000/its@8080000"), 0);
  EXPECT_TRUE(no_its.cells("/pcie@3f000000", "msi-map").empty());
}

TEST(Arm64DeviceTree, PciHostHasWindowsAndTheIntxSwizzle) {
  Tree t = build(two_cpus());
  EXPECT_EQ(t.str("/pcie@3f000000", "compatible"), "pci-host-ecam-generic");
  EXPECT_EQ(t.cells("/pcie@3f000000", "bus-range"), (std::vector<uint32_t>{0, 15}));
  EXPECT_EQ(t.cells("/pcie@3f000000", "ranges").size(), 3u * 7);
  auto map = t.cells("/pcie@3f000000", "interrupt-map");
  ASSERT_EQ(map.size(), 16u * 10);
  // Slot 1, INTA: (1 + 0) & 3 -> GSI 17, the GIC's SPI 17, level high.
  const uint32_t* e = &map[(1 * 4 + 0) * 10];
  EXPECT_EQ(e[0], 1u << 11);
  EXPECT_EQ(e[3], 1u);
  EXPECT_EQ(e[7], 0u);   // SPI
  EXPECT_EQ(e[8], 17u);
  EXPECT_EQ(e[9], 4u);
}

TEST(Arm64DeviceTree, PowerKeyIsGpioLineThreeOfThePl061) {
  Tree t = build(two_cpus());
  EXPECT_EQ(t.cells("/gpio-keys/poweroff", "linux,code"), (std::vector<uint32_t>{116}));
  auto gpios = t.cells("/gpio-keys/poweroff", "gpios");
  ASSERT_EQ(gpios.size(), 3u);
  EXPECT_EQ(gpios[0], t.cells("/pl061@9030000", "phandle").at(0));
  EXPECT_EQ(gpios[1], kPowerKeyLine);
  EXPECT_EQ(t.cells("/pl061@9030000", "interrupts"), (std::vector<uint32_t>{0, kGpioSpi, 4}));
}

// With UEFI firmware the tree also names the flash banks (ArmVirtPkg's NorFlashQemuLib: "cfi-flash",
// the code bank at 0, the variables at 64 MiB) and fw_cfg ("qemu,fw-cfg-mmio"); without, neither.
TEST(Arm64DeviceTree, FirmwareBootAddsFlashBanksAndFwCfg) {
  DeviceTreeConfig c = two_cpus();
  c.firmware = true;
  Tree t = build(c);
  EXPECT_EQ(t.str("/flash@0", "compatible"), "cfi-flash");
  EXPECT_EQ(t.cells("/flash@0", "reg"), (std::vector<uint32_t>{0, 0, 0, 0x4000000, 0, 0x4000000, 0, 0x4000000}));
  EXPECT_EQ(t.cells("/flash@0", "bank-width"), (std::vector<uint32_t>{4}));
  EXPECT_EQ(t.str("/fw-cfg@9020000", "compatible"), "qemu,fw-cfg-mmio");
  EXPECT_EQ(t.cells("/fw-cfg@9020000", "reg"), (std::vector<uint32_t>{0, 0x9020000, 0, 0x18}));
  EXPECT_NE(fdt_getprop(t.fdt(), t.node("/fw-cfg@9020000"), "dma-coherent", nullptr), nullptr);
  Tree direct = build(two_cpus());
  EXPECT_LT(direct.node("/flash@0"), 0);
  EXPECT_LT(direct.node("/fw-cfg@9020000"), 0);
}

}  // namespace
}  // namespace altovirt::arch::arm64
