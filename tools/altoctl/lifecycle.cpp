#include "lifecycle.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "altovirt/base/files.h"
#include "altovirt/config/domain.h"
#include "altovirt/host/state.h"
#include "hostdevs.h"
#include "qmp_client.h"
#include "vm_args.h"
#include "vm_store.h"

namespace altoctl {

using namespace altovirt;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

std::string state_dir_of(const Global& g) { return g.state_dir.empty() ? host::default_state_dir() : g.state_dir; }
std::string config_dir_of(const Global& g) {
  if (!g.config_dir.empty()) return g.config_dir;
  const char* env = std::getenv("ALTOVIRT_CONFIG_DIR");
  return env != nullptr && *env != 0 ? env : "/etc/altovirt/domains";
}
VmStore store_of(const Global& g) { return VmStore(state_dir_of(g), config_dir_of(g)); }

Result<host::StateDir> open_state(const Global& g) {
  auto s = host::StateDir::open(state_dir_of(g));
  if (!s) return std::unexpected(s.error().context("opening the altovirt state directory (--state-dir)"));
  return s;
}

std::string self_exe() {
  auto p = read_link("/proc/self/exe");
  return p ? *p : std::string();
}

// The domain a VM record was started with (its domain.xml), parsed.
Result<config::DomainConfig> running_config(const VmStore& store, const std::string& name) {
  AV_TRY_ASSIGN(auto parsed, config::parse_domain_file(store.paths(name).xml));
  return parsed.config;
}

// Cleans up after a VM whose supervisor is gone (killed): stops its altovirt if it still runs,
// gives the devices back and records it shut off. Called with the StateDir held.
Status cleanup_orphan(const Global& g, const VmStore& store, host::StateDir& state, VmStatus s, const std::string& why) {
  if (s.altovirt_pid > 0 && process_running(s.altovirt_pid)) {
    ::kill(s.altovirt_pid, SIGKILL);
    for (int i = 0; i < 100 && process_running(s.altovirt_pid); ++i) std::this_thread::sleep_for(50ms);
  }
  Status result = ok();
  if (auto c = running_config(store, s.name)) {
    host::SysfsRoot sys(g.sysfs_root);
    result = release_hostdevs(sys, state, *c);
  }
  s.state = VmState::shutoff;
  s.id = 0;
  s.message = why;
  (void)::unlink(store.paths(s.name).qmp.c_str());
  AV_TRY(store.save(s));
  return result;
}

// Every record that says "running" but whose supervisor died is cleaned up.
Status reconcile(const Global& g, const VmStore& store) {
  AV_TRY_ASSIGN(auto vms, store.all());
  bool any = false;
  for (auto& v : vms)
    if (v.state != VmState::shutoff && !is_active(v)) any = true;
  if (!any) return ok();
  AV_TRY_ASSIGN(host::StateDir state, open_state(g));
  AV_TRY_ASSIGN(vms, store.all());  // again, under the lock
  for (auto& v : vms)
    if (v.state != VmState::shutoff && !is_active(v)) {
      fmt::print(stderr, "altoctl: the supervisor of domain '{}' is gone; cleaning up after it\n", v.name);
      AV_TRY(cleanup_orphan(g, store, state, v, "its supervisor was killed"));
    }
  return ok();
}

// The live state of an active VM: QMP tells paused from running.
VmState live_state(const VmStore& store, const VmStatus& s) {
  if (s.state != VmState::running) return s.state;
  auto c = QmpClient::connect(store.paths(s.name).qmp, 3s);
  if (!c) return s.state;
  auto r = c->execute("query-status");
  if (r && r->value("status", "") == "paused") return VmState::paused;
  return s.state;
}

Result<VmStatus> find_vm(const Global& g, const VmStore& store, const std::string& name) {
  AV_TRY(reconcile(g, store));
  AV_TRY_ASSIGN(auto s, store.find(name));
  if (!s) return fail("failed to get domain '{}': no domain with that name or id (see `altoctl list --all`)", name);
  return *s;
}

// ---- the supervisor ------------------------------------------------------------------------------

struct Supervisor {
  Global g;
  VmStore store;
  config::DomainConfig config;
  std::string xml;  // the domain as started
  int report_fd = -1;
  bool reported = false;

  void tell(const std::string& line) {
    if (report_fd < 0) return;
    std::string t = line + "\n";
    ssize_t n = ::write(report_fd, t.data(), t.size());
    ::close(report_fd);
    report_fd = -1;
    reported = n == static_cast<ssize_t>(t.size());
  }

