#include "firmware_check.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace altovirt::tool {

namespace {

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace

Status check_firmware_descriptor(const std::string& code_file, const std::string& option,
                                 const std::vector<std::string>& dirs) {
  namespace fs = std::filesystem;
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() != ".json") continue;
      std::ifstream in(entry.path());
      auto j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;  // not ours to judge: QEMU's tools report it
      const auto* file = j.contains("mapping") && j["mapping"].contains("executable")
                             ? &j["mapping"]["executable"]["filename"]
                             : nullptr;
      if (file == nullptr || !file->is_string() || !same_file(file->get<std::string>(), code_file)) continue;
      const auto& features = j.value("features", nlohmann::json::array());
      if (features.is_array() && std::find(features.begin(), features.end(), "requires-smm") != features.end())
        return fail("{}: the firmware '{}' needs SMM (its descriptor {} lists requires-smm), which altovirt does not "
                    "emulate; use the image without SMM, e.g. /usr/share/OVMF/OVMF_CODE_4M.fd",
                    option, code_file, entry.path().string());
    }
  }
  return ok();
}

}  // namespace altovirt::tool
