// The bootorder file and OpenFirmware paths, against the strings QEMU 7.2/9.x generates for the same
// devices on q35 (checked with `-device ...,bootindex=N` and fw_cfg's bootorder).
#include <gtest/gtest.h>

#include <algorithm>

#include "altovirt/boot/boot_order.h"

using namespace altovirt::boot;

namespace {
constexpr uint32_t kBridge = 0x060400, kVirtioBlk = 0x010000, kEthernet = 0x020000, kNvme = 0x010802;
PciNode port(unsigned slot, unsigned fn) { return {kBridge, 0x1b36, 0x000c, slot, fn}; }
}  // namespace

TEST(BootOrder, VirtioBlkBehindARootPort) {
  EXPECT_EQ(ofw_path(port(0x1c, 0), {kVirtioBlk, 0x1af4, 0x1042, 0, 0}, "/disk@0,0"),
            "/pci@i0cf8/pci-bridge@1c/scsi@0/disk@0,0");
  EXPECT_EQ(ofw_path(port(0x1c, 3), {kVirtioBlk, 0x1af4, 0x1042, 0, 0}, "/disk@0,0"),
            "/pci@i0cf8/pci-bridge@1c,3/scsi@0/disk@0,0");
}

TEST(BootOrder, RootBusDevicesAndNics) {
  EXPECT_EQ(ofw_path(std::nullopt, {kVirtioBlk, 0x1af4, 0x1042, 5, 0}, "/disk@0,0"), "/pci@i0cf8/scsi@5/disk@0,0");
  EXPECT_EQ(ofw_path(port(0x1c, 1), {kEthernet, 0x1af4, 0x1041, 0, 0}, "/ethernet-phy@0"),
            "/pci@i0cf8/pci-bridge@1c,1/ethernet@0/ethernet-phy@0");
  // A class QEMU has no name for (NVMe, 01.08) is named by its ids; slots and functions in hex.
  EXPECT_EQ(ofw_path(std::nullopt, {kNvme, 0x144d, 0xa808, 0x1a, 2}, ""), "/pci@i0cf8/pci144d,a808@1a,2");
}

TEST(BootOrder, FileIsNewlineSeparatedAndEndsInNul) {
  auto f = bootorder_file({{2, "/b"}, {0, "/a"}, {7, "/c"}});
  EXPECT_EQ(std::string(f.begin(), f.end()), std::string("/a\n/b\n/c\0", 9));
  auto one = bootorder_file({{1, "/pci@i0cf8/scsi@5/disk@0,0"}});
  EXPECT_EQ(one.back(), 0);
  EXPECT_EQ(std::count(one.begin(), one.end(), '\n'), 0);
}
