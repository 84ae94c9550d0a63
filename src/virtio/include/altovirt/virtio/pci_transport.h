// VirtioPciDevice: the virtio over PCI modern transport (virtio 1.2 section 4.1) for one
// VirtioDevice model, as a pci::PciDevice.
//
// Layout (what the guest sees): vendor 0x1af4, device 0x1040 + type, revision 1, subsystem
// 0x1af4/0x1100; one 64-bit prefetchable memory BAR (BAR 0, 32 KiB, as QEMU's modern BAR, so it
// fits a bridge's prefetchable window) holding
//   0x0000 common configuration (4.1.4.3)     0x1000 ISR status (4.1.4.5, read-to-clear)
//   0x2000 device configuration (4.1.4.6)     0x3000 notifications, queue q at 0x3000 + 4q (4.1.4.4)
//   0x4000 MSI-X table, 0x6000 MSI-X PBA (one vector per queue + one for configuration changes)
// and the vendor capabilities COMMON/NOTIFY (multiplier 4)/ISR/DEVICE/PCI_CFG pointing at them.
//
// Notifications: each enabled queue's notify address is a KVM ioeventfd (TransportHost), so a
// kick never leaves the kernel; the eventfd wakes the device's EventLoop, which calls
// VirtioDevice::queue_notified. The ioeventfds follow the BAR when the guest moves it. A notify
// that does reach bar_write (no ioeventfd yet, or through the PCI_CFG window) signals the same eventfd.
// A model whose queues run in the kernel (vhost) takes a queue over with Activation::detach_queue:
// the loop stops reading its kick eventfd, which goes to the backend, with a call eventfd that is
// the queue's MSI-X irqfd (TransportHost::vector_eventfd) or, under INTx, one the loop relays to
// raise(). reset() gives the queues back to the loop.
// Interrupts: MSI-X vectors (the capability model in pci/msix.h, delivered by the host's sink,
// i.e. KVM irqfds); when MSI-X is off, INTx (level) with the ISR bits, lowered when ISR is read.
//
// Threading: config accesses come with the bus's config lock held; BAR accesses from any vCPU
// thread take this device's mutex. Queue processing and interrupts (from the device model) run on
// the EventLoop thread. A status write of 0 (reset) runs VirtioDevice::reset on the loop thread and
// returns only when it has finished, so the driver reads status 0 only after in-flight requests
// were drained (4.1.4.3.1).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/log.h"
#include "altovirt/kvm/gsi.h"
#include "altovirt/pci/msi_sink.h"
#include "altovirt/pci/msix.h"
#include "altovirt/pci/pci_device.h"
#include "altovirt/virtio/device.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/guest_ram.h"
#include "altovirt/virtio/virtqueue.h"

namespace altovirt::virtio {

// One queue as the transport and the rings see it, for diagnosing a stalled device or driver (QMP
// x-query-virtio-queues): whether the guest kicked and the device interrupted, the vector's mask and
// pending bits, and the ring indices.
struct QueueReport {
  unsigned index = 0;
  bool enabled = false;    // the driver wrote queue_enable
  bool detached = false;   // run by a backend outside altovirt (vhost): kicks and interrupts bypass the counts
  bool broken = false;     // a bad ring or chain stopped it (DEVICE_NEEDS_RESET)
  uint16_t size = 0;
  uint16_t vector = 0xffff;
  bool vector_masked = false, vector_pending = false;
  uint64_t kicks = 0;       // times the loop woke for this queue's notifications
  uint64_t interrupts = 0;  // interrupts the device raised for it
  std::optional<RingState> ring;  // nullopt before DRIVER_OK
};
struct TransportReport {
  uint8_t status = 0;
  uint64_t features = 0;  // negotiated
  bool msix_enabled = false, msix_function_masked = false;
  uint16_t config_vector = 0xffff;
  uint8_t isr = 0;
  std::vector<QueueReport> queues;
};

// A registration that is undone when destroyed (an ioeventfd).
class Registration {
 public:
  virtual ~Registration() = default;
};

// What the transport needs from the machine, as an interface so that tests run without KVM.
class TransportHost {
 public:
  virtual ~TransportHost() = default;
  // The kernel signals `fd` when the guest writes (any length) to MMIO address `gpa`.
  virtual Result<std::unique_ptr<Registration>> add_ioeventfd(uint64_t gpa, int fd) = 0;
  // Where the MSI-X capability sends the vectors the guest programs, and delivers them.
  // `device`: the transport, whose requester id the MSIs carry (for a GICv3 ITS).
  virtual std::unique_ptr<pci::MsiSink> make_msix_sink(std::string owner, const pci::PciDevice* device) = 0;
  // This function's INTx (INTA#) line, level-triggered.
  virtual void set_intx(bool asserted) = 0;
  // The eventfd that delivers MSI-X `vector` of `sink` (one make_msix_sink made) without passing
  // through altovirt (a KVM irqfd), for a queue handed to a kernel backend; an error when there is
  // none (the transport then relays an eventfd of its own through raise()).
  virtual Result<int> vector_eventfd(pci::MsiSink& /*sink*/, unsigned /*vector*/) { return fail("no irqfd"); }
};

class VirtioPciDevice : public pci::PciDevice {
 public:
  static constexpr unsigned kBar = 0;
  static constexpr uint64_t kBarSize = 0x8000;
  static constexpr uint64_t kCommonOffset = 0x0, kCommonSize = 0x38;
  static constexpr uint64_t kIsrOffset = 0x1000, kIsrSize = 0x4;
  static constexpr uint64_t kDeviceOffset = 0x2000, kDeviceSize = 0x1000;
  static constexpr uint64_t kNotifyOffset = 0x3000, kNotifyMultiplier = 4;
  static constexpr uint64_t kMsixTableOffset = 0x4000, kMsixPbaOffset = 0x6000;
  static constexpr unsigned kMaxQueues = 1024;
  static constexpr uint16_t kNoVector = 0xffff;
  // Device status bits (2.1).
  static constexpr uint8_t kAcknowledge = 1, kDriver = 2, kDriverOk = 4, kFeaturesOk = 8, kNeedsReset = 0x40,
                           kFailed = 0x80;

