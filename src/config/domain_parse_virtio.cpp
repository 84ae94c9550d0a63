// The domain XML parser's virtio elements: <disk> (virtio-blk), <controller type='virtio-serial'>,
// <console> with a virtio target, and <iothreads>.
#include <algorithm>
#include <cctype>

#include "domain_parser.h"

namespace altovirt::config::detail {
namespace {

// QEMU's option lists split at ','; altovirt takes paths as they are, so a path with a comma cannot
// be written into -drive file=.
bool has_comma(std::string_view s) { return s.find(',') != std::string_view::npos; }

bool valid_alias(std::string_view a) {
  return !a.empty() && std::isalpha(static_cast<unsigned char>(a[0])) && std::all_of(a.begin(), a.end(), [](char ch) {
           return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_';
         });
}

}  // namespace

std::optional<uint32_t> Parser::boot_order_of(pugi::xml_node child, std::string_view cloc) {
  check_attrs(child, cloc, {"order", "loadparm"});
  check_no_children(child, cloc);
  auto n = number_attr(child, cloc, "order", 65535);
  if (!n) return std::nullopt;
  if (*n == 0) {
    problem(child, cloc, "order='0': boot orders start at 1 (the lowest boots first)");
    return std::nullopt;
  }
  return static_cast<uint32_t>(*n);
}

std::string Parser::alias_of(pugi::xml_node child, std::string_view cloc) {
  check_attrs(child, cloc, {"name"});
  check_no_children(child, cloc);
  std::string alias = child.attribute("name").value();
  // The alias becomes a device id on altovirt's command line and in QMP, whose ids (like QEMU's)
  // start with a letter and continue with letters, digits, '-', '.', '_'.
  if (!valid_alias(alias)) {
    problem(child, cloc, fmt::format("alias name '{}' must start with a letter and contain only letters, digits, '-', '.', '_'", alias));
    return {};
  }
  return alias;
}

bool Parser::placement_child(pugi::xml_node child, std::string_view cloc, std::string& alias,
                             std::optional<GuestPciAddress>& address) {
  std::string_view cn = child.name();
  if (cn == "alias") {
    alias = alias_of(child, cloc);
    return true;
  }
  if (cn == "address") {
    if (auto a = guest_address(child, cloc)) address = a;
    return true;
  }
  return false;
}

void Parser::parse_iothreads(pugi::xml_node node, std::string_view loc) {
  if (!first_of_its_name(node, loc)) return;
  check_attrs(node, loc, {});
  check_no_children(node, loc);
  auto n = parse_decimal(node.text().get());
  // One host thread each; a handful is all a VM of altovirt's size can use (QEMU has no fixed limit).
  if (!n || *n > 64) {
    problem(node, loc, fmt::format("'{}' is not a number of I/O threads from 0 to 64", node.text().get()));
    return;
  }
  parsed.config.iothreads = static_cast<uint32_t>(*n);
}

void Parser::parse_disk(pugi::xml_node node, const std::string& loc) {
  std::string_view type = node.attribute("type").value();
  std::string_view device = node.attribute("device").value();
  std::string where = loc + describe(node);
  if ((type != "file" && type != "block") || (!device.empty() && device != "disk")) {
    problem(node, where, "only <disk type='file'|'block' device='disk'> (a virtio-blk disk over a raw image) is supported");
    return;
  }
  check_attrs(node, loc, {"type", "device"});
  Disk d;
  d.type = type == "file" ? Disk::Type::file : Disk::Type::block;
  bool ok = true;
  bool have_target = false;
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "driver") {
      check_attrs(child, cloc, {"name", "type", "cache", "io", "iothread", "discard"});
      check_no_children(child, cloc);
      if (auto n = child.attribute("name"); n && std::string_view(n.value()) != "qemu") {
        problem(child, cloc, fmt::format("name='{}' is not supported (use 'qemu', libvirt's name for the built-in block driver)", n.value()));
        ok = false;
      }
      if (auto f = child.attribute("type"); f && std::string_view(f.value()) != "raw") {
        problem(child, cloc, fmt::format("type='{}' is not supported: altovirt reads raw images only (convert with "
                                         "`qemu-img convert -O raw IMAGE IMAGE.raw`)", f.value()));
        ok = false;
      }
      if (auto c = child.attribute("cache")) {
        std::string_view v = c.value();
        if (v == "none") d.cache = Disk::Cache::none;
        else if (v == "writeback") d.cache = Disk::Cache::writeback;
        else {
          problem(child, cloc, fmt::format("cache='{}' is not supported (use none or writeback)", v));
          ok = false;
        }
      }
      if (auto io = child.attribute("io")) {
        std::string_view v = io.value();
        if (v == "io_uring") d.io = Disk::Io::io_uring;
        else if (v == "threads") d.io = Disk::Io::threads;
        else if (v == "native") {
          d.io = Disk::Io::io_uring;
          warn(child, cloc, "io='native' (Linux AIO) runs on io_uring, altovirt's asynchronous I/O");
        } else {
          problem(child, cloc, fmt::format("io='{}' is not supported (use io_uring, threads or native)", v));
          ok = false;
        }
      }
      if (auto dc = child.attribute("discard")) {
        std::string_view v = dc.value();
        if (v == "unmap") d.discard = true;
        else if (v == "ignore") d.discard = false;
        else {
          problem(child, cloc, fmt::format("discard='{}' is not supported (use unmap or ignore)", v));
          ok = false;
        }
      }
      if (child.attribute("iothread")) {
        auto t = number_attr(child, cloc, "iothread", 64);
        if (!t || *t == 0) {
          if (t) problem(child, cloc, "iothread='0' does not exist: I/O threads are numbered from 1");
          ok = false;
        } else {
          d.iothread = static_cast<uint32_t>(*t);
        }
      }
    } else if (cn == "source") {
      const char* attr = d.type == Disk::Type::file ? "file" : "dev";
      check_attrs(child, cloc, {attr});
      check_no_children(child, cloc);
      d.source = child.attribute(attr).value();
      if (d.source.empty()) {
        problem(child, cloc, fmt::format("<source {}='/path/to/{}'/> is missing its {}", attr, d.type == Disk::Type::file ? "image" : "device", attr));
        ok = false;
      } else if (has_comma(d.source)) {
        problem(child, cloc, fmt::format("path '{}' contains a comma, which altovirt's -drive option cannot carry", d.source));
        ok = false;
      }
    } else if (cn == "target") {
      check_attrs(child, cloc, {"dev", "bus"});
      check_no_children(child, cloc);
      have_target = true;
      d.target = child.attribute("dev").value();
      if (auto bus = child.attribute("bus"); std::string_view(bus.value()) != "virtio") {
        problem(child, cloc, fmt::format("bus='{}' is not supported: altovirt's disks are virtio-blk (bus='virtio')", bus.value()));
        ok = false;
      }
      if (d.target.empty()) {
        problem(child, cloc, "dev is missing (e.g. dev='vda')");
        ok = false;
      }
    } else if (cn == "readonly") {
      check_attrs(child, cloc, {});
      check_no_children(child, cloc);
      d.readonly = true;
    } else if (cn == "serial") {
      check_attrs(child, cloc, {});
      check_no_children(child, cloc);
      d.serial = child.text().get();
      // virtio 1.2 section 5.2.6: GET_ID returns at most 20 bytes; ',' would end the -device option.
      if (d.serial.size() > 20 || has_comma(d.serial) ||
          !std::all_of(d.serial.begin(), d.serial.end(), [](char ch) { return std::isgraph(static_cast<unsigned char>(ch)); })) {
        problem(child, cloc, fmt::format("serial '{}' must be at most 20 printable characters without spaces or commas", d.serial));
        ok = false;
      }
    } else if (cn == "iotune") {
      check_attrs(child, cloc, {});
      for (auto t : child.children()) {
        if (t.type() != pugi::node_element) continue;
        std::string_view tn = t.name();
        std::string tloc = location(cloc, t, false);
        uint64_t* field = tn == "total_iops_sec"    ? &d.iotune.total_iops_sec
                          : tn == "read_iops_sec"   ? &d.iotune.read_iops_sec
                          : tn == "write_iops_sec"  ? &d.iotune.write_iops_sec
                          : tn == "total_bytes_sec" ? &d.iotune.total_bytes_sec
                          : tn == "read_bytes_sec"  ? &d.iotune.read_bytes_sec
                          : tn == "write_bytes_sec" ? &d.iotune.write_bytes_sec
                                                    : nullptr;
        if (!field) {
          unsupported(cloc, t, false);
          ok = false;
          continue;
        }
        check_attrs(t, tloc, {});
        auto v = parse_decimal(t.text().get());
        if (!v) {
          problem(t, tloc, fmt::format("'{}' is not a decimal number", t.text().get()));
          ok = false;
          continue;
        }
        *field = *v;
      }
      // libvirt's rule (virDomainDiskIoTuneValidate): a total limit excludes the read/write ones.
      const IoTune& io = d.iotune;
      if ((io.total_iops_sec && (io.read_iops_sec || io.write_iops_sec)) ||
          (io.total_bytes_sec && (io.read_bytes_sec || io.write_bytes_sec))) {
        problem(child, cloc, "a total_* limit cannot be combined with read_*/write_* limits of the same kind");
        ok = false;
      }
    } else if (cn == "address") {
      if (auto a = guest_address(child, cloc)) d.address = a;
      else ok = false;
    } else if (cn == "alias") {
      d.alias = alias_of(child, cloc);
      if (d.alias.empty()) ok = false;
    } else if (cn == "boot") {
      d.boot_order = boot_order_of(child, cloc);
      if (!d.boot_order) ok = false;
    } else {
      unsupported(loc, child, false);
      ok = false;
    }
  }
  if (d.source.empty() && ok) {
    problem(node, where, fmt::format("<source {}=.../> is missing", d.type == Disk::Type::file ? "file" : "dev"));
    ok = false;
  }
  if (!have_target) {
    problem(node, where, "<target dev='vda' bus='virtio'/> is missing");
    ok = false;
  }
  if (ok) {
    disk_nodes_.push_back(node);
    parsed.config.disks.push_back(d);
  }
}

