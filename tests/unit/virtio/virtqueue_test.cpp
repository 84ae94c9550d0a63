// The split virtqueue against a fake guest RAM: good chains, every kind of bad chain a hostile
// driver can build, and the EVENT_IDX interrupt decisions.
#include <gtest/gtest.h>

#include "altovirt/virtio/virtqueue.h"
#include "fake_guest.h"

namespace altovirt::virtio {
namespace {

using testing::FakeRam;
using testing::kIndirect;
using testing::kNext;
using testing::kWrite;
using testing::Ring;

constexpr uint64_t kBase = 0x100000;      // guest RAM starts at 1 MiB
constexpr uint64_t kRamSize = 0x100000;   // 1 MiB of it
constexpr uint64_t kRingAt = kBase;
constexpr uint64_t kData = kBase + 0x10000;

class VirtqueueTest : public ::testing::Test {
 protected:
  void SetUp() override { configure(false, false); }
  void configure(bool indirect, bool event_idx) {
    vq.set_error_handler([this](const std::string& why) { errors.push_back(why); });
    vq.set_interrupt([this] { ++interrupts; });
    ASSERT_TRUE(vq.configure(ring.layout, indirect, event_idx));
  }
  // Expects the next pop to break the queue, with an error message containing `what`.
  void expect_broken(const std::string& what) {
    EXPECT_FALSE(vq.pop().has_value());
    EXPECT_TRUE(vq.broken());
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find(what), std::string::npos) << errors[0];
    EXPECT_FALSE(vq.pop().has_value()) << "a broken queue stays quiet";
    EXPECT_EQ(errors.size(), 1u) << "the error is reported once";
  }
  FakeRam ram{kBase, kRamSize};
  Ring ring{ram, kRingAt, 8};
  Virtqueue vq{ram, 0};
  std::vector<std::string> errors;
  int interrupts = 0;
};

TEST_F(VirtqueueTest, PopsReadableThenWritableBuffers) {
  ram.put<uint32_t>(kData, 0xabcd1234);
  ring.desc(0, kData, 4, kNext, 1);
  ring.desc(1, kData + 0x100, 8, kNext, 2);
  ring.desc(2, kData + 0x200, 16, kWrite);
  ring.publish(0);
  auto c = vq.pop();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->head, 0);
  EXPECT_EQ(c->readable.size(), 2u);
  EXPECT_EQ(c->readable_bytes(), 12u);
  EXPECT_EQ(c->writable_bytes(), 16u);
  uint32_t v = 0;
  EXPECT_EQ(c->read(0, std::span(reinterpret_cast<uint8_t*>(&v), 4)), 4u);
  EXPECT_EQ(v, 0xabcd1234u);
  uint8_t out[16];
  std::memset(out, 0x5a, sizeof out);
  EXPECT_EQ(c->write(0, out), 16u);
  EXPECT_EQ(ram.get<uint8_t>(kData + 0x20f), 0x5a);
  EXPECT_FALSE(vq.pop().has_value());
  EXPECT_TRUE(errors.empty());
}

TEST_F(VirtqueueTest, PushAndNotifyPublishUsedEntries) {
  ring.desc(3, kData, 16, kWrite);
  ring.publish(3);
  auto c = vq.pop();
  ASSERT_TRUE(c);
  vq.push(c->head, 7);
  EXPECT_EQ(ring.used_idx(), 0) << "not visible before notify";
  vq.notify();
  EXPECT_EQ(ring.used_idx(), 1);
  EXPECT_EQ(ring.used_id(0), 3u);
  EXPECT_EQ(ring.used_len(0), 7u);
  EXPECT_EQ(interrupts, 1);
}

TEST_F(VirtqueueTest, LoopingChainBreaksTheQueue) {
  ring.desc(0, kData, 4, kNext, 1);
  ring.desc(1, kData, 4, kNext, 0);
  ring.publish(0);
  expect_broken("loops");
}

TEST_F(VirtqueueTest, SelfLoopBreaksTheQueue) {
  ring.desc(5, kData, 4, kNext, 5);
  ring.publish(5);
  expect_broken("loops");
}

TEST_F(VirtqueueTest, NextIndexOutsideTheTable) {
  ring.desc(0, kData, 4, kNext, 8);
  ring.publish(0);
  expect_broken("outside the table");
}

TEST_F(VirtqueueTest, HeadOutsideTheTable) {
  ring.publish(200);
  expect_broken("outside the table");
}

TEST_F(VirtqueueTest, AddressOutsideRam) {
  ring.desc(0, kBase + kRamSize - 2, 4, 0);  // straddles the end of RAM
  ring.publish(0);
  expect_broken("not inside guest RAM");
}

