// The altovirt command line, QEMU style (single-dash options taking the next argument as value):
//   altovirt [-name NAME] [-machine q35] -m SIZE[M|G] [-smp N] -kernel BZIMAGE [-initrd FILE]
//            [-append CMDLINE] [-serial stdio|pty|file:PATH|none] [-device KIND,key=value,...]...
//            [-qmp unix:PATH,server,nowait] [-no-reboot] [-pidfile PATH] [-D LOGFILE]
//            [-drive file=PATH,format=raw,if=none,id=ID,...]... [-object iothread,id=ID]...
//            [-netdev tap,id=ID,ifname=NAME,...]...
//            [-object memory-backend-file,id=ID,size=SIZE,mem-path=DIR,... -machine q35,memory-backend=ID]
//            [-mem-path DIR] [-mem-prealloc]
// Parsing is pure: it checks every value and returns an error naming the option and the accepted
// forms; nothing is opened or started. (No Debian library parses QEMU's syntax, so this is a small
// hand-written parser; the numbers go through base's parse_uint/parse_size.)
//
// -device KIND,opts: KIND must be in the DeviceRegistry. Every PCI kind accepts id=, bus=,
// addr=SLOT[.FN] and multifunction=on|off (bootable kinds also bootindex=N); a kind declares its own
// keys on top. bus= is pcie.0 (the
// default) or the id= of a kind that provides a bus (a pcie-root-port); behind a root port addr= is
// 0 (or absent), as its bus has device 0 only. parse_options() checks the placement of all devices
// together: bus= must name a root port, no two devices may share an address.
//
// Threading: pure functions; the registry is filled before parsing, then read-only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/sandbox.h"
#include "altovirt/ui/vnc_server.h"

