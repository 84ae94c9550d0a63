// The -chardev backends of one altovirt process.
//
// They are opened once, before the first machine is built, and live as long as the process: a guest
// reset builds the machine again (tools/altovirt/main.cpp), and a console's pty, whose path altoctl's
// supervisor and the user's terminal hold, must outlive it exactly as the serial port's backend
// does; a file backend must not be reopened (and truncated) on every reset either.
//
// Threading: opened and looked up on the main thread (machine builds run there); the backends
// themselves follow CharBackend's contract.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/devices/char_backend.h"
#include "altovirt/vmm/options.h"

namespace altovirt::vmm {

class Chardevs {
 public:
  Chardevs() = default;
  // Opens every -chardev; the error names the option.
  static Result<Chardevs> open(const std::vector<ChardevSpec>& specs);
  // The backend of `-chardev ...,id=ID`, or nullptr.
  std::shared_ptr<devices::CharBackend> find(std::string_view id) const;
  // True only the first time it is asked for `id`: a pty's path is announced once per process,
  // not again on every guest reset.
  bool first_announcement(std::string_view id);

 private:
  std::map<std::string, std::shared_ptr<devices::CharBackend>, std::less<>> backends_;
  std::set<std::string, std::less<>> announced_;
};

}  // namespace altovirt::vmm
