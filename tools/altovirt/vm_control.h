// VmControl: what QMP commands act on. altovirt rebuilds its Machine on every guest reset, while
// the QMP server (and its clients) live for the whole process, so the server's handlers reach the
// machine through this object, which always points at the current Machine (or at none, between
// two of them). It also keeps what outlives a Machine: the paused state (a reset while paused
// stays paused, as in QEMU) and why the run is ending (quit, a signal).
//
// Commands: stop, cont, system_powerdown, system_reset, quit, query-status, query-pci, device_add,
// device_del, and
// altovirt's x-system-reboot (power button, then the guest's power-off rebuilds the machine); the
// events STOP, RESUME, POWERDOWN, RESET, SHUTDOWN (QEMU's qapi/run-state.json shapes) and
// DEVICE_DELETED (qapi/qdev.json).
//
// Threading: handlers run on the QMP thread; attach()/detach()/machine_ended() on the main thread.
// One mutex guards the current Machine pointer: detach() takes it, so a handler never uses a
// Machine that the main thread is destroying. Handlers hold it only for short operations (pause
// waits at most a few seconds for a vCPU busy in a device handler).
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "altovirt/qmp/server.h"
#include "altovirt/vmm/machine.h"

namespace altovirt::tool {

// The balloon's commands (tools/altovirt/balloon_commands.cpp): balloon, query-balloon, and qom-get
// of the balloon's guest-stats / guest-stats-polling-interval, in QEMU's shapes.
class VmControl;
Status register_balloon_commands(qmp::Server& server, VmControl& control);
// Hot-plug (tools/altovirt/hotplug_commands.cpp): device_add and device_del, in QEMU's shapes; the
// event DEVICE_DELETED comes from the machine's removed handler (attach()).
Status register_hotplug_commands(qmp::Server& server, VmControl& control);
// x-query-virtio-queues (virtio_commands.cpp).
Status register_virtio_commands(qmp::Server& server, VmControl& control);
// query-vnc (vnc_commands.cpp): the VNC server of `survivors` (it outlives every machine).
Status register_vnc_commands(qmp::Server& server, vmm::ResetSurvivors& survivors);
// x-query-vcpus (vcpu_commands.cpp).
Status register_vcpu_commands(qmp::Server& server, VmControl& control);

class VmControl {
 public:
  explicit VmControl(qmp::Server* server) : server_(server) {}
  // -S: the first machine waits for cont (QMP) before any vCPU runs.
  void start_paused() {
    std::lock_guard lock(mutex_);
    paused_ = true;
  }

  // Registers the commands (before the server starts).
  Status register_commands(qmp::Server& server);

  // The main thread built `m` and is about to run it: pause it first if the VM is paused.
  void attach(vmm::Machine& m);
  // The main thread is done with the current Machine (before destroying it).
  void detach();
  // The Machine ended with `e`; emits SHUTDOWN/RESET for it. Returns true when the main thread
  // must build the next Machine (a guest reset with `will_reboot`, or the power-off that answers
  // x-system-reboot), false when the process ends.
  bool machine_ended(const vmm::MachineExit& e, bool will_reboot);
  // A termination signal: stops the current Machine.
  void signal_stop(int sig);

  void emit(const std::string& name, qmp::Json data = nullptr);
  // Runs `fn` on the current Machine under the mutex (for command files such as
  // balloon_commands.cpp); fails when no machine is built.
  Result<qmp::Json> with_machine(const std::function<Result<qmp::Json>(vmm::Machine&)>& fn);

 private:
  Result<qmp::Json> query_pci();

  qmp::Server* server_;
  std::mutex mutex_;
  vmm::Machine* current_ = nullptr;  // guarded by mutex_
  bool paused_ = false;              // guarded by mutex_
  bool quit_ = false;                // guarded by mutex_
  bool host_reset_ = false;          // guarded by mutex_: the next reset came from system_reset
  bool signalled_ = false;           // guarded by mutex_
  bool reboot_requested_ = false;    // guarded by mutex_: x-system-reboot pressed the power button
  bool ended_ = false;               // guarded by mutex_: no more machines (status "shutdown")
};

}  // namespace altovirt::tool
