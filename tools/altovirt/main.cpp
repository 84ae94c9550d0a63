// altovirt: one process per VM. Parses the QEMU-style command line (errors: exit 2, nothing
// started), builds the machine, runs it, and on a guest reset builds it again (unless -no-reboot),
// as on the guest's power-off that answers a QMP x-system-reboot.
// Exit status: 0 when the guest powered off, rebooted with -no-reboot, or altovirt got SIGINT/SIGTERM;
// 1 when the VM failed; 2 for bad usage.
#include <signal.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "altovirt/base/files.h"
#include "altovirt/base/log.h"
#include "altovirt/base/sandbox.h"
#if defined(__x86_64__)
#include "altovirt/boot/bzimage.h"
#endif
#include "altovirt/devices/char_backend.h"
#include "altovirt/kvm/kvm.h"
#include "altovirt/vmm/chardevs.h"
#include "altovirt/vmm/guest_device_kinds.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/root_port_kind.h"
#include "altovirt/vmm/sandbox_policy.h"
#include "altovirt/vmm/virtio_console_kind.h"
#include "altovirt/qmp/server.h"
#include "firmware_check.h"
#include "vm_control.h"

using namespace altovirt;

namespace {

int usage_error(const std::string& message) {
  std::fprintf(stderr, "altovirt: %s\n", message.c_str());
  return 2;
}

// Input files are checked before anything starts, so a typo is a usage error (exit 2).
Status check_inputs(const vmm::VmOptions& o) {
#if defined(__x86_64__)  // arm64's Image is checked as it is loaded (src/arch/arm64/image.cpp)
  if (!o.kernel.empty()) AV_TRY(boot::check_kernel_file(o.kernel, fmt::format("-kernel '{}'", o.kernel)));
#endif
  if (o.firmware) {
    if (::access(o.firmware->code.file.c_str(), R_OK) != 0)
      return fail_errno(errno, "-drive {}: the firmware '{}' cannot be read (Debian's is /usr/share/OVMF/OVMF_CODE_4M.fd, "
                        "package ovmf)", o.firmware->code.text, o.firmware->code.file);
    AV_TRY(tool::check_firmware_descriptor(o.firmware->code.file, "-drive " + o.firmware->code.text));
    if (o.firmware->vars && ::access(o.firmware->vars->file.c_str(), R_OK | W_OK) != 0)
      return fail_errno(errno, "-drive {}: the variable store '{}' must be a writable file (a copy of "
                        "/usr/share/OVMF/OVMF_VARS_4M.fd for this VM)", o.firmware->vars->text, o.firmware->vars->file);
  }
  if (!o.initrd.empty() && ::access(o.initrd.c_str(), R_OK) != 0)
    return fail_errno(errno, "-initrd '{}' cannot be read", o.initrd);
  return ok();
}

}  // namespace

