#include "altovirt/vmm/machine.h"

#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <future>
#include <set>

#include "altovirt/base/log.h"
#include "altovirt/base/sandbox.h"
#include "altovirt/vmm/ram_backing.h"
#include "kvm_irq_line.h"

namespace altovirt::vmm {

namespace {

// A trapped BAR: accesses go to the device's bar_read/bar_write.
// A trapped BAR. It holds its device weakly: a hot-removed device may be destroyed while a vCPU
// is still dispatching to its old BAR address (a hostile guest touching a slot it powered off), and
// the access then reads all ones instead of reaching freed memory.
class BarRegion : public devices::IoHandler {
 public:
  BarRegion(pci::PciDevice& dev, unsigned bar) : dev_(dev.weak_from_this()), bar_(bar) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override {
    if (auto d = dev_.lock()) d->bar_read(bar_, offset, data);
    else std::fill(data.begin(), data.end(), 0xff);
  }
  void io_write(uint64_t offset, std::span<const uint8_t> data) override {
    if (auto d = dev_.lock()) d->bar_write(bar_, offset, data);
  }

 private:
  std::weak_ptr<pci::PciDevice> dev_;
  unsigned bar_;
};

void kick_handler(int) {}

}  // namespace

void install_kick_signal() {
  struct sigaction sa {};
  sa.sa_handler = kick_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  ::sigaction(kKickSignal, &sa, nullptr);
}

Result<std::unique_ptr<Machine>> Machine::create(const kvm::Kvm& kvm, const VmOptions& options,
                                                 devices::CharBackend& console, Chardevs& chardevs,
                                                 ResetSurvivors& survivors) {
  std::unique_ptr<Machine> m(new Machine(console, chardevs, survivors));
  AV_TRY(m->build(kvm, options));
  return m;
}

Status Machine::build(const kvm::Kvm& kvm, const VmOptions& o) {
  options_ = o;
  // Phase times for the start-up line below: boot time is a product goal (docs/benchmarks.md).
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now(), mark = t0;
  std::string phases;
  auto phase = [&](std::string_view name) {
    auto now = Clock::now();
    phases += fmt::format("{}{} {} ms", phases.empty() ? "" : ", ", name,
                          std::chrono::duration_cast<std::chrono::milliseconds>(now - mark).count());
    mark = now;
  };
  AV_TRY_ASSIGN(vm_, kvm::Vm::create(kvm));
  AV_TRY(create_platform(kvm, o));
  phase("KVM VM and RAM");

  // PCI devices from -device, then firmware-style BAR assignment. Kinds that provide a bus (root
  // ports) come first, so a device may name a root port given after it. A root-bus device without
  // addr= gets the first slot no other -device asks for by number.
  // After a guest reset, the devices are those hot-plug left: the removed ones out, the added in.
  std::vector<DeviceSpec> specs = o.devices;
  std::erase_if(specs, [&](const DeviceSpec& d) { return !d.id.empty() && survivors_.removed_ids.contains(d.id); });
  specs.insert(specs.end(), survivors_.hot_added.begin(), survivors_.hot_added.end());
  std::stable_partition(specs.begin(), specs.end(), [](const DeviceSpec& d) {
    const DeviceKind* kind = DeviceRegistry::global().find(d.kind);
    return kind != nullptr && kind->provides_bus;
  });
  std::set<unsigned> asked;
  AV_TRY(add_platform_functions(asked));
  // A direct boot's kernel goes into guest RAM beside the devices: building those is mostly waiting
  // (a VFIO function reset sleeps at least 100 ms, PCIe 3.0 6.6.2; group attach), loading the kernel
  // is copying tens of MiB. Both only touch what they own (guest RAM vs. the buses and slots). The
  // future's destructor waits for it whichever way build() returns. Measured in the test host (NIC
  // + VF, 5 alternating pairs): start to the guest's init 7.4 s with the load beside the devices,
  // 8.0 s with it after them.
  auto early_start = Clock::now();
  std::atomic<int64_t> early_ms{0};
  std::future<Status> early = std::async(std::launch::async, [&] {
    sandbox::start_thread(sandbox::Role::main, "guest-load");
    Status s = load_kernel_early(o);
    early_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - early_start).count();
    return s;
  });
  for (auto& d : specs)
    if (d.bus.empty() && d.slot) asked.insert(*d.slot);
  unsigned next_free = 1;
  for (auto& d : specs) {
    if (!d.bus.empty() || d.slot) continue;
    if (const DeviceKind* kind = DeviceRegistry::global().find(d.kind); kind != nullptr && !kind->pci_function) continue;
    while (next_free < 32 && asked.contains(next_free)) ++next_free;
    if (next_free >= 32) return fail("-device {}: no free slot on pcie.0 (all 31 are in use)", d.text);
    d.slot = next_free++;
  }
  for (auto& spec : specs) {
    const DeviceKind* kind = DeviceRegistry::global().find(spec.kind);
    if (kind == nullptr) return fail("-device {}: unknown device kind", spec.text);
    if (auto s = kind->create(*this, spec); !s) return std::unexpected(s.error().context("-device " + spec.text));
  }
  phase("devices");
  AV_TRY(early.get());
  phase("then waiting for the kernel");
  phases += fmt::format(" (loaded in {} ms beside the devices)", early_ms.load());
  // Every passed-through device's group is attached and the kernel is in RAM: guest RAM's DMA map
  // runs beside the rest of the start and the guest's boot. Not beside the kernel load: both fault
  // guest RAM in (the kernel allocates and zeroes each page), and the vCPU waits for the load only;
  // with the map beside it the load took 2.6-2.9 s instead of 0.9 s in the test host.
  if (survivors_.vfio) survivors_.vfio->start_dma_map(*this);
  AV_TRY(pci_.check_topology());
  AV_TRY(load_guest(kvm, o));
  phase("guest tables and kernel");
  AV_TRY(create_vcpus(kvm, o));
  AV_TRY_ASSIGN(kvm::EventFd stop, kvm::EventFd::create());
  input_stop_ = std::move(stop);
  phase("vCPUs");
  // What the build freed goes back to the kernel: the kernel-load thread's malloc arena keeps its
  // freed chunks resident otherwise (measured: the standard VM's overhead 4.1 MiB instead of 4.0).
  ::malloc_trim(0);
  log::info("vmm", "{}: {} MiB RAM, {} vCPUs, {}", o.name, o.ram >> 20, o.cpus, platform_summary());
  log::info("vmm", "set-up took {} ms: {}", std::chrono::duration_cast<std::chrono::milliseconds>(mark - t0).count(),
            phases);
  return ok();
}

