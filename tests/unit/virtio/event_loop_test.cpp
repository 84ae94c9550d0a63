#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>

#include "altovirt/base/fd.h"
#include "altovirt/virtio/event_loop.h"
#include "fake_guest.h"

namespace altovirt::virtio {
namespace {

TEST(EventLoop, RunsFdCallbacksOnItsThreadAndRunSyncWaits) {
  auto loop = EventLoop::create("t");
  ASSERT_TRUE(loop);
  UniqueFd efd(::eventfd(0, EFD_NONBLOCK));
  std::atomic<int> calls{0};
  std::atomic<bool> on_loop{false};
  ASSERT_TRUE((*loop)->add_fd(efd.get(), [&] {
    uint64_t v;
    (void)!::read(efd.get(), &v, sizeof v);
    on_loop = (*loop)->in_loop_thread();
    ++calls;
  }));
  uint64_t one = 1;
  ASSERT_EQ(::write(efd.get(), &one, sizeof one), 8);
  EXPECT_TRUE(testing::eventually([&] { return calls.load() == 1; }));
  EXPECT_TRUE(on_loop.load());
  bool ran_there = false;
  (*loop)->run_sync([&] { ran_there = (*loop)->in_loop_thread(); });
  EXPECT_TRUE(ran_there);
  (*loop)->remove_fd(efd.get());
  ASSERT_EQ(::write(efd.get(), &one, sizeof one), 8);
  (*loop)->run_sync([] {});
  EXPECT_EQ(calls.load(), 1) << "no callback after remove_fd";
}

}  // namespace
}  // namespace altovirt::virtio
