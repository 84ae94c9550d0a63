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

constexpr uint64_t MiB = uint64_t{1} << 20, GiB = uint64_t{1} << 30;

// Every byte of every region is in exactly one piece, at the same offset of the host mapping, and
// the pieces come highest address first.
void expect_exact_cover(const std::vector<kvm::RamRegion>& regions, const std::vector<kvm::RamRegion>& pieces) {
  for (size_t i = 1; i < pieces.size(); ++i) EXPECT_GT(pieces[i - 1].gpa, pieces[i].gpa) << "piece " << i;
  for (auto& r : regions) {
    uint64_t covered = 0;
    for (auto& p : pieces) {
      if (p.gpa < r.gpa || p.gpa >= r.gpa + r.size) continue;
      EXPECT_LE(p.gpa + p.size, r.gpa + r.size) << "a piece runs past its region";
      EXPECT_EQ(p.host, r.host + (p.gpa - r.gpa));
      covered += p.size;
    }
    EXPECT_EQ(covered, r.size) << "region at " << r.gpa;
  }
}

TEST(DmaMapPieces, SmallPiecesFromTheTopDownCoverEveryRegionOnce) {
  auto* low = reinterpret_cast<uint8_t*>(uintptr_t{0x7f0000000000});
  auto* high = reinterpret_cast<uint8_t*>(uintptr_t{0x7f8000000000});
  // RAM below the PCI hole and above 4 GiB, neither a multiple of the piece size.
  std::vector<kvm::RamRegion> regions = {{0, 3 * GiB + 8 * MiB, low}, {4 * GiB, 1 * GiB + 4 * MiB, high}};
  auto pieces = dma_map_pieces(regions, 4096);
  expect_exact_cover(regions, pieces);
  ASSERT_FALSE(pieces.empty());
  EXPECT_EQ(pieces.front().gpa, 5 * GiB);  // the top of RAM first: the 4 MiB left over at its end
  EXPECT_EQ(pieces.front().size, 4 * MiB);
  EXPECT_EQ(pieces[1].gpa, 5 * GiB - 32 * MiB);
  EXPECT_EQ(pieces[1].size, 32 * MiB);
  EXPECT_EQ(pieces.back().gpa, 0u);
  EXPECT_EQ(pieces.size(), size_t{(3 * GiB) / (32 * MiB) + 1 + GiB / (32 * MiB) + 1});
}

TEST(DmaMapPieces, AHugepageIsNeverSplitAndALargeGuestStaysWithinAThousandPieces) {
  auto* base = reinterpret_cast<uint8_t*>(uintptr_t{0x7f0000000000});
  std::vector<kvm::RamRegion> gig = {{0, 2 * GiB, base}, {4 * GiB, 6 * GiB, base + 2 * GiB}};
  auto pieces = dma_map_pieces(gig, GiB);
  expect_exact_cover(gig, pieces);
  for (auto& p : pieces) {
    EXPECT_EQ(p.gpa % GiB, 0u);
    EXPECT_EQ(p.size % GiB, 0u);
  }
  std::vector<kvm::RamRegion> large = {{0, 3 * GiB, base}, {4 * GiB, 1021 * GiB, base + 3 * GiB}};
  auto many = dma_map_pieces(large, 2 * MiB);
  expect_exact_cover(large, many);
  EXPECT_LE(many.size(), 1024u + large.size());
  for (auto& p : many) EXPECT_EQ(p.size % (2 * MiB), 0u);
}

}  // namespace
}  // namespace altovirt::vmm
