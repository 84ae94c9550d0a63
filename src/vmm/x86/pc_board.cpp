// The x86 part of Machine: a q35-like PC (boot/layout.h has its address map). The in-kernel PIC,
// IOAPIC, local APICs and PIT; COM1 (16550), the ACPI PM block with its power button, the i8042's
// reset line, the CMOS RTC, PCI configuration through ports 0xCF8/0xCFC and ECAM; ACPI tables and a
// bzImage for a direct boot, or stock OVMF (firmware_boot.cpp); CPUID and MTRRs for the vCPUs.
//
// Threading: as Machine (built on the main thread).
#include <unistd.h>

#include "altovirt/arch/x86/acpi_pm.h"
#include "altovirt/arch/x86/legacy.h"
#include "altovirt/arch/x86/serial.h"
#include "altovirt/base/log.h"
#include "altovirt/boot/acpi.h"
#include "altovirt/boot/bzimage.h"
#include "altovirt/boot/kernel_cache.h"
#include "altovirt/boot/long_mode.h"
#include "altovirt/kvm/cpuid.h"
#include "altovirt/kvm/msrs.h"
#include "altovirt/vmm/machine.h"
#include "kvm_irq_line.h"
#include "x86/pc_state.h"

namespace altovirt::vmm {

namespace {

constexpr uint16_t kCom1Port = 0x3f8;
constexpr uint32_t kCom1Irq = 4;
constexpr uint16_t kPmBase = 0x600;
constexpr uint8_t kSciIrq = 9;
constexpr uint8_t kS5SleepType = 5;


// 0xCF8..0xCFF: the config address/data ports, except a byte access to 0xCF9, which is the reset
// control register (ICH9: it shares the dword at 0xCF8).
class PciConfigPorts : public devices::IoHandler {
 public:
  PciConfigPorts(pci::PciBus& bus, arch::x86::ResetControl& reset) : bus_(bus), reset_(reset) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override {
    if (offset == 1 && data.size() == 1) return reset_.io_read(0, data);
    bus_.cf8_read(static_cast<unsigned>(offset), data);
  }
  void io_write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset == 1 && data.size() == 1) return reset_.io_write(0, data);
    bus_.cf8_write(static_cast<unsigned>(offset), data);
  }

 private:
  pci::PciBus& bus_;
  arch::x86::ResetControl& reset_;
};

}  // namespace

