// QEMU's firmware descriptors (docs/interop/firmware.json: $XDG_CONFIG_HOME/qemu/firmware,
// /etc/qemu/firmware and /usr/share/qemu/firmware, in that priority; Debian's ovmf and
// qemu-efi-aarch64 packages install theirs in the last): for a
// firmware image, what it needs (features such as requires-smm) and the variable store template
// that belongs to it (mapping.nvram-template), which libvirt copies for a domain whose <loader> has
// no <nvram>.
//
// Threading: pure functions of the files.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace altovirt::host {

// The directories, the user's first ($XDG_CONFIG_HOME, else $HOME/.config, when set).
std::vector<std::string> firmware_descriptor_dirs();

struct FirmwareDescriptor {
  std::string path;                   // the descriptor file
  std::vector<std::string> features;  // e.g. "requires-smm", "secure-boot"
  std::string nvram_template;         // "" when it names none
};

// The first descriptor (by directory, then file name, as QEMU orders them) whose executable is
// `code_file` (the same file, through links). Unreadable or malformed descriptors are skipped:
// QEMU's own tools report those.
std::optional<FirmwareDescriptor> find_firmware_descriptor(const std::string& code_file,
                                                           const std::vector<std::string>& dirs = firmware_descriptor_dirs());

}  // namespace altovirt::host
