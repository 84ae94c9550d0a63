#include "vm_control.h"

#include <linux/pci_regs.h>

#include "altovirt/base/log.h"

namespace altovirt::tool {

using qmp::Json;

namespace {
Json shutdown_data(bool guest, const char* reason) { return Json{{"guest", guest}, {"reason", reason}}; }
}  // namespace

void VmControl::emit(const std::string& name, Json data) {
  if (server_ != nullptr) server_->emit_event(name, std::move(data));
}

void VmControl::attach(vmm::Machine& m) {
  std::lock_guard lock(mutex_);
  current_ = &m;
  m.set_removed_handler([this](const std::string& id) {
    emit("DEVICE_DELETED", Json{{"device", id}, {"path", "/machine/peripheral/" + id}});
  });
  if (quit_ || signalled_) m.stop(vmm::ExitKind::stopped, quit_ ? "quit from QMP" : "terminating on a signal");
  if (paused_) m.pause();  // no vCPU runs yet: this only sets the flag they check first
}

void VmControl::detach() {
  std::lock_guard lock(mutex_);
  current_ = nullptr;
}

bool VmControl::machine_ended(const vmm::MachineExit& e, bool will_reboot) {
  std::lock_guard lock(mutex_);
  // A reboot asked through x-system-reboot: the guest answered the power button by powering off,
  // and the machine is built again instead (libvirt's "fake reboot" of a QEMU domain, which sends
  // system_powerdown and then system_reset + cont when the guest shuts down).
  bool fake_reboot = e.kind == vmm::ExitKind::poweroff && reboot_requested_ && !quit_ && !signalled_;
  reboot_requested_ = false;  // satisfied (or overtaken) by whatever ended this machine
  switch (e.kind) {
    case vmm::ExitKind::poweroff:
      emit("SHUTDOWN", shutdown_data(true, "guest-shutdown"));
      if (fake_reboot) emit("RESET", shutdown_data(false, "host-qmp-system-reset"));
      break;
    case vmm::ExitKind::reset:
      if (host_reset_) emit("RESET", shutdown_data(false, "host-qmp-system-reset"));
      else emit("RESET", shutdown_data(true, "guest-reset"));
      host_reset_ = false;
      // QEMU with -no-reboot turns a reset into a shutdown and says so.
      if (!will_reboot) emit("SHUTDOWN", shutdown_data(true, "guest-reset"));
      break;
    case vmm::ExitKind::stopped:
      if (quit_) emit("SHUTDOWN", shutdown_data(false, "host-qmp-quit"));
      else if (signalled_) emit("SHUTDOWN", shutdown_data(false, "host-signal"));
      break;
    case vmm::ExitKind::error: emit("SHUTDOWN", shutdown_data(false, "host-error")); break;
  }
  bool rebuild = !quit_ && !signalled_ && ((e.kind == vmm::ExitKind::reset && will_reboot) || fake_reboot);
  if (!rebuild) ended_ = true;
  return rebuild;
}

void VmControl::signal_stop(int sig) {
  std::lock_guard lock(mutex_);
  signalled_ = true;
  if (current_ != nullptr) current_->stop(vmm::ExitKind::stopped, fmt::format("terminating on signal {}", sig));
}

namespace {

// QEMU's PciDeviceInfo list for the functions on bus `nr`; a bridge carries its "pci_bridge" with
// its bus numbers, windows and the devices behind it (QEMU's PciBridgeInfo).
Json bus_devices(pci::PciBus& bus, const vmm::Machine& machine, uint8_t nr, unsigned depth) {
  Json devices = Json::array();
  for (auto& [a, dev] : bus.devices(nr)) {
    // Through the bus, which serialises config cycles with the vCPUs.
    auto cfg = [&](unsigned off, unsigned size) { return bus.config_read(a, off, size); };
    Json regions = Json::array();
    for (unsigned i = 0; i < pci::kNumBars; ++i) {
      const pci::BarSpec& b = dev->bar(i);
      if (b.kind == pci::BarKind::none) continue;
      uint64_t reg = cfg(PCI_BASE_ADDRESS_0 + 4 * i, 4);
      Json r = {{"bar", i}, {"size", b.size}};
      if (b.kind == pci::BarKind::io) {
        r["type"] = "io";
        r["address"] = reg & PCI_BASE_ADDRESS_IO_MASK;
      } else {
        uint64_t addr = reg & PCI_BASE_ADDRESS_MEM_MASK;
        if (b.kind == pci::BarKind::mem64 && i + 1 < pci::kNumBars)
          addr |= static_cast<uint64_t>(cfg(PCI_BASE_ADDRESS_0 + 4 * (i + 1), 4)) << 32;
        r["type"] = "memory";
        r["address"] = addr;
        r["prefetch"] = b.prefetchable;
        r["mem_type_64"] = b.kind == pci::BarKind::mem64;
      }
      regions.push_back(std::move(r));
    }
    uint32_t class_rev = cfg(PCI_CLASS_REVISION, 4);
    Json d = {{"bus", a.bus},
              {"slot", a.slot},
              {"function", a.function},
              {"class_info", {{"class", class_rev >> 16}, {"desc", dev->name()}}},
              {"id",
               {{"vendor", cfg(PCI_VENDOR_ID, 2)},
                {"device", cfg(PCI_DEVICE_ID, 2)},
                {"subsystem-vendor", cfg(PCI_SUBSYSTEM_VENDOR_ID, 2)},
                {"subsystem", cfg(PCI_SUBSYSTEM_ID, 2)}}},
              {"revision", class_rev & 0xff},
              {"qdev_id", machine.device_id(a)},
              {"regions", std::move(regions)}};
    uint32_t irq = cfg(PCI_INTERRUPT_LINE, 2);
    if ((irq >> 8) != 0) d["irq_pin"] = irq >> 8;
    if ((cfg(PCI_HEADER_TYPE, 1) & 0x7f) == PCI_HEADER_TYPE_BRIDGE) {
      uint8_t secondary = static_cast<uint8_t>(cfg(PCI_SECONDARY_BUS, 1));
      auto range = [](uint64_t base, uint64_t limit) { return Json{{"base", base}, {"limit", limit}}; };
      uint64_t pref_base = (cfg(PCI_PREF_MEMORY_BASE, 2) & 0xfff0u) << 16 | uint64_t{cfg(PCI_PREF_BASE_UPPER32, 4)} << 32;
      uint64_t pref_limit = ((cfg(PCI_PREF_MEMORY_LIMIT, 2) & 0xfff0u) << 16 | 0xfffff) |
                            uint64_t{cfg(PCI_PREF_LIMIT_UPPER32, 4)} << 32;
      Json info = {{"number", secondary},
                   {"secondary", secondary},
                   {"subordinate", cfg(PCI_SUBORDINATE_BUS, 1)},
                   {"io_range", range((cfg(PCI_IO_BASE, 1) & 0xf0u) << 8, (cfg(PCI_IO_LIMIT, 1) & 0xf0u) << 8 | 0xfff)},
                   {"memory_range", range((cfg(PCI_MEMORY_BASE, 2) & 0xfff0u) << 16,
                                          (cfg(PCI_MEMORY_LIMIT, 2) & 0xfff0u) << 16 | 0xfffff)},
                   {"prefetchable_range", range(pref_base, pref_limit)}};
      // Depth-limited: the guest may program a bridge's secondary number to loop back to its own bus.
      Json behind = secondary != 0 && secondary != nr && depth < 8 ? bus_devices(bus, machine, secondary, depth + 1)
                                                                    : Json::array();
      d["pci_bridge"] = {{"bus", std::move(info)}, {"devices", std::move(behind)}};
    }
    devices.push_back(std::move(d));
  }
  return devices;
}

}  // namespace

Result<Json> VmControl::query_pci() {
  std::lock_guard lock(mutex_);
  if (current_ == nullptr) return fail("the machine is not built yet (status prelaunch); try again");
  return Json::array({Json{{"bus", 0}, {"devices", bus_devices(current_->pci(), *current_, 0, 0)}}});
}

Result<Json> VmControl::with_machine(const std::function<Result<Json>(vmm::Machine&)>& fn) {
  std::lock_guard lock(mutex_);
  if (current_ == nullptr) return fail("the machine is not built yet (status prelaunch); try again");
  return fn(*current_);
}

Status VmControl::register_commands(qmp::Server& server) {
  AV_TRY(server.register_command({"query-status", {}, [this](const Json&) -> Result<Json> {
                                    std::lock_guard lock(mutex_);
                                    // "prelaunch" until the first Machine is built (and between a reset and the next),
                                    // so a supervisor can tell when the VM really runs.
                                    // -S (or stop before the build): "paused" once the machine is built.
                                    std::string status = ended_                ? "shutdown"
                                                         : current_ == nullptr ? "prelaunch"
                                                         : paused_             ? "paused"
                                                                               : "running";
                                    return Json{{"status", status}, {"running", status == "running"}, {"singlestep", false}};
                                  }}));
  AV_TRY(server.register_command({"stop", {}, [this](const Json&) -> Result<Json> {
                                    std::lock_guard lock(mutex_);
                                    if (paused_) return Json::object();
                                    paused_ = true;
                                    if (current_ != nullptr && !current_->pause())
                                      log::warn("qmp", "stop: a vCPU did not park within 5 s; it parks when it can");
                                    emit("STOP");
                                    return Json::object();
                                  }}));
  AV_TRY(server.register_command({"cont", {}, [this](const Json&) -> Result<Json> {
                                    std::lock_guard lock(mutex_);
                                    if (!paused_) return Json::object();
                                    paused_ = false;
                                    if (current_ != nullptr) current_->resume();
                                    emit("RESUME");
                                    return Json::object();
                                  }}));
  AV_TRY(server.register_command({"system_powerdown", {}, [this](const Json&) -> Result<Json> {
                                    std::lock_guard lock(mutex_);
                                    if (current_ == nullptr) return fail("the machine is not built yet (status prelaunch); try again");
                                    emit("POWERDOWN");
                                    reboot_requested_ = false;  // a shutdown asked later wins over a reboot
                                    current_->press_power_button();
                                    return Json::object();
                                  }}));
  // altovirt's own (QEMU has no such command; libvirt does the same with -no-shutdown, system_powerdown,
  // then system_reset and cont): a guest-cooperative reboot. The guest sees the ACPI power button;
  // when it then powers off, the machine is built again and boots, in the same process (same QMP
  // socket, same devices). A guest that ignores the button keeps running; system_powerdown cancels it.
  AV_TRY(server.register_command({"x-system-reboot", {}, [this](const Json&) -> Result<Json> {
                                    std::lock_guard lock(mutex_);
                                    if (current_ == nullptr) return fail("the machine is not built yet (status prelaunch); try again");
                                    emit("POWERDOWN");
                                    reboot_requested_ = true;
                                    current_->press_power_button();
                                    return Json::object();
                                  }}));
  AV_TRY(server.register_command({"system_reset", {}, [this](const Json&) -> Result<Json> {
                                    std::lock_guard lock(mutex_);
                                    if (current_ == nullptr) return fail("the machine is not built yet (status prelaunch); try again");
                                    host_reset_ = true;
                                    current_->stop(vmm::ExitKind::reset, "system_reset from QMP");
                                    return Json::object();
                                  }}));
  AV_TRY(server.register_command({"quit", {}, [this](const Json&) -> Result<Json> {
                                    std::lock_guard lock(mutex_);
                                    quit_ = true;
                                    if (current_ != nullptr) current_->stop(vmm::ExitKind::stopped, "quit from QMP");
                                    return Json::object();
                                  }}));
  AV_TRY(server.register_command({"query-pci", {}, [this](const Json&) { return query_pci(); }}));
  // A test hook, as QEMU's x- commands: a vCPU thread makes a system call no role allows, so that a
  // test can see -sandbox on end altovirt with the call named (and -sandbox log let it through).
  AV_TRY(server.register_command({"x-sandbox-probe", {}, [this](const Json&) -> Result<Json> {
                                    std::lock_guard lock(mutex_);
                                    if (current_ == nullptr) return fail("the machine is not built yet (status prelaunch); try again");
                                    current_->probe_sandbox();
                                    return Json::object();
                                  }}));
  AV_TRY(register_balloon_commands(server, *this));
  AV_TRY(register_hotplug_commands(server, *this));
  AV_TRY(register_virtio_commands(server, *this));
  AV_TRY(register_vcpu_commands(server, *this));
  return ok();
}

}  // namespace altovirt::tool
