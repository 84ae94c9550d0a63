// Network interfaces of a domain, before and after the VM runs (libvirt's <interface
// type='ethernet'|'bridge'> semantics):
//   - prepare_interfaces(): first checks everything (each <source bridge> is a bridge, each existing
//     <target dev> is a tap), then for each NIC uses its tap when it exists or creates it
//     (persistent, named <target dev> or vnetN, N picked by the kernel), sets it up and puts it on its
//     bridge.
//     Returns the config with every tap named, for altovirt's -netdev. Any failure deletes the taps
//     created so far, so a failed start leaves nothing behind.
//   - release_interfaces(): deletes the taps prepare_interfaces created (an existing tap stays); the
//     supervisor records them in the domain's VmStatus, so that recover deletes them after a crash.
// A tap altovirt holds open stays until altovirt exits, then goes (deletion drops persistence).
//
// Threading: called by the supervisor's thread.
#pragma once

#include <string>
#include <vector>

#include "altovirt/config/domain.h"
#include "vm_store.h"

namespace altoctl {

altovirt::Result<altovirt::config::DomainConfig> prepare_interfaces(const altovirt::config::DomainConfig& config,
                                                                    std::vector<CreatedTap>& created);
void release_interfaces(std::vector<CreatedTap>& created);

}  // namespace altoctl
