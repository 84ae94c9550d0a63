#include "altovirt/vmm/vfio_pci.h"

#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "altovirt/pci/pci_bus.h"


namespace altovirt::vmm {
namespace {

// The expansion ROM, read-only, served from VFIO's ROM region (PCI 3.0 6.3.1: the ROM decodes only
// while both its enable bit and the command register's memory space bit are set). Its reads reach
// this handler only when no copy of the ROM could be mapped (VfioPciDevice::map_rom_copy); its
// writes always do, and are dropped (a ROM ignores writes).
class RomHandler : public devices::IoHandler {
 public:
  RomHandler(std::shared_ptr<vfio::Device> device, vfio::RegionInfo region) : device_(std::move(device)), region_(std::move(region)) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override {
    if (!device_->read(region_, offset, data)) std::fill(data.begin(), data.end(), 0xff);
  }
  void io_write(uint64_t, std::span<const uint8_t>) override {}

 private:
  std::shared_ptr<vfio::Device> device_;
  vfio::RegionInfo region_;
};

// Extended capabilities the guest must not see (see the header comment).
const std::set<uint16_t> kHiddenExtCaps = {PCI_EXT_CAP_ID_SRIOV, PCI_EXT_CAP_ID_ARI, PCI_EXT_CAP_ID_REBAR};

// Where byte `rel` of the device's MSI capability lives in the MSI model's 24-byte layout
// (64-bit address, per-vector masking), or nullopt for bytes that layout has no room for. The device
// may have a 32-bit address (data at 8 instead of 12) or no mask bits (PCI 3.0 6.8.1, figure 6-9).
std::optional<unsigned> msi_model_offset(const vfio::MsiInfo& msi, unsigned rel) {
  if (rel < 8 || msi.is_64bit) return rel < pci::MsiCapability::kSize ? std::optional<unsigned>(rel) : std::nullopt;
  if (rel < 10) return rel + 4;            // message data
  if (rel < 12) return std::nullopt;       // reserved
  if (rel < 20) return rel + 4;            // mask and pending bits
  return std::nullopt;
}

unsigned msi_length(const vfio::MsiInfo& msi) {
  if (msi.is_64bit) return msi.per_vector_mask ? 24 : 14;
  return msi.per_vector_mask ? 20 : 10;
}

}  // namespace

VfioPciDevice::VfioPciDevice(PassthroughHost& host, std::shared_ptr<vfio::Device> device, std::string name, uint16_t vendor,
                             uint16_t device_id, uint32_t class_code, uint8_t revision)
    : PciDevice(std::move(name), vendor, device_id, class_code, revision),
      host_(host),
      device_(std::move(device)),
      msix_routes_(host.make_routes(this->name() + " MSI-X", this)),
      msi_routes_(host.make_routes(this->name() + " MSI", this)),
      msix_sink_(*this, VFIO_PCI_MSIX_IRQ_INDEX, *msix_routes_),
      msi_sink_(*this, VFIO_PCI_MSI_IRQ_INDEX, *msi_routes_) {}

Result<std::shared_ptr<VfioPciDevice>> VfioPciDevice::create(PassthroughHost& host, std::shared_ptr<vfio::Device> device,
                                                            std::string name, Options options) {
  AV_TRY_ASSIGN(uint32_t id, device->config_read(PCI_VENDOR_ID, 4));
  AV_TRY_ASSIGN(uint32_t class_rev, device->config_read(PCI_CLASS_REVISION, 4));
  AV_TRY_ASSIGN(uint32_t header, device->config_read(PCI_HEADER_TYPE, 1));
  if ((header & 0x7f) != PCI_HEADER_TYPE_NORMAL)
    return fail("{} is a PCI bridge (header type {}): bridges cannot be passed through, pass the devices behind it",
                device->address(), header & 0x7f);
  std::shared_ptr<VfioPciDevice> dev(new VfioPciDevice(host, std::move(device), std::move(name),
                                                       static_cast<uint16_t>(id), static_cast<uint16_t>(id >> 16),
                                                       class_rev >> 8, static_cast<uint8_t>(class_rev)));
  AV_TRY(dev->build(options));
  return dev;
}

VfioPciDevice::~VfioPciDevice() {
  log::info("vfio", "{}: {}", name(), trap_stats());
  // Interrupts off first, so that nothing signals eventfds whose routes are going away.
  (void)device_->disable_irqs(VFIO_PCI_MSIX_IRQ_INDEX);
  (void)device_->disable_irqs(VFIO_PCI_MSI_IRQ_INDEX);
  intx_off();
  // Stop DMA before the IOMMU mappings go: with bus mastering on, a NIC keeps writing received
  // frames to guest buffers, and after the unmap every one of them is an IOMMU fault on the host.
  if (auto cmd = device_->config_read(PCI_COMMAND, 2); cmd)
    (void)device_->config_write(PCI_COMMAND, 2, *cmd & ~(PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY | PCI_COMMAND_IO));
  // No reset here. After a guest reset the device stays open and its next VfioPciDevice resets it
  // before the guest sees it (build()); a second reset here cost each reboot one more function
  // reset (at least 100 ms, PCIe 3.0 6.6.2) per device. A device that is closed (hot-unplug, exit)
  // is reset by vfio-pci itself: with a function reset, when its file is released; without one,
  // the bus once no device on it is open any more (vfio_pci_core_disable ->
  // vfio_pci_dev_set_try_reset in Linux 6.1). With bus mastering off, it reaches no memory meanwhile.
  unmap_rom();
  for (auto& s : slots_) s.clear();
}

Status VfioPciDevice::build(Options options) {
  // Start from a clean function, as after a power-on. A guest reset rebuilds the machine, so this
  // also runs after every guest reset; at start and on a hot-add, the reset vfio-pci did when the
  // device was opened is that reset (vfio/reset.h). Measured in the test host, NIC + VF, 5 starts
  // each: the devices phase of the start 1.17 s instead of 1.58 s (medians).
  if (auto reset = vfio::reset_device(*device_, options.owned_groups); reset) {
    log::info("vfio", "{}: reset by {}{}", name(), vfio::describe(*reset),
              reset->function_error.empty() ? "" : ", because " + reset->function_error);
  } else {
    log::warn("vfio", "{}: not reset, so it starts in whatever state the host left it: {}", name(), reset.error().message());
  }
  // Power-on state whatever the reset did (a device without one keeps the host's command bits): no
  // decode and no bus mastering until the guest's Command register asks (sync_command), and so no
  // DMA before guest RAM is mapped (DmaMapJob).
  if (auto cmd = device_->config_read(PCI_COMMAND, 2); cmd && (*cmd & (PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY | PCI_COMMAND_IO)))
    AV_TRY(device_->config_write(PCI_COMMAND, 2, *cmd & ~(PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY | PCI_COMMAND_IO)));
  AV_TRY_ASSIGN(vfio::RegionInfo cfg, device_->region_info(VFIO_PCI_CONFIG_REGION_INDEX));
  phys_.assign(std::min<uint64_t>(cfg.size, pci::ConfigSpace::kSize), 0xff);
  if (phys_.size() < PCI_CFG_SPACE_SIZE) return fail("{}: config space is only {} bytes", name(), phys_.size());
  AV_TRY(device_->read(cfg, 0, phys_));
  AV_TRY_ASSIGN(caps_, vfio::scan_capabilities(phys_));
  AV_TRY(build_header());
  AV_TRY(build_bars());
  AV_TRY(build_rom(options.rombar));
  AV_TRY(build_capabilities());
  return ok();
}

void VfioPciDevice::classify(unsigned from, unsigned len, ByteKind kind) {
  for (unsigned i = from; i < from + len && i < kinds_.size(); ++i) kinds_[i] = kind;
}

Status VfioPciDevice::build_header() {
  kinds_.fill(ByteKind::passthrough);
  if (phys_.size() < kinds_.size()) classify(static_cast<unsigned>(phys_.size()), kinds_.size() - phys_.size(), ByteKind::hidden);
  classify(0, PCI_STD_HEADER_SIZEOF, ByteKind::emulated);
  // Status (error bits, capability list, INTx status) stays the device's own.
  classify(PCI_STATUS, 2, ByteKind::passthrough);
  config_.set16(PCI_SUBSYSTEM_VENDOR_ID, static_cast<uint16_t>(phys_[0x2c] | phys_[0x2d] << 8));
  config_.set16(PCI_SUBSYSTEM_ID, static_cast<uint16_t>(phys_[0x2e] | phys_[0x2f] << 8));
  config_.set8(PCI_INTERRUPT_PIN, phys_[PCI_INTERRUPT_PIN]);
  return ok();
}

Status VfioPciDevice::build_bars() {
  for (unsigned i = 0; i < pci::kNumBars; ++i) {
    AV_TRY_ASSIGN(vfio::RegionInfo r, device_->region_info(VFIO_PCI_BAR0_REGION_INDEX + i));
    if (r.size == 0) continue;
    uint32_t reg = phys_[PCI_BASE_ADDRESS_0 + 4 * i] | phys_[PCI_BASE_ADDRESS_0 + 4 * i + 1] << 8;
    pci::BarSpec spec;
    spec.size = std::bit_ceil(r.size);
    if (reg & PCI_BASE_ADDRESS_SPACE_IO) {
      spec.kind = pci::BarKind::io;
    } else {
      spec.kind = (reg & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64 ? pci::BarKind::mem64 : pci::BarKind::mem32;
      spec.prefetchable = (reg & PCI_BASE_ADDRESS_MEM_PREFETCH) != 0;
      spec.size = std::max<uint64_t>(spec.size, 16);
    }
    AV_TRY(define_bar(i, spec));
    regions_[i] = r;
    if (spec.kind != pci::BarKind::io) {
      // The MSI-X table and PBA pages must trap; everything VFIO lets us mmap around them is direct.
      std::vector<vfio::BarRange> trap;
      if (caps_.msix && caps_.msix->table_bar == i) trap.push_back({caps_.msix->table_offset, caps_.msix->table_bytes()});
      if (caps_.msix && caps_.msix->pba_bar == i) trap.push_back({caps_.msix->pba_offset, caps_.msix->pba_bytes()});
      auto plan = vfio::plan_bar(r.size, r.mmap_areas, trap, static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)));
      for (auto& part : plan.direct) {
        AV_TRY_ASSIGN(Mapping m, device_->map(r, part.offset, part.size));
        direct_[i].push_back({part, std::move(m)});
      }
      log::info("vfio", "{} BAR{}: {:#x} bytes, {} direct part(s), {} trapped part(s)", name(), i, r.size,
                plan.direct.size(), plan.trapped.size());
    }
    if (spec.kind == pci::BarKind::mem64) ++i;
  }
  return ok();
}

