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

PciBus::PciBus(unsigned last_bus) : host_bridge_(std::make_shared<HostBridge>()), last_bus_(std::min(last_bus, 255u)) {
  devices_[0] = host_bridge_;
}

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
  if (auto* bridge = dynamic_cast<PciBridge*>(device.get())) {
    // Bus numbers as firmware hands them out, depth first; one bus behind each (root port) bridge.
    if (next_bus_ > last_bus_)
      return fail("{}: no bus number left for it: config space (ECAM) reaches buses 0..{}, so at most {} bridges",
                  device->name(), last_bus_, last_bus_);
    bridge->set_bus_numbers(0, static_cast<uint8_t>(next_bus_), static_cast<uint8_t>(next_bus_));
    ++next_bus_;
    bridges_.emplace_back(key, bridge);
  }
  if (multifunction) device->set_multifunction(true);
  devices_[key] = std::move(device);
  return a;
}

Result<PciAddress> PciBus::add_behind(PciBridge& bridge, std::shared_ptr<PciDevice> device, unsigned function,
                                      bool multifunction) {
  std::lock_guard lock(mutex_);
  if (std::none_of(bridges_.begin(), bridges_.end(), [&](auto& b) { return b.second == &bridge; }))
    return fail("{}: {} is not a bridge on pcie.0", device->name(), bridge.name());
  if (dynamic_cast<PciBridge*>(device.get()) != nullptr)
    return fail("{}: a bridge cannot sit behind {}; put it on pcie.0", device->name(), bridge.name());
  PciAddress a{bridge.secondary_bus(), 0, static_cast<uint8_t>(function)};
  if (multifunction) device->set_multifunction(true);
  AV_TRY(bridge.add_child(std::move(device), 0, function));
  return a;
}

Result<PciAddress> PciBus::hot_add(PciBridge& bridge, std::shared_ptr<PciDevice> device, unsigned function) {
  std::lock_guard lock(mutex_);
  if (std::none_of(bridges_.begin(), bridges_.end(), [&](auto& b) { return b.second == &bridge; }))
    return fail("{}: {} is not a bridge on pcie.0", device->name(), bridge.name());
  if (dynamic_cast<PciBridge*>(device.get()) != nullptr)
    return fail("{}: a bridge cannot be hot-added; root ports are given at start", device->name());
  PciAddress a{bridge.secondary_bus(), 0, static_cast<uint8_t>(function)};
  AV_TRY(bridge.plug_child(std::move(device), function));
  return a;
}

Result<bool> PciBus::request_unplug_of(PciBridge& bridge, const PciDevice* device) {
  std::lock_guard lock(mutex_);
  bool holds = false;
  for (auto& [key, child] : bridge.children()) holds = holds || child.get() == device;
  if (!holds) return false;
  AV_TRY(bridge.request_unplug());
  return true;
}

Status PciBus::can_hot_add(const PciBridge& bridge) const {
  std::lock_guard lock(mutex_);
  return bridge.can_hot_add();
}

Status PciBus::request_unplug(PciBridge& bridge) {
  std::lock_guard lock(mutex_);
  return bridge.request_unplug();
}

std::shared_ptr<PciDevice> PciBus::hot_remove(PciBridge& bridge, unsigned function) {
  std::lock_guard lock(mutex_);
  return bridge.remove_child(function);
}

bool PciBus::remove_device(const PciDevice* device) {
  std::lock_guard lock(mutex_);
  for (auto& [key, bridge] : bridges_)
    for (auto& [k, child] : bridge->children())
      if (child.get() == device) return bridge->remove_child(k & 7) != nullptr;
  return false;
}

std::vector<std::pair<unsigned, std::shared_ptr<PciDevice>>> PciBus::take_ejected(PciBridge& bridge) {
  std::lock_guard lock(mutex_);
  return bridge.take_ejected();
}

Status PciBus::check_topology() const {
  std::lock_guard lock(mutex_);
  auto check = [](const std::map<unsigned, std::shared_ptr<PciDevice>>& bus, uint8_t nr) -> Status {
    for (auto& [key, dev] : bus) {
      if ((key & 7) == 0) continue;
      PciAddress a{nr, static_cast<uint8_t>(key >> 3), static_cast<uint8_t>(key & 7)};
      auto f0 = bus.find(key & ~7u);
      if (f0 == bus.end())
        return fail("{} at {}: function 0 of slot {:#x} is empty, so the guest would never see it", dev->name(), a.str(), a.slot);
      if (!(f0->second->config().get8(PCI_HEADER_TYPE) & 0x80))
        return fail("{} at {}: function 0 ({}) needs multifunction=on for the guest to see other functions",
                    dev->name(), a.str(), f0->second->name());
    }
    return ok();
  };
  AV_TRY(check(devices_, 0));
  for (auto& [key, bridge] : bridges_) AV_TRY(check(bridge->children(), bridge->secondary_bus()));
  return ok();
}

