// The firmware descriptors QEMU's firmware.json schema defines (/usr/share/qemu/firmware/*.json,
// /etc/qemu/firmware/*.json; Debian's ovmf package installs them) say what each image needs. altovirt
// emulates no SMM, so an image whose descriptor lists "requires-smm" (Debian's OVMF_CODE_4M.secboot.fd
// and the .ms/.snakeoil links to it) would stop in its first phase; it is refused before start.
#pragma once

#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/host/firmware_descriptor.h"

namespace altovirt::tool {

// `option` names the -drive in the message. `dirs`: where descriptors are looked for.
Status check_firmware_descriptor(const std::string& code_file, const std::string& option,
                                 const std::vector<std::string>& dirs = host::firmware_descriptor_dirs());

}  // namespace altovirt::tool