int main(int argc, char** argv) {
  // Kernels and initrds pass through buffers of tens of MiB at start-up. glibc's default raises its
  // mmap threshold after the first such buffer is freed, so the next ones come from the heap and
  // stay resident after use (measured: +28 MiB RSS for the whole VM's life). A fixed threshold
  // keeps every large buffer in its own mapping, returned to the kernel when freed.
  ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // A fixed number of malloc arenas. Without it glibc counts the CPUs (it opens
  // /sys/devices/system/cpu/online) the first time a thread needs a new arena once there are more
  // than eight, and that thread may be a confined vCPU or I/O thread, which may not open files (the
  // sandbox would stop altovirt; seen on the fifth guest reboot). Four arenas also keep the VMM's
  // own memory small; its threads rarely allocate at the same time.
  ::mallopt(M_ARENA_MAX, 4);
  // Thread stacks of 1 MiB instead of glibc's RLIMIT_STACK default (8 MiB). With transparent huge
  // pages on, a 2 MiB-aligned stretch of an 8 MiB stack gets a 2 MiB huge page at its first touch:
  // measured 2 MiB of the standard VM's 5.8 MiB of RSS outside guest RAM, in one thread's stack that
  // uses a few KiB. A 1 MiB stack cannot hold a huge page. The deepest user is the QMP thread (a
  // 64 KiB read buffer; JSON nesting is capped before parsing); the main thread keeps its own stack.
  {
    pthread_attr_t attr;
    ::pthread_attr_init(&attr);
    ::pthread_attr_setstacksize(&attr, 1u << 20);
    ::pthread_setattr_default_np(&attr);
    ::pthread_attr_destroy(&attr);
  }
  vmm::register_vfio_pci(vmm::DeviceRegistry::global());
  vmm::register_virtio_blk(vmm::DeviceRegistry::global());
  vmm::register_pcie_root_port(vmm::DeviceRegistry::global());
  vmm::register_virtio_console(vmm::DeviceRegistry::global());
  vmm::register_virtio_rng(vmm::DeviceRegistry::global());
  vmm::register_virtio_balloon(vmm::DeviceRegistry::global());
  vmm::register_vhost_vsock(vmm::DeviceRegistry::global());
  vmm::register_virtio_net(vmm::DeviceRegistry::global());
  vmm::register_virtio_display(vmm::DeviceRegistry::global());
  std::vector<std::string> args(argv + 1, argv + argc);
  for (auto& a : args)
    if (a == "-h" || a == "-help" || a == "--help") {
      std::fputs(vmm::usage().c_str(), stdout);
      return 0;
    }
  auto parsed = vmm::parse_options(args, vmm::DeviceRegistry::global());
  if (!parsed) return usage_error(parsed.error().message());
  const vmm::VmOptions& o = *parsed;
  if (o.qmp && o.qmp->wait)
    return usage_error(fmt::format("-qmp unix:{},wait: altovirt does not wait for a client; use ',server,nowait'", o.qmp->path));
  if (auto s = check_inputs(o); !s) return usage_error(s.error().message());
  if (!o.logfile.empty())
  {
    if (auto s = log::set_file(o.logfile); !s) return usage_error(fmt::format("-D {}: {}", o.logfile, s.error().message()));
    log::set_level(log::Level::info);
    log::info("vmm", "altovirt starting (pid {})", ::getpid());
  }

  // The sandbox's mode and lists; each thread confines itself when it starts (base/sandbox.h).
  if (auto s = sandbox::configure(o.sandbox, vmm::sandbox_policy); !s) {
    std::fprintf(stderr, "altovirt: %s\n", s.error().message().c_str());
    return 1;
  }

  auto kvm = kvm::Kvm::open();
  if (!kvm) {
    std::fprintf(stderr, "altovirt: %s\n", kvm.error().message().c_str());
    return 1;
  }
  auto console = devices::CharBackend::open(o.serial);
  if (!console) return usage_error(console.error().message());
  if (o.serial == "pty") std::fprintf(stderr, "altovirt: serial console on %s\n", (*console)->description().c_str());
  // The -chardev backends live as long as the process, like the serial console: a reset keeps them.
  auto chardevs = vmm::Chardevs::open(o.chardevs);
  if (!chardevs) return usage_error(chardevs.error().message());
  if (!o.pidfile.empty())
    if (auto s = write_file_atomic(o.pidfile, fmt::format("{}\n", ::getpid())); !s) {
      std::fprintf(stderr, "altovirt: -pidfile: %s\n", s.error().message().c_str());
      return 1;
    }

  // QMP lives for the whole process; VmControl points its commands at the current Machine.
  std::unique_ptr<qmp::Server> qmp_server;
  if (o.qmp) {
    auto srv = qmp::Server::listen(qmp::ServerOptions{.socket_path = o.qmp->path, .version_major = 0, .version_minor = 1,
                                                      .version_micro = 0, .package = "altovirt 0.1.0"});
    if (!srv) return usage_error(fmt::format("-qmp unix:{}: {}", o.qmp->path, srv.error().message()));
    qmp_server = std::move(*srv);
  }
  // Guest RAM and the VFIO state (container, groups, devices, DMA mappings) outlive each Machine: a
  // guest reset builds a new one on the same RAM without pinning it again (ResetSurvivors).
  vmm::ResetSurvivors survivors;
  tool::VmControl control(qmp_server.get());
  if (o.start_paused) control.start_paused();
  if (qmp_server) {
    if (auto s = control.register_commands(*qmp_server); !s) return usage_error(s.error().message());
    if (auto s = tool::register_vnc_commands(*qmp_server, survivors); !s) return usage_error(s.error().message());
  }

  // SIGINT/SIGTERM/SIGHUP are taken by one thread with sigwait; every other thread blocks them.
  vmm::install_kick_signal();
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::atomic<bool> quit{false};
  std::thread signal_thread([&] {
    sandbox::start_thread(sandbox::Role::signal, "signals");
    timespec tick{0, 100'000'000};
    while (!quit.load()) {
      int sig = ::sigtimedwait(&stop_signals, nullptr, &tick);
      if (sig <= 0) continue;
      control.signal_stop(sig);
    }
  });

  // Started after the signal mask is set, so the QMP thread blocks the stop signals too.
  if (qmp_server) {
    if (auto s = qmp_server->start(); !s) {
      std::fprintf(stderr, "altovirt: -qmp: %s\n", s.error().message().c_str());
      quit = true;
      signal_thread.join();
      return 1;
    }
  }

  // The VNC server outlives each Machine too (ResetSurvivors), started here: after the signal mask
  // (its thread blocks the stop signals) and before the main thread confines itself (the vnc role
  // accepts and selects, which main may not).
  if (o.vnc) {
    auto password = vmm::vnc_password(o);
    if (!password) return usage_error(password.error().message());
    ui::VncOptions vo = o.vnc->options;
    vo.password = *password;
    auto vnc = ui::VncServer::start(vo);
    if (!vnc) {
      std::fprintf(stderr, "altovirt: -vnc %s: %s\n", o.vnc->text.c_str(), vnc.error().message().c_str());
      quit = true;
      signal_thread.join();
      return 1;
    }
    survivors.vnc = std::move(*vnc);
    if (vo.password.empty() && vo.unix_path.empty() && vo.host != "127.0.0.1" && vo.host != "localhost")
      std::fprintf(stderr, "altovirt: warning: VNC on %s without a password: anyone who reaches it gets the screen "
                           "and keyboard (add ,password-secret=ID)\n", survivors.vnc->address().c_str());
    std::fprintf(stderr, "altovirt: VNC server on %s\n", survivors.vnc->address().c_str());
    log::info("vnc", "listening on {}{}", survivors.vnc->address(), vo.password.empty() ? "" : " (password required)");
  }

  // The main thread builds every Machine (at start and on each guest reset): it confines itself
  // now, before anything of the guest's runs; the threads it starts inherit its list under theirs.
  sandbox::start_thread(sandbox::Role::main, "altovirt");

  int status = 0;
  for (;;) {
    auto machine = vmm::Machine::create(*kvm, o, **console, *chardevs, survivors);
    if (!machine) {
      log::error("vmm", "{}", machine.error().message());
      std::fprintf(stderr, "altovirt: %s\n", machine.error().message().c_str());
      status = 1;
      break;
    }
    control.attach(**machine);
    vmm::MachineExit e = (*machine)->run();
    control.detach();
    bool rebuild = control.machine_ended(e, !o.no_reboot);
    if (!o.logfile.empty()) log::info("vmm", "exit counters:\n{}", (*machine)->exit_stats());
    log::info("vmm", "{}", e.message);
    if (rebuild) {
      // The reboot's timeline in the -D log: this, then the next machine's "set-up took" line.
      auto t0 = std::chrono::steady_clock::now();
      machine->reset();
      log::info("vmm", "the old machine was taken down in {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                       std::chrono::steady_clock::now() - t0).count());
      continue;
    }
    if (e.kind == vmm::ExitKind::error) {
      std::fprintf(stderr, "\r\naltovirt: %s\n", e.message.c_str());
      status = 1;
    }
    break;
  }
  quit = true;
  signal_thread.join();
  if (qmp_server) qmp_server->stop();  // sends the queued events (SHUTDOWN) first
  console->reset();  // restores the terminal
  if (!o.pidfile.empty()) ::unlink(o.pidfile.c_str());
  return status;
}
