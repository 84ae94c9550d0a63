#include "vm_store.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "altovirt/base/files.h"
#include "altovirt/base/parse.h"
#include "altovirt/host/state.h"
#include "commands.h"

namespace altoctl {

using namespace altovirt;
using json = nlohmann::json;

std::string state_name(VmState s) {
  switch (s) {
    case VmState::starting: return "starting";
    case VmState::running: return "running";
    case VmState::paused: return "paused";
    case VmState::shutoff: break;
  }
  return "shut off";
}

namespace {
std::optional<VmState> parse_state(const std::string& s) {
  for (VmState v : {VmState::starting, VmState::running, VmState::paused, VmState::shutoff})
    if (state_name(v) == s) return v;
  return std::nullopt;
}
}  // namespace

Status check_vm_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "." || name == ".." ||
      !std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; }))
    return fail("domain name '{}': use 1..64 letters, digits, '-', '_' or '.' (it names a directory)", name);
  return ok();
}

VmPaths VmStore::paths(const std::string& name) const {
  std::string d = state_dir_ + "/vms/" + name;
  std::string v = d + "/vmm";
  return VmPaths{d, d + "/status.json", d + "/domain.xml", v + "/qmp.sock", v + "/altovirt.log",
                 d + "/supervisor.log", v + "/altovirt.pid", v};
}

bool VmStore::defined(const std::string& name) const { return path_exists(defined_xml(name)); }

bool VmStore::autostart(const std::string& name) const {
  // path_exists follows the link: a mark whose definition is gone does not count.
  return defined(name) && path_exists(autostart_link(name));
}

Status VmStore::set_autostart(const std::string& name, bool on) const {
  std::string link = autostart_link(name);
  if (!on) {
    if (::unlink(link.c_str()) != 0 && errno != ENOENT) return fail_errno(errno, "removing {}", link);
    return ok();
  }
  if (!defined(name)) return fail("cannot set autostart for domain '{}': it is not defined (transient); `altoctl define` it first", name);
  AV_TRY(make_dirs(config_dir_ + "/autostart"));
  (void)::unlink(link.c_str());
  if (::symlink(("../" + name + ".xml").c_str(), link.c_str()) != 0) return fail_errno(errno, "creating {}", link);
  return ok();
}

Result<std::optional<VmStatus>> VmStore::load(const std::string& name) const {
  VmPaths p = paths(name);
  if (!path_exists(p.status)) {
    if (!defined(name)) return std::optional<VmStatus>{};
    VmStatus s;
    s.name = name;
    s.persistent = true;
    return std::optional<VmStatus>{s};
  }
  AV_TRY_ASSIGN(std::string text, read_file(p.status));
  try {
    json j = json::parse(text);
    VmStatus s;
    s.id = j.at("id").get<unsigned>();
    s.name = j.at("name").get<std::string>();
    auto st = parse_state(j.at("state").get<std::string>());
    if (!st) return fail("{}: unknown state '{}'", p.status, j.at("state").get<std::string>());
    s.state = *st;
    s.supervisor_pid = j.value("supervisor_pid", 0);
    s.altovirt_pid = j.value("altovirt_pid", 0);
    s.pty = j.value("pty", "");
    s.vnc = j.value("vnc", "");
    s.message = j.value("message", "");
    if (j.contains("taps"))
      for (const auto& t : j.at("taps")) s.taps.push_back({t.at("name").get<std::string>(), t.value("multi_queue", false)});
    s.persistent = defined(name);
    return std::optional<VmStatus>{s};
  } catch (const json::exception& e) {
    return fail("{}: not a valid VM record ({}); remove the file if no VM of that name runs", p.status, e.what());
  }
}

Status VmStore::save(const VmStatus& s) const {
  VmPaths p = paths(s.name);
  AV_TRY(make_dirs(p.dir));
  json j = {{"id", s.id},
            {"name", s.name},
            {"state", state_name(s.state)},
            {"supervisor_pid", s.supervisor_pid},
            {"altovirt_pid", s.altovirt_pid},
            {"pty", s.pty},
            {"vnc", s.vnc},
            {"message", s.message}};
  j["taps"] = json::array();
  for (const auto& t : s.taps) j["taps"].push_back({{"name", t.name}, {"multi_queue", t.multi_queue}});
  return write_file_atomic(p.status, j.dump(2) + "\n");
}

