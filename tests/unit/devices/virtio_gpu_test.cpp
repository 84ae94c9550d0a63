// The virtio GPU in 2D mode driven as Linux's virtio_gpu (and OVMF's VirtioGpuDxe) drive it
// (virtio 1.2 section 5.7): control requests on queue 0, a display that records what it is shown,
// and every request field a hostile guest can get wrong.
#include <linux/virtio_gpu.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "altovirt/devices/virtio_gpu.h"
#include "altovirt/virtio/event_loop.h"
#include "driver_queue.h"

namespace altovirt::devices {
namespace {

using virtio::testing::DriverQueue;
using virtio::testing::FakeRam;

// A display that keeps what it is shown: its own copy of the screen, and each call.
struct RecordingDisplay : ui::Display {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> screen;
  std::vector<ui::Rect> updates;
  int resizes = 0, blanks = 0;
  void resize(uint32_t w, uint32_t h) override {
    width = w;
    height = h;
    screen.assign(size_t{w} * h * 4, 0);
    ++resizes;
  }
  void update(const ui::Rect& r, std::span<const uint8_t> pixels, uint32_t stride) override {
    ASSERT_LE(r.x + r.width, width);
    ASSERT_LE(r.y + r.height, height);
    ASSERT_GE(pixels.size(), size_t{r.height - 1} * stride + r.width * 4);
    for (uint32_t y = 0; y < r.height; ++y)
      std::memcpy(&screen[(size_t{r.y} + y) * width * 4 + r.x * 4], pixels.data() + size_t{y} * stride, r.width * 4);
    updates.push_back(r);
  }
  void blank() override { ++blanks; }
  uint32_t pixel(uint32_t x, uint32_t y) const {
    uint32_t v;
    std::memcpy(&v, &screen[(size_t{y} * width + x) * 4], 4);
    return v;
  }
};

template <typename T>
std::string bytes(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}
virtio_gpu_ctrl_hdr hdr(uint32_t type) {
  virtio_gpu_ctrl_hdr h{};
  h.type = type;
  return h;
}

constexpr uint64_t kPixels = 0x200000;  // where the tests' guest framebuffers live

class VirtioGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = virtio::EventLoop::create("gpu-test");
    ASSERT_TRUE(l);
    loop = std::move(*l);
    make_gpu({});
  }
  void make_gpu(GpuOptions options) {
    display = std::make_shared<RecordingDisplay>();
    gpu = std::make_shared<VirtioGpu>(display, options);
    virtio::Activation a{ram, virtio::kFVersion1, {&control.vq, &cursor.vq}, *loop, [] {}, nullptr};
    ASSERT_TRUE(gpu->activate(a));
  }
  // Sends one request (readable) with a response buffer of `resp_len` (writable); returns the
  // response bytes the device wrote.
  std::string request(const std::string& req, uint32_t resp_len = sizeof(virtio_gpu_ctrl_hdr)) {
    auto addrs = control.add({{static_cast<uint32_t>(req.size()), false, req}, {resp_len, true, {}}});
    uint16_t before = control.used_idx();
    gpu->queue_notified(0);
    EXPECT_EQ(control.used_idx(), static_cast<uint16_t>(before + 1));
    auto [id, len] = control.used_elem(before);
    (void)id;
    return std::string(reinterpret_cast<const char*>(ram.at(addrs[1])), len);
  }
  uint32_t response_type(const std::string& req) {
    std::string r = request(req);
    if (r.size() < sizeof(virtio_gpu_ctrl_hdr)) return 0;
    virtio_gpu_ctrl_hdr h;
    std::memcpy(&h, r.data(), sizeof h);
    return h.type;
  }
  uint32_t create(uint32_t id, uint32_t w, uint32_t h, uint32_t format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM) {
    virtio_gpu_resource_create_2d c{hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D), id, format, w, h};
    return response_type(bytes(c));
  }
  uint32_t attach(uint32_t id, const std::vector<virtio_gpu_mem_entry>& entries, uint32_t announce = UINT32_MAX) {
    virtio_gpu_resource_attach_backing a{hdr(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING), id,
                                         announce == UINT32_MAX ? static_cast<uint32_t>(entries.size()) : announce};
    std::string req = bytes(a);
    for (const auto& e : entries) req += bytes(e);
    return response_type(req);
  }
  uint32_t transfer(uint32_t id, virtio_gpu_rect r, uint64_t offset) {
    virtio_gpu_transfer_to_host_2d t{hdr(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D), r, offset, id, 0};
    return response_type(bytes(t));
  }
  uint32_t scanout(uint32_t id, virtio_gpu_rect r, uint32_t scanout_id = 0) {
    virtio_gpu_set_scanout s{hdr(VIRTIO_GPU_CMD_SET_SCANOUT), r, scanout_id, id};
    return response_type(bytes(s));
  }
  uint32_t flush(uint32_t id, virtio_gpu_rect r) {
    virtio_gpu_resource_flush f{hdr(VIRTIO_GPU_CMD_RESOURCE_FLUSH), r, id, 0};
    return response_type(bytes(f));
  }
  // The guest's framebuffer: pixel (x, y) of a w-wide surface holds x | y << 16.
  void draw(uint32_t w, uint32_t h) {
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) ram.put<uint32_t>(kPixels + (uint64_t{y} * w + x) * 4, x | y << 16);
  }
  // A resource of w x h with its backing in two pieces (split inside a row, as pages split it).
  void resource_with_backing(uint32_t id, uint32_t w, uint32_t h) {
    ASSERT_EQ(create(id, w, h), VIRTIO_GPU_RESP_OK_NODATA);
    uint32_t total = w * h * 4, first = total / 3 + 4;
    ASSERT_EQ(attach(id, {{kPixels, first, 0}, {kPixels + first, total - first, 0}}), VIRTIO_GPU_RESP_OK_NODATA);
  }

  FakeRam ram{0, 8 << 20};
  DriverQueue control{ram, 0, 0x0};
  DriverQueue cursor{ram, 1, 0x100000};
  std::unique_ptr<virtio::EventLoop> loop;
  std::shared_ptr<RecordingDisplay> display;
  std::shared_ptr<VirtioGpu> gpu;
};

