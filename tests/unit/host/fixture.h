// A host like the testbed's, in a FakeKernel: a host bridge, a root port, an e1000e NIC alone in its
// group, an SR-IOV NVMe PF, and an ISA bridge group (00:1f.*) where the SMBus controller is bound to a
// host driver. Plus a state directory of its own.
//
// Threading: single-threaded test fixture.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "altovirt/host/state.h"
#include "fake_kernel.h"

namespace altovirt::host::testing {

class HostFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    k.add_standard_host();
    for (const char* d : {"e1000e", "nvme", "pcieport", "i801_smbus", "ahci", "vfio-pci"}) k.add_driver(d);
    k.set_default_driver(0x8086, 0x10d3, "e1000e");
    k.set_default_driver(0x1b36, 0x0010, "nvme");
    k.set_default_driver(0x8086, 0x2930, "i801_smbus");
    k.add_device({"0000:00:00.0", 0x8086, 0x29c0, 0x060000, "", std::nullopt, 0, 0, ""});
    k.add_device({"0000:00:04.0", 0x1b36, 0x000c, 0x060400, "pcieport", 4, 0, 0, ""});
    k.add_device({"0000:00:1f.0", 0x8086, 0x2918, 0x060100, "", 7, 0, 0, ""});
    k.add_device({"0000:00:1f.2", 0x8086, 0x2922, 0x010601, "", 7, 0, 0, ""});
    k.add_device({"0000:00:1f.3", 0x8086, 0x2930, 0x0c0500, "i801_smbus", 7, 0, 0, ""});
    k.add_device({"0000:01:00.0", 0x8086, 0x10d3, 0x020000, "e1000e", 8, 0, 0, "pm bus"});
    k.add_device({"0000:02:00.0", 0x1b36, 0x0010, 0x010802, "nvme", 9, 4, 0x0010, "flr bus"});
    char tmpl[] = "/tmp/altovirt-state-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    state_dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(state_dir); }

  StateDir open_state() {
    auto s = StateDir::open(state_dir);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message());
    return std::move(*s);
  }

  FakeKernel k;
  std::string state_dir;
};

inline PciAddress addr(const char* s) { return *parse_pci_address(s); }

}  // namespace altovirt::host::testing