Status VfioPciDevice::build_rom(bool rombar) {
  AV_TRY_ASSIGN(vfio::RegionInfo r, device_->region_info(VFIO_PCI_ROM_REGION_INDEX));
  config_.set32(PCI_ROM_ADDRESS, 0);
  if (!rombar || r.size == 0) return ok();  // reads as 0: no ROM (PCI 3.0 6.2.5.2)
  rom_ = r;
  uint64_t size = std::bit_ceil(std::max<uint64_t>(r.size, 2048));
  config_.set_wmask(PCI_ROM_ADDRESS, 4, (static_cast<uint32_t>(~(size - 1)) & PCI_ROM_ADDRESS_MASK) | PCI_ROM_ADDRESS_ENABLE);
  return ok();
}

Status VfioPciDevice::build_capabilities() {
  if (caps_.msix) {
    auto& x = *caps_.msix;
    AV_TRY_ASSIGN(msix_, pci::MsixCapability::create(config_, msix_sink_, x.table_size, x.table_bar, x.table_offset,
                                                     x.pba_bar, x.pba_offset));
    msix_virt_ = msix_->offset();
    classify(x.offset + 2, 10, ByteKind::msix);  // id and next stay the device's
  }
  if (caps_.msi) {
    auto& m = *caps_.msi;
    unsigned vectors = std::min(m.max_vectors, 32u);
    AV_TRY_ASSIGN(msi_, pci::MsiCapability::create(config_, msi_sink_, vectors));
    msi_virt_ = msi_->offset();
    classify(m.offset + 2, msi_length(m) - 2, ByteKind::msi);
  }
  // The models linked themselves into config_'s own list; the guest walks the device's list.
  config_.set8(PCI_CAPABILITY_LIST, phys_[PCI_CAPABILITY_LIST]);

  ext_headers_ = vfio::hide_extended_caps(caps_, phys_, kHiddenExtCaps);
  std::vector<uint16_t> offsets;
  for (auto& c : caps_.extended) offsets.push_back(c.offset);
  std::sort(offsets.begin(), offsets.end());
  for (auto& c : caps_.extended) {
    if (!kHiddenExtCaps.contains(c.id)) continue;
    auto next = std::upper_bound(offsets.begin(), offsets.end(), c.offset);
    unsigned end = next == offsets.end() ? static_cast<unsigned>(phys_.size()) : *next;
    classify(c.offset, end - c.offset, ByteKind::hidden);
    log::info("vfio", "{}: hiding extended capability {:#x} at {:#x}", name(), c.id, c.offset);
  }
  for (auto& [off, header] : ext_headers_) classify(off, 4, ByteKind::ext_header);
  return ok();
}

