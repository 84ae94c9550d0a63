// The "virtio-rng-pci" -device kind (QEMU's syntax): -device virtio-rng-pci[,rng=ID][,max-bytes=N]
// [,period=MS] plus the PCI placement keys, on an -object rng-random,id=ID[,filename=PATH] backend
// (without rng=, /dev/urandom). max-bytes/period is the rate limit (libvirt's <rate bytes period>);
// period defaults to 1000 ms. An unreadable backend file is reported here, before the guest runs.
#include "altovirt/base/log.h"
#include "altovirt/base/parse.h"
#include "altovirt/devices/virtio_rng.h"
#include "altovirt/vmm/guest_device_kinds.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/virtio_context.h"

namespace altovirt::vmm {
namespace {

Status create_virtio_rng(Machine& machine, const DeviceSpec& spec) {
  std::string path = "/dev/urandom", object = "(default /dev/urandom)";
  if (auto r = spec.props.find("rng"); r != spec.props.end()) {
    const RngSpec* found = nullptr;
    for (const auto& candidate : machine.options().rngs)
      if (candidate.id == r->second) found = &candidate;
    if (!found)
      return fail("-device {}: rng={} names no entropy source; add -object rng-random,id={},filename=/dev/urandom",
                  spec.text, r->second, r->second);
    path = found->filename;
    object = "-object " + found->text;
  }
  devices::RngOptions options;
  if (auto m = spec.props.find("max-bytes"); m != spec.props.end()) {
    auto v = parse_uint(m->second, "max-bytes");
    if (!v) return fail("-device {}: max-bytes={} is not a number of bytes", spec.text, m->second);
    options.max_bytes = *v;
  }
  if (auto p = spec.props.find("period"); p != spec.props.end()) {
    auto v = parse_uint(p->second, "period");
    if (!v || *v == 0 || *v > 3'600'000)
      return fail("-device {}: period={} must be a number of milliseconds, 1..3600000", spec.text, p->second);
    options.period = std::chrono::milliseconds(*v);
  }
  auto model = devices::VirtioRng::open(path, options);
  if (!model) return std::unexpected(model.error().context(object));
  AV_TRY_ASSIGN(pci::PciAddress at, add_virtio_pci(machine, spec, std::move(*model)));
  log::info("virtio-rng", "{} is guest device {}{}", path, at.str(),
            options.max_bytes ? fmt::format(" (at most {} bytes per {} ms)", options.max_bytes, options.period.count()) : "");
  return ok();
}

}  // namespace

void register_virtio_rng(DeviceRegistry& registry) {
  std::vector<std::string> keys = {"rng", "max-bytes", "period"};
  keys.insert(keys.end(), kVirtioPciKeys.begin(), kVirtioPciKeys.end());
  registry.add("virtio-rng-pci",
               DeviceKind{"virtio-rng-pci[,rng=ID][,max-bytes=N,period=MS]: an entropy source (the guest's /dev/hwrng)",
                          std::move(keys), create_virtio_rng});
}

}  // namespace altovirt::vmm