Status Machine::create_platform(const kvm::Kvm& kvm, const VmOptions& o) {
  AV_TRY(vm_->create_irqchip_and_pit());
  int max_routes = kvm.check(KVM_CAP_IRQ_ROUTING);
  gsi_ = std::make_unique<kvm::GsiRouter>(*vm_, static_cast<uint32_t>(max_routes > 0 ? max_routes : 1024));
  AV_TRY(gsi_->install());

  auto arch = std::make_shared<PcState>();
  arch_ = arch;
  boot::MemoryLayout& layout_ = arch->layout;
  AV_TRY_ASSIGN(arch->supported, kvm.supported_cpuid());
  if (kvm.check(KVM_CAP_TSC_DEADLINE_TIMER) > 0) kvm::enable_tsc_deadline(arch->supported);
  const unsigned phys_bits = arch->phys_bits = kvm::phys_address_bits(arch->supported);
  const bool firmware = o.firmware.has_value();
  AV_TRY_ASSIGN(layout_, boot::MemoryLayout::make(o.ram, phys_bits, firmware ? boot::Boot::firmware : boot::Boot::direct));
  int max_vcpus = kvm.check(KVM_CAP_MAX_VCPUS);
  if (max_vcpus > 0 && o.cpus > static_cast<unsigned>(max_vcpus))
    return fail("-smp {}: this host's KVM allows at most {} vCPUs", o.cpus, max_vcpus);

  // Guest RAM, below and above the 32-bit PCI hole.
  AV_TRY(map_guest_ram(o, {{0, layout_.low_ram, "guest RAM below 3 GiB"},
                           {boot::kHighRamBase, layout_.high_ram, "guest RAM above 4 GiB"}}));

  // Legacy devices.
  auto serial = std::make_shared<arch::x86::Serial16550>(irq_line(kCom1Irq), console_);
  console_in_ = serial;
  acpi_pm_ = std::make_shared<arch::x86::AcpiPm>(irq_line(kSciIrq), *this, kS5SleepType);
  power_button_ = acpi_pm_;
  auto reset = std::make_shared<arch::x86::ResetControl>(*this);
  keep_.push_back(reset);
  AV_TRY(pio_.add(kCom1Port, 8, "serial 0x3f8", serial));
  AV_TRY(pio_.add(kPmBase, arch::x86::AcpiPm::kSize, "acpi-pm 0x600", acpi_pm_));
  AV_TRY(pio_.add(0x60, 5, "i8042 0x60", std::make_shared<arch::x86::I8042>(*this)));
  AV_TRY(pio_.add(0x70, 2, "rtc-cmos 0x70", std::make_shared<arch::x86::CmosRtc>()));
  AV_TRY(pio_.add(0xcf8, 8, "pci-config 0xcf8", std::make_shared<PciConfigPorts>(pci_, *reset)));
  auto ecam = std::make_shared<EcamRegion>(pci_);
  AV_TRY(mmio_.add(layout_.ecam_base, boot::kEcamSize, "pci-ecam", ecam));
  // ECAM follows the host bridge's PCIEXBAR, which UEFI firmware moves (OVMF: to 0xB0000000, 256
  // MiB); a direct kernel boot leaves it where the MCFG says. A window the guest puts over another
  // region is refused by the bus and logged: the guest then has port 0xCF8 only, as with ECAM off.
  pci_.host_bridge().set_ecam(layout_.ecam_base);
  // The listener runs under the PCI bus's lock, which serialises the moves.
  pci_.host_bridge().set_ecam_listener(
      [region = std::make_shared<MovableRegion>(mmio_, "pci-ecam", "PCI ECAM", ecam, layout_.ecam_base)](
          std::optional<pci::EcamWindow>, std::optional<pci::EcamWindow> now) {
        region->move(now ? std::optional(now->base) : std::nullopt, now ? now->size : 0);
      });
  return ok();
}

Status Machine::add_platform_functions(std::set<unsigned>& taken) {
  if (!options_.firmware) return ok();
  AV_TRY(add_firmware_chipset(kPmBase));
  taken.insert(0x1f);  // the LPC function
  return ok();
}

Status Machine::load_guest(const kvm::Kvm& kvm, const VmOptions& o) {
  const boot::MemoryLayout& layout_ = pc_state(arch_).layout;
  const bool firmware = o.firmware.has_value();
  // Bus numbers, windows and BARs are the firmware's job; a direct kernel boot has none to do it.
  if (!firmware)
    AV_TRY(pci_.assign_resources(pci::PciWindows{layout_.mmio32_base, layout_.mmio32_size, layout_.mmio64_base,
                                                 layout_.mmio64_size, boot::kPciIoBase, boot::kPciIoSize}));

  // Firmware's job: ACPI tables, the kernel, the long-mode tables.
  boot::AcpiConfig acpi;
  acpi.cpus = o.cpus;
  acpi.layout = layout_;
  acpi.pm_base = kPmBase;
  acpi.sci_irq = kSciIrq;
  acpi.s5_sleep_type = kS5SleepType;
  if (firmware) {
    AV_TRY(load_firmware(kvm, o, acpi));
    pc_state(arch_).entry = 0;
  } else {
    AV_TRY_ASSIGN(boot::AcpiTables tables, boot::build_acpi_tables(acpi));
    AV_TRY(memory_.write(tables.base, tables.blob));
    AV_TRY(boot::write_long_mode_tables(memory_));
  }
  return ok();
}

// A direct boot's bzImage (or its cached vmlinux), initrd and command line: nothing here depends on
// a device, so it runs beside them (Machine::build). Firmware loads the kernel itself.
Status Machine::load_kernel_early(const VmOptions& o) {
  if (o.firmware) return ok();
  boot::KernelFiles files;
  files.kernel = o.kernel;
  files.initrd = o.initrd;
  files.cmdline = o.append;
  files.extract = boot::KernelCache::enabled_by_environment();
  if (files.extract) files.cache_dirs = boot::KernelCache::default_dirs();
  files.ram_fresh = ram_fresh_;
  AV_TRY_ASSIGN(pc_state(arch_).entry, boot::load_linux(files, pc_state(arch_).layout, memory_));
  return ok();
}

