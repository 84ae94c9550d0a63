// The virtio balloon driven as the guest's virtio_balloon driver drives it (virtio 1.2 section 5.5):
// PFN arrays on the inflate/deflate queues, the stats buffer, the configuration, over guest RAM
// that is real anonymous memory (so madvise really drops the pages).
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "altovirt/devices/virtio_balloon.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/virtqueue.h"

namespace altovirt::devices {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kRam = 8 << 20;  // 8 MiB at guest-physical 0
constexpr uint64_t kPage = 4096;

class MmapRam : public virtio::GuestRam {
 public:
  MmapRam() {
    base_ = static_cast<uint8_t*>(::mmap(nullptr, kRam, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~MmapRam() override { ::munmap(base_, kRam); }
  Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const override {
    if (gpa > kRam || len > kRam - gpa) return fail("outside RAM");
    return std::span<uint8_t>(base_ + gpa, len);
  }
  uint8_t* at(uint64_t gpa) { return base_ + gpa; }
  template <typename T>
  void put(uint64_t gpa, T v) { std::memcpy(at(gpa), &v, sizeof v); }
  template <typename T>
  T get(uint64_t gpa) {
    T v;
    std::memcpy(&v, at(gpa), sizeof v);
    return v;
  }

 private:
  uint8_t* base_;
};

// The driver side of one split ring of 16 entries at `base` (desc, avail, used), buffers after it.
struct DriverRing {
  static constexpr uint16_t kSize = 16;
  MmapRam& ram;
  uint64_t base;
  virtio::Virtqueue vq;
  uint16_t next = 0, avail_idx = 0;
  DriverRing(MmapRam& r, unsigned index, uint64_t at) : ram(r), base(at), vq(r, index) {
    EXPECT_TRUE(vq.configure({kSize, base, base + 0x400, base + 0x800}, false, false));
    vq.set_interrupt([] {});
  }
  uint64_t buffer(uint16_t d) const { return base + 0x1000 + 0x400ull * d; }
  // One driver-readable buffer holding `bytes`.
  uint16_t add(const void* bytes, uint32_t len) {
    uint16_t d = next++ % kSize;
    std::memcpy(ram.at(buffer(d)), bytes, len);
    uint64_t desc = base + 16ull * d;
    ram.put<uint64_t>(desc, buffer(d));
    ram.put<uint32_t>(desc + 8, len);
    ram.put<uint16_t>(desc + 12, 0);
    ram.put<uint16_t>(base + 0x400 + 4 + 2 * (avail_idx % kSize), d);
    ram.put<uint16_t>(base + 0x400 + 2, ++avail_idx);
    return d;
  }
  uint16_t used_idx() { return ram.get<uint16_t>(base + 0x800 + 2); }
};

struct Stat {
  uint16_t tag;
  uint64_t val;
} __attribute__((packed));

class VirtioBalloonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = virtio::EventLoop::create("balloon-test");
    ASSERT_TRUE(l);
    loop = std::move(*l);
  }
  void TearDown() override {
    if (balloon) loop->run_sync([&] { balloon->reset(); });
  }
  void start(BalloonOptions o, bool stats = true) {
    o.ram_bytes = kRam;
    auto b = VirtioBalloon::create(std::move(o));
    ASSERT_TRUE(b) << b.error().message();
    balloon = *b;
    uint64_t features = virtio::kFVersion1 | (stats ? VirtioBalloon::kFStatsVq : 0);
    virtio::Activation a{ram, features, {&inflate.vq, &deflate.vq, &statsq.vq}, *loop, [this] { ++config_changes; }, nullptr};
    loop->run_sync([&] { ASSERT_TRUE(balloon->activate(a)); });
  }
  void kick(unsigned q) { loop->run_sync([&] { balloon->queue_notified(q); }); }
  // Guest pages at 4 MiB.. that the test fills and balloons.
  static uint64_t page(unsigned i) { return (4 << 20) + i * kPage; }
  static uint32_t pfn(unsigned i) { return static_cast<uint32_t>(page(i) >> 12); }
  bool all(uint64_t gpa, uint8_t v) {
    const uint8_t* p = ram.at(gpa);
    return std::all_of(p, p + kPage, [v](uint8_t x) { return x == v; });
  }

  MmapRam ram;
  DriverRing inflate{ram, 0, 0x10000}, deflate{ram, 1, 0x20000}, statsq{ram, 2, 0x30000};
  std::unique_ptr<virtio::EventLoop> loop;
  std::shared_ptr<VirtioBalloon> balloon;
  std::atomic<int> config_changes{0};
};

TEST_F(VirtioBalloonTest, IdentityAndFeatures) {
  start({});
  EXPECT_EQ(balloon->device_type(), 5);  // 5.5.1: traditional memory balloon
  EXPECT_EQ(balloon->num_queues(), 3u);  // inflateq, deflateq, statsq
  EXPECT_TRUE(balloon->device_features() & VirtioBalloon::kFStatsVq);
  EXPECT_FALSE(balloon->device_features() & VirtioBalloon::kFDeflateOnOom);
  auto with_oom = VirtioBalloon::create({.ram_bytes = kRam, .deflate_on_oom = true});
  ASSERT_TRUE(with_oom);
  EXPECT_TRUE((*with_oom)->device_features() & VirtioBalloon::kFDeflateOnOom);
}

TEST_F(VirtioBalloonTest, InflatedPagesReadBackZeroAndOutsideRamIsRejected) {
  start({});
  for (unsigned i = 0; i < 4; ++i) std::memset(ram.at(page(i)), 0xaa, kPage);
  // Pages 0..2 of the test area, the first PFN past the end of RAM, and the largest PFN (whose
  // GPA needs 44 bits): only the three RAM pages may be touched.
  uint32_t pfns[] = {pfn(0), pfn(1), static_cast<uint32_t>(kRam >> 12), 0xffffffffu, pfn(2)};
  inflate.add(pfns, sizeof pfns);
  kick(VirtioBalloon::kInflateQueue);
  EXPECT_EQ(inflate.used_idx(), 1);  // the buffer went back
  EXPECT_EQ(balloon->pages_released(), 3u);
  EXPECT_EQ(balloon->pfns_rejected(), 2u);
  EXPECT_TRUE(all(page(0), 0));  // MADV_DONTNEED: the next touch sees a zero page
  EXPECT_TRUE(all(page(1), 0));
  EXPECT_TRUE(all(page(2), 0));
  EXPECT_TRUE(all(page(3), 0xaa));  // not ballooned: untouched
}

TEST_F(VirtioBalloonTest, PinnedRamIsAccountedButNotReleased) {
  start({.discard_allowed = [] { return false; }});  // as with a VFIO container
  std::memset(ram.at(page(0)), 0x55, kPage);
  uint32_t pfns[] = {pfn(0)};
  inflate.add(pfns, sizeof pfns);
  kick(VirtioBalloon::kInflateQueue);
  EXPECT_EQ(inflate.used_idx(), 1);
  EXPECT_EQ(balloon->pages_released(), 0u);
  EXPECT_TRUE(all(page(0), 0x55)) << "a page pinned for DMA was dropped";
}

TEST_F(VirtioBalloonTest, DeflateGivesBuffersBack) {
  start({});
  uint32_t pfns[] = {pfn(0), pfn(1)};
  deflate.add(pfns, sizeof pfns);
  kick(VirtioBalloon::kDeflateQueue);
  EXPECT_EQ(deflate.used_idx(), 1);
}

TEST_F(VirtioBalloonTest, TargetAndActualThroughTheConfiguration) {
  start({});
  balloon->set_target(kRam - 16 * kPage);
  EXPECT_EQ(config_changes.load(), 1);  // the driver is told to re-read num_pages
  uint8_t cfg[8];
  balloon->read_config(0, cfg);
  uint32_t num_pages;
  std::memcpy(&num_pages, cfg, 4);
  EXPECT_EQ(num_pages, 16u);
  EXPECT_EQ(balloon->actual_bytes(), kRam);  // the driver has not inflated yet
  uint32_t actual = 16;
  balloon->write_config(4, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&actual), 4));
  EXPECT_EQ(balloon->actual_bytes(), kRam - 16 * kPage);
  // A target above RAM is RAM (nothing to balloon); a lying `actual` is capped at RAM.
  balloon->set_target(kRam * 4);
  balloon->read_config(0, cfg);
  std::memcpy(&num_pages, cfg, 4);
  EXPECT_EQ(num_pages, 0u);
  actual = 0xffffffff;
  balloon->write_config(4, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&actual), 4));
  EXPECT_EQ(balloon->actual_bytes(), 0u);
}

