#include "altovirt/vmm/sandbox_policy.h"

#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/sockios.h>
#include <linux/vfio.h>
// linux/virtio_ring.h (through vhost.h) has C-only legacy helpers; C++ cannot compile them.
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>
#include <termios.h>
#include <sys/ioctl.h>

#include "altovirt/kvm/flex_ioctl.h"

namespace altovirt::vmm {
namespace {

using Names = std::vector<std::string>;

// Every ioctl request altovirt makes, by the layer that makes it. One list for every role that may
// touch a device: a vCPU's MMIO write can program MSI-X routes (KVM, VFIO), start a vhost device
// (DRIVER_OK) or switch a tap's offloads; an I/O thread serves block and tap queues; a QMP command
// can do what a device write does. What no role may do is any request not listed.
std::vector<uint32_t> device_ioctls() {
  namespace flex = kvm::flex;
  return {
      // KVM (Documentation/virt/kvm/api.rst); the variable-size ones as kvm/flex_ioctl.h encodes them.
      KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, KVM_GET_VCPU_MMAP_SIZE, KVM_CREATE_VM, KVM_CREATE_VCPU,
      KVM_SET_USER_MEMORY_REGION, KVM_RUN, KVM_GET_MP_STATE, KVM_IRQFD, KVM_IOEVENTFD, KVM_SIGNAL_MSI, KVM_IRQ_LINE,
      KVM_REGISTER_COALESCED_MMIO, KVM_UNREGISTER_COALESCED_MMIO, KVM_CREATE_DEVICE, KVM_SET_DEVICE_ATTR,
      static_cast<uint32_t>(flex::kSetGsiRouting),
#if defined(__x86_64__)
      KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2, KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR, KVM_GET_REGS, KVM_SET_REGS,
      KVM_GET_SREGS, KVM_SET_SREGS, KVM_SET_FPU, static_cast<uint32_t>(flex::kGetSupportedCpuid),
      static_cast<uint32_t>(flex::kSetCpuid2), static_cast<uint32_t>(flex::kSetMsrs),
#elif defined(__aarch64__)
      KVM_ARM_PREFERRED_TARGET, KVM_ARM_VCPU_INIT, KVM_GET_ONE_REG, KVM_SET_ONE_REG,
#endif
      // VFIO (Documentation/driver-api/vfio.rst)
      VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU, VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA,
      VFIO_IOMMU_UNMAP_DMA, VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER, VFIO_GROUP_UNSET_CONTAINER,
      VFIO_GROUP_GET_DEVICE_FD, VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_REGION_INFO, VFIO_DEVICE_GET_IRQ_INFO,
      VFIO_DEVICE_SET_IRQS, VFIO_DEVICE_RESET, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, VFIO_DEVICE_PCI_HOT_RESET,
      // vhost-net and vhost-vsock (linux/vhost.h)
      VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_SET_OWNER, VHOST_SET_MEM_TABLE, VHOST_SET_VRING_NUM,
      VHOST_SET_VRING_BASE, VHOST_GET_VRING_BASE, VHOST_SET_VRING_ADDR, VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL,
      VHOST_NET_SET_BACKEND, VHOST_VSOCK_SET_GUEST_CID, VHOST_VSOCK_SET_RUNNING,
      // taps (linux/if_tun.h) and interface flags
      TUNSETIFF, TUNSETVNETHDRSZ, TUNSETOFFLOAD, TUNSETQUEUE, TUNGETIFF, SIOCGIFFLAGS, SIOCSIFFLAGS,
      SIOCGIFINDEX,  // if_nametoindex(), whether a tap existed before
      // block devices behind -drive (linux/fs.h)
      BLKGETSIZE64, BLKSSZGET, BLKDISCARD, BLKZEROOUT,
      // the terminal of -serial stdio|pty (tcgetattr/tcsetattr, isatty, posix_openpt)
      TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCGPTN, TIOCSPTLCK,
  };
}

// What every thread does: memory, locks, time, signals, its own exit, reading and writing the fds
// it was given, logging, and confining itself further.
Names common() {
  return {"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "futex", "clock_gettime", "clock_nanosleep",
          "nanosleep", "gettimeofday", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall", "gettid",
          "getpid", "tgkill", "exit", "exit_group", "read", "write", "readv", "writev", "close", "lseek", "fstat",
          "newfstatat", "sched_yield", "getrandom", "seccomp", "prctl", "set_robust_list", "rseq", "eventfd2",
          "fcntl", "dup", "ppoll", "poll", "epoll_wait", "epoll_pwait", "epoll_ctl", "pread64", "pwrite64",
          // rate limits (block iotune, rng) and the balloon's stats period rearm their timers from
          // whichever thread changes them
          "timerfd_settime", "timerfd_gettime"};
}

void add(Names& to, std::initializer_list<const char*> more) { to.insert(to.end(), more.begin(), more.end()); }

}  // namespace

sandbox::Policy sandbox_policy(sandbox::Role role) {
  using sandbox::Role;
  // Every role may open files read-only: glibc does so by itself (seen: a confined console thread
  // opening a file during a guest reboot), and a thread stopped for it would take the VM down.
  // Writing, creating or truncating a file stays the main thread's.
  sandbox::Policy p{common(), {}, true};
  switch (role) {
    case Role::vcpu:
      // KVM_RUN, and the device models' MMIO/PIO handlers (VFIO config and BAR access, MSI-X
      // routing, virtio DRIVER_OK starting a vhost device or an I/O thread's queue), and msync: the
      // firmware's variable flash is written back when the firmware returns it to read-array mode,
      // on the vCPU that wrote it (devices/pflash).
      add(p.syscalls, {"msync"});
      p.ioctls = device_ioctls();
      break;
    case Role::io:
      // virtio queues: block (io_uring or a thread pool), taps, the console, rng, balloon.
      add(p.syscalls, {"preadv", "pwritev", "preadv2", "pwritev2", "io_uring_enter", "fallocate", "fsync",
                       "fdatasync", "sendmsg", "recvmsg"});
      p.ioctls = device_ioctls();
      break;
    case Role::qmp:
      // The monitor socket, and commands that act on the machine as a device write would.
      add(p.syscalls, {"accept", "accept4", "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown", "getsockopt",
                       "setsockopt", "getsockname"});
      p.ioctls = device_ioctls();
      break;
    case Role::signal:
      // sigtimedwait for SIGINT/SIGTERM/SIGHUP, then a power-off request to the machine.
      add(p.syscalls, {"rt_sigtimedwait"});
      p.ioctls = device_ioctls();
      break;
    case Role::input:
      // Reads the console's input and hands it to the UART or virtio console. The UART raises its
      // receive interrupt on this thread (KVM_IRQ_LINE on the VM, kvm/vm.cpp): without it the first
      // key typed on a serial console stopped altovirt once the guest had enabled that interrupt.
      p.ioctls = {TCGETS, TCSETS, TIOCGWINSZ, KVM_IRQ_LINE};
      break;
    case Role::vnc:
      // The VNC server (ui/vnc): accepts on the socket main bound, talks RFB with its clients
      // (libvncserver waits in select, sends and receives, sets TCP_NODELAY, asks a client's
      // address), and hands key and pointer events to the virtio-input devices (an eventfd write).
      // No device ioctl: it never touches the VM.
      add(p.syscalls, {"accept", "accept4", "select", "pselect6", "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown",
                       "getsockopt", "setsockopt", "getsockname", "getpeername"});
      break;
    case Role::main:
      // Builds a machine at start and again on every guest reset: opens /dev/kvm's VMs, VFIO
      // groups, vhost and tap devices, images and sockets, maps memory, starts threads. What it may
      // not do: exec, fork a process, trace, mount, change users, load modules, reboot the host.
      add(p.syscalls, {"openat", "open", "socket", "bind", "listen", "connect", "unlink", "unlinkat", "clone",
                       "clone3", "getdents64", "readlink", "readlinkat", "access", "faccessat", "faccessat2",
                       "statx", "uname", "sysinfo", "sched_getaffinity", "sched_setaffinity", "prlimit64",
                       "getrlimit", "setrlimit", "getuid", "geteuid", "getgid", "getegid", "umask", "fchmod",
                       "dup2", "dup3", "pipe2", "memfd_create", "ftruncate", "io_uring_setup", "io_uring_register",
                       "io_uring_enter", "epoll_create1", "mlock", "munlock", "msync", "getcwd", "rename",
                       "renameat", "socketpair", "getsockname", "setsockopt", "getsockopt", "sendmsg", "recvmsg",
                       "sendto", "recvfrom", "preadv", "pwritev", "fsync", "fdatasync", "fallocate", "rt_sigaction",
                       "rt_sigtimedwait", "wait4", "timerfd_create", "timerfd_settime", "shutdown", "mkdir",
                       "mkdirat", "statfs", "fstatfs", "chmod", "flock"});
      p.ioctls = device_ioctls();
      break;
  }
  return p;
}

}  // namespace altovirt::vmm
