// The "vfio-pci" -device kind: -device vfio-pci,host=DDDD:BB:DD.F|sysfsdev=PATH[,rombar=0|1] plus the
// PCI placement keys every kind has (id=, bus=, addr=, multifunction=), as in QEMU and StratoVirt.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "altovirt/base/files.h"
#include "altovirt/base/log.h"
#include "altovirt/vfio/manager.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/msi_routes.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/vfio_pci.h"

namespace altovirt::vmm {
namespace {

class MachineRange : public MappedRange {
 public:
  explicit MachineRange(kvm::MemorySlot slot) : slot_(std::move(slot)) {}

 private:
  kvm::MemorySlot slot_;
};

class MachineIntx : public IntxRoute {
 public:
  explicit MachineIntx(kvm::Irqfd irqfd) : irqfd_(std::move(irqfd)) {}

 private:
  kvm::Irqfd irqfd_;
};

// The Machine as a PassthroughHost: memory slots, the MMIO bus, MSI routes and irqfds of its VM.
class MachineHost : public PassthroughHost {
 public:
  explicit MachineHost(Machine& m) : m_(m) {}
  Result<std::unique_ptr<MappedRange>> map_device_memory(uint64_t gpa, uint64_t size, void* host, std::string_view what) override {
    AV_TRY_ASSIGN(kvm::MemorySlot slot, m_.map_device_memory(gpa, size, host, what));
    return std::make_unique<MachineRange>(std::move(slot));
  }
  Result<std::unique_ptr<MappedRange>> map_read_only_memory(uint64_t gpa, uint64_t size, void* host, std::string_view what) override {
    AV_TRY_ASSIGN(kvm::MemorySlot slot, m_.map_device_memory(gpa, size, host, what, true));
    return std::make_unique<MachineRange>(std::move(slot));
  }
  Status add_mmio(uint64_t base, uint64_t size, std::string name, std::shared_ptr<devices::IoHandler> handler) override {
    return m_.mmio().add(base, size, std::move(name), std::move(handler));
  }
  void remove_mmio(uint64_t base) override { m_.mmio().remove(base); }
  std::unique_ptr<VectorRoutes> make_routes(std::string owner, const pci::PciDevice* device) override {
    return std::make_unique<MsiRoutes>(m_.vm(), m_.gsi(), std::move(owner), device);
  }
  Result<std::unique_ptr<IntxRoute>> connect_intx(uint32_t gsi, int trigger_fd, int resample_fd) override {
    AV_TRY_ASSIGN(kvm::Irqfd irqfd, kvm::Irqfd::assign(m_.vm(), trigger_fd, gsi, resample_fd));
    return std::make_unique<MachineIntx>(std::move(irqfd));
  }
  Status dma_ready() override { return m_.vfio().wait_dma_map(); }