namespace {

// Room a bridge window keeps beyond what the devices behind it need, so that a device hot-added
// later (a later issue) fits without moving anything: 2 MiB of 32-bit memory, the padding OVMF
// gives a hot-plug port and Linux's default pci=hpmemsize; 64 MiB of 64-bit prefetchable memory,
// as crosvm reserves, since the 64-bit window is large (GiBs) and devices with big 64-bit BARs
// (NICs, GPUs) are what one hot-adds. No I/O: 4 KiB windows from a 16 KiB space would run out
// after four ports, and PCIe devices must work without I/O BARs; a window is opened only when a
// device behind the bridge has an I/O BAR.
constexpr uint64_t kHotplugMemReserve = 2 << 20;
constexpr uint64_t kHotplugPrefReserve = 64 << 20;

enum class Space { io, mem32, mem64 };

// One thing to place: a BAR, or a bridge window (whose alignment may exceed its granule when a
// BAR behind it is larger).
struct Item {
  Space space;
  uint64_t size, align;
  PciDevice* dev = nullptr;  // a BAR of dev ...
  unsigned bar = 0;
  PciBridge* bridge = nullptr;  // ... or a window of bridge
};

struct Allocator {
  uint64_t next, end;
  std::optional<uint64_t> take(uint64_t size, uint64_t align) {
    uint64_t at = (next + align - 1) & ~(align - 1);
    if (at < next || at + size > end || at + size < at) return std::nullopt;
    next = at + size;
    return at;
  }
};

// Largest alignment first, then largest size: power-of-two BARs packed this way leave no holes.
void sort_items(std::vector<Item>& items) {
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.align != b.align ? a.align > b.align : a.size > b.size; });
}

// Behind a bridge: I/O BARs in the I/O window, 64-bit prefetchable BARs in the prefetchable window,
// everything else (32-bit BARs, 64-bit non-prefetchable ones) in the 32-bit memory window, as the
// non-prefetchable window decodes 32-bit addresses only (PCI-to-PCI Bridge spec 3.2.5.8).
Space child_space(const BarSpec& b) {
  if (b.kind == BarKind::io) return Space::io;
  return b.kind == BarKind::mem64 && b.prefetchable ? Space::mem64 : Space::mem32;
}

std::vector<Item> bar_items(PciDevice& dev, bool behind_bridge) {
  std::vector<Item> v;
  for (unsigned b = 0; b < kNumBars; ++b) {
    const BarSpec& spec = dev.bar(b);
    if (spec.kind == BarKind::none) continue;
    Space space = behind_bridge                  ? child_space(spec)
                  : spec.kind == BarKind::io     ? Space::io
                  : spec.kind == BarKind::mem64  ? Space::mem64
                                                 : Space::mem32;
    v.push_back({space, spec.size, spec.size, &dev, b, nullptr});
  }
  return v;
}

const char* space_name(Space s) { return s == Space::io ? "I/O" : s == Space::mem32 ? "32-bit memory" : "64-bit memory"; }

void enable_bar_decode(PciDevice& dev) {
  bool io = false, mem = false;
  for (unsigned b = 0; b < kNumBars; ++b) {
    io |= dev.bar(b).kind == BarKind::io;
    mem |= dev.bar(b).kind == BarKind::mem32 || dev.bar(b).kind == BarKind::mem64;
  }
  if (io || mem) dev.enable_decode(io, mem);
}

}  // namespace

