#include "lifecycle.h"

#include "vm_args.h"

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
#include "qmp_client.h"
#include "vm_access.h"
#include "vm_store.h"

namespace altoctl {

using namespace altovirt;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

Result<config::ParsedDomain> parse_file(const std::string& file) {
  AV_TRY_ASSIGN(auto parsed, config::parse_domain_file(file));
  for (auto& w : parsed.warnings) fmt::print(stderr, "warning: {}\n", w);
  AV_TRY(check_vm_name(parsed.config.name));
  return parsed;
}

}  // namespace

int vm_create(const Global& g, const std::string& file) {
  auto parsed = parse_file(file);
  if (!parsed) return report(parsed.error());
  // libvirt gives every domain a UUID, transient ones too (dominfo, domuuid show it).
  if (!parsed->config.uuid) parsed->config.uuid = config::random_uuid();
  return start_domain(g, parsed->config, fmt::format("Domain '{}' created from {}", parsed->config.name, file));
}

int vm_define(const Global& g, const std::string& file) {
  auto parsed = parse_file(file);
  if (!parsed) return report(parsed.error());
  config::DomainConfig c = parsed->config;
  if (!c.uuid) c.uuid = config::random_uuid();
  VmStore store = store_of(g);
  if (auto r = make_dirs(store.config_dir()); !r) return report(r.error().context("--config-dir"));
  if (auto r = write_file_atomic(store.defined_xml(c.name), config::to_xml(c), kDomainXmlMode); !r) return report(r.error());
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
  return start_domain(g, parsed->config, fmt::format("Domain '{}' started", name));
}

int vm_undefine(const Global& g, const std::string& name, NvramChoice nvram) {
  VmStore store = store_of(g);
  if (auto r = check_vm_name(name); !r) return report(r.error());
  if (!store.defined(name)) return report(Error(fmt::format("failed to get domain '{}': not defined", name)));
  auto parsed = parse_file(store.defined_xml(name));
  std::string vars = parsed ? nvram_file(parsed->config) : "";
  if (!vars.empty() && path_exists(vars)) {
    if (nvram == NvramChoice::ask)
      return report(Error(fmt::format("cannot undefine domain '{}' with its UEFI variable store {}: add --nvram to remove "
                                      "it too, or --keep-nvram to keep it", name, vars)));
    if (nvram == NvramChoice::remove) {
      if (vars == parsed->config.firmware->nvram_template)
        return report(Error(fmt::format("domain '{}': its variable store {} is also its <nvram template=...>, which "
                                        "other domains may copy; not removing it (use --keep-nvram)", name, vars)));
      if (::unlink(vars.c_str()) != 0)
        return report(Error(fmt::format("removing the variable store {}: {}", vars, std::strerror(errno))));
    }
  }
  (void)store.set_autostart(name, false);  // as virsh undefine: the mark goes with the definition
  if (::unlink(store.defined_xml(name).c_str()) != 0)
    return report(Error(fmt::format("removing {}: {}", store.defined_xml(name), std::strerror(errno))));
  fmt::print("Domain '{}' has been undefined\n", name);
  return kExitOk;
}

int vm_list(const Global& g, bool all, bool name_only) {
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
  if (name_only) {
    // virsh list --name: one name a line, then an empty line; what shell completion reads.
    for (auto& v : shown) fmt::print("{}\n", v.name);
    fmt::print("\n");
    return kExitOk;
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

int vm_dumpxml(const Global& g, const std::string& name, bool security_info) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  std::string file = is_active(*s) || !store.defined(s->name) ? store.paths(s->name).xml : store.defined_xml(s->name);
  auto parsed = config::parse_domain_file(file);
  if (!parsed) return report(parsed.error());
  // virsh leaves the VNC password out unless --security-info asks for it.
  if (!security_info && parsed->config.graphics) parsed->config.graphics->passwd.clear();
  fmt::print("{}", config::to_xml(parsed->config));
  return kExitOk;
}

int vm_shutdown(const Global& g, const std::string& name, unsigned timeout_s) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  if (!is_active(*s)) return report(Error(fmt::format("domain '{}' is not running", s->name)));
  auto c = QmpClient::connect(store.paths(s->name).qmp, std::chrono::seconds(10), s->altovirt_pid);
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
