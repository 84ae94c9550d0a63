#include "altovirt/base/error.h"

#include <gtest/gtest.h>

namespace altovirt {
namespace {

Result<int> half(int v) {
  if (v % 2 != 0) return fail("{} is odd", v);
  return v / 2;
}

Result<int> quarter(int v) {
  AV_TRY_ASSIGN(int h, half(v));
  AV_TRY_ASSIGN(int q, half(h));
  return q;
}

Status check_even(int v) {
  AV_TRY(half(v));
  return ok();
}

TEST(Error, FormatsMessage) {
  auto r = half(3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "3 is odd");
  EXPECT_EQ(r.error().sys_errno(), 0);
}

TEST(Error, KeepsErrnoAndAppendsItsDescription) {
  auto e = fail_errno(ENOENT, "opening {}", "/nope");
  EXPECT_EQ(e.error().sys_errno(), ENOENT);
  EXPECT_EQ(e.error().message(), "opening /nope: No such file or directory");
}

TEST(Error, ContextPrefixesMessage) {
  Error e("device busy", EBUSY);
  e.context("detaching 0000:01:00.0");
  EXPECT_EQ(e.message(), "detaching 0000:01:00.0: device busy");
  EXPECT_EQ(e.sys_errno(), EBUSY);
}

TEST(Error, TryMacrosPropagateFirstError) {
  EXPECT_EQ(quarter(8).value(), 2);
  EXPECT_EQ(quarter(6).error().message(), "3 is odd");
  EXPECT_EQ(quarter(5).error().message(), "5 is odd");
  EXPECT_TRUE(check_even(4));
  EXPECT_EQ(check_even(7).error().message(), "7 is odd");
}

}  // namespace
}  // namespace altovirt