Status Machine::map_guest_ram(const VmOptions& o, const std::vector<RamPart>& parts) {
  if (memory_.regions().empty()) {
    if (o.ram_backing) AV_TRY(prepare_ram_backing(memory_, *o.ram_backing, o.ram));
    for (const RamPart& p : parts)
      if (p.size > 0) AV_TRY(memory_.add(p.gpa, p.size, p.what));
    ram_fresh_ = true;
  }
  for (auto& r : memory_.regions()) {
    AV_TRY_ASSIGN(kvm::MemorySlot s, vm_->map_memory(r.gpa, r.size, r.host, false, "guest RAM"));
    ram_slots_.push_back(std::move(s));
  }
  return ok();
}

devices::IrqLine& Machine::irq_line(uint32_t gsi) {
  auto line = std::make_shared<KvmIrqLine>(*vm_, gsi);
  keep_.push_back(line);
  return *line;
}

Machine::~Machine() {
  stop(ExitKind::stopped);
  // The VNC server outlives this machine: its input goes nowhere until the next machine's devices.
  if (vnc() != nullptr) {
    vnc()->set_keyboard(nullptr);
    vnc()->set_tablet(nullptr);
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  if (input_thread_.joinable()) input_thread_.join();
}

void Machine::attach_input(bool keyboard, std::shared_ptr<ui::InputSink> sink) {
  if (vnc() == nullptr) return;
  if (keyboard) vnc()->set_keyboard(std::move(sink));
  else vnc()->set_tablet(std::move(sink));
}

Result<pci::PciAddress> Machine::add_pci_device(std::shared_ptr<pci::PciDevice> device, const DeviceSpec& spec) {
  if (spec.bootindex && boot_paths_.contains(*spec.bootindex))
    return fail("bootindex={} is already given to another device; each boot device needs its own number", *spec.bootindex);
  device->set_bar_listener(this);
  std::shared_ptr<pci::PciDevice> placed_device = device;
  auto bridge = std::dynamic_pointer_cast<pci::PciBridge>(device);
  pci::PciAddress a;
  if (spec.bus.empty()) {
    AV_TRY_ASSIGN(a, pci_.add(std::move(device), spec.slot, spec.function, spec.multifunction));
  } else {
    auto port = buses_.find(spec.bus);
    if (port == buses_.end())
      return fail("bus={} names no pcie-root-port; add -device pcie-root-port,id={},chassis=N or use bus=pcie.0", spec.bus,
                  spec.bus);
    if (spec.slot.value_or(0) != 0) return fail("addr=: behind root port {} the only slot is 0", spec.bus);
    if (running_) {
      AV_TRY_ASSIGN(a, pci_.hot_add(*port->second, std::move(device), spec.function));
    } else {
      AV_TRY_ASSIGN(a, pci_.add_behind(*port->second, std::move(device), spec.function, spec.multifunction));
    }
  }
  note_boot_device(*placed_device, spec, a, bridge != nullptr);
  // The requester id its MSIs carry: on bus 0 fixed; behind a root port, the bus number the guest
  // gave the port's secondary side (it may renumber).
  const uint32_t devfn = a.slot << 3 | a.function;
  if (spec.bus.empty()) {
    placed_device->set_requester_resolver([rid = a.bus << 8 | devfn]() -> std::optional<uint32_t> { return rid; });
  } else {
    placed_device->set_requester_resolver([port = std::weak_ptr<pci::PciBridge>(buses_.at(spec.bus)), devfn]() -> std::optional<uint32_t> {
      if (auto p = port.lock()) return static_cast<uint32_t>(p->secondary_bus()) << 8 | devfn;
      return std::nullopt;
    });
  }
  std::lock_guard ids(ids_mutex_);
  if (!spec.id.empty()) device_ids_[a.str()] = spec.id;
  const DeviceKind* kind = DeviceRegistry::global().find(spec.kind);
  placed_[placed_device.get()] = Placed{spec.id, kind != nullptr && kind->hotpluggable};
  if (bridge && !spec.id.empty()) buses_[spec.id] = std::move(bridge);
  return a;
}

// The firmware boot order (fw_cfg bootorder on x86): OpenFirmware device paths, as QEMU writes them.
void Machine::note_boot_device(pci::PciDevice& d, const DeviceSpec& spec, const pci::PciAddress& at, bool bridge) {
  if (!spec.bootindex && !(bridge && !spec.id.empty())) return;
  boot::PciNode node{d.config_read(0x08, 4) >> 8, static_cast<uint16_t>(d.config_read(0x00, 2)),
                     static_cast<uint16_t>(d.config_read(0x02, 2)), at.slot, at.function};
  if (bridge && !spec.id.empty()) port_nodes_[spec.id] = node;
  if (!spec.bootindex) return;
  std::optional<boot::PciNode> port;
  if (auto it = port_nodes_.find(spec.bus); !spec.bus.empty() && it != port_nodes_.end()) port = it->second;
  const DeviceKind* kind = DeviceRegistry::global().find(spec.kind);
  boot_paths_[*spec.bootindex] = boot::ofw_path(port, node, kind != nullptr ? kind->boot_suffix.value_or("") : "");
}

std::string Machine::device_id(const pci::PciAddress& address) const {
  std::lock_guard lock(ids_mutex_);
  auto it = device_ids_.find(address.str());
  return it == device_ids_.end() ? std::string() : it->second;
}

bool Machine::pause(std::chrono::milliseconds timeout) {
  std::unique_lock lock(pause_mutex_);
  pause_requested_ = true;
  for (auto& [index, thread] : vcpu_threads_) {
    vcpus_[index].request_exit();
    ::pthread_kill(thread, kKickSignal);
  }
  return pause_cv_.wait_for(lock, timeout, [this] { return parked_ == vcpu_threads_.size() || stopping_.load(); });
}

void Machine::resume() {
  {
    std::lock_guard lock(pause_mutex_);
    pause_requested_ = false;
  }
  pause_cv_.notify_all();
}

void Machine::probe_sandbox() {
  std::lock_guard lock(pause_mutex_);
  sandbox_probe_ = true;
  for (auto& [index, thread] : vcpu_threads_) {
    vcpus_[index].request_exit();
    ::pthread_kill(thread, kKickSignal);
  }
}

std::vector<VcpuState> Machine::vcpu_states(std::chrono::milliseconds timeout) {
  bool was_paused = paused();
  if (!was_paused) pause(timeout);
  std::vector<VcpuState> out;
  {
    std::lock_guard lock(pause_mutex_);
    for (unsigned i = 0; i < vcpus_.size(); ++i) {
      if (i < parked_states_.size() && parked_states_[i]) out.push_back(*parked_states_[i]);
      else out.push_back(VcpuState{.index = i});
    }
  }
  if (!was_paused) resume();
  return out;
}

bool Machine::paused() const {
  std::lock_guard lock(pause_mutex_);
  return pause_requested_;
}

void Machine::park_if_paused(kvm::Vcpu& vcpu) {
  std::unique_lock lock(pause_mutex_);
  if (!pause_requested_ || stopping_.load()) return;
  if (parked_states_.size() <= vcpu.index()) parked_states_.resize(vcpu.index() + 1);
  parked_states_[vcpu.index()] = read_state(vcpu);  // KVM's vCPU ioctls belong on this thread
  ++parked_;
  pause_cv_.notify_all();
  pause_cv_.wait(lock, [this] { return !pause_requested_ || stopping_.load(); });
  parked_states_[vcpu.index()].reset();
  --parked_;
}

VirtioContext& Machine::virtio() {
  if (!virtio_) virtio_ = std::make_unique<VirtioContext>();
  return *virtio_;
}

VfioContext& Machine::vfio() {
  if (!survivors_.vfio) {
    survivors_.vfio = std::make_unique<VfioContext>();
    survivors_.vfio->ram_pinned = &survivors_.ram_pinned;
  }
  return *survivors_.vfio;
}

Result<kvm::MemorySlot> Machine::map_device_memory(uint64_t gpa, uint64_t size, void* host, std::string_view what,
                                                   bool read_only) {
  return vm_->map_memory(gpa, size, host, read_only, what);
}

void Machine::bar_mapping_changed(pci::PciDevice& device, unsigned bar, std::optional<uint64_t> old_addr,
                                  std::optional<uint64_t> new_addr) {
  IoBus& bus = device.bar(bar).kind == pci::BarKind::io ? pio_ : mmio_;
  if (old_addr) bus.remove(*old_addr);
  if (new_addr) {
    std::string name = fmt::format("{} BAR{}", device.name(), bar);
    if (auto s = bus.add(*new_addr, device.bar(bar).size, name, std::make_shared<BarRegion>(device, bar)); !s)
      log::warn("pci", "{} not reachable: {}", name, s.error().message());
  }
}

void Machine::press_power_button() {
  if (power_button_) power_button_->press_power_button();
}

void Machine::request_shutdown(devices::ShutdownReason reason) {
  if (reason == devices::ShutdownReason::poweroff) stop(ExitKind::poweroff, "the guest powered off");
  else stop(ExitKind::reset, "the guest reset the machine");
}

bool Machine::post(std::function<void()> task) {
  {
    std::lock_guard lock(exit_mutex_);
    if (exit_) return false;
    tasks_.push_back(std::move(task));
  }
  exit_cv_.notify_all();
  return true;
}

void Machine::stop(ExitKind kind, std::string message) {
  {
    std::lock_guard lock(exit_mutex_);
    if (!exit_) exit_ = MachineExit{kind, std::move(message)};
    stopping_ = true;
  }
  exit_cv_.notify_all();
  {
    std::lock_guard lock(pause_mutex_);  // parked vCPUs wake up and leave
  }
  pause_cv_.notify_all();
}

void Machine::handle_io(kvm_run* run) {
  auto* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
  for (uint32_t i = 0; i < run->io.count; ++i) {
    std::span<uint8_t> d(data + i * run->io.size, run->io.size);
    if (run->io.direction == KVM_EXIT_IO_IN) pio_.read(run->io.port, d);
    else pio_.write(run->io.port, d);
  }
}

void Machine::handle_mmio(kvm_run* run) {
  std::span<uint8_t> d(run->mmio.data, std::min<uint32_t>(run->mmio.len, 8));
  if (run->mmio.is_write) mmio_.write(run->mmio.phys_addr, d);
  else mmio_.read(run->mmio.phys_addr, d);
}

void Machine::vcpu_loop(kvm::Vcpu& vcpu) {
  kvm_run* run = vcpu.run_state();
  struct Report {  // where each vCPU was when it stopped: the first thing to look at in a hang
    kvm::Vcpu& v;
    ~Report() {
      VcpuState st = read_state(v);
      log::info("vmm", "vCPU {} stopped at {}", v.index(), describe(st));
    }
  } report{vcpu};
  {
    std::lock_guard lock(pause_mutex_);
    vcpu_threads_.emplace_back(vcpu.index(), ::pthread_self());
  }
  struct Unregister {
    Machine& m;
    ~Unregister() {
      std::lock_guard lock(m.pause_mutex_);
      std::erase_if(m.vcpu_threads_, [](auto& t) { return ::pthread_equal(t.second, ::pthread_self()); });
      m.pause_cv_.notify_all();  // a pause() waiting for this vCPU counts one fewer
    }
  } unregister{*this};
  while (!stopping_.load()) {
    if (sandbox_probe_.load(std::memory_order_relaxed) && sandbox_probe_.exchange(false))
      (void)::syscall(SYS_getppid);  // forbidden to every role: see probe_sandbox()
    park_if_paused(vcpu);
    if (stopping_.load()) break;
    auto s = vcpu.run();
    if (!s) {
      int err = s.error().sys_errno();
      if (err == EINTR || err == EAGAIN) continue;
      stop(ExitKind::error, s.error().message());
      return;
    }
    if (coalesced_) {
      coalesced_->drain([this](const kvm::CoalescedWrite& w) {
        if (w.pio) pio_.write_coalesced(w.addr, w.data);
        else mmio_.write_coalesced(w.addr, w.data);
      });
    }
    switch (run->exit_reason) {
      case KVM_EXIT_IO: handle_io(run); break;
      case KVM_EXIT_MMIO: handle_mmio(run); break;
      case KVM_EXIT_HLT: break;  // with the in-kernel LAPIC the kernel handles HLT; nothing to do
      case KVM_EXIT_INTR: break;
      case KVM_EXIT_SHUTDOWN:
        // A triple fault: a PC resets (and Linux uses it as the last reboot method).
        log::info("vmm", "vCPU {}: triple fault, resetting", vcpu.index());
        request_shutdown(devices::ShutdownReason::reset);
        return;
      case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) request_shutdown(devices::ShutdownReason::reset);
        else request_shutdown(devices::ShutdownReason::poweroff);
        return;
      case KVM_EXIT_FAIL_ENTRY:
        stop(ExitKind::error, fmt::format("vCPU {}: KVM could not enter the guest (hardware reason {:#x})", vcpu.index(),
                                          run->fail_entry.hardware_entry_failure_reason));
        return;
      case KVM_EXIT_INTERNAL_ERROR:
        stop(ExitKind::error, fmt::format("vCPU {}: KVM internal error, suberror {}", vcpu.index(), run->internal.suberror));
        return;
      default:
        stop(ExitKind::error, fmt::format("vCPU {}: unexpected KVM exit reason {}", vcpu.index(), run->exit_reason));
        return;
    }
  }
}