Status PciBus::assign_resources(const PciWindows& w) {
  std::vector<std::pair<unsigned, std::shared_ptr<PciDevice>>> root;
  std::vector<PciBridge*> bridges;
  {
    std::lock_guard lock(mutex_);
    // A loop, not assign(): g++ 12 sees a null dereference in assign's inlined clean-up
    // (-Wnull-dereference, a false positive) and CI builds with -Werror.
    root.reserve(devices_.size());
    for (auto& [key, d] : devices_) root.emplace_back(key, d);
    for (auto& [key, b] : bridges_) bridges.push_back(b);
  }
  // 1. Size each bridge's windows from what sits behind it.
  struct Behind {
    std::vector<Item> items[3];  // by Space
    uint64_t size[3] = {}, align[3] = {};
  };
  std::map<PciBridge*, Behind> behind;
  for (PciBridge* bridge : bridges) {
    Behind& b = behind[bridge];
    for (auto& [key, child] : bridge->children())
      for (Item& it : bar_items(*child, true)) b.items[static_cast<int>(it.space)].push_back(it);
    for (int s = 0; s < 3; ++s) {
      sort_items(b.items[s]);
      uint64_t granule = s == static_cast<int>(Space::io) ? PciBridge::kIoGranule : PciBridge::kMemGranule;
      uint64_t total = 0, align = granule;
      for (auto& it : b.items[s]) {
        total = ((total + it.align - 1) & ~(it.align - 1)) + it.size;
        align = std::max(align, it.align);
      }
      if (s == static_cast<int>(Space::mem32)) total += kHotplugMemReserve;
      if (s == static_cast<int>(Space::mem64)) total += kHotplugPrefReserve;
      b.size[s] = total == 0 ? 0 : (total + granule - 1) & ~(granule - 1);
      b.align[s] = align;
    }
  }
  // 2. Place the root bus: its devices' BARs and the bridge windows.
  std::vector<Item> items;
  for (auto& [key, dev] : root) {
    auto v = bar_items(*dev, false);
    items.insert(items.end(), v.begin(), v.end());
  }
  for (auto& [bridge, b] : behind)
    for (int s = 0; s < 3; ++s)
      if (b.size[s] != 0) items.push_back({static_cast<Space>(s), b.size[s], b.align[s], nullptr, 0, bridge});
  sort_items(items);
  Allocator io{w.io_base, uint64_t{w.io_base} + w.io_size};
  Allocator m32{w.mmio32_base, w.mmio32_base + w.mmio32_size};
  Allocator m64{w.mmio64_base, w.mmio64_base + w.mmio64_size};
  std::map<std::pair<PciBridge*, int>, uint64_t> window_base;
  for (auto& it : items) {
    std::optional<uint64_t> at;
    switch (it.space) {
      case Space::io: at = io.take(it.size, it.align); break;
      case Space::mem32: at = m32.take(it.size, it.align); break;
      case Space::mem64:
        at = m64.take(it.size, it.align);
        if (!at) at = m32.take(it.size, it.align);  // a small 64-bit window: below 4 GiB will do
        break;
    }
    std::string what = it.bridge != nullptr ? fmt::format("{}: its {} window", it.bridge->name(), space_name(it.space))
                                            : fmt::format("{}: BAR {}", it.dev->name(), it.bar);
    if (!at) return fail("{} ({} KiB) does not fit in the PCI windows", what, it.size >> 10);
    if (it.bridge != nullptr) window_base[{it.bridge, static_cast<int>(it.space)}] = *at;
    else it.dev->program_bar(it.bar, *at);
  }
  // 3. Each bridge: program its windows, then place the BARs behind it inside them.
  for (auto& [bridge, b] : behind) {
    for (int s = 0; s < 3; ++s) {
      BridgeWindow win{1, 0};
      if (b.size[s] != 0) {
        uint64_t base = window_base[{bridge, s}];
        win = {base, base + b.size[s] - 1};
      }
      if (s == static_cast<int>(Space::io)) bridge->set_io_window(win);
      else if (s == static_cast<int>(Space::mem32)) bridge->set_mem_window(win);
      else bridge->set_pref_window(win);
      Allocator a{win.base, win.limit + 1};
      for (auto& it : b.items[s]) {
        auto at = a.take(it.size, it.align);
        if (!at) return fail("{}: BAR {} does not fit in the {} window of {}", it.dev->name(), it.bar, space_name(it.space), bridge->name());
        it.dev->program_bar(it.bar, *at);
      }
    }
    for (auto& [key, child] : bridge->children()) enable_bar_decode(*child);
    // Memory decode always (the windows are open); I/O only with an I/O window.
    bridge->enable_decode(b.size[static_cast<int>(Space::io)] != 0, true);
  }
  for (auto& [key, dev] : root)
    if (dynamic_cast<PciBridge*>(dev.get()) == nullptr) enable_bar_decode(*dev);
  return ok();
}

PciBridge* PciBus::bridge_for_locked(uint8_t bus) const {
  for (auto& [key, bridge] : bridges_)
    if (bridge->forwards(bus)) return bridge;
  return nullptr;
}

std::shared_ptr<PciDevice> PciBus::find_locked(PciAddress a) const {
  if (a.bus == 0) {
    auto it = devices_.find(unsigned{a.slot} << 3 | a.function);
    return it == devices_.end() ? nullptr : it->second;
  }
  // A type 1 cycle: the bridge whose range holds the bus takes it; on its secondary bus it becomes
  // a type 0 cycle to the device there (a root port has device 0 only; the others read all ones).
  PciBridge* bridge = bridge_for_locked(a.bus);
  if (bridge == nullptr || a.bus != bridge->secondary_bus()) return nullptr;  // no bridges behind bridges
  return bridge->child(a.slot, a.function);
}

Result<uint32_t> PciBus::intx_gsi(PciAddress a, unsigned pin) const {
  if (pin > 3) return fail("INTx pin {} does not exist (0..3 for INTA..INTD)", pin);
  if (a.bus == 0) return pci::intx_gsi(a.slot, pin);
  std::lock_guard lock(mutex_);
  for (auto& [key, bridge] : bridges_)
    if (bridge->secondary_bus() == a.bus) return pci::intx_gsi(key >> 3, swizzle_pin(a.slot, pin));
  return fail("{}: no bridge leads to bus {}", a.str(), a.bus);
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

std::vector<std::pair<PciAddress, std::shared_ptr<PciDevice>>> PciBus::devices(uint8_t bus) const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<PciAddress, std::shared_ptr<PciDevice>>> v;
  const std::map<unsigned, std::shared_ptr<PciDevice>>* on = &devices_;
  if (bus != 0) {
    PciBridge* bridge = bridge_for_locked(bus);
    if (bridge == nullptr || bridge->secondary_bus() != bus) return v;
    on = &bridge->children();
  }
  for (auto& [key, dev] : *on) v.push_back({PciAddress{bus, static_cast<uint8_t>(key >> 3), static_cast<uint8_t>(key & 7)}, dev});
  return v;
}

}  // namespace altovirt::pci
