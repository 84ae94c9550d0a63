// The virtio input device as Linux's virtio_input probes and reads it (virtio 1.2 section 5.8): the
// select/subsel configuration queries, events into the driver's eventq buffers from another thread
// (as the VNC server sends them), and the bounds a flood of events meets.
#include <linux/input.h>
#include <linux/virtio_input.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>

#include "altovirt/devices/virtio_input.h"
#include "altovirt/virtio/event_loop.h"
#include "driver_queue.h"

namespace altovirt::devices {
namespace {

using namespace std::chrono_literals;
using virtio::testing::DriverQueue;
using virtio::testing::FakeRam;
using virtio::testing::eventually;

class VirtioInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = virtio::EventLoop::create("input-test");
    ASSERT_TRUE(l);
    loop = std::move(*l);
  }
  void TearDown() override {
    if (dev) loop->run_sync([&] { dev->reset(); });
  }
  void make(InputKind kind) {
    auto d = VirtioInput::create(kind);
    ASSERT_TRUE(d);
    dev = *d;
  }
  void activate() {
    virtio::Activation a{ram, virtio::kFVersion1, {&events.vq, &status.vq}, *loop, [] {}, nullptr};
    loop->run_sync([&] { ASSERT_TRUE(dev->activate(a)); });
  }
  // The configuration for (select, subsel): its size byte and payload.
  std::pair<uint8_t, std::string> query(uint8_t select, uint8_t subsel) {
    uint8_t sel[2] = {select, subsel};
    dev->write_config(0, sel);
    virtio_input_config c{};
    dev->read_config(0, std::span(reinterpret_cast<uint8_t*>(&c), sizeof c));
    EXPECT_EQ(c.select, select);
    return {c.size, std::string(reinterpret_cast<const char*>(c.u.bitmap), c.size)};
  }
  static bool has_bit(const std::string& bitmap, unsigned bit) {
    return bit / 8 < bitmap.size() && (static_cast<uint8_t>(bitmap[bit / 8]) >> (bit % 8)) & 1;
  }
  void post_buffers(int n) {
    for (int i = 0; i < n; ++i) events.add(8, true);
  }
  virtio_input_event event_at(uint16_t k) {
    // The k-th used element's buffer: DriverQueue gives descriptor d the buffer at buffers + d * 8 KiB.
    auto [id, len] = events.used_elem(k);
    EXPECT_EQ(len, 8u);
    return ram.get<virtio_input_event>(events.buffers + id * 0x2000ull);
  }

  FakeRam ram{0, 4 << 20};
  DriverQueue events{ram, 0, 0x0};
  DriverQueue status{ram, 1, 0x100000};
  std::unique_ptr<virtio::EventLoop> loop;
  std::shared_ptr<VirtioInput> dev;
};

TEST_F(VirtioInputTest, KeyboardDescribesItself) {
  make(InputKind::keyboard);
  EXPECT_EQ(dev->device_type(), 18);
  EXPECT_EQ(query(VIRTIO_INPUT_CFG_ID_NAME, 0).second, "altovirt Virtio Keyboard");
  auto [size, keys] = query(VIRTIO_INPUT_CFG_EV_BITS, EV_KEY);
  EXPECT_GT(size, 0);
  for (unsigned k : {KEY_A, KEY_Z, KEY_ENTER, KEY_LEFTSHIFT, KEY_F12, KEY_KPENTER}) EXPECT_TRUE(has_bit(keys, k)) << k;
  EXPECT_FALSE(has_bit(keys, 0));                         // KEY_RESERVED
  EXPECT_GT(query(VIRTIO_INPUT_CFG_EV_BITS, EV_REP).first, 0);  // autorepeat: the type is there
  EXPECT_EQ(query(VIRTIO_INPUT_CFG_EV_BITS, EV_ABS).first, 0);  // no axes
  EXPECT_EQ(query(VIRTIO_INPUT_CFG_ABS_INFO, ABS_X).first, 0);
  auto [idsize, ids] = query(VIRTIO_INPUT_CFG_ID_DEVIDS, 0);
  ASSERT_EQ(idsize, sizeof(virtio_input_devids));
  virtio_input_devids d;
  std::memcpy(&d, ids.data(), sizeof d);
  EXPECT_EQ(d.bustype, BUS_VIRTUAL);
}

