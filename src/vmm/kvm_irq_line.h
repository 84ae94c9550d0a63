// KvmIrqLine: a platform device's interrupt wire into the in-kernel irqchip (an IOAPIC/PIC input on
// x86, a GIC SPI on arm64: kvm::Vm::set_irq_line says how each is numbered).
//
// Threading: set_level from any thread (the kernel serialises KVM_IRQ_LINE).
#pragma once

#include "altovirt/base/log.h"
#include "altovirt/devices/io_handler.h"
#include "altovirt/kvm/vm.h"

namespace altovirt::vmm {

class KvmIrqLine : public devices::IrqLine {
 public:
  KvmIrqLine(kvm::Vm& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  void set_level(bool asserted) override {
    if (auto s = vm_.set_irq_line(gsi_, asserted); !s) log::error("irq", "{}", s.error().message());
  }

 private:
  kvm::Vm& vm_;
  uint32_t gsi_;
};

// ECAM (PCIe 5.0 7.2.2): the whole configuration space of the PCI bus as one MMIO region.
class EcamRegion : public devices::IoHandler {
 public:
  explicit EcamRegion(pci::PciBus& bus) : bus_(bus) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override { bus_.ecam_read(offset, data); }
  void io_write(uint64_t offset, std::span<const uint8_t> data) override { bus_.ecam_write(offset, data); }

 private:
  pci::PciBus& bus_;
};

}  // namespace altovirt::vmm
