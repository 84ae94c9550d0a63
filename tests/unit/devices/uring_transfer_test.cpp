// The io_uring engine's handling of each kernel result (transfer.h): retries of -EAGAIN/-EINTR up to
// a bound, short transfers continued from where they stopped, a shrunken image, bounce copy-out.
#include "transfer.h"

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace altovirt::virtio_blk {
namespace {

// A read of two 512-byte guest buffers, submitted straight from them (no bounce).
struct TwoBufferRead {
  std::array<uint8_t, 512> a{}, b{};
  Transfer t;
  explicit TwoBufferRead(IoKind kind = IoKind::read) {
    t.op.kind = kind;
    t.op.length = 1024;
    t.op.iov = {std::span<uint8_t>(a), std::span<uint8_t>(b)};
    t.iov = to_iovec(t.op.iov);
  }
};

TEST(UringTransfer, EagainAndEintrAreSubmittedAgainNotReportedAsDiskErrors) {
  TwoBufferRead r;
  EXPECT_EQ(on_result(r.t, -EAGAIN), std::nullopt);
  EXPECT_EQ(on_result(r.t, -EINTR), std::nullopt);
  EXPECT_EQ(r.t.done, 0u);
  EXPECT_EQ(r.t.first, 0u);
  EXPECT_EQ(on_result(r.t, 1024), 1024);
}

TEST(UringTransfer, TooManyEagainsInARowAreReported) {
  TwoBufferRead r;
  for (unsigned i = 0; i < kMaxUringRetries; ++i) ASSERT_EQ(on_result(r.t, -EAGAIN), std::nullopt) << i;
  EXPECT_EQ(on_result(r.t, -EAGAIN), -EAGAIN);
}

TEST(UringTransfer, ProgressStartsTheRetryCountAfresh) {
  TwoBufferRead r;
  for (unsigned i = 0; i < kMaxUringRetries; ++i) ASSERT_EQ(on_result(r.t, -EAGAIN), std::nullopt);
  EXPECT_EQ(on_result(r.t, 100), std::nullopt);
  for (unsigned i = 0; i < kMaxUringRetries; ++i) ASSERT_EQ(on_result(r.t, -EINTR), std::nullopt);
  EXPECT_EQ(on_result(r.t, 924), 1024);
}

TEST(UringTransfer, ShortTransferContinuesWhereItStopped) {
  TwoBufferRead r;
  EXPECT_EQ(on_result(r.t, 700), std::nullopt);
  EXPECT_EQ(r.t.done, 700u);
  ASSERT_EQ(r.t.first, 1u);  // the first buffer is exhausted
  EXPECT_EQ(r.t.iov[1].iov_base, static_cast<void*>(r.b.data() + 188));
  EXPECT_EQ(r.t.iov[1].iov_len, 324u);
  EXPECT_EQ(on_result(r.t, 324), 1024);
}

TEST(UringTransfer, EndOfImageBeforeTheEndIsAnIoError) {
  TwoBufferRead r;
  EXPECT_EQ(on_result(r.t, 512), std::nullopt);
  EXPECT_EQ(on_result(r.t, 0), -EIO);
}

TEST(UringTransfer, OtherErrorsAreReportedAtOnce) {
  TwoBufferRead r;
  EXPECT_EQ(on_result(r.t, -EIO), -EIO);
  TwoBufferRead w(IoKind::write);
  EXPECT_EQ(on_result(w.t, -ENOSPC), -ENOSPC);
}

TEST(UringTransfer, FlushCompletesWithZero) {
  Transfer t;
  t.op.kind = IoKind::flush;
  EXPECT_EQ(on_result(t, -EAGAIN), std::nullopt);
  EXPECT_EQ(on_result(t, 0), 0);
}

TEST(UringTransfer, BouncedReadIsCopiedToTheGuestBuffersOnlyWhenComplete) {
  TwoBufferRead r;
  r.t.bounce = std::make_unique<AlignedBuffer>(1024, 4096);
  ASSERT_NE(r.t.bounce->data(), nullptr);
  std::memset(r.t.bounce->data(), 0xab, 1024);
  r.t.iov = {{r.t.bounce->data(), 1024}};
  EXPECT_EQ(on_result(r.t, 600), std::nullopt);
  EXPECT_EQ(r.a[0], 0);  // nothing reaches the guest before the whole read is there
  EXPECT_EQ(on_result(r.t, 424), 1024);
  EXPECT_EQ(r.a[0], 0xab);
  EXPECT_EQ(r.b[511], 0xab);
}

}  // namespace
}  // namespace altovirt::virtio_blk