 private:
  Machine& m_;
};

}  // namespace

Result<std::shared_ptr<vfio::Device>> VfioContext::open_device(const std::string& address) {
  AV_TRY_ASSIGN(auto device, manager.open_device(address, /*reuse=*/true));
  if (!claimed_.insert(device->address()).second) return fail("{} is passed to this VM twice", device->address());
  return device;
}

void VfioContext::start_dma_map(const Machine& machine) {
  if (!map_pending_) return;
  map_pending_ = false;
  // IOVA = GPA for every RAM region (the device may DMA anywhere in guest RAM the guest driver
  // points it at). The regions and their host mapping outlive the job (ResetSurvivors::memory).
  std::vector<kvm::RamRegion> regions = machine.ram_regions();
  vfio::Container* container = manager.container();
  dma_map_.start([regions = std::move(regions), container]() -> Status {
    uint64_t total = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (auto& r : regions) {
      if (auto s = container->map_dma(r.gpa, r.size, r.host); !s) {
        log::error("vfio", "DMA-mapping guest RAM failed: {}; the passed-through devices cannot reach guest memory "
                           "(their bus mastering stays off): stop the VM and free host memory",
                   s.error().message());
        return s;
      }
      total += r.size;
    }
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    log::info("vfio", "DMA-mapped {} MiB of guest RAM in {:.1f} ms (on its own thread, while the machine started)",
              total >> 20, ms);
    return ok();
  });
}

void VfioContext::release(const std::string& address) {
  claimed_.erase(address);
  // The container may go with this device: no map may still be running in it then.
  dma_map_.wait_running();
  bool container_gone = manager.close_device(address, [this](unsigned group, int fd) {
    if (!groups_in_kvm_.erase(group) || !kvm_device_) return;
    kvm_device_attr attr{};
    attr.group = KVM_DEV_VFIO_GROUP;
    attr.attr = KVM_DEV_VFIO_GROUP_DEL;
    attr.addr = reinterpret_cast<uint64_t>(&fd);
    if (::ioctl(kvm_device_.get(), KVM_SET_DEVICE_ATTR, &attr) != 0)
      log::warn("vfio", "removing IOMMU group {} from KVM's VFIO device: {}", group, std::strerror(errno));
  });
  if (container_gone) {
    ram_mapped_ = false;
    map_pending_ = false;
    dma_map_.reset();
    if (ram_pinned) *ram_pinned = false;
    log::info("vfio", "{} was the VM's last passed-through device: the container and its DMA mappings are gone", address);
  }
}

void VfioContext::machine_ended() {
  host.reset();
  kvm_device_.reset();
  groups_in_kvm_.clear();
  claimed_.clear();
  reuse_logged_ = false;
}

Status VfioContext::prepare(Machine& machine) {
  // KVM's VFIO pseudo-device learns every group, so that KVM knows DMA may be non-coherent and so on
  // (Documentation/virt/kvm/devices/vfio.rst).
  if (!kvm_device_) {
    kvm_create_device cd{};
    cd.type = KVM_DEV_TYPE_VFIO;
    if (::ioctl(machine.vm().fd(), KVM_CREATE_DEVICE, &cd) != 0) return fail_errno(errno, "creating KVM's VFIO device");
    kvm_device_.reset(static_cast<int>(cd.fd));
  }
  for (unsigned g : manager.group_numbers()) {
    if (groups_in_kvm_.contains(g)) continue;
    int fd = manager.group_fd(g);
    kvm_device_attr attr{};
    attr.group = KVM_DEV_VFIO_GROUP;
    attr.attr = KVM_DEV_VFIO_GROUP_ADD;
    attr.addr = reinterpret_cast<uint64_t>(&fd);
    if (::ioctl(kvm_device_.get(), KVM_SET_DEVICE_ATTR, &attr) != 0)
      return fail_errno(errno, "adding IOMMU group {} to KVM's VFIO device", g);
    groups_in_kvm_.insert(g);
  }
  // Every group's reserved IOVA ranges (e.g. the MSI doorbell window) against guest RAM, each time a
  // device joins: a later group may reserve what an earlier one did not.
  for (auto& r : machine.ram_regions()) AV_TRY(manager.check_guest_ram(r.gpa, r.size));
  if (!ram_mapped_) {
    uint64_t total = 0;
    for (auto& r : machine.ram_regions()) total += r.size;
    AV_TRY(vfio::check_memlock(total));
    ram_mapped_ = true;
    map_pending_ = true;
    if (ram_pinned) *ram_pinned = true;  // the balloon keeps its hands off from now on
    dma_map_.expect();
    reuse_logged_ = true;  // this machine says what it did; a device hot-added later says nothing
  } else if (!reuse_logged_) {
    log::info("vfio", "guest RAM stays DMA-mapped from the previous boot: no new DMA map");
    reuse_logged_ = true;
  }
  return ok();
}

namespace {

Result<std::string> address_of(const DeviceSpec& spec) {
  auto host = spec.props.find("host");
  auto sysfsdev = spec.props.find("sysfsdev");
  if (host != spec.props.end() && sysfsdev != spec.props.end())
    return fail("-device {}: host= and sysfsdev= name the same thing; give one of them", spec.text);
  if (host != spec.props.end()) return host->second;
  if (sysfsdev != spec.props.end()) {
    // /sys/bus/pci/devices/0000:01:00.0 (a link) or /sys/devices/pci0000:00/.../0000:01:00.0
    char real[PATH_MAX];
    if (::realpath(sysfsdev->second.c_str(), real) == nullptr)
      return fail_errno(errno, "-device {}: sysfsdev={}", spec.text, sysfsdev->second);
    return std::string(base_name(real));
  }
  return fail("-device {}: which host device? add host=DDDD:BB:DD.F (e.g. host=0000:01:00.0) or sysfsdev=PATH", spec.text);
}

Status create_vfio_pci(Machine& machine, const DeviceSpec& spec) {
  AV_TRY_ASSIGN(std::string address, address_of(spec));
  VfioPciDevice::Options options;
  if (auto r = spec.props.find("rombar"); r != spec.props.end()) {
    if (r->second != "0" && r->second != "1") return fail("-device {}: rombar must be 0 or 1", spec.text);
    options.rombar = r->second == "1";
  }
  VfioContext& ctx = machine.vfio();
  // The manager outlives the devices (Machine destroys its PCI bus first).
  options.owned_groups = [&manager = ctx.manager](unsigned group) { return manager.group_fd(group); };
  auto device = ctx.open_device(address);
  if (!device) return std::unexpected(device.error().context(fmt::format("-device {}", spec.text)));
  std::string bdf = (*device)->address();
  // A device that does not make it into the machine goes back at once (a failed hot-add must leave
  // nothing half-attached; at start the whole process would end anyway).
  struct Undo {
    VfioContext& ctx;
    std::string bdf;
    std::shared_ptr<vfio::Device>* device;
    bool armed = true;
    ~Undo() {
      if (!armed) return;
      device->reset();
      ctx.release(bdf);
    }
  } undo{ctx, bdf, &*device};
  AV_TRY(ctx.prepare(machine));
  std::string name = spec.id.empty() ? fmt::format("vfio-pci {}", bdf) : spec.id;
  if (!ctx.host) ctx.host = std::make_unique<MachineHost>(machine);
  {
    AV_TRY_ASSIGN(auto pdev, VfioPciDevice::create(*ctx.host, *device, name, options));
    auto at = machine.add_pci_device(pdev, spec);
    if (!at) return std::unexpected(at.error());
    if (auto s = pdev->attach_intx(machine.pci(), *at); !s) {
      machine.retract_pci_device(pdev);  // off the bus before the device goes back (Undo)
      return s;
    }
    undo.armed = false;
    log::info("vfio", "{} ({}) is guest device {}", name, bdf, at->str());
    machine.on_removal(pdev.get(), [&ctx, bdf] { ctx.release(bdf); });
  }
  return ok();
}

}  // namespace

void register_vfio_pci(DeviceRegistry& registry) {
  DeviceKind kind{"vfio-pci,host=DDDD:BB:DD.F|sysfsdev=PATH[,rombar=0|1]: pass a host PCI device bound to vfio-pci",
                  {"host", "sysfsdev", "rombar"},
                  create_vfio_pci};
  kind.hotpluggable = true;  // QMP device_add/device_del behind a root port (src/vmm/hotplug.cpp)
  kind.boot_suffix = "";      // QEMU's vfio_instance_init: the function's node only (its option ROM boots it)
  registry.add("vfio-pci", std::move(kind));
}

}  // namespace altovirt::vmm