uint8_t VfioPciDevice::read_byte(unsigned offset) {
  switch (kinds_[offset]) {
    case ByteKind::emulated: return static_cast<uint8_t>(PciDevice::config_read(offset, 1));
    case ByteKind::hidden: return 0;
    case ByteKind::ext_header: {
      unsigned base = offset & ~3u;
      return static_cast<uint8_t>(ext_headers_.at(static_cast<uint16_t>(base)) >> (8 * (offset - base)));
    }
    case ByteKind::msix: return config_.get8(msix_virt_ + (offset - caps_.msix->offset));
    case ByteKind::msi: {
      unsigned rel = offset - caps_.msi->offset;
      auto model = msi_model_offset(*caps_.msi, rel);
      if (!model) return 0;
      uint8_t v = config_.get8(msi_virt_ + *model);
      // Message Control's capability bits describe the device's layout, not the model's.
      if (rel == PCI_MSI_FLAGS) {
        uint8_t fixed = PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_QMASK;
        v = static_cast<uint8_t>((v & ~fixed) | (phys_[offset] & fixed));
      } else if (rel == PCI_MSI_FLAGS + 1) {
        uint8_t fixed = PCI_MSI_FLAGS_MASKBIT >> 8;
        v = static_cast<uint8_t>((v & ~fixed) | (phys_[offset] & fixed));
      }
      return v;
    }
    case ByteKind::passthrough: {
      auto v = device_->config_read(offset, 1);
      if (!v) {
        log_error(v.error());
        return 0xff;
      }
      return static_cast<uint8_t>(*v);
    }
  }
  return 0xff;
}

