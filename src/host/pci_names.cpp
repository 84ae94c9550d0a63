#include "altovirt/host/pci_names.h"

#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

extern "C" {
#include <pci/pci.h>
}

#include "altovirt/base/log.h"

namespace altovirt::host {

namespace {

// libpci's default error handler exits the process; a missing or broken pci.ids must only cost names.
void pci_message(char* msg, ...) {
  va_list ap;
  va_start(ap, msg);
  char buf[512];
  vsnprintf(buf, sizeof buf, msg, ap);
  va_end(ap);
  log::debug("pci-names", "libpci: {}", buf);
}

// libpci declares its error handler noreturn and does not expect it back (it calls it for fatal
// conditions such as its allocator failing, and carries on as if it had exited): returning from it
// would be undefined. Without pci_init() it is reached only on out-of-memory.
__attribute__((noreturn)) void pci_fatal(char* msg, ...) {  // GNU form: part of the function type
  va_list ap;
  va_start(ap, msg);
  char buf[512];
  vsnprintf(buf, sizeof buf, msg, ap);
  va_end(ap);
  log::error("pci-names", "libpci: fatal: {}", buf);
  std::abort();
}

}  // namespace

PciNames::PciNames(const std::string& ids_file) : access_(pci_alloc()) {
  access_->error = pci_fatal;
  access_->warning = pci_message;
  access_->debug = pci_message;
  if (!ids_file.empty()) {
    // libpci keeps the pointer (and frees it, to_be_freed=1): give it its own copy.
    pci_set_name_list_path(access_, ::strdup(ids_file.c_str()), 1);
    // udev's hwdb would answer first and bypass the given file.
    extra_flags_ = PCI_LOOKUP_NO_HWDB;
  }
  // No pci_init(): names need only the database, not access to the hardware.
}

PciNames::~PciNames() { pci_cleanup(access_); }

std::string PciNames::vendor(uint16_t vendor) {
  char buf[256];
  const char* n = pci_lookup_name(access_, buf, sizeof buf, PCI_LOOKUP_VENDOR | PCI_LOOKUP_NO_NUMBERS | extra_flags_, vendor);
  return n ? std::string(n) : fmt::format("Vendor {:04x}", vendor);
}

std::string PciNames::device(uint16_t vendor, uint16_t device) {
  char buf[256];
  const char* n =
      pci_lookup_name(access_, buf, sizeof buf, PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS | extra_flags_, vendor, device);
  return n ? std::string(n) : fmt::format("Device {:04x}", device);
}

std::string PciNames::class_name(uint32_t class_code) {
  char buf[256];
  const char* n = pci_lookup_name(access_, buf, sizeof buf, PCI_LOOKUP_CLASS | PCI_LOOKUP_NO_NUMBERS | extra_flags_,
                                  static_cast<int>(class_code >> 8));
  if (n) return n;
  return fmt::format("Class {:04x}", class_code >> 8);
}

}  // namespace altovirt::host
