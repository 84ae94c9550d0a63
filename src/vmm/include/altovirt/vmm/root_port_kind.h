// The "pcie-root-port" -device kind (QEMU's syntax):
//   -device pcie-root-port,id=ID[,bus=pcie.0][,addr=SLOT[.FN]][,multifunction=on],chassis=N,port=N[,slot=N]
// A Red Hat 1b36:000c root port on pcie.0 (pci/root_port.h); other devices sit behind it with
// bus=ID. chassis/slot give the Physical Slot Number the guest names the hot-plug slot by (slot=
// when given, else chassis=), port= the Link Capabilities port number. As in QEMU, no two root
// ports may have the same chassis and slot.
#pragma once

#include "altovirt/vmm/options.h"

namespace altovirt::vmm {

void register_pcie_root_port(DeviceRegistry& registry);

}  // namespace altovirt::vmm
