#include "vm_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "altovirt/base/files.h"

namespace altoctl {
namespace {

using ::testing::HasSubstr;

class VmStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/altoctl-store-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root); }
  std::string root;
  VmStore store() const { return VmStore(root + "/state", root + "/conf"); }
};

VmStatus vm(unsigned id, std::string name, VmState st) {
  VmStatus s;
  s.id = id;
  s.name = std::move(name);
  s.state = st;
  return s;
}

TEST(FormatListTest, LooksLikeVirshList) {
  EXPECT_EQ(format_list({vm(1, "seed", VmState::running), vm(0, "persist", VmState::shutoff)}),
            " Id   Name      State\n"
            "-------------------------\n"
            " 1    seed      running\n"
            " -    persist   shut off\n");
}

TEST(FormatListTest, EmptyListHasTheHeaderOnly) {
  EXPECT_EQ(format_list({}), " Id   Name   State\n-------------------\n");
}

TEST(FormatListTest, WideIdsAndNamesWidenTheColumns) {
  std::string out = format_list({vm(123, "a-very-long-domain-name", VmState::paused)});
  EXPECT_THAT(out, HasSubstr(" Id    Name                      State\n"));
  EXPECT_THAT(out, HasSubstr(" 123   a-very-long-domain-name   paused\n"));
}

TEST(VmNameTest, RejectsNamesThatAreNotDirectoryNames) {
  EXPECT_TRUE(check_vm_name("vm-1_a.b"));
  for (const char* bad : {"", ".", "..", "a/b", "../etc", "a b", "x\n"}) {
    auto r = check_vm_name(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_THAT(r.error().message(), HasSubstr("letters, digits"));
  }
}

TEST_F(VmStoreTest, SavesAndLoadsARecord) {
  VmStatus s = vm(3, "seed", VmState::running);
  s.supervisor_pid = ::getpid();
  s.altovirt_pid = 42;
  s.pty = "/dev/pts/7";
  s.taps = {{"vnet3", false}, {"mq0", true}};
  ASSERT_TRUE(store().save(s));
  auto l = store().load("seed");
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->id, 3u);
  EXPECT_EQ((*l)->state, VmState::running);
  EXPECT_EQ((*l)->supervisor_pid, ::getpid());
  EXPECT_EQ((*l)->altovirt_pid, 42);
  EXPECT_EQ((*l)->pty, "/dev/pts/7");
  ASSERT_EQ((*l)->taps.size(), 2u);
  EXPECT_EQ((*l)->taps[0].name, "vnet3");
  EXPECT_FALSE((*l)->taps[0].multi_queue);
  EXPECT_EQ((*l)->taps[1].name, "mq0");
  EXPECT_TRUE((*l)->taps[1].multi_queue);
  EXPECT_FALSE((*l)->persistent);
  EXPECT_TRUE(is_active(**l));  // its supervisor (this process) is alive
}

TEST_F(VmStoreTest, ARecordWhoseSupervisorIsDeadIsNotActive) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  VmStatus s = vm(1, "gone", VmState::running);
  s.supervisor_pid = child;
  EXPECT_FALSE(is_active(s));
  s.supervisor_pid = ::getpid();
  s.state = VmState::shutoff;
  EXPECT_FALSE(is_active(s));
}

TEST_F(VmStoreTest, AZombieSupervisorIsNotActive) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  // Not reaped yet: kill(pid, 0) still succeeds, but the process is gone.
  for (int i = 0; i < 200 && process_running(child); ++i) ::usleep(5000);
  EXPECT_FALSE(process_running(child));
  ::waitpid(child, nullptr, 0);
}

TEST_F(VmStoreTest, MissingVmIsNone) {
  auto l = store().load("nosuch");
  ASSERT_TRUE(l);
  EXPECT_FALSE(*l);
}

TEST_F(VmStoreTest, ACorruptRecordIsAnErrorNamingTheFile) {
  ASSERT_TRUE(altovirt::make_dirs(root + "/state/vms/bad"));
  ASSERT_TRUE(altovirt::write_file_atomic(root + "/state/vms/bad/status.json", "{not json"));
  auto l = store().load("bad");
  ASSERT_FALSE(l);
  EXPECT_THAT(l.error().message(), HasSubstr("vms/bad/status.json"));
}

TEST_F(VmStoreTest, AllListsRunningByIdThenTheOthersWithDefinedOnes) {
  VmStatus a = vm(2, "b-running", VmState::running), b = vm(1, "z-running", VmState::running),
           c = vm(0, "a-off", VmState::shutoff);
  for (auto* s : {&a, &b, &c}) ASSERT_TRUE(store().save(*s));
  ASSERT_TRUE(altovirt::make_dirs(root + "/conf"));
  ASSERT_TRUE(altovirt::write_file_atomic(root + "/conf/defined.xml", "<domain/>"));
  ASSERT_TRUE(altovirt::write_file_atomic(root + "/conf/a-off.xml", "<domain/>"));
  auto all = store().all();
  ASSERT_TRUE(all) << all.error().message();
  std::vector<std::string> names;
  for (auto& v : *all) names.push_back(v.name);
  EXPECT_EQ(names, (std::vector<std::string>{"z-running", "b-running", "a-off", "defined"}));
  EXPECT_TRUE((*all)[2].persistent);
  EXPECT_TRUE((*all)[3].persistent);
  EXPECT_EQ((*all)[3].state, VmState::shutoff);
}

TEST_F(VmStoreTest, FindsByIdOrName) {
  ASSERT_TRUE(store().save(vm(7, "seven", VmState::running)));
  ASSERT_TRUE(store().save(vm(0, "12", VmState::shutoff)));
  auto by_id = store().find("7");
  ASSERT_TRUE(by_id && *by_id);
  EXPECT_EQ((*by_id)->name, "seven");
  auto by_name = store().find("seven");
  ASSERT_TRUE(by_name && *by_name);
  EXPECT_EQ((*by_name)->id, 7u);
  auto numeric_name = store().find("12");  // no running id 12: the name
  ASSERT_TRUE(numeric_name && *numeric_name);
  EXPECT_EQ((*numeric_name)->name, "12");
  auto none = store().find("../x");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST_F(VmStoreTest, IdsCountUp) {
  EXPECT_EQ(*store().next_id(), 1u);
  EXPECT_EQ(*store().next_id(), 2u);
  EXPECT_EQ(*store().next_id(), 3u);
}

}  // namespace
}  // namespace altoctl
