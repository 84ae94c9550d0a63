// Fuzz target: PCI configuration space as the guest reaches it (src/pci): the root bus's two
// mechanisms (port 0xCF8/0xCFC and ECAM) routing by the bridges' live bus numbers to the host
// bridge, two PCIe root ports (type 1 header, bus numbers, windows, the PCIe capability with its
// hot-plug slot registers, MSI) and the endpoints behind and beside them, after firmware-style
// resource assignment. Any offset, any access size, any value, in any order.
//
// Input: ops of [kind u8][bus u8][devfn u8][register u16][size u8][value u32]. Access sizes are the
// ones a CPU can issue (MMIO 1/2/4/8 at any alignment, port I/O 1/2/4).
#include <cstdlib>
#include <cstring>

#include "altovirt/base/log.h"
#include "altovirt/pci/pci_bus.h"
#include "altovirt/pci/root_port.h"
#include "fuzz_input.h"

using namespace altovirt;
using namespace altovirt::pci;

namespace {

class Endpoint : public PciDevice {
 public:
  Endpoint(std::string n, bool io) : PciDevice(std::move(n), 0x1af4, 0x1000, 0x020000, 0) {
    (void)define_bar(0, BarSpec{BarKind::mem32, 0x1000, false});
    (void)define_bar(2, BarSpec{BarKind::mem64, 0x100000, true});
    if (io) (void)define_bar(4, BarSpec{BarKind::io, 0x20, false});
  }
};

class NullSink : public MsiSink {
 public:
  void enable_changed(bool, unsigned) override {}
  void vector_changed(unsigned, const MsiMessage&, bool) override {}
  void inject(unsigned, const MsiMessage&) override {}
};

std::shared_ptr<RootPort> port(const char* name, uint8_t number, uint16_t slot) {
  RootPortOptions o;
  o.name = name;
  o.port = number;
  o.slot_number = slot;
  auto p = RootPort::create(o, std::make_unique<NullSink>());
  if (!p) std::abort();
  return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  log::set_level(log::Level::error);
  fuzz::FuzzInput in(data, size);
  // ECAM for buses 0..15, as the machine's MCFG says.
  PciBus bus(15);
  auto rp1 = port("rp1", 0x10, 1), rp2 = port("rp2", 0x11, 2);
  if (!bus.add(rp1, 2, 0, false) || !bus.add(rp2, 3, 0, false)) std::abort();
  if (!bus.add_behind(*rp1, std::make_shared<Endpoint>("behind", true), 0, false)) std::abort();
  if (!bus.add(std::make_shared<Endpoint>("root", false), 4, 0, false)) std::abort();
  if (!bus.assign_resources(PciWindows{0xc0000000, 512 << 20, 0x800000000, 32ull << 30, 0xc000, 0x4000})) std::abort();

  for (unsigned ops = 0; !in.empty() && ops < 512; ++ops) {
    const uint8_t kind = in.take<uint8_t>();
    unsigned b = in.take<uint8_t>() % 17;  // one bus past ECAM's end
    unsigned devfn = in.take<uint8_t>();
    unsigned reg = in.take<uint16_t>() % 0x1004;  // one dword past the 4 KiB function
    // What a CPU can issue: MMIO 1, 2, 4, 8 bytes at any alignment; port I/O 1, 2, 4.
    static constexpr unsigned kSizes[] = {1, 2, 4, 8};
    unsigned len = kSizes[in.take<uint8_t>() % 4];
    uint32_t value = in.take<uint32_t>();
    uint8_t bytes[8] = {};
    std::memcpy(bytes, &value, 4);
    uint64_t ecam = uint64_t{b} << 20 | uint64_t{devfn} << 12 | reg;
    switch (kind % 5) {
      case 0:
        bus.ecam_read(ecam, std::span<uint8_t>(bytes, len));
        break;
      case 1:
        bus.ecam_write(ecam, std::span<const uint8_t>(bytes, len));
        break;
      case 2: {  // the address port, sometimes with odd sizes/offsets
        uint32_t addr = (kind & 0x80 ? 0 : 0x80000000u) | b << 16 | devfn << 8 | (reg & 0xff);
        uint8_t a[4];
        std::memcpy(a, &addr, 4);
        unsigned off = kind & 0x40 ? reg % 8 : 0;
        bus.cf8_write(off, std::span<const uint8_t>(a, off ? std::min(len, 4u) : 4));
        break;
      }
      case 3:
        bus.cf8_read(reg % 8, std::span<uint8_t>(bytes, std::min(len, 4u)));
        break;
      default:
        bus.cf8_write(4 + reg % 4, std::span<const uint8_t>(bytes, std::min(len, 4u)));
    }
  }
  return 0;
}
