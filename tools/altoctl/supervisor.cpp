#include "supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "altovirt/base/files.h"
#include "altovirt/base/parse.h"
#include "hostdevs.h"
#include "interfaces.h"
#include "qmp_client.h"
#include "vm_args.h"
#include "vm_user.h"

namespace altoctl {

using namespace altovirt;
using namespace std::chrono_literals;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// How long altoctl waits, after a signal, for the supervisor to roll the start back. Stopping
// altovirt and rebinding a NIC's host driver take seconds; under a loaded nested test host tens.
constexpr auto kCancelWait = 120s;
// altovirt gets this long to leave after SIGTERM before it gets SIGKILL.
constexpr auto kTermGrace = 10s;
// A VM that QMP does not report running by then is stopped.
constexpr auto kStartLimit = 300s;

std::string self_exe() {
  auto p = read_link("/proc/self/exe");
  return p ? *p : std::string();
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

// The signals that interrupt a start: those among INT, TERM and HUP that are not ignored.
sigset_t interrupting_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler != SIG_IGN) sigaddset(&set, sig);
  }
  return set;
}

// Ends this process by `sig` with its default action, so that the caller (a shell) sees the
// signal and not just a status (the convention for SIGINT that shells rely on).
[[noreturn]] void die_by(int sig) {
  std::fflush(stdout);
  std::fflush(stderr);
  ::signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  ::sigprocmask(SIG_UNBLOCK, &one, nullptr);
  ::raise(sig);
  std::_Exit(128 + sig);
}

struct Supervisor {
  Global g;
  const VmStore& store;
  config::DomainConfig config;
  int report_fd = -1;  // to altoctl: one line, "ok ID PTY", "error MESSAGE" or "cancelled MESSAGE"
  int cancel_fd = -1;  // from altoctl: a signal number, or end of file when altoctl is gone
  bool reported = false;
  std::string cancel_reason;  // set once a cancel was seen
  std::vector<CreatedTap> taps;  // the NICs' taps this supervisor created, deleted in finish()
  std::optional<VmUser> user;    // who altovirt runs as (nullopt: root)
  std::vector<OwnerChange> owners;  // what the user was given, restored in finish()
  std::string kernel_cache;         // the user's kernel cache directory ("" when none)

  void tell(const std::string& line) {
    if (report_fd < 0) return;
    std::string t = line + "\n";
    ssize_t n = ::write(report_fd, t.data(), t.size());
    ::close(report_fd);
    report_fd = -1;
    reported = n == static_cast<ssize_t>(t.size());
  }

  // True once altoctl asked to cancel (or went away). Never blocks.
  bool cancelled() {
    if (!cancel_reason.empty()) return true;
    if (cancel_fd < 0) return false;
    pollfd p{cancel_fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) return false;
    unsigned char sig = 0;
    ssize_t n = ::read(cancel_fd, &sig, 1);
    cancel_reason = n == 1 ? fmt::format("interrupted: altoctl got {} during the start", signal_name(sig))
                           : std::string("interrupted: altoctl went away during the start");
    return true;
  }

  void phase(const char* name) {
    std::string hold;
    if (const char* env = std::getenv("ALTOCTL_TEST_PHASE_DELAY")) {
      std::string_view v(env);
      auto colon = v.find(':');
      if (colon != std::string_view::npos && v.substr(0, colon) == name) hold = std::string(v.substr(colon + 1));
    }
    auto seconds = hold.empty() ? Result<uint64_t>(0) : parse_uint(hold, "ALTOCTL_TEST_PHASE_DELAY", 3600);
    if (seconds && *seconds > 0) {
      fmt::print(stderr, "supervisor: phase {} (held {} s for a test)\n", name, *seconds);
      std::fflush(stderr);
      std::this_thread::sleep_for(std::chrono::seconds(*seconds));
    } else {
      fmt::print(stderr, "supervisor: phase {}\n", name);
      std::fflush(stderr);
    }
  }

  int run();
  Status prepare(VmStatus& s);
  void finish(VmStatus& s, const std::string& why);
};

