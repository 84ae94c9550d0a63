// The "virtio-balloon-pci" -device kind (QEMU's syntax): -device virtio-balloon-pci
// [,deflate-on-oom=on|off][,guest-stats-polling-interval=S] plus the PCI placement keys. One per VM
// (QMP balloon/query-balloon act on it).
//
// Passthrough: when the VM has a vfio-pci device, VFIO maps (and pins) all guest RAM for DMA, so
// the balloon does not release inflated pages -- the IOMMU would keep pointing at the pinned pages
// while the guest's next touch maps new ones (QEMU disables RAM discarding for the same reason).
// The decision is made here from the command line, which lists every device the VM will have.
#include "altovirt/base/log.h"
#include "altovirt/base/parse.h"
#include "altovirt/devices/virtio_balloon.h"
#include "altovirt/vmm/guest_device_kinds.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/virtio_context.h"

namespace altovirt::vmm {
namespace {

Status create_virtio_balloon(Machine& machine, const DeviceSpec& spec) {
  VirtioContext& ctx = machine.virtio();
  if (ctx.balloon) return fail("-device {}: a VM has at most one balloon", spec.text);
  devices::BalloonOptions options;
  options.ram_bytes = machine.options().ram;
  if (auto d = spec.props.find("deflate-on-oom"); d != spec.props.end()) {
    if (d->second != "on" && d->second != "off")
      return fail("-device {}: deflate-on-oom={} must be on or off", spec.text, d->second);
    options.deflate_on_oom = d->second == "on";
  }
  if (auto p = spec.props.find("guest-stats-polling-interval"); p != spec.props.end()) {
    auto v = parse_uint(p->second, "guest-stats-polling-interval", 86400);
    if (!v) return fail("-device {}: guest-stats-polling-interval={} must be seconds, 0..86400", spec.text, p->second);
    options.stats_period_s = static_cast<unsigned>(*v);
  }
  bool passthrough = false;
  for (const auto& d : machine.options().devices)
    if (d.kind == "vfio-pci") passthrough = true;
  // Asked at every inflate: a device hot-added later pins guest RAM too, and while anything is
  // pinned a page given back to the host would no longer be the page the device DMAs to.
  options.discard_allowed = [&machine] { return !machine.guest_ram_pinned(); };
  AV_TRY_ASSIGN(auto model, devices::VirtioBalloon::create(std::move(options)));
  ctx.balloon = model;
  AV_TRY_ASSIGN(pci::PciAddress at, add_virtio_pci(machine, spec, std::move(model)));
  log::info("virtio-balloon", "balloon is guest device {}{}", at.str(),
            passthrough ? " (guest RAM is pinned for VFIO: inflated pages are not given back to the host)" : "");
  return ok();
}

}  // namespace

void register_virtio_balloon(DeviceRegistry& registry) {
  std::vector<std::string> keys = {"deflate-on-oom", "guest-stats-polling-interval"};
  keys.insert(keys.end(), kVirtioPciKeys.begin(), kVirtioPciKeys.end());
  registry.add("virtio-balloon-pci",
               DeviceKind{"virtio-balloon-pci[,deflate-on-oom=on][,guest-stats-polling-interval=S]: a memory balloon (QMP balloon)",
                          std::move(keys), create_virtio_balloon});
}

}  // namespace altovirt::vmm
