// to_xml() round trips and to_altovirt_args() command lines.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "altovirt/config/domain.h"

namespace altovirt::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kFull = R"(<domain type='kvm'>
  <name>seed &amp; co</name>
  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
  <title>t</title>
  <description>d &lt;x&gt;</description>
  <memory unit='MiB'>1536</memory>
  <currentMemory unit='MiB'>1536</currentMemory>
  <vcpu>3</vcpu>
  <os><type machine='pc-q35-7.1'>hvm</type><kernel>/k</kernel><initrd>/i</initrd><cmdline>console=ttyS0 a="b c"</cmdline></os>
  <features><acpi/></features>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>/opt/altovirt</emulator>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='3' model='pcie-root-port'><address type='pci' bus='0' slot='5' function='0' multifunction='on'/></controller>
    <serial type='file'><source path='/var/log/s.log'/></serial>
    <console type='file'><source path='/var/log/s.log'/><target type='serial'/></console>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0' bus='1' slot='0' function='0'/></source>
      <alias name='nic0'/><rom bar='off'/><address type='pci' bus='3' slot='0' function='0'/>
    </hostdev>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <source><address domain='0' bus='2' slot='0' function='1'/></source>
      <address type='pci' bus='0' slot='0x1e' function='2'/>
    </hostdev>
  </devices>
</domain>)";

DomainConfig parse(std::string_view xml) {
  auto r = parse_domain_xml(xml);
  EXPECT_TRUE(r) << r.error().message();
  return r ? r->config : DomainConfig{};
}

TEST(DomainToXml, RoundTripsEverythingSupported) {
  DomainConfig c = parse(kFull);
  ASSERT_EQ(c.hostdevs.size(), 2u);
  std::string xml = to_xml(c);
  auto again = parse_domain_xml(xml, "dumpxml");
  ASSERT_TRUE(again) << again.error().message() << "\n" << xml;
  EXPECT_TRUE(again->warnings.empty());
  EXPECT_EQ(again->config, c) << xml;
  EXPECT_THAT(xml, HasSubstr("<name>seed &amp; co</name>"));
  EXPECT_THAT(xml, HasSubstr("<type arch=\"x86_64\" machine=\"pc-q35-7.1\">hvm</type>"));
  EXPECT_THAT(xml, HasSubstr("<address domain=\"0x0000\" bus=\"0x01\" slot=\"0x00\" function=\"0x0\" />"));
}

TEST(DomainToXml, RoundTripsMinimalAndPty) {
  DomainConfig c = parse("<domain type='kvm'><name>m</name><memory>65536</memory><os><type>hvm</type><kernel>/k</kernel></os>"
                         "<devices><console type='pty'/></devices></domain>");
  auto again = parse_domain_xml(to_xml(c));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->config, c);
  EXPECT_EQ(again->config.machine, Machine::pc);
  EXPECT_TRUE(again->config.console);
}

TEST(DomainToXml, ProgrammaticConfigsGetACanonicalMachine) {
  DomainConfig c;
  c.name = "built";
  c.memory_kib = 262144;
  c.kernel = "/k";
  c.machine = Machine::q35;
  c.machine_name = "pc-i440fx-7.2";  // stale: does not match the machine any more
  auto r = parse_domain_xml(to_xml(c));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->config.machine, Machine::q35);
  EXPECT_EQ(r->config.machine_name, "q35");
  c.machine_name.clear();
  c.machine = Machine::pc;
  r = parse_domain_xml(to_xml(c));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->config.machine, Machine::pc);
}

