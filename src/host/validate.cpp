#include "altovirt/host/validate.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "altovirt/base/fd.h"
#include "altovirt/base/files.h"
#include "altovirt/base/parse.h"
#include "altovirt/host/binding.h"
#include "altovirt/host/pci_device.h"

namespace altovirt::host {

std::string_view to_string(CheckStatus s) {
  switch (s) {
    case CheckStatus::pass: return "PASS";
    case CheckStatus::warn: return "WARN";
    case CheckStatus::fail: return "FAIL";
  }
  return "?";
}

bool passthrough_possible(const std::vector<Check>& checks) {
  for (const auto& c : checks)
    if (c.status == CheckStatus::fail) return false;
  return true;
}

namespace {

constexpr std::string_view kIommuCmdline =
    "enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup and boot with intel_iommu=on (Intel) "
    "or amd_iommu=on (AMD) on the kernel command line";

// arm64 servers (Kunpeng, Ampere, Graviton) have an SMMUv3 (Linux: arm-smmu-v3, units smmu3.0x<base>
// in /sys/class/iommu) described by the firmware's ACPI IORT or the device tree.
constexpr std::string_view kSmmuFix =
    "enable the SMMU in the firmware setup (Kunpeng: BIOS > Advanced > MISC Config > Support Smmu), boot "
    "through UEFI/ACPI so the kernel reads the IORT, and use a kernel with CONFIG_ARM_SMMU_V3 (Debian's has it)";

bool is_arm(const ValidateOptions& o) { return o.arch == "aarch64"; }

Check check_iommu(const SysfsRoot& sys, const ValidateOptions& o) {
  auto units = sys.list("/sys/class/iommu");
  if (is_arm(o)) {
    std::vector<std::string> smmu;
    for (auto& u : units.value_or(std::vector<std::string>{}))
      if (u.starts_with("smmu3.")) smmu.push_back(u);
    if (!smmu.empty()) return {"IOMMU hardware", CheckStatus::pass, fmt::format("SMMUv3 {}", fmt::join(smmu, " ")), ""};
    if (units && !units->empty())
      return {"IOMMU hardware", CheckStatus::warn, fmt::format("{} (not an SMMUv3)", fmt::join(*units, " ")), std::string(kSmmuFix)};
    return {"IOMMU hardware", CheckStatus::fail, "no SMMU in /sys/class/iommu", std::string(kSmmuFix)};
  }
  if (units && !units->empty()) return {"IOMMU hardware", CheckStatus::pass, fmt::format("{}", fmt::join(*units, " ")), ""};
  return {"IOMMU hardware", CheckStatus::fail, "no IOMMU in /sys/class/iommu", std::string(kIommuCmdline)};
}

Check check_groups(const SysfsRoot& sys, const ValidateOptions& o) {
  auto groups = sys.list("/sys/kernel/iommu_groups");
  if (groups && !groups->empty())
    return {"IOMMU groups", CheckStatus::pass, fmt::format("{} groups in /sys/kernel/iommu_groups", groups->size()), ""};
  return {"IOMMU groups", CheckStatus::fail, "no groups in /sys/kernel/iommu_groups (the IOMMU is not in use)",
          std::string(is_arm(o) ? kSmmuFix : kIommuCmdline)};
}

// arm64: a device's MSIs are isolated by the GICv3 ITS (each write is tagged with the device's id),
// which the kernel shows as ITS-MSI interrupt domains in /proc/interrupts; vfio_iommu_type1 needs
// that isolation as x86 needs interrupt remapping (irq_domain_check_msi_remap()).
Check check_its(const SysfsRoot& sys) {
  const std::string name = "MSI isolation (GICv3 ITS)";
  auto text = read_file(sys.path("/proc/interrupts"));
  if (text && text->find("ITS-") != std::string::npos) return {name, CheckStatus::pass, "ITS-MSI domains in /proc/interrupts", ""};
  std::string fix = "the host needs a GICv3 with an ITS (dmesg: 'ITS@0x...'), described by the firmware's ACPI MADT or "
                    "device tree, and a kernel with CONFIG_ARM_GIC_V3_ITS";
  auto unsafe = sys.read("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts");
  if (unsafe && (*unsafe == "Y" || *unsafe == "1"))
    return {name, CheckStatus::warn, "no ITS MSI domain; vfio_iommu_type1 allows unsafe interrupts", fix};
  return {name, CheckStatus::fail, "no ITS MSI domain in /proc/interrupts: VFIO refuses devices without MSI isolation",
          fix + " (or, accepting the risk, load vfio_iommu_type1 with allow_unsafe_interrupts=1)"};
}

// The kernel prefixes remapped interrupt domains with "IR-" in /proc/interrupts ("IR-PCI-MSI",
// "IR-IO-APIC"). Without remapping, vfio_iommu_type1 refuses to attach groups (a device could forge
// MSIs) unless allow_unsafe_interrupts=1.
Check check_interrupt_remapping(const SysfsRoot& sys) {
  const std::string name = "interrupt remapping";
  auto text = read_file(sys.path("/proc/interrupts"));
  if (text && text->find("IR-") != std::string::npos)
    return {name, CheckStatus::pass, "enabled (IR- interrupt domains in /proc/interrupts)", ""};
  auto unsafe = sys.read("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts");
  std::string fix =
      "enable interrupt remapping in the firmware (VT-d/AMD-Vi with x2APIC) and do not boot with intremap=off";
  if (unsafe && (*unsafe == "Y" || *unsafe == "1"))
    return {name, CheckStatus::warn, "not enabled; vfio_iommu_type1 allows unsafe interrupts", fix};
  return {name, CheckStatus::fail, "not enabled: VFIO refuses devices without it",
          fix + " (or, accepting the risk, load vfio_iommu_type1 with allow_unsafe_interrupts=1)"};
}

bool module_available(const SysfsRoot& sys, std::string_view ko) {
  utsname u{};
  if (::uname(&u) != 0) return false;
  for (const char* f : {"modules.dep", "modules.builtin"}) {
    auto text = read_file(sys.path(fmt::format("/lib/modules/{}/{}", u.release, f)));
    if (text && text->find(fmt::format("/{}", ko)) != std::string::npos) return true;
  }
  return false;
}

Check check_vfio_pci(SysfsRoot& sys, bool load) {
  const std::string name = "vfio-pci driver";
  if (sys.exists("/sys/bus/pci/drivers/vfio-pci")) return {name, CheckStatus::pass, "loaded", ""};
  if (load) {
    auto st = ensure_vfio_pci(sys);
    if (st) return {name, CheckStatus::pass, "loaded now (modprobe vfio-pci)", ""};
    return {name, CheckStatus::fail, st.error().message(), "install a kernel with CONFIG_VFIO_PCI and run modprobe vfio-pci"};
  }
  if (module_available(sys, "vfio-pci.ko"))
    return {name, CheckStatus::warn, "not loaded, but available",
            "run 'altoctl host-validate --load-modules' or 'modprobe vfio-pci' (nodedev-detach loads it too); "
            "to load it at boot add vfio-pci to /etc/modules-load.d/vfio.conf"};
  return {name, CheckStatus::fail, "not loaded and not found in /lib/modules for the running kernel",
          "install a kernel built with CONFIG_VFIO_PCI (Debian's linux-image has it) and run modprobe vfio-pci"};
}

Check check_dev_vfio(const SysfsRoot& sys) {
  const std::string name = "/dev/vfio/vfio";
  const std::string path = sys.path("/dev/vfio/vfio");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    // The node appears when the vfio module loads; if it is merely not loaded yet, nodedev-detach
    // (or --load-modules) will load it.
    if (err == ENOENT && !sys.exists("/sys/module/vfio"))
      return {name, CheckStatus::warn, "absent because vfio is not loaded yet",
              "run 'altoctl host-validate --load-modules' or 'modprobe vfio-pci'"};
    return {name, CheckStatus::fail, fmt::format("cannot open {}: {}", path, strerrordesc_np(err)),
            "load vfio (modprobe vfio-pci) and run altovirt as root or with access to /dev/vfio"};
  }
  if (sys.is_system_root()) {
    int v = ::ioctl(fd.get(), VFIO_GET_API_VERSION);
    if (v != VFIO_API_VERSION)
      return {name, CheckStatus::fail, fmt::format("VFIO API version {} (expected {})", v, VFIO_API_VERSION),
              "use a kernel with the standard VFIO type1 API"};
    if (::ioctl(fd.get(), VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
      return {name, CheckStatus::fail, "no VFIO type1v2 IOMMU backend", "modprobe vfio_iommu_type1"};
    return {name, CheckStatus::pass, fmt::format("usable (API {}, type1v2 IOMMU)", v), ""};
  }
  return {name, CheckStatus::pass, "opens", ""};
}

Check check_kvm(const SysfsRoot& sys, const ValidateOptions& o) {
  const std::string name = "KVM";
  const std::string path = sys.path("/dev/kvm");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  std::string fix = is_arm(o) ? "the firmware must start the kernel at EL2 for KVM (dmesg: 'CPU: All CPU(s) started at "
                                "EL2' and 'kvm [1]: VHE mode initialized'); run as root or a member of group kvm"
                              : "enable VT-x/AMD-V in the firmware, load kvm_intel or kvm_amd, and run as root or a "
                                "member of group kvm";
  if (!fd) return {name, CheckStatus::fail, fmt::format("cannot open {}: {}", path, strerrordesc_np(errno)), fix};
  if (sys.is_system_root()) {
    int v = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
    if (v != KVM_API_VERSION)
      return {name, CheckStatus::fail, fmt::format("KVM API version {} (expected {})", v, KVM_API_VERSION), fix};
  }
  return {name, CheckStatus::pass, fmt::format("{} usable", path), ""};
}

// VFIO type1 pins all guest RAM and counts it against RLIMIT_MEMLOCK unless the process has
// CAP_IPC_LOCK (vfio_lock_acct() in drivers/vfio/vfio_iommu_type1.c).
Check check_memlock(const SysfsRoot&) {
  const std::string name = "RLIMIT_MEMLOCK";
  rlimit r{};
  ::getrlimit(RLIMIT_MEMLOCK, &r);
  if (r.rlim_cur == RLIM_INFINITY) return {name, CheckStatus::pass, "unlimited", ""};
  std::string limit = fmt::format("{} KiB", r.rlim_cur / 1024);
  bool ipc_lock = false;
  if (auto status = read_file("/proc/self/status")) {
    auto pos = status->find("CapEff:");
    if (pos != std::string::npos) {
      auto end = status->find('\n', pos);
      std::string hex = status->substr(pos + 7, end - pos - 7);
      hex.erase(0, hex.find_first_not_of(" \t"));
      if (auto caps = parse_uint_base(hex, 16, "CapEff")) ipc_lock = (*caps >> CAP_IPC_LOCK) & 1;
    }
  }
  if (ipc_lock)
    return {name, CheckStatus::pass, fmt::format("{}, but CAP_IPC_LOCK exempts this process", limit), ""};
  return {name, CheckStatus::warn,
          fmt::format("{} and no CAP_IPC_LOCK: VFIO pins all guest RAM and a VM with more RAM than this fails to start", limit),
          "run altovirt as root, or raise the limit: 'ulimit -l unlimited', or memlock in /etc/security/limits.conf, "
          "or LimitMEMLOCK=infinity in a systemd unit"};
}

void check_device(const SysfsRoot& sys, const PciAddress& a, const ValidateOptions& o, std::vector<Check>& out) {
  const std::string name = "device " + a.str();
  auto dev = read_pci_device(sys, a);
  if (!dev) {
    out.push_back({name, CheckStatus::fail, dev.error().message(), "give the address of an existing device"});
    return;
  }
  if (dev->is_bridge()) {
    out.push_back({name, CheckStatus::fail, "a PCI bridge: cannot be passed through",
                   "pass the devices behind the bridge instead"});
    return;
  }
  out.push_back({name, CheckStatus::pass,
                 fmt::format("{:04x}:{:04x}, driver {}", dev->vendor, dev->device, dev->driver.empty() ? "none" : dev->driver), ""});
  const std::string gname = "IOMMU group of " + a.str();
  if (!dev->iommu_group) {
    out.push_back({gname, CheckStatus::fail, "the device has no IOMMU group", std::string(is_arm(o) ? kSmmuFix : kIommuCmdline)});
  } else {
    std::vector<std::string> others;
    for (const auto& m : dev->group_members)
      if (m != a) others.push_back(fmt::format("{} ({})", m.str(), current_driver(sys, m).empty() ? "no driver" : current_driver(sys, m)));
    auto blockers = group_blockers(sys, *dev);
    std::string members = others.empty() ? "no other device" : fmt::format("also {}", fmt::join(others, ", "));
    if (!blockers) {
      out.push_back({gname, CheckStatus::fail, blockers.error().message(), ""});
    } else if (blockers->empty()) {
      out.push_back({gname, CheckStatus::pass, fmt::format("group {}: {}; viable", *dev->iommu_group, members), ""});
    } else {
      std::vector<std::string> names;
      for (const auto& b : *blockers) names.push_back(fmt::format("{} ({})", b.address.str(), b.driver));
      out.push_back({gname, CheckStatus::fail,
                     fmt::format("group {}: {}; not viable because of {}", *dev->iommu_group, members, fmt::join(names, ", ")),
                     fmt::format("'altoctl nodedev-detach {} --group' detaches the whole group; or move the card to a "
                                 "slot with its own group (ACS)", a.str())});
    }
  }
  const std::string rname = "reset of " + a.str();
  if (dev->has_reset)
    out.push_back({rname, CheckStatus::pass,
                   fmt::format("methods: {}", dev->reset_methods.empty() ? "default" : fmt::format("{}", fmt::join(dev->reset_methods, " "))), ""});
  else
    out.push_back({rname, CheckStatus::warn, "no reset method: the device keeps its state from one VM to the next",
                   "prefer a device with FLR, or power-cycle between uses"});
}

}  // namespace

std::vector<Check> validate_host(SysfsRoot& sys, const ValidateOptions& given) {
  ValidateOptions opts = given;
  if (opts.arch.empty()) {
    utsname u{};
    opts.arch = ::uname(&u) == 0 && (std::string_view(u.machine) == "aarch64" || std::string_view(u.machine) == "arm64")
                    ? "aarch64" : "x86_64";
  }
  std::vector<Check> out;
  out.push_back(check_iommu(sys, opts));
  out.push_back(check_groups(sys, opts));
  out.push_back(is_arm(opts) ? check_its(sys) : check_interrupt_remapping(sys));
  out.push_back(check_vfio_pci(sys, opts.load_modules));
  out.push_back(check_dev_vfio(sys));
  out.push_back(check_kvm(sys, opts));
  out.push_back(check_memlock(sys));
  if (opts.device) check_device(sys, *opts.device, opts, out);
  return out;
}

}  // namespace altovirt::host