void Parser::parse_virtio_serial(pugi::xml_node node, const std::string& loc) {
  // ports and vectors size the device; altovirt's has the console port only (no MULTIPORT).
  check_attrs(node, loc, {"type", "index", "ports", "vectors", "model"});
  if (auto m = node.attribute("model"); m && std::string_view(m.value()) != "virtio")
    problem(node, loc, fmt::format("model='{}' is not supported (use virtio)", m.value()));
  VirtioSerialController ctl;
  auto index = number_attr(node, loc, "index", 0xff, false);
  if (node.attribute("index") && !index) return;
  ctl.index = static_cast<uint32_t>(index.value_or(0));
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "alias") {
      ctl.alias = alias_of(child, cloc);
    } else if (cn == "address") {
      if (auto a = guest_address(child, cloc)) ctl.address = a;
    } else {
      unsupported(loc, child, false);
    }
  }
  for (const auto& other : parsed.config.virtio_serials)
    if (other.index == ctl.index) {
      problem(node, loc + describe(node), fmt::format("index {} is used by another virtio-serial controller", ctl.index));
      return;
    }
  virtio_serial_nodes_.push_back(node);
  parsed.config.virtio_serials.push_back(ctl);
}

void Parser::parse_virtio_console(pugi::xml_node node, const std::string& loc) {
  DomainConfig& c = parsed.config;
  std::string where = loc + describe(node);
  if (c.virtio_console) {
    problem(node, where, "only one virtio console (port 0) is supported");
    return;
  }
  check_attrs(node, loc, {"type", "tty"});
  if (std::string_view(node.attribute("type").value()) != "pty") {
    problem(node, where, "a virtio console must be type='pty' (altoctl console attaches to it)");
    return;
  }
  VirtioConsole con;
  bool ok = true;
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "source") {
      // A running domain's XML names the pty in <source path=.../>; it is output, not a request.
      check_attrs(child, cloc, {"path"});
    } else if (cn == "target") {
      check_attrs(child, cloc, {"type", "port"});
      check_no_children(child, cloc);
      if (auto p = child.attribute("port"); p && parse_c_uint(p.value()) != 0u) {
        problem(child, cloc, fmt::format("port='{}' is not supported (the virtio console is port 0)", p.value()));
        ok = false;
      }
    } else if (cn == "alias") {
      con.alias = alias_of(child, cloc);
      if (con.alias.empty()) ok = false;
    } else if (cn == "address") {
      // <address type='virtio-serial' controller='0' bus='0' port='0'/>: the one place it can be.
      check_attrs(child, cloc, {"type", "controller", "bus", "port"});
      for (const char* a : {"controller", "bus", "port"})
        if (auto v = child.attribute(a); v && parse_c_uint(v.value()) != 0u) {
          problem(child, cloc, fmt::format("{}='{}' is not supported (the console is port 0 of virtio-serial controller 0)", a, v.value()));
          ok = false;
        }
      if (std::string_view(child.attribute("type").value()) != "virtio-serial") {
        problem(child, cloc, "only type='virtio-serial' addresses a virtio console");
        ok = false;
      }
    } else {
      unsupported(loc, child, false);
      ok = false;
    }
  }
  if (ok) c.virtio_console = con;
}

}  // namespace altovirt::config::detail
