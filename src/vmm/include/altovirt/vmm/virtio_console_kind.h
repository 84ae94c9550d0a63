// The virtio console's -device kinds (src/vmm/virtio_console_kind.cpp).
#pragma once

namespace altovirt::vmm {

class DeviceRegistry;

// Adds "virtio-serial-pci" and "virtconsole":
//   -chardev pty,id=CON -device virtio-serial-pci[,id=ID][,bus=..][,addr=..][,iothread=ID]
//   -device virtconsole,chardev=CON[,id=ID]
// The virtconsole is port 0 of the first virtio-serial-pci: the guest's hvc0. A pty backend's path
// is announced on stderr as "altovirt: virtio console on PATH" (altoctl's supervisor reads it).
void register_virtio_console(DeviceRegistry& registry);

}  // namespace altovirt::vmm
