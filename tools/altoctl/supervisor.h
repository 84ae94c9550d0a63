// Starting a VM (`create`, `start`): the supervisor process and its handshake with altoctl.
//
// launch() forks the supervisor, a process in a session of its own that owns the VM for its whole
// life: it takes the host-wide StateDir lock just long enough to check and prepare the host devices
// (managed='yes': detach to vfio-pci; claims for the VM under the supervisor's pid), starts altovirt
// (-serial as the XML says, -qmp on <state>/vms/NAME/qmp.sock, -pidfile, -D log), waits for QMP to
// report the VM running, tells altoctl (through a pipe: the pty, or the error), then waits for
// altovirt to end, however it ends, gives the devices back and records the VM shut off.
//
// Signals during the start (Ctrl-C, SIGTERM, SIGHUP to altoctl). altoctl blocks them before the
// fork, so that neither process ever has a moment with the other's disposition, and reads them
// from a signalfd. On the first one it asks the supervisor to cancel (a byte, the signal number,
// on the cancel pipe; the pipe's end of file says the same when altoctl is killed outright) and
// waits, bounded, for the outcome:
//  - until QMP reports the VM running, a cancel stops altovirt and gives the devices back; altoctl
//    then ends by the same signal, the host as it was before;
//  - once the VM runs, it keeps running (as a domain that libvirt started does when virsh is
//    interrupted), and altoctl says so before it ends by the signal.
// A signal that altoctl inherited as ignored (nohup, a background job of a script) stays ignored.
//
// Test hook: ALTOCTL_TEST_PHASE_DELAY=PHASE:SECONDS makes the supervisor hold for SECONDS when it
// reaches PHASE (prepare: nothing changed yet; detached: devices prepared, altovirt not started;
// booting: altovirt started, not yet running; running: QMP says running, altoctl not yet told), so
// that a system test can deliver a signal inside each phase. Every phase is logged
// ("supervisor: phase NAME") in the supervisor's log whether or not it is held.
//
// Threading: single-threaded processes.
#pragma once

#include <string>

#include "altovirt/config/domain.h"
#include "commands.h"
#include "vm_store.h"

namespace altoctl {

// Starts domain `c` under a supervisor. Prints `started` when the VM runs.
// Returns create/start's exit status, or ends the process by the signal that interrupted it.
int launch(const Global& g, const VmStore& store, const altovirt::config::DomainConfig& c, const std::string& started);

}  // namespace altoctl