TEST(DomainArgs, FullCommandLine) {
  DomainConfig c = parse(kFull);
  auto args = to_altovirt_args(c, {.qmp_socket = "/run/altoctl/seed/qmp.sock", .log_file = "/run/altoctl/seed/log"});
  ASSERT_TRUE(args) << args.error().message();
  EXPECT_THAT(*args, ElementsAre("-name", "seed & co", "-machine", "q35", "-m", "1536M", "-smp", "3", "-kernel", "/k",
                                 "-initrd", "/i", "-append", "console=ttyS0 a=\"b c\"", "-serial", "file:/var/log/s.log",
                                 "-qmp", "unix:/run/altoctl/seed/qmp.sock,server,nowait", "-D", "/run/altoctl/seed/log",
                                 "-no-reboot", "-device", "pcie-root-port,id=pci.3,chassis=3,port=0x0,bus=pcie.0,addr=0x05.0,multifunction=on",
                                 // spare root ports for hot-plug, at the highest free slots (0x1e is taken)
                                 "-device", "pcie-root-port,id=pci.4,chassis=4,port=0x0,bus=pcie.0,addr=0x1d.0",
                                 "-device", "pcie-root-port,id=pci.5,chassis=5,port=0x0,bus=pcie.0,addr=0x1c.0",
                                 "-device", "vfio-pci,host=0000:01:00.0,id=nic0,bus=pci.3,addr=0x00.0,rombar=0",
                                 "-device", "vfio-pci,host=0000:02:00.1,id=hostdev0,bus=pcie.0,addr=0x1e.2"));
}

TEST(DomainArgs, MinimalPcWithoutAcpiAndRoundedMemory) {
  DomainConfig c = parse("<domain type='kvm'><name>m</name><memory unit='KiB'>1000</memory>"
                         "<os><type machine='pc'>hvm</type><kernel>/k</kernel></os><devices><serial type='pty'/>"
                         "<hostdev mode='subsystem' type='pci'><source><address bus='1' slot='0' function='0'/></source>"
                         "<address type='pci' slot='4'/></hostdev></devices></domain>");
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args) << args.error().message();
  EXPECT_THAT(*args, ElementsAre("-name", "m", "-machine", "pc", "-m", "1M", "-smp", "1", "-kernel", "/k", "-no-acpi",
                                 "-serial", "pty", "-qmp", "unix:/q,server,nowait", "-device",
                                 "vfio-pci,host=0000:01:00.0,id=hostdev0,bus=pci.0,addr=0x04.0"));
}

TEST(DomainFirmware, RoundTripsAndBecomesPflashDrives) {
  DomainConfig c = parse("<domain type='kvm'><name>uefi</name><memory unit='MiB'>512</memory><os>"
                         "<type machine='q35'>hvm</type>"
                         "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
                         "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/v/uefi_VARS.fd</nvram>"
                         "</os></domain>");
  ASSERT_TRUE(c.firmware);
  std::string xml = to_xml(c);
  auto again = parse_domain_xml(xml, "dumpxml");
  ASSERT_TRUE(again) << again.error().message() << "\n" << xml;
  EXPECT_EQ(again->config, c) << xml;
  EXPECT_THAT(xml, HasSubstr("<nvram template=\"/usr/share/OVMF/OVMF_VARS_4M.fd\">/var/lib/v/uefi_VARS.fd</nvram>"));
  EXPECT_THAT(xml, ::testing::Not(HasSubstr("<kernel"))) << "no kernel: the firmware boots a disk";

  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args) << args.error().message();
  EXPECT_THAT(*args, ElementsAre("-name", "uefi", "-machine", "q35", "-m", "512M", "-smp", "1", "-drive",
                                 "if=pflash,format=raw,unit=0,file=/usr/share/OVMF/OVMF_CODE_4M.fd,readonly=on", "-drive",
                                 "if=pflash,format=raw,unit=1,file=/var/lib/v/uefi_VARS.fd", "-no-acpi", "-qmp",
                                 "unix:/q,server,nowait", "-device",
                                 "pcie-root-port,id=pci.1,chassis=1,port=0x0,bus=pcie.0,addr=0x1e.0", "-device",
                                 "pcie-root-port,id=pci.2,chassis=2,port=0x0,bus=pcie.0,addr=0x1d.0"));

  // <nvram> without a path: the caller's default; without <nvram>: no variable store.
  c.firmware->nvram_path.clear();
  auto dflt = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = "", .nvram = "/state/uefi_VARS.fd"});
  ASSERT_TRUE(dflt);
  EXPECT_THAT(*dflt, ::testing::Contains("if=pflash,format=raw,unit=1,file=/state/uefi_VARS.fd"));
  EXPECT_FALSE(to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""})) << "no path and no default";
  c.firmware->nvram = false;
  auto none = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(none);
  EXPECT_THAT(*none, ::testing::Not(::testing::Contains(HasSubstr("unit=1"))));
  c.firmware->loader = "/a,b/CODE.fd";
  EXPECT_FALSE(to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""})) << "a comma would cut QEMU's option list";
}