TEST_F(VirtqueueTest, AddressBelowRam) {
  ring.desc(0, 0xfee00000 - 0x1000000, 4, 0);
  ring.publish(0);
  expect_broken("not inside guest RAM");
}

TEST_F(VirtqueueTest, AddressThatWraps) {
  ring.desc(0, ~0ull - 8, 0x100, 0);
  ring.publish(0);
  expect_broken("descriptor 0");
}

TEST_F(VirtqueueTest, ZeroLengthDescriptorsAddNoBytes) {
  ring.desc(0, kData, 4, kNext, 1);
  ring.desc(1, 0xdead0000, 0, kNext, 2);  // zero length: its address is never used
  ring.desc(2, kData + 0x40, 1, kWrite);
  ring.publish(0);
  auto c = vq.pop();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->readable.size(), 1u);
  EXPECT_EQ(c->writable.size(), 1u);
  EXPECT_TRUE(errors.empty());
}

TEST_F(VirtqueueTest, ReadableAfterWritableIsRejected) {
  // A write-only header followed by a readable descriptor (2.7.4.2 ordering).
  ring.desc(0, kData, 16, kWrite | kNext, 1);
  ring.desc(1, kData + 0x100, 4, 0);
  ring.publish(0);
  expect_broken("after a device-writable");
}

TEST_F(VirtqueueTest, AvailIndexTooFarAhead) {
  ram.put<uint16_t>(ring.layout.avail + 2, 9);  // 9 new entries in a queue of 8
  expect_broken("ahead");
}

TEST_F(VirtqueueTest, IndirectNeedsTheFeature) {
  ring.desc(0, kData, 32, kIndirect);
  ring.publish(0);
  expect_broken("not negotiated");
}

class IndirectTest : public VirtqueueTest {
 protected:
  void SetUp() override { configure(true, false); }
  // An indirect table at `at` with `n` entries, chained 0 -> 1 -> ... ; the last one writable.
  void table(uint64_t at, unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      uint64_t d = at + 16u * i;
      ram.put<uint64_t>(d, kData + 0x100 * i);
      ram.put<uint32_t>(d + 8, 8);
      ram.put<uint16_t>(d + 12, static_cast<uint16_t>((i + 1 < n ? kNext : 0) | (i + 1 == n ? kWrite : 0)));
      ram.put<uint16_t>(d + 14, static_cast<uint16_t>(i + 1));
    }
  }
};

TEST_F(IndirectTest, IndirectTableIsWalked) {
  table(kData + 0x8000, 4);
  ring.desc(2, kData + 0x8000, 4 * 16, kIndirect);
  ring.publish(2);
  auto c = vq.pop();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->head, 2);
  EXPECT_EQ(c->readable.size(), 3u);
  EXPECT_EQ(c->writable.size(), 1u);
}

TEST_F(IndirectTest, TooManySegments) {
  table(kData + 0x8000, 9);  // longer than the queue (8)
  ring.desc(0, kData + 0x8000, 9 * 16, kIndirect);
  ring.publish(0);
  expect_broken("longer than the queue");
}

TEST_F(IndirectTest, IndirectInsideIndirect) {
  table(kData + 0x8000, 2);
  ram.put<uint16_t>(kData + 0x8000 + 16 + 12, kIndirect);  // entry 1 points at another table
  ring.desc(0, kData + 0x8000, 2 * 16, kIndirect);
  ring.publish(0);
  expect_broken("inside an indirect table");
}

TEST_F(IndirectTest, IndirectWithNext) {
  table(kData + 0x8000, 2);
  ring.desc(0, kData + 0x8000, 2 * 16, kIndirect | kNext, 1);
  ring.publish(0);
  expect_broken("both INDIRECT and NEXT");
}

TEST_F(IndirectTest, IndirectTableLengthNotAMultipleOf16) {
  ring.desc(0, kData + 0x8000, 24, kIndirect);
  ring.publish(0);
  expect_broken("multiple of 16");
}

TEST_F(IndirectTest, IndirectTableOutsideRam) {
  ring.desc(0, kBase + kRamSize - 16, 32, kIndirect);
  ring.publish(0);
  expect_broken("not inside guest RAM");
}

