// The seccomp sandbox against the real kernel: each case forks a child that confines itself and
// makes an allowed or a forbidden call, and the parent checks how the child ended and what it wrote.
// (A filter cannot be removed, so the test process itself never enters one.)
#include "altovirt/base/sandbox.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <string>

using namespace altovirt;

namespace {

// What the child needs to run the body and leave: the common calls of a confined thread.
sandbox::Policy minimal() {
  return {{"write", "exit_group", "exit", "rt_sigreturn", "brk", "mmap", "munmap", "futex", "ioctl_not_a_call"}, {}};
}

struct Outcome {
  int exit_code = -1;
  int signal = 0;
  std::string output;  // the child's stderr
};

// Runs `body` in a child that first configures the sandbox with `policy` for every role and enters
// the vcpu role; the child exits 0 when body returns.
Outcome run_confined(sandbox::Mode mode, sandbox::Policy policy, const std::function<void()>& body) {
  int pipefd[2];
  EXPECT_EQ(0, ::pipe(pipefd));
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipefd[0]);
    ::dup2(pipefd[1], 2);
    if (!sandbox::configure(mode, [policy](sandbox::Role) { return policy; })) ::_exit(10);
    if (!sandbox::enter(sandbox::Role::vcpu)) ::_exit(11);
    body();
    ::_exit(0);
  }
  ::close(pipefd[1]);
  Outcome o;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) o.output.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  return o;
}

}  // namespace

TEST(Sandbox, ParsesModes) {
  EXPECT_EQ(sandbox::Mode::on, *sandbox::parse_mode("on"));
  EXPECT_EQ(sandbox::Mode::off, *sandbox::parse_mode("off"));
  EXPECT_EQ(sandbox::Mode::log, *sandbox::parse_mode("log"));
  auto bad = sandbox::parse_mode("strict");
  ASSERT_FALSE(bad);
  EXPECT_EQ("-sandbox strict: expected on, off or log", bad.error().message());
}

TEST(Sandbox, SummaryResolvesNamesAndListsUnknownOnes) {
  auto s = sandbox::summarize({{"read", "write", "read", "no_such_call"}, {1, 2, 3}});
  ASSERT_EQ(2u, s.syscalls.size());
  EXPECT_EQ(SYS_read, s.syscalls[0]);
  EXPECT_EQ(SYS_write, s.syscalls[1]);
  EXPECT_EQ(3u, s.ioctls);
  ASSERT_EQ(1u, s.unknown.size());
  EXPECT_EQ("no_such_call", s.unknown[0]);
}

TEST(Sandbox, AllowedCallsWork) {
  auto o = run_confined(sandbox::Mode::on, minimal(), [] { (void)!::write(2, "hello\n", 6); });
  EXPECT_EQ(0, o.exit_code) << o.output;
  EXPECT_EQ("hello\n", o.output);
}

TEST(Sandbox, ForbiddenCallStopsTheProcessNamingThreadRoleAndCall) {
  auto o = run_confined(sandbox::Mode::on, minimal(), [] { (void)::syscall(SYS_getppid); });
  EXPECT_EQ(1, o.exit_code);
  EXPECT_NE(std::string::npos, o.output.find("(role vcpu) made the forbidden system call getppid (" +
                                             std::to_string(SYS_getppid) + ")"))
      << o.output;
}

TEST(Sandbox, OffConfinesNothing) {
  auto o = run_confined(sandbox::Mode::off, minimal(), [] {
    if (::syscall(SYS_getppid) <= 0) ::_exit(3);
  });
  EXPECT_EQ(0, o.exit_code) << o.output;
}

TEST(Sandbox, LogModeLetsForbiddenCallsThrough) {
  auto o = run_confined(sandbox::Mode::log, minimal(), [] {
    if (::syscall(SYS_getppid) <= 0) ::_exit(3);
  });
  EXPECT_EQ(0, o.exit_code) << o.output;
}

TEST(Sandbox, IoctlIsFilteredByRequestComparedAs32Bits) {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  sandbox::Policy p = minimal();
  p.ioctls = {TCGETS};
  // Allowed request: /dev/null is no terminal, so ENOTTY, but the call was made.
  auto allowed = run_confined(sandbox::Mode::on, p, [fd] {
    termios t{};
    if (::ioctl(fd, TCGETS, &t) == 0 || errno != ENOTTY) ::_exit(3);
    // The same request with garbage in the upper half of the argument register: the kernel uses
    // the low 32 bits, so must the filter.
    if (::syscall(SYS_ioctl, fd, 0xdead0000'00000000ul | TCGETS, &t) == 0 || errno != ENOTTY) ::_exit(4);
  });
  EXPECT_EQ(0, allowed.exit_code) << allowed.output;
  auto forbidden = run_confined(sandbox::Mode::on, p, [fd] {
    winsize w{};
    (void)::ioctl(fd, TIOCGWINSZ, &w);
  });
  EXPECT_EQ(1, forbidden.exit_code);
  EXPECT_NE(std::string::npos, forbidden.output.find("forbidden system call ioctl")) << forbidden.output;
  ::close(fd);
}

TEST(Sandbox, ReadOnlyOpensAreAllowedWritingOnesAreNot) {
  sandbox::Policy p = minimal();
  p.syscalls.push_back("close");
  p.open_read_only = true;
  auto reading = run_confined(sandbox::Mode::on, p, [] {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) ::_exit(3);
    ::close(fd);
  });
  EXPECT_EQ(0, reading.exit_code) << reading.output;
  for (int flags : {O_WRONLY, O_RDWR, O_RDONLY | O_CREAT, O_RDONLY | O_TRUNC, O_RDONLY | O_APPEND}) {
    auto writing = run_confined(sandbox::Mode::on, p, [flags] { (void)::open("/tmp/altovirt-sandbox-test", flags | O_CLOEXEC, 0600); });
    EXPECT_EQ(1, writing.exit_code) << "flags " << flags;
    EXPECT_NE(std::string::npos, writing.output.find("forbidden system call openat")) << writing.output;
  }
}
