// Machine: one running VM and everything it owns: the KVM VM and vCPUs, guest RAM and its memory
// slots, the GSI routing table, the port I/O and MMIO dispatch buses, the PCI root bus, the legacy
// devices (UART, ACPI PM, RTC, reset), and the threads (one per vCPU, one for console input).
//
// Lifecycle: create() builds and loads everything (nothing runs yet); run() starts the vCPUs and
// returns when the guest powers off or resets, stop() is called, or a vCPU fails. A reset is done by
// the caller building a fresh Machine (every device, the irqchip and the vCPUs start from their
// power-on state that way, with no per-device reset code to forget).
//
// Stopping: stop()/request_shutdown() record the first reason, then every vCPU gets
// kvm_run.immediate_exit = 1 and a SIGUSR1 (whose handler does nothing), so a vCPU inside KVM_RUN
// returns with EINTR and one about to enter it returns at once.
//
// Threading: create() and run() on the main thread. stop(), request_shutdown() and the accessors
// may be used from any thread (vCPU threads call request_shutdown()). map_device_memory() and the
// buses are thread-safe; pci() follows PciBus's contract.
#pragma once

#include "altovirt/vmm/vfio_context.h"
#include "altovirt/vmm/virtio_context.h"

#include <pthread.h>

#include <csignal>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "altovirt/boot/boot_order.h"
#include "altovirt/devices/char_backend.h"
#include "altovirt/devices/io_handler.h"
#include "altovirt/vmm/chardevs.h"
#include "altovirt/vmm/reset_survivors.h"
#include "altovirt/kvm/coalesced_io.h"
#include "altovirt/kvm/gsi.h"
#include "altovirt/kvm/guest_memory.h"
#include "altovirt/kvm/kvm.h"
#include "altovirt/kvm/vcpu.h"
#include "altovirt/kvm/vm.h"
#include "altovirt/pci/pci_bus.h"
#include "altovirt/vmm/io_bus.h"
#include "altovirt/vmm/options.h"

namespace altovirt::boot {
struct AcpiConfig;  // x86 (boot/acpi.h)
}
namespace altovirt::arch::x86 {
class AcpiPm;  // x86 (arch/x86/acpi_pm.h): declared only, so this header builds for arm64 as well
}

namespace altovirt::vmm {

struct FirmwareFlash;  // firmware_flash.h

enum class ExitKind { poweroff, reset, stopped, error };

struct MachineExit {
  ExitKind kind = ExitKind::error;
  std::string message;
};

// Where one vCPU was when it last parked (x-query-vcpus, and the log when a vCPU stops): the first
// thing to look at when a guest stops answering. mp_state is KVM_MP_STATE_* (3 = halted).
struct VcpuState {
  unsigned index = 0;
  bool parked = false;  // false: the vCPU did not leave KVM_RUN or a device handler in time
  uint64_t rip = 0, rsp = 0, rflags = 0, cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
  uint16_t cs = 0;
  uint32_t mp_state = 0;
};

// The signal used to kick vCPU threads out of KVM_RUN. Installed by install_kick_signal().
inline constexpr int kKickSignal = SIGUSR1;
void install_kick_signal();

class Machine : public devices::MachineControl, public pci::BarListener {
 public:
  // `console` (the -serial backend), `chardevs` and `survivors` (guest RAM and the VFIO state, kept
  // across guest resets) belong to the process and outlive the machine.
  static Result<std::unique_ptr<Machine>> create(const kvm::Kvm& kvm, const VmOptions& options,
                                                 devices::CharBackend& console, Chardevs& chardevs,
                                                 ResetSurvivors& survivors);
  ~Machine() override;

  MachineExit run();
  void stop(ExitKind kind, std::string message = {});

  void request_shutdown(devices::ShutdownReason reason) override;
  void bar_mapping_changed(pci::PciDevice& device, unsigned bar, std::optional<uint64_t> old_addr,
                           std::optional<uint64_t> new_addr) override;

  // Places a PCI device as `spec` says (bus=, addr=, multifunction=) and routes its BARs: on pcie.0,
  // or behind the root port whose id spec.bus names. A bridge (root port) added with an id= becomes
  // a bus later devices may name.
  Result<pci::PciAddress> add_pci_device(std::shared_ptr<pci::PciDevice> device, const DeviceSpec& spec);
  // Maps host memory (a passed-through BAR) into the guest as a KVM memory slot.
  // read_only: guest writes exit as MMIO (an expansion ROM's copy).
  Result<kvm::MemorySlot> map_device_memory(uint64_t gpa, uint64_t size, void* host, std::string_view what,
                                            bool read_only = false);

