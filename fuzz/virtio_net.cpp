// Fuzz target: the virtio-net device model's own data path (src/devices/virtio_net/net_device.cpp,
// no vhost): transmit chains (virtio_net_hdr_v1 + frame, any lengths, readable/writable order,
// header flags and GSO types negotiated or not), receive buffers filled from the backend (one chain
// or MRG_RXBUF merges, buffers shorter than the header), and the control queue of a multiqueue
// device (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET with any count, any other class/command, with and
// without a writable ack byte), as the device's EventLoop runs them. The backend is a
// SOCK_SEQPACKET socketpair per queue pair (one frame per read/write, as a tap with IFF_VNET_HDR;
// the unit tests' FakeBackend) offering every offload, so no root and no /dev/net/tun; the harness
// writes host frames into its end, so the receive path runs too, both from the fd callback and from
// rx kicks.
//
// Input: [flags u8: bit 0 the 2-pair model (else 1 pair), bit 1 INDIRECT_DESC, bit 2 EVENT_IDX]
// [disabled queues u8: bit q leaves queue q not enabled][negotiated u32: mask over the offered
// features] then per op: op u8 ...:
//   0 tx chain on pair op>>3&1: [flags u8][gso u8][descriptors-1 u8][per descriptor: len u16, sel u8:
//     bit 0 writable, bit 7 long (up to 70000 bytes, else < 1600)]; the header goes at its start
//   1 rx chain on pair op>>3&1: [descriptors-1 u8][per descriptor: len u16, sel u8: bit 0 read-only,
//     bit 7 long (< 66000, else < 2048)]
//   2 control chain: [class u8][command u8][value u16][data len u8][ack len u8: 0 none][ack first u8]
//   3 kick queue [u8 % (queues + 2)]
//   4 host frame to pair op>>3&1: [len u16][fill u8]
//   5 config read/write: [offset u8][size u8]
//   6 idle check (once per input): with nothing left to do, the loop thread must not spin (after 1 ms
//     of settling, its CPU time may not exceed 90% of three 2 ms windows in a row)
//   7 reset and activate again (rings and queues reconfigured as a driver does after a reset)
// Up to 64 ops; each ring (64 entries) takes at most 64 descriptors; at most 32 host frames.
// At the end every queue is kicked, the device is reset, both socket ends are drained, and the
// used rings are checked: transmit and control entries are known heads, receive lengths fit the
// chain's writable bytes.
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "altovirt/base/fd.h"
#include "altovirt/base/log.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/virtqueue.h"
#include "altovirt/virtio_net/net_device.h"
#include "altovirt/virtio_net/uapi.h"
#include "fake_guest.h"
#include "fuzz_input.h"

using namespace altovirt;
using virtio::testing::FakeRam;
using virtio::testing::kNext;
using virtio::testing::kWrite;
using virtio::testing::Ring;
using virtio_net::VirtioNet;

namespace {

constexpr uint64_t kBase = 0x100000;
constexpr size_t kRamSize = 512 * 1024;
constexpr uint64_t kData = kBase + 0x8000;  // buffers start here; rings below, one page each
constexpr uint16_t kQueueSize = 64;
constexpr uint64_t bit(unsigned b) { return 1ull << b; }

// The unit tests' backend: one socketpair per queue pair, the device's end and the host's.
class FakeBackend : public virtio_net::NetBackend {
 public:
  explicit FakeBackend(unsigned pairs) {
    for (unsigned p = 0; p < pairs; ++p) {
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
      device_.emplace_back(sv[0]);
      peer_.emplace_back(sv[1]);
    }
  }
  unsigned queue_pairs() const override { return static_cast<unsigned>(device_.size()); }
  int fd(unsigned pair) const override { return device_[pair].get(); }
  uint64_t offload_features() const override {
    return bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4) |
           bit(VIRTIO_NET_F_GUEST_TSO6) | bit(VIRTIO_NET_F_GUEST_ECN) | bit(VIRTIO_NET_F_GUEST_UFO) |
           bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO6) | bit(VIRTIO_NET_F_HOST_ECN) |
           bit(VIRTIO_NET_F_HOST_UFO);
  }
  Status set_offloads(uint64_t) override { return ok(); }
  Status set_active_pairs(unsigned) override { return ok(); }
  std::string name() const override { return "fuzz0"; }
  int peer(unsigned pair) const { return peer_[pair].get(); }

 private:
  std::vector<UniqueFd> device_, peer_;
};