  int run();
  Status prepare(VmStatus& s);
  void finish(VmStatus& s, const std::string& why);
};

Status Supervisor::prepare(VmStatus& s) {
  AV_TRY_ASSIGN(host::StateDir state, open_state(g));
  AV_TRY_ASSIGN(auto existing, store.load(config.name));
  if (existing && is_active(*existing))
    return fail("domain '{}' is already running (id {})", config.name, existing->id);
  VmPaths p = store.paths(config.name);
  AV_TRY(make_dirs(p.dir));
  host::SysfsRoot sys(g.sysfs_root);
  AV_TRY(prepare_hostdevs(sys, state, config, ::getpid()));
  auto undo = [&](Error e) -> Status {
    (void)release_hostdevs(sys, state, config);
    return std::unexpected(std::move(e));
  };
  auto id = store.next_id();
  if (!id) return undo(id.error());
  if (auto w = write_file_atomic(p.xml, xml); !w) return undo(w.error());
  (void)::unlink(p.qmp.c_str());
  s.id = *id;
  s.name = config.name;
  s.state = VmState::starting;
  s.supervisor_pid = ::getpid();
  s.message.clear();
  if (auto w = store.save(s); !w) return undo(w.error());
  return ok();
}

void Supervisor::finish(VmStatus& s, const std::string& why) {
  auto state = open_state(g);
  if (!state) {
    fmt::print(stderr, "supervisor: cannot give the devices back: {}\n", state.error().message());
  } else {
    host::SysfsRoot sys(g.sysfs_root);
    if (auto r = release_hostdevs(sys, *state, config); !r) fmt::print(stderr, "supervisor: {}\n", r.error().message());
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
  if (auto p = prepare(s); !p) {
    tell("error " + p.error().message());
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
  pid_t child = ::fork();
  if (child == 0) {
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(err_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(emulator.c_str()));
    for (auto& a : *args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(emulator.c_str(), argv.data());
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

  // Reads altovirt's output (into this log) until it ends; meanwhile waits for QMP to say the VM
  // runs, then reports to altoctl.
  std::string output;
  bool running = false;
  auto start = std::chrono::steady_clock::now();
  // `altoctl console` attaches to the domain's console: the virtio console (hvc0) when the XML has
  // one, as virsh attaches to the first <console>, else the serial port. altovirt announces each pty.
  const std::string pty_marker = config.virtio_console ? "virtio console on " : "serial console on ";
  for (;;) {
    pollfd pf{err_pipe[0], POLLIN, 0};
    int r = ::poll(&pf, 1, running ? -1 : 200);
    if (r > 0) {
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
    }
    if (!running && path_exists(p.qmp)) {
      auto c = QmpClient::connect(p.qmp, 2s);
      auto st = c ? c->execute("query-status") : Result<json>(std::unexpected(c.error()));
      if (st && st->value("status", "") != "prelaunch") {
        running = true;
        s.state = VmState::running;
        (void)store.save(s);
        tell(fmt::format("ok {} {}", s.id, s.pty));
        if (!reported) {  // altoctl is gone (interrupted): the start was not confirmed, undo it
          fmt::print(stderr, "supervisor: altoctl went away during the start; stopping the VM\n");
          ::kill(child, SIGTERM);
        }
      }
    }
    if (!running && std::chrono::steady_clock::now() - start > 300s) {
      ::kill(child, SIGKILL);
    }
  }
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  std::string why = WIFEXITED(status)     ? fmt::format("altovirt exited with status {}", WEXITSTATUS(status))
                    : WIFSIGNALED(status) ? fmt::format("altovirt was killed by signal {}", WTERMSIG(status))
                                          : "altovirt ended";
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

// Forks the supervisor and waits for its report. Returns the status of `create`/`start`.
int launch(const Global& g, const config::DomainConfig& c, const std::string& xml) {
  VmStore store = store_of(g);
  if (auto r = reconcile(g, store); !r) return report(r.error());
  if (auto r = check_runnable(c); !r) return report(r.error());
  VmPaths p = store.paths(c.name);
  if (auto r = make_dirs(p.dir); !r) return report(r.error());
  int rep[2];
  if (::pipe2(rep, O_CLOEXEC) != 0) return report(Error("cannot create a pipe", errno));
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) return report(Error("cannot fork the supervisor", errno));
  if (pid == 0) {
    ::close(rep[0]);
    ::setsid();
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    int null = ::open("/dev/null", O_RDONLY);
    int log = ::open(p.supervisor_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ::dup2(null, 0);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    Supervisor sup{g, store, c, xml, rep[1]};
    std::_Exit(sup.run());
  }
  ::close(rep[1]);
  std::string reply;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(rep[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(rep[0]);
  if (reply.starts_with("ok ")) return kExitOk;
  if (reply.starts_with("error ")) {
    while (!reply.empty() && reply.back() == '\n') reply.pop_back();
    fmt::print(stderr, "error: failed to start domain '{}': {}\n", c.name, reply.substr(6));
    return kExitFailed;
  }
  fmt::print(stderr, "error: the supervisor of domain '{}' ended without a report; see {}\n", c.name, p.supervisor_log);
  return kExitFailed;
}

Result<config::ParsedDomain> parse_file(const std::string& file) {
  AV_TRY_ASSIGN(auto parsed, config::parse_domain_file(file));
  for (auto& w : parsed.warnings) fmt::print(stderr, "warning: {}\n", w);
  AV_TRY(check_vm_name(parsed.config.name));
  return parsed;
}

bool wait_shutoff(const VmStore& store, const std::string& name, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  do {
    auto s = store.load(name);
    if (s && *s && ((*s)->state == VmState::shutoff || !is_active(**s))) return true;
    std::this_thread::sleep_for(100ms);
  } while (std::chrono::steady_clock::now() < end);
  return false;
}

}  // namespace

int vm_create(const Global& g, const std::string& file) {
  auto parsed = parse_file(file);
  if (!parsed) return report(parsed.error());
  int st = launch(g, parsed->config, config::to_xml(parsed->config));
  if (st == kExitOk) fmt::print("Domain '{}' created from {}\n", parsed->config.name, file);
  return st;
}

int vm_define(const Global& g, const std::string& file) {
  auto parsed = parse_file(file);
  if (!parsed) return report(parsed.error());
  config::DomainConfig c = parsed->config;
  if (!c.uuid) c.uuid = config::random_uuid();
  VmStore store = store_of(g);
  if (auto r = make_dirs(store.config_dir()); !r) return report(r.error().context("--config-dir"));
  if (auto r = write_file_atomic(store.defined_xml(c.name), config::to_xml(c)); !r) return report(r.error());
  fmt::print("Domain '{}' defined from {}\n", c.name, file);
  return kExitOk;
}

int vm_start(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  if (auto r = check_vm_name(name); !r) return report(r.error());
  if (!store.defined(name))
    return report(Error(fmt::format("failed to get domain '{}': not defined in {} (use `altoctl define FILE`)", name,
                                    store.config_dir())));
  auto parsed = parse_file(store.defined_xml(name));
  if (!parsed) return report(parsed.error());
  int st = launch(g, parsed->config, config::to_xml(parsed->config));
  if (st == kExitOk) fmt::print("Domain '{}' started\n", name);
  return st;
}

int vm_undefine(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  if (auto r = check_vm_name(name); !r) return report(r.error());
  if (!store.defined(name)) return report(Error(fmt::format("failed to get domain '{}': not defined", name)));
  if (::unlink(store.defined_xml(name).c_str()) != 0)
    return report(Error(fmt::format("removing {}: {}", store.defined_xml(name), std::strerror(errno))));
  fmt::print("Domain '{}' has been undefined\n", name);
  return kExitOk;
}

int vm_list(const Global& g, bool all) {
  VmStore store = store_of(g);
  if (auto r = reconcile(g, store); !r) return report(r.error());
  auto vms = store.all();
  if (!vms) return report(vms.error());
  std::vector<VmStatus> shown;
  for (auto& v : *vms) {
    if (v.state != VmState::shutoff && !is_active(v)) v.state = VmState::shutoff;
    if (v.state == VmState::running) v.state = live_state(store, v);
    if (all || v.state != VmState::shutoff) shown.push_back(v);
  }
  fmt::print("{}\n", format_list(shown));
  return kExitOk;
}

int vm_domstate(const Global& g, const std::string& name, bool reason) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  VmState st = is_active(*s) ? live_state(store, *s) : VmState::shutoff;
  if (reason && !s->message.empty()) fmt::print("{} ({})\n\n", state_name(st), s->message);
  else fmt::print("{}\n\n", state_name(st));
  return kExitOk;
}

int vm_dumpxml(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  std::string file = is_active(*s) || !store.defined(s->name) ? store.paths(s->name).xml : store.defined_xml(s->name);
  auto parsed = config::parse_domain_file(file);
  if (!parsed) return report(parsed.error());
  fmt::print("{}", config::to_xml(parsed->config));
  return kExitOk;
}

int vm_shutdown(const Global& g, const std::string& name, unsigned timeout_s) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  if (!is_active(*s)) return report(Error(fmt::format("domain '{}' is not running", s->name)));
  auto c = QmpClient::connect(store.paths(s->name).qmp);
  if (!c) return report(c.error());
  if (auto r = c->execute("system_powerdown"); !r) return report(r.error());
  fmt::print("Domain '{}' is being shutdown\n", s->name);
  std::fflush(stdout);
  if (timeout_s == 0) return kExitOk;
  if (!wait_shutoff(store, s->name, std::chrono::seconds(timeout_s)))
    return report(Error(fmt::format("domain '{}' did not shut down within {} s (the guest may ignore the ACPI power "
                                    "button); use `altoctl destroy {}`",
                                    s->name, timeout_s, s->name)));
  fmt::print("Domain '{}' is shut off\n", s->name);
  return kExitOk;
}

int vm_destroy(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  if (!is_active(*s)) return report(Error(fmt::format("domain '{}' is not running", s->name)));
  // SIGTERM ends altovirt at once (no guest shutdown); SIGKILL if it does not go within 10 s. The
  // supervisor then gives the devices back.
  if (s->altovirt_pid > 0) ::kill(s->altovirt_pid, SIGTERM);
  if (!wait_shutoff(store, s->name, 10s)) {
    if (s->altovirt_pid > 0) ::kill(s->altovirt_pid, SIGKILL);
    if (!wait_shutoff(store, s->name, 30s))
      return report(Error(fmt::format("domain '{}' did not stop; see {}", s->name, store.paths(s->name).supervisor_log)));
  }
  if (auto r = reconcile(g, store); !r) return report(r.error());
  fmt::print("Domain '{}' destroyed\n", s->name);
  return kExitOk;
}

int vm_console(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  if (!is_active(*s)) return report(Error(fmt::format("domain '{}' is not running", s->name)));
  if (s->pty.empty())
    return report(Error(fmt::format("domain '{}' has no console pty (its XML needs <serial type='pty'> or <console type='pty'><target type='virtio'/></console>)", s->name)));
  int pty = ::open(s->pty.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (pty < 0) return report(Error(fmt::format("opening the console {}: {}", s->pty, std::strerror(errno))));
  UniqueFd pty_fd(pty);
  fmt::print("Connected to domain '{}'\nEscape character is ^] (Ctrl + ])\n", s->name);
  std::fflush(stdout);
  // Raw terminal for the session; the old settings come back however the loop ends.
  struct RawTerminal {
    bool active = false;
    termios saved{};
    RawTerminal() {
      if (::isatty(0) && ::tcgetattr(0, &saved) == 0) {
        termios raw = saved;
        ::cfmakeraw(&raw);
        active = ::tcsetattr(0, TCSANOW, &raw) == 0;
      }
    }
    ~RawTerminal() {
      if (active) ::tcsetattr(0, TCSANOW, &saved);
    }
  } raw;
  bool in_open = true;
  for (;;) {
    pollfd fds[2] = {{pty, POLLIN, 0}, {0, static_cast<short>(in_open ? POLLIN : 0), 0}};
    int r = ::poll(fds, 2, 500);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t n = ::read(pty, buf, sizeof buf);
      if (n > 0) {
        (void)!::write(1, buf, static_cast<size_t>(n));
      } else {
        // EIO/hangup: the master side (altovirt) closed. The session ends with the VM.
        if (!process_running(s->altovirt_pid)) break;
        std::this_thread::sleep_for(100ms);
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      char buf[256];
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n <= 0) {
        in_open = false;
        continue;
      }
      auto* esc = static_cast<char*>(std::memchr(buf, 0x1d, static_cast<size_t>(n)));  // Ctrl+]
      size_t len = esc ? static_cast<size_t>(esc - buf) : static_cast<size_t>(n);
      if (len > 0) (void)!::write(pty, buf, len);
      if (esc) break;
    }
    if (r == 0 && !process_running(s->altovirt_pid)) break;
  }
  return kExitOk;
}

}  // namespace altoctl
