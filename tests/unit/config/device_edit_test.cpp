// attach-device/detach-device's element handling (device_edit.h) and the running domain's layout
// (spare root ports, hostdev aliases) that with_pci_addresses() gives.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "altovirt/config/device_edit.h"
#include "altovirt/config/domain.h"

namespace altovirt::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

DomainConfig parse(const std::string& devices, const std::string& machine = "q35") {
  auto r = parse_domain_xml(fmt::format("<domain type='kvm'><name>d</name><memory unit='MiB'>256</memory>"
                                        "<os><type machine='{}'>hvm</type><kernel>/k</kernel></os><devices>{}</devices></domain>",
                                        machine, devices));
  EXPECT_TRUE(r) << r.error().message();
  return r ? r->config : DomainConfig{};
}

const std::string kPorts =
    "<controller type='pci' index='1' model='pcie-root-port'/><controller type='pci' index='2' model='pcie-root-port'/>";

std::string hostdev(int bus, const std::string& extra = "") {
  return fmt::format("<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='{}' slot='0' "
                     "function='0'/></source>{}</hostdev>",
                     bus, extra);
}

unsigned empty_root_ports(const DomainConfig& c) {
  unsigned n = 0;
  for (const auto& ctl : c.controllers) {
    if (ctl.model != PciController::Model::pcie_root_port) continue;
    bool used = false;
    for (const auto& h : c.hostdevs) used |= h.guest_address && h.guest_address->bus == ctl.index;
    for (const auto& d : c.disks) used |= d.address && d.address->bus == ctl.index;
    for (const auto& n2 : c.interfaces) used |= n2.address && n2.address->bus == ctl.index;
    for (const auto& v : c.virtio_serials) used |= v.address && v.address->bus == ctl.index;
    n += used ? 0 : 1;
  }
  return n;
}

TEST(SpareRootPorts, AFullDomainGetsTwoAtTheTopOfTheRootBus) {
  DomainConfig c = parse(kPorts + hostdev(3, "<address type='pci' bus='1' slot='0'/>") +
                         hostdev(4, "<address type='pci' bus='2' slot='0'/>"));
  EXPECT_EQ(empty_root_ports(c), 0u);
  DomainConfig placed = with_pci_addresses(c);
  EXPECT_EQ(empty_root_ports(placed), 2u);
  ASSERT_EQ(placed.controllers.size(), 4u);
  EXPECT_EQ(placed.controllers[2].index, 3u);
  EXPECT_EQ(placed.controllers[2].address, (GuestPciAddress{0, 0, 0x1e, 0, false}));
  EXPECT_EQ(placed.controllers[3].index, 4u);
  EXPECT_EQ(placed.controllers[3].address, (GuestPciAddress{0, 0, 0x1d, 0, false}));
  EXPECT_EQ(with_pci_addresses(placed), placed) << "the running domain's XML is placed already";
  auto again = parse_domain_xml(to_xml(placed));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->config, placed) << "dumpxml of a running domain reads back";
}

TEST(SpareRootPorts, NoneWhenTwoAreEmptyOrOnPc) {
  DomainConfig c = parse(kPorts);
  EXPECT_EQ(with_pci_addresses(c).controllers.size(), 2u);
  DomainConfig pc = parse(hostdev(3), "pc");
  EXPECT_TRUE(with_pci_addresses(pc).controllers.empty());
}

TEST(SpareRootPorts, SkipSlotsThatAddressesName) {
  DomainConfig c = parse(hostdev(3, "<address type='pci' bus='0' slot='0x1e'/>") +
                         hostdev(4, "<address type='pci' bus='0' slot='0x1c'/>"));
  DomainConfig placed = with_pci_addresses(c);
  ASSERT_EQ(placed.controllers.size(), 2u);
  EXPECT_EQ(placed.controllers[0].address->slot, 0x1du);
  EXPECT_EQ(placed.controllers[1].address->slot, 0x1bu);
}