TEST_F(VirtioGpuTest, Identity) {
  EXPECT_EQ(gpu->device_type(), 16);  // 5.7.1
  EXPECT_EQ(gpu->num_queues(), 2u);   // controlq, cursorq
  uint8_t cfg[16];
  gpu->read_config(0, cfg);
  uint32_t scanouts;
  std::memcpy(&scanouts, cfg + 8, 4);
  EXPECT_EQ(scanouts, 1u);
}

TEST_F(VirtioGpuTest, DisplayInfoOffersTheConfiguredMode) {
  make_gpu(GpuOptions{1024, 768});
  std::string r = request(bytes(hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO)), sizeof(virtio_gpu_resp_display_info));
  ASSERT_EQ(r.size(), sizeof(virtio_gpu_resp_display_info));
  virtio_gpu_resp_display_info info;
  std::memcpy(&info, r.data(), sizeof info);
  EXPECT_EQ(info.hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
  EXPECT_EQ(info.pmodes[0].r.width, 1024u);
  EXPECT_EQ(info.pmodes[0].r.height, 768u);
  EXPECT_EQ(info.pmodes[0].enabled, 1u);
  EXPECT_EQ(info.pmodes[1].enabled, 0u);
}

TEST_F(VirtioGpuTest, TransferScanoutAndFlushShowTheGuestFramebuffer) {
  const uint32_t w = 64, h = 32;
  draw(w, h);
  resource_with_backing(1, w, h);
  ASSERT_EQ(transfer(1, {0, 0, w, h}, 0), VIRTIO_GPU_RESP_OK_NODATA);
  ASSERT_EQ(scanout(1, {0, 0, w, h}), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_EQ(display->width, w);
  EXPECT_EQ(display->height, h);
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; ++x) ASSERT_EQ(display->pixel(x, y), x | y << 16) << x << "," << y;

  // The guest changes a rectangle, transfers just that part (offset = its first pixel, as Linux
  // computes it) and flushes it: only that rectangle reaches the display.
  for (uint32_t y = 4; y < 12; ++y)
    for (uint32_t x = 8; x < 24; ++x) ram.put<uint32_t>(kPixels + (uint64_t{y} * w + x) * 4, 0xabcdef);
  ASSERT_EQ(transfer(1, {8, 4, 16, 8}, (4 * w + 8) * 4), VIRTIO_GPU_RESP_OK_NODATA);
  display->updates.clear();
  ASSERT_EQ(flush(1, {8, 4, 16, 8}), VIRTIO_GPU_RESP_OK_NODATA);
  ASSERT_EQ(display->updates.size(), 1u);
  EXPECT_EQ(display->updates[0].x, 8u);
  EXPECT_EQ(display->updates[0].width, 16u);
  EXPECT_EQ(display->pixel(8, 4), 0xabcdefu);
  EXPECT_EQ(display->pixel(23, 11), 0xabcdefu);
  EXPECT_EQ(display->pixel(24, 11), 24u | 11u << 16);  // outside the rectangle: as before
  EXPECT_EQ(display->pixel(7, 4), 7u | 4u << 16);
}

