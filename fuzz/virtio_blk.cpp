// Fuzz target: virtio-blk request parsing (src/devices/virtio_blk/block_device.cpp) behind a real
// split virtqueue, on a real 64 KiB raw image and the worker-thread I/O engine, as the device's
// EventLoop runs it. The guest controls every request: the header (type, sector), how the chain
// splits into readable/writable buffers, their lengths, the status byte's place, the segments of
// discard/write-zeroes.
//
// Input: [features u8][then per request: type u8, sector u16, segment count u8, per segment
// (len u16, writable bit u8), discard/write-zeroes segment (sector u16, count u16, flags u8)]...
// Requests go on a 64-entry ring in a 1 MiB fake RAM; the device is activated, kicked, runs until
// nothing is in flight (bounded), and is reset (which must drain whatever is left).
#include <linux/virtio_blk.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "altovirt/base/log.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/virtqueue.h"
#include "altovirt/virtio_blk/block_device.h"
#include "fake_guest.h"
#include "fuzz_input.h"

using namespace altovirt;
using virtio::testing::FakeRam;
using virtio::testing::kNext;
using virtio::testing::kWrite;
using virtio::testing::Ring;

namespace {

constexpr uint64_t kBase = 0x100000;
constexpr size_t kRamSize = 1 << 20;
constexpr uint64_t kData = kBase + 0x10000;  // buffers start here
constexpr uint16_t kQueueSize = 64;

struct Fixture {
  std::shared_ptr<virtio_blk::BlockDevice> model;
  std::unique_ptr<virtio::EventLoop> loop;
};

Fixture& fixture() {
  static Fixture* f = [] {
    log::set_level(log::Level::error);  // guest errors are expected by the thousand
    char path[] = "/tmp/altovirt-fuzz-blk-XXXXXX";
    int fd = ::mkstemp(path);
    if (fd < 0 || ::ftruncate(fd, 64 * 1024) != 0) std::abort();
    ::close(fd);
    auto image = virtio_blk::Image::open(path, {});
    ::unlink(path);  // the open fd keeps the image
    if (!image) std::abort();
    virtio_blk::BlockOptions o;
    o.serial = "fuzz-serial-0123456789-long";
    o.io_uring = false;  // worker threads: no io_uring limits when many fuzzers run at once
    o.queue_size = kQueueSize;
    auto m = virtio_blk::BlockDevice::create(std::make_unique<virtio_blk::Image>(std::move(*image)), o);
    auto l = virtio::EventLoop::create("fuzz-blk");
    if (!m || !l) std::abort();
    return new Fixture{*m, std::move(*l)};
  }();
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  fuzz::FuzzInput in(data, size);
  const uint8_t features = in.take<uint8_t>();

  FakeRam ram(kBase, kRamSize);
  Ring ring(ram, kBase, kQueueSize);
  uint64_t next_buf = kData;
  uint16_t d = 0;
  unsigned requests = 0;
  while (!in.empty() && requests < kQueueSize && d + 2u < kQueueSize) {
    const uint16_t head = d;
    uint8_t type_pick = in.take<uint8_t>();
    // Mostly real request types, sometimes anything.
    static constexpr uint32_t kTypes[] = {VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID,
                                          VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES};
    uint32_t type = type_pick < 240 ? kTypes[type_pick % 6] : type_pick;
    uint64_t sector = in.take<uint16_t>();
    if (sector > 0xff00) sector = ~uint64_t{0} - (sector & 0xff);  // near the top: overflow checks
    uint64_t hdr = next_buf;
    next_buf += 16;
    ram.put<uint32_t>(hdr, type);
    ram.put<uint32_t>(hdr + 4, 0);
    ram.put<uint64_t>(hdr + 8, sector);
    uint8_t segs = in.take<uint8_t>() % 6;
    uint32_t hdr_len = segs == 5 ? 8 : 16;  // sometimes a short header
    ring.desc(d, hdr, hdr_len, kNext, static_cast<uint16_t>(d + 1));
    ++d;
    for (unsigned s = 0; s < segs && d + 1u < kQueueSize; ++s) {
      uint32_t len = in.take<uint16_t>() % 4097;
      bool writable = in.take_bool();
      if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) {
        // The segment: sector, count, flags, mostly in range.
        ram.put<uint64_t>(next_buf, in.take<uint16_t>() % 160);
        ram.put<uint32_t>(next_buf + 8, in.take<uint16_t>());
        ram.put<uint32_t>(next_buf + 12, in.take<uint8_t>() & 3);
        if (len % 3 == 0) len = 16;
      }
      if (next_buf + len > kBase + kRamSize) len = 0;
      ring.desc(d, next_buf, len, static_cast<uint16_t>(kNext | (writable ? kWrite : 0)), static_cast<uint16_t>(d + 1));
      next_buf += len;
      ++d;
    }
    // The status byte, normally last and writable.
    bool status_writable = in.take<uint8_t>() != 0xff;
    ring.desc(d, next_buf, 1, status_writable ? kWrite : 0);
    ram.put<uint8_t>(next_buf, 0xee);
    ++next_buf;
    ++d;
    ring.publish(head);
    ++requests;
  }

  uint64_t negotiated = f.model->device_features();
  if (features & 1) negotiated &= ~(1ull << VIRTIO_BLK_F_FLUSH);  // write-through
  virtio::Virtqueue q(ram, 0);
  if (!q.configure(ring.layout, features & 2, features & 4)) return 0;
  virtio::Activation act{ram, negotiated, {&q}, *f.loop, [] {}, nullptr};
  f.loop->run_sync([&] {
    if (!f.model->activate(act)) std::abort();
    f.model->queue_notified(0);
  });
  // Completions come through the loop; wait (bounded) until they are all in.
  for (int i = 0; i < 2000; ++i) {
    size_t busy = 0;
    f.loop->run_sync([&] { busy = f.model->in_flight(); });
    if (busy == 0) break;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  f.loop->run_sync([&] { f.model->reset(); });
  // Every request that completed has its status byte set and is on the used ring once.
  if (ring.used_idx() > requests) __builtin_trap();
  return 0;
}
