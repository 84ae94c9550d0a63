// The rest of virsh's daily verbs, around lifecycle.h's start/stop:
//   power.cpp        reboot [--mode acpi], reset, suspend, resume
//   domain_verbs.cpp dominfo, domid, domname, domuuid, domblklist, domhostdev, vncdisplay, version
//   edit.cpp         edit (domain_edit.h)
//   memory_verbs.cpp setmem DOMAIN SIZE, dommemstat: the balloon (memory_stats.h)
//   host_boot.cpp    autostart [--disable], recover [--autostart], shutdown --all: what the systemd
//                    units run at host boot and shutdown (recover.h)
// Each returns the exit status (0 ok, 1 failed, 2 usage) and prints what virsh prints.
//
// Threading: single-threaded tool.
#pragma once

#include <string>

#include "commands.h"

namespace altoctl {

int vm_reboot(const Global& g, const std::string& name, const std::string& mode);
int vm_reset(const Global& g, const std::string& name);
int vm_suspend(const Global& g, const std::string& name);
int vm_resume(const Global& g, const std::string& name);

int vm_dominfo(const Global& g, const std::string& name);
int vm_domid(const Global& g, const std::string& name);
int vm_domname(const Global& g, const std::string& name);
int vm_vncdisplay(const Global& g, const std::string& name);
int vm_domuuid(const Global& g, const std::string& name);
int vm_domhostdev(const Global& g, const std::string& name);
int vm_domblklist(const Global& g, const std::string& name);
int version(const Global& g);

int vm_edit(const Global& g, const std::string& name);

int vm_setmem(const Global& g, const std::string& name, const std::string& size);
int vm_dommemstat(const Global& g, const std::string& name);

int vm_autostart(const Global& g, const std::string& name, bool disable);
int recover(const Global& g, bool autostart);
// Asks every running domain to shut down (ACPI power button), waits up to `timeout_s` for all of
// them, then destroys the rest; the supervisors give every managed device back (libvirt-guests'
// ON_SHUTDOWN=shutdown).
int vm_shutdown_all(const Global& g, unsigned timeout_s);

}  // namespace altoctl
