#include "altovirt/vmm/io_bus.h"

#include <algorithm>
#include <mutex>

namespace altovirt::vmm {

Status IoBus::add(uint64_t base, uint64_t size, std::string name, std::shared_ptr<devices::IoHandler> handler) {
  if (size == 0 || base + size < base) return fail("{} region {} at {:#x}: empty or wrapping range", kind_, name, base);
  std::unique_lock lock(mutex_);
  auto next = regions_.lower_bound(base);
  if (next != regions_.end() && next->first < base + size)
    return fail("{} region {} [{:#x}, {:#x}) overlaps {} at {:#x}", kind_, name, base, base + size, next->second.name, next->first);
  if (next != regions_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size > base)
      return fail("{} region {} [{:#x}, {:#x}) overlaps {} at {:#x}", kind_, name, base, base + size, prev->second.name, prev->first);
  }
  auto& counter = counters_[name];
  if (!counter) counter = std::make_shared<Counter>();
  counter->base = base;
  counter->size = size;
  regions_.emplace(base, Region{size, std::move(name), std::move(handler), counter});
  return ok();
}

bool IoBus::remove(uint64_t base) {
  std::unique_lock lock(mutex_);
  return regions_.erase(base) != 0;
}

IoBus::Hit IoBus::lookup(uint64_t addr) const {
  std::shared_lock lock(mutex_);
  auto it = regions_.upper_bound(addr);
  if (it == regions_.begin()) return {};
  --it;
  if (addr - it->first >= it->second.size) return {};
  return {it->second.handler, it->second.counter.get(), addr - it->first};
}

void IoBus::read(uint64_t addr, std::span<uint8_t> data) {
  Hit hit = lookup(addr);
  if (!hit.handler) {
    unassigned_.reads.fetch_add(1, std::memory_order_relaxed);
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  hit.counter->reads.fetch_add(1, std::memory_order_relaxed);
  hit.handler->io_read(hit.offset, data);
}

void IoBus::write(uint64_t addr, std::span<const uint8_t> data) { dispatch_write(addr, data, false); }
void IoBus::write_coalesced(uint64_t addr, std::span<const uint8_t> data) { dispatch_write(addr, data, true); }

void IoBus::dispatch_write(uint64_t addr, std::span<const uint8_t> data, bool coalesced) {
  Hit hit = lookup(addr);
  Counter& counter = hit.handler ? *hit.counter : unassigned_;
  (coalesced ? counter.coalesced : counter.writes).fetch_add(1, std::memory_order_relaxed);
  if (hit.handler) hit.handler->io_write(hit.offset, data);
}

std::vector<RegionStats> IoBus::stats() const {
  std::shared_lock lock(mutex_);
  std::vector<RegionStats> v;
  for (auto& [name, c] : counters_)
    v.push_back({name, c->base, c->size, c->reads.load(), c->writes.load(), c->coalesced.load()});
  v.push_back({"unassigned", 0, 0, unassigned_.reads.load(), unassigned_.writes.load(), unassigned_.coalesced.load()});
  return v;
}

bool MovableRegion::move(std::optional<uint64_t> base, uint64_t size) {
  if (mapped_) bus_.remove(*mapped_);
  mapped_.reset();
  if (!base) return false;
  auto added = bus_.add(*base, size, name_, handler_);
  if (added) mapped_ = base;
  if (limit_.allow()) {
    if (added) log::info("vmm", "the guest moved {} to {:#x}..{:#x}", what_, *base, *base + size - 1);
    else log::warn("vmm", "the guest moved {} to {:#x}, where it cannot decode: {}", what_, *base, added.error().message());
  }
  return added.has_value();
}

}  // namespace altovirt::vmm
