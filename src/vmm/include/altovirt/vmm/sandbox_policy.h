// Which system calls and ioctls each of altovirt's threads may make (the policy behind
// altovirt/base/sandbox.h). The lists were derived by tracing every thread of a VM with every device
// altovirt has (strace -f of the standard VM with a passed-through NIC, through boot, login, network,
// balloon, vsock, console, reboot and shutdown), then trimmed to what the code calls.
//
// Threading: pure functions of their argument.
#pragma once

#include "altovirt/base/sandbox.h"

namespace altovirt::vmm {

sandbox::Policy sandbox_policy(sandbox::Role role);

}  // namespace altovirt::vmm
