// altoctl's VM verbs, virsh-shaped: create, define, start, undefine, list, console, shutdown,
// destroy, dumpxml, domstate. Each returns the exit status (0 ok, 1 failed, 2 usage).
//
// How a VM runs: `create`/`start` check the domain, then hand it to a supervisor process that owns
// the VM (supervisor.h: the handshake with altoctl and what a signal during the start does). When
// the supervisor itself was killed, the next altoctl call notices (reconcile, vm_access.h) and does
// its cleanup. The verbs around these (power, information, edit, autostart, recover) are in
// domain_verbs.h.
//
// Threading: single-threaded tool (the supervisor is a separate process).
#pragma once

#include <string>

#include "commands.h"

namespace altoctl {

int vm_create(const Global& g, const std::string& file);
int vm_define(const Global& g, const std::string& file);
int vm_start(const Global& g, const std::string& name);
// virsh's choice for a domain with UEFI variables: --nvram removes the file, --keep-nvram keeps it,
// neither refuses to undefine while the file exists (libvirt: "cannot undefine domain with nvram").
enum class NvramChoice { ask, remove, keep };
int vm_undefine(const Global& g, const std::string& name, NvramChoice nvram = NvramChoice::ask);
int vm_list(const Global& g, bool all, bool name_only = false);
int vm_console(const Global& g, const std::string& name);
int vm_shutdown(const Global& g, const std::string& name, unsigned timeout_s);
int vm_destroy(const Global& g, const std::string& name);
int vm_dumpxml(const Global& g, const std::string& name, bool security_info = false);
int vm_domstate(const Global& g, const std::string& name, bool reason);

}  // namespace altoctl
