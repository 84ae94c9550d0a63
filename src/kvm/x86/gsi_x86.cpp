// The x86 irqchip routes: PIC and IOAPIC pins.
#include "altovirt/kvm/gsi.h"

namespace altovirt::kvm {

std::vector<kvm_irq_routing_entry> irqchip_routes() {
  std::vector<kvm_irq_routing_entry> t;
  auto add = [&](uint32_t gsi, uint32_t chip, uint32_t pin) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    e.u.irqchip.irqchip = chip;
    e.u.irqchip.pin = pin;
    t.push_back(e);
  };
  for (uint32_t i = 0; i < 16; ++i) {
    if (i == 2) continue;  // the cascade input
    add(i, i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, i % 8);
  }
  for (uint32_t i = 0; i < 24; ++i) add(i, KVM_IRQCHIP_IOAPIC, i == 0 ? 2 : i);
  return t;
}

}  // namespace altovirt::kvm
