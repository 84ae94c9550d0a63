// The display and input -device kinds (QEMU's names):
//   virtio-gpu-pci[,xres=W][,yres=H][,max_hostmem=SIZE]   the screen (virtio 1.2 5.7, 2D), shown over -vnc
//   virtio-keyboard-pci, virtio-tablet-pci                 keyboard and absolute pointer (5.8), fed by -vnc
// Without -vnc the devices still work in the guest (a framebuffer console nobody sees, input devices
// that never send); the log says so. The VNC server outlives each machine (ResetSurvivors): after
// a guest reset the new devices take its screen and input over, and clients stay connected.
#include "altovirt/base/log.h"
#include "altovirt/base/parse.h"
#include "altovirt/devices/virtio_gpu.h"
#include "altovirt/devices/virtio_input.h"
#include "altovirt/vmm/guest_device_kinds.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/virtio_context.h"

namespace altovirt::vmm {
namespace {

Result<uint32_t> dimension(const DeviceSpec& spec, const char* key, uint32_t fallback) {
  auto it = spec.props.find(key);
  if (it == spec.props.end()) return fallback;
  auto v = parse_uint(it->second, key);
  if (!v || *v < 320 || *v > 16384 || *v % 8 != 0)
    return fail("-device {}: {}={} must be a number of pixels from 320 to 16384, a multiple of 8", spec.text, key, it->second);
  return static_cast<uint32_t>(*v);
}

Status create_virtio_gpu(Machine& machine, const DeviceSpec& spec) {
  devices::GpuOptions options;
  AV_TRY_ASSIGN(options.xres, dimension(spec, "xres", options.xres));
  AV_TRY_ASSIGN(options.yres, dimension(spec, "yres", options.yres));
  if (auto m = spec.props.find("max_hostmem"); m != spec.props.end()) {
    auto v = parse_size(m->second, "max_hostmem");
    if (!v || *v < (16ull << 20) || *v > (4ull << 30))
      return fail("-device {}: max_hostmem={} must be a size from 16M to 4G", spec.text, m->second);
    options.max_hostmem = *v;
  }
  std::shared_ptr<ui::Display> display;
  if (ui::VncServer* vnc = machine.vnc()) {
    // A shared_ptr that does not own the server: the process does (it outlives every machine).
    display = std::shared_ptr<ui::Display>(std::shared_ptr<void>(), vnc);
  } else {
    display = std::make_shared<ui::NullDisplay>();
  }
  auto model = std::make_shared<devices::VirtioGpu>(display, options);
  AV_TRY_ASSIGN(pci::PciAddress at, add_virtio_pci(machine, spec, std::move(model)));
  log::info("virtio-gpu", "guest device {}: one {}x{} head{}", at.str(), options.xres, options.yres,
            machine.vnc() ? " shown on VNC " + machine.vnc()->address() : " (no -vnc: nobody sees it)");
  return ok();
}

Status create_virtio_input(Machine& machine, const DeviceSpec& spec, devices::InputKind kind) {
  AV_TRY_ASSIGN(auto model, devices::VirtioInput::create(kind));
  AV_TRY_ASSIGN(pci::PciAddress at, add_virtio_pci(machine, spec, model));
  const char* what = kind == devices::InputKind::keyboard ? "keyboard" : "tablet";
  if (ui::VncServer* vnc = machine.vnc()) {
    machine.attach_input(kind == devices::InputKind::keyboard, model);
    log::info("virtio-input", "guest device {}: the {} of VNC {}", at.str(), what, vnc->address());
  } else {
    log::info("virtio-input", "guest device {}: a {} with no -vnc to feed it", at.str(), what);
  }
  return ok();
}

}  // namespace

void register_virtio_display(DeviceRegistry& registry) {
  std::vector<std::string> keys = {"xres", "yres", "max_hostmem"};
  keys.insert(keys.end(), kVirtioPciKeys.begin(), kVirtioPciKeys.end());
  registry.add("virtio-gpu-pci",
               DeviceKind{"virtio-gpu-pci[,xres=W,yres=H][,max_hostmem=SIZE]: a screen (2D), shown over -vnc",
                          std::move(keys), create_virtio_gpu});
  registry.add("virtio-keyboard-pci",
               DeviceKind{"virtio-keyboard-pci: a keyboard, typed on over -vnc", kVirtioPciKeys,
                          [](Machine& m, const DeviceSpec& s) { return create_virtio_input(m, s, devices::InputKind::keyboard); }});
  registry.add("virtio-tablet-pci",
               DeviceKind{"virtio-tablet-pci: an absolute pointer, moved over -vnc", kVirtioPciKeys,
                          [](Machine& m, const DeviceSpec& s) { return create_virtio_input(m, s, devices::InputKind::tablet); }});
}

}  // namespace altovirt::vmm
