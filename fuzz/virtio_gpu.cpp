// Fuzz target: the virtio GPU in 2D mode (src/devices/virtio_gpu): control requests with any command,
// any field values and any chain shape (short requests, no response buffer, attach-backing entry
// lists longer or shorter than announced, entries pointing anywhere), the cursor queue, reset, and
// config accesses. The device is driven as its EventLoop would (one thread), against a display that
// checks every rectangle it is given lies inside the surface it was last resized to.
//
// Input: [flags u8: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC] then per op: op u8 ...:
//   0 control request: [cmd u8 (an index into the 2D commands, or raw)][resource id u8][x u16][y u16]
//     [w u16][h u16][u64 offset/format/etc.][entries u8][per entry: addr-sel u8, len u16][resp len u16]
//   1 raw request: [len u8][bytes][resp len u16]
//   2 kick controlq, 3 kick cursorq (a chain of [len u8] bytes first), 4 reset then activate again,
//   5 config read / write [offset u8][size u8]
// Up to 48 ops on 64-entry rings. At the end: each used entry is a published head once, with no more
// bytes than its writable buffers; the device's host memory stays within its budget.
#include <linux/virtio_gpu.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "altovirt/base/log.h"
#include "altovirt/devices/virtio_gpu.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/virtqueue.h"
#include "fake_guest.h"
#include "fuzz_input.h"

using namespace altovirt;
using virtio::testing::FakeRam;
using virtio::testing::kNext;
using virtio::testing::kWrite;
using virtio::testing::Ring;

