// The coalesced I/O ring's replay (kvm::CoalescedIo::drain) against a ring page laid out as KVM lays
// it out: order, wrap-around, every entry once, and a corrupt ring never indexed past its page.
#include "altovirt/kvm/coalesced_io.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

namespace altovirt::kvm {
namespace {

constexpr size_t kPage = 4096;

// The ring page as the kernel (C) lays it out, spelled out byte by byte rather than through
// linux/kvm.h's struct (whose C++ expansion puts the entries 8 bytes too far on Linux 6.1's headers).
struct FakeRing {
  alignas(4096) uint8_t page[kPage]{};
  struct Header {
    uint32_t first, last;
  };
  Header* ring() { return reinterpret_cast<Header*>(page); }
  uint32_t max() const { return (kPage - 8) / 24; }  // KVM_COALESCED_MMIO_MAX: 170 on 4 KiB pages
  // What KVM does for a guest write into a coalesced zone (virt/kvm/coalesced_mmio.c): the entry
  // {u64 phys_addr, u32 len, u32 pio, u8 data[8]} at 8 + 24 * last, then last advances.
  void push(uint64_t addr, uint32_t value, uint32_t len = 4, bool pio = true) {
    uint8_t* e = page + 8 + 24 * ring()->last;
    uint32_t p = pio ? 1 : 0;
    std::memcpy(e, &addr, 8);
    std::memcpy(e + 8, &len, 4);
    std::memcpy(e + 12, &p, 4);
    std::memcpy(e + 16, &value, sizeof value);
    ring()->last = (ring()->last + 1) % max();
  }
};

struct Seen {
  uint64_t addr;
  uint32_t value;
  bool pio;
};

std::vector<Seen> drain_all(CoalescedIo& io) {
  std::vector<Seen> seen;
  io.drain([&](const CoalescedWrite& w) {
    uint32_t v = 0;
    std::memcpy(&v, w.data.data(), std::min(w.data.size(), sizeof v));
    seen.push_back({w.addr, v, w.pio});
  });
  return seen;
}

TEST(CoalescedIo, ReplaysEveryWriteOnceInOrder) {
  FakeRing f;
  CoalescedIo io(f.page, kPage);
  f.push(0xcf8, 0x80000000);
  f.push(0xcf8, 0x80000804);
  f.push(0xfee00000, 7, 4, false);
  auto seen = drain_all(io);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].value, 0x80000000u);
  EXPECT_EQ(seen[1].value, 0x80000804u);
  EXPECT_TRUE(seen[1].pio);
  EXPECT_EQ(seen[2].addr, 0xfee00000u);
  EXPECT_FALSE(seen[2].pio);
  EXPECT_EQ(f.ring()->first, f.ring()->last);  // every slot given back to KVM
  EXPECT_TRUE(drain_all(io).empty());
}

TEST(CoalescedIo, FollowsTheRingAcrossItsEnd) {
  FakeRing f;
  CoalescedIo io(f.page, kPage);
  f.ring()->first = f.ring()->last = f.max() - 2;
  for (uint32_t i = 0; i < 5; ++i) f.push(0xcf8, i);
  auto seen = drain_all(io);
  ASSERT_EQ(seen.size(), 5u);
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(seen[i].value, i);
  EXPECT_EQ(f.ring()->first, 3u);
}

TEST(CoalescedIo, LengthIsNeverTakenBeyondTheEntrysData) {
  FakeRing f;
  CoalescedIo io(f.page, kPage);
  f.push(0xcf8, 0x11223344, 4000);
  size_t len = 0;
  io.drain([&](const CoalescedWrite& w) { len = w.data.size(); });
  EXPECT_EQ(len, 8u);
}

TEST(CoalescedIo, CorruptIndexesAreNeverFollowed) {
  FakeRing f;
  CoalescedIo io(f.page, kPage);
  f.ring()->first = 100000;
  f.ring()->last = 3;
  EXPECT_TRUE(drain_all(io).empty());
  EXPECT_EQ(f.ring()->first, 3u);  // dropped: the next write starts clean
  f.push(0xcf8, 42);
  auto seen = drain_all(io);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].value, 42u);
}

TEST(CoalescedIo, ConcurrentDrainsReplayEachWriteExactlyOnce) {
  FakeRing f;
  CoalescedIo io(f.page, kPage);
  const uint32_t n = f.max() - 1;  // a full ring
  for (uint32_t i = 0; i < n; ++i) f.push(0xcf8, i);
  std::vector<int> count(n, 0);
  std::mutex m;
  auto worker = [&] {
    io.drain([&](const CoalescedWrite& w) {
      uint32_t v;
      std::memcpy(&v, w.data.data(), sizeof v);
      std::lock_guard lock(m);
      ++count[v];
    });
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();
  for (uint32_t i = 0; i < n; ++i) EXPECT_EQ(count[i], 1) << i;
}

}  // namespace
}  // namespace altovirt::kvm