TEST_F(VirtioGpuTest, ScanoutOfPartOfAResourceShowsThatPart) {
  const uint32_t w = 64, h = 32;
  draw(w, h);
  resource_with_backing(1, w, h);
  ASSERT_EQ(transfer(1, {0, 0, w, h}, 0), VIRTIO_GPU_RESP_OK_NODATA);
  ASSERT_EQ(scanout(1, {16, 8, 32, 16}), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_EQ(display->width, 32u);
  EXPECT_EQ(display->pixel(0, 0), 16u | 8u << 16);
  // A flush overlapping the shown part only in part: clipped to it, in display coordinates.
  display->updates.clear();
  ASSERT_EQ(flush(1, {0, 0, 20, 10}), VIRTIO_GPU_RESP_OK_NODATA);
  ASSERT_EQ(display->updates.size(), 1u);
  EXPECT_EQ(display->updates[0].x, 0u);
  EXPECT_EQ(display->updates[0].y, 0u);
  EXPECT_EQ(display->updates[0].width, 4u);
  EXPECT_EQ(display->updates[0].height, 2u);
  // A flush of another resource shows nothing.
  ASSERT_EQ(create(2, 16, 16), VIRTIO_GPU_RESP_OK_NODATA);
  display->updates.clear();
  EXPECT_EQ(flush(2, {0, 0, 16, 16}), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_TRUE(display->updates.empty());
}

TEST_F(VirtioGpuTest, OtherByteOrdersAreConvertedForTheDisplay) {
  // R8G8B8X8: bytes R, G, B, X in memory; the display gets B, G, R, X.
  ASSERT_EQ(create(1, 16, 16, VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM), VIRTIO_GPU_RESP_OK_NODATA);
  ASSERT_EQ(attach(1, {{kPixels, 16 * 16 * 4, 0}}), VIRTIO_GPU_RESP_OK_NODATA);
  for (int i = 0; i < 16 * 16; ++i) {
    uint8_t px[4] = {0x11, 0x22, 0x33, 0};
    std::memcpy(ram.at(kPixels + i * 4), px, 4);
  }
  ASSERT_EQ(transfer(1, {0, 0, 16, 16}, 0), VIRTIO_GPU_RESP_OK_NODATA);
  ASSERT_EQ(scanout(1, {0, 0, 16, 16}), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_EQ(display->pixel(5, 5) & 0xffffff, 0x112233u);  // XRGB: R in bits 16-23
}

TEST_F(VirtioGpuTest, FenceIsCarriedBack) {
  virtio_gpu_resource_create_2d c{hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D), 7, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8};
  c.hdr.flags = VIRTIO_GPU_FLAG_FENCE;
  c.hdr.fence_id = 0x1234567890ull;
  std::string r = request(bytes(c));
  virtio_gpu_ctrl_hdr h;
  ASSERT_EQ(r.size(), sizeof h);
  std::memcpy(&h, r.data(), sizeof h);
  EXPECT_EQ(h.type, VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_EQ(h.flags & VIRTIO_GPU_FLAG_FENCE, VIRTIO_GPU_FLAG_FENCE);
  EXPECT_EQ(h.fence_id, 0x1234567890ull);
}

TEST_F(VirtioGpuTest, UnrefOfTheShownResourceBlanksTheDisplayAndFreesItsMemory) {
  resource_with_backing(1, 32, 32);
  ASSERT_EQ(scanout(1, {0, 0, 32, 32}), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_EQ(gpu->hostmem_used(), 32u * 32 * 4);
  virtio_gpu_resource_unref u{hdr(VIRTIO_GPU_CMD_RESOURCE_UNREF), 1, 0};
  EXPECT_EQ(response_type(bytes(u)), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_EQ(display->blanks, 1);
  EXPECT_EQ(gpu->resource_count(), 0u);
  EXPECT_EQ(gpu->hostmem_used(), 0u);
  EXPECT_EQ(response_type(bytes(u)), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
}

TEST_F(VirtioGpuTest, ResetForgetsEveryResource) {
  resource_with_backing(1, 32, 32);
  ASSERT_EQ(scanout(1, {0, 0, 32, 32}), VIRTIO_GPU_RESP_OK_NODATA);
  gpu->reset();
  EXPECT_EQ(gpu->resource_count(), 0u);
  EXPECT_EQ(display->blanks, 1);
}

// --- what a hostile or broken guest sends -------------------------------------------------------

TEST_F(VirtioGpuTest, ResourceIdsMustBeNewAndNotZero) {
  EXPECT_EQ(create(0, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
  EXPECT_EQ(create(1, 8, 8), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_EQ(create(1, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
  EXPECT_EQ(create(2, 8, 8, 999), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
  EXPECT_EQ(create(3, 0, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
  EXPECT_EQ(create(4, 100000, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
  EXPECT_EQ(gpu->resource_count(), 1u);
}

TEST_F(VirtioGpuTest, ResourcesBeyondTheHostMemoryBudgetAreRefused) {
  make_gpu(GpuOptions{1280, 800, 1 << 20});
  EXPECT_EQ(create(1, 512, 256), VIRTIO_GPU_RESP_OK_NODATA);  // 512 KiB
  EXPECT_EQ(create(2, 512, 256), VIRTIO_GPU_RESP_OK_NODATA);  // 1 MiB in all
  EXPECT_EQ(create(3, 1, 1), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
  EXPECT_EQ(create(4, 16384, 16384), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);  // 1 GiB: refused before any allocation
  EXPECT_EQ(gpu->hostmem_used(), 1u << 20);
}

TEST_F(VirtioGpuTest, BackingOutsideGuestRamIsRefused) {
  ASSERT_EQ(create(1, 16, 16), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_EQ(attach(1, {{kPixels, 512, 0}, {0xffff'ffff'0000ull, 512, 0}}), VIRTIO_GPU_RESP_ERR_UNSPEC);
  EXPECT_EQ(attach(1, {{(8 << 20) - 256, 512, 0}}), VIRTIO_GPU_RESP_ERR_UNSPEC);       // runs off the end of RAM
  EXPECT_EQ(attach(1, {{~0ull - 100, 512, 0}}), VIRTIO_GPU_RESP_ERR_UNSPEC);           // wraps
  // None of them attached anything: a transfer still finds no backing.
  EXPECT_EQ(transfer(1, {0, 0, 16, 16}, 0), VIRTIO_GPU_RESP_ERR_UNSPEC);
  EXPECT_EQ(attach(1, {{kPixels, 1024, 0}}), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_EQ(attach(1, {{kPixels, 1024, 0}}), VIRTIO_GPU_RESP_ERR_UNSPEC);  // twice
}

TEST_F(VirtioGpuTest, MoreBackingEntriesAnnouncedThanSentIsRefused) {
  ASSERT_EQ(create(1, 16, 16), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_EQ(attach(1, {{kPixels, 1024, 0}}, 100), VIRTIO_GPU_RESP_ERR_UNSPEC);
  EXPECT_EQ(attach(1, {}, 0), VIRTIO_GPU_RESP_ERR_UNSPEC);
  EXPECT_EQ(attach(1, {{kPixels, 1024, 0}}, 0x7fffffff), VIRTIO_GPU_RESP_ERR_UNSPEC);
}

TEST_F(VirtioGpuTest, AResourceLargerThanItsBackingIsNotReadPastIt) {
  // 32 x 32 pixels need 4 KiB; the guest backs it with 1 KiB, next to memory it did not give.
  ASSERT_EQ(create(1, 32, 32), VIRTIO_GPU_RESP_OK_NODATA);
  ASSERT_EQ(attach(1, {{kPixels, 1024, 0}}), VIRTIO_GPU_RESP_OK_NODATA);
  for (int i = 0; i < 1024; ++i) ram.put<uint32_t>(kPixels + 1024 + i * 4, 0x5eC2e7);  // not the resource's
  EXPECT_EQ(transfer(1, {0, 0, 32, 32}, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
  EXPECT_EQ(transfer(1, {0, 0, 32, 8}, 4), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);  // one row too far
  EXPECT_EQ(transfer(1, {0, 0, 32, 1}, ~0ull - 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);  // offset wraps
  EXPECT_EQ(transfer(1, {0, 0, 32, 8}, 0), VIRTIO_GPU_RESP_OK_NODATA);  // exactly the backing
  ASSERT_EQ(scanout(1, {0, 0, 32, 32}), VIRTIO_GPU_RESP_OK_NODATA);
  EXPECT_NE(display->pixel(0, 8) & 0xffffff, 0x5ec2e7u);  // the refused rows never came in
}

TEST_F(VirtioGpuTest, RectanglesOutsideTheResourceAreRefused) {
  resource_with_backing(1, 64, 32);
  EXPECT_EQ(transfer(1, {60, 0, 8, 8}, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
  EXPECT_EQ(transfer(1, {0xffffffff, 0, 2, 2}, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);  // x + width wraps in 32 bits
  EXPECT_EQ(flush(1, {0, 30, 8, 8}), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
  EXPECT_EQ(scanout(1, {0, 0, 65, 32}), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
  EXPECT_EQ(scanout(1, {0, 0, 0, 0}), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
  EXPECT_EQ(scanout(1, {0, 0, 64, 32}, 1), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
  EXPECT_EQ(scanout(9, {0, 0, 64, 32}), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
  EXPECT_EQ(display->resizes, 0);  // nothing was shown
}

TEST_F(VirtioGpuTest, ShortUnknownAnd3DRequestsGetAnError) {
  EXPECT_EQ(response_type(std::string(8, '\0')), VIRTIO_GPU_RESP_ERR_UNSPEC);            // shorter than a header
  EXPECT_EQ(response_type(bytes(hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D))), VIRTIO_GPU_RESP_ERR_UNSPEC);  // header only
  EXPECT_EQ(response_type(bytes(hdr(0x7777))), VIRTIO_GPU_RESP_ERR_UNSPEC);
  EXPECT_EQ(response_type(bytes(hdr(VIRTIO_GPU_CMD_SUBMIT_3D))), VIRTIO_GPU_RESP_ERR_UNSPEC);
  EXPECT_EQ(response_type(bytes(hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB))), VIRTIO_GPU_RESP_ERR_UNSPEC);
}

TEST_F(VirtioGpuTest, AResponseBufferTooSmallGetsWhatFits) {
  std::string r = request(bytes(hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO)), 8);
  EXPECT_EQ(r.size(), 8u);
  // No writable buffer at all: the request is still consumed.
  control.add({{sizeof(virtio_gpu_ctrl_hdr), false, bytes(hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO))}});
  uint16_t before = control.used_idx();
  gpu->queue_notified(0);
  EXPECT_EQ(control.used_idx(), before + 1);
  EXPECT_EQ(control.used_elem(before).second, 0u);
}

TEST_F(VirtioGpuTest, CursorRequestsAreConsumed) {
  virtio_gpu_update_cursor c{};
  c.hdr.type = VIRTIO_GPU_CMD_MOVE_CURSOR;
  cursor.add({{sizeof c, false, bytes(c)}});
  gpu->queue_notified(1);
  EXPECT_EQ(cursor.used_idx(), 1);
}

}  // namespace
}  // namespace altovirt::devices
