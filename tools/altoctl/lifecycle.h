// altoctl's VM verbs, virsh-shaped: create, define, start, undefine, list, console, shutdown,
// destroy, dumpxml, domstate. Each returns the exit status (0 ok, 1 failed, 2 usage).
//
// How a VM runs: `create`/`start` fork a supervisor (setsid, its own log file) that owns the VM:
// it takes the host-wide StateDir lock just long enough to check and prepare the host devices
// (managed='yes': detach to vfio-pci; claims for the VM under the supervisor's pid), starts
// altovirt (-serial as the XML says, -qmp on <state>/vms/NAME/qmp.sock, -pidfile, -D log), waits
// for QMP to report the VM running, tells altoctl (through a pipe: the pty, or the error), then
// waits for altovirt to end, however it ends, and gives the devices back and records the VM shut
// off. When altoctl goes away before it hears that the VM runs (Ctrl-C during create), the
// supervisor stops the VM and rolls back. When the supervisor itself was killed, the next altoctl
// call notices (reconcile) and does its cleanup.
//
// Threading: single-threaded tool (the supervisor is a separate process).
#pragma once

#include <string>

#include "commands.h"

namespace altoctl {

int vm_create(const Global& g, const std::string& file);
int vm_define(const Global& g, const std::string& file);
int vm_start(const Global& g, const std::string& name);
int vm_undefine(const Global& g, const std::string& name);
int vm_list(const Global& g, bool all);
int vm_console(const Global& g, const std::string& name);
int vm_shutdown(const Global& g, const std::string& name, unsigned timeout_s);
int vm_destroy(const Global& g, const std::string& name);
int vm_dumpxml(const Global& g, const std::string& name);
int vm_domstate(const Global& g, const std::string& name, bool reason);

}  // namespace altoctl
