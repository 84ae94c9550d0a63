#include "fake_kernel.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "altovirt/base/files.h"
#include "altovirt/host/pci_address.h"
#include "altovirt/host/pci_device.h"

namespace fs = std::filesystem;

namespace altovirt::host::testing {

namespace {

std::string make_temp_root() {
  std::string tmpl = (fs::temp_directory_path() / "altovirt-fakesys-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

void write_text(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

uint64_t parse_uint_fake(const std::string& s) { return std::stoull(s, nullptr, 16); }

std::string id_key(uint16_t v, uint16_t d) { return fmt::format("{:04x}:{:04x}", v, d); }

}  // namespace

FakeKernel::FakeKernel() : SysfsRoot(make_temp_root()) {
  fs::create_directories(path("/sys/bus/pci/devices"));
  fs::create_directories(path("/sys/bus/pci/drivers"));
  fs::create_directories(path("/sys/kernel/iommu_groups"));
  write_text(path("/sys/bus/pci/drivers_probe"), "");
}

FakeKernel::~FakeKernel() {
  std::error_code ec;
  fs::remove_all(root(), ec);
}

void FakeKernel::add_standard_host() {
  fs::create_directories(path("/sys/class/iommu/dmar0"));
  write_text(path("/proc/interrupts"), "  24:  0  IR-PCI-MSI 524288-edge  eth0\n");
  write_text(path("/dev/vfio/vfio"), "");
  write_text(path("/dev/kvm"), "");
  fs::create_directories(path("/sys/module/vfio"));
}

void FakeKernel::put_file(const std::string& host_path, const std::string& content) {
  write_text(path(host_path), content);
}

void FakeKernel::add_driver(const std::string& name) {
  fs::create_directories(path("/sys/bus/pci/drivers/" + name));
  write_text(path("/sys/bus/pci/drivers/" + name + "/bind"), "");
  write_text(path("/sys/bus/pci/drivers/" + name + "/unbind"), "");
}

void FakeKernel::set_default_driver(uint16_t vendor, uint16_t device, const std::string& driver) {
  default_drivers_[id_key(vendor, device)] = driver;
}

void FakeKernel::refuse_probe(const std::string& address, const std::string& driver) {
  refused_.insert({address, driver});
}

std::string FakeKernel::dev_dir(const std::string& address) const { return path("/sys/bus/pci/devices/" + address); }

void FakeKernel::add_device(const FakeDevice& d) {
  fs::path dir = dev_dir(d.address);
  fs::create_directories(dir);
  write_text(dir / "vendor", fmt::format("0x{:04x}\n", d.vendor));
  write_text(dir / "device", fmt::format("0x{:04x}\n", d.device));
  write_text(dir / "class", fmt::format("0x{:06x}\n", d.class_code));
  write_text(dir / "subsystem_vendor", fmt::format("0x{:04x}\n", d.vendor));
  write_text(dir / "subsystem_device", "0x0000\n");
  write_text(dir / "driver_override", "(null)\n");
  if (!d.reset_method.empty()) {
    write_text(dir / "reset", "");
    write_text(dir / "reset_method", d.reset_method + "\n");
  }
  if (d.group) {
    fs::path g = path(fmt::format("/sys/kernel/iommu_groups/{}/devices", *d.group));
    fs::create_directories(g);
    fs::create_symlink("../../../../bus/pci/devices/" + d.address, g / d.address);
    fs::create_symlink(fmt::format("../../../../kernel/iommu_groups/{}", *d.group), dir / "iommu_group");
  }
  if (d.totalvfs > 0) {
    write_text(dir / "sriov_totalvfs", fmt::format("{}\n", d.totalvfs));
    write_text(dir / "sriov_numvfs", "0\n");
    write_text(dir / "sriov_drivers_autoprobe", "1\n");
    write_text(dir / "sriov_vf_device", fmt::format("{:04x}\n", d.vf_device));
  }
  if (!d.driver.empty()) bind(d.address, d.driver);
}

std::string FakeKernel::read_attr(const std::string& address, const std::string& attr) const {
  return read_text(fs::path(dev_dir(address)) / attr);
}

std::string FakeKernel::driver_of(const std::string& address) const {
  std::error_code ec;
  auto t = fs::read_symlink(fs::path(dev_dir(address)) / "driver", ec);
  return ec ? std::string() : t.filename().string();
}

void FakeKernel::bind(const std::string& address, const std::string& driver) {
  fs::create_symlink("../../drivers/" + driver, fs::path(dev_dir(address)) / "driver");
  fs::create_symlink("../../devices/" + address, path("/sys/bus/pci/drivers/" + driver + "/" + address));
}

void FakeKernel::unbind(const std::string& address) {
  std::string drv = driver_of(address);
  if (drv.empty()) return;
  fs::remove(fs::path(dev_dir(address)) / "driver");
  fs::remove(path("/sys/bus/pci/drivers/" + drv + "/" + address));
}

bool FakeKernel::matches(const std::string& address, const std::string& driver) const {
  if (refused_.count({address, driver})) return false;
  if (!fs::exists(path("/sys/bus/pci/drivers/" + driver))) return false;
  std::string override_ = read_attr(address, "driver_override");
  // With driver_override set, only that driver matches (drivers/pci/pci-driver.c, pci_match_device()).
  if (override_ != "(null)") return override_ == driver;
  auto v = parse_uint_fake(read_attr(address, "vendor"));
  auto d = parse_uint_fake(read_attr(address, "device"));
  auto it = default_drivers_.find(id_key(static_cast<uint16_t>(v), static_cast<uint16_t>(d)));
  return it != default_drivers_.end() && it->second == driver;
}

Status FakeKernel::probe(const std::string& address) {
  if (!driver_of(address).empty()) return ok();
  std::string override_ = read_attr(address, "driver_override");
  fs::path physfn = fs::path(dev_dir(address)) / "physfn";
  // pci_device_can_probe(): a VF is probed only when its PF allows autoprobe or an override is set.
  if (fs::is_symlink(physfn) && override_ == "(null)") {
    std::string pf = fs::read_symlink(physfn).filename().string();
    if (read_attr(pf, "sriov_drivers_autoprobe") == "0") return ok();
  }
  std::string candidate;
  if (override_ != "(null)") {
    candidate = override_;
  } else {
    auto v = parse_uint_fake(read_attr(address, "vendor"));
    auto d = parse_uint_fake(read_attr(address, "device"));
    auto it = default_drivers_.find(id_key(static_cast<uint16_t>(v), static_cast<uint16_t>(d)));
    if (it != default_drivers_.end()) candidate = it->second;
  }
  if (!candidate.empty() && matches(address, candidate)) bind(address, candidate);
  return ok();
}

unsigned FakeKernel::next_group() const {
  unsigned next = 0;
  for (const auto& e : fs::directory_iterator(path("/sys/kernel/iommu_groups")))
    next = std::max(next, static_cast<unsigned>(std::stoul(e.path().filename().string())) + 1);
  return next;
}

Status FakeKernel::set_numvfs(const std::string& pf, unsigned n) {
  const fs::path dir = dev_dir(pf);
  unsigned total = static_cast<unsigned>(std::stoul(read_attr(pf, "sriov_totalvfs")));
  unsigned current = static_cast<unsigned>(std::stoul(read_attr(pf, "sriov_numvfs")));
  const std::string file = path(pci_device_dir(*parse_pci_address(pf)) + "/sriov_numvfs");
  if (n > total) return fail_errno(ERANGE, "writing '{}' to {}", n, file);
  if (n == current) return ok();
  // sriov_numvfs_store(): "n" VFs already enabled, disable them first.
  if (current != 0 && n != 0) return fail_errno(EBUSY, "writing '{}' to {}", n, file);
  if (n == 0) {
    for (unsigned i = 0; i < current; ++i) {
      fs::path link = dir / fmt::format("virtfn{}", i);
      std::string vf = fs::read_symlink(link).filename().string();
      unbind(vf);
      fs::path group = fs::canonical(fs::path(dev_dir(vf)) / "iommu_group");
      fs::remove_all(group);
      fs::remove_all(dev_dir(vf));
      fs::remove(link);
    }
  } else {
    PciAddress pa = *parse_pci_address(pf);
    uint16_t vendor = static_cast<uint16_t>(parse_uint_fake(read_attr(pf, "vendor")));
    uint16_t vf_device = static_cast<uint16_t>(parse_uint_fake(read_attr(pf, "sriov_vf_device")));
    uint32_t cls = static_cast<uint32_t>(parse_uint_fake(read_attr(pf, "class")));
    for (unsigned i = 0; i < n; ++i) {
      PciAddress va = pa;
      va.function = static_cast<uint8_t>(pa.function + 1 + i);  // First VF Offset 1, VF Stride 1
      FakeDevice vf{va.str(), vendor, vf_device, cls, "", next_group(), 0, 0, "flr"};
      add_device(vf);
      fs::create_symlink("../" + pf, fs::path(dev_dir(va.str())) / "physfn");
      fs::create_symlink("../" + va.str(), dir / fmt::format("virtfn{}", i));
    }
  }
  write_text(dir / "sriov_numvfs", fmt::format("{}\n", n));
  for (unsigned i = 0; i < n; ++i) AV_TRY(probe(fs::read_symlink(dir / fmt::format("virtfn{}", i)).filename().string()));
  return ok();
}

Status FakeKernel::write(std::string_view host_path, std::string_view data) {
  writes.push_back(fmt::format("{}={}", host_path, data));
  std::string p(host_path);
  std::string value(data);
  while (!value.empty() && value.back() == '\n') value.pop_back();
  const std::string file = path(p);
  if (!fs::exists(file)) return fail_errno(ENOENT, "opening {} for writing", file);

  const std::string devs = "/sys/bus/pci/devices/";
  const std::string drvs = "/sys/bus/pci/drivers/";
  if (p == "/sys/bus/pci/drivers_probe") {
    if (!fs::exists(dev_dir(value))) return fail_errno(ENODEV, "writing '{}' to {}", value, file);
    return probe(value);
  }
  if (p.starts_with(devs)) {
    std::string rest = p.substr(devs.size());
    auto slash = rest.find('/');
    std::string addr = rest.substr(0, slash), attr = rest.substr(slash + 1);
    if (attr == "driver_override") {
      write_text(file, (value.empty() ? std::string("(null)") : value) + "\n");
      return ok();
    }
    if (attr == "sriov_numvfs") return set_numvfs(addr, static_cast<unsigned>(std::stoul(value)));
    if (attr == "sriov_drivers_autoprobe") {
      write_text(file, value + "\n");
      return ok();
    }
    if (attr == "reset") {
      resets.push_back(addr);
      return ok();
    }
  }
  if (p.starts_with(drvs)) {
    std::string rest = p.substr(drvs.size());
    auto slash = rest.find('/');
    std::string drv = rest.substr(0, slash), op = rest.substr(slash + 1);
    if (!fs::exists(dev_dir(value))) return fail_errno(ENODEV, "writing '{}' to {}", value, file);
    if (op == "unbind") {
      if (driver_of(value) != drv) return fail_errno(ENODEV, "writing '{}' to {}", value, file);
      unbind(value);
      return ok();
    }
    if (op == "bind") {
      if (!driver_of(value).empty()) return fail_errno(EBUSY, "writing '{}' to {}", value, file);
      if (!matches(value, drv)) return fail_errno(ENODEV, "writing '{}' to {}", value, file);
      bind(value, drv);
      return ok();
    }
  }
  return fail("fake kernel: unexpected write of '{}' to {}", data, p);
}

Status FakeKernel::load_module(std::string_view module) {
  modules.emplace_back(module);
  if (module == "vfio-pci") {
    add_driver("vfio-pci");
    fs::create_directories(path("/sys/module/vfio_pci"));
    return ok();
  }
  return fail("fake kernel: no module {}", module);
}

std::string FakeKernel::snapshot() const {
  std::vector<std::string> lines;
  for (auto it = fs::recursive_directory_iterator(root()); it != fs::recursive_directory_iterator(); ++it) {
    const auto& e = *it;
    std::string rel = e.path().string().substr(root().size());
    if (e.is_symlink()) lines.push_back(rel + " -> " + fs::read_symlink(e.path()).string());
    else if (e.is_regular_file()) lines.push_back(rel + " = " + read_text(e.path()));
    else lines.push_back(rel + "/");
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace altovirt::host::testing
