// One device element added to or taken from a domain: what `altoctl attach-device` and
// `detach-device` read (virsh's FILE: one <hostdev>, <disk> or <interface> element).
//
// add_device() validates the element as part of the domain it joins, so every rule of the domain
// parser holds (addresses on existing root ports, no slot used twice, valid aliases); a problem is
// reported at its line in the device's own file. find_device() names the device of a domain that
// an element means, with virsh's matching rules: a <hostdev> by its host <source> address, a <disk>
// by <target dev>, an <interface> by <mac address> (or, without one, the domain's only NIC).
//
// Threading: stateless functions; safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/config/domain.h"

namespace altovirt::config {

enum class DeviceElement { hostdev, disk, interface };

std::string_view element_name(DeviceElement kind);

struct AddedDevice {
  DeviceElement kind = DeviceElement::hostdev;
  DomainConfig config;                // the domain with the device: the last of its kind
  std::vector<std::string> warnings;  // what the parser skipped
};

// `base` with the element of `device_xml` (named `source` in messages) appended to its devices.
Result<AddedDevice> add_device(const DomainConfig& base, std::string_view device_xml, std::string_view source);

struct FoundDevice {
  DeviceElement kind = DeviceElement::hostdev;
  size_t index = 0;  // into base.hostdevs, base.disks or base.interfaces
};

// The device of `base` that `device_xml` names; an error names what was looked for when none does.
Result<FoundDevice> find_device(const DomainConfig& base, std::string_view device_xml, std::string_view source);

// `base` without the device `found` names.
DomainConfig remove_device(const DomainConfig& base, const FoundDevice& found);

}  // namespace altovirt::config
