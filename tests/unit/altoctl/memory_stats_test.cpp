// setmem's sizes (virsh's scaled integers, KiB by default) and dommemstat's output (virsh's keys
// and units from QEMU-shaped QMP replies).
#include <gtest/gtest.h>

#include "memory_stats.h"

namespace altoctl {
namespace {

TEST(SetmemSize, VirshUnits) {
  EXPECT_EQ(*parse_virsh_memory("524288"), 524288ull * 1024);  // no unit: KiB
  EXPECT_EQ(*parse_virsh_memory("512M"), 512ull << 20);
  EXPECT_EQ(*parse_virsh_memory("512MiB"), 512ull << 20);
  EXPECT_EQ(*parse_virsh_memory("1G"), 1ull << 30);
  EXPECT_EQ(*parse_virsh_memory("1gib"), 1ull << 30);
  EXPECT_EQ(*parse_virsh_memory("500MB"), 500'000'000ull);
  EXPECT_EQ(*parse_virsh_memory("4096b"), 4096ull);
  EXPECT_EQ(*parse_virsh_memory("2k"), 2048ull);
  EXPECT_FALSE(parse_virsh_memory(""));
  EXPECT_FALSE(parse_virsh_memory("M"));
  EXPECT_FALSE(parse_virsh_memory("12Q"));
  EXPECT_FALSE(parse_virsh_memory("-5"));
  EXPECT_FALSE(parse_virsh_memory("99999999999999999999"));
}

TEST(Dommemstat, VirshKeysAndUnits) {
  nlohmann::json stats = {{"stats",
                           {{"stat-swap-in", 4096}, {"stat-swap-out", 0}, {"stat-major-faults", 262},
                            {"stat-minor-faults", 132025}, {"stat-free-memory", 816553984},
                            {"stat-total-memory", 1039294464}, {"stat-available-memory", 825856000},
                            {"stat-disk-caches", 98902016}, {"stat-htlb-pgalloc", -1}, {"stat-htlb-pgfail", -1}}},
                          {"last-update", 1594035429}};
  EXPECT_EQ(format_dommemstat(1ull << 30, stats, 406284),
            "actual 1048576\n"
            "swap_in 4\n"
            "swap_out 0\n"
            "major_fault 262\n"
            "minor_fault 132025\n"
            "unused 797416\n"
            "available 1014936\n"
            "usable 806500\n"
            "last_update 1594035429\n"
            "disk_caches 96584\n"
            "rss 406284\n");
}

TEST(Dommemstat, NoGuestStatsYet) {
  EXPECT_EQ(format_dommemstat(512ull << 20, nlohmann::json(), std::nullopt), "actual 524288\n");
  nlohmann::json none = {{"stats", {{"stat-swap-in", -1}}}, {"last-update", 0}};
  EXPECT_EQ(format_dommemstat(512ull << 20, none, 100), "actual 524288\nrss 100\n");
}

}  // namespace
}  // namespace altoctl