constexpr const char* kUefiBoot = R"(<domain type='kvm'><name>b</name><memory unit='MiB'>512</memory><os>
  <type machine='q35'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>%OS%</os>
  <devices>
    <disk type='file' device='disk'><source file='/d0.img'/><target dev='vda' bus='virtio'/>%D0%</disk>
    <disk type='file' device='disk'><source file='/d1.img'/><target dev='vdb' bus='virtio'/>%D1%</disk>
    <interface type='ethernet'><target dev='tap0'/><model type='virtio'/>%N0%</interface>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='1' slot='0' function='0'/></source>%H0%</hostdev>
  </devices></domain>)";

std::string uefi_boot(std::string os, std::string d0, std::string d1, std::string n0, std::string h0) {
  std::string x = kUefiBoot;
  for (auto [k, v] : {std::pair{"%OS%", os}, {"%D0%", d0}, {"%D1%", d1}, {"%N0%", n0}, {"%H0%", h0}})
    x.replace(x.find(k), std::string(k).size(), v);
  return x;
}

std::vector<std::string> devices_of(const DomainConfig& c) {
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  EXPECT_TRUE(args) << args.error().message();
  std::vector<std::string> d;
  for (size_t i = 0; args && i + 1 < args->size(); ++i)
    if ((*args)[i] == "-device" && !(*args)[i + 1].starts_with("pcie-root-port")) d.push_back((*args)[i + 1]);
  return d;
}

TEST(DomainBootOrder, PerDeviceOrdersBecomeBootindexAndRoundTrip) {
  DomainConfig c = parse(uefi_boot("", "<boot order='2'/>", "", "<boot order='3'/>", "<boot order='1'/>"));
  EXPECT_EQ(c.disks[0].boot_order, 2u);
  EXPECT_FALSE(c.disks[1].boot_order);
  auto d = devices_of(c);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_THAT(d[0], HasSubstr("vfio-pci,host=0000:01:00.0"));
  EXPECT_THAT(d[0], HasSubstr(",bootindex=1"));
  EXPECT_THAT(d[1], HasSubstr("drive=drive-virtio-disk0"));
  EXPECT_THAT(d[1], HasSubstr(",bootindex=2"));
  EXPECT_THAT(d[2], ::testing::Not(HasSubstr("bootindex")));
  EXPECT_THAT(d[3], HasSubstr(",bootindex=3"));
  std::string xml = to_xml(c);
  auto again = parse_domain_xml(xml, "dumpxml");
  ASSERT_TRUE(again) << again.error().message() << "\n" << xml;
  EXPECT_EQ(again->config, c) << xml;
}

TEST(DomainBootOrder, OsBootDevsOrderDisksThenNics) {
  DomainConfig c = parse(uefi_boot("<boot dev='network'/><boot dev='hd'/><boot dev='cdrom'/>", "", "", "", ""));
  EXPECT_THAT(c.boot_devs, ElementsAre("network", "hd"));
  auto d = devices_of(c);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_THAT(d[0], ::testing::Not(HasSubstr("bootindex"))) << "a hostdev boots only with its own <boot order>";
  EXPECT_THAT(d[1], HasSubstr(",bootindex=2"));
  EXPECT_THAT(d[2], HasSubstr(",bootindex=3"));
  EXPECT_THAT(d[3], HasSubstr(",bootindex=1"));
  std::string xml = to_xml(c);
  EXPECT_THAT(xml, HasSubstr("<boot dev=\"network\" />"));
  auto again = parse_domain_xml(xml, "dumpxml");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->config, c);
}

