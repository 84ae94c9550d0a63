#include "altovirt/base/parse.h"

#include <gtest/gtest.h>

namespace altovirt {
namespace {

TEST(ParseUint, DecimalAndHex) {
  EXPECT_EQ(parse_uint("42", "count").value(), 42u);
  EXPECT_EQ(parse_uint("0x1f", "count").value(), 31u);
  EXPECT_EQ(parse_uint_base("8086", 16, "vendor").value(), 0x8086u);
  EXPECT_EQ(parse_uint_base("0x10d3", 16, "device").value(), 0x10d3u);
}

TEST(ParseUint, RejectsGarbageAndRange) {
  auto r = parse_uint("4x", "sriov count");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "sriov count '4x' is not a decimal number");
  EXPECT_FALSE(parse_uint("", "n"));
  EXPECT_FALSE(parse_uint("-1", "n"));
  EXPECT_FALSE(parse_uint("99999999999999999999999", "n"));
  auto big = parse_uint("300", "smp", 255);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message(), "smp 300 is out of range (at most 255)");
}

TEST(ParseSize, Units) {
  EXPECT_EQ(parse_size("4096", "size").value(), 4096u);
  EXPECT_EQ(parse_size("256", "-m", 1 << 20).value(), 256ull << 20);
  EXPECT_EQ(parse_size("256M", "-m").value(), 256ull << 20);
  EXPECT_EQ(parse_size("1G", "-m").value(), 1ull << 30);
  EXPECT_EQ(parse_size("2g", "-m").value(), 2ull << 30);
  EXPECT_EQ(parse_size("512MiB", "-m").value(), 512ull << 20);
  EXPECT_EQ(parse_size("8KB", "x").value(), 8192u);
  EXPECT_EQ(parse_size("7B", "x").value(), 7u);
}

TEST(ParseSize, Errors) {
  auto unit = parse_size("3Q", "-m");
  ASSERT_FALSE(unit);
  EXPECT_NE(unit.error().message().find("unknown unit"), std::string::npos);
  EXPECT_FALSE(parse_size("G", "-m"));
  EXPECT_FALSE(parse_size("99999999999T", "-m"));
}

}  // namespace
}  // namespace altovirt
