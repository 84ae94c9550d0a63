// Vendor, device and class names from the pci.ids database through libpci (pci_lookup_name), the same
// names lspci prints. An id missing from the database reads "Device 10d3" / "Vendor 8086" as lspci's.
//
// Threading: not synchronised (libpci's pci_access caches names without locking); one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

struct pci_access;

namespace altovirt::host {

class PciNames {
 public:
  // `ids_file` overrides libpci's default database (unit tests use a small one); "" keeps the default.
  explicit PciNames(const std::string& ids_file = "");
  ~PciNames();
  PciNames(const PciNames&) = delete;
  PciNames& operator=(const PciNames&) = delete;

  std::string vendor(uint16_t vendor);
  std::string device(uint16_t vendor, uint16_t device);
  // Class name from the 24-bit class code: the subclass name ("Ethernet controller"), else the base
  // class name, else "Class 0200".
  std::string class_name(uint32_t class_code);

 private:
  pci_access* access_;
  int extra_flags_ = 0;
};

}  // namespace altovirt::host