TEST_F(IndirectTest, LoopInsideIndirectTable) {
  table(kData + 0x8000, 2);
  ram.put<uint16_t>(kData + 0x8000 + 16 + 12, kNext);  // entry 1 -> 0 -> 1 ...
  ram.put<uint16_t>(kData + 0x8000 + 16 + 14, 0);
  ram.put<uint16_t>(kData + 0x8000 + 12, kNext);
  ring.desc(0, kData + 0x8000, 2 * 16, kIndirect);
  ring.publish(0);
  expect_broken("loops");
}

TEST(VirtqueueConfigure, RejectsBadLayouts) {
  FakeRam ram(kBase, kRamSize);
  Virtqueue vq(ram, 0);
  EXPECT_FALSE(vq.configure({6, kBase, kBase + 0x1000, kBase + 0x2000}, false, false)) << "not a power of two";
  EXPECT_FALSE(vq.configure({0, kBase, kBase + 0x1000, kBase + 0x2000}, false, false));
  EXPECT_FALSE(vq.configure({8, kBase + 8, kBase + 0x1000, kBase + 0x2000}, false, false)) << "descriptors misaligned";
  EXPECT_FALSE(vq.configure({8, kBase, kBase + 0x1001, kBase + 0x2000}, false, false)) << "avail misaligned";
  EXPECT_FALSE(vq.configure({8, kBase, kBase + 0x1000, kBase + 0x2002}, false, false)) << "used misaligned";
  EXPECT_FALSE(vq.configure({8, kBase + kRamSize - 64, kBase, kBase + 0x2000}, false, false)) << "table past RAM";
  EXPECT_FALSE(vq.configure({8, kBase, kBase + 0x1000, 0x1000}, false, false)) << "used ring not in RAM";
  EXPECT_TRUE(vq.configure({8, kBase, kBase + 0x1000, kBase + 0x2000}, false, false));
}

TEST(EventIdx, NeedEventIsTheSpecFormula) {
  // Interrupt when used_event is in [old, new) (2.7.10.2), with 16-bit wrap-around.
  EXPECT_TRUE(Virtqueue::need_event(0, 1, 0));
  EXPECT_FALSE(Virtqueue::need_event(1, 1, 0));
  EXPECT_TRUE(Virtqueue::need_event(4, 6, 3));
  EXPECT_FALSE(Virtqueue::need_event(2, 6, 3));
  EXPECT_TRUE(Virtqueue::need_event(0xffff, 1, 0xfffe));
  EXPECT_FALSE(Virtqueue::need_event(1, 1, 0xfffe));
}

class EventIdxTest : public VirtqueueTest {
 protected:
  void SetUp() override { configure(false, true); }
  void one_request(uint16_t head) {
    ring.desc(head, kData, 1, kWrite);
    ring.publish(head);
    auto c = vq.pop();
    ASSERT_TRUE(c);
    vq.push(c->head, 1);
    vq.notify();
  }
};

TEST_F(EventIdxTest, InterruptsOnlyWhenUsedEventIsCrossed) {
  ring.set_used_event(0);
  one_request(0);
  EXPECT_EQ(interrupts, 1) << "the first completion always interrupts";
  one_request(1);  // used_event 0 already passed
  EXPECT_EQ(interrupts, 1);
  ring.set_used_event(2);  // the driver wants to hear about entry 2
  one_request(2);
  EXPECT_EQ(interrupts, 2);
  ring.set_used_event(10);
  one_request(3);
  EXPECT_EQ(interrupts, 2);
}

TEST_F(EventIdxTest, AvailEventFollowsTheDevice) {
  one_request(0);
  one_request(1);
  EXPECT_EQ(ring.avail_event(), 2) << "kick me when entry 2 is made available";
  EXPECT_FALSE(vq.pop());
  EXPECT_EQ(ring.avail_event(), 2);
}

TEST_F(VirtqueueTest, NoInterruptFlagWithoutEventIdx) {
  ring.set_avail_flags(1);  // VRING_AVAIL_F_NO_INTERRUPT
  ring.desc(0, kData, 1, kWrite);
  ring.publish(0);
  auto c = vq.pop();
  vq.push(c->head, 1);
  vq.notify();
  EXPECT_EQ(interrupts, 0);
  EXPECT_EQ(ring.used_idx(), 1);
  ring.set_avail_flags(0);
  ring.publish(0);
  c = vq.pop();
  vq.push(c->head, 1);
  vq.notify();
  EXPECT_EQ(interrupts, 1);
}

TEST_F(VirtqueueTest, UnpopGivesTheChainBack) {
  ring.desc(0, kData, 1, kWrite);
  ring.publish(0);
  ASSERT_TRUE(vq.pop());
  vq.unpop();
  auto c = vq.pop();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->head, 0);
}

}  // namespace
}  // namespace altovirt::virtio