void Machine::input_loop() {
  int in = console_.in_fd();
  std::vector<uint8_t> pending;
  while (!stopping_.load()) {
    if (!pending.empty()) {
      size_t n = console_in_ ? console_in_->receive(pending) : pending.size();
      pending.erase(pending.begin(), pending.begin() + static_cast<long>(n));
      if (!pending.empty()) {  // the guest has not drained the FIFO yet
        pollfd p{input_stop_->fd(), POLLIN, 0};
        ::poll(&p, 1, 2);
        continue;
      }
    }
    pollfd fds[2] = {{input_stop_->fd(), POLLIN, 0}, {in, POLLIN, 0}};
    int r = ::poll(fds, in >= 0 ? 2 : 1, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (fds[0].revents & POLLIN)) return;
    if (in >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      uint8_t buf[64];
      ssize_t n = ::read(in, buf, sizeof buf);
      if (n > 0) pending.assign(buf, buf + n);
      else if (n == 0 || (errno != EINTR && errno != EAGAIN)) in = -1;  // EOF: no more input
    }
  }
}

MachineExit Machine::run() {
  for (auto& v : vcpus_) {
    threads_.emplace_back([this, &v] {
      sandbox::start_thread(sandbox::Role::vcpu, fmt::format("vcpu{}", v.index()));
      vcpu_loop(v);
    });
  }
  input_thread_ = std::thread([this] {
    sandbox::start_thread(sandbox::Role::input, "console-in");
    input_loop();
  });
  running_ = true;
  {
    std::unique_lock lock(exit_mutex_);
    for (;;) {
      exit_cv_.wait(lock, [this] { return exit_.has_value() || !tasks_.empty(); });
      if (exit_) break;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
    tasks_.clear();  // dropped unrun: a waiting poster sees its promise broken
  }
  stopping_ = true;
  (void)input_stop_->signal();
  // Kick until every vCPU thread has left: a vCPU can be between the check and KVM_RUN.
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    vcpus_[i].request_exit();
    ::pthread_kill(threads_[i].native_handle(), kKickSignal);
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  input_thread_.join();
  std::lock_guard lock(exit_mutex_);
  return *exit_;
}

std::string Machine::exit_stats() const {
  std::string s;
  for (const IoBus* bus : {&pio_, &mmio_})
    for (auto& r : bus->stats())
      if (r.reads + r.writes > 0)
        s += fmt::format("{:>8} {:<28} base {:#10x} size {:#9x} reads {:>10} writes {:>10}\n", bus->kind() == "MMIO" ? "mmio" : "pio",
                         r.name, r.base, r.size, r.reads, r.writes);
  // Writes that reached a device without an exit (KVM's coalesced ring), on a line of their own so
  // that the exit lines above stay "reads R writes W".
  for (const IoBus* bus : {&pio_, &mmio_})
    for (auto& r : bus->stats())
      if (r.coalesced > 0) s += fmt::format("  coalesced, no exit: {} {} writes {}\n", bus->kind(), r.name, r.coalesced);
  return s;
}

}  // namespace altovirt::vmm
