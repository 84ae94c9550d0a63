// The machine side of virtio-pci transports, and add_virtio_pci() for the virtio device kinds.
#include "altovirt/vmm/virtio_context.h"

#include <atomic>

#include "altovirt/base/log.h"
#include "altovirt/kvm/ioeventfd.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/msi_routes.h"

namespace altovirt::vmm {
namespace {

class IoEventRegistration : public virtio::Registration {
 public:
  explicit IoEventRegistration(kvm::IoEventFd fd) : fd_(std::move(fd)) {}

 private:
  kvm::IoEventFd fd_;
};

// The Machine as one transport sees it: ioeventfds on the VM, MSI-X vectors as KVM MSI routes, and
// the INTx pin as an IOAPIC input.
//
// Threading: add_ioeventfd/make_msix_sink from config writes (bus lock); set_intx from the device's
// I/O thread and vCPU threads (KVM_IRQ_LINE is serialised by the kernel).
class MachineTransportHost : public virtio::TransportHost {
 public:
  explicit MachineTransportHost(Machine& m) : m_(m) {}
  Result<std::unique_ptr<virtio::Registration>> add_ioeventfd(uint64_t gpa, int fd) override {
    AV_TRY_ASSIGN(kvm::IoEventFd e, kvm::IoEventFd::assign_mmio(m_.vm(), gpa, fd));
    return std::make_unique<IoEventRegistration>(std::move(e));
  }
  std::unique_ptr<pci::MsiSink> make_msix_sink(std::string owner, const pci::PciDevice* device) override {
    return std::make_unique<MsiRoutes>(m_.vm(), m_.gsi(), std::move(owner), device);
  }
  Result<int> vector_eventfd(pci::MsiSink& sink, unsigned vector) override {
    // make_msix_sink made it, so it is an MsiRoutes: each vector's eventfd is its KVM irqfd.
    return static_cast<MsiRoutes&>(sink).eventfd(vector);
  }
  void set_intx(bool asserted) override {
    int gsi = gsi_.load();
    if (gsi < 0) return;
    if (auto s = m_.vm().set_irq_line(static_cast<uint32_t>(gsi), asserted); !s)
      log::error("virtio", "INTx on GSI {}: {}", gsi, s.error().message());
  }
  // The one place that knows how the function's INTA# reaches the IOAPIC: through the bridge
  // swizzle of a root port when it sits behind one (PciBus::intx_gsi).
  Status place(const pci::PciAddress& at) {
    AV_TRY_ASSIGN(uint32_t gsi, m_.pci().intx_gsi(at, 0));
    gsi_ = static_cast<int>(gsi);
    return ok();
  }

 private:
  Machine& m_;
  std::atomic<int> gsi_{-1};
};

}  // namespace

std::function<void()> InUse::keep() {
  kept_ = true;
  return [&used = used_, id = id_] { used.erase(id); };
}

Result<pci::PciAddress> add_virtio_pci(Machine& machine, const DeviceSpec& spec,
                                       std::shared_ptr<virtio::VirtioDevice> device, InUse* backend) {
  VirtioContext& ctx = machine.virtio();
  if (!ctx.ram) ctx.ram = std::make_unique<virtio::KvmGuestRam>(machine.memory());
  std::string name = spec.id.empty() ? spec.kind : spec.id;

  virtio::EventLoop* loop = nullptr;
  virtio::EventLoop* private_loop = nullptr;
  if (auto it = spec.props.find("iothread"); it != spec.props.end()) {
    const auto& declared = machine.options().iothreads;
    if (std::find(declared.begin(), declared.end(), it->second) == declared.end())
      return fail("iothread={}: no such iothread; declare it with -object iothread,id={}", it->second, it->second);
    auto& slot = ctx.iothreads[it->second];
    if (!slot) {
      AV_TRY_ASSIGN(slot, virtio::EventLoop::create(it->second));
    }
    loop = slot.get();
  } else {
    AV_TRY_ASSIGN(auto own, virtio::EventLoop::create(name));
    loop = private_loop = own.get();
    ctx.private_loops.push_back(std::move(own));
  }

  auto host = std::make_unique<MachineTransportHost>(machine);
  // A failure from here on must not leave the private loop behind (a failed hot-add).
  std::shared_ptr<virtio::VirtioPciDevice> transport;
  auto drop_loop = [&] {
    transport.reset();  // first: it uses the loop until it is destroyed
    if (private_loop != nullptr) std::erase_if(ctx.private_loops, [&](const auto& l) { return l.get() == private_loop; });
  };
  auto created = virtio::VirtioPciDevice::create(name, std::move(device), *host, *ctx.ram, *loop);
  if (!created) {
    drop_loop();
    return std::unexpected(created.error());
  }
  transport = std::move(*created);
  auto at = machine.add_pci_device(transport, spec);
  if (!at) {
    drop_loop();
    return std::unexpected(at.error());
  }
  if (auto s = host->place(*at); !s) {
    machine.retract_pci_device(transport);
    drop_loop();
    return std::unexpected(s.error());
  }
  const virtio::TransportHost* host_key = host.get();
  ctx.hosts.push_back(std::move(host));
  std::function<void()> free_backend = backend != nullptr ? backend->keep() : std::function<void()>();
  // After a hot-removal (Machine::complete_removal runs the hooks once the device is destroyed):
  // the loop and the host side it used go too, and its backend is free again, unless something
  // still holds the transport, which would then outlive them; those stay until the machine ends.
  machine.on_removal(transport.get(), [&ctx, host_key, private_loop, gone = std::weak_ptr<pci::PciDevice>(transport), name,
                                       free_backend] {
    if (!gone.expired()) {
      log::warn("virtio", "{} is still referenced after its removal; its I/O thread and backend stay until the VM ends", name);
      return;
    }
    if (free_backend) free_backend();
    std::erase_if(ctx.hosts, [&](const auto& h) { return h.get() == host_key; });
    if (private_loop != nullptr) std::erase_if(ctx.private_loops, [&](const auto& l) { return l.get() == private_loop; });
  });
  return *at;
}

}  // namespace altovirt::vmm
