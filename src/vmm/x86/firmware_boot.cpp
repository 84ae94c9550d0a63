// The parts of Machine for a UEFI firmware boot (-drive if=pflash): what stock OVMF needs of a
// q35-style machine (shared/research/firmware-ovmf.md has the sources for each rule):
//   - the code flash as a read-only KVM memory slot ending at 4 GiB (the vCPUs start at the reset
//     vector 0xFFFFFFF0 inside it; KVM cannot execute from MMIO), writes to it trapped and ignored;
//   - the variable store right below it, a CFI flash (devices/pflash) whose file keeps what the
//     firmware writes; a read-only slot while it reads as an array (QEMU's "romd" mode), none while
//     it answers commands;
//   - fw_cfg at 0x510 with DMA (devices/fw_cfg): the CPU count, the memory map (etc/e820), the ACPI
//     tables through the table loader (boot/acpi_loader), and a kernel, initrd and command line for
//     the firmware to boot when -kernel is given (QEMU's split of a bzImage into setup and kernel);
//   - the ICH9 LPC function at 00:1f.0 (devices/ich9_lpc), whose PMBASE moves the PM block.
// The host bridge's PCIEXBAR (pci/host_bridge) and the layout (boot::Boot::firmware) do the rest.
//
// Threading: built on the main thread with the machine; the flash's mode listener runs on a vCPU
// thread under the flash's lock and only maps or unmaps the store's slot (KVM slots may change
// while other vCPUs run).
#include <fmt/format.h>

#include <cstring>
#include <mutex>

#include "altovirt/arch/x86/acpi_pm.h"
#include "altovirt/arch/x86/debugcon.h"
#include "altovirt/arch/x86/ich9_lpc.h"
#include "altovirt/base/files.h"
#include "altovirt/base/log.h"
#include "altovirt/boot/acpi_loader.h"
#include "altovirt/devices/char_backend.h"
#include "altovirt/devices/fw_cfg.h"
#include "altovirt/devices/pflash.h"
#include "altovirt/virtio/guest_ram.h"
#include "altovirt/vmm/machine.h"
#include "firmware_flash.h"
#include "x86/pc_state.h"

