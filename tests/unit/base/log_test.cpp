#include "altovirt/base/log.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "altovirt/base/files.h"

namespace altovirt::log {
namespace {

TEST(Log, ParseLevel) {
  EXPECT_EQ(parse_level("debug").value(), Level::debug);
  EXPECT_EQ(parse_level("warn").value(), Level::warn);
  auto bad = parse_level("loud");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("'loud'"), std::string::npos);
}

TEST(Log, WritesToFileAndFiltersByLevel) {
  std::string path = "/tmp/altovirt-log-test-" + std::to_string(::getpid());
  ASSERT_TRUE(set_file(path));
  set_level(Level::info);
  info("pci", "BAR{} at {:#x}", 0, 0xfe000000);
  debug("pci", "hidden");
  error("vfio", "boom");
  reset_sink();
  set_level(Level::warn);
  std::string text = read_file(path).value();
  ::unlink(path.c_str());
  EXPECT_NE(text.find("info: pci: BAR0 at 0xfe000000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("error: vfio: boom\n"), std::string::npos);
  EXPECT_EQ(text.find("hidden"), std::string::npos);
}

TEST(RateLimiter, AllowsBurstThenSuppressesUntilIntervalPasses) {
  using namespace std::chrono_literals;
  RateLimiter rl(3, 1s);
  auto t0 = RateLimiter::Clock::time_point{} + 100s;
  EXPECT_TRUE(rl.allow(t0));
  EXPECT_TRUE(rl.allow(t0 + 1ms));
  EXPECT_TRUE(rl.allow(t0 + 2ms));
  EXPECT_FALSE(rl.allow(t0 + 3ms));
  EXPECT_FALSE(rl.allow(t0 + 999ms));
  EXPECT_EQ(rl.take_suppressed(), 2u);
  EXPECT_EQ(rl.take_suppressed(), 0u);
  EXPECT_TRUE(rl.allow(t0 + 1s));
  EXPECT_TRUE(rl.allow(t0 + 1s + 1ms));
}

}  // namespace
}  // namespace altovirt::log
