// Machine::map_firmware_flash: firmware_flash.h says what the slots are for.
#include "firmware_flash.h"

#include <linux/kvm.h>

#include "altovirt/base/log.h"
#include "altovirt/vmm/machine.h"

namespace altovirt::vmm {

Status Machine::map_firmware_flash(const kvm::Kvm& kvm, FirmwareFlash& f, uint64_t code_base, uint64_t vars_base) {
  if (kvm.check(KVM_CAP_READONLY_MEM) <= 0)
    return fail("{}: this host's KVM has no read-only memory slots (KVM_CAP_READONLY_MEM), which firmware flash needs",
                f.code->path());
  AV_TRY_ASSIGN(kvm::MemorySlot cs, vm_->map_memory(code_base, f.code->size(), f.code->contents().data(), true,
                                                    "firmware code flash"));
  f.code_slot = std::move(cs);
  AV_TRY(mmio_.add(code_base, f.code->size(), "pflash code", f.code));  // writes: dropped by the flash
  if (!f.vars) return ok();
  auto map_vars = [this, vars_base, state = &f]() -> Status {
    AV_TRY_ASSIGN(kvm::MemorySlot s, vm_->map_memory(vars_base, state->vars->size(), state->vars->contents().data(), true,
                                                     "firmware variable flash"));
    state->vars_slot = std::move(s);
    return ok();
  };
  {
    std::lock_guard lock(f.vars_mutex);
    AV_TRY(map_vars());
  }
  f.vars->set_mode_listener([map_vars, state = &f](bool array) {
    std::lock_guard lock(state->vars_mutex);
    if (!array) {
      state->vars_slot.reset();  // reads exit to the flash, which answers with its status
    } else if (!state->vars_slot) {
      if (auto s = map_vars(); !s && state->limiter.allow())
        log::warn("vmm", "{}: the variable store's reads keep exiting", s.error().message());
    }
  });
  return mmio_.add(vars_base, f.vars->size(), "pflash vars", f.vars);
}

}  // namespace altovirt::vmm
