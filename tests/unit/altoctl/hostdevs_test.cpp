#include "hostdevs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"

namespace altoctl {
namespace {

using ::testing::HasSubstr;
using namespace altovirt;
using namespace altovirt::host;
using namespace altovirt::host::testing;

config::Hostdev hostdev(uint32_t bus, bool managed) {
  config::Hostdev h;
  h.managed = managed;
  h.source.bus = bus;
  return h;
}

config::DomainConfig domain(std::string name, std::vector<config::Hostdev> devs) {
  config::DomainConfig c;
  c.name = std::move(name);
  c.hostdevs = std::move(devs);
  return c;
}

class HostdevsTest : public HostFixture {
 protected:
  BindOptions fast{std::chrono::milliseconds(50), std::chrono::milliseconds(1)};

  // `prepare` must fail with `needle` and leave the fake kernel and the claims as they were.
  void expect_refused(const config::DomainConfig& c, const std::string& needle) {
    std::string before = k.snapshot();
    auto writes = k.writes.size();
    auto state = open_state();
    auto r = prepare_hostdevs(k, state, c, ::getpid(), fast);
    ASSERT_FALSE(r) << "not refused";
    EXPECT_THAT(r.error().message(), HasSubstr(needle));
    EXPECT_EQ(k.snapshot(), before) << "the fake sysfs tree changed";
    EXPECT_EQ(k.writes.size(), writes) << "a refusal wrote to sysfs";
    for (auto& h : c.hostdevs) {
      auto claim = state.claim_of(*parse_pci_address(h.source.to_string()));
      EXPECT_TRUE(!claim || claim->vm != c.name) << "a refusal left a claim on " << h.source.to_string();
    }
  }
};

TEST_F(HostdevsTest, ManagedDeviceIsDetachedClaimedAndGivenBack) {
  auto c = domain("vm1", {hostdev(1, true)});
  {
    auto state = open_state();
    auto r = prepare_hostdevs(k, state, c, ::getpid(), fast);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(k.driver_of("0000:01:00.0"), "vfio-pci");
    auto claim = state.claim_of(addr("01:00.0"));
    ASSERT_TRUE(claim);
    EXPECT_EQ(claim->vm, "vm1");
    EXPECT_EQ(claim->pid, ::getpid());
  }
  auto state = open_state();
  auto r = release_hostdevs(k, state, c, fast);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "e1000e");
  EXPECT_FALSE(state.claim_of(addr("01:00.0")));
}

TEST_F(HostdevsTest, UnmanagedDeviceMustBeOnVfioAlreadyAndStaysThere) {
  expect_refused(domain("vm1", {hostdev(1, false)}),
                 "<hostdev managed='no'> 0000:01:00.0 is bound to driver e1000e, not vfio-pci: run `altoctl "
                 "nodedev-detach 0000:01:00.0` first");
  {
    auto state = open_state();
    ASSERT_TRUE(detach_device(k, state, addr("01:00.0"), false, fast));
  }
  auto c = domain("vm1", {hostdev(1, false)});
  auto state = open_state();
  ASSERT_TRUE(prepare_hostdevs(k, state, c, ::getpid(), fast));
  ASSERT_TRUE(release_hostdevs(k, state, c, fast));
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "vfio-pci");
  EXPECT_FALSE(state.claim_of(addr("01:00.0")));
}

TEST_F(HostdevsTest, ASecondVmCannotClaimTheSameDeviceAndChangesNothing) {
  {
    auto state = open_state();
    ASSERT_TRUE(prepare_hostdevs(k, state, domain("first", {hostdev(1, true)}), ::getpid(), fast));
  }
  expect_refused(domain("second", {hostdev(2, true), hostdev(1, true)}), "0000:01:00.0 is in use by domain 'first'");
  EXPECT_EQ(k.driver_of("0000:02:00.0"), "nvme");
}

TEST_F(HostdevsTest, AFailureHalfWayRollsBackEverything) {
  k.refuse_probe("0000:02:00.0", "vfio-pci");
  std::string before = k.snapshot();
  auto state = open_state();
  auto r = prepare_hostdevs(k, state, domain("vm1", {hostdev(1, true), hostdev(2, true)}), ::getpid(), fast);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("<hostdev managed='yes'> 0000:02:00.0"));
  EXPECT_EQ(k.driver_of("0000:01:00.0"), "e1000e");  // the first was given back
  EXPECT_EQ(k.driver_of("0000:02:00.0"), "nvme");
  EXPECT_FALSE(state.claim_of(addr("01:00.0")));
  EXPECT_FALSE(state.claim_of(addr("02:00.0")));
  EXPECT_EQ(k.snapshot(), before);
}

TEST_F(HostdevsTest, RefusesAMissingDeviceOrOneListedTwice) {
  expect_refused(domain("vm1", {hostdev(1, true), hostdev(9, true)}), "0000:09:00.0: no such PCI device");
  expect_refused(domain("vm1", {hostdev(1, true), hostdev(1, true)}), "0000:01:00.0 is listed twice");
}

TEST_F(HostdevsTest, ADeadVmsClaimDoesNotBlock) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  auto state = open_state();
  ASSERT_TRUE(state.claim(addr("01:00.0"), "dead", child));
  auto r = prepare_hostdevs(k, state, domain("vm1", {hostdev(1, true)}), ::getpid(), fast);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(state.claim_of(addr("01:00.0"))->vm, "vm1");
}

}  // namespace
}  // namespace altoctl
