// Fuzz target: the virtio-over-PCI transport (src/virtio/pci_transport.cpp) as a guest driver
// reaches it: PCI config space reads and writes (the header, BAR sizing, the vendor capabilities,
// the PCI_CFG window, MSI-X control) and BAR 0 accesses (common configuration: feature selects,
// status transitions, queue select/size/addresses/enable/vectors; ISR; device configuration; notify;
// MSI-X table and PBA), any offset, any size 1..8. The model behind it is the virtio console (two
// queues, config writes), on a real EventLoop; queue rings live in a fake guest RAM the input fills.
//
// Input: [RAM seed len u8][RAM seed...] then ops of [kind u8][offset u16][size u8][value u64].
#include <cstdlib>

#include "altovirt/base/log.h"
#include "altovirt/devices/virtio_console.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/pci_transport.h"
#include "fake_guest.h"
#include "fuzz_input.h"

using namespace altovirt;
using virtio::VirtioPciDevice;
using virtio::testing::FakeHost;
using virtio::testing::FakeRam;

namespace {

constexpr uint64_t kBase = 0x100000;
constexpr size_t kRamSize = 64 * 1024;

virtio::EventLoop& loop() {
  static virtio::EventLoop* l = [] {
    log::set_level(log::Level::error);
    auto made = virtio::EventLoop::create("fuzz-virtio-pci");
    if (!made) std::abort();
    return made->release();
  }();
  return *l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  FakeRam ram(kBase, kRamSize);
  auto seed = in.take_bytes(in.take<uint8_t>() * 4u);
  std::copy(seed.begin(), seed.end(), ram.at(kBase));
  FakeHost host;
  auto model = std::make_shared<devices::VirtioConsole>(nullptr);
  auto made = VirtioPciDevice::create("fuzz", model, host, ram, loop());
  if (!made) std::abort();
  VirtioPciDevice& dev = **made;

  for (unsigned ops = 0; !in.empty() && ops < 256; ++ops) {
    const uint8_t kind = in.take<uint8_t>();
    uint16_t offset = in.take<uint16_t>();
    unsigned len = 1 + in.take<uint8_t>() % 8;
    uint64_t value = in.take<uint64_t>();
    uint8_t bytes[8];
    std::memcpy(bytes, &value, 8);
    switch (kind % 6) {
      case 0:  // config accesses as the bus hands them on: 1, 2 or 4 bytes inside the 4 KiB
        (void)dev.config_read(offset % 0x1000, 1u << (len % 3));
        break;
      case 1:
        dev.config_write(offset % 0x1000, 1u << (len % 3), static_cast<uint32_t>(value));
        break;
      case 2:
        dev.bar_read(kind & 0x80 ? kind % 7 : VirtioPciDevice::kBar, offset % 0x9000, std::span<uint8_t>(bytes, len));
        break;
      case 3:
      case 4:  // the common configuration is where the state lives: aim there more often
        dev.bar_write(VirtioPciDevice::kBar, kind % 6 == 3 ? offset % 0x40 : offset % 0x9000,
                      std::span<const uint8_t>(bytes, len));
        break;
      default:
        dev.bar_write(kind & 0x80 ? kind % 7 : VirtioPciDevice::kBar, offset, std::span<const uint8_t>(bytes, len));
    }
  }
  // Teardown with the device in whatever state the guest left it (the VM going away).
  made->reset();
  return 0;
}
