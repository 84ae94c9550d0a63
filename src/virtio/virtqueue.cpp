#include "altovirt/virtio/virtqueue.h"

#include <atomic>
#include <bit>
#include <cstring>

namespace altovirt::virtio {
namespace {

// The ring indices are shared with the driver on other CPUs: 16-bit naturally aligned accesses
// (alignment checked in configure), with acquire/release ordering against the ring entries.
uint16_t load16(uint8_t* p, std::memory_order order) {
  return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).load(order);
}
void store16(uint8_t* p, uint16_t v, std::memory_order order) {
  std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).store(v, order);
}

// Flags of struct virtq_desc and virtq_avail (2.7.5, 2.7.6); linux/virtio_ring.h does not compile
// as C++ (its inline helpers convert void*), so the values are spelled here.
constexpr uint16_t VRING_DESC_F_NEXT = 1, VRING_DESC_F_WRITE = 2, VRING_DESC_F_INDIRECT = 4;
constexpr uint16_t VRING_AVAIL_F_NO_INTERRUPT = 1;

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == 16);

}  // namespace

Status Virtqueue::configure(const QueueLayout& layout, bool indirect, bool event_idx) {
  ready_ = false;
  broken_ = false;
  // 2.7: Queue Size is a power of two up to 32768; the rings are 16/2/4-byte aligned (2.7.2 table).
  if (layout.size == 0 || layout.size > 32768 || !std::has_single_bit(layout.size))
    return fail("queue {}: size {} is not a power of two in 1..32768", index_, layout.size);
  if (layout.desc % 16 || layout.avail % 2 || layout.used % 4)
    return fail("queue {}: misaligned rings (descriptors {:#x}, driver area {:#x}, device area {:#x})", index_,
                layout.desc, layout.avail, layout.used);
  uint64_t n = layout.size;
  AV_TRY_ASSIGN(desc_, ram_.slice(layout.desc, 16 * n));
  AV_TRY_ASSIGN(auto avail, ram_.slice(layout.avail, 6 + 2 * n));
  AV_TRY_ASSIGN(auto used, ram_.slice(layout.used, 6 + 8 * n));
  avail_ = avail.data();
  used_ = used.data();
  layout_ = layout;
  indirect_ = indirect;
  event_idx_ = event_idx;
  last_avail_ = used_idx_ = signalled_used_ = 0;
  signalled_valid_ = false;
  pushed_ = false;
  ready_ = true;
  return ok();
}

void Virtqueue::fail_queue(const std::string& why) {
  if (broken_) return;
  broken_ = true;
  if (on_error_) on_error_(fmt::format("queue {}: {}", index_, why));
}

Status Virtqueue::walk(std::span<const uint8_t> table, uint16_t first, bool in_indirect, Chain& chain) {
  const size_t entries = table.size() / sizeof(Desc);
  size_t seen = 0;
  uint32_t i = first;
  for (;;) {
    if (i >= entries) return fail("descriptor index {} is outside the table of {}", i, entries);
    // A chain visits each descriptor at most once, so one longer than the table loops (2.7.5.3.1:
    // a chain is never longer than the Queue Size).
    if (++seen > entries) return fail("descriptor chain from {} loops (longer than {} descriptors)", first, entries);
    Desc d;
    std::memcpy(&d, table.data() + i * sizeof(Desc), sizeof(Desc));  // one copy: no double fetch
    if (d.flags & VRING_DESC_F_INDIRECT) {
      if (!indirect_) return fail("indirect descriptor {} but VIRTIO_F_INDIRECT_DESC was not negotiated", i);
      if (in_indirect) return fail("indirect descriptor {} inside an indirect table (2.7.5.3.1)", i);
      if (d.flags & VRING_DESC_F_NEXT) return fail("descriptor {} has both INDIRECT and NEXT (2.7.5.3.1)", i);
      if (seen != 1) return fail("indirect descriptor {} is not the head of its chain", i);
      if (d.len == 0 || d.len % sizeof(Desc) != 0)
        return fail("indirect table of {} bytes is not a non-empty multiple of 16", d.len);
      if (d.len / sizeof(Desc) > layout_.size)
        return fail("indirect table of {} descriptors is longer than the queue ({})", d.len / sizeof(Desc), layout_.size);
      AV_TRY_ASSIGN(auto t, ram_.slice(d.addr, d.len));
      // Copy the table once: the guest could rewrite it while we walk it.
      std::vector<uint8_t> copy(t.begin(), t.end());
      return walk(copy, 0, true, chain);
    }
    if (d.len != 0) {
      auto buf = ram_.slice(d.addr, d.len);
      if (!buf) return fail("descriptor {}: {}", i, buf.error().message());
      if (d.flags & VRING_DESC_F_WRITE) {
        chain.writable.push_back(*buf);
      } else {
        // 2.7.4.2: the driver puts device-readable descriptors before device-writable ones.
        if (!chain.writable.empty()) return fail("device-readable descriptor {} after a device-writable one", i);
        chain.readable.push_back(*buf);
      }
    }
    if (!(d.flags & VRING_DESC_F_NEXT)) return ok();
    i = d.next;
  }
}