struct Model {
  std::shared_ptr<VirtioNet> net;
  FakeBackend* backend;
};

struct Fixture {
  Model models[2];  // 1 queue pair; 2 queue pairs with the control queue
  std::unique_ptr<virtio::EventLoop> loop;
};

Fixture& fixture() {
  static Fixture* f = [] {
    log::set_level(log::Level::error);  // guest errors are expected by the thousand
    auto l = virtio::EventLoop::create("fuzz-net");
    if (!l) std::abort();
    auto* fx = new Fixture{};
    for (unsigned i = 0; i < 2; ++i) {
      auto b = std::make_unique<FakeBackend>(i + 1);
      FakeBackend* raw = b.get();
      fx->models[i] = {std::make_shared<VirtioNet>(virtio_net::MacAddress{0x52, 0x54, 0, 0x12, 0x34, 0x56}, std::move(b),
                                                   nullptr),
                       raw};
    }
    fx->loop = std::move(*l);
    return fx;
  }();
  return *f;
}

void drain(int fd) {
  static uint8_t buf[70000];
  while (::read(fd, buf, sizeof buf) >= 0) {
  }
}

// CPU time of the calling thread, in ns.
int64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1'000'000'000ll + ts.tv_nsec;
}

// One ring as the driver keeps it: descriptors handed out, and each published head's writable bytes.
struct DriverRing {
  Ring ring;
  uint16_t next_desc = 0;
  uint16_t published = 0;
  std::array<int64_t, kQueueSize> writable{};  // by head; -1: never published
  DriverRing(FakeRam& ram, uint64_t at) : ring(ram, at, kQueueSize) { writable.fill(-1); }
  bool room(unsigned n) const { return next_desc + n <= kQueueSize; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  const uint8_t disabled = in.take<uint8_t>();
  const uint32_t mask = in.take<uint32_t>();
  Model& m = f.models[flags & 1];
  VirtioNet& net = *m.net;
  const unsigned nq = net.num_queues();
  const unsigned pairs = m.backend->queue_pairs();
  const bool indirect = flags & 2, event_idx = flags & 4;

  FakeRam ram(kBase, kRamSize);
  std::vector<std::unique_ptr<DriverRing>> rings;
  std::vector<std::unique_ptr<virtio::Virtqueue>> vqs;
  for (unsigned q = 0; q < nq; ++q) {
    rings.push_back(std::make_unique<DriverRing>(ram, kBase + 0x1000ull * q));
    vqs.push_back(std::make_unique<virtio::Virtqueue>(ram, q));
  }
  const uint64_t features = (net.device_features() & (mask | ~uint64_t{0xffffffff})) | virtio::kFVersion1;

  auto activate = [&] {
    std::vector<virtio::Virtqueue*> queues;
    for (unsigned q = 0; q < nq; ++q) {
      bool on = !(disabled & (1u << q)) && vqs[q]->configure(rings[q]->ring.layout, indirect, event_idx);
      queues.push_back(on ? vqs[q].get() : nullptr);
    }
    virtio::Activation act{ram, features, queues, *f.loop, [] {}, nullptr};
    f.loop->run_sync([&] {
      if (!net.activate(act)) std::abort();
    });
  };
  activate();

  uint64_t next_buf = kData;
  auto buffer = [&](uint32_t len) {
    if (next_buf + len > kBase + kRamSize) next_buf = kData;
    uint64_t at = next_buf;
    next_buf += len;
    return at;
  };
  // A chain of n descriptors on ring q, each (length, writable) as describe(i) says; none when the ring is full.
  auto add_chain = [&](unsigned q, unsigned n, auto&& describe) {
    DriverRing& r = *rings[q];
    if (!r.room(n)) return;
    const uint16_t head = r.next_desc;
    int64_t writable = 0;
    for (unsigned i = 0; i < n; ++i) {
      auto [len, w] = describe(i);
      uint64_t at = buffer(len);
      bool last = i + 1 == n;
      r.ring.desc(r.next_desc, at, len, static_cast<uint16_t>((last ? 0 : kNext) | (w ? kWrite : 0)),
                  static_cast<uint16_t>(r.next_desc + 1));
      if (w) writable += len;
      ++r.next_desc;
    }
    r.writable[head] = writable;
    r.ring.publish(head);
    ++r.published;
  };
  auto desc_addr = [&](unsigned q, uint16_t d) { return ram.get<uint64_t>(rings[q]->ring.layout.desc + 16u * d); };

  unsigned host_frames = 0;
  bool idle_checked = false;
  for (unsigned ops = 0; !in.empty() && ops < 64; ++ops) {
    const uint8_t op = in.take<uint8_t>();
    const unsigned pair = (op >> 3) & 1 ? pairs - 1 : 0;
    switch (op & 7) {
      case 0: {  // transmit chain: header then frame
        uint8_t hflags = in.take<uint8_t>(), gso = in.take<uint8_t>();
        unsigned n = 1 + in.take<uint8_t>() % 4;
        const unsigned q = 2 * pair + 1;
        const uint16_t first = rings[q]->next_desc;
        bool ok_room = rings[q]->room(n);
        add_chain(q, n, [&](unsigned) {
          uint32_t len = in.take<uint16_t>();
          uint8_t wsel = in.take<uint8_t>();
          if (wsel & 0x80) len = len * 2 % 70000;  // around kMaxFrame, in up to 4 pieces
          else len %= 1600;
          return std::pair<uint32_t, bool>{len, wsel & 1};
        });
        if (ok_room) {
          // The header at the start of the first descriptor (it may be shorter, then the next one holds the rest).
          uint64_t at = desc_addr(q, first);
          uint32_t len = ram.get<uint32_t>(rings[q]->ring.layout.desc + 16u * first + 8);
          uint8_t hdr[VirtioNet::kHeaderSize] = {hflags, gso, 14, 0, 0x5a, 0x05, 34, 0, 16, 0, 0, 0};
          for (uint32_t i = 0; i < std::min<uint32_t>(len, sizeof hdr); ++i) ram.put<uint8_t>(at + i, hdr[i]);
        }
        break;
      }
      case 1: {  // receive buffers
        unsigned n = 1 + in.take<uint8_t>() % 4;
        add_chain(2 * pair, n, [&](unsigned) {
          uint32_t len = in.take<uint16_t>();
          uint8_t wsel = in.take<uint8_t>();
          len = (wsel & 0x80) ? len % 66000 : len % 2048;
          return std::pair<uint32_t, bool>{len, !(wsel & 1)};  // mostly writable
        });
        break;
      }
      case 2: {  // control command
        uint8_t cls = in.take<uint8_t>(), cmd = in.take<uint8_t>();
        uint16_t value = in.take<uint16_t>();
        uint32_t data_len = in.take<uint8_t>() % 12;
        uint32_t ack_len = in.take<uint8_t>() % 4;
        bool ack_first = in.take<uint8_t>() == 0xff;
        if (pairs < 2) break;
        const unsigned q = 2 * pairs;
        const uint16_t first = rings[q]->next_desc;
        unsigned n = (ack_len ? 2 : 1);
        bool ok_room = rings[q]->room(n);
        add_chain(q, n, [&](unsigned i) {
          bool ack = (i == 1) != ack_first;
          return std::pair<uint32_t, bool>{ack ? ack_len : 2 + data_len, ack && ack_len};
        });
        if (ok_room && !ack_first) {
          uint64_t at = desc_addr(q, first);
          uint8_t cmdbytes[4] = {cls, cmd, static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8)};
          for (uint32_t i = 0; i < std::min<uint32_t>(2 + data_len, 4); ++i) ram.put<uint8_t>(at + i, cmdbytes[i]);
        }
        break;
      }
      case 3: {  // kick, sometimes a queue the device does not have
        unsigned q = in.take<uint8_t>() % (nq + 2);
        f.loop->run_sync([&] { net.queue_notified(q); });
        break;
      }
      case 4: {  // a frame from the host side
        uint32_t len = in.take<uint16_t>() % 2100;
        uint8_t fill = in.take<uint8_t>();
        if (host_frames >= 32) break;
        ++host_frames;
        std::vector<uint8_t> frame(len, fill);
        if (len >= 2) frame[1] = 0;  // a plain header most of the time
        (void)!::write(m.backend->peer(pair), frame.data(), frame.size());
        break;
      }
      case 5: {  // config space: read-only for the driver (write_config is ignored)
        uint32_t off = in.take<uint8_t>() % 16;
        size_t sz = 1 + in.take<uint8_t>() % 8;
        uint8_t b[8] = {};
        if (op & 8) net.write_config(off, std::span<const uint8_t>(b, sz));
        else net.read_config(off, std::span<uint8_t>(b, sz));
        break;
      }
      case 6: {  // nothing to do: the loop thread must sleep, not spin on an fd it does not serve
        if (idle_checked) break;
        idle_checked = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // what is pending gets done
        // A spinning loop burns (nearly) all of every window; legitimate work left over (a burst of
        // frames, sanitizer overhead on a loaded machine) does not fill three in a row. One window
        // of a third of the wall time made CI fail once on a loaded machine with no spin.
        bool spinning = true;
        int64_t cpu = 0, wall = 0;
        for (int w = 0; w < 3 && spinning; ++w) {
          int64_t cpu0 = 0, cpu1 = 0;
          f.loop->run_sync([&] { cpu0 = thread_cpu_ns(); });
          auto t0 = std::chrono::steady_clock::now();
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          f.loop->run_sync([&] { cpu1 = thread_cpu_ns(); });
          wall = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
          cpu = cpu1 - cpu0;
          spinning = cpu * 10 > wall * 9;
        }
        if (spinning) {
          std::fprintf(stderr, "virtio_net fuzz: the event loop spins: %lld ns of CPU in %lld ns, three times, with nothing to do\n",
                       static_cast<long long>(cpu), static_cast<long long>(wall));
          __builtin_trap();
        }
        break;
      }
      default: {  // reset, then the driver sets the rings up again and drives DRIVER_OK
        f.loop->run_sync([&] { net.reset(); });
        for (unsigned q = 0; q < nq; ++q) {
          DriverRing& r = *rings[q];
          r.ring.avail_idx = 0;
          ram.put<uint16_t>(r.ring.layout.avail + 2, 0);
          ram.put<uint16_t>(r.ring.layout.used + 2, 0);
          r.next_desc = r.published = 0;
          r.writable.fill(-1);
        }
        activate();
      }
    }
  }
  f.loop->run_sync([&] {
    for (unsigned q = 0; q < nq; ++q) net.queue_notified(q);
    net.reset();
  });
  for (unsigned p = 0; p < pairs; ++p) {
    drain(m.backend->peer(p));  // what the guest transmitted
    drain(m.backend->fd(p));    // host frames the guest had no buffers for
  }
  // Used entries: at most one per published chain, known heads; receive lengths within the buffers.
  for (unsigned q = 0; q < nq; ++q) {
    DriverRing& r = *rings[q];
    uint16_t used = r.ring.used_idx();
    if (used > r.published) __builtin_trap();
    for (uint16_t i = 0; i < used; ++i) {
      uint32_t id = r.ring.used_id(i), len = r.ring.used_len(i);
      if (id >= kQueueSize || r.writable[id] < 0) __builtin_trap();
      if (len > r.writable[id]) __builtin_trap();
      if (q % 2 == 1 && q < 2 * pairs && len != 0) __builtin_trap();  // nothing is written into a tx buffer
    }
  }
  return 0;
}
