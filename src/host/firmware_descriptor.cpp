#include "altovirt/host/firmware_descriptor.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

namespace altovirt::host {

namespace {

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::string string_at(const nlohmann::json& j, std::initializer_list<const char*> keys) {
  const nlohmann::json* at = &j;
  for (const char* k : keys) {
    if (!at->is_object() || !at->contains(k)) return "";
    at = &(*at)[k];
  }
  return at->is_string() ? at->get<std::string>() : "";
}

}  // namespace

std::vector<std::string> firmware_descriptor_dirs() {
  std::vector<std::string> dirs;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  if (xdg != nullptr && *xdg != 0) dirs.push_back(std::string(xdg) + "/qemu/firmware");
  else if (home != nullptr && *home != 0) dirs.push_back(std::string(home) + "/.config/qemu/firmware");
  dirs.insert(dirs.end(), {"/etc/qemu/firmware", "/usr/share/qemu/firmware"});
  return dirs;
}

std::optional<FirmwareDescriptor> find_firmware_descriptor(const std::string& code_file,
                                                           const std::vector<std::string>& dirs) {
  namespace fs = std::filesystem;
  // firmware.json's order: the union of the directories' files, a name in a higher-priority
  // directory hiding the same name further down, then by file name (40-..., 50-..., 60-...).
  std::map<std::string, fs::path> by_name;
  for (auto dir = dirs.rbegin(); dir != dirs.rend(); ++dir) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(*dir, ec))
      if (entry.path().extension() == ".json") by_name[entry.path().filename().string()] = entry.path();
  }
  std::vector<std::pair<FirmwareDescriptor, std::string>> found;  // with each one's executable
  for (const auto& [name, file] : by_name) {
    std::ifstream in(file);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    std::string exe = string_at(j, {"mapping", "executable", "filename"});
    if (exe.empty() || !same_file(exe, code_file)) continue;
    FirmwareDescriptor d{file.string(), {}, string_at(j, {"mapping", "nvram-template", "filename"})};
    if (auto f = j.find("features"); f != j.end() && f->is_array())
      for (const auto& v : *f)
        if (v.is_string()) d.features.push_back(v.get<std::string>());
    found.emplace_back(std::move(d), exe);
  }
  // The descriptor naming this very path first, as libvirt matches: Debian's AAVMF_CODE.ms.fd is a
  // link to AAVMF_CODE.fd, and the Secure Boot descriptor that names the link sorts before the
  // plain one (its template enrols Microsoft's keys, under which a test kernel does not boot).
  for (auto& [d, exe] : found)
    if (exe == code_file) return std::move(d);
  if (!found.empty()) return std::move(found.front().first);  // through a link or another path
  return std::nullopt;
}

}  // namespace altovirt::host
