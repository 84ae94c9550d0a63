// Fuzz target: the virtio memory balloon (src/devices/virtio_balloon): inflate and deflate PFN
// arrays of any length (unaligned sizes, a trailing partial entry, PFNs inside RAM, on its last
// page, in holes, past the end, near 2^32), the statistics queue (tag/value entries of any length,
// a second buffer while the device holds one), config reads and writes (`actual`, and every other
// offset and size), the host's target and queries, feature bits, and reset with the statistics
// buffer held, as the device's EventLoop runs them.
//
// Guest RAM is three regions: the rings and buffers in a FakeRam, and two page-aligned mmap'd
// regions (private and shared anonymous) that inflated PFNs really are madvise()d away from
// (MADV_DONTNEED / MADV_REMOVE). Two models: A (private memory, DEFLATE_ON_OOM offered, statistics
// requested every second, the period ended by an op) and B (shared memory, no period).
//
// Input: [flags u8: bit 0 model B, bit 1 INDIRECT_DESC, bit 2 EVENT_IDX, bit 3 negotiate STATS_VQ,
// bit 4 negotiate DEFLATE_ON_OOM, bit 5 discarding disallowed (VFIO), bit 6 stats queue not
// enabled, bit 7 deflate queue not enabled] then per op: op u8 ...:
//   0/1 inflate/deflate chain: [descriptors-1 u8][per descriptor: len u16, writable u8, where u8,
//       start u16, stride u8] (the PFNs start + i * stride in the region `where` picks)
//   2 stats chain: [descriptors-1 u8][per descriptor: len u16, writable u8][first tag u8]
//   3 kick queue [u8 % 5]
//   4 config write: [offset u8][size u8][value u32]
//   5 config read: [offset u8][size u8]
//   6 host: set_target([pages u16]), then the QMP queries; with op bit 3 instead model A's
//     statistics period ends (the harness fires its timerfd, found in /proc/self/fd at start-up)
//   7 reset and activate again (the statistics buffer the device holds is dropped)
// Up to 64 ops, at most 64 descriptors per ring, at most 160 KiB of buffers per input (so at most
// 40960 PFNs, each one a madvise).
// Checks: released + rejected PFNs never exceed the PFNs inflated, nothing is released outside RAM
// or while discarding is disallowed, actual and target stay within RAM, the used rings hold
// published heads only, once each at most.
#include <poll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/log.h"
#include "altovirt/devices/virtio_balloon.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/virtqueue.h"
#include "fake_guest.h"
#include "fuzz_input.h"

using namespace altovirt;
using devices::VirtioBalloon;
using virtio::testing::FakeRam;
using virtio::testing::kNext;
using virtio::testing::kWrite;
using virtio::testing::Ring;

namespace {

constexpr uint64_t kBase = 0x100000;          // FakeRam: rings, then buffers
constexpr size_t kRamSize = 256 * 1024;
constexpr uint64_t kData = kBase + 0x4000;
constexpr uint64_t kPrivate = 0x1000000;      // 64 pages of private anonymous memory
constexpr uint64_t kShared = 0x2000000;       // 64 pages of shared anonymous memory
constexpr uint64_t kRegionSize = 64 * 4096;
constexpr uint64_t kHole = 0x3000000;         // not RAM
constexpr uint64_t kGuestRam = 16 << 20;      // what the balloon is told the guest has
constexpr uint16_t kQueueSize = 64;
constexpr uint32_t kBufferBudget = 160 * 1024;  // buffer bytes per input: no wrap, bounded madvise work

struct Fixture {
  std::shared_ptr<VirtioBalloon> models[2];
  std::unique_ptr<virtio::EventLoop> loop;
  uint8_t* private_region = nullptr;
  uint8_t* shared_region = nullptr;
  int stats_timer = -1;  // model A's statistics timer (its timerfd, found in /proc/self/fd)
};

bool g_discard = true;  // discard_allowed(): read on the loop thread, set between run_syncs

// The open timerfds of this process.
std::set<int> timerfds() {
  std::set<int> fds;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    char link[64] = {};
    if (::readlink(e.path().c_str(), link, sizeof link - 1) > 0 && std::string_view(link) == "anon_inode:[timerfd]")
      fds.insert(std::stoi(e.path().filename()));
  }
  return fds;
}

