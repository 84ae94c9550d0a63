// A VM described by a libvirt domain XML document (https://libvirt.org/formatdomain.html), limited to
// what altovirt implements: direct kernel boot, memory, vCPUs, one serial port, PCIe root ports,
// virtio-blk disks with I/O threads, a virtio console, virtio-rng, a virtio balloon, a vhost vsock and
// VFIO PCI host devices. parse_domain_xml() turns XML into a DomainConfig; to_xml() writes it back
// (for `altoctl dumpxml`); to_altovirt_args() gives the altovirt command line that runs it.
//
// What the parser does with each element it meets:
//   - supported: stored in DomainConfig (and written back by to_xml()).
//   - skippable: elements that cannot change what the guest sees (<graphics>, <seclabel>,
//     <metadata>, <iothreads>, ...) are dropped and a warning naming them is returned.
//   - everything else, and any attribute altovirt does not understand on a supported element, is a
//     problem: all problems of a document are collected and reported together in one error, each
//     with its line and XPath-like location ("line 35: devices/disk[1] (type='file', target hda)"),
//     so a user fixes the whole file in one go rather than one element per attempt.
//
// Threading: plain values and stateless functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"

namespace altovirt::config {

// A host PCI function, as in <source><address domain bus slot function/></source>.
struct HostPciAddress {
  uint32_t domain = 0;
  uint32_t bus = 0;
  uint32_t slot = 0;
  uint32_t function = 0;
  // "0000:01:00.0", the form sysfs and `-device vfio-pci,host=` use.
  std::string to_string() const;
  bool operator==(const HostPciAddress&) const = default;
};

// Where a device sits in the guest, as in <address type='pci' .../>. The bus number is the index of
// a PCI controller: 0 is the root bus (pcie.0 on q35, pci.0 on pc), N a pcie-root-port with index N.
struct GuestPciAddress {
  uint32_t domain = 0;
  uint32_t bus = 0;
  uint32_t slot = 0;
  uint32_t function = 0;
  // multifunction='on': function 0 of a slot announces more functions (PCI 3.0 section 6.2.1,
  // Header Type bit 7); libvirt packs pcie-root-ports as functions of one slot this way.
  bool multifunction = false;
  bool operator==(const GuestPciAddress&) const = default;
};

// q35 and pc: x86_64 guests; virt: aarch64 guests (altovirt's arm64 board, PCIe like q35).
enum class Machine { q35, pc, virt };
// Machines whose root bus is PCIe with root ports (q35, virt); pc has conventional PCI.
inline bool is_pcie(Machine m) { return m != Machine::pc; }
std::string_view machine_type(Machine m);  // "q35", "pc", "virt": altovirt's -machine

// The machine a libvirt machine name stands for: "q35" and the versioned "pc-q35-X.Y" are q35;
// "pc", "pc-i440fx-X.Y" and the old "pc-X.Y" are pc; "virt" and "virt-X.Y" are virt; anything
// else is not supported.
std::optional<Machine> machine_from_name(std::string_view name);

// The guest architecture this host's KVM runs (its own: "x86_64" or "aarch64", from uname).
std::string host_arch();

// <controller type='pci' model='...' index='N'>.
struct PciController {
  enum class Model { pcie_root, pcie_root_port, pci_root };
  Model model = Model::pcie_root;
  uint32_t index = 0;
  std::optional<GuestPciAddress> address;  // only for root ports: their slot on the root bus
  // Root ports' <target chassis='' port=''/>: the guest's hot-plug slot number (chassis) and link
  // port number; absent: chassis = index, port 0, as altovirt's -device pcie-root-port defaults.
  std::optional<uint32_t> chassis, port;
  bool operator==(const PciController&) const = default;
};

// The guest's serial port (COM1), from <serial> and/or a <console> with target type 'serial'.
struct Serial {
  enum class Type { pty, file };
  Type type = Type::pty;
  std::string path;  // for Type::file: the file the output goes to
  bool operator==(const Serial&) const = default;
};

// <iotune> of a disk: limits of a token bucket; 0 means no limit (libvirt's meaning as well).
struct IoTune {
  uint64_t total_iops_sec = 0;
  uint64_t read_iops_sec = 0;
  uint64_t write_iops_sec = 0;
  uint64_t total_bytes_sec = 0;
  uint64_t read_bytes_sec = 0;
  uint64_t write_bytes_sec = 0;
  bool operator==(const IoTune&) const = default;
};

// <disk type='file'|'block' device='disk'> on bus='virtio': a virtio-blk-pci device over a raw image.
struct Disk {
  enum class Type { file, block };
  enum class Cache { none, writeback };  // libvirt's cache= modes altovirt implements
  enum class Io { io_uring, threads };   // libvirt's io=; 'native' (Linux AIO) is read as io_uring
  Type type = Type::file;
  std::string source;  // <source file=...> or <source dev=...>
  std::string target;  // <target dev='vda'>: libvirt's name, which orders the disks; the guest names them itself
  bool readonly = false;
  std::string serial;  // <serial>: the virtio-blk GET_ID string (at most 20 bytes)
  std::optional<Cache> cache;
  std::optional<Io> io;
  std::optional<uint32_t> iothread;  // <driver iothread='N'>: 1..<iothreads>
  std::optional<bool> discard;       // <driver discard='unmap'> (true) or 'ignore' (false)
  IoTune iotune;
  std::optional<uint32_t> boot_order;  // <boot order='N'/>: the firmware's boot order (bootindex=N)
  std::optional<GuestPciAddress> address;
  std::string alias;  // <alias name=.../>; empty when not given
  bool operator==(const Disk&) const = default;
};

// <controller type='virtio-serial' index='N'>: a virtio-serial-pci device whose ports carry consoles.
struct VirtioSerialController {
  uint32_t index = 0;
  std::optional<GuestPciAddress> address;
  std::string alias;
  bool operator==(const VirtioSerialController&) const = default;
};

// <console type='pty'><target type='virtio' port='0'/></console>: port 0 of the first virtio-serial
// controller is a console (the guest's hvc0), reached through a pty (`altoctl console`).
struct VirtioConsole {
  std::string alias;
  bool operator==(const VirtioConsole&) const = default;
};

// <rng model='virtio'><rate period='MS' bytes='N'/><backend model='random'>PATH</backend></rng>:
// a virtio-rng-pci on an rng-random object reading PATH (default /dev/urandom).
struct Rng {
  std::string backend = "/dev/urandom";
  uint64_t rate_bytes = 0;        // <rate bytes>: per period; 0 = no limit
  uint64_t rate_period_ms = 0;    // <rate period>; 0 = absent (libvirt's default, 1000 ms)
  std::optional<GuestPciAddress> address;
  std::string alias;
  bool operator==(const Rng&) const = default;
};

// <memballoon model='virtio' [autodeflate='on']><stats period='S'/></memballoon>: virtio-balloon-pci.
struct MemBalloon {
  bool autodeflate = false;                // deflate-on-oom=on
  std::optional<uint32_t> stats_period;    // seconds; guest-stats-polling-interval
  std::optional<GuestPciAddress> address;
  std::string alias;
  bool operator==(const MemBalloon&) const = default;
};

// <vsock model='virtio'><cid auto='no' address='N'/></vsock>: vhost-vsock-pci,guest-cid=N
// (auto='yes': altovirt takes the first free CID from 3 up).
struct Vsock {
  bool auto_cid = false;
  uint64_t cid = 0;  // when !auto_cid; 3 or above
  std::optional<GuestPciAddress> address;
  std::string alias;
  bool operator==(const Vsock&) const = default;
};

// <graphics type='vnc' port='N'|autoport='yes' listen='ADDR' passwd='PW'>, with an optional
// <listen type='address' address='ADDR'/> or <listen type='socket' socket='PATH'/>: altovirt's VNC
// server (-vnc). autoport takes the first free display from 5900 up (libvirt's rule); the listen
// address defaults to 127.0.0.1 (libvirt's vnc_listen default).
struct Graphics {
  bool autoport = true;
  uint32_t port = 0;                 // 5900..65535 when !autoport
  std::string listen = "127.0.0.1";  // an IPv4 address
  std::string socket;                // a Unix socket instead of TCP
  std::string passwd;                // VNC authentication when not empty (8 characters count)
  bool operator==(const Graphics&) const = default;
};

// <video><model type='virtio' heads='1' primary='yes'><resolution x='W' y='H'/></model></video>:
// a virtio-gpu-pci (2D) with one head, its mode W x H (default 1280x800).
struct Video {
  uint32_t xres = 0, yres = 0;  // 0: altovirt's default
  std::optional<GuestPciAddress> address;
  std::string alias;
  bool operator==(const Video&) const = default;
};

// <input type='keyboard'|'tablet' bus='virtio'/>: virtio-keyboard-pci, virtio-tablet-pci. With
// <graphics> and no virtio input, altoctl adds a keyboard and a tablet (as libvirt adds PS/2 ones).
struct Input {
  enum class Kind { keyboard, tablet };
  Kind kind = Kind::keyboard;
  std::optional<GuestPciAddress> address;
  std::string alias;
  bool operator==(const Input&) const = default;
};

// <hostdev mode='subsystem' type='pci'> with <driver name='vfio'/>.
struct Hostdev {
  bool managed = false;  // libvirt's default when the attribute is absent
  HostPciAddress source;
  std::optional<GuestPciAddress> guest_address;
  std::optional<bool> rom_bar;  // <rom bar='on|off'/>; absent means the device's default (on)
  std::optional<uint32_t> boot_order;  // <boot order='N'/> (its option ROM is what boots it)
  std::string alias;            // <alias name=.../>; empty when not given
  bool operator==(const Hostdev&) const = default;
};

// <interface type='ethernet'|'bridge'> with <model type='virtio'/>: a virtio-net-pci NIC on a tap.
// ethernet: the tap <target dev='NAME'/> (altoctl creates it when it does not exist and removes it
// when the domain ends; an existing one is used and stays); bridge: a tap altoctl creates and
// enslaves to <source bridge='BR'/> (named by <target dev>, else the first free vnetN). An
// ethernet tap with a <source bridge> (as StratoVirt's example writes it) is enslaved too.
struct Interface {
  enum class Type { ethernet, bridge };
  Type type = Type::ethernet;
  std::string target;               // <target dev>; empty: altoctl picks vnetN
  std::string bridge;               // <source bridge>: required for type bridge, optional for ethernet
  std::string mac;                  // <mac address>, lower case; empty: altovirt's default
  std::optional<bool> vhost;        // <driver name='vhost'> true, 'qemu' false; absent: vhost when available
  uint32_t queues = 1;              // <driver queues='N'>
  std::optional<uint32_t> boot_order;  // <boot order='N'/>: network boot in the firmware's boot order
  std::optional<GuestPciAddress> address;
  std::string alias;
  bool operator==(const Interface&) const = default;
};

// <memoryBacking>: guest RAM on hugepages, as altovirt's -object memory-backend-file on a hugetlbfs
// mount, or preallocated (https://libvirt.org/formatdomain.html#memory-backing).
struct MemoryBacking {
  bool hugepages = false;
  uint64_t page_kib = 0;      // <hugepages><page size unit/>: 2048 or 1048576; 0: the host's default size
  bool nosharepages = false;  // accepted, no effect: altovirt never offers guest RAM to KSM
  bool locked = false;        // accepted: see README (hugetlbfs pages and VFIO-pinned RAM are never swapped)
  bool prealloc = false;      // <allocation mode='immediate'/>: every page faulted in before the guest starts
  bool operator==(const MemoryBacking&) const = default;
};

// <os><loader readonly='yes' type='pflash'>CODE</loader><nvram template='T'>VARS</nvram>: UEFI
// firmware (https://libvirt.org/formatdomain.html#bios-bootloader), altovirt's -drive if=pflash.
// The variable store VARS is the domain's own file, copied from T when it does not exist yet (as
// libvirt does); without a path altoctl picks NAME_VARS.fd in its nvram directory. Without
// <nvram> the firmware runs with no variable store (its variables last until the VM ends).
struct Firmware {
  std::string loader;
  bool readonly = true;
  bool nvram = false;             // an <nvram> element is there
  std::string nvram_path;         // its text; empty: altoctl's default
  std::string nvram_template;     // template='...'
  bool operator==(const Firmware&) const = default;
};

// libvirt's defaults: destroy on poweroff, restart on reboot, destroy on crash. altovirt implements
// on_reboot='destroy' (the VM ends when the guest reboots) besides the defaults.
enum class OnReboot { restart, destroy };

struct DomainConfig {
  std::string name;
  std::optional<std::string> uuid;  // canonical lower-case 8-4-4-4-12 form
  std::string title;
  std::string description;
  uint64_t memory_kib = 0;                        // <memory>, always in KiB as libvirt keeps it
  std::optional<uint64_t> current_memory_kib;     // <currentMemory>, equal to memory_kib when given
  std::optional<MemoryBacking> memory_backing;
  uint32_t vcpus = 1;
  std::string arch = "x86_64";  // <os><type arch>: x86_64 (q35, pc) or aarch64 (virt)
  Machine machine = Machine::q35;
  std::string machine_name;  // as written ("pc-q35-6.2"; "pc" when absent), kept for dumpxml
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  std::optional<Firmware> firmware;  // <os><loader>: boot through UEFI firmware (kernel optional)
  // <os><boot dev='hd|network'/>..., in order: the firmware tries the disks (hd), then the NICs
  // (network), each kind in document order; altovirt gives them bootindex in that order. Cannot be
  // combined with per-device <boot order> (libvirt's rule).
  std::vector<std::string> boot_devs;
  bool acpi = false;
  std::string emulator;  // <devices><emulator>; empty means the installed altovirt
  std::optional<Serial> serial;
  bool console = false;  // a <console type=... ><target type='serial'/> mirrors the serial port
  std::vector<PciController> controllers;
  std::vector<Hostdev> hostdevs;
  std::vector<Disk> disks;
  std::vector<VirtioSerialController> virtio_serials;
  std::optional<VirtioConsole> virtio_console;
  std::vector<Rng> rngs;
  std::optional<MemBalloon> memballoon;  // absent, or <memballoon model='none'/>: no balloon
  std::optional<Vsock> vsock;
  std::vector<Interface> interfaces;
  std::optional<Graphics> graphics;
  std::optional<Video> video;
  bool video_none = false;  // <video><model type='none'/></video>: no display adapter, even with <graphics>
  std::vector<Input> inputs;
  uint32_t iothreads = 0;  // <iothreads>N</iothreads>: altovirt's iothread1..iothreadN
  OnReboot on_reboot = OnReboot::restart;

