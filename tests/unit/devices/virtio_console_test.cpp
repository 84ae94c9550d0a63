// The virtio console model driven as a guest driver would drive it (virtio 1.2 section 5.3), with no
// guest kernel: split rings in a fake guest memory, a real EventLoop, and a real pty as backend
// (the test is the program on the other side of the pty).
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "altovirt/devices/virtio_console.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/guest_ram.h"
#include "altovirt/virtio/virtqueue.h"
#include "driver_queue.h"

namespace altovirt::devices {
namespace {

using namespace std::chrono_literals;
using virtio::testing::eventually;
// Guest RAM: 1 MiB at guest-physical 0; each queue has 16 descriptors (its buffers span 128 KiB).
struct FakeRam : virtio::testing::FakeRam {
  FakeRam() : virtio::testing::FakeRam(0, 1 << 20) {}
};
struct DriverQueue : virtio::testing::DriverQueue {
  DriverQueue(FakeRam& r, unsigned index, uint64_t base) : virtio::testing::DriverQueue(r, index, base, 16) {}
};


class VirtioConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = CharBackend::open("pty");
    ASSERT_TRUE(b) << b.error().message();
    backend = std::move(*b);
    slave = ::open(backend->description().c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(slave, 0);
    auto l = virtio::EventLoop::create("console-test");
    ASSERT_TRUE(l);
    loop = std::move(*l);
    console = std::make_shared<VirtioConsole>(backend);
  }
  void TearDown() override {
    if (console) loop->run_sync([&] { console->reset(); });
    if (slave >= 0) ::close(slave);
  }
  // DRIVER_OK as the transport does it: on the device's loop thread.
  void activate() {
    virtio::Activation a{ram, VirtioConsole::kFEmergWrite | virtio::kFVersion1, {&rx.vq, &tx.vq}, *loop, [] {}, nullptr};
    loop->run_sync([&] { ASSERT_TRUE(console->activate(a)); });
  }
  void kick(unsigned q) { loop->run_sync([&] { console->queue_notified(q); }); }
  std::string read_slave(size_t want) {
    std::string out;
    eventually([&] {
      char buf[4096];
      ssize_t n = ::read(slave, buf, sizeof buf);
      if (n > 0) out.append(buf, static_cast<size_t>(n));
      return out.size() >= want;
    });
    return out;
  }

  FakeRam ram;
  DriverQueue rx{ram, VirtioConsole::kReceiveQueue, 0x10000};
  DriverQueue tx{ram, VirtioConsole::kTransmitQueue, 0x40000};
  std::shared_ptr<CharBackend> backend;
  int slave = -1;
  std::unique_ptr<virtio::EventLoop> loop;
  std::shared_ptr<VirtioConsole> console;
};

TEST_F(VirtioConsoleTest, IdentityFeaturesAndConfig) {
  EXPECT_EQ(console->device_type(), 3);  // 5.3.1: console
  EXPECT_EQ(console->num_queues(), 2u);  // receiveq0, transmitq0: no MULTIPORT control queues
  EXPECT_TRUE(console->device_features() & VirtioConsole::kFEmergWrite);
  EXPECT_FALSE(console->device_features() & VirtioConsole::kFMultiport);
  EXPECT_FALSE(console->device_features() & VirtioConsole::kFSize);
  ASSERT_EQ(console->config_size(), 12u);
  uint8_t cfg[12];
  std::memset(cfg, 0xaa, sizeof cfg);
  console->read_config(0, cfg);
  EXPECT_EQ(cfg[0] | cfg[1] | cfg[2] | cfg[3], 0);     // cols, rows: no F_SIZE
  EXPECT_EQ(cfg[4], 1);                                // max_nr_ports
  EXPECT_EQ(cfg[8] | cfg[9] | cfg[10] | cfg[11], 0);   // emerg_wr reads 0
}

TEST_F(VirtioConsoleTest, EmergencyWriteOutputsOneByteBeforeAnyQueue) {
  const uint8_t ch[4] = {'!', 'x', 'y', 'z'};
  console->write_config(VirtioConsole::kEmergWrOffset, ch);
  console->write_config(0, ch);  // cols/rows are read-only: ignored
  EXPECT_EQ(read_slave(1), "!");
}

TEST_F(VirtioConsoleTest, TransmitWritesToTheBackendAndCompletesWithLengthZero) {
  activate();
  tx.add(5, false, "hello");
  tx.add(7, false, ", world");
  kick(VirtioConsole::kTransmitQueue);
  EXPECT_EQ(read_slave(12), "hello, world");
  ASSERT_EQ(tx.used_idx(), 2);
  EXPECT_EQ(tx.used_elem(0), std::make_pair(0u, 0u));
  EXPECT_EQ(tx.used_elem(1), std::make_pair(1u, 0u));
  EXPECT_GE(tx.interrupts.load(), 1);
}

TEST_F(VirtioConsoleTest, InputFillsReceiveBuffers) {
  activate();
  uint64_t buf = rx.add(64, true);
  kick(VirtioConsole::kReceiveQueue);
  ASSERT_EQ(::write(slave, "ls -l\n", 6), 6);
  ASSERT_TRUE(eventually([&] { return rx.used_idx() == 1; }));
  EXPECT_EQ(rx.used_elem(0).second, 6u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(buf)), 6), "ls -l\n");
  EXPECT_GE(rx.interrupts.load(), 1);
}

