#include "altovirt/host/firmware_descriptor.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    std::sort(files.begin(), files.end());  // QEMU's priority order: 40-..., 50-..., 60-...
    for (const auto& file : files) {
      std::ifstream in(file);
      auto j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      std::string exe = string_at(j, {"mapping", "executable", "filename"});
      if (exe.empty() || !same_file(exe, code_file)) continue;
      FirmwareDescriptor d{file.string(), {}, string_at(j, {"mapping", "nvram-template", "filename"})};
      if (auto f = j.find("features"); f != j.end() && f->is_array())
        for (const auto& v : *f)
          if (v.is_string()) d.features.push_back(v.get<std::string>());
      return d;
    }
  }
  return std::nullopt;
}

}  // namespace altovirt::host