Fixture& fixture() {
  static Fixture* f = [] {
    log::set_level(log::Level::error);  // guest errors are expected by the thousand
    auto* fx = new Fixture{};
    void* p = ::mmap(nullptr, kRegionSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* s = ::mmap(nullptr, kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || s == MAP_FAILED) std::abort();
    fx->private_region = static_cast<uint8_t*>(p);
    fx->shared_region = static_cast<uint8_t*>(s);
    auto discard = [] { return g_discard; };
    const std::set<int> before = timerfds();
    auto a = VirtioBalloon::create({.ram_bytes = kGuestRam, .deflate_on_oom = true, .stats_period_s = 1,
                                    .shared_memory = false, .discard_allowed = discard});
    // Model A's timerfd (the one create() opened), so that a period can end when the input says.
    for (int fd : timerfds())
      if (!before.contains(fd)) fx->stats_timer = fd;
    if (fx->stats_timer < 0) std::abort();
    auto b = VirtioBalloon::create({.ram_bytes = kGuestRam, .deflate_on_oom = false, .stats_period_s = 0,
                                    .shared_memory = true, .discard_allowed = discard});
    auto l = virtio::EventLoop::create("fuzz-balloon");
    if (!a || !b || !l) std::abort();
    fx->models[0] = *a;
    fx->models[1] = *b;
    fx->loop = std::move(*l);
    return fx;
  }();
  return *f;
}

// Ends model A's statistics period now, as its 1 s timer would, and waits (bounded) until the loop
// thread has taken the expiration and run the callback (which returns the statistics buffer).
void fire_stats_timer(Fixture& f) {
  itimerspec now{};
  now.it_value.tv_nsec = 1;
  ::timerfd_settime(f.stats_timer, 0, &now, nullptr);
  pollfd p{f.stats_timer, POLLIN, 0};
  for (int i = 0; i < 100000; ++i) {
    itimerspec left{};
    ::timerfd_gettime(f.stats_timer, &left);
    bool expired = left.it_value.tv_sec == 0 && left.it_value.tv_nsec == 0;
    if (expired && ::poll(&p, 1, 0) == 0) break;  // expired, and the callback read it
  }
  f.loop->run_sync([] {});  // and has returned
}

// Guest RAM: the FakeRam and the two mmap'd regions; everything else is a hole.
class BalloonRam : public virtio::GuestRam {
 public:
  BalloonRam(const FakeRam& fake, uint8_t* priv, uint8_t* shared) : fake_(fake), priv_(priv), shared_(shared) {}
  Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const override {
    for (auto [at, host] : {std::pair{kPrivate, priv_}, std::pair{kShared, shared_}}) {
      if (gpa >= at && gpa - at <= kRegionSize && len <= kRegionSize - (gpa - at))
        return std::span<uint8_t>(host + (gpa - at), len);
    }
    return fake_.slice(gpa, len);
  }

 private:
  const FakeRam& fake_;
  uint8_t* priv_;
  uint8_t* shared_;
};

struct DriverRing {
  Ring ring;
  uint16_t next_desc = 0, published = 0;
  std::array<bool, kQueueSize> is_head{};
  DriverRing(FakeRam& ram, uint64_t at) : ring(ram, at, kQueueSize) {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  VirtioBalloon& b = *f.models[flags & 1];
  const bool indirect = flags & 2, event_idx = flags & 4;
  g_discard = !(flags & 0x20);

  FakeRam fake(kBase, kRamSize);
  BalloonRam ram(fake, f.private_region, f.shared_region);
  std::vector<std::unique_ptr<DriverRing>> rings;
  std::vector<std::unique_ptr<virtio::Virtqueue>> vqs;
  for (unsigned q = 0; q < 3; ++q) {
    rings.push_back(std::make_unique<DriverRing>(fake, kBase + 0x1000ull * q));
    vqs.push_back(std::make_unique<virtio::Virtqueue>(ram, q));
  }
  uint64_t features = virtio::kFVersion1 | (indirect ? virtio::kFIndirectDesc : 0) | (event_idx ? virtio::kFEventIdx : 0);
  if (flags & 8) features |= VirtioBalloon::kFStatsVq;
  if (flags & 0x10) features |= VirtioBalloon::kFDeflateOnOom;
  features &= b.device_features() | virtio::kFVersion1;

  bool stats_active = false;  // the model watches its statistics timer
  auto activate = [&] {
    std::vector<virtio::Virtqueue*> queues;
    for (unsigned q = 0; q < 3; ++q) {
      bool off = (q == 2 && (flags & 0x40)) || (q == 1 && (flags & 0x80));
      bool on = !off && vqs[q]->configure(rings[q]->ring.layout, indirect, event_idx);
      queues.push_back(on ? vqs[q].get() : nullptr);
    }
    // A driver without the stats queue enables only the first two (5.5.2).
    if (!(features & VirtioBalloon::kFStatsVq)) queues.resize(2);
    stats_active = queues.size() > 2 && queues[2] != nullptr;
    virtio::Activation act{ram, features, queues, *f.loop, [] {}, nullptr};
    f.loop->run_sync([&] {
      if (!b.activate(act)) std::abort();
    });
  };
  activate();

  uint64_t next_buf = kData;
  auto buffer = [&](uint32_t len) {
    uint64_t at = next_buf;
    next_buf += len;
    return at;
  };
  const uint64_t released0 = b.pages_released(), rejected0 = b.pfns_rejected();
  uint64_t pfns = 0, pfns_in_ram = 0;
  uint32_t buffer_bytes = 0;

  for (unsigned ops = 0; !in.empty() && ops < 64; ++ops) {
    const uint8_t op = in.take<uint8_t>();
    switch (op & 7) {
      case 0:
      case 1:
      case 2: {  // inflate (0), deflate (1), stats (2) chain
        const unsigned q = op & 7;
        DriverRing& r = *rings[q];
        unsigned n = 1 + in.take<uint8_t>() % 4;
        if (r.next_desc + n > kQueueSize) break;
        const uint16_t head = r.next_desc;
        std::vector<uint8_t> readable;  // the chain's readable bytes, as the device will see them
        for (unsigned i = 0; i < n; ++i) {
          uint32_t len = in.take<uint16_t>() % (q == 2 ? 700 : 4100);
          bool writable = in.take<uint8_t>() & 1;
          if (buffer_bytes + len > kBufferBudget) len = 0;
          buffer_bytes += len;
          uint64_t at = buffer(len);
          if (q < 2) {
            // PFNs: start + i * stride in the region picked; the length need not be a multiple of 4.
            uint8_t where = in.take<uint8_t>();
            uint32_t start = in.take<uint16_t>(), stride = in.take<uint8_t>() % 4;
            uint32_t base;
            switch (where % 6) {
              case 0: base = kPrivate / 4096 + start % 72; break;  // and a few past the region
              case 1: base = kShared / 4096 + start % 72; break;
              case 2: base = kBase / 4096 + start % 72; break;     // the FakeRam (pages not madvisable)
              case 3: base = kHole / 4096 + start; break;
              case 4: base = UINT32_MAX - start % 8; break;
              default: base = start | uint32_t{where} << 24; break;
            }
            for (uint32_t e = 0; e < len / 4; ++e) fake.put<uint32_t>(at + 4 * e, base + e * stride);
            for (uint32_t e = len / 4 * 4; e < len; ++e) fake.put<uint8_t>(at + e, static_cast<uint8_t>(start >> 8));
            if (!writable) readable.insert(readable.end(), fake.at(at), fake.at(at) + len);
          }
          r.ring.desc(r.next_desc, at, len, static_cast<uint16_t>((i + 1 < n ? kNext : 0) | (writable ? kWrite : 0)),
                      static_cast<uint16_t>(r.next_desc + 1));
          ++r.next_desc;
        }
        if (q == 0) {
          // What the device may release: every whole le32 of the readable bytes (entries may
          // straddle descriptors). Buffers never wrap (kBufferBudget), so these stay as written.
          for (size_t e = 0; e + 4 <= readable.size(); e += 4) {
            uint32_t pfn;
            std::memcpy(&pfn, readable.data() + e, 4);
            ++pfns;
            if (ram.slice(uint64_t{pfn} << 12, 4096)) ++pfns_in_ram;
          }
        }
        if (q == 2) {
          // struct virtio_balloon_stat entries (le16 tag, le64 val, packed) over the first descriptor.
          uint8_t tag = in.take<uint8_t>();
          uint64_t at = fake.get<uint64_t>(r.ring.layout.desc + 16u * head);
          uint32_t len = fake.get<uint32_t>(r.ring.layout.desc + 16u * head + 8);
          for (uint32_t e = 0; 10 * e + 10 <= len; ++e) {
            fake.put<uint16_t>(at + 10 * e, static_cast<uint16_t>(tag < 0xf0 ? (tag + e) % 12 : tag << 8 | e));
            fake.put<uint64_t>(at + 10 * e + 2, 0x0101010101010101ull * e);
          }
        }
        r.is_head[head] = true;
        r.ring.publish(head);
        ++r.published;
        break;
      }
      case 3: {
        unsigned q = in.take<uint8_t>() % 5;
        f.loop->run_sync([&] { b.queue_notified(q); });
        break;
      }
      case 4: {  // config write: `actual` as the Linux driver writes it, and anything else
        uint32_t off = in.take<uint8_t>() % 12;
        size_t sz = 1 + in.take<uint8_t>() % 8;
        uint8_t v[8] = {};
        uint32_t value = in.take<uint32_t>();
        std::memcpy(v, &value, 4);
        b.write_config(off, std::span<const uint8_t>(v, sz));
        break;
      }
      case 5: {
        uint32_t off = in.take<uint8_t>() % 12;
        size_t sz = 1 + in.take<uint8_t>() % 8;
        uint8_t v[8];
        b.read_config(off, std::span<uint8_t>(v, sz));
        break;
      }
      case 6: {
        if (op & 8) {  // model A's statistics period ends now (its timer fires)
          if (&b == f.models[0].get() && stats_active) fire_stats_timer(f);
          break;
        }
        // The host (QMP balloon, query-balloon).
        b.set_target(uint64_t{in.take<uint16_t>()} * 4096);
        if (b.target_bytes() > kGuestRam || b.actual_bytes() > kGuestRam) __builtin_trap();
        (void)b.stats();
        break;
      }
      default: {  // reset with whatever the device holds, then the driver starts over
        f.loop->run_sync([&] { b.reset(); });
        if (b.actual_bytes() != kGuestRam) __builtin_trap();  // a reset driver holds no pages
        for (auto& r : rings) {
          r->ring.avail_idx = 0;
          fake.put<uint16_t>(r->ring.layout.avail + 2, 0);
          fake.put<uint16_t>(r->ring.layout.used + 2, 0);
          r->next_desc = r->published = 0;
          r->is_head.fill(false);
        }
        activate();
      }
    }
  }
  f.loop->run_sync([&] {
    for (unsigned q = 0; q < 3; ++q) b.queue_notified(q);
    b.reset();
  });
  uint64_t released = b.pages_released() - released0, rejected = b.pfns_rejected() - rejected0;
  if (released + rejected > pfns || released > pfns_in_ram) __builtin_trap();
  if (!g_discard && released != 0) __builtin_trap();
  for (auto& r : rings) {
    uint16_t used = r->ring.used_idx();
    if (used > r->published) __builtin_trap();
    for (uint16_t i = 0; i < used; ++i) {
      uint32_t id = r->ring.used_id(i);
      if (id >= kQueueSize || !r->is_head[id] || r->ring.used_len(i) != 0) __builtin_trap();
    }
  }
  return 0;
}