TEST_F(VirtioConsoleTest, InputWithoutReceiveBuffersIsBoundedAndDeliveredLater) {
  activate();
  // 10000 bytes typed while the guest has no receive buffer: the device holds at most
  // kInputBuffer of them and leaves the rest in the pty.
  std::string typed(10000, 'k');
  for (size_t i = 0; i < typed.size(); ++i) typed[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(::write(slave, typed.data(), typed.size()), static_cast<ssize_t>(typed.size()));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(rx.used_idx(), 0);
  std::string got;
  for (int round = 0; round < 8 && got.size() < typed.size(); ++round) {
    uint64_t buf = rx.add(8192, true);
    uint16_t before = rx.used_idx();
    kick(VirtioConsole::kReceiveQueue);
    ASSERT_TRUE(eventually([&] { return rx.used_idx() != before; })) << "round " << round;
    uint32_t len = rx.used_elem(before).second;
    EXPECT_LE(len, VirtioConsole::kInputBuffer);
    got.append(reinterpret_cast<char*>(ram.at(buf)), len);
  }
  EXPECT_EQ(got, typed);  // nothing lost, nothing reordered
}

TEST_F(VirtioConsoleTest, OutputToAPtyNobodyReadsNeverBlocks) {
  activate();
  // Far more than a pty buffers; nobody reads the slave. Each kick must still complete every chain.
  std::string chunk(4096, 'x');
  for (int round = 0; round < 64; ++round) {
    for (int i = 0; i < 8; ++i) tx.add(4096, false, chunk);
    auto start = std::chrono::steady_clock::now();
    kick(VirtioConsole::kTransmitQueue);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  }
  EXPECT_EQ(tx.used_idx(), 64 * 8);
}

TEST_F(VirtioConsoleTest, AReceiveBufferWithNoWritableBytesIsReturnedEmpty) {
  activate();
  rx.add(16, false, "driver-readable");  // a driver bug: the device cannot write into it
  uint64_t good = rx.add(16, true);
  kick(VirtioConsole::kReceiveQueue);
  ASSERT_EQ(::write(slave, "x", 1), 1);
  ASSERT_TRUE(eventually([&] { return rx.used_idx() == 2; }));
  EXPECT_EQ(rx.used_elem(0).second, 0u);
  EXPECT_EQ(rx.used_elem(1).second, 1u);
  EXPECT_EQ(*ram.at(good), 'x');
}

TEST_F(VirtioConsoleTest, ResetStopsTouchingGuestMemory) {
  activate();
  uint64_t buf = rx.add(16, true);
  kick(VirtioConsole::kReceiveQueue);
  loop->run_sync([&] { console->reset(); });
  ASSERT_EQ(::write(slave, "late", 4), 4);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(rx.used_idx(), 0);
  EXPECT_EQ(*ram.at(buf), 0);
  // A new activation (the driver set up the device again) gets the input.
  activate();
  kick(VirtioConsole::kReceiveQueue);
  ASSERT_TRUE(eventually([&] { return rx.used_idx() == 1; }));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(buf)), 4), "late");
}

TEST(VirtioConsoleNoBackend, DropsOutputAndCompletes) {
  FakeRam ram;
  DriverQueue rx{ram, 0, 0x10000}, tx{ram, 1, 0x40000};
  auto loop = virtio::EventLoop::create("console-none");
  ASSERT_TRUE(loop);
  VirtioConsole console(nullptr);
  virtio::Activation a{ram, 0, {&rx.vq, &tx.vq}, **loop, [] {}, nullptr};
  (*loop)->run_sync([&] {
    ASSERT_TRUE(console.activate(a));
    tx.add(3, false, "abc");
    console.queue_notified(1);
    console.reset();
  });
  EXPECT_EQ(tx.used_idx(), 1);
}

}  // namespace
}  // namespace altovirt::devices
