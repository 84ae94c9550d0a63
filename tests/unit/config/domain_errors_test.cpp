// Every way parse_domain_xml() refuses a document, and what it says.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "altovirt/base/files.h"
#include "altovirt/config/domain.h"

namespace altovirt::config {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kOs = "<os><type arch='x86_64' machine='q35'>hvm</type><kernel>/boot/vmlinuz</kernel></os>";

// The error for a domain built from top-level `body` and `devices` (with the usual name and memory).
std::string error_of(std::string_view body, std::string_view devices = "") {
  auto xml = fmt::format("<domain type='kvm'>\n<name>vm1</name>\n<memory unit='MiB'>512</memory>\n{}\n<devices>\n{}\n</devices>\n</domain>",
                         body, devices);
  auto r = parse_domain_xml(xml, "vm1.xml");
  if (r) return "(parsed without error)";
  return r.error().message();
}

std::string error_of_xml(std::string_view xml) {
  auto r = parse_domain_xml(xml, "vm1.xml");
  return r ? "(parsed without error)" : r.error().message();
}

TEST(DomainMalformed, UnclosedTagGivesLineAndColumn) {
  std::string msg = error_of_xml("<domain type='kvm'>\n  <name>vm1</name>\n  <memory>1024\n</domain>\n");
  EXPECT_EQ(msg, "vm1.xml: malformed XML at line 4, column 3: Start-end tags mismatch near '</domain>'");
}

TEST(DomainMalformed, GarbageOnALineIsLocated) {
  std::string msg = error_of_xml("<domain type='kvm'>\n<name>a</name>\n\n\n  <vcpu 4</vcpu>\n</domain>");
  EXPECT_THAT(msg, HasSubstr("malformed XML at line 5, column")) << msg;
  EXPECT_THAT(msg, HasSubstr("Error parsing start element tag near '")) << msg;
}

TEST(DomainMalformed, UnterminatedDocument) {
  std::string msg = error_of_xml("<domain type='kvm'>\n<name>a</name>\n");
  EXPECT_THAT(msg, HasSubstr("malformed XML at line 2, column 15: Start-end tags mismatch (the document ends before every element is closed)")) << msg;
}

TEST(DomainMalformed, EmptyAndNotADomain) {
  EXPECT_THAT(error_of_xml(""), HasSubstr("malformed XML at line 1, column 1: No document element found"));
  EXPECT_THAT(error_of_xml("\n<network><name>n</name></network>"),
              HasSubstr("vm1.xml: line 2: the document element is <network>, not <domain>"));
}

struct ErrorCase {
  const char* label;
  std::string body;
  std::string devices;
  std::string expected;
};

// Test names and failure messages show the label rather than the bytes of the struct.
void PrintTo(const ErrorCase& c, std::ostream* out) { *out << c.label; }

class DomainError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(DomainError, IsReportedWithItsElement) {
  const ErrorCase& tc = GetParam();
  std::string msg = error_of(tc.body, tc.devices);
  EXPECT_THAT(msg, HasSubstr("vm1.xml: altovirt cannot run this domain as written; change or remove:")) << msg;
  EXPECT_THAT(msg, HasSubstr(tc.expected)) << msg;
}

const std::string os(kOs);
const std::string host_src = "<source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>";
std::string hostdev(std::string_view inner, std::string_view attrs = "mode='subsystem' type='pci' managed='yes'") {
  return fmt::format("<hostdev {}>{}</hostdev>", attrs, inner);
}

INSTANTIATE_TEST_SUITE_P(
    All, DomainError,
    ::testing::Values(
        ErrorCase{"missing_os", "", "", "line 1: domain: <os> is missing"},
        ErrorCase{"missing_kernel", "<os><type>hvm</type></os>", "", "line 4: os: <kernel> or <loader> is missing: altovirt boots a Linux kernel directly, or UEFI firmware"},
        ErrorCase{"missing_type", "<os><kernel>/k</kernel></os>", "", "line 4: os: <type> is missing"},
        ErrorCase{"os_type_xen", "<os><type>xen</type><kernel>/k</kernel></os>", "", "os/type: OS type 'xen' is not supported (use hvm)"},
        ErrorCase{"arch", "<os><type arch='aarch64' machine='virt'>hvm</type><kernel>/k</kernel></os>", "", "os/type: arch='aarch64': this host runs x86_64 guests"},
        ErrorCase{"machine", "<os><type machine='microvm'>hvm</type><kernel>/k</kernel></os>", "", "os/type: machine='microvm' is not supported for arch='x86_64' (use q35 or pc)"},
        ErrorCase{"gic_on_x86", "<os><type machine='q35'>hvm</type><kernel>/k</kernel></os><features><gic version='3'/></features>", "",
                  "features/gic: <gic> is for aarch64 guests"},
        ErrorCase{"loader_rom", "<os><type>hvm</type><loader type='rom'>/OVMF.fd</loader></os>", "", "os/loader: type='rom' is not supported (altovirt maps firmware as pflash: type='pflash')"},
        ErrorCase{"loader_empty", "<os><type>hvm</type><loader type='pflash'/></os>", "", "os/loader: the firmware path is empty"},
        ErrorCase{"loader_secure", "<os><type>hvm</type><loader secure='yes'>/c</loader></os>", "", "os/loader: secure='yes' needs SMM, which altovirt does not emulate"},
        ErrorCase{"loader_readonly", "<os><type>hvm</type><loader readonly='maybe'>/c</loader></os>", "", "os/loader: readonly='maybe': expected yes or no"},
        ErrorCase{"nvram_alone", "<os><type>hvm</type><kernel>/k</kernel><nvram>/v</nvram></os>", "", "line 4: os: <nvram> without <loader>: name the firmware too"},
        ErrorCase{"empty_kernel", "<os><type>hvm</type><kernel></kernel></os>", "", "os/kernel: the path is empty"},
        ErrorCase{"kernel_attr", "<os><type>hvm</type><kernel foo='1'>/k</kernel></os>", "", "os/kernel: attribute foo='1' is not supported by altovirt"},
        ErrorCase{"dup_name", "<name>again</name>" + os, "", "line 4: name: <name> appears more than once"},
        ErrorCase{"uuid", "<uuid>not-a-uuid</uuid>" + os, "", "uuid: 'not-a-uuid' is not a UUID"},
        ErrorCase{"memory_unit", "<currentMemory unit='MQ'>5</currentMemory>" + os, "", "currentMemory: unit 'MQ' is unknown"},
        ErrorCase{"memory_text", "<currentMemory>lots</currentMemory>" + os, "", "currentMemory: 'lots' is not a whole number"},
        ErrorCase{"current_less", "<currentMemory unit='MiB'>256</currentMemory>" + os, "", "currentMemory: 262144 KiB is less than <memory> (524288 KiB)"},
        ErrorCase{"vcpu_zero", "<vcpu>0</vcpu>" + os, "", "vcpu: '0' is not a vCPU count from 1 to 255"},
        ErrorCase{"vcpu_big", "<vcpu>300</vcpu>" + os, "", "vcpu: '300' is not a vCPU count from 1 to 255"},
        ErrorCase{"vcpu_text", "<vcpu>four</vcpu>" + os, "", "vcpu: 'four' is not a vCPU count"},
        ErrorCase{"vcpu_current", "<vcpu current='1'>2</vcpu>" + os, "", "vcpu: current='1' differs from the vCPU count 2"},
        ErrorCase{"vcpu_placement", "<vcpu placement='auto'>2</vcpu>" + os, "", "vcpu: placement='auto' is not supported"},
        ErrorCase{"vcpu_cpuset", "<vcpu cpuset='1-3'>2</vcpu>" + os, "", "vcpu: attribute cpuset='1-3' is not supported"},
        ErrorCase{"cpu", "<cpu mode='host-passthrough'/>" + os, "", "line 4: cpu (mode='host-passthrough'): altovirt gives the guest the host CPU model"},
        ErrorCase{"feature", "<features><acpi/><hyperv mode='custom'/></features>" + os, "", "features/hyperv (mode='custom'): not supported by altovirt"},
        ErrorCase{"on_poweroff", "<on_poweroff>restart</on_poweroff>" + os, "", "on_poweroff: 'restart' is not supported (altovirt supports destroy only)"},
        ErrorCase{"on_reboot", "<on_reboot>preserve</on_reboot>" + os, "", "on_reboot: 'preserve' is not supported (altovirt supports restart and destroy)"},
        ErrorCase{"on_crash", "<on_crash>coredump-destroy</on_crash>" + os, "", "on_crash: 'coredump-destroy' is not supported"},
        ErrorCase{"clock", "<clock offset='localtime'/>" + os, "", "clock: offset='localtime' is not supported"},
        ErrorCase{"timer_present", "<clock><timer name='hpet' present='yes'/></clock>" + os, "", "clock/timer[1] (name='hpet'): altovirt cannot add timers"},
        ErrorCase{"pm", "<pm><suspend-to-mem enabled='yes'/></pm>" + os, "", "pm/suspend-to-mem: altovirt does not implement ACPI sleep states"},
        ErrorCase{"serial_tcp", os, "<serial type='tcp'><source mode='bind' host='0' service='4555'/></serial>", "devices/serial[1] (type='tcp'): type='tcp' is not supported (use pty or file)"},
        ErrorCase{"serial_two", os, "<serial type='pty'/><serial type='pty'/>", "line 6: devices/serial[2] (type='pty'): altovirt has one serial port"},
        ErrorCase{"serial_file_nopath", os, "<serial type='file'/>", "devices/serial[1]: type='file' needs <source path='/path/to/file'/>"},
        ErrorCase{"serial_file_comma", os, "<serial type='file'><source path='/a,b'/></serial>", "file path '/a,b' contains a comma"},
        ErrorCase{"serial_port", os, "<serial type='pty'><target port='1'/></serial>", "devices/serial[1]/target: port='1' is not supported"},
        ErrorCase{"serial_log", os, "<serial type='pty'><log file='/x'/></serial>", "devices/serial[1]/log: not supported by altovirt"},
        ErrorCase{"console_mismatch", os, "<serial type='file'><source path='/x'/></serial><console type='pty'/>", "devices/console[1] (type='pty'): the console is the serial port and must have the same type"},
        ErrorCase{"controller_model", os, "<controller type='pci' index='1' model='pcie-to-pci-bridge'/>", "devices/controller[1] (type='pci', model='pcie-to-pci-bridge')"},
        ErrorCase{"root_index", os, "<controller type='pci' index='1' model='pcie-root'/>", "devices/controller[1] (type='pci', model='pcie-root'): the root bus must have index='0'"},
        ErrorCase{"port_index", os, "<controller type='pci' index='0' model='pcie-root-port'/>", "a pcie-root-port needs an index from 1 to 255"},
        ErrorCase{"port_no_index", os, "<controller type='pci' model='pcie-root-port'/>", "attribute index is missing"},
        ErrorCase{"port_dup", os, "<controller type='pci' index='1' model='pcie-root-port'/><controller type='pci' index='1' model='pcie-root-port'/>", "devices/controller[2] (type='pci', model='pcie-root-port'): index 1 is used by another PCI controller"},
        ErrorCase{"port_chassis", os, "<controller type='pci' index='1' model='pcie-root-port'><target chassis='300'/></controller>", "devices/controller[1]/target: chassis='300' is out of range (at most 0xff)"},
        ErrorCase{"port_port", os, "<controller type='pci' index='1' model='pcie-root-port'><target port='x'/></controller>", "devices/controller[1]/target: port='x' is not a number"},
        ErrorCase{"port_bus", os, "<controller type='pci' index='1' model='pcie-root-port'><address type='pci' bus='1' slot='0'/></controller>", "a pcie-root-port must sit on the root bus"},
        ErrorCase{"pcie_on_pc", "<os><type machine='pc'>hvm</type><kernel>/k</kernel></os>", "<controller type='pci' index='0' model='pcie-root'/>", "PCI controller index 0 (pcie-root) does not exist on machine pc"},
        ErrorCase{"pci_root_on_q35", os, "<controller type='pci' index='0' model='pci-root'/>", "PCI controller index 0 (pci-root) does not exist on machine q35"},
        ErrorCase{"hostdev_mode", os, hostdev(host_src, "mode='capabilities' type='storage'"), "devices/hostdev[1] (type='storage', mode='capabilities'): only <hostdev mode='subsystem' type='pci'>"},
        ErrorCase{"hostdev_usb", os, hostdev("<source><vendor id='0x1234'/></source>", "mode='subsystem' type='usb'"), "devices/hostdev[1] (type='usb', mode='subsystem')"},
        ErrorCase{"hostdev_managed", os, hostdev(host_src, "mode='subsystem' type='pci' managed='maybe'"), "devices/hostdev[1]: managed='maybe' must be yes or no"},
        ErrorCase{"hostdev_driver", os, hostdev("<driver name='kvm'/>" + host_src), "devices/hostdev[1]/driver: driver name='kvm' is not supported"},
        ErrorCase{"hostdev_nosource", os, hostdev("<driver name='vfio'/>"), "devices/hostdev[1]: <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source> is missing"},
        ErrorCase{"hostdev_bus", os, hostdev("<source><address bus='0x100' slot='0' function='0'/></source>"), "devices/hostdev[1]/source/address: bus='0x100' is out of range (at most 0xff)"},
        ErrorCase{"hostdev_slot", os, hostdev("<source><address bus='1' slot='0x20' function='0'/></source>"), "slot='0x20' is out of range (at most 0x1f)"},
        ErrorCase{"hostdev_function", os, hostdev("<source><address bus='1' slot='0' function='8'/></source>"), "function='8' is out of range (at most 0x7)"},
        ErrorCase{"hostdev_hex", os, hostdev("<source><address bus='0xzz' slot='0' function='0'/></source>"), "bus='0xzz' is not a number (use hex with 0x, or decimal)"},
        ErrorCase{"hostdev_octal", os, hostdev("<source><address bus='09' slot='0' function='0'/></source>"), "bus='09' is not a number"},
        ErrorCase{"hostdev_nobus", os, hostdev("<source><address slot='0' function='0'/></source>"), "devices/hostdev[1]/source/address: attribute bus is missing"},
        ErrorCase{"hostdev_guest_type", os, hostdev(host_src + "<address type='drive' controller='0'/>"), "devices/hostdev[1]/address: address type 'drive' is not supported"},
        ErrorCase{"hostdev_guest_domain", os, hostdev(host_src + "<address type='pci' domain='1' bus='0' slot='3'/>"), "the guest has only PCI domain 0"},
        ErrorCase{"hostdev_guest_bus", os, hostdev(host_src + "<address type='pci' bus='2' slot='0'/>"), "devices/hostdev[1]: guest bus 0x02 does not exist: add <controller type='pci' model='pcie-root-port' index='2'/>"},
        ErrorCase{"hostdev_port_slot", os, "<controller type='pci' index='1' model='pcie-root-port'/>" + hostdev(host_src + "<address type='pci' bus='1' slot='3'/>"), "a pcie-root-port has one slot, 0x00; slot 0x03 does not exist on bus 0x01"},
        ErrorCase{"multifunction", os, hostdev(host_src + "<address type='pci' bus='0' slot='3' multifunction='yes'/>"), "devices/hostdev[1]/address: multifunction='yes' must be on or off"},
        ErrorCase{"hostdev_slot0", os, hostdev(host_src + "<address type='pci' bus='0' slot='0'/>"), "slot 0 of the root bus is the host bridge"},
        ErrorCase{"hostdev_guest_dup", os, hostdev(host_src + "<address type='pci' bus='0' slot='3'/>") + hostdev("<source><address bus='2' slot='0' function='0'/></source><address type='pci' bus='0' slot='3'/>"), "the guest address is already used by devices/hostdev[1]"},
        ErrorCase{"hostdev_port_addr_dup", os, "<controller type='pci' index='1' model='pcie-root-port'><address type='pci' bus='0' slot='3'/></controller>" + hostdev(host_src + "<address type='pci' bus='0' slot='3'/>"), "already used by pcie-root-port index 1"},
        ErrorCase{"hostdev_source_dup", os, hostdev(host_src) + hostdev(host_src), "devices/hostdev[2]: host device 0000:01:00.0 is already assigned by another <hostdev>"},
        ErrorCase{"hostdev_alias_dup", os, hostdev(host_src + "<alias name='a'/>") + hostdev("<source><address bus='2' slot='0' function='0'/></source><alias name='a'/>"), "devices/hostdev[2]: alias 'a' is used twice"},
        ErrorCase{"hostdev_alias_bad", os, hostdev(host_src + "<alias name='1,x'/>"), "devices/hostdev[1]/alias: alias name '1,x' must start with a letter"},
        ErrorCase{"hostdev_rom", os, hostdev(host_src + "<rom bar='maybe'/>"), "devices/hostdev[1]/rom: bar='maybe' must be on or off"},
        ErrorCase{"hostdev_rom_file", os, hostdev(host_src + "<rom file='/x.rom'/>"), "devices/hostdev[1]/rom: attribute file='/x.rom' is not supported"},
        ErrorCase{"hostdev_boot", os, hostdev(host_src + "<boot order='0'/>"), "devices/hostdev[1]/boot: order='0': boot orders start at 1"},
        ErrorCase{"memballoon", os, "<memballoon model='xen'/>", "devices/memballoon[1] (model='xen'): model must be 'virtio' or 'none'"},
        ErrorCase{"memballoon_reporting", os, "<memballoon model='virtio' freePageReporting='on'/>", "devices/memballoon[1] (model='virtio'): attribute freePageReporting='on' is not supported"},
        ErrorCase{"memballoon_two", os, "<memballoon model='virtio'/><memballoon model='virtio'/>", "<memballoon> appears more than once"},
        ErrorCase{"rng_egd", os, "<rng model='virtio'><backend model='egd' type='udp'/></rng>", "devices/rng[1]/backend: model='egd' is not supported"},
        ErrorCase{"rng_no_backend", os, "<rng model='virtio'><rate bytes='10'/></rng>", "<backend model='random'>/dev/urandom</backend> is missing"},
        ErrorCase{"rng_rate_zero", os, "<rng model='virtio'><rate bytes='0'/><backend model='random'/></rng>", "bytes='0' would give the guest nothing"},
        ErrorCase{"rng_addr_dup", os, "<rng model='virtio'><backend model='random'/><address type='pci' bus='0' slot='4'/></rng>" + hostdev(host_src + "<address type='pci' bus='0' slot='4'/>"), "the guest address is already used by devices/rng[1]"},
        ErrorCase{"vsock_cid2", os, "<vsock model='virtio'><cid auto='no' address='2'/></vsock>", "devices/vsock[1]/cid: address='2': CIDs 0, 1 and 2 are reserved"},
        ErrorCase{"vsock_cid_missing", os, "<vsock model='virtio'/>", "<cid auto='yes'/> or <cid address='N'/> is missing"},
        ErrorCase{"vsock_cid_auto", os, "<vsock model='virtio'><cid auto='maybe'/></vsock>", "auto='maybe' must be yes or no"},
        ErrorCase{"video", os, "<video><model type='vga'/></video>", "devices/video[1]/model: type='vga' is not supported; altovirt's display adapter is virtio"},
        ErrorCase{"video_heads", os, "<video><model type='virtio' heads='2'/></video>", "heads='2': altovirt's virtio-gpu has one head"},
        ErrorCase{"video_resolution", os, "<video><model type='virtio'><resolution x='100' y='50'/></model></video>", "100x50: at least 320x200"},
        ErrorCase{"input_usb", os, "<input type='tablet' bus='usb'/>", "devices/input[1] (type='tablet'): bus='usb' is not supported; use bus='virtio'"},
        ErrorCase{"input_mouse", os, "<input type='mouse' bus='virtio'/>", "type='mouse' is not supported (keyboard or tablet"},
        ErrorCase{"graphics_spice", os, "<graphics type='spice'/>", "type='spice' is not supported; altovirt's display is VNC"},
        ErrorCase{"graphics_port", os, "<graphics type='vnc' port='80' autoport='no'/>", "port='80': VNC ports start at 5900"},
        ErrorCase{"graphics_listen", os, "<graphics type='vnc' listen='::1'/>", "listen='::1' is not an IPv4 address"},
        ErrorCase{"graphics_listen_twice", os, "<graphics type='vnc' listen='127.0.0.1'><listen type='address' address='0.0.0.0'/></graphics>", "address='0.0.0.0' differs from <graphics listen='127.0.0.1'>"},
        ErrorCase{"graphics_keymap", os, "<graphics type='vnc' keymap='de'/>", "keymap='de': altovirt maps keys for en-us only"},
        ErrorCase{"console_tcp", os, "<console type='tcp'><target type='virtio' port='0'/></console>", "devices/console[1] (type='tcp', target type 'virtio'): a virtio console must be type='pty'"},
        ErrorCase{"console_port", os, "<console type='pty'><target type='virtio' port='1'/></console>", "devices/console[1]/target: port='1' is not supported (the virtio console is port 0)"},
        ErrorCase{"console_two", os, "<console type='pty'><target type='virtio'/></console><console type='pty'><target type='virtio'/></console>", "devices/console[2] (type='pty', target type 'virtio'): only one virtio console"},
        ErrorCase{"console_sclp", os, "<console type='pty'><target type='sclp'/></console>", "devices/console[1] (type='pty', target type 'sclp'): only a console on the serial port"},
        ErrorCase{"console_no_ctl0", os, "<controller type='virtio-serial' index='1'/><console type='pty'><target type='virtio'/></console>", "devices/console: the virtio console is port 0 of virtio-serial controller index 0"},
        ErrorCase{"vserial_dup", os, "<controller type='virtio-serial' index='0'/><controller type='virtio-serial' index='0'/>", "devices/controller[2] (type='virtio-serial'): index 0 is used by another virtio-serial controller"},
        ErrorCase{"vserial_bus", os, "<controller type='virtio-serial' index='0'><address type='pci' bus='3' slot='0'/></controller>", "guest bus 0x03 does not exist"},
        ErrorCase{"controller_scsi", os, "<controller type='scsi' index='0'/>", "devices/controller[1] (type='scsi'): altovirt has only PCI controllers (pcie-root, pcie-root-port, pci-root) and virtio-serial"},
        ErrorCase{"disk_cdrom", os, "<disk type='file' device='cdrom'><source file='/a.iso'/><target dev='hdc' bus='sata'/></disk>", "line 6: devices/disk[1] (type='file', device='cdrom', target hdc): only <disk type='file'|'block' device='disk'>"},
        ErrorCase{"disk_network", os, "<disk type='network' device='disk'/>", "devices/disk[1] (type='network', device='disk'): only <disk type='file'|'block'"},
        ErrorCase{"disk_qcow2", os, "<disk type='file'><driver name='qemu' type='qcow2'/><source file='/a'/><target dev='vda' bus='virtio'/></disk>", "devices/disk[1]/driver: type='qcow2' is not supported: altovirt reads raw images only (convert with `qemu-img convert -O raw IMAGE IMAGE.raw`)"},
        ErrorCase{"disk_cache", os, "<disk type='file'><driver cache='unsafe'/><source file='/a'/><target dev='vda' bus='virtio'/></disk>", "devices/disk[1]/driver: cache='unsafe' is not supported (use none or writeback)"},
        ErrorCase{"disk_io", os, "<disk type='file'><driver io='posix'/><source file='/a'/><target dev='vda' bus='virtio'/></disk>", "devices/disk[1]/driver: io='posix' is not supported"},
        ErrorCase{"disk_iothread0", os, "<disk type='file'><driver iothread='0'/><source file='/a'/><target dev='vda' bus='virtio'/></disk>", "iothread='0' does not exist: I/O threads are numbered from 1"},
        ErrorCase{"disk_iothread_missing", os, "<disk type='file'><driver iothread='2'/><source file='/a'/><target dev='vda' bus='virtio'/></disk>", "devices/disk[1] (type='file', target vda): iothread='2' does not exist: the domain has 0 (set <iothreads>2</iothreads>)"},
        ErrorCase{"iothreads_text", "<iothreads>many</iothreads>" + os, "", "iothreads: 'many' is not a number of I/O threads from 0 to 64"},
        ErrorCase{"disk_nosource", os, "<disk type='block'><target dev='vda' bus='virtio'/></disk>", "devices/disk[1] (type='block', target vda): <source dev=.../> is missing"},
        ErrorCase{"disk_source_attr", os, "<disk type='block'><source file='/a'/><target dev='vda' bus='virtio'/></disk>", "devices/disk[1]/source: attribute file='/a' is not supported"},
        ErrorCase{"disk_comma", os, "<disk type='file'><source file='/a,b'/><target dev='vda' bus='virtio'/></disk>", "devices/disk[1]/source: path '/a,b' contains a comma"},
        ErrorCase{"disk_notarget", os, "<disk type='file'><source file='/a'/></disk>", "devices/disk[1] (type='file'): <target dev='vda' bus='virtio'/> is missing"},
        ErrorCase{"disk_bus", os, "<disk type='file'><source file='/a'/><target dev='sda' bus='scsi'/></disk>", "devices/disk[1]/target: bus='scsi' is not supported: altovirt's disks are virtio-blk"},
        ErrorCase{"disk_target_dup", os, "<disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/></disk><disk type='file'><source file='/b'/><target dev='vda' bus='virtio'/></disk>", "devices/disk[2] (type='file', target vda): target dev 'vda' is used by another disk"},
        ErrorCase{"disk_serial", os, "<disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/><serial>a b</serial></disk>", "devices/disk[1]/serial: serial 'a b' must be at most 20 printable characters"},
        ErrorCase{"disk_serial_long", os, "<disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/><serial>123456789012345678901</serial></disk>", "must be at most 20 printable characters"},
        ErrorCase{"disk_iotune_both", os, "<disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/><iotune><total_iops_sec>5</total_iops_sec><read_iops_sec>1</read_iops_sec></iotune></disk>", "devices/disk[1]/iotune: a total_* limit cannot be combined"},
        ErrorCase{"disk_iotune_text", os, "<disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/><iotune><total_bytes_sec>1M</total_bytes_sec></iotune></disk>", "devices/disk[1]/iotune/total_bytes_sec: '1M' is not a decimal number"},
        ErrorCase{"disk_iotune_unknown", os, "<disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/><iotune><size_iops_sec>5</size_iops_sec></iotune></disk>", "devices/disk[1]/iotune/size_iops_sec: not supported by altovirt"},
        ErrorCase{"disk_boot", os, "<disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/><boot order='1' menu='on'/></disk>", "devices/disk[1]/boot: attribute menu='on' is not supported"},
        ErrorCase{"disk_addr_dup", os, "<disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/><address type='pci' slot='4'/></disk>" + hostdev(host_src + "<address type='pci' bus='0' slot='4'/>"), "the guest address is already used by devices/disk[1]"},
        ErrorCase{"disk_alias_dup", os, "<disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/><alias name='x'/></disk>" + hostdev(host_src + "<alias name='x'/>"), "devices/hostdev[1]: alias 'x' is used twice"},
        ErrorCase{"memfd_source", "<memoryBacking><source type='memfd'/></memoryBacking>" + os, "", "line 4: memoryBacking/source"},
        ErrorCase{"mem_access", "<memoryBacking><hugepages/><access mode='shared'/></memoryBacking>" + os, "", "a private file on a hugetlbfs mount; remove it"},
        ErrorCase{"page_4k", "<memoryBacking><hugepages><page size='4'/></hugepages></memoryBacking>" + os, "", "memoryBacking/hugepages/page: 4 KiB pages are not x86 hugepages"},
        ErrorCase{"page_nodeset", "<memoryBacking><hugepages><page size='2048' nodeset='0'/></hugepages></memoryBacking>" + os, "", "nodeset"},
        ErrorCase{"alloc_threads", "<memoryBacking><allocation mode='immediate' threads='8'/></memoryBacking>" + os, "", "threads"},
        ErrorCase{"alloc_mode", "<memoryBacking><allocation mode='eager'/></memoryBacking>" + os, "", "mode='eager' is unknown"},
        ErrorCase{"page_not_multiple", "<memoryBacking><hugepages><page size='1' unit='G'/></hugepages></memoryBacking>" + os, "", "memory: 524288 KiB is not a multiple of the 1048576 KiB hugepages"},
        ErrorCase{"unknown_top", "<blkiotune/>" + os, "", "line 4: blkiotune: not supported by altovirt"},
        ErrorCase{"qemu_commandline", "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>" + os, "", "line 4: qemu:commandline: not supported by altovirt"}),
    [](const ::testing::TestParamInfo<ErrorCase>& param_info) { return std::string(param_info.param.label); });

TEST(DomainErrors, DomainTypeAndMissingNameAndMemory) {
  std::string msg = error_of_xml(fmt::format("<domain type='qemu'>{}</domain>", kOs));
  EXPECT_THAT(msg, HasSubstr("line 1: domain: type='qemu' is not supported: altovirt runs VMs on KVM"));
  EXPECT_THAT(msg, HasSubstr("line 1: domain: <name> is missing"));
  EXPECT_THAT(msg, HasSubstr("line 1: domain: <memory> is missing"));
  EXPECT_THAT(error_of_xml(fmt::format("<domain type='kvm'><name> </name><memory>1</memory>{}</domain>", kOs)),
              HasSubstr("name: the domain name is empty"));
  EXPECT_THAT(error_of_xml(fmt::format("<domain type='kvm'><name>a/b</name><memory>1</memory>{}</domain>", kOs)),
              HasSubstr("name: name 'a/b' contains '/' or a control character"));
  EXPECT_THAT(error_of_xml(fmt::format("<domain type='kvm'><name>a</name><memory>0</memory>{}</domain>", kOs)),
              HasSubstr("memory: 0 KiB is out of range"));
  EXPECT_THAT(error_of_xml(fmt::format("<domain type='kvm'><name>a</name><memory unit='TiB'>65</memory>{}</domain>", kOs)),
              HasSubstr("memory: 65 TiB is out of range"));
}

TEST(DomainErrors, AllProblemsAreListedInLineOrder) {
  std::string msg = error_of("<os><type arch='i686'>hvm</type><kernel>/k</kernel></os>\n<cpu/>",
                             "<disk type='volume'/>\n<interface type='network'/>\n<sound model='ich9'/>");
  // One line per problem, in document order.
  EXPECT_EQ(msg,
            "vm1.xml: altovirt cannot run this domain as written; change or remove:\n"
            "  line 4: os/type: arch='i686' is not supported (altovirt runs x86_64 and aarch64 guests)\n"
            "  line 5: cpu: altovirt gives the guest the host CPU model; remove <cpu>\n"
            "  line 7: devices/disk[1] (type='volume'): only <disk type='file'|'block' device='disk'> (a virtio-blk disk over a raw image) is supported\n"
            "  line 8: devices/interface[1] (type='network'): only <interface type='ethernet'> (a tap) and <interface type='bridge'> (a tap on a host bridge) are supported; pass a host NIC through with <hostdev>\n"
            "  line 9: devices/sound[1] (model='ich9'): not supported by altovirt");
}

// StratoVirt's published x86 example (tests/data/README.md): since the VNC display (issue 17),
// every element of it is understood: the whole file parses, its display included.
TEST(DomainStratoVirt, TheWholeExampleParsesWithItsDisplay) {
  auto r = parse_domain_file(ALTOVIRT_TEST_DATA "/stratovirt_x86.xml");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(r->config.graphics);
  EXPECT_TRUE(r->config.graphics->autoport);  // port='0' autoport='yes': autoport wins (libvirt)
  EXPECT_EQ(r->config.graphics->listen, "0.0.0.0");
  ASSERT_TRUE(r->config.video);
  EXPECT_EQ(r->config.video->xres, 0u);
  auto a = to_altovirt_args(r->config, RuntimePaths{"/run/q.sock", "", "", ""});
  ASSERT_TRUE(a) << a.error().message();
  std::string all = fmt::format("{}", fmt::join(*a, " "));
  EXPECT_THAT(all, HasSubstr("-vnc 0.0.0.0:0,to=99"));
  EXPECT_THAT(all, HasSubstr("-device virtio-gpu-pci,id=video0"));
  // A VNC display comes with a keyboard and a tablet, as libvirt adds input devices for one.
  EXPECT_THAT(all, HasSubstr("-device virtio-keyboard-pci,id=input0"));
  EXPECT_THAT(all, HasSubstr("-device virtio-tablet-pci,id=input1"));
}

// StratoVirt's aarch64 example: on an aarch64 host the whole file parses (the arm64 board, its GICv3,
// the same devices as x86); on an x86_64 host it is refused for its architecture, and an x86
// domain is refused on an aarch64 host the same way.
TEST(DomainStratoVirt, TheAarch64ExampleParsesOnAnAarch64HostOnly) {
  auto text = read_file(ALTOVIRT_TEST_DATA "/stratovirt_aarch64.xml");
  ASSERT_TRUE(text);
  auto r = parse_domain_xml(*text, "stratovirt_aarch64.xml", "aarch64");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->config.arch, "aarch64");
  EXPECT_EQ(r->config.machine, Machine::virt);
  EXPECT_EQ(r->config.vcpus, 4u);
  ASSERT_EQ(r->config.hostdevs.size(), 1u);
  auto a = to_altovirt_args(r->config, RuntimePaths{"/run/q.sock", "", "", ""});
  ASSERT_TRUE(a) << a.error().message();
  std::string all = fmt::format("{}", fmt::join(*a, " "));
  EXPECT_THAT(all, HasSubstr("-machine virt"));
  EXPECT_THAT(all, HasSubstr("-append console=ttyAMA0"));
  EXPECT_THAT(all, HasSubstr("vfio-pci,host=0000:03:00.0"));
  // Written back, it is the same domain (arch and machine included).
  auto again = parse_domain_xml(to_xml(r->config), "again", "aarch64");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->config, r->config);

  auto on_x86 = parse_domain_xml(*text, "stratovirt_aarch64.xml", "x86_64");
  ASSERT_FALSE(on_x86);
  EXPECT_THAT(on_x86.error().message(),
              HasSubstr("os/type: arch='aarch64': this host runs x86_64 guests (KVM runs guests of the host's own architecture)"));
  // One problem, the architecture: the rest of the file is a valid aarch64 domain.
  EXPECT_THAT(on_x86.error().message(), Not(HasSubstr("gic")));
  auto x86 = read_file(ALTOVIRT_TEST_DATA "/stratovirt_x86.xml");
  ASSERT_TRUE(x86);
  auto on_arm = parse_domain_xml(*x86, "stratovirt_x86.xml", "aarch64");
  ASSERT_FALSE(on_arm);
  EXPECT_THAT(on_arm.error().message(), HasSubstr("os/type: arch='x86_64': this host runs aarch64 guests"));
}

