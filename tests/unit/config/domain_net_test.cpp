// <interface type='ethernet'|'bridge'>: parsing, errors, to_xml() round trip and the altovirt
// command line (-netdev tap + -device virtio-net-pci), with root-port placement as for disks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "altovirt/config/domain.h"

namespace altovirt::config {
namespace {

using ::testing::HasSubstr;

std::string domain(const std::string& devices) {
  return "<domain type='kvm'><name>n</name><memory unit='MiB'>256</memory>"
         "<os><type machine='q35'>hvm</type><kernel>/k</kernel></os><devices>" + devices + "</devices></domain>";
}

std::string args_of(const DomainConfig& c) {
  auto a = to_altovirt_args(c, RuntimePaths{"/run/q.sock", ""});
  EXPECT_TRUE(a) << a.error().message();
  std::string s;
  for (auto& x : a.value_or(std::vector<std::string>{})) s += x + " ";
  return s;
}

TEST(DomainNet, EthernetAndBridgeInterfacesParseAndRoundTrip) {
  auto r = parse_domain_xml(domain(
      "<controller type='pci' index='1' model='pcie-root-port'/>"
      "<interface type='ethernet'><mac address='52:54:00:AB:CD:EF'/><target dev='tap0'/><model type='virtio'/>"
      "<driver name='qemu' queues='2'/><address type='pci' bus='1' slot='0' function='0'/></interface>"
      "<interface type='bridge'><source bridge='br0'/><model type='virtio'/><driver name='vhost'/><alias name='lan'/></interface>"));
  ASSERT_TRUE(r) << r.error().message();
  const auto& n = r->config.interfaces;
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].type, Interface::Type::ethernet);
  EXPECT_EQ(n[0].target, "tap0");
  EXPECT_EQ(n[0].mac, "52:54:00:ab:cd:ef");  // kept in lower case, as libvirt does
  EXPECT_EQ(n[0].vhost, false);
  EXPECT_EQ(n[0].queues, 2u);
  ASSERT_TRUE(n[0].address);
  EXPECT_EQ(n[0].address->bus, 1u);
  EXPECT_EQ(n[1].type, Interface::Type::bridge);
  EXPECT_EQ(n[1].bridge, "br0");
  EXPECT_TRUE(n[1].target.empty());
  EXPECT_EQ(n[1].vhost, true);
  EXPECT_EQ(n[1].alias, "lan");
  auto again = parse_domain_xml(to_xml(r->config));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->config, r->config);
}

TEST(DomainNet, CommandLineHasTheTapAndTheNic) {
  auto r = parse_domain_xml(domain(
      "<controller type='pci' index='1' model='pcie-root-port'/>"
      "<interface type='ethernet'><mac address='52:54:00:00:00:01'/><target dev='tap0'/><model type='virtio'/>"
      "<driver name='vhost' queues='2'/></interface>"));
  ASSERT_TRUE(r) << r.error().message();
  std::string a = args_of(r->config);
  EXPECT_THAT(a, HasSubstr("-netdev tap,id=hostnet0,ifname=tap0,script=no,downscript=no,vhost=on,queues=2 "));
  // Without an address the NIC gets a slot on the root bus, as a disk does.
  EXPECT_THAT(a, HasSubstr("-device virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:00:00:01 "));
  // With one, it sits behind its root port.
  r->config.interfaces[0].address = GuestPciAddress{0, 1, 0, 0, false};
  EXPECT_THAT(args_of(r->config), HasSubstr("-device virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:00:00:01,bus=pci.1,addr=0x00.0 "));
}

TEST(DomainNet, ANicWithAnAddressOccupiesItsRootPort) {
  auto r = parse_domain_xml(domain(
      "<controller type='pci' index='1' model='pcie-root-port'/>"
      "<interface type='ethernet'><target dev='tap0'/><model type='virtio'/><address type='pci' bus='1' slot='0' function='0'/></interface>"
      "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='3' slot='0' function='0'/></source></hostdev>"));
  ASSERT_TRUE(r) << r.error().message();
  DomainConfig c = with_pci_addresses(r->config);
  ASSERT_TRUE(c.hostdevs[0].guest_address);
  EXPECT_EQ(c.hostdevs[0].guest_address->bus, 2u);  // port 1 is the NIC's: a new port for the hostdev
}

TEST(DomainNet, AnUnnamedTapHasNoCommandLineUntilAltoctlNamesIt) {
  auto r = parse_domain_xml(domain("<interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>"));
  ASSERT_TRUE(r) << r.error().message();
  auto a = to_altovirt_args(r->config, RuntimePaths{"/run/q.sock", ""});
  ASSERT_FALSE(a);
  EXPECT_THAT(a.error().message(), HasSubstr("no tap name"));
}

TEST(DomainNet, BadInterfacesAreNamed) {
  auto err = [](const std::string& devices) {
    auto r = parse_domain_xml(domain(devices));
    return r ? std::string("parsed") : r.error().message();
  };
  EXPECT_THAT(err("<interface type='ethernet'><target dev='a-tap-name-too-long'/><model type='virtio'/></interface>"),
              HasSubstr("devices/interface[1]/target: dev 'a-tap-name-too-long' is not a tap name: 1..15 characters"));
  EXPECT_THAT(err("<interface type='ethernet'><mac address='52:54:00:zz:00:01'/><target dev='t'/><model type='virtio'/></interface>"),
              HasSubstr("devices/interface[1]/mac: address '52:54:00:zz:00:01' is not a unicast MAC address"));
  EXPECT_THAT(err("<interface type='ethernet'><mac address='01:00:5e:00:00:01'/><target dev='t'/><model type='virtio'/></interface>"),
              HasSubstr("is not a unicast MAC address"));
  EXPECT_THAT(err("<interface type='ethernet'><target dev='t'/><model type='e1000'/></interface>"),
              HasSubstr("type='e1000' is not supported: altovirt's NIC is virtio"));
  EXPECT_THAT(err("<interface type='ethernet'><model type='virtio'/></interface>"), HasSubstr("<target dev='tap0'/> is missing"));
  EXPECT_THAT(err("<interface type='bridge'><model type='virtio'/></interface>"), HasSubstr("<source bridge='br0'/> is missing"));
  EXPECT_THAT(err("<interface type='network'><source network='default'/></interface>"),
              HasSubstr("only <interface type='ethernet'> (a tap) and <interface type='bridge'>"));
  EXPECT_THAT(err("<interface type='ethernet'><target dev='t'/><model type='virtio'/><driver name='vfio'/></interface>"),
              HasSubstr("name='vfio' is not supported"));
  EXPECT_THAT(err("<interface type='ethernet'><target dev='t'/><model type='virtio'/><driver queues='0'/></interface>"),
              HasSubstr("queues='0'"));
  EXPECT_THAT(err("<interface type='ethernet'><target dev='t'/><model type='virtio'/></interface>"
                  "<interface type='ethernet'><target dev='t'/><model type='virtio'/></interface>"),
              HasSubstr("target dev 't' is used by another interface"));
}

}  // namespace
}  // namespace altovirt::config