TEST(SpareRootPorts, TakeAChassisNoOtherPortHas) {
  // The user's port 1 says chassis 3: the spare port with index 3 must not take chassis 3 too.
  DomainConfig c = parse("<controller type='pci' index='1' model='pcie-root-port'><target chassis='3'/></controller>" +
                         hostdev(3, "<address type='pci' bus='1' slot='0'/>"));
  DomainConfig placed = with_pci_addresses(c);
  ASSERT_EQ(placed.controllers.size(), 3u);
  EXPECT_EQ(placed.controllers[1].index, 2u);
  EXPECT_FALSE(placed.controllers[1].chassis) << "chassis 2 is free: the default";
  EXPECT_EQ(placed.controllers[2].index, 3u);
  ASSERT_TRUE(placed.controllers[2].chassis);
  EXPECT_EQ(*placed.controllers[2].chassis, 1u);
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args) << args.error().message();
  EXPECT_THAT(*args, ::testing::Contains("pcie-root-port,id=pci.3,chassis=1,port=0x0,bus=pcie.0,addr=0x1d.0"));
}

TEST(DeviceAliases, DisksAndNicsKeepTheIdsTheirPositionGave) {
  DomainConfig c = parse(kPorts +
                         "<disk type='file' device='disk'><source file='/a.img'/><target dev='vda' bus='virtio'/></disk>"
                         "<disk type='file' device='disk'><source file='/b.img'/><target dev='vdb' bus='virtio'/>"
                         "<alias name='virtio-disk0'/></disk>"
                         "<interface type='ethernet'><target dev='t0'/><model type='virtio'/></interface>"
                         "<interface type='ethernet'><target dev='t1'/><model type='virtio'/><alias name='ua-lan'/></interface>");
  DomainConfig placed = with_pci_addresses(c);
  EXPECT_EQ(placed.disks[0].alias, "virtio-disk1") << "virtio-disk0 is the user's name of the second disk";
  EXPECT_EQ(placed.disks[1].alias, "virtio-disk0");
  EXPECT_EQ(placed.interfaces[0].alias, "net0");
  EXPECT_EQ(placed.interfaces[1].alias, "ua-lan");
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args) << args.error().message();
  // libvirt's netdev ids: "host" + the NIC's alias.
  EXPECT_THAT(*args, ::testing::Contains("tap,id=hostnet0,ifname=t0,script=no,downscript=no"));
  EXPECT_THAT(*args, ::testing::Contains("virtio-net-pci,netdev=hostua-lan,id=ua-lan"));
  EXPECT_THAT(*args, ::testing::Contains("virtio-blk-pci,drive=drive-virtio-disk1,id=virtio-disk1"));
}

TEST(HostdevAliases, LibvirtsNamesSkippingTakenOnes) {
  DomainConfig c = parse(kPorts + hostdev(3, "<alias name='hostdev0'/>") + hostdev(4) + hostdev(5, "<alias name='nic'/>"));
  DomainConfig placed = with_pci_addresses(c);
  EXPECT_EQ(placed.hostdevs[0].alias, "hostdev0");
  EXPECT_EQ(placed.hostdevs[1].alias, "hostdev1");
  EXPECT_EQ(placed.hostdevs[2].alias, "nic");
}

TEST(AddDevice, AHostdevJoinsTheDomain) {
  DomainConfig base = parse(kPorts + hostdev(3));
  auto r = add_device(base, "<?xml version='1.0'?>\n" + hostdev(4), "nic.xml");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->kind, DeviceElement::hostdev);
  ASSERT_EQ(r->config.hostdevs.size(), 2u);
  EXPECT_EQ(r->config.hostdevs[1].source.bus, 4u);
  EXPECT_TRUE(r->config.hostdevs[1].managed);
  EXPECT_EQ(r->config.hostdevs[0], base.hostdevs[0]);
}

