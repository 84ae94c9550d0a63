// Fuzz target: the virtio entropy device (src/devices/virtio_rng): request chains of any lengths and
// readable/writable mix (a chain with no writable byte, zero-length descriptors, a writable part
// before a readable one), kicks, the rate limit (a spent budget arms the timer, which serves the
// ring when the window ends), a source with nothing to give (the fd is watched and serves the ring
// when bytes arrive), a regular file read to its end and started again, and reset with requests
// waiting (on the timer or on the source), as the device's EventLoop runs them.
//
// Four models: a 100-byte regular file, unlimited or at most 96 bytes per 1 ms window; a FIFO whose
// other end the harness writes, unlimited or at most 64 bytes per 1 ms window.
//
// Input: [flags u8: bits 0-1 the model, bit 2 INDIRECT_DESC, bit 3 EVENT_IDX, bit 4 the queue not
// enabled] then per op: op u8 ...:
//   0 chain: [descriptors-1 u8][per descriptor: len u16, writable u8]
//   1 kick (op bit 3: a queue the device does not have)
//   2 host: bytes into the FIFO [count u8] (x 8)
//   3 wait about 1.2 ms, so a rate limit window ends and its timer fires (twice per input at most)
//   4 reset with what is waiting, then the driver starts over and activates again
//   5 config read / write [offset u8][size u8] (there is no configuration: zeros, writes ignored)
// Up to 64 ops, at most 64 descriptors on the 64-entry ring. At the end the queue is kicked, the
// device reset, the FIFO drained; then each used entry must be a published head once, with no more
// bytes than its writable buffers, and a rate-limited model must have kept to its budget.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "altovirt/base/log.h"
#include "altovirt/devices/virtio_rng.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/virtqueue.h"
#include "fake_guest.h"
#include "fuzz_input.h"

using namespace altovirt;
using devices::VirtioRng;
using virtio::testing::FakeRam;
using virtio::testing::kNext;
using virtio::testing::kWrite;
using virtio::testing::Ring;