uint32_t VfioPciDevice::config_read(unsigned offset, unsigned size) {
  if ((size != 1 && size != 2 && size != 4) || offset % size != 0 || offset + size > kinds_.size()) return 0xffffffff;
  bool all_passthrough = true;
  for (unsigned i = 0; i < size; ++i) all_passthrough &= kinds_[offset + i] == ByteKind::passthrough;
  if (all_passthrough) {
    auto v = device_->config_read(offset, size);
    if (v) return *v;
    log_error(v.error());
    return size == 4 ? 0xffffffff : (1u << (8 * size)) - 1;
  }
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint32_t{read_byte(offset + i)} << (8 * i);
  return v;
}

void VfioPciDevice::write_run(ByteKind kind, unsigned offset, unsigned size, uint32_t value) {
  switch (kind) {
    case ByteKind::emulated: {
      bool command = offset < PCI_COMMAND + 2 && offset + size > PCI_COMMAND;
      bool rom = offset + size > PCI_ROM_ADDRESS && offset < PCI_ROM_ADDRESS + 4;
      standard_config_write(offset, size, value);
      if (command) sync_command();
      if (command || rom) rom_changed();
      return;
    }
    case ByteKind::hidden:
    case ByteKind::ext_header: return;  // read-only to the guest
    case ByteKind::msix:
      config_.write(msix_virt_ + (offset - caps_.msix->offset), size, value);
      msix_->control_written();
      return;
    case ByteKind::msi: {
      for (unsigned i = 0; i < size; ++i) {
        auto model = msi_model_offset(*caps_.msi, offset - caps_.msi->offset + i);
        if (model) config_.write(msi_virt_ + *model, 1, (value >> (8 * i)) & 0xff);
      }
      msi_->config_written();
      return;
    }
    case ByteKind::passthrough:
      if (auto s = device_->config_write(offset, size, value); !s) log_error(s.error());
      return;
  }
}

