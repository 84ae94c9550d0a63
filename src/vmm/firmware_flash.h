// The UEFI firmware's two flash banks as a board maps them (either architecture): the code as a
// read-only KVM memory slot (the vCPUs execute it in place and KVM cannot execute from MMIO), its
// writes trapped and dropped by the flash; the variable store as a read-only slot while it reads
// as an array and none while it answers commands (QEMU's "romd" mode), so its status reads exit to
// the flash. Where the banks go and their geometry are the board's (x86: below 4 GiB, byte-wide;
// arm64: at 0 and 64 MiB, two 16-bit parts).
//
// Threading: mapped on the main thread while the machine is built; the store's mode listener runs
// on a vCPU thread under the flash's lock and only maps or unmaps the store's slot (KVM slots may
// change while other vCPUs run).
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include "altovirt/base/log.h"
#include "altovirt/devices/pflash.h"
#include "altovirt/kvm/vm.h"

namespace altovirt::vmm {

struct FirmwareFlash {
  std::shared_ptr<devices::Pflash> code, vars;  // vars: may be null (x86 OVMF without a store)
  std::optional<kvm::MemorySlot> code_slot;
  std::mutex vars_mutex;  // vars_slot: changed by the store's mode listener on a vCPU thread
  std::optional<kvm::MemorySlot> vars_slot;
  log::RateLimiter limiter{5, std::chrono::seconds(10)};  // under vars_mutex
  // The store (shared with the MMIO bus) may outlive this: its listener refers to this object.
  ~FirmwareFlash() {
    if (vars) vars->set_mode_listener(nullptr);
  }
};

}  // namespace altovirt::vmm
