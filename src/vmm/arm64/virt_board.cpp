// The arm64 part of Machine: the `virt` board (arch/arm64/layout.h has its address map). The
// in-kernel GICv3 with its ITS, the PL011 console, PL031 RTC and PL061 GPIO (the power key), a
// generic ECAM PCIe host whose I/O space is memory-mapped, and a direct boot of an arm64 Image
// with a device tree or a UEFI firmware boot (firmware_boot.cpp); KVM implements PSCI, the
// architected timer and the vCPUs' reset state.
//
// Threading: as Machine (built on the main thread).
#include <linux/kvm.h>

#include <cstddef>

#include "altovirt/arch/arm64/device_tree.h"
#include "altovirt/arch/arm64/gic.h"
#include "altovirt/arch/arm64/image.h"
#include "altovirt/arch/arm64/layout.h"
#include "altovirt/arch/arm64/pl011.h"
#include "altovirt/arch/arm64/pl031.h"
#include "altovirt/arch/arm64/pl061.h"
#include "altovirt/base/log.h"
#include "altovirt/vmm/machine.h"
#include "kvm_irq_line.h"

namespace altovirt::vmm {

namespace {

using namespace arch::arm64;

// What the board keeps between its build steps.
struct VirtState {
  std::optional<Gic> gic;
  LoadedKernel kernel;  // a direct boot's
  bool firmware = false;
};
VirtState& arch_state(const std::shared_ptr<void>& p) { return *static_cast<VirtState*>(p.get()); }

// PCI I/O space, which arm64 CPUs reach as memory (the device tree's I/O range): port = offset.
class PioWindow : public devices::IoHandler {
 public:
  explicit PioWindow(IoBus& pio) : pio_(pio) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override { pio_.read(offset, data); }
  void io_write(uint64_t offset, std::span<const uint8_t> data) override { pio_.write(offset, data); }

 private:
  IoBus& pio_;
};

// KVM's core register ids (asm/kvm.h: KVM_REG_ARM_CORE_REG(name) is the offset in 32-bit words).
constexpr uint64_t core_reg(size_t offset) {
  return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / sizeof(uint32_t));
}

}  // namespace

Status Machine::create_platform(const kvm::Kvm& kvm, const VmOptions& o) {
  if (!o.debugcon.empty())
    return fail("-debugcon {}: the debug console port (0x402) is x86's; AAVMF's debug builds print to the serial console",
                o.debugcon);
  if (o.ram > kMaxRam) return fail("-m {}: the arm64 virt board holds at most {} GiB of RAM", o.ram, kMaxRam / GiB);
  int max_vcpus = kvm.check(KVM_CAP_MAX_VCPUS);
  if (max_vcpus > 0 && o.cpus > static_cast<unsigned>(max_vcpus))
    return fail("-smp {}: this host's KVM allows at most {} vCPUs", o.cpus, max_vcpus);
  auto arch = std::make_shared<VirtState>();
  arch_ = arch;
  AV_TRY_ASSIGN(Gic gic, Gic::create(*vm_, o.cpus));
  arch->gic = std::move(gic);
  // The vCPUs now, not after the devices as on x86: KVM initialises the GIC only once every vCPU
  // exists, and refuses irqfds (a passed-through device's INTx, its MSIs) until it has.
  for (unsigned i = 0; i < o.cpus; ++i) {
    AV_TRY_ASSIGN(kvm::Vcpu vcpu, kvm::Vcpu::create(kvm, *vm_, i));
    AV_TRY(vcpu.arm_init(*vm_, i != 0));  // the secondaries wait for PSCI CPU_ON
    vcpus_.push_back(std::move(vcpu));
  }
  AV_TRY(arch->gic->finish(*vm_));
  vm_->set_msi_devid_required(arch->gic->has_its());
  int max_routes = kvm.check(KVM_CAP_IRQ_ROUTING);
  gsi_ = std::make_unique<kvm::GsiRouter>(*vm_, static_cast<uint32_t>(max_routes > 0 ? max_routes : 1024));
  AV_TRY(gsi_->install());

  AV_TRY(map_guest_ram(o, {{kRamBase, o.ram, "guest RAM"}}));  // from 1 GiB

  auto uart = std::make_shared<Pl011>(irq_line(kUartSpi), console_);
  console_in_ = uart;
  auto gpio = std::make_shared<Pl061>(irq_line(kGpioSpi), kPowerKeyLine);
  power_button_ = gpio;
  AV_TRY(mmio_.add(kUartBase, kPl0xxSize, "pl011 0x9000000", uart));
  AV_TRY(mmio_.add(kRtcBase, kPl0xxSize, "pl031 0x9010000", std::make_shared<Pl031>()));
  AV_TRY(mmio_.add(kGpioBase, kPl0xxSize, "pl061 0x9030000", gpio));
  AV_TRY(mmio_.add(kEcamBase, kEcamSize, "pci-ecam", std::make_shared<EcamRegion>(pci_)));
  AV_TRY(mmio_.add(kPciIoBase, kPciIoSize, "pci-io", std::make_shared<PioWindow>(pio_)));
  return ok();
}

