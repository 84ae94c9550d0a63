#include "vm_args.h"

#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>

#include "altovirt/base/files.h"

namespace altoctl {

using namespace altovirt;

Status check_runnable(const config::DomainConfig& c) {
  std::vector<std::string> problems;
  if (c.machine == config::Machine::pc)
    problems.push_back("<os><type machine='pc'>: altovirt emulates q35 only; use machine='q35'");
  if (problems.empty()) return ok();
  std::string m = fmt::format("domain '{}' uses what altovirt does not implement yet:", c.name);
  for (auto& p : problems) m += "\n  " + p;
  return fail("{}", m);
}

Result<std::vector<std::string>> altovirt_args(const config::DomainConfig& c, const VmPaths& p) {
  AV_TRY(check_runnable(c));
  AV_TRY_ASSIGN(std::vector<std::string> a, config::to_altovirt_args(c, config::RuntimePaths{p.qmp, p.log, {}, vnc_password_file(p)}));
  // The RAM file goes in the domain's own directory on the mount (hugepage_dir()).
  if (c.memory_backing && c.memory_backing->hugepages)
    for (auto& arg : a)
      if (auto at = arg.find(",mem-path="); arg.starts_with("memory-backend-file,") && at != std::string::npos) {
        auto end = arg.find(',', at + 1);
        arg.replace(at, end == std::string::npos ? std::string::npos : end - at, ",mem-path=" + hugepage_dir(c));
      }
  std::erase(a, std::string("-no-acpi"));
  if (!c.serial) a.insert(a.end(), {"-serial", "none"});
  a.insert(a.end(), {"-pidfile", p.pidfile});
  return a;
}

std::string vnc_password_file(const VmPaths& p) { return p.vmm + "/vnc-password"; }

namespace {
std::string hugepage_mount(const config::DomainConfig& c) {
  bool giant = c.memory_backing && c.memory_backing->page_kib == 1024 * 1024;
  return giant ? "/dev/hugepages1G" : "/dev/hugepages";
}
}  // namespace

std::string hugepage_dir(const config::DomainConfig& c) { return fmt::format("{}/altovirt/{}", hugepage_mount(c), c.name); }

Status check_hugetlbfs(const config::DomainConfig& c) {
  std::string mount = hugepage_mount(c);
  struct statfs fs {};
  if (::statfs(mount.c_str(), &fs) != 0 || fs.f_type != HUGETLBFS_MAGIC)
    return fail("<memoryBacking><hugepages>: no hugetlbfs is mounted at {}; mount one (mkdir -p {} && mount -t hugetlbfs{} "
                "hugetlbfs {}) or remove <hugepages>",
                mount, mount, mount.ends_with("1G") ? " -o pagesize=1G" : "", mount);
  return ok();
}

std::string nvram_file(const config::DomainConfig& c) {
  if (!c.firmware || !c.firmware->nvram) return "";
  if (!c.firmware->nvram_path.empty()) return c.firmware->nvram_path;
  const char* env = std::getenv("ALTOVIRT_NVRAM_DIR");
  return fmt::format("{}/{}_VARS.fd", env != nullptr && *env != 0 ? env : "/var/lib/altovirt/nvram", c.name);
}

config::DomainConfig with_nvram_path(config::DomainConfig c, const std::vector<std::string>& descriptor_dirs) {
  // arm64's firmware (AAVMF) keeps its variables only in flash: a <loader> without <nvram> gets the
  // store its firmware descriptor names as template, at the default path, as libvirt does.
  if (c.firmware && !c.firmware->nvram && c.arch == "aarch64")
    if (auto d = host::find_firmware_descriptor(c.firmware->loader, descriptor_dirs); d && !d->nvram_template.empty()) {
      c.firmware->nvram = true;
      c.firmware->nvram_template = d->nvram_template;
    }
  if (c.firmware && c.firmware->nvram) c.firmware->nvram_path = nvram_file(c);
  return c;
}

Status prepare_nvram(const config::DomainConfig& c) {
  if (c.firmware && !c.firmware->nvram && c.arch == "aarch64")
    return fail("<loader>{}</loader>: arm64 UEFI firmware (AAVMF) keeps its variables in a flash store, and no firmware "
                "descriptor in {} names a template for it: add <nvram template='/usr/share/AAVMF/AAVMF_VARS.fd'/>",
                c.firmware->loader, fmt::join(host::firmware_descriptor_dirs(), ", "));
  std::string path = nvram_file(c);
  if (path.empty() || path_exists(path)) return ok();
  const std::string& tmpl = c.firmware->nvram_template;
  if (tmpl.empty())
    return fail("<nvram>: the variable store {} does not exist and no template= says what to make it from (e.g. "
                "<nvram template='{}'>)",
                path, c.arch == "aarch64" ? "/usr/share/AAVMF/AAVMF_VARS.fd" : "/usr/share/OVMF/OVMF_VARS_4M.fd");
  auto data = read_file(tmpl);
  if (!data) return fail("<nvram template='{}'>: the template cannot be read: {}", tmpl, data.error().message());
  if (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0) AV_TRY(make_dirs(path.substr(0, slash)));
  if (auto w = write_file_atomic(path, *data, 0600); !w)
    return fail("<nvram>: creating the variable store {} from {}: {}", path, tmpl, w.error().message());
  return ok();
}

std::string emulator_path(const config::DomainConfig& c, const std::string& self_exe) {
  if (!c.emulator.empty()) return c.emulator;
  auto slash = self_exe.rfind('/');
  if (slash != std::string::npos) {
    // In the build tree altoctl and altovirt live in sibling directories tools/altoctl, tools/altovirt.
    std::string dir = self_exe.substr(0, slash);
    for (const std::string& cand : {dir + "/altovirt", dir + "/../altovirt/altovirt"})
      if (::access(cand.c_str(), X_OK) == 0) return cand;
  }
  return "altovirt";
}

}  // namespace altoctl
