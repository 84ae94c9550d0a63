// `altoctl edit NAME` (domain_edit.h): the editor on a copy, the definition replaced only by a
// valid edit.
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "altovirt/base/files.h"
#include "domain_edit.h"
#include "domain_verbs.h"
#include "vm_access.h"

namespace altoctl {

using namespace altovirt;

namespace {

// Runs the user's editor on `file` through the shell, as virsh and git do, so "$EDITOR" may carry
// arguments ("code --wait"). Returns the editor's exit status.
int run_editor(const std::string& file) {
  const char* editor = std::getenv("VISUAL");
  if (editor == nullptr || *editor == 0) editor = std::getenv("EDITOR");
  if (editor == nullptr || *editor == 0) editor = "vi";
  std::fflush(stdout);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", (std::string(editor) + " \"$1\"").c_str(), "sh", file.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid < 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int vm_edit(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  if (auto r = check_vm_name(name); !r) return report(r.error());
  if (!store.defined(name))
    return report(Error(fmt::format("domain '{}' is not defined; edit changes a definition (`altoctl dumpxml {} > "
                                    "FILE; altoctl define FILE` makes a running transient domain persistent)",
                                    name, name)));
  auto old = config::parse_domain_file(store.defined_xml(name));
  if (!old) return report(old.error());
  std::string old_xml = config::to_xml(old->config);

  char tmpl[] = "/tmp/altoctl-edit-XXXXXX.xml";
  int fd = ::mkstemps(tmpl, 4);
  if (fd < 0) return report(Error(fmt::format("creating a temporary file: {}", std::strerror(errno))));
  ::close(fd);
  std::string file = tmpl;
  if (auto w = write_file_atomic(file, old_xml, kDomainXmlMode); !w) return report(w.error());

  int st = run_editor(file);
  if (st != 0) {
    fmt::print(stderr, "error: the editor exited with status {}; the definition of '{}' is unchanged (edit kept in {})\n",
               st, name, file);
    return kExitFailed;
  }
  auto edited = read_file(file);
  if (!edited) return report(edited.error());
  if (*edited == old_xml) {
    ::unlink(file.c_str());
    fmt::print("Domain '{}' XML configuration not changed.\n", name);
    return kExitOk;
  }
  auto checked = check_edit(name, old->config, *edited, file);
  if (!checked) {
    fmt::print(stderr, "error: {}\nerror: the definition of '{}' is unchanged; your edit is kept in {} (fix it and "
                       "`altoctl define {}`, or run `altoctl edit {}` again)\n",
               checked.error().message(), name, file, file, name);
    return kExitFailed;
  }
  for (auto& w : checked->warnings) fmt::print(stderr, "warning: {}\n", w);
  if (auto w = write_file_atomic(store.defined_xml(name), config::to_xml(checked->config), kDomainXmlMode); !w) return report(w.error());
  ::unlink(file.c_str());
  fmt::print("Domain '{}' XML configuration edited.\n", name);
  auto s = store.load(name);
  if (s && *s && is_active(**s)) fmt::print("The running domain keeps its old configuration until its next start.\n");
  return kExitOk;
}

}  // namespace altoctl
