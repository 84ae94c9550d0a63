#include "altovirt/pci/pci_bus.h"

#include <linux/pci_regs.h>

#include <algorithm>
#include <cstring>

#include "altovirt/base/parse.h"

namespace altovirt::pci {

namespace {
constexpr uint32_t kCf8Enable = 0x80000000u;
uint32_t load(std::span<const uint8_t> d) {
  uint32_t v = 0;
  std::memcpy(&v, d.data(), std::min<size_t>(d.size(), 4));
  return v;
}
void store(std::span<uint8_t> d, uint32_t v) { std::memcpy(d.data(), &v, std::min<size_t>(d.size(), 4)); }
}  // namespace

std::string PciAddress::str() const { return fmt::format("0000:{:02x}:{:02x}.{}", bus, slot, function); }

Result<PciAddress> parse_slot_function(std::string_view text) {
  std::string_view slot = text, fn;
  if (auto dot = text.find('.'); dot != std::string_view::npos) {
    slot = text.substr(0, dot);
    fn = text.substr(dot + 1);
  }
  auto s = parse_uint_base(slot, 16, "addr= slot");
  if (!s || *s > 0x1f) return fail("addr={}: the slot must be a hex number 0..1f, optionally .0-.7 for the function", text);
  PciAddress a;
  a.slot = static_cast<uint8_t>(*s);
  if (!fn.empty()) {
    auto f = parse_uint_base(fn, 10, "addr= function");
    if (!f || *f > 7) return fail("addr={}: the function must be 0..7", text);
    a.function = static_cast<uint8_t>(*f);
  }
  return a;
}

// Class 06/00/00: bridge, host bridge (PCI Code and ID Assignment spec 1.12, D.7).
HostBridge::HostBridge() : PciDevice("host bridge", 0x8086, 0x29c0, 0x060000, 0) {
  config_.set16(PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);
  config_.set16(PCI_SUBSYSTEM_ID, 0x1100);
}

PciBus::PciBus() { devices_[0] = std::make_shared<HostBridge>(); }

Result<PciAddress> PciBus::add(std::shared_ptr<PciDevice> device, std::optional<unsigned> slot, unsigned function,
                               bool multifunction) {
  std::lock_guard lock(mutex_);
  if (function > 7) return fail("{}: function {} does not exist (0..7)", device->name(), function);
  if (!slot) {
    for (unsigned s = 1; s < 32 && !slot; ++s)
      if (!devices_.contains(s << 3)) slot = s;
    if (!slot) return fail("{}: no free slot on pcie.0 (all 32 are in use)", device->name());
  }
  if (*slot > 31) return fail("{}: slot {:#x} does not exist (0..1f)", device->name(), *slot);
  PciAddress a{0, static_cast<uint8_t>(*slot), static_cast<uint8_t>(function)};
  unsigned key = *slot << 3 | function;
  if (auto it = devices_.find(key); it != devices_.end())
    return fail("{}: pcie.0 address {} is already taken by {}; pick another addr=", device->name(), a.str(),
                it->second->name());
  if (multifunction) device->set_multifunction(true);
  devices_[key] = std::move(device);
  return a;
}

Status PciBus::check_topology() const {
  std::lock_guard lock(mutex_);
  for (auto& [key, dev] : devices_) {
    if ((key & 7) == 0) continue;
    PciAddress a{0, static_cast<uint8_t>(key >> 3), static_cast<uint8_t>(key & 7)};
    auto f0 = devices_.find(key & ~7u);
    if (f0 == devices_.end())
      return fail("{} at {}: function 0 of slot {:#x} is empty, so the guest would never see it", dev->name(), a.str(), a.slot);
    if (!(f0->second->config().get8(PCI_HEADER_TYPE) & 0x80))
      return fail("{} at {}: function 0 ({}) needs multifunction=on for the guest to see other functions",
                  dev->name(), a.str(), f0->second->name());
  }
  return ok();
}

Status PciBus::assign_resources(const PciWindows& w) {
  struct Want {
    PciDevice* dev;
    unsigned bar;
    BarSpec spec;
  };
  std::vector<Want> wants;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, dev] : devices_)
      for (unsigned b = 0; b < kNumBars; ++b)
        if (dev->bar(b).kind != BarKind::none) wants.push_back({dev.get(), b, dev->bar(b)});
  }
  std::stable_sort(wants.begin(), wants.end(), [](const Want& a, const Want& b) { return a.spec.size > b.spec.size; });
  uint64_t next32 = w.mmio32_base, next64 = w.mmio64_base, nextio = w.io_base;
  auto take = [](uint64_t& next, uint64_t end, uint64_t size) -> std::optional<uint64_t> {
    uint64_t at = (next + size - 1) & ~(size - 1);
    if (at + size > end) return std::nullopt;
    next = at + size;
    return at;
  };
  for (auto& want : wants) {
    std::optional<uint64_t> at;
    switch (want.spec.kind) {
      case BarKind::io: at = take(nextio, uint64_t{w.io_base} + w.io_size, want.spec.size); break;
      case BarKind::mem32: at = take(next32, w.mmio32_base + w.mmio32_size, want.spec.size); break;
      case BarKind::mem64:
        at = take(next64, w.mmio64_base + w.mmio64_size, want.spec.size);
        if (!at && want.spec.size <= w.mmio32_size) at = take(next32, w.mmio32_base + w.mmio32_size, want.spec.size);
        break;
      case BarKind::none: break;
    }
    if (!at)
      return fail("{}: BAR {} ({} KiB) does not fit in the PCI windows", want.dev->name(), want.bar, want.spec.size >> 10);
    want.dev->program_bar(want.bar, *at);
  }
  std::lock_guard lock(mutex_);
  for (auto& [key, dev] : devices_) {
    bool io = false, mem = false;
    for (unsigned b = 0; b < kNumBars; ++b) {
      io |= dev->bar(b).kind == BarKind::io;
      mem |= dev->bar(b).kind == BarKind::mem32 || dev->bar(b).kind == BarKind::mem64;
    }
    if (io || mem) dev->enable_decode(io, mem);
  }
  return ok();
}

