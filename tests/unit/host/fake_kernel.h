// FakeKernel: a temporary directory laid out like the parts of /sys the host layer uses
// (/sys/bus/pci/{devices,drivers,drivers_probe}, /sys/kernel/iommu_groups, /sys/class/iommu,
// /sys/module, /proc/interrupts, /dev/vfio/vfio, /dev/kvm) and a SysfsRoot whose write() applies the
// effect the kernel would, synchronously as the kernel does:
//   driver_override      stores the name ("\n" clears it, shown as "(null)")
//   drivers/D/unbind     removes the driver link (ENODEV if not bound to D)
//   drivers/D/bind       binds if D matches (override or default table; EBUSY if bound, ENODEV if not)
//   drivers_probe        binds the override driver, else the default driver of vendor:device; VFs only
//                        when their PF's sriov_drivers_autoprobe is 1 or an override is set
//   sriov_numvfs         creates/removes VF devices (each in its own IOMMU group) and virtfnN/physfn
//                        links; non-zero over a different non-zero count fails with EBUSY, above
//                        sriov_totalvfs with ERANGE
//   reset                logs the reset
// load_module("vfio-pci") registers the vfio-pci driver. Any other write is an error, so that a test
// notices the host layer writing somewhere the kernel would not expect.
//
// Threading: single-threaded test helper.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "altovirt/host/sysfs.h"

namespace altovirt::host::testing {

struct FakeDevice {
  std::string address;  // canonical
  uint16_t vendor = 0x8086;
  uint16_t device = 0x10d3;
  uint32_t class_code = 0x020000;
  std::string driver;                 // bound at creation ("" none)
  std::optional<unsigned> group;      // IOMMU group (none: no IOMMU)
  unsigned totalvfs = 0;              // > 0: SR-IOV PF
  uint16_t vf_device = 0;
  std::string reset_method = "flr bus";  // "" = no reset file at all
};

class FakeKernel : public SysfsRoot {
 public:
  FakeKernel();
  ~FakeKernel() override;

  // A host with an IOMMU (dmar0), interrupt remapping, /dev/vfio/vfio, /dev/kvm and the drivers named.
  void add_standard_host();
  void add_driver(const std::string& name);
  void add_device(const FakeDevice& d);
  // The driver drivers_probe picks for vendor:device (the driver's id table).
  void set_default_driver(uint16_t vendor, uint16_t device, const std::string& driver);
  // Makes `driver`'s probe fail for `address` (ENODEV), as a driver that rejects a device does.
  void refuse_probe(const std::string& address, const std::string& driver);
  // Writes a plain file under the root (test setup, not a kernel write).
  void put_file(const std::string& host_path, const std::string& content);

  Status write(std::string_view host_path, std::string_view data) override;
  Status load_module(std::string_view module) override;

  // Every file with its content and every link with its target, sorted: equal snapshots mean the tree
  // did not change.
  std::string snapshot() const;
  std::string driver_of(const std::string& address) const;

  std::vector<std::string> writes;   // "path=data" of every write, in order
  std::vector<std::string> modules;  // modules loaded
  std::vector<std::string> resets;   // addresses reset

 private:
  std::string dev_dir(const std::string& address) const;
  void bind(const std::string& address, const std::string& driver);
  void unbind(const std::string& address);
  bool matches(const std::string& address, const std::string& driver) const;
  Status probe(const std::string& address);
  Status set_numvfs(const std::string& pf, unsigned n);
  std::string read_attr(const std::string& address, const std::string& attr) const;
  unsigned next_group() const;

  std::map<std::string, std::string> default_drivers_;  // "vvvv:dddd" -> driver
  std::set<std::pair<std::string, std::string>> refused_;
};

}  // namespace altovirt::host::testing