TEST(DomainBootOrder, LibvirtsRulesAreErrors) {
  auto dup = parse_domain_xml(uefi_boot("", "<boot order='1'/>", "<boot order='1'/>", "", ""));
  ASSERT_FALSE(dup);
  EXPECT_THAT(dup.error().message(), HasSubstr("boot order 1 is already used by devices/disk[1]"));
  auto both = parse_domain_xml(uefi_boot("<boot dev='hd'/>", "<boot order='1'/>", "", "", ""));
  ASSERT_FALSE(both);
  EXPECT_THAT(both.error().message(), HasSubstr("cannot be combined with <os><boot dev=.../>"));
  auto zero = parse_domain_xml(uefi_boot("", "<boot order='0'/>", "", "", ""));
  ASSERT_FALSE(zero);
  EXPECT_THAT(zero.error().message(), HasSubstr("order='0': boot orders start at 1"));
  auto bad = parse_domain_xml(uefi_boot("<boot dev='usb'/>", "", "", "", ""));
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("dev='usb': expected hd, network, cdrom or fd"));
}

TEST(DomainArgs, RejectsUnusablePaths) {
  DomainConfig c = parse("<domain type='kvm'><name>m</name><memory>65536</memory><os><type>hvm</type><kernel>/k</kernel></os></domain>");
  auto empty = to_altovirt_args(c, {});
  ASSERT_FALSE(empty);
  EXPECT_THAT(empty.error().message(), HasSubstr("QMP socket path is empty"));
  auto comma = to_altovirt_args(c, {.qmp_socket = "/run/a,b/qmp", .log_file = ""});
  ASSERT_FALSE(comma);
  EXPECT_THAT(comma.error().message(), HasSubstr("QMP socket path '/run/a,b/qmp' contains a comma"));
}

// The standard VM's devices: disks (file and block, every <driver> option and <iotune> limit), I/O
// threads, a virtio-serial controller behind a root port and the virtio console.
constexpr const char* kStandard = R"(<domain type='kvm'>
  <name>std</name>
  <memory unit='MiB'>1024</memory>
  <iothreads>2</iothreads>
  <os><type machine='q35'>hvm</type><kernel>/k</kernel><cmdline>console=hvc0 root=/dev/vda</cmdline></os>
  <devices>
    <controller type='pci' index='1' model='pcie-root-port'/>
    <controller type='pci' index='2' model='pcie-root-port'/>
    <controller type='virtio-serial' index='0' ports='16'>
      <alias name='vserial'/><address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>
    </controller>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='io_uring' iothread='2'/>
      <source file='/images/root.img'/>
      <target dev='vda' bus='virtio'/>
      <serial>ROOT-1</serial>
      <iotune><total_iops_sec>1000</total_iops_sec><read_bytes_sec>2000000</read_bytes_sec><write_bytes_sec>1000000</write_bytes_sec></iotune>
      <address type='pci' bus='0x01' slot='0x00'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='writeback' io='threads' discard='ignore'/>
      <source dev='/dev/sdb'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
      <alias name='data'/>
    </disk>
    <console type='pty'><target type='virtio' port='0'/><alias name='console0'/></console>
  </devices>
</domain>)";

TEST(DomainToXml, RoundTripsDisksAndTheVirtioConsole) {
  DomainConfig c = parse(kStandard);
  ASSERT_EQ(c.disks.size(), 2u);
  EXPECT_EQ(c.disks[0].cache, Disk::Cache::none);
  EXPECT_EQ(c.disks[0].io, Disk::Io::io_uring);
  EXPECT_EQ(c.disks[0].iotune.read_bytes_sec, 2000000u);
  EXPECT_EQ(c.disks[1].type, Disk::Type::block);
  EXPECT_TRUE(c.disks[1].readonly);
  EXPECT_FALSE(c.disks[0].readonly);
  EXPECT_EQ(c.disks[1].discard, false);
  EXPECT_FALSE(c.disks[0].discard) << "libvirt's default: no discard attribute";
  std::string xml = to_xml(c);
  auto again = parse_domain_xml(xml, "dumpxml");
  ASSERT_TRUE(again) << again.error().message() << "\n" << xml;
  EXPECT_TRUE(again->warnings.empty());
  EXPECT_EQ(again->config, c) << xml;
  EXPECT_THAT(xml, HasSubstr("<iothreads>2</iothreads>"));
  EXPECT_THAT(xml, HasSubstr("<target type=\"virtio\" port=\"0\" />"));
}

