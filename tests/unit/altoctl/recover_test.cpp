// recover.h's decisions on the host layer's fake kernel: what a dead domain left is given back,
// what belongs to a live domain or was detached by hand is left alone.
#include "recover.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <net/if.h>
#include <unistd.h>

#include "altovirt/base/files.h"
#include "altovirt/host/net_tap.h"
#include "fixture.h"
#include "hostdevs.h"

namespace altoctl {
namespace {

using ::testing::HasSubstr;
using namespace altovirt;
using namespace altovirt::host;
using namespace altovirt::host::testing;

std::string domain_xml(const std::string& name, const char* managed) {
  return "<domain type='kvm'><name>" + name +
         "</name><memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type>"
         "<kernel>/k</kernel></os><devices><hostdev mode='subsystem' type='pci' managed='" +
         managed +
         "'><driver name='vfio'/><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>"
         "</hostdev></devices></domain>";
}

pid_t dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (auto& l : lines) s += l + "\n";
  return s;
}

class RecoverTest : public HostFixture {
 protected:
  BindOptions fast{std::chrono::milliseconds(50), std::chrono::milliseconds(1)};
  VmStore store() const { return VmStore(state_dir, state_dir + "/conf"); }

  // Domain `name` (the e1000e as a hostdev) as a supervisor with pid `pid` started it: devices
  // prepared and claimed, the record saved with `state`, its domain.xml written.
  void started(const std::string& name, pid_t pid, VmState state, const char* managed = "yes") {
    auto c = config::parse_domain_xml(domain_xml(name, managed));
    ASSERT_TRUE(c) << c.error().message();
    {
      auto st = open_state();
      auto r = prepare_hostdevs(k, st, c->config, pid, fast);
      ASSERT_TRUE(r) << r.error().message();
    }
    VmPaths p = store().paths(name);
    ASSERT_TRUE(make_dirs(p.dir));
    ASSERT_TRUE(write_file_atomic(p.xml, domain_xml(name, managed)));
    VmStatus s;
    s.id = 1;
    s.name = name;
    s.state = state;
    s.supervisor_pid = pid;
    ASSERT_TRUE(store().save(s));
  }

  RecoverOutcome run() {
    auto st = open_state();
    return recover(k, st, store(), fast);
  }
};

TEST_F(RecoverTest, ADomainWhoseSupervisorDiedIsCleanedUpAndItsDeviceGivenBack) {
  started("vm1", dead_pid(), VmState::running);
  ASSERT_EQ(k.driver_of("0000:01:00.0"), "vfio-pci");
  EXPECT_TRUE(needs_reconcile(store()));
  RecoverOutcome out = run();
  EXPECT_TRUE(out.problems.empty()) << joined(out.problems);
  EXPECT_THAT(joined(out.done), HasSubstr("domain 'vm1': its supervisor"));
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "e1000e");
  auto s = store().load("vm1");
  ASSERT_TRUE(s && *s);
  EXPECT_EQ((*s)->state, VmState::shutoff);
  EXPECT_EQ((*s)->id, 0u);
  EXPECT_EQ((*s)->message, "its supervisor was killed");
  EXPECT_FALSE(open_state().claim_of(addr("01:00.0")));
  EXPECT_FALSE(needs_reconcile(store()));
  // A second run finds nothing left to do.
  out = run();
  EXPECT_TRUE(out.done.empty()) << joined(out.done);
}

// A supervisor killed while its domain ran leaves the taps it created (persistent, so they outlive
// altovirt): the record lists them and recover deletes them. Real taps: root and /dev/net/tun, as CI.
TEST_F(RecoverTest, TapsADeadSupervisorCreatedAreDeleted) {
  auto tap = create_tap("avr%d", false);
  ASSERT_TRUE(tap) << tap.error().message() << " (this test needs root and /dev/net/tun: modprobe tun)";
  started("vm1", dead_pid(), VmState::running);
  auto s = store().load("vm1");
  ASSERT_TRUE(s && *s);
  (*s)->taps = {{*tap, false}};
  ASSERT_TRUE(store().save(**s));
  EXPECT_NE(::if_nametoindex(tap->c_str()), 0u);
  RecoverOutcome out = run();
  EXPECT_TRUE(out.problems.empty()) << joined(out.problems);
  EXPECT_EQ(::if_nametoindex(tap->c_str()), 0u) << *tap << " is still there";
  s = store().load("vm1");
  ASSERT_TRUE(s && *s);
  EXPECT_TRUE((*s)->taps.empty());
  EXPECT_EQ((*s)->state, VmState::shutoff);
}