Status Machine::add_platform_functions(std::set<unsigned>&) { return ok(); }

// The Image and initrd of a direct boot: nothing here depends on a device, so it runs beside them
// (Machine::build). Firmware loads the kernel itself.
Status Machine::load_kernel_early(const VmOptions& o) {
  if (o.firmware) return ok();
  AV_TRY_ASSIGN(arch_state(arch_).kernel, load_image(o.kernel, o.initrd, memory_, kRamBase, o.ram));
  return ok();
}

Status Machine::load_guest(const kvm::Kvm& kvm, const VmOptions& o) {
  VirtState& arch = arch_state(arch_);
  // Bus numbers and BARs are left to the guest, as on QEMU's virt board: Linux's generic ECAM host
  // driver renumbers every bus and reassigns every BAR (PCI_REASSIGN_ALL_BUS) whatever it finds,
  // UEFI firmware enumerates them itself, and BARs placed here first would only move under either,
  // overlapping each other on the way. Until the guest programs them, BARs and bridges decode nothing.
  DeviceTreeConfig dt;
  dt.cpus = o.cpus;
  dt.ram_size = o.ram;
  dt.its = arch.gic->has_its();
  dt.last_bus = static_cast<unsigned>(kEcamSize / MiB - 1);
  uint64_t dtb_at = kRamBase;  // firmware: where ArmVirtQemu reads it
  if (o.firmware) {
    // The kernel, initrd and command line go to the firmware over fw_cfg (arm64/firmware_boot.cpp).
    AV_TRY(load_firmware(kvm, o));
    arch.firmware = true;
    dt.firmware = true;
  } else {
    dt.cmdline = o.append;
    dt.initrd = arch.kernel.initrd;
    dtb_at = arch.kernel.dtb;
  }
  AV_TRY_ASSIGN(std::vector<uint8_t> blob, build_device_tree(dt));
  AV_TRY(memory_.write(dtb_at, blob));
  return ok();
}

Status Machine::create_vcpus(const kvm::Kvm&, const VmOptions&) {
  VirtState& arch = arch_state(arch_);
  // booting.rst: x0 = the device tree, x1..x3 = 0, the PC at the image; KVM's reset state has the
  // MMU off and every exception masked at EL1h. (The vCPUs exist since create_platform.) Firmware
  // starts at the bottom of its flash, x0 at the tree as QEMU passes it.
  const uint64_t pc = arch.firmware ? kFlashBase : arch.kernel.entry;
  const uint64_t dtb = arch.firmware ? kRamBase : arch.kernel.dtb;
  AV_TRY(vcpus_[0].set_one_reg(core_reg(offsetof(kvm_regs, regs.pc)), pc));
  AV_TRY(vcpus_[0].set_one_reg(core_reg(offsetof(kvm_regs, regs.regs[0])), dtb));
  return ok();
}

std::string Machine::platform_summary() const {
  const VirtState& arch = arch_state(arch_);
  return fmt::format("arm64 virt board, GICv3{}{}", arch.gic && arch.gic->has_its() ? " with ITS" : " without ITS",
                     arch.firmware ? ", UEFI firmware" : "");
}

VcpuState Machine::read_state(const kvm::Vcpu& v) {
  VcpuState st{.index = v.index(), .parked = true};
  if (auto pc = v.pc()) st.rip = *pc;
  if (auto sp = v.one_reg(core_reg(offsetof(kvm_regs, sp_el1)))) st.rsp = *sp;
  if (auto m = v.mp_state()) st.mp_state = *m;
  return st;
}

std::string Machine::describe(const VcpuState& st) {
  return fmt::format("pc {:#x} sp_el1 {:#x} mp_state {}", st.rip, st.rsp, st.mp_state);
}

}  // namespace altovirt::vmm