TEST(DomainArgs, DisksIothreadsAndTheVirtioConsole) {
  DomainConfig c = parse(kStandard);
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args) << args.error().message();
  EXPECT_THAT(*args, ElementsAre("-name", "std", "-machine", "q35", "-m", "1024M", "-smp", "1", "-kernel", "/k",
                                 "-append", "console=hvc0 root=/dev/vda", "-no-acpi", "-qmp", "unix:/q,server,nowait",
                                 "-device", "pcie-root-port,id=pci.1,chassis=1,port=0x0,bus=pcie.0",
                                 "-device", "pcie-root-port,id=pci.2,chassis=2,port=0x0,bus=pcie.0",
                                 "-device", "pcie-root-port,id=pci.3,chassis=3,port=0x0,bus=pcie.0,addr=0x1e.0",
                                 "-device", "pcie-root-port,id=pci.4,chassis=4,port=0x0,bus=pcie.0,addr=0x1d.0",
                                 "-object", "iothread,id=iothread1", "-object", "iothread,id=iothread2",
                                 "-drive", "file=/images/root.img,format=raw,if=none,id=drive-virtio-disk0,cache=none,aio=io_uring,"
                                           "iops=1000,bps_rd=2000000,bps_wr=1000000",
                                 "-device", "virtio-blk-pci,drive=drive-virtio-disk0,id=virtio-disk0,bus=pci.1,addr=0x00.0,"
                                            "iothread=iothread2,serial=ROOT-1",
                                 "-drive", "file=/dev/sdb,format=raw,if=none,id=drive-data,readonly=on,cache=writeback,aio=threads,discard=ignore",
                                 "-device", "virtio-blk-pci,drive=drive-data,id=data",
                                 "-device", "virtio-serial-pci,id=vserial,bus=pci.2,addr=0x00.0",
                                 "-chardev", "pty,id=charconsole0",
                                 "-device", "virtconsole,chardev=charconsole0,id=console0"));
}

TEST(DomainArgs, AVirtioConsoleWithoutControllerGetsOne) {
  // libvirt adds the virtio-serial controller a virtio console needs; so does altovirt.
  DomainConfig c = parse("<domain type='kvm'><name>m</name><memory>65536</memory><os><type>hvm</type><kernel>/k</kernel></os>"
                         "<devices><console type='pty'><target type='virtio'/></console></devices></domain>");
  ASSERT_TRUE(c.virtio_console);
  EXPECT_FALSE(c.console);  // the serial port's console flag is a different console
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args) << args.error().message();
  std::vector<std::string> tail(args->end() - 6, args->end());
  EXPECT_THAT(tail, ElementsAre("-device", "virtio-serial-pci,id=virtio-serial0", "-chardev", "pty,id=charconsole0",
                                "-device", "virtconsole,chardev=charconsole0,id=console0"));
}

TEST(DomainUuid, RandomUuidsAreVersion4AndParse) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string u = random_uuid();
    ASSERT_EQ(u.size(), 36u);
    EXPECT_EQ(u[14], '4');
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
    seen.insert(u);
    auto r = parse_domain_xml(fmt::format("<domain type='kvm'><name>m</name><uuid>{}</uuid><memory>65536</memory>"
                                          "<os><type>hvm</type><kernel>/k</kernel></os></domain>", u));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->config.uuid, u);
  }
  EXPECT_EQ(seen.size(), 50u);
}

TEST(DomainArgs, RootPortTargetGoesToTheCommandLine) {
  DomainConfig c = parse(
      "<domain type='kvm'><name>p</name><memory unit='MiB'>256</memory><os><type machine='q35'>hvm</type><kernel>/k</kernel></os>"
      "<devices><controller type='pci' index='2' model='pcie-root-port'><target chassis='7' port='0x11'/></controller></devices></domain>");
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args) << args.error().message();
  EXPECT_THAT(*args, ::testing::Contains("pcie-root-port,id=pci.2,chassis=7,port=0x11,bus=pcie.0"));
  // and back through dumpxml
  auto again = parse_domain_xml(to_xml(c));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->config, c);
}