namespace {

constexpr uint64_t kBase = 0x100000;
constexpr size_t kRamSize = 512 * 1024;
constexpr uint64_t kData = kBase + 0x4000;   // request and response buffers
constexpr uint64_t kPixels = kBase + 0x40000; // where backing entries point (most of the time)
constexpr uint16_t kQueueSize = 64;
constexpr uint64_t kHostmem = 1 << 20;

// The display checks what the device hands it: every rectangle inside the current surface, and as
// many bytes as the rectangle needs.
struct CheckingDisplay : ui::Display {
  uint32_t width = 0, height = 0;
  void resize(uint32_t w, uint32_t h) override {
    if (w == 0 || h == 0) __builtin_trap();
    width = w;
    height = h;
  }
  void update(const ui::Rect& r, std::span<const uint8_t> px, uint32_t stride) override {
    if (r.width == 0 || r.height == 0) __builtin_trap();
    if (uint64_t{r.x} + r.width > width || uint64_t{r.y} + r.height > height) __builtin_trap();
    if (stride < r.width * 4 || px.size() < uint64_t{r.height - 1} * stride + r.width * 4) __builtin_trap();
    volatile uint8_t sink = px[0] ^ px[px.size() - 1];  // touch both ends (ASan sees a bad span)
    (void)sink;
  }
  void blank() override {}
};

struct Fixture {
  std::unique_ptr<virtio::EventLoop> loop;
};
Fixture& fixture() {
  static Fixture* f = [] {
    log::set_level(log::Level::error);
    auto* fx = new Fixture{};
    auto l = virtio::EventLoop::create("fuzz-gpu");
    if (!l) std::abort();
    fx->loop = std::move(*l);
    return fx;
  }();
  return *f;
}

constexpr uint32_t kCommands[] = {
    VIRTIO_GPU_CMD_GET_DISPLAY_INFO,  VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,     VIRTIO_GPU_CMD_RESOURCE_UNREF,
    VIRTIO_GPU_CMD_SET_SCANOUT,       VIRTIO_GPU_CMD_RESOURCE_FLUSH,         VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
    VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, VIRTIO_GPU_CMD_GET_EDID,
    VIRTIO_GPU_CMD_SUBMIT_3D,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  const bool event_idx = flags & 1, indirect = flags & 2;

  FakeRam ram(kBase, kRamSize);
  Ring control(ram, kBase, kQueueSize), cursor(ram, kBase + 0x2000, kQueueSize);
  virtio::Virtqueue cvq(ram, 0), kvq(ram, 1);
  auto display = std::make_shared<CheckingDisplay>();
  auto gpu = std::make_shared<devices::VirtioGpu>(display, devices::GpuOptions{640, 480, kHostmem});
  std::array<int64_t, kQueueSize> writable;
  writable.fill(-1);
  uint16_t next_desc = 0, published = 0, cursor_next = 0;
  uint64_t next_buf = kData;

  auto activate = [&] {
    if (!cvq.configure(control.layout, indirect, event_idx) || !kvq.configure(cursor.layout, indirect, event_idx))
      std::abort();
    virtio::Activation act{ram, virtio::kFVersion1, {&cvq, &kvq}, *f.loop, [] {}, nullptr};
    if (!gpu->activate(act)) std::abort();
  };
  activate();
  // A buffer of `len` bytes in the data area (wrapping back to its start).
  auto buffer = [&](uint32_t len) {
    if (next_buf + len > kPixels) next_buf = kData;
    uint64_t at = next_buf;
    next_buf += len;
    return at;
  };
  // Publishes [request bytes] + [a response buffer of resp bytes] as one chain.
  auto publish = [&](const std::vector<uint8_t>& req, uint32_t resp) {
    if (next_desc + 2 > kQueueSize) return;
    const uint16_t head = next_desc;
    uint64_t r = buffer(static_cast<uint32_t>(req.size()));
    if (!req.empty()) std::memcpy(ram.at(r), req.data(), req.size());  // an empty vector's data() may be null
    control.desc(next_desc, r, static_cast<uint32_t>(req.size()), resp ? kNext : 0, static_cast<uint16_t>(next_desc + 1));
    ++next_desc;
    if (resp) {
      control.desc(next_desc, buffer(resp), resp, kWrite);
      ++next_desc;
    }
    writable[head] = resp;
    control.publish(head);
    ++published;
  };

  for (unsigned ops = 0; !in.empty() && ops < 48; ++ops) {
    const uint8_t op = in.take<uint8_t>();
    switch (op % 6) {
      case 0: {
        uint8_t sel = in.take<uint8_t>();
        uint32_t type = sel < 0xf0 ? kCommands[sel % std::size(kCommands)] : 0x0100u + (sel & 0x0f) * 0x11;
        uint32_t id = in.take<uint8_t>() % 5;  // a few ids, so that commands meet the same resources
        uint32_t x = in.take<uint16_t>(), y = in.take<uint16_t>(), w = in.take<uint16_t>() % 700, h = in.take<uint16_t>() % 500;
        uint64_t extra = in.take<uint64_t>();
        std::vector<uint8_t> req;
        auto put = [&](const auto& v) {
          auto* p = reinterpret_cast<const uint8_t*>(&v);
          req.insert(req.end(), p, p + sizeof v);
        };
        virtio_gpu_ctrl_hdr hdr{};
        hdr.type = type;
        hdr.flags = (op & 0x40) ? VIRTIO_GPU_FLAG_FENCE : 0;
        hdr.fence_id = extra;
        virtio_gpu_rect r{x % 800, y % 600, w, h};
        switch (type) {
          case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
            put(virtio_gpu_resource_create_2d{hdr, id, static_cast<uint32_t>(extra % 3 == 0 ? 134 : 1 + extra % 4), w, h});
            break;
          case VIRTIO_GPU_CMD_RESOURCE_UNREF:
          case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
            put(virtio_gpu_resource_unref{hdr, id, 0});
            break;
          case VIRTIO_GPU_CMD_SET_SCANOUT:
            put(virtio_gpu_set_scanout{hdr, r, static_cast<uint32_t>(op & 0x80 ? 1 : 0), id});
            break;
          case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
            put(virtio_gpu_resource_flush{hdr, r, id, 0});
            break;
          case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
            put(virtio_gpu_transfer_to_host_2d{hdr, r, extra % 0x100000, id, 0});
            break;
          case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING: {
            uint32_t n = in.take<uint8_t>() % 9;
            uint32_t announce = (op & 0x80) ? n + in.take<uint8_t>() % 3 : n;
            put(virtio_gpu_resource_attach_backing{hdr, id, announce});
            for (uint32_t i = 0; i < n; ++i) {
              uint8_t a = in.take<uint8_t>();
              uint32_t len = in.take<uint16_t>();
              uint64_t addr = a < 200 ? kPixels + a * 0x400ull : (a < 250 ? kBase + kRamSize - 16 : ~0ull - a);
              put(virtio_gpu_mem_entry{addr, len, 0});
            }
            break;
          }
          default:
            put(hdr);
        }
        if (op & 0x20) req.resize(req.size() / 2);  // a request cut short
        publish(req, in.take<uint16_t>() % 600);
        break;
      }
      case 1: {
        auto b = in.take_bytes(in.take<uint8_t>());
        publish(std::vector<uint8_t>(b.begin(), b.end()), in.take<uint16_t>() % 600);
        break;
      }
      case 2:
        gpu->queue_notified(0);
        break;
      case 3: {
        if (cursor_next < kQueueSize) {
          uint32_t len = in.take<uint8_t>();
          cursor.desc(cursor_next, buffer(len), len, 0);
          cursor.publish(cursor_next++);
        }
        gpu->queue_notified(1);
        break;
      }
      case 4:
        gpu->reset();
        control.avail_idx = cursor.avail_idx = 0;
        for (Ring* ring : {&control, &cursor}) {
          ram.put<uint16_t>(ring->layout.avail + 2, 0);
          ram.put<uint16_t>(ring->layout.used + 2, 0);
        }
        next_desc = published = cursor_next = 0;
        writable.fill(-1);
        activate();
        break;
      default: {
        uint32_t off = in.take<uint8_t>();
        size_t sz = 1 + in.take<uint8_t>() % 8;
        uint8_t b[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
        if (op & 8) gpu->write_config(off, std::span<const uint8_t>(b, sz));
        else gpu->read_config(off, std::span<uint8_t>(b, sz));
      }
    }
    if (gpu->hostmem_used() > kHostmem) __builtin_trap();
  }
  gpu->queue_notified(0);

  uint16_t used = control.used_idx();
  if (used > published) __builtin_trap();
  std::array<bool, kQueueSize> seen{};
  for (uint16_t i = 0; i < used; ++i) {
    uint32_t id = control.used_id(i), len = control.used_len(i);
    if (id >= kQueueSize || writable[id] < 0 || seen[id] || len > writable[id]) __builtin_trap();
    seen[id] = true;
  }
  gpu->reset();
  return 0;
}