  kvm::Vm& vm() { return *vm_; }
  kvm::GsiRouter& gsi() { return *gsi_; }
  const kvm::GuestMemory& memory() const { return memory_; }
  // Every guest RAM region (gpa, size, host address): what VFIO DMA-maps with IOVA = GPA.
  const std::vector<kvm::RamRegion>& ram_regions() const { return memory_.regions(); }
  pci::PciBus& pci() { return pci_; }
  IoBus& pio() { return pio_; }
  IoBus& mmio() { return mmio_; }
  // The guest's power button (QMP system_powerdown): the ACPI one on x86, a GPIO key on arm64.
  void press_power_button();
  // The VFIO state of this machine (created with the first passed-through device).
  VfioContext& vfio();
  // Guest RAM is DMA-mapped for a passed-through device (any thread).
  bool guest_ram_pinned() const { return survivors_.ram_pinned.load(); }
  // The virtio state of this machine (I/O threads, transports' host side).
  VirtioContext& virtio();
  // The options the machine was built from (device kinds look up -drive and -object here).
  const VmOptions& options() const { return options_; }
  // The -chardev backends (opened once per process; device kinds take theirs by id).
  Chardevs& chardevs() { return chardevs_; }
  // The VNC server (-vnc), or nullptr. It outlives the machine.
  ui::VncServer* vnc() { return survivors_.vnc.get(); }
  // A virtio keyboard (or tablet) of this machine takes the VNC server's input; the machine gives
  // the server's input back (to nobody) when it ends.
  void attach_input(bool keyboard, std::shared_ptr<ui::InputSink> sink);
  // The exit counters of both buses as text, one region per line.
  std::string exit_stats() const;

