// Fuzz target: the split virtqueue as the device walks it (src/virtio/virtqueue.cpp, chain.cpp):
// descriptor tables, indirect tables, the avail ring and the used ring, in a fake guest RAM whose
// every byte comes from the input. What a guest driver controls here is everything: the queue
// layout it programs, the rings' contents and the descriptors' addresses, lengths, flags and links.
//
// Input: [flags u8][size exponent u8][desc u16][avail u16][used u16][ops u8 x 8][RAM image...]
// The three ring addresses are offsets into the 64 KiB RAM (at guest address kBase); the RAM image
// fills RAM from its start. Then the device pops chains until the queue is empty or broken (bounded),
// reading and writing all of each chain, and pushes and notifies as a device would.
#include <cstdint>
#include <vector>

#include "altovirt/virtio/virtqueue.h"
#include "fake_guest.h"
#include "fuzz_input.h"

using altovirt::virtio::QueueLayout;
using altovirt::virtio::Virtqueue;
using altovirt::virtio::testing::FakeRam;

namespace {
constexpr uint64_t kBase = 0x100000;
constexpr size_t kRamSize = 64 * 1024;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  altovirt::fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  QueueLayout layout;
  layout.size = static_cast<uint16_t>(1u << (in.take<uint8_t>() % 16));
  // Offsets near the end of RAM and past it (a guest may program any address).
  layout.desc = kBase + in.take<uint16_t>() * 2ull;
  layout.avail = kBase + in.take<uint16_t>() * 2ull;
  layout.used = kBase + in.take<uint16_t>() * 2ull;
  if (flags & 0x80) layout.desc -= 0x1000;  // below RAM
  uint8_t ops[8];
  for (auto& o : ops) o = in.take<uint8_t>();

  FakeRam ram(kBase, kRamSize);
  auto image = in.rest();
  std::copy(image.begin(), image.end(), ram.at(kBase));

  Virtqueue q(ram, 0);
  unsigned interrupts = 0, errors = 0;
  q.set_interrupt([&] { ++interrupts; });
  q.set_error_handler([&](const std::string&) { ++errors; });
  if (!q.configure(layout, flags & 1, flags & 2)) return 0;

  const uint64_t n_entries = layout.size;
  const bool rings_overlap = layout.avail < layout.used + 6 + 8 * n_entries && layout.used < layout.avail + 6 + 2 * n_entries;
  std::vector<uint8_t> buf;
  // A queue never yields more than its size per avail index wrap; bound the work anyway so that a
  // bug that repeats chains shows up as a wrong count rather than a hang.
  for (unsigned n = 0; n < 2u * layout.size + 4; ++n) {
    auto chain = q.pop();
    if (!chain) break;
    const uint8_t op = ops[n % 8];
    if (op & 0x40) {
      // A rate-limited device gives the chain back once and pops it again. The same head comes back
      // unless the guest laid the used ring over the avail ring, where pop()'s avail_event store
      // rewrites what the driver published (hostile, harmless: the chain is walked and checked again).
      q.unpop();
      auto again = q.pop();
      if (!rings_overlap && (!again || again->head != chain->head)) __builtin_trap();
      if (!again) break;
      chain = std::move(again);
    }
    size_t rb = chain->readable_bytes(), wb = chain->writable_bytes();
    buf.assign(rb, 0);
    if (chain->read(0, buf) != rb) __builtin_trap();
    // Partial ranges at an offset, as devices split header, data and status.
    size_t off = op % 32;
    for (auto& s : chain->readable_range(off, rb)) (void)s;
    auto wr = chain->writable_range(off, wb);
    size_t covered = 0;
    for (auto& s : wr) covered += s.size();
    if (covered != (off < wb ? wb - off : 0)) __builtin_trap();
    buf.assign(wb, op);
    if (chain->write(0, buf) != wb) __builtin_trap();
    q.push(chain->head, static_cast<uint32_t>(wb));
    if (op & 1) q.notify();
  }
  q.notify();
  return 0;
}
