// The virtio entropy device driven as the guest's virtio_rng driver drives it (virtio 1.2 section
// 5.4): device-writable buffers on the request queue, a real EventLoop, and real backends
// (/dev/urandom, a regular file, a FIFO).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "altovirt/devices/virtio_rng.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/virtqueue.h"
#include "fake_guest.h"

namespace altovirt::devices {
namespace {

using namespace std::chrono_literals;
using virtio::testing::FakeRam;
using virtio::testing::Ring;
using virtio::testing::eventually;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kBuffers = 0x10000;


class VirtioRngTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = virtio::EventLoop::create("rng-test");
    ASSERT_TRUE(l);
    loop = std::move(*l);
    ASSERT_TRUE(vq.configure(ring.layout, false, false));
    vq.set_interrupt([this] { ++interrupts; });
  }
  void TearDown() override {
    if (rng) loop->run_sync([&] { rng->reset(); });
  }
  void start(const std::string& path, RngOptions options = {}) {
    auto r = VirtioRng::open(path, options);
    ASSERT_TRUE(r) << r.error().message();
    rng = *r;
    virtio::Activation a{ram, virtio::kFVersion1, {&vq}, *loop, [] {}, nullptr};
    loop->run_sync([&] { ASSERT_TRUE(rng->activate(a)); });
  }
  // One device-writable buffer of `len` bytes in descriptor `d` (at its own 4 KiB page).
  void post(uint16_t d, uint32_t len) {
    ring.desc(d, kBuffers + 0x1000ull * d, len, virtio::testing::kWrite);
    ring.publish(d);
  }
  void kick() { loop->run_sync([&] { rng->queue_notified(0); }); }
  uint64_t used_bytes() {
    uint64_t total = 0;
    for (uint16_t i = 0; i < ring.used_idx(); ++i) total += ring.used_len(i);
    return total;
  }

  FakeRam ram{0, 1 << 20};
  Ring ring{ram, 0x1000, 64};
  virtio::Virtqueue vq{ram, 0};
  std::atomic<int> interrupts{0};
  std::unique_ptr<virtio::EventLoop> loop;
  std::shared_ptr<VirtioRng> rng;
};

TEST_F(VirtioRngTest, Identity) {
  start("/dev/urandom");
  EXPECT_EQ(rng->device_type(), 4);  // 5.4.1: entropy source
  EXPECT_EQ(rng->num_queues(), 1u);  // 5.4.2: requestq only
  EXPECT_EQ(rng->config_size(), 0u);
}

TEST_F(VirtioRngTest, FillsEveryBufferFromUrandom) {
  start("/dev/urandom");
  for (uint16_t d = 0; d < 4; ++d) post(d, 64);
  kick();
  ASSERT_EQ(ring.used_idx(), 4);
  for (uint16_t i = 0; i < 4; ++i) {
    EXPECT_EQ(ring.used_len(i), 64u);
    const uint8_t* b = ram.at(kBuffers + 0x1000ull * ring.used_id(i));
    EXPECT_FALSE(std::all_of(b, b + 64, [](uint8_t x) { return x == 0; })) << "buffer " << i << " is all zero";
  }
  EXPECT_GE(interrupts.load(), 1);
  EXPECT_EQ(rng->delivered(), 256u);
}

TEST_F(VirtioRngTest, ChainedBufferAndReadableOnlyBuffer) {
  start("/dev/urandom");
  ring.desc(0, kBuffers, 10, virtio::testing::kWrite | virtio::testing::kNext, 1);
  ring.desc(1, kBuffers + 0x1000, 20, virtio::testing::kWrite);
  ring.publish(0);
  ring.desc(2, kBuffers + 0x2000, 16, 0);  // driver-readable: nothing to fill, used length 0
  ring.publish(2);
  kick();
  ASSERT_EQ(ring.used_idx(), 2);
  EXPECT_EQ(ring.used_len(0), 30u);
  EXPECT_EQ(ring.used_len(1), 0u);
}

TEST_F(VirtioRngTest, RegularFileIsReadAgainFromItsStart) {
  auto path = std::filesystem::temp_directory_path() / fmt::format("altovirt-rng-{}", ::getpid());
  { std::ofstream(path) << "0123456789"; }
  start(path);
  post(0, 16);
  kick();
  std::filesystem::remove(path);
  ASSERT_EQ(ring.used_idx(), 1);
  ASSERT_EQ(ring.used_len(0), 10u);  // a short fill: what the file had
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(kBuffers)), 10), "0123456789");
  post(1, 4);
  kick();
  ASSERT_EQ(ring.used_idx(), 2);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(kBuffers + 0x1000)), 4), "0123");
}

TEST_F(VirtioRngTest, RateLimitHoldsPerPeriodWithoutSpinning) {
  // 256 bytes per 200 ms; the guest asks for 1024 at once, as the hwrng thread keeps asking.
  start("/dev/urandom", {256, 200ms});
  for (uint16_t d = 0; d < 16; ++d) post(d, 64);
  auto t0 = Clock::now();
  kick();
  EXPECT_EQ(used_bytes(), 256u);  // the first window's budget, at once
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(used_bytes(), 256u);  // nothing more inside the window
  // The rest comes one window at a time: 3 more windows, so not before 600 ms.
  ASSERT_TRUE(eventually([&] { return used_bytes() == 1024; }, 5s));
  auto took = Clock::now() - t0;
  EXPECT_GE(took, 550ms);
  EXPECT_LT(took, 2s);
  // While throttled the device waited on a timer: the loop thread used little CPU.
  timespec cpu{};
  ASSERT_EQ(::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu), 0);
  EXPECT_LT(cpu.tv_sec, 1) << "the process burnt a second of CPU: the limiter spins";
}

TEST_F(VirtioRngTest, EmptyFifoWaitsForData) {
  auto path = std::filesystem::temp_directory_path() / fmt::format("altovirt-rng-fifo-{}", ::getpid());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  int writer_keepalive = -1;
  // A FIFO opened for reading non-blocking opens at once; a writer comes later.
  start(path);
  writer_keepalive = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(writer_keepalive, 0);
  post(0, 8);
  kick();
  EXPECT_EQ(ring.used_idx(), 0);  // nothing to read yet: the request waits
  ASSERT_EQ(::write(writer_keepalive, "abcdefgh", 8), 8);
  ASSERT_TRUE(eventually([&] { return ring.used_idx() == 1; }));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(kBuffers)), 8), "abcdefgh");
  ::close(writer_keepalive);
  std::filesystem::remove(path);
}

TEST(VirtioRngOpen, UnreadableSourcesAreNamed) {
  auto missing = VirtioRng::open("/nonexistent/rng", {});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("/nonexistent/rng"), std::string::npos) << missing.error().message();
  auto dir = VirtioRng::open("/", {});
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message().find("directory"), std::string::npos) << dir.error().message();
}

}  // namespace
}  // namespace altovirt::devices
