// altoctl's NIC preparation: everything is checked before anything is created, so a domain whose
// bridge does not exist starts nothing and leaves no tap behind; when the test may create taps
// (root with /dev/net/tun), a created tap is set up and removed again by release_interfaces.
#include <net/if.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "altovirt/base/files.h"
#include "altovirt/host/net_tap.h"
#include "interfaces.h"

namespace altoctl {
namespace {

using altovirt::config::DomainConfig;
using altovirt::config::Interface;
using ::testing::HasSubstr;

Interface nic(Interface::Type type, std::string target, std::string bridge = "") {
  Interface n;
  n.type = type;
  n.target = std::move(target);
  n.bridge = std::move(bridge);
  return n;
}

TEST(Interfaces, AMissingBridgeIsAnErrorBeforeAnyTapIsCreated) {
  std::string tap = "avu" + std::to_string(::getpid() % 100000);
  DomainConfig c;
  c.interfaces = {nic(Interface::Type::ethernet, tap), nic(Interface::Type::bridge, "", "nosuchbr-av")};
  std::vector<CreatedTap> created;
  auto r = prepare_interfaces(c, created);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("<interface> 2: <source bridge='nosuchbr-av'/>: no such bridge"));
  EXPECT_TRUE(created.empty());
  EXPECT_EQ(::if_nametoindex(tap.c_str()), 0u) << "the first NIC's tap must not have been created";
}

TEST(Interfaces, AnInterfaceThatIsNotATapIsRefused) {
  DomainConfig c;
  c.interfaces = {nic(Interface::Type::ethernet, "lo")};
  std::vector<CreatedTap> created;
  auto r = prepare_interfaces(c, created);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("<target dev='lo'/>: the interface exists and is not a tap"));
}

TEST(Interfaces, ACreatedTapIsUpAndGoesAway) {
  std::string tap = "avv" + std::to_string(::getpid() % 100000);
  DomainConfig c;
  c.interfaces = {nic(Interface::Type::ethernet, tap), nic(Interface::Type::ethernet, "")};
  std::vector<CreatedTap> created;
  auto r = prepare_interfaces(c, created);
  // The suite runs as root with /dev/net/tun (as CI does): no skip, a missing tun fails loudly.
  ASSERT_TRUE(r) << r.error().message() << " (this test needs root and /dev/net/tun: modprobe tun)";
  ASSERT_EQ(created.size(), 2u);
  EXPECT_EQ(r->interfaces[0].target, tap);
  EXPECT_THAT(r->interfaces[1].target, ::testing::StartsWith("vnet"));  // libvirt's names for unnamed taps
  EXPECT_TRUE(altovirt::host::is_tap(tap));
  auto flags = altovirt::read_file("/sys/class/net/" + tap + "/flags");
  ASSERT_TRUE(flags);
  EXPECT_EQ(std::stoul(*flags, nullptr, 16) & IFF_UP, unsigned{IFF_UP});
  EXPECT_NE(::if_nametoindex(r->interfaces[1].target.c_str()), 0u);
  release_interfaces(created);
  EXPECT_TRUE(created.empty());
  EXPECT_EQ(::if_nametoindex(tap.c_str()), 0u);
  EXPECT_EQ(::if_nametoindex(r->interfaces[1].target.c_str()), 0u);
}

// Unnamed taps are named by the kernel as it creates them ("vnet%d"): domains starting at the same
// time (threads here, supervisors in real life) never get the same name, and none fails on EBUSY.
TEST(Interfaces, DomainsStartingAtOnceGetDistinctVnetTaps) {
  constexpr int kDomains = 4;
  std::vector<std::vector<CreatedTap>> created(kDomains);
  std::vector<std::string> names(kDomains), errors(kDomains);
  std::vector<std::thread> threads;
  for (int d = 0; d < kDomains; ++d)
    threads.emplace_back([&, d] {
      DomainConfig c;
      c.interfaces = {nic(Interface::Type::ethernet, "")};
      auto r = prepare_interfaces(c, created[d]);
      if (r) names[d] = r->interfaces[0].target;
      else errors[d] = r.error().message();
    });
  for (auto& t : threads) t.join();
  for (int d = 0; d < kDomains; ++d) {
    EXPECT_EQ(errors[d], "") << "domain " << d << " (this test needs root and /dev/net/tun)";
    EXPECT_THAT(names[d], ::testing::StartsWith("vnet"));
    EXPECT_TRUE(altovirt::host::is_tap(names[d])) << names[d];
    for (int e = 0; e < d; ++e) EXPECT_NE(names[d], names[e]);
  }
  for (auto& c : created) release_interfaces(c);
  for (auto& n : names) EXPECT_EQ(::if_nametoindex(n.c_str()), 0u) << n;
}

}  // namespace
}  // namespace altoctl