Status Supervisor::prepare(VmStatus& s) {
  // Who altovirt will run as, before anything on the host changes.
  AV_TRY_ASSIGN(user, resolve_vm_user(g.vm_user));
  AV_TRY_ASSIGN(host::StateDir state, open_state(g));
  AV_TRY_ASSIGN(auto existing, store.load(config.name));
  if (existing && is_active(*existing))
    return fail("domain '{}' is already running (id {})", config.name, existing->id);
  VmPaths p = store.paths(config.name);
  AV_TRY(make_dirs(p.dir));
  host::SysfsRoot sys(g.sysfs_root);
  AV_TRY(prepare_hostdevs(sys, state, config, ::getpid()));
  auto undo = [&](Error e) -> Status {
    release_interfaces(taps);
    (void)release_hostdevs(sys, state, config);
    return std::unexpected(std::move(e));
  };
  // The NICs' taps (created when missing, named when unnamed): config then carries their names.
  auto named = prepare_interfaces(config, taps);
  if (!named) return undo(named.error());
  // The running domain's XML, as dumpxml shows it and attach-device/detach-device change it: with
  // the guest addresses, the spare root ports and the aliases altovirt is started with.
  config = config::with_pci_addresses(*named);
  auto id = store.next_id();
  if (!id) return undo(id.error());
  if (auto w = write_file_atomic(p.xml, config::to_xml(config), kDomainXmlMode); !w) return undo(w.error());
  (void)::unlink(p.qmp.c_str());
  s.id = *id;
  s.name = config.name;
  s.state = VmState::starting;
  s.supervisor_pid = ::getpid();
  s.message.clear();
  s.taps = taps;  // so that recover deletes them if this supervisor dies before finish()
  if (auto w = store.save(s); !w) return undo(w.error());
  // altovirt's own directory (QMP socket, -D log, pidfile): the only one of the domain's it may write.
  if (auto m = make_vmm_dir(p.vmm, user); !m) return undo(m.error());
  // <graphics passwd>: handed over in a file only altovirt's user reads (not on its command line,
  // which any user sees in ps). The vmm/ directory is made afresh on every start.
  if (config.graphics && !config.graphics->passwd.empty()) {
    std::string pw = vnc_password_file(p);
    if (auto w = write_file_atomic(pw, config.graphics->passwd + "\n", 0600); !w) return undo(w.error());
    if (user && ::chown(pw.c_str(), user->uid, user->gid) != 0)
      return undo(Error(fmt::format("cannot give {} to user {}: {}", pw, user->name, std::strerror(errno))));
  }
  if (config.memory_backing && config.memory_backing->hugepages) {
    if (auto h = check_hugetlbfs(config); !h) return undo(h.error());
    if (auto m = make_dirs(hugepage_dir(config)); !m) return undo(m.error());
  }
  // The user altovirt runs as gets what this domain needs (vm_user.h); each change is in
  // owners.json before it is made, for finish() and for recover.
  if (user) {
    auto given = grant(sys, *user, config, [&](const std::vector<OwnerChange>& ch) { return save_owner_changes(p.dir, ch); });
    if (!given) return undo(given.error());
    owners = std::move(*given);
    // altovirt's kernel cache (boot/kernel_cache.h), one per domain: root's /var/cache/altovirt is
    // not the user's to write, and a cache shared by the user's domains would let one domain's
    // altovirt plant the kernel another boots. Best effort: without it, every start extracts the
    // kernel again.
    std::string cache = "/var/cache/altovirt/domains/" + config.name;
    if (make_dirs(cache) && ::chown(cache.c_str(), user->uid, user->gid) == 0) kernel_cache = cache;
    fmt::print(stderr, "supervisor: altovirt runs as {} (uid {})\n", user->name, user->uid);
  } else {
    fmt::print(stderr, "supervisor: altovirt runs as root (no user '{}'; see --user)\n", g.vm_user.empty() ? "altovirt" : g.vm_user);
  }
  return ok();
}

