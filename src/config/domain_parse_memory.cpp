// <memoryBacking> (https://libvirt.org/formatdomain.html#memory-backing): the parts altovirt
// implements (hugepages of one size, immediate allocation) and the ones it accepts without effect
// (nosharepages, locked: see README); anything else is refused by name.
#include "altovirt/config/domain.h"
#include "domain_parser.h"

namespace altovirt::config::detail {

void Parser::parse_memory_backing(pugi::xml_node node, std::string_view loc) {
  check_attrs(node, loc, {});
  MemoryBacking m;
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string cloc = location(loc, child, false);
    std::string_view n = child.name();
    if (n == "hugepages") {
      if (!first_of_its_name(child, cloc)) continue;
      check_attrs(child, cloc, {});
      m.hugepages = true;
      bool have_page = false;
      for (auto page : child.children()) {
        if (page.type() != pugi::node_element) continue;
        std::string ploc = location(cloc, page, false);
        if (std::string_view(page.name()) != "page") {
          unsupported(cloc, page, false);
          continue;
        }
        if (have_page) {
          problem(page, ploc, "altovirt backs all guest RAM with one page size: give one <page>");
          continue;
        }
        have_page = true;
        check_attrs(page, ploc, {"size", "unit"});  // nodeset: altovirt has no guest NUMA nodes
        check_no_children(page, ploc);
        // libvirt: unit defaults to KiB here.
        std::string_view unit = page.attribute("unit").value();
        auto scale = memory_unit_bytes(unit.empty() ? "KiB" : unit);
        auto size = parse_decimal(page.attribute("size").value());
        if (!scale || !size || *size == 0) {
          problem(page, ploc, fmt::format("size='{}' unit='{}' is not a page size (e.g. size='2' unit='M' or "
                                          "size='1' unit='G')", page.attribute("size").value(), unit));
          continue;
        }
        uint64_t bytes = *size * *scale;
        if (bytes != 2 * 1024 * 1024 && bytes != 1024 * 1024 * 1024) {
          problem(page, ploc, fmt::format("{} KiB pages are not x86 hugepages: use 2 MiB (size='2' unit='M') or 1 GiB "
                                          "(size='1' unit='G')", bytes / 1024));
          continue;
        }
        m.page_kib = bytes / 1024;
      }
    } else if (n == "nosharepages" || n == "locked") {
      if (!first_of_its_name(child, cloc)) continue;
      check_attrs(child, cloc, {});
      check_no_children(child, cloc);
      (n == "locked" ? m.locked : m.nosharepages) = true;
    } else if (n == "allocation") {
      if (!first_of_its_name(child, cloc)) continue;
      check_attrs(child, cloc, {"mode"});  // threads=: altovirt faults pages in from one thread
      check_no_children(child, cloc);
      std::string_view mode = child.attribute("mode").value();
      if (mode == "immediate") m.prealloc = true;
      else if (mode != "ondemand" && !mode.empty())
        problem(child, cloc, fmt::format("mode='{}' is unknown (immediate or ondemand)", mode));
    } else {
      unsupported(loc, child, false);
    }
  }
  parsed.config.memory_backing = m;
}

}  // namespace altovirt::config::detail
