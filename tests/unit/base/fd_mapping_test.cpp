#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "altovirt/base/fd.h"
#include "altovirt/base/files.h"
#include "altovirt/base/mapping.h"

namespace altovirt {
namespace {

bool fd_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFd, ClosesOnDestruction) {
  int raw;
  {
    UniqueFd fd(::open("/dev/null", O_RDONLY));
    raw = fd.get();
    ASSERT_TRUE(fd);
    EXPECT_TRUE(fd_open(raw));
  }
  EXPECT_FALSE(fd_open(raw));
}

TEST(UniqueFd, MoveTransfersOwnership) {
  UniqueFd a(::open("/dev/null", O_RDONLY));
  int raw = a.get();
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state is the test
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(fd_open(raw));
}

TEST(UniqueFd, ResetClosesPreviousAndReleaseKeepsOpen) {
  UniqueFd a(::open("/dev/null", O_RDONLY));
  int first = a.get();
  a.reset(::open("/dev/null", O_RDONLY));
  EXPECT_FALSE(fd_open(first) && first != a.get());
  int second = a.release();
  EXPECT_FALSE(a.valid());
  EXPECT_TRUE(fd_open(second));
  ::close(second);
}

TEST(Mapping, AnonymousIsWritableAndUnmappedOnDestruction) {
  void* addr;
  {
    auto m = Mapping::anonymous(2 * 4096, 0, "test memory");
    ASSERT_TRUE(m) << m.error().message();
    m->bytes()[0] = 0x5a;
    m->bytes()[8191] = 0xa5;
    EXPECT_EQ(m->size(), 8192u);
    addr = m->addr();
    unsigned char vec[2];
    EXPECT_EQ(::mincore(addr, 8192, vec), 0);
  }
  unsigned char vec[2];
  EXPECT_EQ(::mincore(addr, 8192, vec), -1);  // ENOMEM: no longer mapped
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Mapping, MoveKeepsTheRange) {
  auto m = Mapping::anonymous(4096, 0, "test memory");
  ASSERT_TRUE(m);
  void* addr = m->addr();
  Mapping other = std::move(*m);
  EXPECT_FALSE(m->valid());
  EXPECT_EQ(other.addr(), addr);
}

TEST(Mapping, FailureNamesTheThing) {
  auto m = Mapping::map_fd(-1, 4096, PROT_READ, MAP_SHARED, 0, "BAR0 of 0000:01:00.0");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("BAR0 of 0000:01:00.0"), std::string::npos);
  EXPECT_EQ(m.error().sys_errno(), EBADF);
}

}  // namespace
TEST(Mapping, AnonymousAlignedStartsOnTheBoundaryAndIsUsable) {
  for (size_t size : {size_t{4096}, size_t{3} << 20, size_t{64} << 20}) {
    auto m = Mapping::anonymous_aligned(size, 2 << 20, MAP_NORESERVE, "test");
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m->addr()) % (2 << 20), 0u);
    EXPECT_EQ(m->size(), size);
    m->bytes()[0] = 1;
    m->bytes()[size - 1] = 2;  // the whole range is mapped and writable
    EXPECT_EQ(m->bytes()[size - 1], 2);
  }
}

TEST(Files, ReadBytesReturnsTheWholeFile) {
  char path[] = "/tmp/altovirt-readbytes-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> data(3 * 1024 * 1024 + 17);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fd);
  auto got = read_bytes(path);
  ::unlink(path);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, data);
  auto missing = read_bytes("/nonexistent/altovirt");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("/nonexistent/altovirt"), std::string::npos);
}

}  // namespace altovirt