TEST(AddDevice, ProblemsAreReportedAtTheFilesOwnLines) {
  DomainConfig base = parse(kPorts + hostdev(3));
  // Line 3 of the file: the same host device the domain has already.
  auto r = add_device(base, "<!-- the NIC -->\n<hostdev mode='subsystem' type='pci' managed='yes'>\n"
                            "<source><address domain='0' bus='3' slot='0' function='0'/></source></hostdev>\n",
                      "nic.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("nic.xml: cannot add this device to domain 'd'"));
  EXPECT_THAT(r.error().message(), HasSubstr("line 2: devices/hostdev[2]"));
  EXPECT_THAT(r.error().message(), HasSubstr("0000:03:00.0 is already assigned by another <hostdev>"));
  // An address on a root port the domain lacks.
  r = add_device(base, hostdev(4, "<address type='pci' bus='9' slot='0'/>"), "nic.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("guest bus 0x09 does not exist"));
  EXPECT_THAT(r.error().message(), HasSubstr("line 1:"));
}

TEST(AddDevice, OnlyOneElementOfTheThreeKinds) {
  DomainConfig base = parse(kPorts);
  auto r = add_device(base, "<memballoon model='virtio'/>", "b.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("<memballoon> cannot be attached or detached"));
  r = add_device(base, hostdev(3) + hostdev(4), "two.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("expected one device element"));
  r = add_device(base, "<hostdev", "bad.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("bad.xml: malformed XML at line 1"));
  r = add_device(base, "", "empty.xml");
  ASSERT_FALSE(r);
}

TEST(AddDevice, ToADomainWithoutDevices) {
  DomainConfig base = parse("");
  auto r = add_device(base, hostdev(3), "nic.xml");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->config.hostdevs.size(), 1u);
}

TEST(AddDevice, DisksAndInterfacesForTheDefinition) {
  DomainConfig base = parse(kPorts);
  auto r = add_device(base, "<disk type='file' device='disk'><source file='/i.img'/><target dev='vdb' bus='virtio'/></disk>",
                      "disk.xml");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->kind, DeviceElement::disk);
  ASSERT_EQ(r->config.disks.size(), 1u);
  EXPECT_EQ(r->config.disks[0].source, "/i.img");
  r = add_device(base, "<interface type='ethernet'><mac address='52:54:00:00:00:02'/><target dev='tap9'/><model type='virtio'/></interface>",
                 "net.xml");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->kind, DeviceElement::interface);
  EXPECT_EQ(r->config.interfaces.at(0).mac, "52:54:00:00:00:02");
}

TEST(FindDevice, VirshsMatchingRules) {
  DomainConfig base = parse(kPorts + hostdev(3) + hostdev(4) +
                            "<disk type='file' device='disk'><source file='/a.img'/><target dev='vda' bus='virtio'/></disk>"
                            "<interface type='ethernet'><mac address='52:54:00:00:00:01'/><target dev='t1'/><model type='virtio'/></interface>"
                            "<interface type='ethernet'><mac address='52:54:00:00:00:02'/><target dev='t2'/><model type='virtio'/></interface>");
  // A hostdev by its host address, whatever else the element says.
  auto f = find_device(base, hostdev(4, "<address type='pci' bus='2' slot='0'/>"), "h.xml");
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->kind, DeviceElement::hostdev);
  EXPECT_EQ(f->index, 1u);
  f = find_device(base, "<disk type='file' device='disk'><source file='/other.img'/><target dev='vda' bus='virtio'/></disk>", "d.xml");
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->kind, DeviceElement::disk);
  EXPECT_EQ(f->index, 0u);
  f = find_device(base, "<interface type='ethernet'><mac address='52:54:00:00:00:02'/><model type='virtio'/></interface>", "n.xml");
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->index, 1u);
  // Nothing matches: the message says what was looked for.
  f = find_device(base, hostdev(7), "h.xml");
  ASSERT_FALSE(f);
  EXPECT_THAT(f.error().message(), HasSubstr("domain 'd' has no <hostdev> with host address 0000:07:00.0"));
  f = find_device(base, "<interface type='ethernet'><model type='virtio'/></interface>", "n.xml");
  ASSERT_FALSE(f);
  EXPECT_THAT(f.error().message(), HasSubstr("give <mac address=.../> to say which one"));
  // remove_device takes exactly that one.
  DomainConfig less = remove_device(base, FoundDevice{DeviceElement::hostdev, 0});
  ASSERT_EQ(less.hostdevs.size(), 1u);
  EXPECT_EQ(less.hostdevs[0].source.bus, 4u);
  EXPECT_EQ(less.disks, base.disks);
}

}  // namespace
}  // namespace altovirt::config
