// What parse_domain_xml() stores for each supported element.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "altovirt/config/domain.h"

namespace altovirt::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A domain with `body` inside <domain>, plus the minimum every domain needs unless overridden.
std::string domain(std::string_view body, std::string_view devices = "") {
  return fmt::format(R"(<domain type='kvm'>
  <name>vm1</name>
  <memory unit='MiB'>512</memory>
  {}
  <devices>{}</devices>
</domain>)", body, devices);
}
constexpr std::string_view kOs = "<os><type arch='x86_64' machine='q35'>hvm</type><kernel>/boot/vmlinuz</kernel></os>";

DomainConfig parse_ok(const std::string& xml) {
  auto r = parse_domain_xml(xml);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return r ? r->config : DomainConfig{};
}

TEST(DomainParse, FullSeedDomain) {
  auto r = parse_domain_xml(R"(<?xml version="1.0"?>
<domain type='kvm'>
  <name>seed</name>
  <uuid>4DEA22B3-1D52-D8F3-2516-782E98AB3FA0</uuid>
  <title>Seed VM</title>
  <description>e1000e passthrough</description>
  <memory unit='GiB'>1</memory>
  <currentMemory unit='MiB'>1024</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-6.2'>hvm</type>
    <kernel>/boot/bzImage</kernel>
    <initrd>/boot/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/local/bin/altovirt</emulator>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'>
      <model name='pcie-root-port'/>
      <target chassis='1' port='0x10'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </controller>
    <serial type='pty'><target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>
      <alias name='nic0'/>
      <rom bar='off'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </hostdev>
    <hostdev mode='subsystem' type='pci'>
      <source><address bus='2' slot='0' function='3'/></source>
      <rom bar='on'/>
    </hostdev>
    <memballoon model='none'/>
  </devices>
</domain>)");
  ASSERT_TRUE(r) << r.error().message();
  const DomainConfig& c = r->config;
  EXPECT_EQ(c.name, "seed");
  EXPECT_EQ(c.uuid, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
  EXPECT_EQ(c.title, "Seed VM");
  EXPECT_EQ(c.description, "e1000e passthrough");
  EXPECT_EQ(c.memory_kib, 1024u * 1024);
  EXPECT_EQ(c.current_memory_kib, 1024u * 1024);
  EXPECT_EQ(c.vcpus, 2u);
  EXPECT_EQ(c.machine, Machine::q35);
  EXPECT_EQ(c.machine_name, "pc-q35-6.2");
  EXPECT_EQ(c.kernel, "/boot/bzImage");
  EXPECT_EQ(c.initrd, "/boot/initrd.img");
  EXPECT_EQ(c.cmdline, "console=ttyS0 quiet");
  EXPECT_TRUE(c.acpi);
  EXPECT_EQ(c.on_reboot, OnReboot::destroy);
  EXPECT_EQ(c.emulator, "/usr/local/bin/altovirt");
  ASSERT_EQ(c.controllers.size(), 2u);
  EXPECT_EQ(c.controllers[0].model, PciController::Model::pcie_root);
  EXPECT_EQ(c.controllers[1].model, PciController::Model::pcie_root_port);
  EXPECT_EQ(c.controllers[1].index, 1u);
  ASSERT_TRUE(c.controllers[1].address);
  EXPECT_EQ(c.controllers[1].address->slot, 2u);
  ASSERT_TRUE(c.serial);
  EXPECT_EQ(c.serial->type, Serial::Type::pty);
  EXPECT_TRUE(c.console);
  ASSERT_EQ(c.hostdevs.size(), 2u);
  const Hostdev& h = c.hostdevs[0];
  EXPECT_TRUE(h.managed);
  EXPECT_EQ(h.source.to_string(), "0000:01:00.0");
  EXPECT_EQ(h.alias, "nic0");
  EXPECT_EQ(h.rom_bar, false);
  ASSERT_TRUE(h.guest_address);
  EXPECT_EQ(h.guest_address->bus, 1u);
  EXPECT_EQ(h.guest_address->slot, 0u);
  const Hostdev& h2 = c.hostdevs[1];
  EXPECT_FALSE(h2.managed);  // libvirt's default
  EXPECT_EQ(h2.source.to_string(), "0000:02:00.3");
  EXPECT_EQ(h2.rom_bar, true);
  EXPECT_FALSE(h2.guest_address);
  EXPECT_TRUE(h2.alias.empty());
  EXPECT_TRUE(r->warnings.empty());
  const PciController& port = c.controllers[1];
  EXPECT_EQ(port.chassis, 1u);
  EXPECT_EQ(port.port, 0x10u);
}

// What `virsh dumpxml` prints for a running direct-kernel-boot domain with a passed-through NIC
// (libvirt adds ids, aliases, live pty paths, seclabels and default addresses).
TEST(DomainParse, LibvirtLiveXml) {
  auto r = parse_domain_xml(R"(<domain type='kvm' id='3'>
  <name>nic-vm</name>
  <uuid>0e2b6c1a-4e5f-4a43-9a5e-3d1e0cf7a111</uuid>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <resource>
    <partition>/machine</partition>
  </resource>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <kernel>/var/lib/vms/bzImage</kernel>
    <initrd>/var/lib/vms/initrd.img</initrd>
    <cmdline>console=ttyS0</cmdline>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/altovirt</emulator>
    <controller type='pci' index='0' model='pcie-root'>
      <alias name='pcie.0'/>
    </controller>
    <controller type='pci' index='1' model='pcie-root-port'>
      <model name='pcie-root-port'/>
      <target chassis='1'/>
      <alias name='pci.1'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' multifunction='on'/>
    </controller>
    <controller type='pci' index='2' model='pcie-root-port'>
      <model name='pcie-root-port'/>
      <target chassis='2'/>
      <alias name='pci.2'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x1'/>
    </controller>
    <serial type='pty'>
      <source path='/dev/pts/2'/>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
      <alias name='serial0'/>
    </serial>
    <console type='pty' tty='/dev/pts/2'>
      <source path='/dev/pts/2'/>
      <target type='serial' port='0'/>
      <alias name='serial0'/>
    </console>
    <input type='mouse' bus='ps2'>
      <alias name='input0'/>
    </input>
    <input type='keyboard' bus='ps2'>
      <alias name='input1'/>
    </input>
    <audio id='1' type='none'/>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source>
        <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
      </source>
      <alias name='hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </hostdev>
    <memballoon model='none'/>
  </devices>
  <seclabel type='dynamic' model='dac' relabel='yes'>
    <label>+64055:+64055</label>
  </seclabel>
</domain>
)", "nic-vm.xml");
  ASSERT_TRUE(r) << r.error().message();
  const DomainConfig& c = r->config;
  EXPECT_EQ(c.machine, Machine::q35);
  ASSERT_EQ(c.controllers.size(), 3u);
  ASSERT_TRUE(c.controllers[1].address);
  EXPECT_TRUE(c.controllers[1].address->multifunction);
  EXPECT_FALSE(c.controllers[2].address->multifunction);
  EXPECT_EQ(c.controllers[2].address->function, 1u);
  ASSERT_TRUE(c.serial);
  EXPECT_TRUE(c.console);
  ASSERT_EQ(c.hostdevs.size(), 1u);
  EXPECT_EQ(c.hostdevs[0].alias, "hostdev0");
  std::string all;
  for (const auto& w : r->warnings) all += w + "\n";
  EXPECT_EQ(r->warnings.size(), 6u) << all;  // resource, boot, 2 inputs, audio, seclabel
  EXPECT_THAT(all, HasSubstr("devices/input[1] (type='mouse'): skipped"));
  EXPECT_THAT(all, HasSubstr("line 7: resource: skipped"));
  EXPECT_THAT(all, HasSubstr("line 15: os/boot: skipped: the kernel in <os><kernel> is booted directly"));
  EXPECT_THAT(all, HasSubstr("devices/input[2] (type='keyboard'): skipped"));
  EXPECT_THAT(all, HasSubstr("devices/audio[1] (type='none'): skipped"));
  EXPECT_THAT(all, HasSubstr("seclabel (type='dynamic', model='dac'): skipped"));
}

TEST(DomainParse, MemoryUnitsFollowLibvirt) {
  struct Case { std::string_view unit; uint64_t value; uint64_t kib; };
  const Case cases[] = {
      {"", 524288, 524288},              // default KiB
      {"b", 1048576, 1024},
      {"bytes", 1048577, 1025},          // rounded up to a whole KiB, as libvirt does
      {"KB", 1024000, 1000000},          // 1000
      {"k", 2048, 2048},                 // 1024
      {"KiB", 2048, 2048},
      {"MB", 1000, 976563},              // 10^9 bytes = 976562.5 KiB, rounded up
      {"M", 3, 3072},
      {"MiB", 3, 3072},
      {"GB", 1, 976563},
      {"G", 2, 2097152},
      {"GiB", 2, 2097152},
      {"gib", 2, 2097152},               // libvirt compares units case-insensitively
      {"TB", 1, 976562500},
      {"T", 1, 1073741824},
      {"TiB", 1, 1073741824},
  };
  for (const Case& tc : cases) {
    std::string attr = tc.unit.empty() ? "" : fmt::format(" unit='{}'", tc.unit);
    auto r = parse_domain_xml(fmt::format("<domain type='kvm'><name>m</name><memory{}>{}</memory>{}</domain>", attr, tc.value, kOs));
    ASSERT_TRUE(r) << tc.unit << ": " << r.error().message();
    EXPECT_EQ(r->config.memory_kib, tc.kib) << "unit '" << tc.unit << "'";
  }
}

TEST(DomainParse, MemoryNotWholeMiBIsRoundedWithWarning) {
  auto r = parse_domain_xml(fmt::format("<domain type='kvm'><name>m</name><memory unit='MB'>1000</memory>{}</domain>", kOs));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->config.memory_mib(), 954u);  // 976563 KiB -> 953.67 MiB -> 954
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_THAT(r->warnings[0], HasSubstr("line 1: memory: 976563 KiB is rounded up to 954 MiB"));
}