TEST_F(VirtioInputTest, TabletHasAbsoluteAxesAndButtons) {
  make(InputKind::tablet);
  EXPECT_EQ(query(VIRTIO_INPUT_CFG_ID_NAME, 0).second, "altovirt Virtio Tablet");
  auto abs = query(VIRTIO_INPUT_CFG_EV_BITS, EV_ABS).second;
  EXPECT_TRUE(has_bit(abs, ABS_X));
  EXPECT_TRUE(has_bit(abs, ABS_Y));
  auto keys = query(VIRTIO_INPUT_CFG_EV_BITS, EV_KEY).second;
  EXPECT_TRUE(has_bit(keys, BTN_LEFT));
  EXPECT_FALSE(has_bit(keys, KEY_A));
  auto [size, info] = query(VIRTIO_INPUT_CFG_ABS_INFO, ABS_Y);
  ASSERT_EQ(size, sizeof(virtio_input_absinfo));
  virtio_input_absinfo a;
  std::memcpy(&a, info.data(), sizeof a);
  EXPECT_EQ(a.min, 0u);
  EXPECT_EQ(a.max, kTabletMax);
  EXPECT_EQ(query(VIRTIO_INPUT_CFG_ABS_INFO, ABS_Z).first, 0);
}

TEST_F(VirtioInputTest, UnknownSelectionsReadAsEmpty) {
  make(InputKind::keyboard);
  EXPECT_EQ(query(0x7f, 3).first, 0);
  EXPECT_EQ(query(VIRTIO_INPUT_CFG_UNSET, 0).first, 0);
  // Reads past the structure are zero, writes to read-only bytes change nothing.
  uint8_t junk[4] = {1, 2, 3, 4};
  dev->write_config(2, junk);
  uint8_t out[8];
  dev->read_config(132, out);
  for (int i = 4; i < 8; ++i) EXPECT_EQ(out[i], 0);
}

TEST_F(VirtioInputTest, EventsFromAnotherThreadReachTheGuestInOrder) {
  make(InputKind::keyboard);
  activate();
  post_buffers(8);
  loop->run_sync([&] { dev->queue_notified(0); });
  std::thread sender([&] {
    ui::InputEvent down[] = {{EV_KEY, KEY_A, 1}, {EV_SYN, SYN_REPORT, 0}};
    ui::InputEvent up[] = {{EV_KEY, KEY_A, 0}, {EV_SYN, SYN_REPORT, 0}};
    dev->send(down);
    dev->send(up);
  });
  sender.join();
  ASSERT_TRUE(eventually([&] { return events.used_idx() == 4; }));
  EXPECT_EQ(event_at(0).code, KEY_A);
  EXPECT_EQ(event_at(0).value, 1u);
  EXPECT_EQ(event_at(1).type, EV_SYN);
  EXPECT_EQ(event_at(2).value, 0u);
  EXPECT_EQ(dev->delivered(), 4u);
}

TEST_F(VirtioInputTest, EventsWaitForBuffersAndAreDroppedBeforeTheDriverIsReady) {
  make(InputKind::tablet);
  ui::InputEvent early[] = {{EV_ABS, ABS_X, 5}, {EV_SYN, SYN_REPORT, 0}};
  dev->send(early);  // nobody listens yet
  activate();
  ui::InputEvent move[] = {{EV_ABS, ABS_X, 100}, {EV_ABS, ABS_Y, 200}, {EV_SYN, SYN_REPORT, 0}};
  dev->send(move);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(events.used_idx(), 0);  // no buffers: the events wait
  post_buffers(2);
  loop->run_sync([&] { dev->queue_notified(0); });
  EXPECT_EQ(events.used_idx(), 2);  // two buffers, two events
  EXPECT_EQ(event_at(0).value, 100u);
  post_buffers(2);
  loop->run_sync([&] { dev->queue_notified(0); });
  EXPECT_EQ(events.used_idx(), 3);  // the third (SYN); the early report never came
  EXPECT_EQ(event_at(2).type, EV_SYN);
}

TEST_F(VirtioInputTest, AFloodIsBoundedAndDropsWholeReports) {
  make(InputKind::keyboard);
  activate();
  ui::InputEvent report[] = {{EV_KEY, KEY_B, 1}, {EV_SYN, SYN_REPORT, 0}};
  for (size_t i = 0; i < VirtioInput::kMaxPending; ++i) dev->send(report);  // the guest takes none
  EXPECT_EQ(dev->dropped(), VirtioInput::kMaxPending);  // half fit: 512 reports of 2 queued, 512 dropped
  post_buffers(64);
  loop->run_sync([&] { dev->queue_notified(0); });
  EXPECT_EQ(events.used_idx(), 64);
  EXPECT_EQ(event_at(63).type, EV_SYN);  // reports stay whole
}

TEST_F(VirtioInputTest, StatusQueueIsConsumed) {
  make(InputKind::keyboard);
  activate();
  virtio_input_event led{EV_LED, LED_CAPSL, 1};
  status.add({{8, false, std::string(reinterpret_cast<const char*>(&led), 8)}});
  loop->run_sync([&] { dev->queue_notified(1); });
  EXPECT_EQ(status.used_idx(), 1);
}

}  // namespace
}  // namespace altovirt::devices
