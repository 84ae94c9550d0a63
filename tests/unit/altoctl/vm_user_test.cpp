// The user altovirt runs as under altoctl (vm_user.h): who it is, what it is given and how that is
// taken back, the record recover reads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "altovirt/base/files.h"
#include "vm_user.h"

namespace altoctl {
namespace {

using ::testing::HasSubstr;

TEST(VmUser, RootMeansNoChangeAndAMissingDefaultFallsBackToRoot) {
  auto r = resolve_vm_user("root");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(*r);
  ::unsetenv("ALTOVIRT_USER");
  if (::getpwnam("altovirt") == nullptr) {
    r = resolve_vm_user("");
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r) << "no user 'altovirt' on this host: root, as before";
  }
}

TEST(VmUser, ANamedUserMustExist) {
  auto r = resolve_vm_user("no-such-user-av");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("user 'no-such-user-av' does not exist; create it (useradd --system"));
  ::setenv("ALTOVIRT_USER", "no-such-user-av", 1);
  EXPECT_FALSE(resolve_vm_user(""));
  ::unsetenv("ALTOVIRT_USER");
}

TEST(VmUser, AnExistingUser) {
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user nobody";
  auto r = resolve_vm_user("nobody");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->uid, nobody->pw_uid);
  EXPECT_EQ((*r)->gid, nobody->pw_gid);
}

class VmUserFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "giving files to another user needs root";
    char tmpl[] = "/tmp/altoctl-user-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root = tmpl;
    ASSERT_TRUE(altovirt::make_dirs(root + "/vms/d"));
    ASSERT_TRUE(altovirt::write_file_atomic(root + "/disk.img", "x"));
    ::chmod((root + "/disk.img").c_str(), 0640);
  }
  void TearDown() override {
    if (!root.empty()) std::filesystem::remove_all(root);
  }
  static struct stat of(const std::string& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st;
  }
  std::string root;
  VmUser user{"nobody", 65534, 65534, {}};
};

TEST_F(VmUserFiles, GrantGivesTheDomainsFilesAndRestoreTakesThemBack) {
  altovirt::config::DomainConfig c;
  c.name = "d";
  altovirt::config::Disk d;
  d.source = root + "/disk.img";
  c.disks.push_back(d);
  c.serial = altovirt::config::Serial{altovirt::config::Serial::Type::file, root + "/console.log"};
  altovirt::host::SysfsRoot sys("/");
  auto given = grant(sys, user, c, root + "/vms/d");
  ASSERT_TRUE(given) << given.error().message();
  EXPECT_EQ(of(root + "/disk.img").st_uid, 65534u);
  EXPECT_EQ(of(root + "/console.log").st_uid, 65534u) << "a serial file is made for the user";
  EXPECT_EQ(of(root + "/vms/d").st_uid, 65534u);
  EXPECT_EQ(of(root + "/vms/d").st_mode & 07777, 0700u);
  auto u = user_of_domain(root + "/vms/d");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->uid, 65534u);
  // The record recover reads, and the restore.
  ASSERT_TRUE(save_owner_changes(root + "/vms/d", *given));
  auto loaded = load_owner_changes(root + "/vms/d");
  ASSERT_TRUE(loaded) << loaded.error().message();
  ASSERT_EQ(loaded->size(), given->size());
  EXPECT_TRUE(restore(*loaded).empty());
  EXPECT_EQ(of(root + "/disk.img").st_uid, 0u);
  EXPECT_EQ(of(root + "/disk.img").st_mode & 07777, 0640u);
  EXPECT_EQ(of(root + "/vms/d").st_uid, 0u);
  EXPECT_FALSE(user_of_domain(root + "/vms/d"));
}

TEST_F(VmUserFiles, AFailedGrantChangesNothing) {
  altovirt::config::DomainConfig c;
  c.name = "d";
  altovirt::config::Disk a, b;
  a.source = root + "/disk.img";
  b.source = root + "/missing.img";
  c.disks = {a, b};
  altovirt::host::SysfsRoot sys("/");
  auto given = grant(sys, user, c, root + "/vms/d");
  ASSERT_FALSE(given);
  EXPECT_THAT(given.error().message(), HasSubstr("missing.img"));
  EXPECT_EQ(of(root + "/disk.img").st_uid, 0u) << "the first image is given back";
  EXPECT_EQ(of(root + "/vms/d").st_uid, 0u);
}

}  // namespace
}  // namespace altoctl