// libvirt on q35: a hostdev without an address goes behind a free root port; one is added when none is.
TEST(DomainArgs, HostdevsWithoutAnAddressGoBehindFreeRootPorts) {
  DomainConfig c = parse(
      "<domain type='kvm'><name>p</name><memory unit='MiB'>256</memory><os><type machine='q35'>hvm</type><kernel>/k</kernel></os>"
      "<devices><controller type='pci' index='1' model='pcie-root-port'/><controller type='pci' index='2' model='pcie-root-port'/>"
      "<hostdev mode='subsystem' type='pci'><source><address bus='3' slot='0' function='0'/></source></hostdev>"
      "<hostdev mode='subsystem' type='pci'><source><address bus='4' slot='0' function='0'/></source>"
      "<address type='pci' bus='1' slot='0'/></hostdev>"
      "<hostdev mode='subsystem' type='pci'><source><address bus='5' slot='0' function='0'/></source></hostdev>"
      "</devices></domain>");
  DomainConfig placed = with_pci_addresses(c);
  ASSERT_EQ(placed.hostdevs.size(), 3u);
  ASSERT_TRUE(placed.hostdevs[0].guest_address);
  EXPECT_EQ(placed.hostdevs[0].guest_address->bus, 2u) << "port 1 is taken by the second hostdev";
  EXPECT_EQ(placed.hostdevs[1].guest_address->bus, 1u);
  ASSERT_TRUE(placed.hostdevs[2].guest_address);
  EXPECT_EQ(placed.hostdevs[2].guest_address->bus, 3u) << "a root port is added";
  ASSERT_EQ(placed.controllers.size(), 5u) << "port 3 for the hostdev, then two spare ports";
  EXPECT_EQ(placed.controllers[2].index, 3u);
  EXPECT_EQ(placed.controllers[2].model, PciController::Model::pcie_root_port);
  EXPECT_FALSE(placed.controllers[2].address) << "a port for a device takes the next slot, as libvirt's do";
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args) << args.error().message();
  EXPECT_THAT(*args, ::testing::Contains("pcie-root-port,id=pci.3,chassis=3,port=0x0,bus=pcie.0"));
  EXPECT_THAT(*args, ::testing::Contains("vfio-pci,host=0000:03:00.0,id=hostdev0,bus=pci.2,addr=0x00.0"));
  EXPECT_THAT(*args, ::testing::Contains("vfio-pci,host=0000:05:00.0,id=hostdev2,bus=pci.3,addr=0x00.0"));
  // On pc there are no root ports: the hostdev stays for altovirt to place on the root bus.
  c.machine = Machine::pc;
  c.controllers.clear();
  c.hostdevs.resize(1);
  EXPECT_FALSE(with_pci_addresses(c).hostdevs[0].guest_address);
}

// StratoVirt's layout: the disk and the virtio-serial controller name ports 1 and 2; the hostdev
// without an address must not land on either of them.
TEST(DomainArgs, DevicesWithAddressesOccupyTheirRootPorts) {
  DomainConfig c = parse(
      "<domain type='kvm'><name>p</name><memory unit='MiB'>256</memory><os><type machine='q35'>hvm</type><kernel>/k</kernel></os>"
      "<devices><controller type='pci' index='1' model='pcie-root-port'/><controller type='pci' index='2' model='pcie-root-port'/>"
      "<controller type='pci' index='3' model='pcie-root-port'/>"
      "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/i.img'/><target dev='vda' bus='virtio'/>"
      "<address type='pci' bus='0x01' slot='0x00'/></disk>"
      "<controller type='virtio-serial' index='0'><address type='pci' bus='0x02' slot='0x00'/></controller>"
      "<hostdev mode='subsystem' type='pci'><source><address bus='3' slot='0' function='0'/></source></hostdev>"
      "</devices></domain>");
  DomainConfig placed = with_pci_addresses(c);
  ASSERT_TRUE(placed.hostdevs[0].guest_address);
  EXPECT_EQ(placed.hostdevs[0].guest_address->bus, 3u) << "ports 1 and 2 hold the disk and the virtio-serial";
}

}  // namespace
}  // namespace altovirt::config