namespace altovirt::vmm {

namespace {

constexpr uint64_t k4GiB = 4 * boot::GiB;

// What lives as long as the machine (in Machine::keep_, destroyed before the VM).
struct FirmwareState {
  FirmwareFlash flash;
  std::unique_ptr<virtio::KvmGuestRam> ram;
  std::shared_ptr<devices::FwCfg> fw_cfg;
};

// QEMU's hand-over of a bzImage to firmware: the real-mode setup ((setup_sects + 1) sectors, 4 when
// the header says 0: the boot protocol, Documentation/x86/boot.rst) and the rest, the kernel proper.
Status add_kernel_items(devices::FwCfg& fw, const VmOptions& o) {
  using devices::FwCfg;
  AV_TRY_ASSIGN(std::string image, read_file(o.kernel));
  if (image.size() < 0x250 || std::memcmp(image.data() + 0x202, "HdrS", 4) != 0)
    return fail("-kernel {}: not a bzImage (no 'HdrS' boot header at 0x202); UEFI firmware boots bzImages", o.kernel);
  unsigned sects = static_cast<uint8_t>(image[0x1f1]);
  size_t setup = (static_cast<size_t>(sects == 0 ? 4 : sects) + 1) * 512;
  if (setup >= image.size()) return fail("-kernel {}: its setup ({} bytes) is the whole file", o.kernel, setup);
  auto bytes = [](std::string_view s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  AV_TRY(fw.set_item(FwCfg::kSetupSize, FwCfg::le32(static_cast<uint32_t>(setup))));
  AV_TRY(fw.set_item(FwCfg::kSetupData, bytes(std::string_view(image).substr(0, setup))));
  AV_TRY(fw.set_item(FwCfg::kKernelSize, FwCfg::le32(static_cast<uint32_t>(image.size() - setup))));
  AV_TRY(fw.set_item(FwCfg::kKernelData, bytes(std::string_view(image).substr(setup))));
  if (!o.initrd.empty()) {
    AV_TRY_ASSIGN(std::string initrd, read_file(o.initrd));
    AV_TRY(fw.set_item(FwCfg::kInitrdSize, FwCfg::le32(static_cast<uint32_t>(initrd.size()))));
    AV_TRY(fw.set_item(FwCfg::kInitrdData, bytes(initrd)));
  }
  std::vector<uint8_t> cmdline = bytes(o.append);
  cmdline.push_back(0);
  AV_TRY(fw.set_item(FwCfg::kCmdlineSize, FwCfg::le32(static_cast<uint32_t>(cmdline.size()))));
  AV_TRY(fw.set_item(FwCfg::kCmdlineData, std::move(cmdline)));
  return ok();
}

}  // namespace

Status Machine::add_firmware_chipset(uint16_t pm_base) {
  // The LPC function: OVMF's serial console (SioBusDxe) and ACPI timer need it. Its PM block starts
  // where the machine put it; a guest that moves PMBASE moves the PM registers with it.
  auto lpc = std::make_shared<arch::x86::Ich9Lpc>();
  lpc->set_pm_base(pm_base);
  // The listener runs under the PCI bus's lock, which serialises the moves.
  lpc->set_pm_listener([region = std::make_shared<MovableRegion>(pio_, "acpi-pm", "the ACPI PM block", acpi_pm_, pm_base)](
                           std::optional<uint16_t>, std::optional<uint16_t> now) {
    region->move(now, arch::x86::AcpiPm::kSize);
  });
  AV_TRY(pci_.add(lpc, 0x1f, 0, false));
  return ok();
}

Status Machine::load_firmware(const kvm::Kvm& kvm, const VmOptions& o, const boot::AcpiConfig& acpi) {
  const FirmwareSpec& spec = *o.firmware;
  auto fw = std::make_shared<FirmwareState>();
  FirmwareFlash& flash = fw->flash;
  AV_TRY_ASSIGN(auto code, devices::Pflash::open(spec.code.file, spec.code.readonly, "-drive if=pflash,unit=0"));
  flash.code = std::move(code);
  uint64_t total = flash.code->size();
  if (spec.vars) {
    AV_TRY_ASSIGN(auto vars, devices::Pflash::open(spec.vars->file, false, "-drive if=pflash,unit=1"));
    flash.vars = std::move(vars);
    total += flash.vars->size();
  }
  // OVMF's code has its variable store's address built in (PcdOvmfFdBaseAddress): the two halves
  // of one build fill 2 MiB or 4 MiB exactly, which is what a mismatched pair gets wrong.
  if (flash.vars && total != 2 * boot::MiB && total != 4 * boot::MiB)
    return fail("-drive {} and -drive {}: the code ({} KiB) and variables ({} KiB) are not halves of one firmware build "
                "(together 2 MiB or 4 MiB, e.g. OVMF_CODE_4M.fd with OVMF_VARS_4M.fd)",
                spec.code.text, spec.vars->text, flash.code->size() / 1024, flash.vars->size() / 1024);
  if (total > 16 * boot::MiB) return fail("-drive {}: {} MiB of flash does not fit below 4 GiB", spec.code.text, total >> 20);
  // The code ends at 4 GiB (the reset vector 0xFFFFFFF0 is inside it), the variables right below.
  const uint64_t code_base = k4GiB - flash.code->size();
  AV_TRY(map_firmware_flash(kvm, flash, code_base, flash.vars ? code_base - flash.vars->size() : 0));

  // fw_cfg: what the firmware learns of the machine.
  using devices::FwCfg;
  fw->ram = std::make_unique<virtio::KvmGuestRam>(memory_);
  fw->fw_cfg = std::make_shared<FwCfg>(*fw->ram);
  FwCfg& c = *fw->fw_cfg;
  AV_TRY(c.set_item(FwCfg::kNbCpus, FwCfg::le16(static_cast<uint16_t>(o.cpus))));
  AV_TRY(c.set_item(FwCfg::kMaxCpus, FwCfg::le16(static_cast<uint16_t>(o.cpus))));
  AV_TRY(c.set_item(FwCfg::kRamSize, FwCfg::le64(o.ram)));
  const boot::MemoryLayout& layout_ = pc_state(arch_).layout;
  std::vector<FwCfg::E820Entry> e820 = {{0, layout_.low_ram, 1}};
  if (layout_.high_ram > 0) e820.push_back({boot::kHighRamBase, layout_.high_ram, 1});
  AV_TRY(c.add_file("etc/e820", FwCfg::e820_file(e820)));
  AV_TRY_ASSIGN(boot::AcpiFwCfgFiles tables, boot::acpi_fw_cfg_files(acpi));
  AV_TRY(c.add_file(boot::kAcpiRsdpFile, std::move(tables.rsdp)));
  AV_TRY(c.add_file(boot::kAcpiTablesFile, std::move(tables.tables)));
  AV_TRY(c.add_file(boot::kTableLoaderFile, std::move(tables.loader)));
  if (!o.kernel.empty()) AV_TRY(add_kernel_items(c, o));
  // The boot order (bootindex=): OVMF boots these first, in this order, and drops its other disk and
  // network boot options; without the file it connects every device and boots the first disk with an
  // EFI system partition (\EFI\BOOT\BOOTX64.EFI) before any network boot.
  if (!boot_paths_.empty()) {
    AV_TRY(c.add_file("bootorder", boot::bootorder_file(boot_paths_)));
    for (const auto& [index, path] : boot_paths_) log::info("vmm", "boot order {}: {}", index, path);
  }
  AV_TRY(pio_.add(FwCfg::kPortBase, FwCfg::kPortSize, "fw_cfg 0x510", fw->fw_cfg));

  if (!o.debugcon.empty()) {
    arch::x86::DebugCon::Sink sink;
    if (o.debugcon == "log") {
      sink = [](std::string_view line) { log::info("firmware", "{}", line); };
    } else {
      AV_TRY_ASSIGN(std::unique_ptr<devices::CharBackend> file, devices::CharBackend::open(o.debugcon));
      sink = [out = std::shared_ptr<devices::CharBackend>(std::move(file))](std::string_view line) {
        std::string l = std::string(line) + "\n";
        out->write(std::span(reinterpret_cast<const uint8_t*>(l.data()), l.size()));
      };
    }
    AV_TRY(pio_.add(arch::x86::DebugCon::kPort, 1, "debugcon 0x402", std::make_shared<arch::x86::DebugCon>(std::move(sink))));
  }
  log::info("vmm", "UEFI firmware: {} ({} KiB) at {:#x}{}", spec.code.file, flash.code->size() / 1024, code_base,
            flash.vars ? fmt::format(", variables {} ({} KiB) below it", spec.vars->file, flash.vars->size() / 1024)
                     : std::string(", no variable store (the firmware keeps its variables in RAM)"));
  keep_.push_back(std::move(fw));
  return ok();
}

}  // namespace altovirt::vmm