void VfioPciDevice::config_write(unsigned offset, unsigned size, uint32_t value) {
  if ((size != 1 && size != 2 && size != 4) || offset % size != 0 || offset + size > kinds_.size()) return;
  // Split the access into runs of one kind; an access normally lies within one.
  unsigned start = 0;
  for (unsigned i = 1; i <= size; ++i) {
    if (i < size && kinds_[offset + i] == kinds_[offset + start]) continue;
    unsigned len = i - start;
    uint32_t part = (value >> (8 * start)) & (len == 4 ? 0xffffffffu : ((1u << (8 * len)) - 1));
    if (len == 3) {  // not a legal access size: do it byte by byte
      for (unsigned b = 0; b < 3; ++b) write_run(kinds_[offset + start + b], offset + start + b, 1, (part >> (8 * b)) & 0xff);
    } else {
      write_run(kinds_[offset + start], offset + start, len, part);
    }
    start = i;
  }
}

void VfioPciDevice::sync_command() {
  // The device decodes and masters only when told: VFIO passes these command bits to the hardware.
  uint16_t mask = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE |
                  PCI_COMMAND_SERR | PCI_COMMAND_PARITY;
  auto cur = device_->config_read(PCI_COMMAND, 2);
  if (!cur) return log_error(cur.error());
  uint16_t want = static_cast<uint16_t>((*cur & ~mask) | (config_.get16(PCI_COMMAND) & mask));
  // A bus master reaches guest memory: not before guest RAM is in the IOMMU (DmaMapJob). This vCPU
  // waits for the map, which the guest sees as a slow config write; if the map failed, the bit
  // stays off in the device (the guest reads back what it wrote; its driver times out instead of
  // the device writing through an IOMMU without the mappings).
  if ((want & PCI_COMMAND_MASTER) && !(*cur & PCI_COMMAND_MASTER)) {
    if (auto ready = host_.dma_ready(); !ready) {
      log_error(ready.error().context("bus mastering stays off"));
      want &= static_cast<uint16_t>(~PCI_COMMAND_MASTER);
    }
  }
  if (want != *cur)
    if (auto s = device_->config_write(PCI_COMMAND, 2, want); !s) log_error(s.error());
}

void VfioPciDevice::rom_changed() {
  if (!rom_) return;
  uint32_t reg = config_.get32(PCI_ROM_ADDRESS);
  std::optional<uint64_t> want;
  uint64_t addr = reg & PCI_ROM_ADDRESS_MASK;
  if ((reg & PCI_ROM_ADDRESS_ENABLE) && (config_.get16(PCI_COMMAND) & PCI_COMMAND_MEMORY) && addr != 0) want = addr;
  if (want == rom_mapped_at_) return;
  unmap_rom();
  if (want) {
    uint64_t size = std::bit_ceil(std::max<uint64_t>(rom_->size, 2048));
    auto s = host_.add_mmio(*want, size, name() + " ROM", std::make_shared<RomHandler>(device_, *rom_));
    if (!s) return log_error(s.error());
    rom_mapped_at_ = want;
    map_rom_copy(*want, size);
  }
}

// Firmware copies a ROM to RAM in 4-byte reads (OVMF read the e1000e's 256 KiB iPXE image in 62,000
// of them), and every read through VFIO is an exit plus a pread that enables and maps the ROM on the
// host: about 2 ms each in the nested test host, two minutes of boot. So while the ROM decodes, the
// guest reads a copy of it, taken once, from a read-only slot. The copy is what the device's ROM held
// when enabled; a ROM does not change under a running guest. A part that cannot be read stays 0xff,
// as a read of the trapped ROM would give. A BAR smaller than a page (KVM maps whole pages) or a
// slot KVM refuses leaves every read trapped, which is slower but the same to the guest.
void VfioPciDevice::map_rom_copy(uint64_t addr, uint64_t size) {
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  if (size < page || !rom_->readable()) return;
  auto copy = Mapping::anonymous(size, 0, name() + " ROM copy");
  if (!copy) return log_error(copy.error());
  std::memset(copy->bytes(), 0xff, size);
  constexpr uint64_t kChunk = 4096;
  for (uint64_t off = 0; off < std::min(size, rom_->size); off += kChunk) {
    uint64_t n = std::min({kChunk, size - off, rom_->size - off});
    if (auto s = device_->read(*rom_, off, {copy->bytes() + off, n}); !s) {
      std::memset(copy->bytes() + off, 0xff, n);
      break;  // vfio-pci serves only the ROM's images (pci_map_rom): the rest reads as 0xff
    }
  }
  auto slot = host_.map_read_only_memory(addr, size, copy->addr(), name() + " ROM");
  if (!slot) return log_error(slot.error());
  rom_copy_ = std::move(*copy);
  rom_slot_ = std::move(*slot);
  log_event(fmt::format("the guest enabled the expansion ROM at {:#x} ({} KiB, read from a copy without exits)", addr,
                        size >> 10));
}