namespace altovirt::config {
namespace {

std::string with_backing(std::string_view memory, std::string_view backing) {
  return fmt::format("<domain type='kvm'><name>h</name>{}<memoryBacking>{}</memoryBacking>"
                     "<os><type machine='q35'>hvm</type><kernel>/k</kernel></os></domain>",
                     memory, backing);
}

TEST(DomainMemoryBacking, PageSizesInLibvirtUnits) {
  // unit defaults to KiB; M/MiB and G/GiB as libvirt reads them.
  EXPECT_EQ(parse(with_backing("<memory unit='MiB'>512</memory>", "<hugepages><page size='2048'/></hugepages>"))
                .memory_backing->page_kib, 2048u);
  EXPECT_EQ(parse(with_backing("<memory unit='MiB'>512</memory>", "<hugepages><page size='2' unit='M'/></hugepages>"))
                .memory_backing->page_kib, 2048u);
  EXPECT_EQ(parse(with_backing("<memory unit='GiB'>2</memory>", "<hugepages><page size='1' unit='GiB'/></hugepages>"))
                .memory_backing->page_kib, 1048576u);
  auto dflt = parse(with_backing("<memory unit='MiB'>512</memory>", "<hugepages/>")).memory_backing;
  ASSERT_TRUE(dflt);
  EXPECT_TRUE(dflt->hugepages);
  EXPECT_EQ(dflt->page_kib, 0u);
  auto flags = parse(with_backing("<memory unit='MiB'>512</memory>",
                                  "<nosharepages/><locked/><allocation mode='immediate'/>")).memory_backing;
  ASSERT_TRUE(flags);
  EXPECT_FALSE(flags->hugepages);
  EXPECT_TRUE(flags->nosharepages && flags->locked && flags->prealloc);
  EXPECT_FALSE(parse(with_backing("<memory unit='MiB'>512</memory>", "<allocation mode='ondemand'/>")).memory_backing->prealloc);
}

TEST(DomainMemoryBacking, RoundTrips) {
  for (std::string_view backing : {"<hugepages><page size='1' unit='G'/></hugepages><locked/><allocation mode='immediate'/>",
                                   "<hugepages/><nosharepages/>", "<allocation mode='immediate'/>"}) {
    DomainConfig c = parse(with_backing("<memory unit='GiB'>2</memory>", backing));
    std::string xml = to_xml(c);
    EXPECT_EQ(parse(xml), c) << xml;
  }
}

TEST(DomainMemoryBacking, HugepagesBecomeAMemoryBackendFile) {
  DomainConfig c = parse(with_backing("<memory unit='MiB'>512</memory>",
                                      "<hugepages><page size='2' unit='M'/></hugepages><allocation mode='immediate'/>"));
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args) << args.error().message();
  EXPECT_THAT(*args, ElementsAre("-name", "h", "-machine", "q35,memory-backend=pc.ram", "-m", "512M", "-smp", "1",
                                 "-kernel", "/k", "-object",
                                 "memory-backend-file,id=pc.ram,size=512M,mem-path=/dev/hugepages,prealloc=on",
                                 "-no-acpi", "-qmp", "unix:/q,server,nowait",
                                 "-device", "pcie-root-port,id=pci.1,chassis=1,port=0x0,bus=pcie.0,addr=0x1e.0",
                                 "-device", "pcie-root-port,id=pci.2,chassis=2,port=0x0,bus=pcie.0,addr=0x1d.0"));
  c = parse(with_backing("<memory unit='GiB'>2</memory>", "<hugepages><page size='1048576' unit='KiB'/></hugepages>"));
  args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args);
  EXPECT_THAT(*args, ::testing::Contains("memory-backend-file,id=pc.ram,size=2048M,mem-path=/dev/hugepages1G"));
  // Immediate allocation without hugepages: QEMU's -mem-prealloc; no backing: no extra option.
  c = parse(with_backing("<memory unit='MiB'>512</memory>", "<allocation mode='immediate'/>"));
  args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args);
  EXPECT_THAT(*args, ::testing::Contains("-mem-prealloc"));
  EXPECT_THAT(*args, ::testing::Contains("q35"));
  c = parse(with_backing("<memory unit='MiB'>512</memory>", "<locked/>"));
  args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args);
  EXPECT_THAT(*args, ::testing::Not(::testing::Contains("-mem-prealloc")));
  EXPECT_THAT(*args, ::testing::Not(::testing::Contains("-object")));
}

}  // namespace
}  // namespace altovirt::config