Status Machine::create_vcpus(const kvm::Kvm& kvm, const VmOptions& o) {

  PcState& arch = pc_state(arch_);
  const boot::MemoryLayout& layout_ = arch.layout;
  const bool firmware = o.firmware.has_value();
  // vCPUs: CPUID with the topology, MTRRs with the PCI holes uncachable, the BSP at the kernel entry.
  std::vector<kvm::UncachedRange> uncached = {{boot::kHoleStart, 4 * boot::GiB - boot::kHoleStart},
                                              {layout_.mmio64_base, layout_.mmio64_size}};
  kvm::MsrList msrs;
  if (!firmware) {
    AV_TRY_ASSIGN(kvm::MsrList m, kvm::boot_msrs(uncached, arch.phys_bits));
    msrs = std::move(m);
  }
  for (unsigned i = 0; i < o.cpus; ++i) {
    AV_TRY_ASSIGN(kvm::Vcpu vcpu, kvm::Vcpu::create(kvm, *vm_, i));
    AV_TRY(vcpu.set_cpuid(kvm::vcpu_cpuid(arch.supported, i, o.cpus)));
    // Firmware starts from the reset state KVM gives a new vCPU (the BSP at 0xFFFFFFF0, MTRRs off,
    // the APs waiting for INIT-SIPI) and sets up the rest itself.
    if (!firmware) {
      AV_TRY(vcpu.set_msrs(msrs));
      AV_TRY(boot::init_fpu(vcpu));
      if (i == 0) AV_TRY(boot::enter_long_mode(vcpu, arch.entry));
    }
    vcpus_.push_back(std::move(vcpu));
  }
  // Writes of the PCI configuration address (0xCF8-0xCFB: CONFIG_ADDRESS, and the reset control
  // register at 0xCF9) go through KVM's coalesced ring instead of exiting: Linux's type-1
  // configuration access is "write 0xCF8, then access 0xCFC", half of all exits while it boots.
  // The 0xCFC access exits, and every exit replays the ring first, so the address is in place
  // before the data access, as on a PC (Linux serialises the pair with pci_config_lock).
  const auto page_size = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto run_size = kvm.vcpu_mmap_size();
  if (auto page = kvm::CoalescedIo::ring_page(kvm); page && run_size && (*page + 1) * page_size <= *run_size) {
    if (auto s = kvm::CoalescedIo::register_zone(*vm_, 0xcf8, 4, true); s) {
      // The ring is the same page in every vCPU's kvm_run mapping; vCPU 0's lives as long as this machine.
      coalesced_ = std::make_unique<kvm::CoalescedIo>(
          reinterpret_cast<uint8_t*>(vcpus_[0].run_state()) + *page * page_size, page_size);
    } else {
      log::warn("vmm", "{}: PCI configuration writes will exit", s.error().message());
    }
  }
  return ok();
}

std::string Machine::platform_summary() const {
  const boot::MemoryLayout& layout_ = pc_state(arch_).layout;
  return fmt::format("{} MiB RAM below 4 GiB, 64-bit PCI window {:#x}+{:#x}", layout_.low_ram >> 20, layout_.mmio64_base,
                     layout_.mmio64_size);
}

// On the vCPU's own thread (KVM's vCPU ioctls belong to the thread that runs it). Fields stay zero
// when an ioctl fails (a vCPU torn down under it): this is for diagnosis only.
VcpuState Machine::read_state(const kvm::Vcpu& v) {
  VcpuState st{.index = v.index(), .parked = true};
  if (auto r = v.regs()) st.rip = r->rip, st.rsp = r->rsp, st.rflags = r->rflags;
  if (auto s = v.sregs()) st.cr0 = s->cr0, st.cr3 = s->cr3, st.cr4 = s->cr4, st.efer = s->efer, st.cs = s->cs.selector;
  if (auto m = v.mp_state()) st.mp_state = *m;
  return st;
}

std::string Machine::describe(const VcpuState& st) {
  return fmt::format("rip {:#x} rsp {:#x} rflags {:#x} cr0 {:#x} cr3 {:#x} cr4 {:#x} efer {:#x} mp_state {}", st.rip, st.rsp,
                     st.rflags, st.cr0, st.cr3, st.cr4, st.efer, st.mp_state);
}

}  // namespace altovirt::vmm