namespace {

constexpr uint64_t kBase = 0x100000;
constexpr size_t kRamSize = 256 * 1024;
constexpr uint64_t kData = kBase + 0x1000;
constexpr uint16_t kQueueSize = 64;
constexpr auto kPeriod = std::chrono::milliseconds(1);

struct Model {
  std::shared_ptr<VirtioRng> rng;
  uint64_t max_bytes;
};

struct Fixture {
  Model models[4];
  std::unique_ptr<virtio::EventLoop> loop;
  int fifo_in = -1;   // the harness writes entropy here
  int fifo_out = -1;  // and drains what the device left
};

Fixture& fixture() {
  static Fixture* f = [] {
    log::set_level(log::Level::error);  // guest errors are expected by the thousand
    auto* fx = new Fixture{};
    char dir[] = "/tmp/altovirt-fuzz-rng-XXXXXX";
    if (!::mkdtemp(dir)) std::abort();
    std::string file = std::string(dir) + "/entropy", fifo = std::string(dir) + "/fifo";
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    std::array<uint8_t, 100> bytes;
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 37 + 11);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) std::abort();
    ::close(fd);
    if (::mkfifo(fifo.c_str(), 0600) != 0) std::abort();
    const uint64_t limits[4] = {0, 96, 0, 64};
    for (unsigned i = 0; i < 4; ++i) {
      auto r = VirtioRng::open(i < 2 ? file : fifo, {.max_bytes = limits[i], .period = kPeriod});
      if (!r) std::abort();
      fx->models[i] = {*r, limits[i]};
    }
    // The FIFO's writer (opened once the devices hold the read side) and a reader for draining.
    fx->fifo_in = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    fx->fifo_out = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fx->fifo_in < 0 || fx->fifo_out < 0) std::abort();
    ::unlink(file.c_str());  // the open fds keep them
    ::unlink(fifo.c_str());
    ::rmdir(dir);
    auto l = virtio::EventLoop::create("fuzz-rng");
    if (!l) std::abort();
    fx->loop = std::move(*l);
    return fx;
  }();
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  Model& m = f.models[flags & 3];
  VirtioRng& rng = *m.rng;
  const bool indirect = flags & 4, event_idx = flags & 8, enabled = !(flags & 16);

  FakeRam ram(kBase, kRamSize);
  Ring ring(ram, kBase, kQueueSize);
  virtio::Virtqueue vq(ram, 0);
  uint16_t next_desc = 0, published = 0;
  std::array<int64_t, kQueueSize> writable;  // by head; -1: not a published head
  writable.fill(-1);

  auto activate = [&] {
    bool on = enabled && vq.configure(ring.layout, indirect, event_idx);
    virtio::Activation act{ram, virtio::kFVersion1, {on ? &vq : nullptr}, *f.loop, [] {}, nullptr};
    f.loop->run_sync([&] {
      if (!rng.activate(act)) std::abort();
    });
  };
  activate();
  const uint64_t delivered0 = rng.delivered();
  const auto start = std::chrono::steady_clock::now();

  uint64_t next_buf = kData;
  unsigned waits = 0;
  for (unsigned ops = 0; !in.empty() && ops < 64; ++ops) {
    const uint8_t op = in.take<uint8_t>();
    switch (op & 7) {
      case 0: {
        unsigned n = 1 + in.take<uint8_t>() % 4;
        if (next_desc + n > kQueueSize) break;
        const uint16_t head = next_desc;
        int64_t w = 0;
        for (unsigned i = 0; i < n; ++i) {
          uint32_t len = in.take<uint16_t>();
          uint8_t wsel = in.take<uint8_t>();
          len = (wsel & 0x80) ? len : len % 300;
          if (next_buf + len > kBase + kRamSize) next_buf = kData;
          bool wr = !(wsel & 1);  // mostly writable, as the driver's
          ring.desc(next_desc, next_buf, len, static_cast<uint16_t>((i + 1 < n ? kNext : 0) | (wr ? kWrite : 0)),
                    static_cast<uint16_t>(next_desc + 1));
          next_buf += len;
          if (wr) w += len;
          ++next_desc;
        }
        writable[head] = w;
        ring.publish(head);
        ++published;
        break;
      }
      case 1:
        f.loop->run_sync([&] { rng.queue_notified(op & 8 ? 1 : 0); });
        break;
      case 2: {
        std::vector<uint8_t> bytes(in.take<uint8_t>() * 8u, 0xa5);
        (void)!::write(f.fifo_in, bytes.data(), bytes.size());
        break;
      }
      case 3:
        if (waits++ < 2) std::this_thread::sleep_for(std::chrono::microseconds(1200));
        break;
      case 4:
        f.loop->run_sync([&] { rng.reset(); });
        ring.avail_idx = 0;
        ram.put<uint16_t>(ring.layout.avail + 2, 0);
        ram.put<uint16_t>(ring.layout.used + 2, 0);
        next_desc = published = 0;
        writable.fill(-1);
        activate();
        break;
      default: {
        uint32_t off = in.take<uint8_t>();
        size_t sz = 1 + in.take<uint8_t>() % 8;
        uint8_t b[8] = {};
        if (op & 8) rng.write_config(off, std::span<const uint8_t>(b, sz));
        else rng.read_config(off, std::span<uint8_t>(b, sz));
      }
    }
  }
  f.loop->run_sync([&] {
    rng.queue_notified(0);
    rng.reset();
  });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  uint8_t drain[4096];
  while (::read(f.fifo_out, drain, sizeof drain) > 0) {
  }

  uint16_t used = ring.used_idx();
  if (used > published) __builtin_trap();
  std::array<bool, kQueueSize> seen{};
  for (uint16_t i = 0; i < used; ++i) {
    uint32_t id = ring.used_id(i), len = ring.used_len(i);
    if (id >= kQueueSize || writable[id] < 0 || seen[id] || len > writable[id]) __builtin_trap();
    seen[id] = true;
  }
  // A window opens at most every period (the one left from the last input included).
  if (m.max_bytes) {
    uint64_t windows = static_cast<uint64_t>(elapsed / kPeriod) + 2;
    if (rng.delivered() - delivered0 > m.max_bytes * windows) __builtin_trap();
  }
  return 0;
}
