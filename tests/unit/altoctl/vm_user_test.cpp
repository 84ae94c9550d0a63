// The user altovirt runs as under altoctl (vm_user.h): who it is, what it is given and how that is
// taken back, the record recover reads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
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
  // CI (Debian, as root) has both; there a missing precondition is a failure, not a skip.
  if (nobody == nullptr && std::getenv("CI") != nullptr) FAIL() << "no user nobody on the CI machine";
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
    if (::geteuid() != 0 && std::getenv("CI") != nullptr) FAIL() << "CI runs the suite as root; this one is not";
    if (::geteuid() != 0) GTEST_SKIP() << "giving files to another user needs root";
    char tmpl[] = "/tmp/altoctl-user-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root = tmpl;
    ::chmod(tmpl, 0755);  // mkdtemp makes it 0700: nobody could reach anything in it
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

// What grant() persisted, and the owner each path had when it was persisted.
struct Persisted {
  std::vector<std::vector<OwnerChange>> calls;
  std::vector<uid_t> owner_at_call;  // of the newest change's path
  PersistChanges fn() {
    return [this](const std::vector<OwnerChange>& ch) {
      calls.push_back(ch);
      struct stat st {};
      owner_at_call.push_back(!ch.empty() && ::stat(ch.back().path.c_str(), &st) == 0 ? st.st_uid : ~0u);
      return altovirt::ok();
    };
  }
};

TEST_F(VmUserFiles, GrantGivesTheDomainsFilesAndRestoreTakesThemBack) {
  altovirt::config::DomainConfig c;
  c.name = "d";
  altovirt::config::Disk d;
  d.source = root + "/disk.img";
  c.disks.push_back(d);
  c.serial = altovirt::config::Serial{altovirt::config::Serial::Type::file, root + "/console.log"};
  altovirt::host::SysfsRoot sys("/");
  Persisted rec;
  auto given = grant(sys, user, c, rec.fn());
  ASSERT_TRUE(given) << given.error().message();
  EXPECT_EQ(of(root + "/disk.img").st_uid, 65534u);
  EXPECT_EQ(of(root + "/console.log").st_uid, 65534u) << "a serial file is made for the user";
  ASSERT_EQ(given->size(), 2u);
  // Each change was written down before it was made: the owner then was still root.
  ASSERT_EQ(rec.calls.size(), 2u);
  EXPECT_EQ(rec.calls[0].back().path, root + "/disk.img");
  EXPECT_EQ(rec.calls[1].size(), 2u);
  EXPECT_EQ(rec.owner_at_call, (std::vector<uid_t>{0u, 0u}));
  // The record recover reads, and the restore.
  ASSERT_TRUE(save_owner_changes(root + "/vms/d", *given));
  auto loaded = load_owner_changes(root + "/vms/d");
  ASSERT_TRUE(loaded) << loaded.error().message();
  ASSERT_EQ(loaded->size(), given->size());
  EXPECT_EQ((*loaded)[0].ino, of(root + "/disk.img").st_ino);
  EXPECT_TRUE(restore(*loaded).empty());
  EXPECT_EQ(of(root + "/disk.img").st_uid, 0u);
  EXPECT_EQ(of(root + "/disk.img").st_mode & 07777, 0640u);
}

TEST_F(VmUserFiles, AFailedGrantChangesNothing) {
  altovirt::config::DomainConfig c;
  c.name = "d";
  altovirt::config::Disk a, b;
  a.source = root + "/disk.img";
  b.source = root + "/missing.img";
  c.disks = {a, b};
  altovirt::host::SysfsRoot sys("/");
  Persisted rec;
  auto given = grant(sys, user, c, rec.fn());
  ASSERT_FALSE(given);
  EXPECT_THAT(given.error().message(), HasSubstr("missing.img"));
  EXPECT_EQ(of(root + "/disk.img").st_uid, 0u) << "the first image is given back";
  ASSERT_FALSE(rec.calls.empty());
  EXPECT_TRUE(rec.calls.back().empty()) << "the record is emptied once all is back";
}

