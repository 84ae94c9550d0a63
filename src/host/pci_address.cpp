#include "altovirt/host/pci_address.h"

#include <charconv>
#include <optional>

#include <fmt/format.h>

namespace altovirt::host {

std::string PciAddress::str() const { return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", domain, bus, slot, function); }

std::string PciAddress::node_name() const {
  return fmt::format("pci_{:04x}_{:02x}_{:02x}_{:x}", domain, bus, slot, function);
}

namespace {

// Exactly `digits` hexadecimal digits (sysfs always prints them zero-padded).
std::optional<uint32_t> hex_field(std::string_view s, size_t min_digits, size_t max_digits) {
  if (s.size() < min_digits || s.size() > max_digits) return std::nullopt;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "DDDD:BB:SS.F" or "BB:SS.F" with the given separators.
std::optional<PciAddress> parse_form(std::string_view s, char sep, char fn_sep) {
  PciAddress a;
  auto last = s.rfind(fn_sep);
  if (last == std::string_view::npos) return std::nullopt;
  auto fn = hex_field(s.substr(last + 1), 1, 1);
  s = s.substr(0, last);
  auto p2 = s.rfind(sep);
  if (p2 == std::string_view::npos) return std::nullopt;
  auto slot = hex_field(s.substr(p2 + 1), 1, 2);
  s = s.substr(0, p2);
  std::optional<uint32_t> bus, domain = 0;
  auto p1 = s.rfind(sep);
  if (p1 == std::string_view::npos) {
    bus = hex_field(s, 1, 2);
  } else {
    bus = hex_field(s.substr(p1 + 1), 1, 2);
    domain = hex_field(s.substr(0, p1), 4, 4);
  }
  // Device numbers are 5 bits and function numbers 3 bits (PCI Local Bus spec, configuration address).
  if (!fn || !slot || !bus || !domain || *fn > 7 || *slot > 31) return std::nullopt;
  a.domain = *domain;
  a.bus = static_cast<uint8_t>(*bus);
  a.slot = static_cast<uint8_t>(*slot);
  a.function = static_cast<uint8_t>(*fn);
  return a;
}

}  // namespace

Result<PciAddress> parse_pci_address(std::string_view text) {
  std::optional<PciAddress> a;
  if (text.starts_with("pci_")) {
    // virsh always spells the domain: pci_DDDD_BB_SS_F.
    std::string_view rest = text.substr(4);
    if (rest.size() == 12) a = parse_form(rest, '_', '_');
  } else {
    a = parse_form(text, ':', '.');
  }
  if (!a)
    return fail("'{}' is not a PCI device name (use a PCI address such as 0000:03:00.0 or 03:00.0, or a "
                "node-device name such as pci_0000_03_00_0; see 'altoctl nodedev-list')",
                text);
  return *a;
}

}  // namespace altovirt::host