TEST(DomainParse, CurrentMemoryAboveMemoryIsCapped) {
  auto c = parse_ok(domain(fmt::format("<currentMemory unit='GiB'>4</currentMemory>{}", kOs)));
  EXPECT_EQ(c.current_memory_kib, 512u * 1024);
}

TEST(DomainParse, MachineNames) {
  struct Case { std::string_view attr; Machine machine; };
  const Case cases[] = {{"machine='q35'", Machine::q35}, {"machine='pc-q35-8.1'", Machine::q35},
                        {"machine='pc'", Machine::pc}, {"machine='pc-i440fx-7.2'", Machine::pc},
                        {"machine='pc-1.3'", Machine::pc}, {"", Machine::pc}};  // libvirt: QEMU's default
  for (const Case& tc : cases) {
    auto c = parse_ok(domain(fmt::format("<os><type {}>hvm</type><kernel>/k</kernel></os>", tc.attr)));
    EXPECT_EQ(c.machine, tc.machine) << tc.attr;
  }
}

TEST(DomainParse, DefaultsWhenOptionalElementsAreAbsent) {
  auto r = parse_domain_xml(domain(kOs));
  ASSERT_TRUE(r) << r.error().message();
  const DomainConfig& c = r->config;
  EXPECT_FALSE(c.uuid);
  EXPECT_EQ(c.vcpus, 1u);
  EXPECT_FALSE(c.acpi);
  EXPECT_FALSE(c.serial);
  EXPECT_FALSE(c.console);
  EXPECT_TRUE(c.emulator.empty());
  EXPECT_FALSE(c.current_memory_kib);
  EXPECT_EQ(c.on_reboot, OnReboot::restart);
  EXPECT_TRUE(r->warnings.empty());
}

