// The "vhost-vsock-pci" -device kind (QEMU's syntax): -device vhost-vsock-pci,guest-cid=N plus the
// PCI placement keys; guest-cid=auto (altovirt's, for libvirt's <cid auto='yes'>) takes the first
// free CID from 3 up. The CID is claimed while the machine is built, so a CID another VM holds, a
// reserved CID (0-2) or a missing /dev/vhost-vsock stops altovirt before the guest runs.
#include <cstdio>

#include "altovirt/base/log.h"
#include "altovirt/base/parse.h"
#include "altovirt/devices/vhost_vsock.h"
#include "altovirt/vmm/guest_device_kinds.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/virtio_context.h"

namespace altovirt::vmm {
namespace {

Status create_vhost_vsock(Machine& machine, const DeviceSpec& spec) {
  auto c = spec.props.find("guest-cid");
  if (c == spec.props.end()) return fail("-device {}: guest-cid=N is required (3 or above, unique on this host)", spec.text);
  Result<std::shared_ptr<devices::VhostVsock>> model = fail("");
  if (c->second == "auto") {
    model = devices::VhostVsock::create_any();
  } else {
    auto cid = parse_uint(c->second, "guest-cid");
    if (!cid) return fail("-device {}: guest-cid={} is not a number", spec.text, c->second);
    model = devices::VhostVsock::create(*cid);
  }
  if (!model) return std::unexpected(model.error().context(fmt::format("-device {}", spec.text)));
  uint64_t cid = (*model)->guest_cid();
  AV_TRY_ASSIGN(pci::PciAddress at, add_virtio_pci(machine, spec, std::move(*model)));
  log::info("vsock", "vhost-vsock with guest CID {} is guest device {}", cid, at.str());
  if (c->second == "auto") {
    // What altoctl (and a user) need to reach the guest: the CID altovirt picked.
    std::fprintf(stderr, "altovirt: vsock guest CID %llu\n", static_cast<unsigned long long>(cid));
    std::fflush(stderr);
  }
  return ok();
}

}  // namespace

void register_vhost_vsock(DeviceRegistry& registry) {
  std::vector<std::string> keys = {"guest-cid"};
  keys.insert(keys.end(), kVirtioPciKeys.begin(), kVirtioPciKeys.end());
  registry.add("vhost-vsock-pci",
               DeviceKind{"vhost-vsock-pci,guest-cid=N|auto: AF_VSOCK to the guest through the kernel's vhost-vsock",
                          std::move(keys), create_vhost_vsock});
}

}  // namespace altovirt::vmm