TEST(DomainStratoVirt, Aarch64MachineAndGicVersionAreChecked) {
  const char* bad_machine = "<domain type='kvm'><name>a</name><memory unit='MiB'>256</memory>"
                            "<os><type arch='aarch64' machine='q35'>hvm</type><kernel>/k</kernel></os></domain>";
  auto r = parse_domain_xml(bad_machine, "a.xml", "aarch64");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("machine='q35' is not supported for arch='aarch64' (use virt)"));
  const char* gic2 = "<domain type='kvm'><name>a</name><memory unit='MiB'>256</memory>"
                     "<os><type arch='aarch64' machine='virt'>hvm</type><kernel>/k</kernel></os>"
                     "<features><gic version='2'/></features></domain>";
  r = parse_domain_xml(gic2, "a.xml", "aarch64");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("version='2': altovirt's arm64 board has a GICv3; use version='3'"));
  const char* no_machine = "<domain type='kvm'><name>a</name><memory unit='MiB'>256</memory>"
                           "<os><type arch='aarch64'>hvm</type><kernel>/k</kernel></os></domain>";
  r = parse_domain_xml(no_machine, "a.xml", "aarch64");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->config.machine, Machine::virt);  // libvirt's default for aarch64
}

TEST(DomainStratoVirt, WithoutTheUnsupportedElementsItParses) {
  // The supported rest of the example: q35, pcie-root-ports, kernel boot, the virtio-blk disk on an
  // I/O thread, the virtio console and the vfio hostdev.
  auto text = read_file(ALTOVIRT_TEST_DATA "/stratovirt_x86.xml");
  ASSERT_TRUE(text);
  // Cut every element the previous test lists, by their lines (1-based, inclusive ranges).
  std::vector<std::string> lines;
  {
    std::string line;
    for (char ch : *text) {
      if (ch == '\n') { lines.push_back(line); line.clear(); } else line += ch;
    }
    lines.push_back(line);
  }
  const std::pair<size_t, size_t> cut[] = {{5, 9}};  // its 1 GiB pages (the rest of the test reads the devices)
  std::string kept;
  for (size_t i = 1; i <= lines.size(); ++i) {
    bool drop = false;
    for (auto [a, b] : cut) drop = drop || (i >= a && i <= b);
    if (!drop) kept += lines[i - 1] + "\n";
  }
  auto r = parse_domain_xml(kept);
  ASSERT_TRUE(r) << r.error().message() << "\n" << kept;
  EXPECT_EQ(r->config.name, "StratoVirt");
  EXPECT_EQ(r->config.memory_kib, 8u << 20);
  EXPECT_EQ(r->config.vcpus, 4u);
  EXPECT_EQ(r->config.controllers.size(), 8u);
  ASSERT_EQ(r->config.hostdevs.size(), 1u);
  EXPECT_EQ(r->config.hostdevs[0].source.to_string(), "0000:03:00.0");
  EXPECT_EQ(r->config.iothreads, 1u);
  // Its firmware: the kernel is booted through it (fw_cfg), the variable store used in place.
  ASSERT_TRUE(r->config.firmware);
  EXPECT_EQ(r->config.firmware->loader, "/path/to/pflash");
  EXPECT_TRUE(r->config.firmware->readonly);
  EXPECT_EQ(r->config.firmware->nvram_path, "/path/to/OVMF_VARS");
  EXPECT_EQ(r->config.firmware->nvram_template, "/path/to/OVMF_VARS");
  EXPECT_EQ(r->config.kernel, "/path/to/standard_vm_kernel");
  ASSERT_EQ(r->config.disks.size(), 1u);
  const Disk& d = r->config.disks[0];
  EXPECT_EQ(d.source, "/path/to/rootfs");
  EXPECT_EQ(d.target, "hda");
  EXPECT_EQ(d.iothread, 1u);
  EXPECT_EQ(d.iotune.total_iops_sec, 1000u);
  ASSERT_TRUE(d.address);
  EXPECT_EQ(d.address->bus, 1u);
  // The virtio NIC on tap0, which StratoVirt's example puts on bridge qbr0.
  ASSERT_EQ(r->config.interfaces.size(), 1u);
  const Interface& nic = r->config.interfaces[0];
  EXPECT_EQ(nic.type, Interface::Type::ethernet);
  EXPECT_EQ(nic.target, "tap0");
  EXPECT_EQ(nic.bridge, "qbr0");
  EXPECT_EQ(nic.mac, "de:ad:be:ef:00:01");
  ASSERT_TRUE(nic.address);
  EXPECT_EQ(nic.address->bus, 2u);
  ASSERT_EQ(r->config.virtio_serials.size(), 1u);
  EXPECT_EQ(r->config.virtio_serials[0].alias, "virt-serial0");
  ASSERT_TRUE(r->config.virtio_serials[0].address);
  EXPECT_EQ(r->config.virtio_serials[0].address->bus, 3u);
  ASSERT_TRUE(r->config.virtio_console);
  EXPECT_EQ(r->config.virtio_console->alias, "console0");
  ASSERT_TRUE(r->config.memballoon);
  EXPECT_EQ(r->config.memballoon->alias, "balloon0");
  EXPECT_EQ(r->config.memballoon->address->bus, 4u);
  ASSERT_EQ(r->config.rngs.size(), 1u);
  EXPECT_EQ(r->config.rngs[0].backend, "/path/to/random_file");
  EXPECT_EQ(r->config.rngs[0].rate_bytes, 1234u);
  EXPECT_EQ(r->config.rngs[0].rate_period_ms, 1000u);
  EXPECT_EQ(r->config.rngs[0].address->bus, 5u);
  ASSERT_TRUE(r->config.vsock);
  EXPECT_FALSE(r->config.vsock->auto_cid);
  EXPECT_EQ(r->config.vsock->cid, 3u);
  EXPECT_EQ(r->config.vsock->address->bus, 6u);
  EXPECT_TRUE(r->warnings.empty());  // its <graphics> is served since issue 17, not skipped
  ASSERT_TRUE(r->config.graphics);
}

}  // namespace
}  // namespace altovirt::config