  static Result<std::shared_ptr<VirtioPciDevice>> create(std::string name, std::shared_ptr<VirtioDevice> device,
                                                         TransportHost& host, const GuestRam& ram, EventLoop& loop);
  ~VirtioPciDevice() override;

  uint32_t config_read(unsigned offset, unsigned size) override;
  void config_write(unsigned offset, unsigned size, uint32_t value) override;
  void bar_read(unsigned bar, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(unsigned bar, uint64_t offset, std::span<const uint8_t> data) override;

  VirtioDevice& device() { return *device_; }
  uint8_t status() const;
  uint64_t driver_features() const;
  // A snapshot for diagnosis; any thread (takes the device's locks, never waits for the loop, so it
  // answers even when the loop thread is stuck).
  TransportReport report() const;

 protected:
  void bar_mapping_changed(unsigned bar, std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr) override;

 private:
  struct Queue {
    std::unique_ptr<Virtqueue> vq;
    std::optional<kvm::EventFd> kick;
    std::unique_ptr<Registration> ioeventfd;
    QueueLayout layout;
    std::atomic<bool> detached{false};     // set on the loop thread: handed to a backend (detach_queue)
    std::optional<kvm::EventFd> relay;     // the call eventfd relayed to raise() when no irqfd serves
    std::atomic<uint16_t> msix_vector{kNoVector};  // read by the loop thread when it interrupts
    bool enabled = false;
    std::atomic<uint64_t> kicks{0}, interrupts{0};  // for report(); counted on the loop thread
  };
  VirtioPciDevice(std::string name, std::shared_ptr<VirtioDevice> device, TransportHost& host, const GuestRam& ram,
                  EventLoop& loop);
  Status init();
  uint32_t common_read(uint64_t offset, unsigned size);
  void common_write(uint64_t offset, unsigned size, uint32_t value);
  void write_status_locked(uint8_t value);
  void reset_locked();
  void activate_locked();
  void register_ioeventfds_locked(std::optional<uint64_t> bar_addr);
  Result<QueueEventFds> detach_queue(unsigned q);  // loop thread, from the model's activate()
  void reattach_queues();                           // loop thread, after the model's reset()
  void on_kick(unsigned q);
  void raise(std::optional<unsigned> queue);  // queue interrupt, or config change when nullopt
  void device_error(const std::string& why);
  void bar_access(uint64_t offset, std::span<uint8_t> data, bool write);

  std::shared_ptr<VirtioDevice> device_;
  TransportHost& host_;
  const GuestRam& ram_;
  EventLoop& loop_;
  std::unique_ptr<pci::MsiSink> msix_sink_;
  std::unique_ptr<pci::MsixCapability> msix_;
  unsigned pci_cfg_cap_ = 0;

  mutable std::mutex mutex_;  // common config, features, queue setup
  std::atomic<uint8_t> status_{0};  // also set (NEEDS_RESET) from the loop thread
  uint32_t device_feature_select_ = 0, driver_feature_select_ = 0;
  uint64_t offered_ = 0, driver_features_ = 0;
  uint16_t queue_select_ = 0;
  std::atomic<uint16_t> config_msix_vector_{kNoVector};
  std::atomic<uint8_t> config_generation_{0};
  std::vector<std::unique_ptr<Queue>> queues_;
  std::optional<uint64_t> bar_addr_;
  bool loop_active_ = false;  // loop thread only: the model is activated and may be kicked

  mutable std::mutex isr_mutex_;  // ISR and the INTx level
  uint8_t isr_ = 0;
  log::RateLimiter limiter_{5, std::chrono::seconds(10)};
};

}  // namespace altovirt::virtio