TEST_F(RecoverTest, AStaleClaimWithoutARecordIsGivenBackWhenItsXmlSaysManaged) {
  // The supervisor died after claiming the device, before it wrote its record: the claim is all
  // there is, and the definition says managed='yes'.
  pid_t pid = dead_pid();
  {
    auto c = config::parse_domain_xml(domain_xml("vm2", "yes"));
    ASSERT_TRUE(c);
    auto st = open_state();
    ASSERT_TRUE(prepare_hostdevs(k, st, c->config, pid, fast));
  }
  ASSERT_TRUE(make_dirs(store().config_dir()));
  ASSERT_TRUE(write_file_atomic(store().defined_xml("vm2"), domain_xml("vm2", "yes")));
  RecoverOutcome out = run();
  EXPECT_TRUE(out.problems.empty()) << joined(out.problems);
  EXPECT_THAT(joined(out.done), HasSubstr("0000:01:00.0: held by domain 'vm2'"));
  EXPECT_THAT(joined(out.done), HasSubstr("given back to e1000e"));
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "e1000e");
}

TEST_F(RecoverTest, AStaleClaimNoXmlExplainsOnlyLosesItsClaim) {
  pid_t pid = dead_pid();
  {
    auto c = config::parse_domain_xml(domain_xml("ghost", "yes"));
    ASSERT_TRUE(c);
    auto st = open_state();
    ASSERT_TRUE(prepare_hostdevs(k, st, c->config, pid, fast));
  }
  RecoverOutcome out = run();
  EXPECT_TRUE(out.problems.empty()) << joined(out.problems);
  EXPECT_THAT(joined(out.done), HasSubstr("stays on vfio-pci (no domain XML names it"));
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "vfio-pci");
  auto st = open_state();
  EXPECT_TRUE(st.stale_claims().empty());
  EXPECT_FALSE(st.claim_of(addr("01:00.0")));
}

TEST_F(RecoverTest, AnUnmanagedDeviceOfADeadDomainStaysOnVfio) {
  {
    auto st = open_state();
    ASSERT_TRUE(detach_device(k, st, addr("01:00.0"), false, fast));
  }
  started("vm3", dead_pid(), VmState::running, "no");
  RecoverOutcome out = run();
  EXPECT_TRUE(out.problems.empty()) << joined(out.problems);
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "vfio-pci");
  EXPECT_FALSE(open_state().claim_of(addr("01:00.0")));
}

TEST_F(RecoverTest, ALiveDomainAndADeviceDetachedByHandAreLeftAlone) {
  started("live", ::getpid(), VmState::running);  // this process plays its supervisor
  {
    auto st = open_state();
    ASSERT_TRUE(detach_device(k, st, addr("02:00.0"), false, fast));  // by hand: no claim
  }
  std::string before = k.snapshot();
  EXPECT_FALSE(needs_reconcile(store()));
  RecoverOutcome out = run();
  EXPECT_TRUE(out.done.empty()) << joined(out.done);
  EXPECT_TRUE(out.problems.empty()) << joined(out.problems);
  EXPECT_EQ(k.snapshot(), before);
  auto s = store().load("live");
  EXPECT_EQ((*s)->state, VmState::running);
  EXPECT_EQ(open_state().claim_of(addr("01:00.0"))->vm, "live");
}

TEST_F(RecoverTest, ALingeringProcessIsKilledOnlyWhenItIsThisDomainsAltovirt) {
  // The record names an altovirt pid that now belongs to an unrelated process (pid reuse): it must
  // survive the clean-up.
  pid_t other = ::fork();
  if (other == 0) {
    ::pause();
    ::_exit(0);
  }
  started("vm4", dead_pid(), VmState::running);
  auto s = *store().load("vm4");
  s->altovirt_pid = other;
  ASSERT_TRUE(store().save(*s));
  RecoverOutcome out = run();
  EXPECT_TRUE(out.problems.empty()) << joined(out.problems);
  EXPECT_TRUE(process_running(other));
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "e1000e");
  ::kill(other, SIGKILL);
  ::waitpid(other, nullptr, 0);
}

}  // namespace
}  // namespace altoctl
