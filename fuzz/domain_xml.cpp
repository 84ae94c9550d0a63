// Fuzz target: the libvirt domain XML parser (src/config), which reads files a user hands to
// `altoctl create/define/edit`. On a document it accepts, the documented round trip must hold
// (parse_domain_xml(to_xml(c)).config == c), and the guest address assignment and the translation
// to altovirt's command line must not fail in any way but an error value.
#include <cstdio>
#include <string_view>

#include "altovirt/base/log.h"
#include "altovirt/config/domain.h"

using namespace altovirt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  log::set_level(log::Level::error);
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto parsed = config::parse_domain_xml(xml, "fuzz.xml");
  if (!parsed) return 0;
  const config::DomainConfig& c = parsed->config;
  std::string again = config::to_xml(c);
  auto reparsed = config::parse_domain_xml(again, "to_xml output");
  if (!reparsed) {
    std::fprintf(stderr, "to_xml output does not parse: %s\n%s\n", reparsed.error().message().c_str(), again.c_str());
    __builtin_trap();
  }
  if (!(reparsed->config == c)) {
    std::fprintf(stderr, "to_xml round trip changed the domain:\n%s\n", again.c_str());
    __builtin_trap();
  }
  (void)config::with_pci_addresses(c);
  (void)config::to_altovirt_args(c, config::RuntimePaths{"/run/altovirt/vms/fuzz/qmp.sock", "/tmp/fuzz.log"});
  return 0;
}