Result<std::vector<VmStatus>> VmStore::all() const {
  std::vector<std::string> names;
  if (path_exists(state_dir_ + "/vms")) {
    AV_TRY_ASSIGN(auto dirs, list_dir(state_dir_ + "/vms"));
    for (auto& d : dirs)
      if (path_exists(state_dir_ + "/vms/" + d + "/status.json")) names.push_back(d);
  }
  if (path_exists(config_dir_)) {
    AV_TRY_ASSIGN(auto files, list_dir(config_dir_));
    for (auto& f : files)
      if (f.size() > 4 && f.ends_with(".xml")) names.push_back(f.substr(0, f.size() - 4));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<VmStatus> out;
  for (auto& n : names) {
    AV_TRY_ASSIGN(auto s, load(n));
    if (s) out.push_back(*s);
  }
  std::stable_sort(out.begin(), out.end(), [](const VmStatus& a, const VmStatus& b) {
    bool ra = a.state != VmState::shutoff, rb = b.state != VmState::shutoff;
    if (ra != rb) return ra;
    return ra && a.id < b.id;
  });
  return out;
}

Result<std::optional<VmStatus>> VmStore::find(const std::string& name_or_id) const {
  if (!name_or_id.empty() && std::all_of(name_or_id.begin(), name_or_id.end(), ::isdigit)) {
    AV_TRY_ASSIGN(auto vms, all());
    for (auto& v : vms)
      if (v.state != VmState::shutoff && std::to_string(v.id) == name_or_id) return std::optional<VmStatus>{v};
  }
  if (!check_vm_name(name_or_id)) return std::optional<VmStatus>{};
  return load(name_or_id);
}

Result<unsigned> VmStore::next_id() const {
  std::string file = state_dir_ + "/next-id";
  unsigned id = 1;
  if (path_exists(file)) {
    AV_TRY_ASSIGN(std::string t, read_trimmed(file));
    auto v = parse_uint(t, file);
    if (v && *v > 0 && *v < 1'000'000'000) id = static_cast<unsigned>(*v);
  }
  AV_TRY(make_dirs(state_dir_));
  AV_TRY(write_file_atomic(file, fmt::format("{}\n", id + 1)));
  return id;
}

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

bool process_running(pid_t pid) {
  if (pid <= 0 || !host::pid_alive(pid)) return false;
  // A killed process nobody has reaped yet (a zombie, state Z in /proc/PID/stat, proc(5)) is gone.
  auto stat = read_file(fmt::format("/proc/{}/stat", pid));
  if (!stat) return true;
  auto close = stat->rfind(')');
  return close == std::string::npos || close + 2 >= stat->size() || (*stat)[close + 2] != 'Z';
}

bool is_active(const VmStatus& s) { return s.state != VmState::shutoff && process_running(s.supervisor_pid); }

std::string format_list(const std::vector<VmStatus>& vms) {
  // virsh's table: a leading space, columns padded to their widest cell plus three spaces, and a
  // rule of dashes as wide as the header line.
  size_t idw = 2, namew = 4, statew = 5;
  auto id_of = [](const VmStatus& v) { return v.state == VmState::shutoff ? std::string("-") : std::to_string(v.id); };
  for (auto& v : vms) {
    idw = std::max(idw, id_of(v).size());
    namew = std::max(namew, v.name.size());
    statew = std::max(statew, state_name(v.state).size());
  }
  std::string out = fmt::format(" {:<{}}   {:<{}}   {}\n", "Id", idw, "Name", namew, "State");
  out += std::string(1 + idw + 3 + namew + 3 + statew + 1, '-') + "\n";
  for (auto& v : vms) out += fmt::format(" {:<{}}   {:<{}}   {}\n", id_of(v), idw, v.name, namew, state_name(v.state));
  return out;
}

}  // namespace altoctl
