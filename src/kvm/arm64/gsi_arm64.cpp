// The arm64 irqchip routes: GSI n is the GIC's shared peripheral interrupt n (INTID 32 + n), for
// the platform devices and PCI INTx (KVM's irqchip routing on arm: irqchip 0, pin = SPI number,
// Documentation/virt/kvm/api.rst, KVM_SET_GSI_ROUTING).
#include "altovirt/kvm/gsi.h"

namespace altovirt::kvm {

std::vector<kvm_irq_routing_entry> irqchip_routes() {
  std::vector<kvm_irq_routing_entry> t;
  for (uint32_t i = 0; i < GsiRouter::kFirstMsiGsi; ++i) {
    kvm_irq_routing_entry e{};
    e.gsi = i;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    e.u.irqchip.irqchip = 0;
    e.u.irqchip.pin = i;
    t.push_back(e);
  }
  return t;
}

}  // namespace altovirt::kvm
