#include "altovirt/host/state.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "altovirt/base/files.h"

namespace altovirt::host {

std::string default_state_dir() {
  const char* env = std::getenv("ALTOVIRT_STATE_DIR");
  return env && *env ? std::string(env) : std::string("/run/altovirt");
}

bool pid_alive(pid_t pid) {
  if (pid <= 0) return false;
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

Result<StateDir> StateDir::open(const std::string& dir) {
  AV_TRY(make_dirs(dir));
  std::string lock_path = dir + "/lock";
  UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return fail_errno(errno, "opening lock file {}", lock_path);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return fail_errno(errno, "locking {}", lock_path);
  }
  StateDir s(dir, std::move(fd));
  AV_TRY(s.load());
  return s;
}

Status StateDir::load() {
  const std::string file = state_file();
  if (!path_exists(file)) return ok();
  AV_TRY_ASSIGN(std::string text, read_file(file));
  auto bad = [&](std::string_view why) {
    return fail("state file {} is not valid ({}); it records the original drivers of detached devices: "
                "fix or remove it by hand, then reattach devices with 'altoctl nodedev-reattach'",
                file, why);
  };
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  if (!j.contains("devices")) return ok();
  if (!j["devices"].is_object()) return bad("'devices' is not an object");
  for (const auto& [addr, e] : j["devices"].items()) {
    if (!parse_pci_address(addr)) return bad("'" + addr + "' is not a PCI address");
    if (!e.is_object()) return bad("entry of " + addr + " is not an object");
    Entry entry;
    if (e.contains("original_driver")) {
      if (!e["original_driver"].is_string()) return bad("original_driver of " + addr + " is not a string");
      entry.original_driver = e["original_driver"].get<std::string>();
    }
    if (e.contains("claim")) {
      const auto& c = e["claim"];
      if (!c.is_object() || !c.contains("vm") || !c["vm"].is_string() || !c.contains("pid") ||
          !c["pid"].is_number_integer())
        return bad("claim of " + addr + " needs a string 'vm' and an integer 'pid'");
      entry.claim = DeviceClaim{c["vm"].get<std::string>(), c["pid"].get<pid_t>()};
    }
    devices_[addr] = std::move(entry);
  }
  return ok();
}

Status StateDir::save() const {
  nlohmann::json devices = nlohmann::json::object();
  for (const auto& [addr, e] : devices_) {
    nlohmann::json je = nlohmann::json::object();
    if (e.original_driver) je["original_driver"] = *e.original_driver;
    if (e.claim) je["claim"] = {{"vm", e.claim->vm}, {"pid", e.claim->pid}};
    devices[addr] = je;
  }
  nlohmann::json j = {{"version", 1}, {"devices", devices}};
  return write_file_atomic(state_file(), j.dump(2) + "\n", 0600);
}

std::optional<std::string> StateDir::original_driver(const PciAddress& a) const {
  auto it = devices_.find(a.str());
  if (it == devices_.end()) return std::nullopt;
  return it->second.original_driver;
}

Status StateDir::record_original_driver(const PciAddress& a, const std::string& driver) {
  Entry& e = devices_[a.str()];
  bool ours = driver.empty() || driver.starts_with("vfio");
  if (e.original_driver && ours) return ok();
  if (e.original_driver == driver) return ok();
  e.original_driver = driver;
  return save();
}

Status StateDir::forget_device(const PciAddress& a) {
  auto it = devices_.find(a.str());
  if (it == devices_.end() || !it->second.original_driver) return ok();
  it->second.original_driver.reset();
  if (!it->second.claim) devices_.erase(it);
  return save();
}

std::optional<DeviceClaim> StateDir::claim_of(const PciAddress& a) const {
  auto it = devices_.find(a.str());
  if (it == devices_.end() || !it->second.claim || !pid_alive(it->second.claim->pid)) return std::nullopt;
  return it->second.claim;
}

std::vector<std::pair<PciAddress, DeviceClaim>> StateDir::stale_claims() const {
  std::vector<std::pair<PciAddress, DeviceClaim>> out;
  for (const auto& [addr, e] : devices_)
    if (e.claim && !pid_alive(e.claim->pid))
      if (auto a = parse_pci_address(addr)) out.emplace_back(*a, *e.claim);
  return out;
}

Status StateDir::claim(const PciAddress& a, const std::string& vm, pid_t pid) {
  if (auto c = claim_of(a); c && !(c->vm == vm && c->pid == pid))
    return fail("PCI device {} is in use by VM '{}' (pid {}); stop that VM first", a.str(), c->vm, c->pid);
  devices_[a.str()].claim = DeviceClaim{vm, pid};
  return save();
}

Status StateDir::release(const PciAddress& a, const std::string& vm) {
  auto it = devices_.find(a.str());
  if (it == devices_.end() || !it->second.claim || it->second.claim->vm != vm) return ok();
  it->second.claim.reset();
  if (!it->second.original_driver) devices_.erase(it);
  return save();
}

Status StateDir::check_not_in_use(const PciAddress& a, std::string_view what) const {
  if (auto c = claim_of(a))
    return fail("cannot {} PCI device {}: it is in use by running VM '{}' (pid {}); stop the VM first", what,
                a.str(), c->vm, c->pid);
  return ok();
}

}  // namespace altovirt::host
