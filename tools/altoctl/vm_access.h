// What every domain verb does first: clean up after dead supervisors (recover.h's reconcile, under
// the lock only when a record needs it), find the domain by name or id, ask QMP for its live state,
// talk to a running domain's QMP. Shared by lifecycle.cpp and the verbs around it.
//
// Threading: single-threaded tool.
#pragma once

#include <chrono>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/config/domain.h"
#include "commands.h"
#include "qmp_client.h"
#include "vm_store.h"

namespace altoctl {

// Records whose supervisor died are cleaned up (devices given back, shut off), with a note on stderr.
altovirt::Status reconcile(const Global& g, const VmStore& store);
// A domain by name or id, after reconcile(); the error says how to list them.
altovirt::Result<VmStatus> find_vm(const Global& g, const VmStore& store, const std::string& name);
// The live state of a VM whose record says running: QMP tells paused from running.
VmState live_state(const VmStore& store, const VmStatus& s);
// QMP of an active domain; "domain 'x' is not running" otherwise.
altovirt::Result<QmpClient> qmp_of(const VmStore& store, const VmStatus& s);
// Waits until the record says shut off (or the supervisor is gone); false after `timeout`.
bool wait_shutoff(const VmStore& store, const std::string& name, std::chrono::milliseconds timeout);
// The checks before a start; then the supervisor takes over (supervisor.h). Returns the exit status.
int start_domain(const Global& g, const altovirt::config::DomainConfig& c, const std::string& started);

}  // namespace altoctl