TEST_F(VmUserFiles, RestoreLeavesAFileTheUserSwappedIn) {
  // The image belonged to uid 1234; while the domain ran, the user replaced it with a link to a
  // file of root's. Restoring "to 1234" by path would hand that file to 1234.
  ASSERT_EQ(::chown((root + "/disk.img").c_str(), 1234, 1234), 0);
  ASSERT_TRUE(altovirt::write_file_atomic(root + "/secret", "s"));
  std::vector<OwnerChange> changes;
  Persisted rec;
  ASSERT_TRUE(take_for(changes, user, root + "/disk.img", rec.fn()));
  ASSERT_EQ(::unlink((root + "/disk.img").c_str()), 0);
  ASSERT_EQ(::symlink((root + "/secret").c_str(), (root + "/disk.img").c_str()), 0);
  auto problems = restore(changes);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("is not the file that was given"));
  EXPECT_EQ(of(root + "/secret").st_uid, 0u);
  // A new regular file in its place (another inode) is left alone too.
  ASSERT_EQ(::unlink((root + "/disk.img").c_str()), 0);
  ASSERT_TRUE(altovirt::write_file_atomic(root + "/disk.img", "y"));
  EXPECT_EQ(restore(changes).size(), 1u);
  EXPECT_EQ(of(root + "/disk.img").st_uid, 0u);
}

TEST_F(VmUserFiles, WhatTheUserOwnsOrCanReadIsNotTaken) {
  ASSERT_EQ(::chown((root + "/disk.img").c_str(), 65534, 65534), 0);
  ASSERT_TRUE(altovirt::write_file_atomic(root + "/base.img", "b"));
  ::chmod((root + "/base.img").c_str(), 0644);
  altovirt::config::DomainConfig c;
  c.name = "d";
  altovirt::config::Disk own, base;
  own.source = root + "/disk.img";
  base.source = root + "/base.img";
  base.readonly = true;
  c.disks = {own, base};
  altovirt::host::SysfsRoot sys("/");
  Persisted rec;
  auto given = grant(sys, user, c, rec.fn());
  ASSERT_TRUE(given) << given.error().message();
  EXPECT_TRUE(given->empty()) << "recording the user as the owner 'before' would leave the file the user's";
  EXPECT_EQ(of(root + "/base.img").st_uid, 0u) << "a shared read-only image stays root's";
}

TEST_F(VmUserFiles, AnUnreachablePathIsNamed) {
  ASSERT_TRUE(altovirt::make_dirs(root + "/private"));
  ::chmod((root + "/private").c_str(), 0700);
  ASSERT_TRUE(altovirt::write_file_atomic(root + "/private/disk.img", "x"));
  altovirt::config::DomainConfig c;
  c.name = "d";
  altovirt::config::Disk d;
  d.source = root + "/private/disk.img";
  c.disks = {d};
  altovirt::host::SysfsRoot sys("/");
  Persisted rec;
  auto given = grant(sys, user, c, rec.fn());
  ASSERT_FALSE(given);
  EXPECT_THAT(given.error().message(),
              HasSubstr("altovirt runs as user 'nobody' (uid 65534), which cannot reach " + root +
                        "/private/disk.img: directory " + root + "/private is not searchable by it"));
  EXPECT_EQ(of(root + "/private/disk.img").st_uid, 0u) << "given back";
  c.disks.clear();
  c.kernel = root + "/private/disk.img";
  EXPECT_FALSE(grant(sys, user, c, rec.fn())) << "a kernel the user cannot read";
  ::chmod((root + "/private").c_str(), 0711);
  ::chmod((root + "/private/disk.img").c_str(), 0600);
  auto k = grant(sys, user, c, rec.fn());
  ASSERT_FALSE(k);
  EXPECT_THAT(k.error().message(), HasSubstr("cannot read " + root + "/private/disk.img"));
}

TEST_F(VmUserFiles, TheVmmDirectoryIsMadeAfreshForTheUser) {
  std::string vmm = root + "/vms/d/vmm";
  ASSERT_TRUE(make_vmm_dir(vmm, user));
  EXPECT_EQ(of(vmm).st_uid, 65534u);
  EXPECT_EQ(of(vmm).st_mode & 07777, 0700u);
  auto u = user_of_domain(vmm);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->uid, 65534u);
  // What the last run left, including a link out of the directory: removed, the target kept.
  ASSERT_TRUE(altovirt::write_file_atomic(root + "/keep", "k"));
  ASSERT_EQ(::symlink((root + "/keep").c_str(), (vmm + "/qmp.sock").c_str()), 0);
  ASSERT_TRUE(altovirt::write_file_atomic(vmm + "/altovirt.log", "old"));
  ASSERT_TRUE(make_vmm_dir(vmm, std::nullopt));
  EXPECT_TRUE(std::filesystem::is_empty(vmm));
  EXPECT_TRUE(altovirt::path_exists(root + "/keep"));
  EXPECT_EQ(of(vmm).st_uid, 0u);
  EXPECT_FALSE(user_of_domain(vmm)) << "root's: altovirt runs as root";
}

}  // namespace
}  // namespace altoctl