void VfioPciDevice::unmap_rom() {
  rom_slot_.reset();  // out of the guest before its memory goes
  rom_copy_.reset();
  if (rom_mapped_at_) host_.remove_mmio(*rom_mapped_at_);
  rom_mapped_at_.reset();
}

void VfioPciDevice::bar_mapping_changed(unsigned bar, std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr) {
  (void)old_addr;
  sync_command();
  slots_[bar].clear();  // the old placement disappears from the guest first
  if (!new_addr) return;
  for (auto& part : direct_[bar]) {
    auto slot = host_.map_device_memory(*new_addr + part.range.offset, part.range.size, part.map.addr(),
                                           fmt::format("{} BAR{}+{:#x}", name(), bar, part.range.offset));
    if (!slot) {
      // Still reachable, only slower: the access traps and is served by pread/pwrite.
      log_error(slot.error());
      continue;
    }
    slots_[bar].push_back(std::move(*slot));
  }
}

uint64_t VfioPciDevice::direct_bytes(unsigned bar) const {
  uint64_t n = 0;
  for (auto& p : direct_[bar]) n += p.range.size;
  return n;
}

std::string VfioPciDevice::trap_stats() const {
  std::string direct;
  for (unsigned i = 0; i < pci::kNumBars; ++i)
    if (direct_bytes(i) > 0) direct += fmt::format(" BAR{} {} KiB", i, direct_bytes(i) >> 10);
  return fmt::format("trapped BAR accesses: MSI-X table {}/{}, PBA {}, other {}/{}; direct-mapped:{}", table_reads_.load(),
                     table_writes_.load(), pba_reads_.load(), other_reads_.load(), other_writes_.load(),
                     direct.empty() ? " none" : direct);
}

void VfioPciDevice::bar_read(unsigned bar, uint64_t offset, std::span<uint8_t> data) {
  if (msix_ && msix_->in_table(bar, offset, data.size())) {
    ++table_reads_;
    return msix_->table_read(offset - msix_->table_offset(), data);
  }
  if (msix_ && msix_->in_pba(bar, offset, data.size())) {
    ++pba_reads_;
    // A masked vector whose eventfd holds an event is pending (PCI 3.0 6.8.2.10).
    for (unsigned v = 0; v < msix_->vectors(); ++v) {
      if (!msix_->vector_masked(v) && !msix_->function_masked()) continue;
      auto fd = msix_routes_->eventfd(v);
      pollfd p{fd ? *fd : -1, POLLIN, 0};
      msix_->set_pending(v, fd && ::poll(&p, 1, 0) == 1);
    }
    msix_->pba_read(offset - msix_->pba_offset(), data);
    // The eventfd stays the source of truth: KVM delivers it when the vector is unmasked.
    for (unsigned v = 0; v < msix_->vectors(); ++v) msix_->set_pending(v, false);
    return;
  }
  ++other_reads_;
  if (!regions_[bar] || !device_->read(*regions_[bar], offset, data)) std::fill(data.begin(), data.end(), 0xff);
}

void VfioPciDevice::bar_write(unsigned bar, uint64_t offset, std::span<const uint8_t> data) {
  if (msix_ && msix_->in_table(bar, offset, data.size())) {
    ++table_writes_;
    return msix_->table_write(offset - msix_->table_offset(), data);
  }
  if (msix_ && msix_->in_pba(bar, offset, data.size())) return;  // the PBA is read-only
  ++other_writes_;
  if (!regions_[bar]) return;
  if (auto s = device_->write(*regions_[bar], offset, data); !s) log_error(s.error());
}

Status VfioPciDevice::attach_intx(const pci::PciBus& bus, const pci::PciAddress& at) {
  uint8_t pin = config_.get8(PCI_INTERRUPT_PIN);
  if (pin < 1 || pin > 4) return ok();  // no INTx (PCI 3.0 6.2.4: 0 = none, 1..4 = INTA..INTD)
  AV_TRY_ASSIGN(vfio::IrqInfo info, device_->irq_info(VFIO_PCI_INTX_IRQ_INDEX));
  if (info.count == 0) return ok();
  AV_TRY_ASSIGN(intx_gsi_, bus.intx_gsi(at, pin - 1u));
  config_.set8(PCI_INTERRUPT_LINE, static_cast<uint8_t>(*intx_gsi_));
  return intx_on();
}

