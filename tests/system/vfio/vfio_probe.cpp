// vfio_probe: opens a PCI device through altovirt's VFIO layer the way the VMM will, and prints what
// it found as key=value lines for the system test to assert on:
//   vfio_probe BDF [--map-mib N] [--hold SECONDS] [--reset]
// Exit status 0 on success; 1 with the layer's error message on stderr otherwise.
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "altovirt/base/fd.h"
#include "altovirt/base/mapping.h"
#include "altovirt/vfio/manager.h"

using namespace altovirt;

static int fail_with(const Error& e) {
  std::fprintf(stderr, "vfio_probe: %s\n", e.message().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: vfio_probe BDF [--map-mib N] [--hold SECONDS] [--reset]\n");
    return 2;
  }
  std::string bdf = argv[1];
  uint64_t map_mib = 0;
  int hold = 0;
  bool do_reset = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--map-mib" && i + 1 < argc) map_mib = std::stoull(argv[++i]);
    else if (a == "--hold" && i + 1 < argc) hold = std::stoi(argv[++i]);
    else if (a == "--reset") do_reset = true;
    else { std::fprintf(stderr, "vfio_probe: unknown argument %s\n", a.c_str()); return 2; }
  }

  vfio::Manager m;
  auto dev = m.open_device(bdf);
  if (!dev) return fail_with(dev.error());
  auto& d = **dev;
  std::printf("device=%s regions=%u irqs=%u reset=%d groups=%zu\n", d.address().c_str(), d.num_regions(), d.num_irqs(),
              d.can_reset() ? 1 : 0, m.group_numbers().size());
  auto vendor = d.config_read(PCI_VENDOR_ID, 2);
  auto device = d.config_read(PCI_DEVICE_ID, 2);
  if (!vendor || !device) return fail_with(vendor ? device.error() : vendor.error());
  std::printf("config_id=%04x:%04x\n", *vendor, *device);

  for (uint32_t i = VFIO_PCI_BAR0_REGION_INDEX; i <= VFIO_PCI_ROM_REGION_INDEX; ++i) {
    auto r = d.region_info(i);
    if (!r) return fail_with(r.error());
    if (r->size == 0) continue;
    std::printf("region%u size=%#llx mmap=%d areas=%zu\n", i, static_cast<unsigned long long>(r->size), r->mmappable() ? 1 : 0,
                r->mmap_areas.size());
  }
  for (uint32_t i = VFIO_PCI_INTX_IRQ_INDEX; i <= VFIO_PCI_MSIX_IRQ_INDEX; ++i) {
    auto irq = d.irq_info(i);
    if (!irq) return fail_with(irq.error());
    std::printf("irq%u count=%u\n", i, irq->count);
  }

  // BAR0 through mmap and through pread must agree (e1000e: STATUS register at 0x8).
  auto bar0 = d.region_info(VFIO_PCI_BAR0_REGION_INDEX);
  if (!bar0) return fail_with(bar0.error());
  if (!bar0->mmap_areas.empty()) {
    auto area = bar0->mmap_areas.front();
    auto map = d.map(*bar0, area.offset, area.size);
    if (!map) return fail_with(map.error());
    // Memory decode must be on for the BAR to answer.
    auto cmd = d.config_read(PCI_COMMAND, 2);
    if (!cmd) return fail_with(cmd.error());
    if (auto st = d.config_write(PCI_COMMAND, 2, *cmd | PCI_COMMAND_MEMORY); !st) return fail_with(st.error());
    uint32_t via_mmap;
    std::memcpy(&via_mmap, map->bytes() + 8, 4);
    uint8_t buf[4];
    if (auto st = d.read(*bar0, area.offset + 8, buf); !st) return fail_with(st.error());
    uint32_t via_pread;
    std::memcpy(&via_pread, buf, 4);
    std::printf("bar0_mmap_pread_agree=%d\n", via_mmap == via_pread ? 1 : 0);
  }

  // MSI-X vectors connect to eventfds and disconnect again.
  auto msix = d.irq_info(VFIO_PCI_MSIX_IRQ_INDEX);
  if (msix && msix->count > 0) {
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    int fds[1] = {efd.get()};
    if (auto st = d.set_irq_eventfds(VFIO_PCI_MSIX_IRQ_INDEX, 0, fds); !st) return fail_with(st.error());
    if (auto st = d.disable_irqs(VFIO_PCI_MSIX_IRQ_INDEX); !st) return fail_with(st.error());
    std::printf("msix_eventfd=ok\n");
  }

  if (auto ranges = m.container()->iova_ranges(); ranges) {
    for (auto& r : *ranges) std::printf("iova_range=%#llx-%#llx\n", static_cast<unsigned long long>(r.start), static_cast<unsigned long long>(r.end));
  }
  if (map_mib > 0) {
    uint64_t size = map_mib << 20;
    if (auto st = vfio::check_memlock(size); !st) return fail_with(st.error());
    auto ram = Mapping::anonymous(size, MAP_NORESERVE, "test RAM");
    if (!ram) return fail_with(ram.error());
    auto t0 = std::chrono::steady_clock::now();
    if (auto st = m.map_guest_ram(0, size, ram->addr()); !st) return fail_with(st.error());
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("dma_mapped_mib=%llu dma_map_ms=%.1f\n", static_cast<unsigned long long>(map_mib), ms);
    // The MSI doorbell window must be refused.
    auto overlap = m.map_guest_ram(0xfee00000, 0x100000, ram->addr());
    std::printf("msi_window_refused=%d\n", overlap ? 0 : 1);
    if (!overlap) std::printf("msi_window_error=%s\n", overlap.error().message().c_str());
  }
  if (do_reset) {
    if (auto st = d.reset(); !st) return fail_with(st.error());
    std::printf("reset=ok\n");
  }
  std::fflush(stdout);
  if (hold > 0) ::sleep(static_cast<unsigned>(hold));
  return 0;
}
