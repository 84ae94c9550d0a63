// DmaMapJob: waiters block while a map is pending or running and see its outcome; a pending map
// that will never start (its device went) releases them; teardown waits for a running map.
#include "altovirt/vmm/dma_map_job.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace altovirt::vmm {
namespace {

using namespace std::chrono_literals;

// A map that runs until the test lets it finish.
struct Gate {
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
};

TEST(DmaMapJob, NothingAskedMeansNothingToWaitFor) {
  DmaMapJob job;
  EXPECT_FALSE(job.busy());
  EXPECT_TRUE(job.wait());
}

TEST(DmaMapJob, AWaiterBlocksFromExpectUntilTheMapHasRunAndSeesItsOutcome) {
  DmaMapJob job;
  job.expect();
  EXPECT_TRUE(job.busy());
  std::atomic<bool> returned{false};
  auto waiter = std::async(std::launch::async, [&] {
    Status s = job.wait();
    returned = true;
    return s;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned) << "wait() returned while the map was only pending";
  Gate gate;
  job.start([&]() -> Status {
    gate.opened.wait();
    return fail("pinning guest RAM: Cannot allocate memory");
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned) << "wait() returned while the map was running";
  gate.open.set_value();
  Status s = waiter.get();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("Cannot allocate memory"), std::string::npos);
  EXPECT_FALSE(job.busy());
  EXPECT_FALSE(job.wait());  // the outcome stays until reset
}

TEST(DmaMapJob, APendingMapThatWillNotStartReleasesItsWaiters) {
  DmaMapJob job;
  job.expect();
  auto waiter = std::async(std::launch::async, [&] { return job.wait(); });
  std::this_thread::sleep_for(20ms);
  job.reset();
  EXPECT_TRUE(waiter.get());
  EXPECT_FALSE(job.busy());
}

TEST(DmaMapJob, WaitRunningWaitsForARunningMapButNotForAPendingOne) {
  DmaMapJob job;
  job.expect();
  job.wait_running();  // pending: returns at once (only this thread could start it)
  Gate gate;
  std::atomic<bool> ran{false};
  job.start([&]() -> Status {
    gate.opened.wait();
    ran = true;
    return ok();
  });
  auto opener = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(50ms);
    gate.open.set_value();
  });
  job.wait_running();
  EXPECT_TRUE(ran);
  EXPECT_TRUE(job.wait());
}

TEST(DmaMapJob, ASecondMapAfterResetRunsAndTeardownWaitsForIt) {
  std::atomic<int> maps{0};
  {
    DmaMapJob job;
    job.start([&]() -> Status { ++maps; return ok(); });
    EXPECT_TRUE(job.wait());
    job.reset();  // the container went; a new device maps again
    job.expect();
    job.start([&]() -> Status {
      std::this_thread::sleep_for(50ms);
      ++maps;
      return ok();
    });
  }  // destroyed while the second map may still run
  EXPECT_EQ(maps, 2);
}

}  // namespace
}  // namespace altovirt::vmm
