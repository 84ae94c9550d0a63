#include "altovirt/host/sysfs.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "altovirt/base/files.h"

extern char** environ;

namespace altovirt::host {

SysfsRoot::SysfsRoot(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  if (root_.empty()) root_ = "/";
}

std::string SysfsRoot::path(std::string_view host_path) const {
  if (root_ == "/") return std::string(host_path);
  return root_ + std::string(host_path);
}

bool SysfsRoot::exists(std::string_view host_path) const { return path_exists(path(host_path)); }

Result<std::string> SysfsRoot::read(std::string_view host_path) const { return read_trimmed(path(host_path)); }

Result<std::string> SysfsRoot::link_name(std::string_view host_path) const {
  AV_TRY_ASSIGN(std::string target, read_link(path(host_path)));
  return std::string(base_name(target));
}

Result<std::vector<std::string>> SysfsRoot::list(std::string_view host_path) const { return list_dir(path(host_path)); }

Status SysfsRoot::write(std::string_view host_path, std::string_view data) {
  return write_sysfs(path(host_path), data);
}

Status SysfsRoot::load_module(std::string_view module) {
  if (!is_system_root())
    return fail("not loading module {}: the sysfs root is {}, not the real host", module, root_);
  // posix_spawn rather than system(): no shell, the module name is one argument whatever it contains.
  std::string name(module);
  const char* prog = "/sbin/modprobe";
  char* argv[] = {const_cast<char*>(prog), const_cast<char*>(name.c_str()), nullptr};
  pid_t pid;
  int err = posix_spawn(&pid, prog, nullptr, nullptr, argv, environ);
  if (err != 0) return fail_errno(err, "running {} {}", prog, module);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fail_errno(errno, "waiting for {} {}", prog, module);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail("'{} {}' failed (status {}); check that the module exists for the running kernel "
                "(linux-image package) and see dmesg",
                prog, module, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return ok();
}

}  // namespace altovirt::host
