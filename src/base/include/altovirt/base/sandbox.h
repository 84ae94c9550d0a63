// The seccomp sandbox: every thread of altovirt runs under the allow-list of its role (main, vcpu,
// io, qmp, signal, input, vnc), so that a guest that takes over one thread (say, through a device model
// bug) can make only the system calls that thread needs: no exec, no new files or sockets where the
// role opens none, and ioctl only with the request numbers altovirt itself uses (compared as 32-bit
// values: the kernel's ioctl request argument is an unsigned int, whatever the upper half holds).
//
// This file is the mechanism; which calls each role may make is the VMM's business (it knows every
// layer's ioctls) and comes in through configure(). A forbidden call, with -sandbox on, raises SIGSYS
// (SECCOMP_RET_TRAP); the handler writes one line naming the thread, its role and the system call to
// stderr and to the -D log, and ends the process (exit status 1, a VM error). With -sandbox log the
// kernel logs the call (SECCOMP_RET_LOG: an "audit: type=1326 ... comm=THREAD ... syscall=N" line
// in the kernel log) and lets it through, for deriving lists.
//
// Threading: configure() runs once on the main thread before any thread calls enter(). enter()
// confines the calling thread only (seccomp filters are per thread, without TSYNC) and the threads
// it creates afterwards inherit its filter, so a thread that makes threads enters after making them
// or gives them a subset of its own list; filters stack, and a call must pass every one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"

namespace altovirt::sandbox {

enum class Mode { off, on, log };
enum class Role { main, vcpu, io, qmp, signal, input, vnc };

// What a role may do: system calls by name (names this architecture lacks are skipped), and ioctl
// requests; any system call with an "ioctl" entry in `syscalls` would allow every request.
struct Policy {
  std::vector<std::string> syscalls;
  std::vector<uint32_t> ioctls;
  // openat with none of O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND: reading a file, never
  // making or changing one (glibc opens /sys and /proc files by itself from any thread).
  bool open_read_only = false;
};

// "on", "off" or "log" (-sandbox's values).
Result<Mode> parse_mode(std::string_view text);
std::string_view role_name(Role role);

// Sets the mode and the source of each role's policy, and with Mode::on installs the SIGSYS handler.
Status configure(Mode mode, std::function<Policy(Role)> policy_of);
Mode mode();

// Confines the calling thread to `role`'s policy; ok() without doing anything when the mode is off
// or configure() was never called (unit tests, tools).
Status enter(Role role);

// For a thread's first lines: names the calling thread (at most 15 characters are kept) and enters
// `role`. A filter that cannot be loaded after configure() succeeded is an internal error (the
// kernel took the test filter then): it is logged and the process ends with status 1, since a
// thread that cannot return an error must not run unconfined.
void start_thread(Role role, std::string_view thread_name);

// Builds the filter for `policy` without loading it: the system calls that resolve on this
// architecture, sorted, and how many ioctl requests it allows (for tests and for -D's summary).
struct Summary {
  std::vector<int> syscalls;
  size_t ioctls = 0;
  std::vector<std::string> unknown;  // names this architecture does not have
};
Summary summarize(const Policy& policy);

}  // namespace altovirt::sandbox
