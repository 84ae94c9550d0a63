// `altoctl edit NAME`: the defined XML goes to a temporary file, $VISUAL/$EDITOR (else vi) edits it,
// and the result replaces the definition only when it is valid; on an error the old definition
// stays and the edited file is kept for another try (virsh asks "Try again?"; altoctl is not
// interactive past the editor, so it says where the edit is).
//
// check_edit() is the validation path: the edited text must parse as a domain XML (every problem
// named, as `define` reports them), keep the domain's name (a rename would leave the old record
// behind; undefine and define under the new name instead), and pass the checks `start` makes
// (elements altovirt cannot run yet). A UUID dropped by the edit is kept from the old definition.
//
// Threading: stateless functions.
#pragma once

#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/config/domain.h"

namespace altoctl {

struct CheckedEdit {
  altovirt::config::DomainConfig config;  // what gets defined
  std::vector<std::string> warnings;      // elements that were skipped
};

altovirt::Result<CheckedEdit> check_edit(const std::string& name, const altovirt::config::DomainConfig& old_config,
                                         const std::string& edited_xml, const std::string& source);

}  // namespace altoctl
