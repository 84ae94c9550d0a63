// The "virtio-blk-pci" -device kind: -device virtio-blk-pci,drive=ID[,serial=S][,iothread=ID] plus
// the PCI placement keys, on a -drive backend (QEMU's syntax). Every image problem (missing,
// locked, a directory, qcow2) is reported here, while the machine is built, before the guest runs.
#include "altovirt/base/log.h"
#include "altovirt/virtio_blk/block_device.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/virtio_context.h"

namespace altovirt::vmm {
namespace {

Status create_virtio_blk(Machine& machine, const DeviceSpec& spec) {
  auto d = spec.props.find("drive");
  if (d == spec.props.end()) return fail("virtio-blk-pci needs drive=ID naming a -drive ...,id=ID");
  const DriveSpec* drive = machine.find_drive(d->second);
  if (drive == nullptr) return fail("drive={}: no -drive (or blockdev-add) has id={}", d->second, d->second);
  // One device per drive: two would write the same image without knowing of each other.
  auto& used = machine.virtio().drives_in_use;
  if (!used.insert(drive->id).second) return fail("drive={}: the drive is already used by another device", drive->id);
  InUse claim{used, drive->id};

  auto image = virtio_blk::Image::open(drive->file, {drive->readonly, drive->direct});
  if (!image) return std::unexpected(image.error().context(fmt::format("-drive {}", drive->text)));
  virtio_blk::BlockOptions options;
  if (auto s = spec.props.find("serial"); s != spec.props.end()) {
    if (s->second.size() > 20) return fail("serial={}: at most 20 characters (virtio-blk GET_ID)", s->second);
    options.serial = s->second;
  }
  options.io_uring = drive->io_uring;
  options.discard = drive->discard;
  const DriveLimits& l = drive->limits;
  options.limits = {l.iops, l.iops_rd, l.iops_wr, l.bps, l.bps_rd, l.bps_wr};
  AV_TRY_ASSIGN(auto model, virtio_blk::BlockDevice::create(std::make_unique<virtio_blk::Image>(std::move(*image)), options));
  uint64_t sectors = model->capacity();
  AV_TRY_ASSIGN(pci::PciAddress at, add_virtio_pci(machine, spec, std::move(model), &claim));
  log::info("virtio-blk", "{} ({} MiB{}{}) is guest device {}", drive->file, (sectors * 512) >> 20,
            drive->readonly ? ", read-only" : "", drive->direct ? ", cache=none" : "", at.str());
  return ok();
}

}  // namespace

void register_virtio_blk(DeviceRegistry& registry) {
  std::vector<std::string> keys = {"drive", "serial"};
  keys.insert(keys.end(), kVirtioPciKeys.begin(), kVirtioPciKeys.end());
  DeviceKind kind{"virtio-blk-pci,drive=ID[,serial=S][,iothread=ID]: a virtio disk on a -drive (or blockdev-add)",
                  std::move(keys), create_virtio_blk};
  kind.hotpluggable = true;  // QMP blockdev-add + device_add behind a root port
  kind.boot_suffix = "/disk@0,0";  // QEMU's virtio_blk_instance_init
  registry.add("virtio-blk-pci", std::move(kind));
}

}  // namespace altovirt::vmm
