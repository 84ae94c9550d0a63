// Fuzz target: the VFIO device model's emulation of what the guest writes (src/vmm/vfio_pci.cpp):
// config space (the emulated header and BARs with sizing and relocation, the ROM BAR, command
// register decode, the emulated MSI and MSI-X capabilities, the hidden extended capabilities, the
// bytes passed through to the device) and BAR accesses (the trapped MSI-X table and PBA, the rest of
// trapped BARs and I/O BARs forwarded to the device), against a fake VFIO device and machine.
//
// Input: [device variant u8] then ops of [kind u8][offset u16][size u8][value u64]. The variant
// changes what the device declares (MSI vector count, 64-bit/maskable MSI, MSI-X table size).
#include <cstdlib>

#include "altovirt/base/log.h"
#include "fake_vfio.h"
#include "fuzz_input.h"

using namespace altovirt;
using vmm::testing::FakeDevice;
using vmm::testing::FakeHost;
using vmm::testing::kMsiCap;
using vmm::testing::kMsixCap;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  log::set_level(log::Level::error);
  fuzz::FuzzInput in(data, size);
  const uint8_t variant = in.take<uint8_t>();
  FakeHost host;
  auto fake = std::make_shared<FakeDevice>();
  // MSI: multiple message capable 1..32 vectors, with or without 64-bit and per-vector masking.
  uint16_t msi_flags = static_cast<uint16_t>((variant & 7) % 6 << 1);
  if (variant & 8) msi_flags |= PCI_MSI_FLAGS_64BIT;
  if (variant & 16) msi_flags |= PCI_MSI_FLAGS_MASKBIT;
  fake->w16(kMsiCap + PCI_MSI_FLAGS, msi_flags);
  // MSI-X table size 1..8 entries (the fake offers 8 vectors).
  fake->w16(kMsixCap + PCI_MSIX_FLAGS, static_cast<uint16_t>(variant >> 5));
  auto made = vmm::VfioPciDevice::create(host, fake, "fuzz0", vmm::VfioPciDevice::Options{(variant & 0x80) == 0, {}});
  if (!made) return 0;
  vmm::VfioPciDevice& dev = **made;

  for (unsigned ops = 0; !in.empty() && ops < 256; ++ops) {
    const uint8_t kind = in.take<uint8_t>();
    uint16_t offset = in.take<uint16_t>();
    unsigned len = 1 + in.take<uint8_t>() % 8;
    uint64_t value = in.take<uint64_t>();
    uint8_t bytes[8];
    std::memcpy(bytes, &value, 8);
    unsigned cfg_size = 1u << (len % 3);  // the bus hands on 1, 2 or 4 bytes
    switch (kind % 6) {
      case 0:
        (void)dev.config_read(offset % 0x1000, cfg_size);
        break;
      case 1:
        dev.config_write(offset % 0x1000, cfg_size, static_cast<uint32_t>(value));
        break;
      case 2:  // the capabilities, where the emulation is
        dev.config_write(0x40 + offset % 0x40, cfg_size, static_cast<uint32_t>(value));
        break;
      case 3:  // MSI-X table (BAR 0 + 0x2000) and PBA (+0x3000)
        dev.bar_write(0, 0x2000 + offset % 0x1100, std::span<const uint8_t>(bytes, len));
        break;
      case 4:
        dev.bar_read((kind >> 3) % 6, offset, std::span<uint8_t>(bytes, len));
        break;
      default:
        dev.bar_write((kind >> 3) % 6, offset, std::span<const uint8_t>(bytes, len));
    }
  }
  return 0;
}
