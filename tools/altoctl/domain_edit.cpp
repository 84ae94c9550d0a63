#include "domain_edit.h"

#include <fmt/format.h>

#include "vm_args.h"
#include "vm_store.h"

namespace altoctl {

using namespace altovirt;

Result<CheckedEdit> check_edit(const std::string& name, const config::DomainConfig& old_config,
                               const std::string& edited_xml, const std::string& source) {
  AV_TRY_ASSIGN(auto parsed, config::parse_domain_xml(edited_xml, source));
  config::DomainConfig& c = parsed.config;
  if (c.name != name)
    return fail("{}: <name> changed from '{}' to '{}'; edit cannot rename a domain (define the new name from "
                "`altoctl dumpxml {}` and undefine the old one)",
                source, name, c.name, name);
  AV_TRY(check_vm_name(c.name));
  if (!c.uuid) c.uuid = old_config.uuid;
  if (old_config.uuid && c.uuid != old_config.uuid)
    return fail("{}: <uuid> changed from {} to {}; a domain keeps its UUID", source, *old_config.uuid, *c.uuid);
  AV_TRY(check_runnable(c));
  return CheckedEdit{std::move(c), std::move(parsed.warnings)};
}

}  // namespace altoctl