  bool operator==(const DomainConfig&) const = default;
  // Memory the guest gets, in MiB (rounded up to whole MiB, see to_altovirt_args()).
  uint64_t memory_mib() const { return (memory_kib + 1023) / 1024; }
};

struct ParsedDomain {
  DomainConfig config;
  // Elements that were skipped because they cannot change what the guest sees, one line each.
  std::vector<std::string> warnings;
};

// Parses a domain XML document. `source` names it in messages (a file name, or "domain XML").
// `host`: the architecture this host runs guests of (host_arch()); a domain of another is refused.
Result<ParsedDomain> parse_domain_xml(std::string_view xml, std::string_view source = "domain XML",
                                      std::string_view host = {});
// Reads and parses a file; messages start with its path.
Result<ParsedDomain> parse_domain_file(const std::string& path);

// libvirt-style XML of `config`; parse_domain_xml(to_xml(c)).config == c for every parsed config.
std::string to_xml(const DomainConfig& config);

// Paths that exist only while the VM runs; altoctl chooses them under its state directory.
struct RuntimePaths {
  std::string qmp_socket;  // required: -qmp unix:PATH,server,nowait
  std::string log_file;    // optional: -D PATH (QEMU's log file option)
  std::string nvram = {};  // the firmware's variable store when <nvram> has no path (altoctl's default)
  std::string vnc_password = {};  // where the caller wrote <graphics passwd> (a file only altovirt reads)
};

// libvirt's guest address assignment on q35 (what `virsh define` writes into the XML): a <hostdev>
// without a guest address goes behind the lowest-index pcie-root-port that has nothing behind it,
// and when none is free a pcie-root-port is added (index one above the highest) for it. On pc,
// and for devices with an address, nothing changes. Then, on q35, spare root ports are added until
// two are empty, for hot-plug (at the highest free root-bus slots from 0x1e down, so that no other
// device's slot moves). Host devices without an alias get libvirt's, hostdevN: their QMP id.
// to_altovirt_args() applies it; altoctl keeps the result as the running domain's XML.
DomainConfig with_pci_addresses(const DomainConfig& config);

// Every alias the domain's devices have (for picking a new, unused one).
std::set<std::string> device_aliases(const DomainConfig& config);
// The root ports (controller indexes) that a device's guest address puts something behind.
std::set<uint32_t> occupied_root_ports(const DomainConfig& config);

// The altovirt arguments (without argv[0]; the binary is config.emulator or the installed one):
//   -name N -machine q35|pc -m <MiB>M -smp N -kernel K [-initrd I] [-append C] [-no-acpi]
//   [-serial pty|file:PATH] -qmp unix:PATH,server,nowait [-D LOG] [-no-reboot]
//   [-device pcie-root-port,id=pci.N,chassis=C,port=P,bus=pcie.0[,addr=S.F][,multifunction=on]]...
//   -device vfio-pci,host=DDDD:BB:DD.F[,id=ALIAS][,bus=pcie.0|pci.N][,addr=S.F][,multifunction=on][,rombar=0]...
//   [-object iothread,id=iothreadN]...
//   [-drive file=PATH,format=raw,if=none,id=drive-ALIAS[,readonly=on][,cache=..][,aio=..][,iops=..,..]
//    -device virtio-blk-pci,drive=drive-ALIAS,id=ALIAS[,bus=..][,addr=..][,iothread=iothreadN][,serial=..]]...
//   [-device virtio-serial-pci,id=ALIAS[,bus=..][,addr=..]]...
//   [-chardev pty,id=charconsole0 -device virtconsole,chardev=charconsole0,id=console0,bus=SERIAL.0]
//   [-object rng-random,id=objRNG,filename=PATH -device virtio-rng-pci,rng=objRNG,id=RNG[,max-bytes=B,period=MS]]...
//   [-device virtio-balloon-pci,id=balloon0[,deflate-on-oom=on][,guest-stats-polling-interval=S]]
//   [-device vhost-vsock-pci,id=vsock0,guest-cid=N|auto]
//   [-object secret,id=vnc0-secret,file=PATH] [-vnc ADDR:N[,to=99]|unix:PATH[,password-secret=vnc0-secret]]
//   [-device virtio-gpu-pci,id=video0[,xres=W,yres=H]] [-device virtio-keyboard-pci|virtio-tablet-pci,id=inputN]...
//   [-netdev tap,id=hostnetN,ifname=TAP,script=no,downscript=no[,vhost=on|off][,queues=N]
//    -device virtio-net-pci,netdev=hostnetN,id=ALIAS[,mac=MAC][,bus=..][,addr=..]]...
// Memory that is not a whole number of MiB is rounded up (parse_domain_xml() warns about it).
// Fails when a runtime path cannot be written into an option list (it contains a comma).
Result<std::vector<std::string>> to_altovirt_args(const DomainConfig& config, const RuntimePaths& paths);

// A random (version 4) UUID in canonical form, for `define` of a domain without <uuid>.
std::string random_uuid();

}  // namespace altovirt::config