void Supervisor::finish(VmStatus& s, const std::string& why) {
  auto state = open_state(g);
  if (!state) {
    fmt::print(stderr, "supervisor: cannot give the devices back: {}\n", state.error().message());
  } else {
    host::SysfsRoot sys(g.sysfs_root);
    // What the user was given, first (the reverse of prepare()): its /dev/vfio/N nodes go with the
    // devices. The record is the truth: attach-device adds what it gives a hot-plugged device.
    if (auto recorded = load_owner_changes(store.paths(config.name).dir); recorded) owners = std::move(*recorded);
    for (auto& problem : restore(owners)) fmt::print(stderr, "supervisor: ownership: {}\n", problem);
    owners.clear();
    (void)::unlink((store.paths(config.name).dir + "/owners.json").c_str());
    // The host devices of the domain as it ends: attach-device and detach-device change the live XML.
    config::DomainConfig last = config;
    if (auto live = config::parse_domain_file(store.paths(config.name).xml); live) last.hostdevs = live->config.hostdevs;
    if (auto r = release_hostdevs(sys, *state, last); !r) fmt::print(stderr, "supervisor: {}\n", r.error().message());
    // The record's taps are the truth (under the lock): attach-device adds the taps it creates, and
    // detach-device takes out those it deleted (whose names the kernel may have given out again).
    if (auto rec = store.load(config.name); rec && *rec) taps = (*rec)->taps;
    release_interfaces(taps);
    if (config.memory_backing && config.memory_backing->hugepages) (void)::rmdir(hugepage_dir(config).c_str());
    s.taps.clear();
    s.state = VmState::shutoff;
    s.id = 0;
    s.altovirt_pid = 0;
    s.pty.clear();
    s.message = why;
    (void)::unlink(store.paths(config.name).qmp.c_str());
    if (auto w = store.save(s); !w) fmt::print(stderr, "supervisor: {}\n", w.error().message());
  }
  fmt::print(stderr, "supervisor: domain '{}' shut off: {}\n", config.name, why);
}

