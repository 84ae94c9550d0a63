#include "firmware_check.h"

#include <algorithm>

#include "altovirt/host/firmware_descriptor.h"

namespace altovirt::tool {

Status check_firmware_descriptor(const std::string& code_file, const std::string& option,
                                 const std::vector<std::string>& dirs) {
  auto d = host::find_firmware_descriptor(code_file, dirs);
  if (d && std::find(d->features.begin(), d->features.end(), "requires-smm") != d->features.end())
    return fail("{}: the firmware '{}' needs SMM (its descriptor {} lists requires-smm), which altovirt does not "
                "emulate; use the image without SMM, e.g. /usr/share/OVMF/OVMF_CODE_4M.fd",
                option, code_file, d->path);
  return ok();
}

}  // namespace altovirt::tool
