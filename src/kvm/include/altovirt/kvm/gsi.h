// Interrupt delivery into the in-kernel irqchip without passing through user space:
//  - GsiRouter owns the VM's whole GSI routing table (KVM_SET_GSI_ROUTING replaces the table, so one
//    owner must keep the irqchip routes and every MSI route together). MSI routes are allocated from
//    GSI 24 up (0..23 are the IOAPIC pins).
//  - EventFd is an eventfd(2); Irqfd binds one to a GSI (KVM_IRQFD), optionally with a resample fd for
//    level-triggered INTx (KVM signals the resample fd when the guest EOIs, so the device's interrupt
//    can be unmasked). Both are RAII: the irqfd is deassigned when the Irqfd is destroyed.
//
// Threading: GsiRouter is internally locked; any thread (vCPU threads writing an MSI-X table) may
// call it. EventFd/Irqfd are move-only handles; signal() may be called from any thread.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"

namespace altovirt::kvm {

class Vm;

// An MSI message as the device writes it: address (0xFEExxxxx for x86 LAPICs, the ITS's doorbell
// on arm64) and data.
struct MsiMessage {
  uint64_t address = 0;
  uint32_t data = 0;
  bool operator==(const MsiMessage&) const = default;
};

// The architecture's irqchip routes (src/kvm/<arch>/gsi_<arch>.cpp). x86: the routes KVM_CREATE_IRQCHIP would have installed, but with ISA IRQ 0 (the PIT) on IOAPIC pin 2,
// as the MADT's interrupt source override says (ACPI 6.4 5.2.12.5; PC/AT wiring puts the 8259
// cascade, not the timer, on IOAPIC pin 2's ISA line). PIC routes for IRQs 0..15 except 2.
std::vector<kvm_irq_routing_entry> irqchip_routes();

class GsiRouter {
 public:
#if defined(__aarch64__)
  static constexpr uint32_t kFirstMsiGsi = 64;
#else
  static constexpr uint32_t kFirstMsiGsi = 24;
#endif
  GsiRouter(Vm& vm, uint32_t max_routes) : vm_(vm), max_routes_(max_routes) {}

  // Installs the irqchip routes alone. Call once after the irqchip exists.
  Status install();
  // A new GSI routed to `msg`; the table is committed before returning. `devid` is the
  // requester (bus << 8 | devfn), passed on when the VM's irqchip needs it (a GICv3 ITS).
  Result<uint32_t> add_msi(const MsiMessage& msg, std::optional<uint32_t> devid = std::nullopt);
  Status update_msi(uint32_t gsi, const MsiMessage& msg, std::optional<uint32_t> devid = std::nullopt);
  Status remove(uint32_t gsi);
  // The table as last committed (for tests and debugging).
  std::vector<kvm_irq_routing_entry> table() const;

 private:
  Status commit_locked();
  std::vector<kvm_irq_routing_entry> table_locked() const;
  Vm& vm_;
  uint32_t max_routes_;
  mutable std::mutex mutex_;
  struct Route {
    MsiMessage msg;
    std::optional<uint32_t> devid;
  };
  std::map<uint32_t, Route> msi_;
};

class EventFd {
 public:
  static Result<EventFd> create();
  int fd() const { return fd_.get(); }
  Status signal() const;
  // Reads and clears the counter; 0 when nothing was signalled (non-blocking).
  uint64_t drain() const;

 private:
  explicit EventFd(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

class Irqfd {
 public:
  Irqfd() = default;
  ~Irqfd() { reset(); }
  Irqfd(const Irqfd&) = delete;
  Irqfd& operator=(const Irqfd&) = delete;
  Irqfd(Irqfd&& o) noexcept { *this = std::move(o); }
  Irqfd& operator=(Irqfd&& o) noexcept;

  // Binds `eventfd` to `gsi`: a write to the eventfd injects the GSI inside the kernel.
  static Result<Irqfd> assign(Vm& vm, int eventfd, uint32_t gsi, int resample_fd = -1);
  bool valid() const { return vm_fd_ >= 0; }
  void reset();

 private:
  int vm_fd_ = -1;
  int eventfd_ = -1;
  uint32_t gsi_ = 0;
};

}  // namespace altovirt::kvm