int Supervisor::run() {
  VmStatus s;
  phase("prepare");
  if (cancelled()) {
    fmt::print(stderr, "supervisor: {}; nothing was changed\n", cancel_reason);
    tell("cancelled " + cancel_reason + "; nothing was changed");
    return 1;
  }
  if (auto p = prepare(s); !p) {
    tell("error " + p.error().message());
    return 1;
  }
  phase("detached");
  if (cancelled()) {
    finish(s, cancel_reason);
    tell("cancelled " + cancel_reason);
    return 1;
  }
  VmPaths p = store.paths(config.name);
  auto args = altovirt_args(config, p);
  if (!args) {
    finish(s, args.error().message());
    tell("error " + args.error().message());
    return 1;
  }
  std::string emulator = emulator_path(config, self_exe());
  fmt::print(stderr, "supervisor: {} {}\n", emulator, fmt::join(*args, " "));

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    finish(s, "pipe failed");
    tell("error cannot create a pipe");
    return 1;
  }
  std::fflush(stderr);
  pid_t child = ::fork();
  if (child == 0) {
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(err_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    // altovirt takes SIGINT/SIGTERM as "stop the VM"; it must not inherit the supervisor's SIG_IGN.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGHUP, SIG_DFL);
    if (user) {
      // libvirt's allowance: guest RAM + 1 GiB of locked memory (VFIO pins all of guest RAM).
      if (!kernel_cache.empty()) ::setenv("ALTOVIRT_KERNEL_CACHE", kernel_cache.c_str(), 1);
      if (auto b = become(*user, config.memory_kib * 1024 + (uint64_t{1} << 30)); !b) {
        std::fprintf(stderr, "cannot run altovirt as %s: %s\n", user->name.c_str(), b.error().message().c_str());
        ::_exit(127);
      }
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(emulator.c_str()));
    for (auto& a : *args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(emulator.c_str(), argv.data());
    if (user && errno == EACCES)
      std::fprintf(stderr,
                   "cannot run the emulator '%s' as user %s: %s; it and every directory on its way must be readable "
                   "and searchable by that user (or use --user root)\n",
                   emulator.c_str(), user->name.c_str(), std::strerror(errno));
    else
      std::fprintf(stderr, "cannot run the emulator '%s': %s\n", emulator.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  ::close(err_pipe[1]);
  if (child < 0) {
    finish(s, "fork failed");
    tell("error cannot fork");
    return 1;
  }
  s.altovirt_pid = child;
  (void)store.save(s);
  phase("booting");

  // Reads altovirt's output (into this log) until it ends; meanwhile waits for QMP to say the VM
  // runs, then reports to altoctl. A cancel before that stops altovirt (SIGTERM, then SIGKILL).
  std::string output;
  bool running = false;
  auto start = Clock::now();
  std::optional<Clock::time_point> term_sent;
  // `altoctl console` attaches to the domain's console: the virtio console (hvc0) when the XML has
  // one, as virsh attaches to the first <console>, else the serial port. altovirt announces each pty.
  const std::string pty_marker = config.virtio_console ? "virtio console on " : "serial console on ";
  for (;;) {
    bool watch_cancel = !running && !term_sent && cancel_fd >= 0;
    pollfd pf[2] = {{err_pipe[0], POLLIN, 0}, {cancel_fd, POLLIN, 0}};
    int r = ::poll(pf, watch_cancel ? 2 : 1, running ? -1 : 200);
    if (r > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[4096];
      ssize_t n = ::read(err_pipe[0], buf, sizeof buf);
      if (n <= 0) break;
      std::fwrite(buf, 1, static_cast<size_t>(n), stderr);
      std::fflush(stderr);
      if (output.size() < 65536) output.append(buf, static_cast<size_t>(n));
      auto at = output.find(pty_marker);
      if (s.pty.empty() && at != std::string::npos) {
        auto end = output.find('\n', at);
        if (end != std::string::npos) s.pty = output.substr(at + pty_marker.size(), end - at - pty_marker.size());
      }
      // `altoctl vncdisplay`: altovirt announces where its VNC server listens (an autoport's display
      // is known only once it has bound one).
      static constexpr std::string_view kVncMarker = "VNC server on ";
      if (auto v = output.find(kVncMarker); s.vnc.empty() && v != std::string::npos) {
        auto end = output.find('\n', v);
        if (end != std::string::npos) s.vnc = output.substr(v + kVncMarker.size(), end - v - kVncMarker.size());
      }
    }
    if (!running && !term_sent && cancelled()) {
      fmt::print(stderr, "supervisor: {}; stopping the VM\n", cancel_reason);
      ::kill(child, SIGTERM);
      term_sent = Clock::now();
    }
    if (term_sent && Clock::now() - *term_sent > kTermGrace) {
      ::kill(child, SIGKILL);
      term_sent = Clock::now();
    }
    if (!running && !term_sent && path_exists(p.qmp)) {
      auto c = QmpClient::connect(p.qmp, 2s, child);
      auto st = c ? c->execute("query-status") : Result<json>(std::unexpected(c.error()));
      if (st && st->value("status", "") != "prelaunch") {
        running = true;
        s.state = VmState::running;
        (void)store.save(s);
        phase("running");
        // From here on the VM is started: a cancel no longer stops it.
        tell(fmt::format("ok {} {}", s.id, s.pty));
        if (!reported)
          fmt::print(stderr, "supervisor: altoctl went away after domain '{}' started; it keeps running\n", config.name);
      }
    }
    if (!running && !term_sent && Clock::now() - start > kStartLimit) {
      fmt::print(stderr, "supervisor: the VM did not report running within {} s; stopping it\n", kStartLimit.count());
      ::kill(child, SIGKILL);
      term_sent = Clock::now();
    }
  }
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  std::string why = WIFEXITED(status)     ? fmt::format("altovirt exited with status {}", WEXITSTATUS(status))
                    : WIFSIGNALED(status) ? fmt::format("altovirt was killed by signal {}", WTERMSIG(status))
                                          : "altovirt ended";
  if (!running && !cancel_reason.empty()) {
    finish(s, cancel_reason);
    tell("cancelled " + cancel_reason);
    return 1;
  }
  finish(s, why);
  if (!running) {
    // altovirt failed before the VM ran: its own messages say why.
    std::string msg = output;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
    tell(fmt::format("error {} ({}); log: {}", msg.empty() ? std::string("altovirt did not start") : msg, why,
                     p.supervisor_log));
    return 1;
  }
  return 0;
}

// altoctl's side of the start: the report pipe, the cancel pipe and the signals.
class Launcher {
 public:
  Launcher(const Global& g, const VmStore& store, const config::DomainConfig& c) : g_(g), store_(store), c_(c) {}
  int run(const std::string& started);

 private:
  // Waits for the supervisor's report; on a signal asks it to cancel and keeps waiting, bounded.
  std::string await_report(int rep, int cancel, int sigfd);

  const Global& g_;
  const VmStore& store_;
  const config::DomainConfig& c_;
  int signal_ = 0;
};

std::string Launcher::await_report(int rep, int cancel, int sigfd) {
  std::string reply;
  std::optional<Clock::time_point> deadline;
  for (;;) {
    int wait_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      if (left <= 0) {
        fmt::print(stderr, "altoctl: the supervisor of domain '{}' is still cleaning up after {} s; see {}\n", c_.name,
                   kCancelWait.count(), store_.paths(c_.name).supervisor_log);
        break;
      }
      wait_ms = static_cast<int>(left);
    }
    pollfd pf[2] = {{rep, POLLIN, 0}, {sigfd, POLLIN, 0}};
    int r = ::poll(pf, sigfd >= 0 ? 2 : 1, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (sigfd >= 0 && (pf[1].revents & POLLIN)) {
      signalfd_siginfo si{};
      if (::read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        int sig = static_cast<int>(si.ssi_signo);
        if (signal_ != 0) {
          fmt::print(stderr, "altoctl: {} again; not waiting for the clean-up of domain '{}' (see {})\n",
                     signal_name(sig), c_.name, store_.paths(c_.name).supervisor_log);
          die_by(sig);
        }
        signal_ = sig;
        fmt::print(stderr, "altoctl: {}: stopping the start of domain '{}' and giving its devices back\n",
                   signal_name(sig), c_.name);
        std::fflush(stderr);
        auto byte = static_cast<unsigned char>(sig);
        (void)!::write(cancel, &byte, 1);
        deadline = Clock::now() + kCancelWait;
      }
    }
    if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t n = ::read(rep, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      reply.append(buf, static_cast<size_t>(n));
    }
  }
  while (!reply.empty() && reply.back() == '\n') reply.pop_back();
  return reply;
}

int Launcher::run(const std::string& started) {
  VmPaths p = store_.paths(c_.name);
  // Blocked from before the fork: the child never runs with altoctl's dispositions, and a signal
  // that arrives before the handshake is ready waits in the signalfd instead of killing altoctl
  // half-way (which would leave the supervisor guessing).
  sigset_t set = interrupting_signals(), old;
  ::sigprocmask(SIG_BLOCK, &set, &old);
  UniqueFd sigfd(::signalfd(-1, &set, SFD_CLOEXEC));
  int rep[2], cancel[2];
  if (::pipe2(rep, O_CLOEXEC) != 0) return report(Error("cannot create a pipe", errno));
  if (::pipe2(cancel, O_CLOEXEC) != 0) return report(Error("cannot create a pipe", errno));
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) return report(Error("cannot fork the supervisor", errno));
  if (pid == 0) {
    ::close(rep[0]);
    ::close(cancel[1]);
    sigfd.reset();
    ::setsid();
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
    int null = ::open("/dev/null", O_RDONLY);
    int log = ::open(p.supervisor_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ::dup2(null, 0);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    Supervisor sup{g_, store_, c_, rep[1], cancel[0], false, {}, {}, {}, {}, {}};
    std::_Exit(sup.run());
  }
  ::close(rep[1]);
  ::close(cancel[0]);
  std::string reply = await_report(rep[0], cancel[1], sigfd.get());
  ::close(rep[0]);
  ::close(cancel[1]);
  // Reaps the supervisor if it already ended (it keeps running while the VM does).
  (void)::waitpid(pid, nullptr, WNOHANG);

  int status = kExitFailed;
  if (reply.starts_with("ok ")) {
    fmt::print("{}\n", started);
    if (signal_ != 0)
      fmt::print(stderr, "altoctl: {} came after domain '{}' had started; it keeps running (`altoctl destroy {}` stops it)\n",
                 signal_name(signal_), c_.name, c_.name);
    status = kExitOk;
  } else if (reply.starts_with("cancelled ")) {
    fmt::print(stderr, "error: domain '{}' was not started ({}); its devices are back with their drivers\n", c_.name,
               reply.substr(10));
  } else if (reply.starts_with("error ")) {
    fmt::print(stderr, "error: failed to start domain '{}': {}\n", c_.name, reply.substr(6));
  } else {
    fmt::print(stderr, "error: the supervisor of domain '{}' ended without a report; see {}\n", c_.name,
               p.supervisor_log);
  }
  if (signal_ != 0) die_by(signal_);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  return status;
}

}  // namespace

int launch(const Global& g, const VmStore& store, const config::DomainConfig& c, const std::string& started) {
  if (auto r = make_dirs(store.paths(c.name).dir); !r) return report(r.error());
  return Launcher(g, store, c).run(started);
}

}  // namespace altoctl
