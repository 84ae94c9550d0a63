#include "altovirt/base/sandbox.h"

#include <fcntl.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>

#include "altovirt/base/log.h"

namespace altovirt::sandbox {
namespace {

Mode g_mode = Mode::off;
std::function<Policy(Role)> g_policy_of;

// The SIGSYS handler may not allocate or lock: the names of the system calls are resolved once, in
// configure(), and each thread's label is written when it enters.
constexpr int kMaxSyscall = 1024;
std::array<const char*, kMaxSyscall> g_names{};
thread_local char t_label[48] = "unconfined";

// Appends `s` to buf at *len (bounded), for the handler's message.
void append(char* buf, size_t cap, size_t* len, const char* s) {
  while (*s != '\0' && *len + 1 < cap) buf[(*len)++] = *s++;
}
void append_number(char* buf, size_t cap, size_t* len, long v) {
  char digits[24];
  int n = 0;
  unsigned long u = v < 0 ? static_cast<unsigned long>(-v) : static_cast<unsigned long>(v);
  do digits[n++] = static_cast<char>('0' + u % 10);
  while ((u /= 10) != 0 && n < 23);
  if (v < 0 && *len + 1 < cap) buf[(*len)++] = '-';
  while (n > 0 && *len + 1 < cap) buf[(*len)++] = digits[--n];
}

void on_sigsys(int, siginfo_t* info, void*) {
  char msg[256];
  size_t len = 0;
  int nr = info->si_syscall;
  append(msg, sizeof msg, &len, "altovirt: sandbox: thread ");
  append(msg, sizeof msg, &len, t_label);
  append(msg, sizeof msg, &len, " made the forbidden system call ");
  append(msg, sizeof msg, &len, nr >= 0 && nr < kMaxSyscall && g_names[nr] != nullptr ? g_names[nr] : "?");
  append(msg, sizeof msg, &len, " (");
  append_number(msg, sizeof msg, &len, nr);
  append(msg, sizeof msg, &len, "); stopping altovirt (-sandbox log would report it and go on)\n");
  (void)!::write(2, msg, len);
  int fd = log::raw_fd();
  if (fd != 2) (void)!::write(fd, msg, len);
  ::_exit(1);
}

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

Result<Filter> build(const Policy& policy, uint32_t default_action) {
  Filter ctx(seccomp_init(default_action));
  if (!ctx) return fail("sandbox: seccomp_init failed");
  for (const std::string& name : policy.syscalls) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 0); rc != 0)
      return fail_errno(-rc, "sandbox: allowing {}", name);
  }
  if (policy.open_read_only) {
    int openat_nr = seccomp_syscall_resolve_name("openat");
    constexpr scmp_datum_t kWriting = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND;
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, openat_nr, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, kWriting, 0));
        rc != 0)
      return fail_errno(-rc, "sandbox: allowing read-only openat");
  }
  int ioctl_nr = seccomp_syscall_resolve_name("ioctl");
  for (uint32_t request : policy.ioctls)
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, ioctl_nr, 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, static_cast<scmp_datum_t>(request)));
        rc != 0)
      return fail_errno(-rc, "sandbox: allowing ioctl {:#x}", request);
  return ctx;
}

}  // namespace

Result<Mode> parse_mode(std::string_view text) {
  if (text == "on") return Mode::on;
  if (text == "off") return Mode::off;
  if (text == "log") return Mode::log;
  return fail("-sandbox {}: expected on, off or log", text);
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::main: return "main";
    case Role::vcpu: return "vcpu";
    case Role::io: return "io";
    case Role::qmp: return "qmp";
    case Role::signal: return "signal";
    case Role::input: return "input";
    case Role::vnc: return "vnc";
  }
  return "?";
}

Status configure(Mode mode, std::function<Policy(Role)> policy_of) {
  g_mode = mode;
  g_policy_of = std::move(policy_of);
  if (mode == Mode::off) return ok();
  // PR_GET_SECCOMP fails with EINVAL on a kernel built without seccomp.
  if (::prctl(PR_GET_SECCOMP) < 0)
    return fail("-sandbox {}: this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER): use -sandbox off",
                mode == Mode::on ? "on" : "log");
  // glibc reads /etc/localtime on the first localtime_r(); a confined thread's first log line must
  // not be the one that opens it.
  ::tzset();
  for (int nr = 0; nr < kMaxSyscall; ++nr)
    if (g_names[nr] == nullptr) g_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);  // kept for the process's life
  if (mode == Mode::on) {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(SIGSYS, &sa, nullptr) != 0) return fail_errno(errno, "sandbox: installing the SIGSYS handler");
  }
  return ok();
}

Mode mode() { return g_mode; }

Status enter(Role role) {
  if (g_mode == Mode::off || !g_policy_of) return ok();
  char name[16] = "?";
  (void)::pthread_getname_np(::pthread_self(), name, sizeof name);
  std::snprintf(t_label, sizeof t_label, "%s (role %s)", name, std::string(role_name(role)).c_str());
  AV_TRY_ASSIGN(Filter ctx, build(g_policy_of(role), g_mode == Mode::on ? SCMP_ACT_TRAP : SCMP_ACT_LOG));
  // SCMP_FLTATR_CTL_NNP (the default) sets no_new_privs first, which an unprivileged process needs.
  if (int rc = seccomp_load(ctx.get()); rc != 0)
    return fail_errno(-rc, "sandbox: loading the seccomp filter of thread {} (role {})", name, role_name(role));
  return ok();
}

void start_thread(Role role, std::string_view thread_name) {
  std::string name(thread_name.substr(0, 15));
  (void)::pthread_setname_np(::pthread_self(), name.c_str());
  if (auto s = enter(role); !s) {
    log::error("sandbox", "{}", s.error().message());
    std::fprintf(stderr, "altovirt: %s\n", s.error().message().c_str());
    ::_exit(1);
  }
}

Summary summarize(const Policy& policy) {
  Summary s;
  for (const std::string& name : policy.syscalls) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) s.unknown.push_back(name);
    else s.syscalls.push_back(nr);
  }
  std::sort(s.syscalls.begin(), s.syscalls.end());
  s.syscalls.erase(std::unique(s.syscalls.begin(), s.syscalls.end()), s.syscalls.end());
  s.ioctls = policy.ioctls.size();
  return s;
}

}  // namespace altovirt::sandbox