std::optional<Chain> Virtqueue::pop() {
  if (!ready_ || broken_) return std::nullopt;
  const uint16_t size = layout_.size;
  uint16_t avail_idx = load16(avail_ + 2, std::memory_order_acquire);
  if (avail_idx == last_avail_) {
    if (!event_idx_) return std::nullopt;
    // Ask for a kick at the next entry, then look again: the driver may have added one after our
    // read but before it could see avail_event (the same fence as on the used side, 2.7.10).
    store16(used_ + 4 + 8 * size, last_avail_, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    avail_idx = load16(avail_ + 2, std::memory_order_acquire);
    if (avail_idx == last_avail_) return std::nullopt;
  }
  // 2.7.6: the driver never has more than Queue Size entries outstanding.
  if (static_cast<uint16_t>(avail_idx - last_avail_) > size) {
    fail_queue(fmt::format("avail index {} is {} ahead of the device's {} (queue size {})", avail_idx,
                           static_cast<uint16_t>(avail_idx - last_avail_), last_avail_, size));
    return std::nullopt;
  }
  uint16_t head = load16(avail_ + 4 + 2 * (last_avail_ % size), std::memory_order_relaxed);
  Chain chain;
  chain.head = head;
  if (auto s = walk(desc_, head, false, chain); !s) {
    fail_queue(s.error().message());
    return std::nullopt;
  }
  ++last_avail_;
  if (event_idx_) store16(used_ + 4 + 8 * size, last_avail_, std::memory_order_relaxed);
  return chain;
}

std::optional<RingState> Virtqueue::ring_state() const {
  if (!ready_) return std::nullopt;
  const uint16_t size = layout_.size;
  RingState r;
  r.avail_flags = load16(avail_, std::memory_order_relaxed);
  r.avail_idx = load16(avail_ + 2, std::memory_order_relaxed);
  r.used_event = load16(avail_ + 4 + 2 * size, std::memory_order_relaxed);
  r.used_idx = load16(used_ + 2, std::memory_order_relaxed);
  r.avail_event = load16(used_ + 4 + 8 * size, std::memory_order_relaxed);
  return r;
}

void Virtqueue::push(uint16_t head, uint32_t written) {
  if (!ready_) return;
  uint8_t* e = used_ + 4 + 8 * (used_idx_ % layout_.size);
  uint32_t id = head;
  std::memcpy(e, &id, 4);
  std::memcpy(e + 4, &written, 4);
  ++used_idx_;
  pushed_ = true;
}

bool Virtqueue::should_notify() {
  // A full fence between publishing used->idx and reading the driver's flags/used_event: without it
  // the read may be satisfied before the store is visible, the driver may have gone to sleep having
  // seen the old idx, and we skip the interrupt it then waits for forever (QEMU
  // virtio_split_should_notify, Linux virtqueue_kick_prepare's mirror image).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint16_t size = layout_.size;
  if (!event_idx_) {
    uint16_t flags = load16(avail_, std::memory_order_relaxed);
    return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
  }
  uint16_t used_event = load16(avail_ + 4 + 2 * size, std::memory_order_relaxed);
  bool valid = signalled_valid_;
  uint16_t old_idx = signalled_used_;
  signalled_valid_ = true;
  signalled_used_ = used_idx_;
  return !valid || need_event(used_event, used_idx_, old_idx);
}

void Virtqueue::notify() {
  if (!ready_ || !pushed_) return;
  pushed_ = false;
  store16(used_ + 2, used_idx_, std::memory_order_release);  // entries before the index (2.7.8)
  if (should_notify() && raise_) raise_();
}

}  // namespace altovirt::virtio
