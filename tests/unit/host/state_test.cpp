#include "altovirt/host/state.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "altovirt/base/files.h"
#include "fixture.h"

namespace altovirt::host::testing {
namespace {

using ::testing::HasSubstr;

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/altovirt-state-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base = tmpl;
    dir = base + "/run/altovirt";  // created on open
  }
  void TearDown() override { std::filesystem::remove_all(base); }
  std::string base, dir;
};

pid_t dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

TEST_F(StateTest, OriginalDriverSurvivesReopening) {
  {
    auto s = StateDir::open(dir);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE(s->record_original_driver(addr("01:00.0"), "e1000e"));
    // Simulated crash: the StateDir is dropped without any further call.
  }
  auto s = StateDir::open(dir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->original_driver(addr("01:00.0")), "e1000e");
  EXPECT_FALSE(s->original_driver(addr("02:00.0")));
  ASSERT_TRUE(s->forget_device(addr("01:00.0")));
  auto again = std::move(*s);
  EXPECT_FALSE(again.original_driver(addr("01:00.0")));
}

TEST_F(StateTest, AnInterruptedDetachKeepsTheTrueOriginal) {
  auto s = StateDir::open(dir);
  ASSERT_TRUE(s->record_original_driver(addr("01:00.0"), "e1000e"));
  // A retry after a crash sees the device unbound or on vfio-pci: those are altoctl's doing.
  ASSERT_TRUE(s->record_original_driver(addr("01:00.0"), ""));
  ASSERT_TRUE(s->record_original_driver(addr("01:00.0"), "vfio-pci"));
  EXPECT_EQ(s->original_driver(addr("01:00.0")), "e1000e");
  // A host driver the user bound since replaces it.
  ASSERT_TRUE(s->record_original_driver(addr("01:00.0"), "igb"));
  EXPECT_EQ(s->original_driver(addr("01:00.0")), "igb");
}

TEST_F(StateTest, ClaimsCountOnlyWhileTheVmLives) {
  auto s = StateDir::open(dir);
  ASSERT_TRUE(s->claim(addr("01:00.0"), "vm1", ::getpid()));
  auto c = s->claim_of(addr("01:00.0"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->vm, "vm1");
  auto other = s->claim(addr("01:00.0"), "vm2", ::getpid());
  ASSERT_FALSE(other);
  EXPECT_THAT(other.error().message(), HasSubstr("0000:01:00.0 is in use by VM 'vm1'"));
  EXPECT_THAT(s->check_not_in_use(addr("01:00.0"), "detach").error().message(),
              HasSubstr("cannot detach PCI device 0000:01:00.0: it is in use by running VM 'vm1'"));
  // Release by another VM's name does nothing; by the holder frees it.
  ASSERT_TRUE(s->release(addr("01:00.0"), "vm2"));
  EXPECT_TRUE(s->claim_of(addr("01:00.0")));
  ASSERT_TRUE(s->release(addr("01:00.0"), "vm1"));
  EXPECT_FALSE(s->claim_of(addr("01:00.0")));
  // A claim by a process that is gone does not count, and can be taken over.
  ASSERT_TRUE(s->claim(addr("02:00.0"), "ghost", dead_pid()));
  EXPECT_FALSE(s->claim_of(addr("02:00.0")));
  EXPECT_TRUE(s->check_not_in_use(addr("02:00.0"), "detach"));
  EXPECT_TRUE(s->claim(addr("02:00.0"), "vm3", ::getpid()));
}

TEST_F(StateTest, ClaimsAndRecordsAreIndependentAndPersist) {
  {
    auto s = StateDir::open(dir);
    ASSERT_TRUE(s->record_original_driver(addr("01:00.0"), "e1000e"));
    ASSERT_TRUE(s->claim(addr("01:00.0"), "vm1", ::getpid()));
    ASSERT_TRUE(s->forget_device(addr("01:00.0")));
  }
  auto s = StateDir::open(dir);
  EXPECT_FALSE(s->original_driver(addr("01:00.0")));
  ASSERT_TRUE(s->claim_of(addr("01:00.0")));
  EXPECT_EQ(s->claim_of(addr("01:00.0"))->vm, "vm1");
}

TEST_F(StateTest, ACorruptStateFileIsAnErrorAndIsNotOverwritten) {
  ASSERT_TRUE(make_dirs(dir));
  ASSERT_TRUE(write_file_atomic(dir + "/state.json", "{\"devices\": {\"bogus\": {}}}"));
  auto s = StateDir::open(dir);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr(dir + "/state.json is not valid ('bogus' is not a PCI address)"));
  ASSERT_TRUE(write_file_atomic(dir + "/state.json", "not json"));
  s = StateDir::open(dir);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("not a JSON object"));
  EXPECT_EQ(*read_file(dir + "/state.json"), "not json");
}

TEST_F(StateTest, TheLockExcludesOtherProcesses) {
  auto s = StateDir::open(dir);
  ASSERT_TRUE(s);
  pid_t child = ::fork();
  if (child == 0) {
    int fd = ::open((dir + "/lock").c_str(), O_RDWR);
    // Exit 0 only if the lock is held by the parent.
    ::_exit(fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(StateTest, DefaultDirectoryFollowsTheEnvironment) {
  ::unsetenv("ALTOVIRT_STATE_DIR");
  EXPECT_EQ(default_state_dir(), "/run/altovirt");
  ::setenv("ALTOVIRT_STATE_DIR", dir.c_str(), 1);
  EXPECT_EQ(default_state_dir(), dir);
  ::unsetenv("ALTOVIRT_STATE_DIR");
}

}  // namespace
}  // namespace altovirt::host::testing
