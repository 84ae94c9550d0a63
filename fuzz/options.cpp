// Fuzz target: altovirt's command-line parser (src/vmm/options.cpp) with every device kind
// registered, as `altovirt` parses its argv: the input is split into arguments at NUL bytes. Also
// the option-list parsers on their own (-drive, -chardev, -device values), which take the first
// argument. Every input must end in a VmOptions or an error value, never a crash or an exception.
#include <string>
#include <vector>

#include "altovirt/base/log.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/root_port_kind.h"
#include "altovirt/vmm/vfio_context.h"
#include "altovirt/vmm/virtio_console_kind.h"
#include "altovirt/vmm/virtio_context.h"

using namespace altovirt;

namespace {
const vmm::DeviceRegistry& registry() {
  static vmm::DeviceRegistry* r = [] {
    auto* reg = new vmm::DeviceRegistry();
    vmm::register_vfio_pci(*reg);
    vmm::register_virtio_blk(*reg);
    vmm::register_pcie_root_port(*reg);
    vmm::register_virtio_console(*reg);
    return reg;
  }();
  return *r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  log::set_level(log::Level::error);
  std::vector<std::string> args(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) args.emplace_back();
    else args.back().push_back(static_cast<char>(data[i]));
  }
  if (args.size() > 200) return 0;
  (void)vmm::parse_options(args, registry());
  (void)vmm::parse_drive(args[0]);
  (void)vmm::parse_chardev(args[0]);
  (void)vmm::parse_device(args[0], registry());
  return 0;
}