Status VfioPciDevice::intx_on() {
  if (!intx_gsi_ || intx_active_) return ok();
  if (!intx_trigger_) {
    AV_TRY_ASSIGN(kvm::EventFd t, kvm::EventFd::create());
    AV_TRY_ASSIGN(kvm::EventFd u, kvm::EventFd::create());
    intx_trigger_ = std::move(t);
    intx_unmask_ = std::move(u);
  }
  AV_TRY_ASSIGN(intx_route_, host_.connect_intx(*intx_gsi_, intx_trigger_->fd(), intx_unmask_->fd()));
  int fd = intx_trigger_->fd();
  AV_TRY(device_->set_irq_eventfds(VFIO_PCI_INTX_IRQ_INDEX, 0, std::span<const int>(&fd, 1)));
  AV_TRY(device_->set_intx_unmask_eventfd(intx_unmask_->fd()));
  intx_active_ = true;
  return ok();
}

void VfioPciDevice::intx_off() {
  if (!intx_active_) return;
  if (auto s = device_->disable_irqs(VFIO_PCI_INTX_IRQ_INDEX); !s) log_error(s.error());
  intx_route_.reset();  // KVM lowers the line when a resampling irqfd goes
  intx_active_ = false;
}

void VfioPciDevice::IrqSink::enable_changed(bool enabled, unsigned vectors) {
  const char* what = index_ == VFIO_PCI_MSIX_IRQ_INDEX ? "MSI-X" : "MSI";
  owner_.log_event(enabled ? fmt::format("the guest enabled {} with {} vector(s)", what, vectors)
                           : fmt::format("the guest disabled {}", what));
  if (!enabled) {
    // The device stops signalling first, then the routes go.
    if (auto s = owner_.device_->disable_irqs(index_); !s) owner_.log_error(s.error());
    routes_.enable_changed(false, 0);
    bool other = index_ == VFIO_PCI_MSIX_IRQ_INDEX ? (owner_.msi_ && owner_.msi_->enabled())
                                                   : (owner_.msix_ && owner_.msix_->enabled());
    if (!other)
      if (auto s = owner_.intx_on(); !s) owner_.log_error(s.error());
    return;
  }
  owner_.intx_off();
  // Linux 6.1's vfio-pci cannot add MSI-X vectors to an enabled set, so every vector of the table
  // gets its eventfd now; masked ones simply have no irqfd yet.
  unsigned count = index_ == VFIO_PCI_MSIX_IRQ_INDEX ? owner_.msix_->vectors() : vectors;
  std::vector<int> fds;
  for (unsigned v = 0; v < count; ++v) {
    auto fd = routes_.eventfd(v);
    if (!fd) return owner_.log_error(fd.error());
    fds.push_back(*fd);
  }
  if (auto s = owner_.device_->set_irq_eventfds(index_, 0, fds); !s) owner_.log_error(s.error());
  routes_.enable_changed(true, count);
}

void VfioPciDevice::IrqSink::vector_changed(unsigned vector, const pci::MsiMessage& msg, bool masked) {
  routes_.vector_changed(vector, msg, masked);
}

void VfioPciDevice::IrqSink::inject(unsigned vector, const pci::MsiMessage& msg) { routes_.inject(vector, msg); }

void VfioPciDevice::log_event(const std::string& message) {
  std::lock_guard lock(log_mutex_);
  if (!event_limit_.allow()) return;
  uint64_t dropped = event_limit_.take_suppressed();
  if (dropped > 0) log::info("vfio", "{}: {} similar messages suppressed", name(), dropped);
  log::info("vfio", "{}: {}", name(), message);
}

void VfioPciDevice::log_error(const Error& e) {
  std::lock_guard lock(log_mutex_);
  if (!log_limit_.allow()) return;
  uint64_t dropped = log_limit_.take_suppressed();
  if (dropped > 0) log::warn("vfio", "{}: {} similar messages suppressed", name(), dropped);
  log::warn("vfio", "{}: {}", name(), e.message());
}

}  // namespace altovirt::vmm