  // Pausing (QMP stop/cont), from any thread. pause() kicks every vCPU out of KVM_RUN and returns
  // once each has parked on a condition variable outside KVM_RUN (or after `timeout`, returning
  // false, when one is busy in a device handler); a vCPU that has not started yet parks before its
  // first KVM_RUN. An exit that KVM had handed to userspace is completed by the next KVM_RUN after
  // resume(), as KVM's immediate_exit contract allows. stop() wakes parked vCPUs so that they exit.
  bool pause(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void resume();
  // For the sandbox's system test (QMP x-sandbox-probe): the next vCPU to leave KVM_RUN makes a system
  // call no role allows (getppid), so that -sandbox on must end the process naming it. Kicks the vCPUs.
  void probe_sandbox();
  bool paused() const;
  // Every vCPU's registers, read by the vCPU itself as it parks: pauses the machine for at most
  // `timeout` unless it is paused already (then the states from its parking), and resumes it.
  std::vector<VcpuState> vcpu_states(std::chrono::milliseconds timeout);
  // The id= given to the PCI device at `address` on the command line ("" when none).
  std::string device_id(const pci::PciAddress& address) const;

  // Work for the main thread (the one in run()), from any thread: `task` runs there, between the
  // waits for the machine's end. False when the machine has stopped: the task is dropped unrun.
  // Tasks still queued when the machine stops are dropped too (destroyed unrun).
  bool post(std::function<void()> task);

  // Hot-plug (src/vmm/hotplug.cpp; main thread, i.e. from a posted task). hot_add builds the device
  // `spec` describes (a hot-pluggable kind, bus= an empty root port) while the guest runs and
  // tells the guest; request_removal asks the guest to let go of device `id` (behind a root port).
  // Once the guest has, the device is taken out on the main thread, its kind's removal hook runs
  // and the removed handler hears the id (QMP's DEVICE_DELETED).
  Status hot_add(const DeviceSpec& spec);
  Status request_removal(const std::string& id);
  void set_removed_handler(std::function<void(const std::string& id)> handler) { removed_handler_ = std::move(handler); }
  // For device kinds: what to do once device `id` has been hot-removed and destroyed (a VFIO
  // device gives its group back to the host). Hooks of one device run in the order they were given.
  void on_removal(const pci::PciDevice* device, std::function<void()> hook);
  // Block and network backends: the command line's (-drive, -netdev) and those added over QMP
  // (blockdev-add, netdev_add; main thread). nullptr when none has `id`.
  const DriveSpec* find_drive(const std::string& id) const;
  const NetdevSpec* find_netdev(const std::string& id) const;
  Status add_drive(DriveSpec drive);
  Status delete_drive(const std::string& id);
  Status add_netdev(NetdevSpec netdev);
  Status delete_netdev(const std::string& id);
  // A device that add_pci_device placed but whose kind then failed to finish it: taken back out
  // (off the bus, the guest told if it was hot-added).
  void retract_pci_device(const std::shared_ptr<pci::PciDevice>& device);
  // The guest powered the slot of `port` off (RootPort's eject handler, via post()).
  void complete_removal(pci::PciBridge& port);

 private:
  // Drops what add_pci_device recorded for `device`; returns its id ("" when none).
  std::string forget(const pci::PciDevice* device);

 public:

 private:
  Machine(devices::CharBackend& console, Chardevs& chardevs, ResetSurvivors& survivors)
      : console_(console), chardevs_(chardevs), survivors_(survivors), memory_(survivors.memory), vfio_use_{survivors} {}
  Status build(const kvm::Kvm& kvm, const VmOptions& options);
  // The architecture's part of the machine (src/vmm/x86/pc_board.cpp, src/vmm/arm64/virt_board.cpp),
  // in build order: the irqchip, the memory layout, RAM and the platform devices; PCI functions the
  // platform itself puts on the root bus (their slots go into `taken`); while the -device
  // functions are built, what of the guest needs no device (a direct boot's kernel and initrd, on a
  // thread of its own: load_kernel_early); after them, firmware tables and the rest of the kernel
  // (or firmware); the vCPUs at their entry.
  Status create_platform(const kvm::Kvm& kvm, const VmOptions& options);
  Status add_platform_functions(std::set<unsigned>& taken);
  Status load_kernel_early(const VmOptions& options);
  Status load_guest(const kvm::Kvm& kvm, const VmOptions& options);
  Status create_vcpus(const kvm::Kvm& kvm, const VmOptions& options);
  std::string platform_summary() const;  // for the start-up log line
  // For the boards. Guest RAM as the board lays it out: allocated by the first machine of the
  // process (a guest reset keeps RAM, contents and all, as a PC's does) and registered with this
  // machine's VM as memory slots. And an interrupt line into the in-kernel irqchip (a GSI: an
  // IOAPIC pin on x86, an SPI on arm64) that lives as long as this machine.
  struct RamPart {
    uint64_t gpa, size;
    const char* what;
  };
  Status map_guest_ram(const VmOptions& options, const std::vector<RamPart>& parts);
  devices::IrqLine& irq_line(uint32_t gsi);
  // A vCPU's registers (on its own thread: KVM's vCPU ioctls belong there), and as a log line.
  static VcpuState read_state(const kvm::Vcpu& v);
  static std::string describe(const VcpuState& st);
  void vcpu_loop(kvm::Vcpu& vcpu);
  void input_loop();
  void handle_io(kvm_run* run);
  void handle_mmio(kvm_run* run);
  void park_if_paused(kvm::Vcpu& vcpu);
  // A UEFI firmware boot (x86/firmware_boot.cpp): the chipset function firmware needs (before the
  // -device functions), then the flash, fw_cfg and its items (after them, with the ACPI tables).
  Status add_firmware_chipset(uint16_t pm_base);
  Status load_firmware(const kvm::Kvm& kvm, const VmOptions& options, const boot::AcpiConfig& acpi);
  // arm64 (arm64/firmware_boot.cpp): AAVMF's flash banks and fw_cfg; the tree is the board's.
  Status load_firmware(const kvm::Kvm& kvm, const VmOptions& options);
  // Both boards (firmware_flash.cpp): maps the firmware's opened flash banks at the board's
  // addresses; `flash` must live as long as the machine (its listener refers to it).
  Status map_firmware_flash(const kvm::Kvm& kvm, FirmwareFlash& flash, uint64_t code_base, uint64_t vars_base);
  // Notes a placed device's part in the firmware's boot order: a root port's node, a bootindex=
  // device's path (a hot-added one counts from the next reset, as in QEMU).
  void note_boot_device(pci::PciDevice& device, const DeviceSpec& spec, const pci::PciAddress& at, bool bridge);

  devices::CharBackend& console_;
  Chardevs& chardevs_;
  ResetSurvivors& survivors_;
  std::unique_ptr<kvm::Vm> vm_;
  std::unique_ptr<kvm::GsiRouter> gsi_;
  kvm::GuestMemory& memory_;  // survivors_.memory
  bool ram_fresh_ = false;     // memory_ was allocated by this build: no guest has run on it
  std::vector<kvm::MemorySlot> ram_slots_;
  IoBus pio_{"port I/O"};
  IoBus mmio_{"MMIO"};
  // Before pci_: destroyed after the passed-through devices, which stop their device (interrupts
  // off, bus mastering off, reset) while its DMA mappings still exist; only then does this machine
  // give up its share of the VFIO state (survivors_.vfio: the container and mappings stay).
  struct VfioUse {
    ResetSurvivors& survivors;
    ~VfioUse() {
      if (survivors.vfio) survivors.vfio->machine_ended();
    }
  } vfio_use_;
  // Before pci_ as well: the virtio transports stop their models on their I/O threads when they are
  // destroyed, so the threads must outlive them.
  std::unique_ptr<VirtioContext> virtio_;
  pci::PciBus pci_{15};  // buses 0..15: one per MiB of the boards' 16 MiB ECAM
  std::vector<std::shared_ptr<void>> keep_;  // IrqLines and other objects devices refer to
  std::shared_ptr<devices::ConsoleInput> console_in_;  // the console UART's receive side
  std::shared_ptr<devices::PowerButton> power_button_;
  std::shared_ptr<arch::x86::AcpiPm> acpi_pm_;         // x86: firmware_boot.cpp moves it with PMBASE
  std::shared_ptr<void> arch_;                         // what the board keeps between its build steps
  std::vector<kvm::Vcpu> vcpus_;
  // KVM's coalesced ring for the PCI configuration address port (absent when KVM lacks it).
  std::unique_ptr<kvm::CoalescedIo> coalesced_;
  std::vector<std::thread> threads_;
  std::thread input_thread_;
  std::optional<kvm::EventFd> input_stop_;

  std::mutex exit_mutex_;
  std::condition_variable exit_cv_;
  std::optional<MachineExit> exit_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> sandbox_probe_{false};

  // Pause state; vcpu_threads_ holds the threads that are inside vcpu_loop (index, thread), so a
  // pause never signals a thread that has ended.
  mutable std::mutex pause_mutex_;
  std::condition_variable pause_cv_;
  bool pause_requested_ = false;
  unsigned parked_ = 0;
  std::vector<std::pair<unsigned, pthread_t>> vcpu_threads_;
  std::vector<std::optional<VcpuState>> parked_states_;  // by vCPU index, while parked
  // By address; written while building and by hot-plug on the main thread, read by QMP.
  mutable std::mutex ids_mutex_;
  std::map<std::string, std::string> device_ids_;
  std::map<std::string, std::shared_ptr<pci::PciBridge>> buses_;  // root ports by id, building only
  // The firmware's boot order (firmware_boot.cpp): root ports' nodes by id, and each bootindex=
  // device's OpenFirmware path by index; written by add_pci_device on the main thread.
  std::map<std::string, boot::PciNode> port_nodes_;
  std::map<unsigned, std::string> boot_paths_;
  std::deque<std::function<void()>> tasks_;  // under exit_mutex_
  bool running_ = false;                     // run() has started the vCPUs (main thread only)
  std::function<void(const std::string&)> removed_handler_;
  std::map<const pci::PciDevice*, std::vector<std::function<void()>>> removal_hooks_;  // main thread only
  // What add_pci_device placed, by device: its id and whether its kind may be hot-removed; under
  // ids_mutex_. A device the guest ejected although its kind cannot be hot-removed is parked
  // (off the bus, decode off) until the machine ends instead of being torn down mid-run.
  struct Placed {
    std::string id;
    bool hotpluggable = false;
  };
  std::map<const pci::PciDevice*, Placed> placed_;
  std::vector<std::shared_ptr<pci::PciDevice>> ejected_parked_;
  VmOptions options_;  // as given, kept for the device kinds
};

}  // namespace altovirt::vmm
