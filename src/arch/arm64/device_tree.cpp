#include "altovirt/arch/arm64/device_tree.h"

#include <fmt/format.h>

#include "altovirt/arch/arm64/fdt_builder.h"
#include "altovirt/arch/arm64/layout.h"

namespace altovirt::arch::arm64 {

namespace {

enum Phandle : uint32_t { kGic = 1, kIts = 2, kClock = 3, kGpio = 4 };

// GIC interrupt specifiers (arm,gic-v3 binding): type (0 SPI, 1 PPI), number, flags.
constexpr uint32_t kSpi = 0, kPpi = 1;
constexpr uint32_t kLevelHigh = 4, kLevelLow = 8;
constexpr uint32_t kKeyPower = 116;  // linux/input-event-codes.h

std::string node(std::string_view name, uint64_t addr) { return fmt::format("{}@{:x}", name, addr); }

void primecell(FdtBuilder& f, std::string_view name, std::string_view compatible, uint64_t base, uint32_t spi) {
  f.begin(node(name, base));
  f.prop_strings("compatible", {compatible, "arm,primecell"});
  f.prop_u64s("reg", {base, kPl0xxSize});
  f.prop_cells("interrupts", {kSpi, spi, kLevelHigh});
  f.prop_u32("clocks", kClock);
  f.prop("clock-names", "apb_pclk");
}

}  // namespace

Result<std::vector<uint8_t>> build_device_tree(const DeviceTreeConfig& c) {
  FdtBuilder f;
  f.begin("");
  f.prop("compatible", "linux,dummy-virt");
  f.prop_u32("#address-cells", 2);
  f.prop_u32("#size-cells", 2);
  f.prop_u32("interrupt-parent", kGic);

  f.begin("chosen");
  f.prop("bootargs", c.cmdline);
  f.prop("stdout-path", node("/pl011", kUartBase));
  if (c.initrd) {
    f.prop_u64s("linux,initrd-start", {c.initrd->first});
    f.prop_u64s("linux,initrd-end", {c.initrd->second});
  }
  f.end();

  f.begin(node("memory", kRamBase));
  f.prop("device_type", "memory");
  f.prop_u64s("reg", {kRamBase, c.ram_size});
  f.end();

  f.begin("cpus");
  f.prop_u32("#address-cells", 1);
  f.prop_u32("#size-cells", 0);
  for (unsigned i = 0; i < c.cpus; ++i) {
    f.begin(fmt::format("cpu@{}", i));
    f.prop("device_type", "cpu");
    f.prop("compatible", "arm,arm-v8");
    f.prop_u32("reg", i);  // MPIDR affinity 0, as KVM gives vCPU i (Aff0 = i for i < 16)
    f.prop("enable-method", "psci");
    f.end();
  }
  f.end();

  f.begin("psci");
  f.prop_strings("compatible", {"arm,psci-0.2", "arm,psci"});
  f.prop("method", "hvc");
  f.end();

  f.begin("timer");
  f.prop("compatible", "arm,armv8-timer");
  std::vector<uint32_t> timer;
  for (uint32_t ppi : kTimerPpis) timer.insert(timer.end(), {kPpi, ppi, kLevelLow});
  f.prop_cells("interrupts", timer);
  f.prop_empty("always-on");
  f.end();

  f.begin(node("intc", kGicDistBase));
  f.prop("compatible", "arm,gic-v3");
  f.prop_u32("#interrupt-cells", 3);
  f.prop_empty("interrupt-controller");
  f.prop_u32("#address-cells", 2);
  f.prop_u32("#size-cells", 2);
  f.prop_empty("ranges");
  f.prop_u64s("reg", {kGicDistBase, kGicDistSize, kGicRedistBase, kGicRedistPerCpu * c.cpus});
  f.prop_u32("phandle", kGic);
  if (c.its) {
    f.begin(node("its", kGicItsBase));
    f.prop("compatible", "arm,gic-v3-its");
    f.prop_empty("msi-controller");
    f.prop_u32("#msi-cells", 1);
    f.prop_u64s("reg", {kGicItsBase, kGicItsSize});
    f.prop_u32("phandle", kIts);
    f.end();
  }
  f.end();

  // The PL0xx devices' bus clock (the primecell binding wants one; its rate does not matter here).
  f.begin("apb-pclk");
  f.prop("compatible", "fixed-clock");
  f.prop_u32("#clock-cells", 0);
  f.prop_u32("clock-frequency", 24000000);
  f.prop("clock-output-names", "clk24mhz");
  f.prop_u32("phandle", kClock);
  f.end();

  primecell(f, "pl011", "arm,pl011", kUartBase, kUartSpi);
  f.prop_cells("clocks", {kClock, kClock});
  f.prop_strings("clock-names", {"uartclk", "apb_pclk"});
  f.end();
  primecell(f, "pl031", "arm,pl031", kRtcBase, kRtcSpi);
  f.end();
  primecell(f, "pl061", "arm,pl061", kGpioBase, kGpioSpi);
  f.prop_empty("gpio-controller");
  f.prop_u32("#gpio-cells", 2);
  f.prop_u32("phandle", kGpio);
  f.end();

  f.begin("gpio-keys");
  f.prop("compatible", "gpio-keys");
  f.begin("poweroff");
  f.prop("label", "GPIO Key Poweroff");
  f.prop_u32("linux,code", kKeyPower);
  f.prop_cells("gpios", {kGpio, kPowerKeyLine, 0});  // active high
  f.end();
  f.end();

  if (c.firmware) {
    // Two banks of 32-bit wide flash (two 16-bit parts each), as QEMU's virt board.
    f.begin(node("flash", kFlashBase));
    f.prop("compatible", "cfi-flash");
    f.prop_u64s("reg", {kFlashBase, kFlashBankSize, kFlashBase + kFlashBankSize, kFlashBankSize});
    f.prop_u32("bank-width", 4);
    f.end();
    f.begin(node("fw-cfg", kFwCfgBase));
    f.prop("compatible", "qemu,fw-cfg-mmio");
    f.prop_u64s("reg", {kFwCfgBase, kFwCfgSize});
    f.prop_empty("dma-coherent");
    f.end();
  }

  f.begin(node("pcie", kEcamBase));
  f.prop("compatible", "pci-host-ecam-generic");
  f.prop("device_type", "pci");
  f.prop_u32("#address-cells", 3);
  f.prop_u32("#size-cells", 2);
  f.prop_u32("#interrupt-cells", 1);
  f.prop_cells("bus-range", {0, c.last_bus});
  f.prop_u32("linux,pci-domain", 0);
  f.prop_empty("dma-coherent");
  f.prop_u64s("reg", {kEcamBase, kEcamSize});
  // ranges: (flags, PCI address) -> CPU address, size. Flags (PCI bus binding, IEEE 1275): 0x01000000
  // I/O, 0x02000000 32-bit memory, 0x03000000 64-bit memory.
  auto range = [](uint32_t flags, uint64_t pci, uint64_t cpu, uint64_t size) {
    return std::vector<uint32_t>{flags, static_cast<uint32_t>(pci >> 32), static_cast<uint32_t>(pci),
                                 static_cast<uint32_t>(cpu >> 32), static_cast<uint32_t>(cpu),
                                 static_cast<uint32_t>(size >> 32), static_cast<uint32_t>(size)};
  };
  std::vector<uint32_t> ranges;
  for (auto r : {range(0x01000000, 0, kPciIoBase, kPciIoSize), range(0x02000000, kPciMmio32Base, kPciMmio32Base, kPciMmio32Size),
                 range(0x03000000, kPciMmio64Base, kPciMmio64Base, kPciMmio64Size)})
    ranges.insert(ranges.end(), r.begin(), r.end());
  f.prop_cells("ranges", ranges);
  if (c.its) f.prop_cells("msi-map", {0, kIts, 0, 0x10000});  // requester id n -> ITS device id n
  // INTx: slot s, pin p (1..4) -> GSI 16 + ((s + p - 1) & 3) (pci::intx_gsi), i.e. SPI 16..19.
  // The swizzle repeats every 4 slots, so the mask keeps the slot's low two bits (devfn bits 11-12).
  f.prop_cells("interrupt-map-mask", {0x1800, 0, 0, 7});
  std::vector<uint32_t> map;
  for (uint32_t slot = 0; slot < 4; ++slot)
    for (uint32_t pin = 1; pin <= 4; ++pin)
      map.insert(map.end(), {slot << 11, 0, 0, pin, kGic, 0, 0, kSpi, 16 + ((slot + pin - 1) & 3), kLevelHigh});
  f.prop_cells("interrupt-map", map);
  f.end();

  f.end();
  return f.finish();
}

}  // namespace altovirt::arch::arm64
