// Fuzz target: the fw_cfg device (src/devices/fw_cfg) as a guest drives it: selector writes, data
// port reads of any length, the DMA address register written in halves or whole (with requests and
// buffers anywhere in, across and outside a fake 64 KiB guest RAM), and stray accesses of any size
// at any register offset, over items and files the input also chooses; through x86's port
// registers or the memory-mapped ones of arm64's virt board.
//
// Input: [file count u8, bit 7: MMIO][per file: size u8, bytes...][then per op: op u8 ...] where an op selects a
// key, reads the data port, writes a DMA request and starts it, writes or reads a register, or resets.
// Checked: a DMA request inside RAM is always answered (control 0 or the error bit alone).
#include <endian.h>

#include <cstring>
#include <string>

#include "altovirt/base/log.h"
#include "altovirt/devices/fw_cfg.h"
#include "fake_guest.h"
#include "fuzz_input.h"

using namespace altovirt;
using virtio::testing::FakeRam;

namespace {
constexpr uint64_t kBase = 0x100000;
constexpr size_t kRamSize = 64 * 1024;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = (log::set_level(log::Level::error), true);
  (void)quiet;
  fuzz::FuzzInput in(data, size);
  FakeRam ram(kBase, kRamSize);
  const uint8_t head = in.take<uint8_t>();
  const bool mmio = (head & 0x80) != 0;
  using Interface = devices::FwCfg::Interface;
  devices::FwCfg cfg(ram, mmio ? Interface::mmio : Interface::port);
  // The registers' offsets in the interface the input chose.
  const uint64_t selector = mmio ? 8 : 0, data_reg = mmio ? 0 : 1, dma = mmio ? 16 : 4;
  const uint64_t span = mmio ? devices::FwCfg::kMmioSize : devices::FwCfg::kPortSize;
  (void)cfg.set_item(devices::FwCfg::kNbCpus, devices::FwCfg::le16(1));
  const unsigned files = head % 8;
  for (unsigned i = 0; i < files; ++i) {
    std::vector<uint8_t> bytes(in.take<uint8_t>());
    for (auto& b : bytes) b = in.take<uint8_t>();
    (void)cfg.add_file("etc/f" + std::to_string(i), std::move(bytes));
  }
  for (unsigned ops = 0; !in.empty() && ops < 64; ++ops) {
    const uint8_t op = in.take<uint8_t>();
    switch (op % 6) {
      case 0: {  // select
        uint16_t key = in.take<uint16_t>();
        uint8_t b[2] = {static_cast<uint8_t>(key), static_cast<uint8_t>(key >> 8)};
        cfg.io_write(selector, std::span<const uint8_t>(b, 1 + (op >> 7)));
        break;
      }
      case 1: {  // data port read, as rep insb
        std::vector<uint8_t> out(in.take<uint8_t>());
        cfg.io_read(data_reg, out);
        break;
      }
      case 2: {  // a DMA request at an offset (maybe outside RAM), in halves or whole
        uint64_t req = kBase + in.take<uint16_t>() * 2ull - (op & 0x80 ? 0x100 : 0);
        uint32_t control = htobe32(in.take<uint32_t>()), length = htobe32(in.take<uint32_t>() % (2 * kRamSize));
        uint64_t buf = htobe64(kBase + in.take<uint16_t>() * 2ull - (op & 0x40 ? 0x10000 : 0));
        bool inside = req >= kBase && req + 16 <= kBase + kRamSize;
        if (inside) {
          std::memcpy(ram.at(req), &control, 4);
          std::memcpy(ram.at(req) + 4, &length, 4);
          std::memcpy(ram.at(req) + 8, &buf, 8);
        }
        if (op & 0x20) {
          uint64_t whole = htobe64(req);
          cfg.io_write(dma, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&whole), 8));
        } else {
          uint32_t hi = htobe32(static_cast<uint32_t>(req >> 32)), lo = htobe32(static_cast<uint32_t>(req));
          cfg.io_write(dma, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&hi), 4));
          cfg.io_write(dma + 4, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&lo), 4));
        }
        // The answer lands in the control word unless the buffer itself overlaps it (then the
        // transferred bytes were written first and the answer last: still 0 or 1).
        if (inside) {
          uint32_t answer = be32toh(ram.get<uint32_t>(req));
          if (answer != 0 && answer != devices::FwCfg::kDmaError) __builtin_trap();
        }
        break;
      }
      case 3: {  // a register write of any size at any offset
        uint8_t b[8];
        for (auto& x : b) x = in.take<uint8_t>();
        cfg.io_write(in.take<uint8_t>() % span, std::span<const uint8_t>(b, 1 + (op >> 5) % 8));
        break;
      }
      case 4: {  // a register read of any size at any offset
        uint8_t b[8];
        cfg.io_read(in.take<uint8_t>() % span, std::span<uint8_t>(b, 1 + (op >> 5) % 8));
        break;
      }
      default:
        if (op & 0x80) cfg.reset();
        else (void)cfg.replace_file("etc/f0", std::vector<uint8_t>(in.take<uint8_t>(), op));
    }
  }
  return 0;
}