TEST(DomainParse, SerialFileAndConsoleOnly) {
  auto c = parse_ok(domain(kOs, "<serial type='file'><source path='/var/log/vm1.log'/><target port='0'/></serial>"));
  ASSERT_TRUE(c.serial);
  EXPECT_EQ(c.serial->type, Serial::Type::file);
  EXPECT_EQ(c.serial->path, "/var/log/vm1.log");
  EXPECT_FALSE(c.console);

  // A console without a serial is the serial port (libvirt on x86).
  auto c2 = parse_ok(domain(kOs, "<console type='pty'/>"));
  ASSERT_TRUE(c2.serial);
  EXPECT_EQ(c2.serial->type, Serial::Type::pty);
  EXPECT_TRUE(c2.console);

  // A running domain's XML names its pty; that is output and accepted.
  auto c3 = parse_ok(domain(kOs, "<serial type='pty'><source path='/dev/pts/4'/><alias name='serial0'/></serial>"));
  ASSERT_TRUE(c3.serial);
  EXPECT_TRUE(c3.serial->path.empty());
}

TEST(DomainParse, PciAddressNumbersAsLibvirtReadsThem) {
  // strtoul base 0: hex with 0x, octal with a leading 0, decimal otherwise.
  auto c = parse_ok(domain(kOs, R"(<hostdev mode='subsystem' type='pci'><source><address domain='0x10000' bus='0x1f' slot='010' function='07'/></source></hostdev>)"));
  ASSERT_EQ(c.hostdevs.size(), 1u);
  EXPECT_EQ(c.hostdevs[0].source, (HostPciAddress{0x10000, 0x1f, 8, 7}));
  EXPECT_EQ(c.hostdevs[0].source.to_string(), "10000:1f:08.7");
}

TEST(DomainParse, SkippedElementsAreWarnedAbout) {
  auto r = parse_domain_xml(domain(fmt::format(R"({}
  <clock offset='utc'><timer name='rtc' tickpolicy='catchup'/><timer name='hpet' present='no'/></clock>
  <pm><suspend-to-mem enabled='no'/></pm>
  <seclabel type='dynamic' model='selinux'/>
  <metadata><app:x xmlns:app='urn:x'/></metadata>)", kOs),
      R"(<graphics type='vnc' port='-1'/><input type='mouse' bus='ps2'/><video><model type='none'/></video>
  <controller type='usb' index='0' model='none'/>)"));
  ASSERT_TRUE(r) << r.error().message();
  std::string all;
  for (const auto& w : r->warnings) all += w + "\n";
  EXPECT_EQ(r->warnings.size(), 5u) << all;
  EXPECT_THAT(all, HasSubstr("clock/timer[1] (name='rtc'): skipped"));
  EXPECT_THAT(all, HasSubstr("clock/timer[2] (name='hpet'): skipped"));
  EXPECT_THAT(all, HasSubstr("seclabel (type='dynamic', model='selinux'): skipped"));
  EXPECT_THAT(all, HasSubstr("metadata: skipped"));
  EXPECT_THAT(all, Not(HasSubstr("graphics")));  // a VNC display is served since issue 17
  EXPECT_THAT(all, HasSubstr("devices/input[1] (type='mouse'): skipped"));
}

TEST(DomainParse, ParseFileReadsAndNamesTheFile) {
  auto r = parse_domain_file("/nonexistent/vm.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("/nonexistent/vm.xml"));
}

}  // namespace
}  // namespace altovirt::config
