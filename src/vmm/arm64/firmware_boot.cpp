// The arm64 part of Machine for a UEFI firmware boot (-drive if=pflash, libvirt's <loader> and
// <nvram>): what Debian's AAVMF (edk2's ArmVirtQemu, package qemu-efi-aarch64) needs of the virt
// board, as QEMU's hw/arm/virt.c gives it:
//   - the code in flash bank 0 at address 0 (the vCPU starts there) and the variable store in bank 1
//     at 64 MiB, both CFI flash of two 16-bit parts on a 32-bit bus with 256 KiB blocks
//     (devices/pflash's aavmf geometry; ArmVirtPkg's VirtNorFlashDxe drives it, NorFlashQemuLib
//     finds the banks in the device tree's cfi-flash node and skips the one holding the code);
//   - the device tree at the start of RAM (ArmVirtQemu's PcdDeviceTreeInitialBaseAddress is
//     0x40000000), which the firmware reads for memory, GIC, timer, UART, RTC, PCIe host and fw_cfg
//     and hands to the OS (no ACPI tables: with no etc/table-loader the firmware exposes the tree);
//   - fw_cfg, memory-mapped at 0x0902_0000 with DMA: a kernel, initrd and command line for the
//     firmware to boot (its QemuKernelLoaderFsDxe; an arm64 Image goes over whole).
// The firmware enumerates PCI itself (bus numbers, bridge windows, BARs) through the ECAM; the
// machine follows BAR moves as it does when Linux does the same.
//
// Threading: built on the main thread with the machine (firmware_flash.h for the store's listener).
#include <fmt/format.h>

#include "altovirt/arch/arm64/layout.h"
#include "altovirt/base/files.h"
#include "altovirt/base/log.h"
#include "altovirt/devices/fw_cfg.h"
#include "altovirt/devices/pflash.h"
#include "altovirt/virtio/guest_ram.h"
#include "altovirt/vmm/machine.h"
#include "firmware_flash.h"

namespace altovirt::vmm {

namespace {

using namespace arch::arm64;

// What lives as long as the machine (in Machine::keep_, destroyed before the VM).
struct FirmwareState {
  FirmwareFlash flash;
  std::unique_ptr<virtio::KvmGuestRam> ram;
  std::shared_ptr<devices::FwCfg> fw_cfg;
};

Status add_file_item(devices::FwCfg& fw, uint16_t size_key, uint16_t data_key, const std::string& path) {
  using devices::FwCfg;
  AV_TRY_ASSIGN(std::string bytes, read_file(path));
  AV_TRY(fw.set_item(size_key, FwCfg::le32(static_cast<uint32_t>(bytes.size()))));
  return fw.set_item(data_key, std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

Result<std::shared_ptr<devices::Pflash>> open_bank(const DriveSpec& d, bool readonly, std::string_view what) {
  AV_TRY_ASSIGN(auto flash, devices::Pflash::open(d.file, readonly, what, devices::Pflash::aavmf()));
  // The tree describes two whole 64 MiB banks, and ArmVirtQemu drives all of one (QEMU's virt board
  // requires the size exactly too): a shorter image is padded by the user, not by altovirt.
  if (flash->size() != kFlashBankSize)
    return fail("-drive {}: {} KiB is not the virt board's {} MiB flash bank; AAVMF_CODE.fd and AAVMF_VARS.fd are "
                "64 MiB each (pad a smaller image with truncate -s 64M FILE)",
                d.text, flash->size() / 1024, kFlashBankSize / MiB);
  return std::shared_ptr<devices::Pflash>(std::move(flash));
}

}  // namespace

Status Machine::load_firmware(const kvm::Kvm& kvm, const VmOptions& o) {
  const FirmwareSpec& spec = *o.firmware;
  // ArmVirtQemu keeps its variables only in flash bank 1 (it has no RAM fallback, unlike OVMF).
  if (!spec.vars)
    return fail("-drive {}: AAVMF needs its variable store too: add -drive if=pflash,format=raw,unit=1,file=VARS (a "
                "per-VM copy of /usr/share/AAVMF/AAVMF_VARS.fd), or in domain XML <nvram>",
                spec.code.text);
  auto fw = std::make_shared<FirmwareState>();
  AV_TRY_ASSIGN(fw->flash.code, open_bank(spec.code, spec.code.readonly, "-drive if=pflash,unit=0"));
  AV_TRY_ASSIGN(fw->flash.vars, open_bank(*spec.vars, false, "-drive if=pflash,unit=1"));
  AV_TRY(map_firmware_flash(kvm, fw->flash, kFlashBase, kFlashBase + kFlashBankSize));

  using devices::FwCfg;
  fw->ram = std::make_unique<virtio::KvmGuestRam>(memory_);
  fw->fw_cfg = std::make_shared<FwCfg>(*fw->ram, FwCfg::Interface::mmio);
  FwCfg& c = *fw->fw_cfg;
  AV_TRY(c.set_item(FwCfg::kNbCpus, FwCfg::le16(static_cast<uint16_t>(o.cpus))));
  AV_TRY(c.set_item(FwCfg::kMaxCpus, FwCfg::le16(static_cast<uint16_t>(o.cpus))));
  AV_TRY(c.set_item(FwCfg::kRamSize, FwCfg::le64(o.ram)));
  if (!o.kernel.empty()) {
    AV_TRY(add_file_item(c, FwCfg::kKernelSize, FwCfg::kKernelData, o.kernel));
    if (!o.initrd.empty()) AV_TRY(add_file_item(c, FwCfg::kInitrdSize, FwCfg::kInitrdData, o.initrd));
    std::vector<uint8_t> cmdline(o.append.begin(), o.append.end());
    cmdline.push_back(0);
    AV_TRY(c.set_item(FwCfg::kCmdlineSize, FwCfg::le32(static_cast<uint32_t>(cmdline.size()))));
    AV_TRY(c.set_item(FwCfg::kCmdlineData, std::move(cmdline)));
  }
  if (!boot_paths_.empty())
    log::info("vmm", "boot order: not passed to the arm64 firmware yet; it boots the -kernel, else the first disk it finds");
  AV_TRY(mmio_.add(kFwCfgBase, FwCfg::kMmioSize, "fw_cfg 0x9020000", fw->fw_cfg));
  log::info("vmm", "UEFI firmware: {} ({} KiB) at {:#x}, variables {} ({} KiB) at {:#x}", spec.code.file,
            fw->flash.code->size() / 1024, kFlashBase, spec.vars->file, fw->flash.vars->size() / 1024,
            kFlashBase + kFlashBankSize);
  keep_.push_back(std::move(fw));
  return ok();
}

}  // namespace altovirt::vmm
