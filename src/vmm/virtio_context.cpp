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
  std::unique_ptr<pci::MsiSink> make_msix_sink(std::string owner) override {
    return std::make_unique<MsiRoutes>(m_.vm(), m_.gsi(), std::move(owner));
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

Result<pci::PciAddress> add_virtio_pci(Machine& machine, const DeviceSpec& spec,
                                       std::shared_ptr<virtio::VirtioDevice> device) {
  VirtioContext& ctx = machine.virtio();
  if (!ctx.ram) ctx.ram = std::make_unique<virtio::KvmGuestRam>(machine.memory());
  std::string name = spec.id.empty() ? spec.kind : spec.id;

  virtio::EventLoop* loop = nullptr;
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
    loop = own.get();
    ctx.private_loops.push_back(std::move(own));
  }

  auto host = std::make_unique<MachineTransportHost>(machine);
  AV_TRY_ASSIGN(auto transport, virtio::VirtioPciDevice::create(name, std::move(device), *host, *ctx.ram, *loop));
  AV_TRY_ASSIGN(pci::PciAddress at, machine.add_pci_device(transport, spec));
  AV_TRY(host->place(at));
  ctx.hosts.push_back(std::move(host));
  return at;
}

}  // namespace altovirt::vmm
