// Internal to the config layer: the domain XML parser's state and helpers, shared by
// domain_parser.cpp (reporting, values), domain_parse.cpp (top-level elements, cross-checks) and
// domain_parse_devices.cpp (<devices>).
//
// Threading: a Parser is used by one thread for one document.
#pragma once

#include <pugixml.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "altovirt/config/domain.h"

namespace altovirt::config::detail {

std::string_view trim(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
// An unsigned number as libvirt reads PCI address parts: strtoul with base 0, i.e. "0x1f" is hex,
// "017" is octal and "17" decimal (virXMLPropUInt(..., 0, ...) in libvirt's virpci address parser).
std::optional<uint64_t> parse_c_uint(std::string_view text);
std::optional<uint64_t> parse_decimal(std::string_view text);
// Bytes per unit of libvirt's memory units; nullopt for an unknown unit.
std::optional<uint64_t> memory_unit_bytes(std::string_view unit);
// Why an element is not supported, for elements users commonly carry over from QEMU/libvirt VMs.
std::string_view unsupported_reason(std::string_view parent, std::string_view name);

// One document's parse: walks the elements, fills `parsed`, and collects `problems` with their
// lines instead of stopping at the first.
class Parser {
 public:
  explicit Parser(std::string_view xml);

  size_t line_of(ptrdiff_t offset) const;

  // Byte offset of the first character of a line (1-based).
  size_t line_start(size_t line) const { return line_starts_[line - 1]; }

  ParsedDomain parsed;
  std::string host_arch;  // the architecture this host runs guests of (config::host_arch())

  std::vector<std::pair<size_t, std::string>> problems;  // (line, message)

  void problem(pugi::xml_node node, std::string_view location, std::string_view text);

  void warn(pugi::xml_node node, std::string_view location, std::string_view text);

  // "devices/disk[1] (type='file', device='disk', target hda)": the element's path, its position
  // among siblings of the same name where it can repeat, and the attributes that tell it apart.
  static std::string location(std::string_view parent, pugi::xml_node node, bool indexed);

  static std::string describe(pugi::xml_node node);

  void unsupported(std::string_view parent, pugi::xml_node node, bool indexed);

  void skip(std::string_view parent, pugi::xml_node node, bool indexed, std::string_view why);

  // Reports every attribute of `node` that is not in `allowed` (namespace declarations aside).
  void check_attrs(pugi::xml_node node, std::string_view loc, std::initializer_list<std::string_view> allowed);

  // Reports every child element; for elements that must be empty.
  void check_no_children(pugi::xml_node node, std::string_view loc);

  // The first occurrence of a singleton element; later ones are problems.
  bool first_of_its_name(pugi::xml_node node, std::string_view loc);

  std::optional<uint64_t> number_attr(pugi::xml_node node, std::string_view loc, const char* attr, uint64_t max,
                                      bool required = true);

  // <address domain bus slot function/> of a host device's <source>.
  std::optional<HostPciAddress> host_address(pugi::xml_node node, std::string_view loc);

  // A guest <address type='pci' .../>.
  std::optional<GuestPciAddress> guest_address(pugi::xml_node node, std::string_view loc);

  void parse(pugi::xml_node domain);

  std::optional<uint64_t> memory_kib(pugi::xml_node node, std::string_view loc);

  void parse_vcpu(pugi::xml_node node, std::string_view loc);
  void parse_memory_backing(pugi::xml_node node, std::string_view loc);

  void parse_os(pugi::xml_node os);

  void parse_features(pugi::xml_node features);

  void parse_clock(pugi::xml_node clock);

  void parse_devices(pugi::xml_node devices);

  std::optional<Serial> char_source(pugi::xml_node node, std::string_view loc);

  void parse_serial(pugi::xml_node node, const std::string& loc);

  void parse_console(pugi::xml_node node, const std::string& loc);

  void parse_controller(pugi::xml_node node, const std::string& loc);

  void parse_hostdev(pugi::xml_node node, const std::string& loc);

  // domain_parse_virtio.cpp: virtio-blk disks, the virtio-serial controller and console, I/O threads.
  void parse_disk(pugi::xml_node node, const std::string& loc);

  void parse_virtio_serial(pugi::xml_node node, const std::string& loc);

  void parse_virtio_console(pugi::xml_node node, const std::string& loc);

  void parse_iothreads(pugi::xml_node node, std::string_view loc);
  // domain_parse_net.cpp: <interface type='ethernet'|'bridge'> (virtio-net on a tap).
  void parse_interface(pugi::xml_node node, const std::string& loc);

  // domain_parse_guest.cpp: <rng>, <memballoon model='virtio'>, <vsock>.
  void parse_rng(pugi::xml_node node, const std::string& loc);
  void parse_memballoon(pugi::xml_node node, const std::string& loc);
  void parse_vsock(pugi::xml_node node, const std::string& loc);

  // domain_parse_display.cpp: <graphics type='vnc'>, <video>, <input bus='virtio'>.
  void parse_graphics(pugi::xml_node node, const std::string& loc);
  void parse_video(pugi::xml_node node, const std::string& loc);
  void parse_input(pugi::xml_node node, const std::string& loc);

  // A device's <alias name=.../> or guest <address type='pci' .../> child into `alias` / `address`;
  // false when `child` is neither (the caller reports it).
  bool placement_child(pugi::xml_node child, std::string_view cloc, std::string& alias,
                       std::optional<GuestPciAddress>& address);
  // The name of an <alias name=.../> that is valid as a device id; empty (and a problem) otherwise.
  std::string alias_of(pugi::xml_node child, std::string_view cloc);
  // The N of a device's <boot order='N'/> (1 and up); nullopt (and a problem) otherwise.
  std::optional<uint32_t> boot_order_of(pugi::xml_node child, std::string_view cloc);

  // Rules that involve several elements.
  void validate(pugi::xml_node domain);
  void validate_boot_order(pugi::xml_node domain);

 private:
  std::vector<size_t> line_starts_;
  std::vector<pugi::xml_node> hostdev_nodes_;
  std::vector<pugi::xml_node> disk_nodes_;
  std::vector<pugi::xml_node> interface_nodes_;
  std::vector<pugi::xml_node> virtio_serial_nodes_;
  // Other devices with an optional guest address and alias, checked together in validate().
  struct Placed {
    pugi::xml_node node;
    std::optional<GuestPciAddress> address;
    std::string alias;
  };
  std::vector<Placed> placed_;
};

}  // namespace altovirt::config::detail