std::shared_ptr<PciDevice> PciBus::find_locked(PciAddress a) const {
  if (a.bus != 0) return nullptr;  // no bridges yet: only bus 0 is populated
  auto it = devices_.find(unsigned{a.slot} << 3 | a.function);
  return it == devices_.end() ? nullptr : it->second;
}

uint32_t PciBus::config_read(PciAddress a, unsigned offset, unsigned size) {
  std::lock_guard lock(mutex_);
  auto dev = find_locked(a);
  if (!dev || offset % size != 0 || offset + size > ConfigSpace::kSize) return size == 4 ? 0xffffffff : (1u << (8 * size)) - 1;
  return dev->config_read(offset, size);
}

void PciBus::config_write(PciAddress a, unsigned offset, unsigned size, uint32_t value) {
  std::lock_guard lock(mutex_);
  auto dev = find_locked(a);
  if (!dev || offset % size != 0 || offset + size > ConfigSpace::kSize) return;
  dev->config_write(offset, size, value);
}

void PciBus::cf8_read(unsigned port_offset, std::span<uint8_t> data) {
  unsigned size = static_cast<unsigned>(data.size());
  if (port_offset == 0 && size == 4) {
    std::lock_guard lock(mutex_);
    store(data, cf8_);
    return;
  }
  if (port_offset < 4) {  // byte/word accesses to 0xCF8..0xCFB are not config address cycles
    std::memset(data.data(), 0xff, size);
    return;
  }
  uint32_t addr;
  {
    std::lock_guard lock(mutex_);
    addr = cf8_;
  }
  if (!(addr & kCf8Enable)) {
    std::memset(data.data(), 0xff, size);
    return;
  }
  PciAddress a{static_cast<uint8_t>(addr >> 16), static_cast<uint8_t>((addr >> 11) & 0x1f), static_cast<uint8_t>((addr >> 8) & 7)};
  store(data, config_read(a, (addr & 0xfc) + (port_offset - 4), size));
}

void PciBus::cf8_write(unsigned port_offset, std::span<const uint8_t> data) {
  unsigned size = static_cast<unsigned>(data.size());
  if (port_offset == 0 && size == 4) {
    std::lock_guard lock(mutex_);
    cf8_ = load(data) & 0x80fffffcu;  // reserved bits 30:24 and 1:0 read as 0
    return;
  }
  if (port_offset < 4) return;
  uint32_t addr;
  {
    std::lock_guard lock(mutex_);
    addr = cf8_;
  }
  if (!(addr & kCf8Enable)) return;
  PciAddress a{static_cast<uint8_t>(addr >> 16), static_cast<uint8_t>((addr >> 11) & 0x1f), static_cast<uint8_t>((addr >> 8) & 7)};
  config_write(a, (addr & 0xfc) + (port_offset - 4), size, load(data));
}

void PciBus::ecam_read(uint64_t offset, std::span<uint8_t> data) {
  PciAddress a{static_cast<uint8_t>(offset >> 20), static_cast<uint8_t>((offset >> 15) & 0x1f), static_cast<uint8_t>((offset >> 12) & 7)};
  unsigned size = static_cast<unsigned>(data.size());
  if (size != 1 && size != 2 && size != 4) {
    std::memset(data.data(), 0xff, size);
    return;
  }
  store(data, config_read(a, offset & 0xfff, size));
}

void PciBus::ecam_write(uint64_t offset, std::span<const uint8_t> data) {
  PciAddress a{static_cast<uint8_t>(offset >> 20), static_cast<uint8_t>((offset >> 15) & 0x1f), static_cast<uint8_t>((offset >> 12) & 7)};
  unsigned size = static_cast<unsigned>(data.size());
  if (size != 1 && size != 2 && size != 4) return;
  config_write(a, offset & 0xfff, size, load(data));
}

std::vector<std::pair<PciAddress, std::shared_ptr<PciDevice>>> PciBus::devices() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<PciAddress, std::shared_ptr<PciDevice>>> v;
  for (auto& [key, dev] : devices_) v.push_back({PciAddress{0, static_cast<uint8_t>(key >> 3), static_cast<uint8_t>(key & 7)}, dev});
  return v;
}

}  // namespace altovirt::pci
