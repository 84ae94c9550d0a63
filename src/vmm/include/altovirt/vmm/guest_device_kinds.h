// The -device kinds of the standard VM's small virtio devices, each in its own file:
//   virtio-rng-pci     (src/vmm/virtio_rng_kind.cpp)     -object rng-random,id=R[,filename=PATH]
//                                                        -device virtio-rng-pci[,rng=R][,max-bytes=N][,period=MS]
//   virtio-balloon-pci (src/vmm/virtio_balloon_kind.cpp) -device virtio-balloon-pci[,deflate-on-oom=on]
//                                                        [,guest-stats-polling-interval=S]
//   vhost-vsock-pci    (src/vmm/vhost_vsock_kind.cpp)    -device vhost-vsock-pci,guest-cid=N
//   virtio-gpu-pci, virtio-keyboard-pci, virtio-tablet-pci (src/vmm/virtio_gpu_kind.cpp), shown and fed by -vnc
#pragma once

namespace altovirt::vmm {

class DeviceRegistry;

void register_virtio_rng(DeviceRegistry& registry);
void register_virtio_balloon(DeviceRegistry& registry);
void register_vhost_vsock(DeviceRegistry& registry);
void register_virtio_display(DeviceRegistry& registry);

}  // namespace altovirt::vmm
