// Fuzz target: the virtio console's queues and config (src/devices/virtio_console): transmit chains
// (readable buffers written to the backend, writable parts ignored), receive chains filled from the
// host side, and emergency writes through the device configuration, as the device's EventLoop runs
// them. The backend is a pty whose other side the harness writes, so the receive path runs too.
//
// Input: [features u8][host input length u8][then per op: op u8 ...] where an op adds a chain to
// the receive or transmit ring (descriptor count, lengths, writable bits), kicks a queue, or writes
// or reads config bytes at an offset.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "altovirt/base/log.h"
#include "altovirt/devices/virtio_console.h"
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
constexpr size_t kRamSize = 256 * 1024;
constexpr uint16_t kQueueSize = 16;

struct Fixture {
  std::shared_ptr<devices::VirtioConsole> model;
  std::unique_ptr<virtio::EventLoop> loop;
  int host_side = -1;  // writes here arrive as console input
};

Fixture& fixture() {
  static Fixture* f = [] {
    log::set_level(log::Level::error);
    auto backend = devices::CharBackend::open("pty");
    auto l = virtio::EventLoop::create("fuzz-console");
    if (!backend || !l) std::abort();
    // The pty's slave side plays the terminal: what it writes, the console reads.
    int slave = ::open((*backend)->description().c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (slave < 0) std::abort();
    std::shared_ptr<devices::CharBackend> shared(std::move(*backend));
    return new Fixture{std::make_shared<devices::VirtioConsole>(shared), std::move(*l), slave};
  }();
  return *f;
}

void drain_output(int fd) {
  uint8_t buf[4096];
  while (::read(fd, buf, sizeof buf) > 0) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  fuzz::FuzzInput in(data, size);
  const uint8_t features = in.take<uint8_t>();
  const size_t host_input = in.take<uint8_t>() * 20u;

  FakeRam ram(kBase, kRamSize);
  Ring rx(ram, kBase, kQueueSize), tx(ram, kBase + 0x1000, kQueueSize);
  uint16_t rx_d = 0, tx_d = 0;
  uint64_t next_buf = kBase + 0x4000;
  virtio::Virtqueue rxq(ram, 0), txq(ram, 1);
  if (!rxq.configure(rx.layout, features & 1, features & 2) || !txq.configure(tx.layout, features & 1, features & 2))
    return 0;
  virtio::Activation act{ram, f.model->device_features(), {&rxq, (features & 4) ? nullptr : &txq}, *f.loop, [] {}, nullptr};
  f.loop->run_sync([&] {
    if (!f.model->activate(act)) std::abort();
  });
  if (host_input > 0) {
    std::vector<uint8_t> bytes(host_input, 'x');
    (void)!::write(f.host_side, bytes.data(), bytes.size());
  }

  for (unsigned ops = 0; !in.empty() && ops < 64; ++ops) {
    const uint8_t op = in.take<uint8_t>();
    switch (op % 5) {
      case 0:
      case 1: {  // a chain on rx (0) or tx (1)
        Ring& r = op % 5 == 0 ? rx : tx;
        uint16_t& d = op % 5 == 0 ? rx_d : tx_d;
        unsigned n = 1 + in.take<uint8_t>() % 4;
        uint16_t head = d % kQueueSize;
        for (unsigned i = 0; i < n; ++i) {
          uint32_t len = in.take<uint16_t>() % 600;
          if (next_buf + len > kBase + kRamSize) next_buf = kBase + 0x4000;
          bool last = i + 1 == n;
          uint16_t flags = static_cast<uint16_t>((last ? 0 : kNext) | (in.take_bool() ? kWrite : 0));
          r.desc(d % kQueueSize, next_buf, len, flags, static_cast<uint16_t>((d + 1) % kQueueSize));
          next_buf += len;
          ++d;
        }
        r.publish(head);
        break;
      }
      case 2:  // kick
        f.loop->run_sync([&] { f.model->queue_notified(op & 8 ? 1 : 0); });
        break;
      case 3: {  // config write (emerg_wr and elsewhere)
        uint8_t b[4] = {in.take<uint8_t>(), 0, 0, 0};
        uint32_t off = in.take<uint8_t>() % 16;
        f.model->write_config(off, std::span<const uint8_t>(b, 1 + op / 5 % 4));
        break;
      }
      default: {
        uint8_t b[8];
        f.model->read_config(in.take<uint8_t>() % 16, std::span<uint8_t>(b, 1 + op / 5 % 8));
      }
    }
  }
  // Let input arrive, then stop.
  std::this_thread::sleep_for(std::chrono::microseconds(host_input ? 200 : 0));
  f.loop->run_sync([&] {
    f.model->queue_notified(0);
    f.model->queue_notified(1);
    f.model->reset();
  });
  drain_output(f.host_side);  // what the guest transmitted
  return 0;
}
