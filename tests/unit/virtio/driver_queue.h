// A guest driver's end of one split queue, for device-model tests (GoogleTest only: the fuzz
// harnesses share fake_guest.h, not this).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "altovirt/virtio/virtqueue.h"
#include "fake_guest.h"

namespace altovirt::virtio::testing {

// The driver side of one split queue, for device-model tests that drive a device's queues without
// the transport (virtio 1.2 section 2.7): the descriptor table at `base`, the avail ring at +0x1000,
// the used ring at +0x2000, and one 8 KiB buffer per descriptor from +0x10000 (so a queue of `size`
// descriptors spans base + 0x10000 + size * 8 KiB). `vq` is the device's end, configured on it.
struct DriverQueue {
  struct Desc {
    uint32_t len;
    bool writable;
    std::string data;
  };
  FakeRam& ram;
  uint16_t size;
  uint64_t desc, avail, used, buffers;
  uint16_t next_desc = 0, avail_idx = 0;
  Virtqueue vq;
  std::atomic<int> interrupts{0};

  DriverQueue(FakeRam& r, unsigned index, uint64_t base, uint16_t queue_size = 64)
      : ram(r), size(queue_size), desc(base), avail(base + 0x1000), used(base + 0x2000),
        buffers(base + 0x10000), vq(r, index) {
    EXPECT_TRUE(vq.configure({size, desc, avail, used}, false, false));
    vq.set_interrupt([this] { ++interrupts; });
  }
  // A chain made available; returns the guest address of each descriptor's buffer.
  std::vector<uint64_t> add(const std::vector<Desc>& chain) {
    std::vector<uint64_t> addrs;
    uint16_t head = next_desc % size;
    for (size_t i = 0; i < chain.size(); ++i) {
      uint16_t d = next_desc++ % size;
      uint64_t addr = buffers + d * 0x2000ull;
      std::memcpy(ram.at(addr), chain[i].data.data(), chain[i].data.size());
      uint16_t flags = (chain[i].writable ? kWrite : 0) | (i + 1 < chain.size() ? kNext : 0);
      uint64_t e = desc + d * 16ull;
      ram.put<uint64_t>(e, addr);
      ram.put<uint32_t>(e + 8, chain[i].len);
      ram.put<uint16_t>(e + 12, flags);
      ram.put<uint16_t>(e + 14, i + 1 < chain.size() ? static_cast<uint16_t>(next_desc % size) : 0);
      addrs.push_back(addr);
    }
    ram.put<uint16_t>(avail + 4 + 2u * (avail_idx % size), head);
    ++avail_idx;
    std::atomic_thread_fence(std::memory_order_release);  // the ring entry before the index (2.7.13)
    ram.put<uint16_t>(avail + 2, avail_idx);
    return addrs;
  }
  // One descriptor of `len` bytes made available; returns its buffer's guest address.
  uint64_t add(uint32_t len, bool writable, std::string_view data = {}) {
    return add({{len, writable, std::string(data)}})[0];
  }
  uint16_t used_idx() const { return ram.get<uint16_t>(used + 2); }
  // The used element k: (descriptor id, bytes written).
  std::pair<uint32_t, uint32_t> used_elem(uint16_t k) const {
    return {ram.get<uint32_t>(used + 4 + 8u * (k % size)), ram.get<uint32_t>(used + 8 + 8u * (k % size))};
  }
};

}  // namespace altovirt::virtio::testing
