// The "virtio-serial-pci" and "virtconsole" -device kinds, QEMU's names and syntax for a virtio
// console: the serial device is the PCI function, the console a port on it that names a -chardev.
// altovirt's virtio-serial-pci has port 0 only (no MULTIPORT), so it takes at most one virtconsole.
#include "altovirt/vmm/virtio_console_kind.h"

#include <cstdio>

#include "altovirt/base/log.h"
#include "altovirt/devices/virtio_console.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/virtio_context.h"

namespace altovirt::vmm {
namespace {

constexpr const char* kSerial = "virtio-serial-pci";
constexpr const char* kConsole = "virtconsole";

const DeviceSpec* first_of(const VmOptions& o, std::string_view kind) {
  for (const auto& d : o.devices)
    if (d.kind == kind) return &d;
  return nullptr;
}

// The backend a virtconsole names, checked for both kinds so either reports a bad chardev=.
Result<const ChardevSpec*> chardev_of(const VmOptions& o, const DeviceSpec& console) {
  auto it = console.props.find("chardev");
  if (it == console.props.end())
    return fail("-device {}: chardev=ID is required (e.g. -chardev pty,id=con0 -device virtconsole,chardev=con0)", console.text);
  for (const auto& c : o.chardevs)
    if (c.id == it->second) return &c;
  return fail("-device {}: chardev={} does not exist; add -chardev pty,id={}", console.text, it->second, it->second);
}

Status create_virtio_serial(Machine& machine, const DeviceSpec& spec) {
  const VmOptions& o = machine.options();
  std::shared_ptr<devices::CharBackend> backend;
  // The consoles belong to the first virtio-serial-pci; a second one is a device without ports.
  const DeviceSpec* first = first_of(o, kSerial);
  bool owns_console = first && first->text == spec.text && first->id == spec.id;
  if (owns_console) {
    const DeviceSpec* console = nullptr;
    for (const auto& d : o.devices) {
      if (d.kind != kConsole) continue;
      if (console)
        return fail("-device {}: a second virtconsole; altovirt's virtio-serial-pci has one port, the console (port 0)", d.text);
      console = &d;
    }
    if (console) {
      AV_TRY_ASSIGN(const ChardevSpec* chardev, chardev_of(o, *console));
      // The backend was opened with the process and outlives this machine (a guest reset builds a
      // new one): the console keeps its pty, and whoever is attached to it stays attached.
      backend = machine.chardevs().find(chardev->id);
      if (!backend) return fail("-chardev {}: not open (internal: the process opens every -chardev first)", chardev->text);
      if (chardev->backend == "pty" && machine.chardevs().first_announcement(chardev->id)) {
        // The announcement altoctl's supervisor waits for (as "serial console on " for -serial pty).
        std::fprintf(stderr, "altovirt: virtio console on %s\n", backend->description().c_str());
        std::fflush(stderr);
      }
    }
  }
  auto model = std::make_shared<devices::VirtioConsole>(std::move(backend));
  AV_TRY_ASSIGN(pci::PciAddress at, add_virtio_pci(machine, spec, std::move(model)));
  log::info("virtio", "{} is guest device {}{}", spec.id.empty() ? kSerial : spec.id, at.str(),
            owns_console ? " with the console on port 0" : "");
  return ok();
}

Status create_virtconsole(Machine& machine, const DeviceSpec& spec) {
  // The work is done by the virtio-serial-pci; here only what is wrong with this option is reported.
  if (!first_of(machine.options(), kSerial))
    return fail("-device {}: a virtconsole sits on a virtio-serial-pci; add -device virtio-serial-pci", spec.text);
  if (spec.slot) return fail("-device {}: a virtconsole is a port, not a PCI function: remove addr=", spec.text);
  AV_TRY(chardev_of(machine.options(), spec));
  return ok();
}

}  // namespace

void register_virtio_console(DeviceRegistry& registry) {
  registry.add(kSerial, DeviceKind{"virtio-serial-pci[,iothread=ID]: a virtio console device (its port 0 is a virtconsole)",
                                   kVirtioPciKeys, create_virtio_serial});
  DeviceKind console{"virtconsole,chardev=ID: the console port of the virtio-serial-pci (the guest's hvc0)",
                     {"chardev"}, create_virtconsole};
  console.pci_function = false;
  registry.add(kConsole, std::move(console));
}

}  // namespace altovirt::vmm