namespace altovirt::vmm {

class Machine;

struct DeviceSpec {
  std::string kind;
  std::map<std::string, std::string> props;  // kind-specific keys
  std::string id;
  std::string bus;  // "" for pcie.0, else the id of the root port the device sits behind
  std::optional<unsigned> slot;
  unsigned function = 0;
  bool multifunction = false;
  // bootindex=N (QEMU's): the firmware's boot order, lowest first (fw_cfg "bootorder"); only kinds
  // with a boot_suffix take it.
  std::optional<unsigned> bootindex;
  std::string text;  // as typed, for messages
};

// -drive file=PATH,format=raw,if=none,id=ID[,readonly=on][,cache=none|writeback][,aio=io_uring|threads]
//        [,iops=N][,iops_rd=N][,iops_wr=N][,bps=N][,bps_rd=N][,bps_wr=N]   (QEMU's -drive keys)
// A drive is a backend only (if=none); a device (-device virtio-blk-pci,drive=ID) uses it.
struct DriveLimits {
  uint64_t iops = 0, iops_rd = 0, iops_wr = 0;  // requests per second, 0 = unlimited
  uint64_t bps = 0, bps_rd = 0, bps_wr = 0;     // bytes per second, 0 = unlimited
  bool any() const { return iops || iops_rd || iops_wr || bps || bps_rd || bps_wr; }
};

struct DriveSpec {
  std::string id, file, format = "raw";
  std::string interface = "none";  // if=: none (a device names it with drive=ID) or pflash (firmware)
  std::optional<unsigned> unit;    // unit= (if=pflash: 0 = the firmware's code, 1 = its variables)
  bool readonly = false;
  bool direct = false;          // cache=none: O_DIRECT (bypass the host page cache)
  bool io_uring = true;         // aio=io_uring (default) or aio=threads
  bool discard = true;          // discard=unmap (default): the guest's discards punch holes in the image
  DriveLimits limits;
  std::string text;             // as typed, for messages
};

// -chardev pty|stdio|file|null,id=ID[,path=PATH]: a character backend a device names with
// chardev=ID (virtconsole). `backend` is CharBackend::open's form: pty, stdio, file:PATH, none.
struct ChardevSpec {
  std::string id, backend;
  std::string text;  // as typed, for messages
};

// -object rng-random,id=ID[,filename=PATH]: an entropy source a virtio-rng-pci names with rng=ID
// (QEMU's object; filename defaults to /dev/urandom, as in QEMU).
struct RngSpec {
  std::string id, filename = "/dev/urandom";
  std::string text;  // as typed, for messages
};

// -netdev tap,id=ID,ifname=NAME[,script=no][,downscript=no][,vhost=on|off][,queues=N]: a tap a
// network device names with netdev=ID (virtio-net-pci). altovirt runs no scripts (script=no is
// the only value). vhost unset: vhost-net when /dev/vhost-net is there, as QEMU with libvirt.
struct NetdevSpec {
  std::string id, ifname;
  std::optional<bool> vhost;
  unsigned queues = 1;
  std::string text;  // as typed, for messages
};

// -object memory-backend-file,id=ID,size=SIZE,mem-path=DIR[,prealloc=on][,share=on] (QEMU's object),
// used as guest RAM with -machine q35,memory-backend=ID; size= must equal -m (or stands for it).
struct MemoryBackendSpec {
  std::string id, mem_path;
  uint64_t size = 0;
  bool prealloc = false, share = false;
  std::string text;  // as typed, for messages
};

// Where guest RAM comes from when not plain anonymous memory: a file in mem_path (empty: anonymous
// memory, preallocated: -mem-prealloc alone). Resolved by parse_options from -machine
// memory-backend= or -mem-path/-mem-prealloc; `option` is what the user typed, for messages.
struct RamBacking {
  std::string mem_path;
  bool prealloc = false, share = false;
  std::string option;
};

// UEFI firmware from -drive if=pflash (QEMU's syntax): unit 0 the code (OVMF_CODE*.fd), normally
// readonly=on; unit 1, optional, the variable store (a per-VM copy of OVMF_VARS*.fd), written by the
// guest. Both are mapped just below 4 GiB, the variables under the code.
struct FirmwareSpec {
  DriveSpec code;
  std::optional<DriveSpec> vars;
};

// -object secret,id=ID,data=TEXT|file=PATH (QEMU's): a password the VNC server asks for. A file is
// read when the VM starts (its trailing newline dropped), so the password is not in `ps`.
struct SecretSpec {
  std::string id, data, file;
  std::string text;
};

struct QmpSpec {
  std::string path;  // unix socket
  bool server = true;
  bool wait = false;
};

struct VmOptions {
  std::string name = "altovirt";
  uint64_t ram = 0;
  unsigned cpus = 1;
  std::string kernel, initrd, append;
  std::string serial = "stdio";
  std::vector<DeviceSpec> devices;
  std::vector<DriveSpec> drives;
  std::vector<std::string> iothreads;  // -object iothread,id=ID
  std::vector<ChardevSpec> chardevs;
  std::vector<RngSpec> rngs;  // -object rng-random
  std::vector<NetdevSpec> netdevs;
  std::vector<MemoryBackendSpec> memory_backends;  // -object memory-backend-file
  std::optional<RamBacking> ram_backing;           // unset: anonymous memory, as before
  std::optional<FirmwareSpec> firmware;            // -drive if=pflash: boot through UEFI firmware
  // -debugcon log|file:PATH: the firmware's debug console (port 0x402) to the log (-D) or a file;
  // empty: no debug console (the firmware's debug output is off).
  std::string debugcon;
  std::optional<QmpSpec> qmp;
  // -vnc: the screen (a virtio-gpu-pci), keyboard and tablet (virtio-keyboard-pci, virtio-tablet-pci)
  // over VNC; unset: no VNC server (a virtio-gpu then shows nothing outside the guest).
  std::optional<ui::VncSpec> vnc;
  std::vector<SecretSpec> secrets;  // -object secret
  bool no_reboot = false;
  // -S: the first machine is built (devices opened, RAM mapped for DMA) but its vCPUs wait for QMP's
  // cont, as QEMU's -S (libvirt starts every domain so).
  bool start_paused = false;
  // -sandbox: the seccomp allow-list of every thread (altovirt/base/sandbox.h); on unless asked.
  sandbox::Mode sandbox = sandbox::Mode::on;
  std::string pidfile, logfile;
};

// A device kind that -device can create.
struct DeviceKind {
  std::string help;                    // one line for the usage message
  std::vector<std::string> keys;       // kind-specific keys it accepts
  // Adds the device to the machine (called after the machine's core is built, before boot).
  std::function<Status(Machine&, const DeviceSpec&)> create;
  // The kind's id= names a bus that other devices may give as bus= (a root port). The machine
  // creates these first, so that the command line's order does not matter.
  bool provides_bus = false;
  // Optional: checks every -device of this kind together (unique chassis/slot numbers, ...).
  std::function<Status(const std::vector<const DeviceSpec*>&)> check_all = nullptr;
  // False for kinds that are not a PCI function of their own (a virtconsole is a port of its
  // virtio-serial-pci): the machine gives them no slot.
  bool pci_function = true;
  // The kind may be added and removed while the guest runs (QMP device_add/device_del behind a
  // root port); `create` then runs on the machine's main thread with the vCPUs running.
  bool hotpluggable = false;
  // The kind can be a boot device (-device ...,bootindex=N): what it adds below its PCI function in
  // the firmware's OpenFirmware boot path (QEMU's: "/disk@0,0" for a virtio disk, "/ethernet-phy@0"
  // for a virtio NIC, "" for a passed-through function); unset: bootindex= is refused.
  std::optional<std::string> boot_suffix = std::nullopt;
};

class DeviceRegistry {
 public:
  static DeviceRegistry& global();
  void add(std::string kind, DeviceKind k) { kinds_[std::move(kind)] = std::move(k); }
  const DeviceKind* find(const std::string& kind) const;
  // "vfio-pci, ..." or "(none)".
  std::string names() const;

 private:
  std::map<std::string, DeviceKind> kinds_;
};

inline constexpr unsigned kMaxCpus = 255;  // xAPIC ids are 8 bits, and the MADT entries too

// Parses argv[1..]. Errors name the option; the CLI prints them and exits 2.
Result<VmOptions> parse_options(const std::vector<std::string>& args, const DeviceRegistry& registry);
// Parses one -drive value.
Result<DriveSpec> parse_drive(const std::string& text);
// Parses one -chardev value.
Result<ChardevSpec> parse_chardev(const std::string& text);
// Parses one -object rng-random value.
Result<RngSpec> parse_rng_object(const std::string& text);
// Parses one -object memory-backend-file value.
Result<MemoryBackendSpec> parse_memory_backend(const std::string& text);
// Parses one -object secret value.
Result<SecretSpec> parse_secret_object(const std::string& text);
// The password of -vnc's password-secret= (reads its file); "" without one. Errors name the options.
Result<std::string> vnc_password(const VmOptions& options);
// Parses one -netdev value.
Result<NetdevSpec> parse_netdev(const std::string& text);
// Parses one -device value.
Result<DeviceSpec> parse_device(const std::string& text, const DeviceRegistry& registry);
std::string usage();

}  // namespace altovirt::vmm