TEST_F(VirtioBalloonTest, StatsAreKeptAndPolled) {
  start({.stats_period_s = 1});
  Stat s[] = {{4, 1000 * kPage}, {5, 2000 * kPage}, {6, 1500 * kPage}, {2, 7}};
  statsq.add(s, sizeof s);
  kick(VirtioBalloon::kStatsQueue);
  BalloonStats got = balloon->stats();
  ASSERT_TRUE(got.updated);
  EXPECT_EQ(got.values[4], 1000 * kPage);  // MEMFREE
  EXPECT_EQ(got.values[5], 2000 * kPage);  // MEMTOT
  EXPECT_EQ(got.values[6], 1500 * kPage);  // AVAIL
  EXPECT_EQ(got.values[2], 7u);            // MAJFLT
  EXPECT_EQ(statsq.used_idx(), 0);  // the device holds the buffer...
  auto end = std::chrono::steady_clock::now() + 3s;
  while (statsq.used_idx() == 0 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(statsq.used_idx(), 1);  // ...and returns it after the period to ask for fresh ones
}

TEST_F(VirtioBalloonTest, StatsTruncatedEntryIgnored) {
  start({});
  uint8_t partial[15] = {};
  partial[0] = 4;  // tag MEMFREE, value 0, then 5 bytes of a second, incomplete entry
  statsq.add(partial, sizeof partial);
  kick(VirtioBalloon::kStatsQueue);
  BalloonStats got = balloon->stats();
  EXPECT_EQ(got.values.size(), 1u);
}

}  // namespace
}  // namespace altovirt::devices
