// The roles' allow-lists: what no thread may do, what only the main thread may do, and that every
// name is a system call of this architecture (a typo would silently allow nothing).
#include <gtest/gtest.h>

#include <linux/kvm.h>
#include <linux/vfio.h>

#include <algorithm>

#include "altovirt/vmm/sandbox_policy.h"

using namespace altovirt;
using sandbox::Role;

namespace {
constexpr Role kRoles[] = {Role::main, Role::vcpu, Role::io, Role::qmp, Role::signal, Role::input, Role::vnc};
bool allows(Role r, const std::string& name) {
  auto p = vmm::sandbox_policy(r);
  return std::find(p.syscalls.begin(), p.syscalls.end(), name) != p.syscalls.end();
}
bool allows_ioctl(Role r, uint32_t request) {
  auto p = vmm::sandbox_policy(r);
  return std::find(p.ioctls.begin(), p.ioctls.end(), request) != p.ioctls.end();
}
}  // namespace

TEST(SandboxPolicy, EveryNameIsASystemCallHere) {
  for (Role r : kRoles) {
    auto s = sandbox::summarize(vmm::sandbox_policy(r));
    EXPECT_TRUE(s.unknown.empty()) << sandbox::role_name(r) << ": " << s.unknown.front();
  }
}

TEST(SandboxPolicy, NoThreadMayExecForkTraceMountOrLoadModules) {
  for (Role r : kRoles)
    for (const char* name : {"execve", "execveat", "fork", "vfork", "ptrace", "mount", "umount2", "init_module",
                             "finit_module", "setuid", "setresuid", "kexec_load", "reboot", "process_vm_writev",
                             "ioctl", "bpf", "chroot", "pivot_root", "keyctl"})
      EXPECT_FALSE(allows(r, name)) << sandbox::role_name(r) << " allows " << name;
}

TEST(SandboxPolicy, OnlyTheMainThreadWritesFilesMakesSocketsOrStartsThreads) {
  for (const char* name : {"openat", "socket", "clone", "clone3", "connect", "bind", "unlink", "io_uring_setup"}) {
    EXPECT_TRUE(allows(Role::main, name)) << name;
    for (Role r : {Role::vcpu, Role::io, Role::qmp, Role::signal, Role::input, Role::vnc})
      EXPECT_FALSE(allows(r, name)) << sandbox::role_name(r) << " allows " << name;
  }
}

TEST(SandboxPolicy, AVcpuWritesTheFirmwareVariableFlashBack) {
  EXPECT_TRUE(allows(Role::vcpu, "msync")) << "pflash's write-back on return to read-array mode";
  EXPECT_FALSE(allows(Role::input, "msync"));
}

TEST(SandboxPolicy, EveryRoleMayOnlyReadFilesItOpens) {
  // openat with write, create, truncate or append flags is main's alone (an allow-list entry);
  // the others get the read-only rule.
  for (Role r : kRoles) EXPECT_TRUE(vmm::sandbox_policy(r).open_read_only) << sandbox::role_name(r);
}

TEST(SandboxPolicy, IoctlsByRole) {
  // A vCPU runs the guest and programs MSI routes and VFIO interrupts; creating VMs is the main
  // thread's (and shared in the one device list), and the console input thread only raises the UART's line.
  EXPECT_TRUE(allows_ioctl(Role::vcpu, KVM_RUN));
  EXPECT_TRUE(allows_ioctl(Role::vcpu, KVM_GET_MP_STATE));  // x-query-vcpus and the stop report
  EXPECT_TRUE(allows_ioctl(Role::vcpu, VFIO_DEVICE_SET_IRQS));
  EXPECT_TRUE(allows_ioctl(Role::main, VFIO_IOMMU_MAP_DMA));
  EXPECT_FALSE(allows_ioctl(Role::input, KVM_RUN));
  // Typed input raises the UART's receive interrupt from the input thread (the serial console's
  // login: the firmware test's disk boot found it missing).
  EXPECT_TRUE(allows_ioctl(Role::input, KVM_IRQ_LINE));
  EXPECT_TRUE(vmm::sandbox_policy(Role::input).ioctls.size() <= 4);
  EXPECT_TRUE(allows(Role::signal, "rt_sigtimedwait"));
  EXPECT_TRUE(allows(Role::qmp, "accept4"));
  // The VNC thread talks to its clients and never touches the VM: no device ioctl at all.
  EXPECT_TRUE(allows(Role::vnc, "accept4"));
  EXPECT_TRUE(allows(Role::vnc, "select"));
  EXPECT_TRUE(vmm::sandbox_policy(Role::vnc).ioctls.empty());
  EXPECT_FALSE(allows(Role::vcpu, "accept4"));
}
