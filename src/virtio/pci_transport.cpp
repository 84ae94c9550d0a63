#include "altovirt/virtio/pci_transport.h"

#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace altovirt::virtio {
namespace {

constexpr uint16_t kVendor = 0x1af4;
constexpr unsigned kCapLen = 16;        // struct virtio_pci_cap (4.1.4)
constexpr unsigned kNotifyCapLen = 20;  // + notify_off_multiplier
constexpr unsigned kPciCfgCapLen = 20;  // + pci_cfg_data

uint32_t get_le(std::span<const uint8_t> d) {
  uint32_t v = 0;
  std::memcpy(&v, d.data(), std::min<size_t>(d.size(), 4));
  return v;
}
void put_le(std::span<uint8_t> d, uint64_t v) { std::memcpy(d.data(), &v, std::min<size_t>(d.size(), 8)); }

}  // namespace

VirtioPciDevice::VirtioPciDevice(std::string name, std::shared_ptr<VirtioDevice> device, TransportHost& host,
                                 const GuestRam& ram, EventLoop& loop)
    : pci::PciDevice(std::move(name), kVendor, static_cast<uint16_t>(0x1040 + device->device_type()),
                     device->pci_class(), 1),
      device_(std::move(device)), host_(host), ram_(ram), loop_(loop) {}

Result<std::shared_ptr<VirtioPciDevice>> VirtioPciDevice::create(std::string name, std::shared_ptr<VirtioDevice> device,
                                                                 TransportHost& host, const GuestRam& ram,
                                                                 EventLoop& loop) {
  if (device->num_queues() == 0 || device->num_queues() > kMaxQueues)
    return fail("{}: {} queues (1..{} supported)", name, device->num_queues(), kMaxQueues);
  if (device->config_size() > kDeviceSize) return fail("{}: device configuration larger than {} bytes", name, kDeviceSize);
  std::uint16_t mqs = device->max_queue_size();
  if (mqs == 0 || mqs > 32768 || !std::has_single_bit(mqs)) return fail("{}: queue size {} is not a power of two", name, mqs);
  std::shared_ptr<VirtioPciDevice> d(new VirtioPciDevice(std::move(name), std::move(device), host, ram, loop));
  AV_TRY(d->init());
  return d;
}

Status VirtioPciDevice::init() {
  config_.set16(PCI_SUBSYSTEM_VENDOR_ID, kVendor);
  config_.set16(PCI_SUBSYSTEM_ID, 0x1100);  // 4.1.2.1: any value for a non-transitional device
  config_.set8(PCI_INTERRUPT_PIN, 1);       // INTA#
  AV_TRY(define_bar(kBar, {pci::BarKind::mem64, kBarSize, true}));

  auto add_cap = [&](uint8_t type, uint64_t offset, uint64_t length, unsigned len) -> Result<unsigned> {
    AV_TRY_ASSIGN(unsigned at, config_.add_capability(PCI_CAP_ID_VNDR, len));
    config_.set8(at + 2, static_cast<uint8_t>(len));  // cap_len
    config_.set8(at + 3, type);                          // cfg_type
    config_.set8(at + 4, kBar);
    config_.set32(at + 8, static_cast<uint32_t>(offset));
    config_.set32(at + 12, static_cast<uint32_t>(length));
    return at;
  };
  unsigned nq = device_->num_queues();
  AV_TRY(add_cap(VIRTIO_PCI_CAP_COMMON_CFG, kCommonOffset, kCommonSize, kCapLen));
  AV_TRY(add_cap(VIRTIO_PCI_CAP_ISR_CFG, kIsrOffset, kIsrSize, kCapLen));
  if (device_->config_size() > 0)
    AV_TRY(add_cap(VIRTIO_PCI_CAP_DEVICE_CFG, kDeviceOffset, device_->config_size(), kCapLen));
  AV_TRY_ASSIGN(unsigned notify, add_cap(VIRTIO_PCI_CAP_NOTIFY_CFG, kNotifyOffset, kNotifyMultiplier * nq, kNotifyCapLen));
  config_.set32(notify + 16, kNotifyMultiplier);
  // 4.1.4.9: the PCI configuration access capability, a window into the BAR through config space;
  // bar, offset, length and data are the driver's to write.
  AV_TRY_ASSIGN(pci_cfg_cap_, add_cap(VIRTIO_PCI_CAP_PCI_CFG, 0, 0, kPciCfgCapLen));
  config_.set_wmask(pci_cfg_cap_ + 4, 1, 0xff);
  config_.set_wmask(pci_cfg_cap_ + 8, 4, 0xffffffff);
  config_.set_wmask(pci_cfg_cap_ + 12, 4, 0xffffffff);
  config_.set_wmask(pci_cfg_cap_ + 16, 4, 0xffffffff);

  // The transport offers VERSION_1 and, of the reserved bits (6), only those it implements and the
  // model asked for; device-specific bits are 0..23.
  offered_ = kFVersion1 | (device_->device_features() & ((1ull << 24) - 1)) |
             (device_->device_features() & (kFIndirectDesc | kFEventIdx));

  msix_sink_ = host_.make_msix_sink(name(), this);
  AV_TRY_ASSIGN(msix_, pci::MsixCapability::create(config_, *msix_sink_, nq + 1, kBar,
                                                   static_cast<uint32_t>(kMsixTableOffset), kBar,
                                                   static_cast<uint32_t>(kMsixPbaOffset)));

  for (unsigned q = 0; q < nq; ++q) {
    auto queue = std::make_unique<Queue>();
    queue->vq = std::make_unique<Virtqueue>(ram_, q);
    queue->layout.size = device_->max_queue_size();
    queue->vq->set_interrupt([this, q] { raise(q); });
    queue->vq->set_error_handler([this](const std::string& why) { device_error(why); });
    AV_TRY_ASSIGN(kvm::EventFd kick, kvm::EventFd::create());
    queue->kick.emplace(std::move(kick));
    queues_.push_back(std::move(queue));
  }
  // Kicks are handled on the loop, and only while the model is active (set on the loop thread).
  for (unsigned q = 0; q < nq; ++q) AV_TRY(loop_.add_fd(queues_[q]->kick->fd(), [this, q] { on_kick(q); }));
  return ok();
}

void VirtioPciDevice::on_kick(unsigned q) {
  Queue& queue = *queues_[q];
  queue.kick->drain();
  queue.kicks.fetch_add(1, std::memory_order_relaxed);
  if (loop_active_ && !queue.detached && queue.vq->ready()) device_->queue_notified(q);
}

Result<QueueEventFds> VirtioPciDevice::detach_queue(unsigned q) {
  if (q >= queues_.size() || !queues_[q]->vq->ready()) return fail("{}: queue {} is not enabled", name(), q);
  Queue& queue = *queues_[q];
  QueueEventFds fds;
  fds.kick = queue.kick->fd();
  // The interrupt: straight into KVM when the driver gave the queue an MSI-X vector (MsiRoutes
  // keeps a masked vector's events counted and delivers them on unmask, the PBA behaviour).
  // Otherwise (INTx, or no vector) an eventfd of ours whose events go through raise(), which sets
  // the ISR bit and the line. The vector is read once: Linux assigns it before DRIVER_OK.
  uint16_t vector = queue.msix_vector.load();
  if (msix_->enabled() && vector != kNoVector && vector < msix_->vectors()) {
    if (auto fd = host_.vector_eventfd(*msix_sink_, vector)) fds.call = *fd;
  }
  if (fds.call < 0) {
    if (!queue.relay) {
      AV_TRY_ASSIGN(kvm::EventFd relay, kvm::EventFd::create());
      queue.relay.emplace(std::move(relay));
    }
    AV_TRY(loop_.add_fd(queue.relay->fd(), [this, q] {
      queues_[q]->relay->drain();
      raise(q);
    }));
    fds.call = queue.relay->fd();
  }
  // From now on the backend reads the kick eventfd: the loop must not (it would eat the counts).
  loop_.remove_fd(fds.kick);
  queue.detached = true;
  return fds;
}

void VirtioPciDevice::reattach_queues() {
  for (unsigned q = 0; q < queues_.size(); ++q) {
    Queue& queue = *queues_[q];
    if (!queue.detached) continue;
    queue.detached = false;
    if (queue.relay) loop_.remove_fd(queue.relay->fd());
    if (auto s = loop_.add_fd(queue.kick->fd(), [this, q] { on_kick(q); }); !s)
      log::error("virtio", "{}: queue {} kicks lost: {}", name(), q, s.error().message());
  }
}

VirtioPciDevice::~VirtioPciDevice() {
  // Stop the model (drains its requests) before the queues and eventfds go away.
  loop_.run_sync([this] {
    if (loop_active_) device_->reset();
    loop_active_ = false;
  });
  for (auto& q : queues_) {
    loop_.remove_fd(q->kick->fd());
    if (q->relay) loop_.remove_fd(q->relay->fd());
  }
}

uint8_t VirtioPciDevice::status() const { return status_.load(); }
uint64_t VirtioPciDevice::driver_features() const {
  std::lock_guard lock(mutex_);
  return driver_features_;
}

TransportReport VirtioPciDevice::report() const {
  std::lock_guard lock(mutex_);  // the queues stay configured (or not) while we read their rings
  TransportReport r;
  r.status = status_.load();
  r.features = driver_features_;
  r.msix_enabled = msix_->enabled();
  r.msix_function_masked = msix_->function_masked();
  r.config_vector = config_msix_vector_.load();
  {
    std::lock_guard isr(isr_mutex_);
    r.isr = isr_;
  }
  for (unsigned i = 0; i < queues_.size(); ++i) {
    const Queue& q = *queues_[i];
    QueueReport qr;
    qr.index = i;
    qr.enabled = q.enabled;
    qr.detached = q.detached.load();
    qr.broken = q.vq->broken();
    qr.size = q.layout.size;
    qr.vector = q.msix_vector.load();
    if (qr.vector < msix_->vectors()) {
      qr.vector_masked = msix_->vector_masked(qr.vector);
      qr.vector_pending = msix_->pending(qr.vector);
    }
    qr.kicks = q.kicks.load(std::memory_order_relaxed);
    qr.interrupts = q.interrupts.load(std::memory_order_relaxed);
    qr.ring = q.vq->ring_state();
    r.queues.push_back(qr);
  }
  return r;
}

// ---- interrupts -------------------------------------------------------------------------------

void VirtioPciDevice::raise(std::optional<unsigned> queue) {
  if (queue) queues_[*queue]->interrupts.fetch_add(1, std::memory_order_relaxed);
  if (msix_->enabled()) {
    uint16_t v = queue ? queues_[*queue]->msix_vector.load() : config_msix_vector_.load();
    if (v != kNoVector) msix_->signal(v);  // 4.1.5.4: NO_VECTOR means no interrupt for it
    return;
  }
  // INTx (4.1.5.3): the ISR bit says why; the line stays up until the driver reads ISR.
  std::lock_guard lock(isr_mutex_);
  isr_ |= queue ? 0x1 : VIRTIO_PCI_ISR_CONFIG;  // 4.1.4.5: bit 0 queue, bit 1 configuration
  host_.set_intx(true);
}

void VirtioPciDevice::device_error(const std::string& why) {
  // 2.1.2: the device sets DEVICE_NEEDS_RESET and tells the driver with a configuration interrupt.
  status_.fetch_or(kNeedsReset);
  if (limiter_.allow()) {
    uint64_t more = limiter_.take_suppressed();
    log::warn("virtio", "{}: guest error, device needs reset: {}{}", name(), why,
              more ? fmt::format(" ({} similar messages suppressed)", more) : "");
  }
  config_generation_.fetch_add(1);
  raise(std::nullopt);
}

// ---- config space ------------------------------------------------------------------------------

uint32_t VirtioPciDevice::config_read(unsigned offset, unsigned size) {
  // pci_cfg_data (4.1.4.9): a read through the window reads the BAR at cap.offset.
  if (offset >= pci_cfg_cap_ + 16 && offset < pci_cfg_cap_ + 20 && offset + size <= pci_cfg_cap_ + 20) {
    uint8_t bar = config_.get8(pci_cfg_cap_ + 4);
    uint32_t off = config_.get32(pci_cfg_cap_ + 8), len = config_.get32(pci_cfg_cap_ + 12);
    uint8_t buf[4] = {0, 0, 0, 0};
    if (bar == kBar && (len == 1 || len == 2 || len == 4) && off % len == 0 && uint64_t{off} + len <= kBarSize) {
      bar_access(off, std::span<uint8_t>(buf, len), false);
      config_.set32(pci_cfg_cap_ + 16, get_le(buf));
    }
  }
  return PciDevice::config_read(offset, size);
}

void VirtioPciDevice::config_write(unsigned offset, unsigned size, uint32_t value) {
  standard_config_write(offset, size, value);
  if (offset < msix_->offset() + 4 && offset + size > msix_->offset()) msix_->control_written();
  if (offset >= pci_cfg_cap_ + 16 && offset + size <= pci_cfg_cap_ + 20) {
    uint8_t bar = config_.get8(pci_cfg_cap_ + 4);
    uint32_t off = config_.get32(pci_cfg_cap_ + 8), len = config_.get32(pci_cfg_cap_ + 12);
    if (bar == kBar && (len == 1 || len == 2 || len == 4) && off % len == 0 && uint64_t{off} + len <= kBarSize) {
      uint8_t buf[4];
      put_le(std::span<uint8_t>(buf, 4), config_.get32(pci_cfg_cap_ + 16));
      bar_access(off, std::span<uint8_t>(buf, len), true);
    }
  }
}

// ---- BAR ---------------------------------------------------------------------------------------

void VirtioPciDevice::bar_read(unsigned bar, uint64_t offset, std::span<uint8_t> data) {
  if (bar != kBar) return PciDevice::bar_read(bar, offset, data);
  bar_access(offset, data, false);
}

void VirtioPciDevice::bar_write(unsigned bar, uint64_t offset, std::span<const uint8_t> data) {
  if (bar != kBar) return;
  std::array<uint8_t, 8> buf{};
  size_t n = std::min(data.size(), buf.size());
  std::copy_n(data.begin(), n, buf.begin());
  bar_access(offset, std::span<uint8_t>(buf.data(), n), true);
}

void VirtioPciDevice::bar_access(uint64_t offset, std::span<uint8_t> data, bool write) {
  const size_t len = data.size();
  if (msix_->in_table(kBar, offset, len)) {
    if (write) msix_->table_write(offset - kMsixTableOffset, data);
    else msix_->table_read(offset - kMsixTableOffset, data);
    return;
  }
  if (msix_->in_pba(kBar, offset, len)) {
    if (!write) msix_->pba_read(offset - kMsixPbaOffset, data);
    return;
  }
  if (offset >= kCommonOffset && offset + len <= kCommonOffset + kCommonSize) {
    if (len != 1 && len != 2 && len != 4) {
      if (!write) std::fill(data.begin(), data.end(), 0);
      return;
    }
    if (write) common_write(offset - kCommonOffset, static_cast<unsigned>(len), get_le(data));
    else put_le(data, common_read(offset - kCommonOffset, static_cast<unsigned>(len)));
    return;
  }
  if (offset >= kIsrOffset && offset < kIsrOffset + kIsrSize) {
    if (write) return;
    std::fill(data.begin(), data.end(), 0);
    std::lock_guard lock(isr_mutex_);
    data[0] = isr_;  // 4.1.4.5: reading ISR clears it and lowers INTx
    isr_ = 0;
    host_.set_intx(false);
    return;
  }
  if (offset >= kDeviceOffset && offset < kDeviceOffset + kDeviceSize) {
    uint64_t off = offset - kDeviceOffset;
    if (off + len > device_->config_size()) {
      if (!write) std::fill(data.begin(), data.end(), 0);
      return;
    }
    std::lock_guard lock(mutex_);
    if (write) device_->write_config(static_cast<uint32_t>(off), data);
    else device_->read_config(static_cast<uint32_t>(off), data);
    return;
  }
  if (offset >= kNotifyOffset && offset < kNotifyOffset + kNotifyMultiplier * queues_.size()) {
    // Reached only without an ioeventfd (or through PCI_CFG): kick the same eventfd.
    if (write) (void)queues_[(offset - kNotifyOffset) / kNotifyMultiplier]->kick->signal();
    else std::fill(data.begin(), data.end(), 0);
    return;
  }
  if (!write) std::fill(data.begin(), data.end(), 0);
}

// ---- common configuration (4.1.4.3) ------------------------------------------------------------

uint32_t VirtioPciDevice::common_read(uint64_t offset, unsigned size) {
  std::lock_guard lock(mutex_);
  uint8_t regs[kCommonSize] = {};
  auto put16 = [&](unsigned o, uint16_t v) { std::memcpy(regs + o, &v, 2); };
  auto put32 = [&](unsigned o, uint32_t v) { std::memcpy(regs + o, &v, 4); };
  auto put64 = [&](unsigned o, uint64_t v) { std::memcpy(regs + o, &v, 8); };
  put32(VIRTIO_PCI_COMMON_DFSELECT, device_feature_select_);
  put32(VIRTIO_PCI_COMMON_DF, device_feature_select_ < 2 ? static_cast<uint32_t>(offered_ >> (32 * device_feature_select_)) : 0);
  put32(VIRTIO_PCI_COMMON_GFSELECT, driver_feature_select_);
  put32(VIRTIO_PCI_COMMON_GF, driver_feature_select_ < 2 ? static_cast<uint32_t>(driver_features_ >> (32 * driver_feature_select_)) : 0);
  put16(VIRTIO_PCI_COMMON_MSIX, config_msix_vector_.load());
  put16(VIRTIO_PCI_COMMON_NUMQ, static_cast<uint16_t>(queues_.size()));
  regs[VIRTIO_PCI_COMMON_STATUS] = status_.load();
  regs[VIRTIO_PCI_COMMON_CFGGENERATION] = config_generation_.load();
  put16(VIRTIO_PCI_COMMON_Q_SELECT, queue_select_);
  if (queue_select_ < queues_.size()) {
    // 4.1.4.3.2: a queue that does not exist reads queue_size 0; the rest stays 0.
    const Queue& q = *queues_[queue_select_];
    put16(VIRTIO_PCI_COMMON_Q_SIZE, q.layout.size);
    put16(VIRTIO_PCI_COMMON_Q_MSIX, q.msix_vector.load());
    put16(VIRTIO_PCI_COMMON_Q_ENABLE, q.enabled ? 1 : 0);
    put16(VIRTIO_PCI_COMMON_Q_NOFF, queue_select_);
    put64(VIRTIO_PCI_COMMON_Q_DESCLO, q.layout.desc);
    put64(VIRTIO_PCI_COMMON_Q_AVAILLO, q.layout.avail);
    put64(VIRTIO_PCI_COMMON_Q_USEDLO, q.layout.used);
  }
  // Naturally aligned accesses only (4.1.3.1); anything else reads 0.
  if (offset % size != 0) return 0;
  uint32_t v = 0;
  std::memcpy(&v, regs + offset, size);
  return v;
}

void VirtioPciDevice::common_write(uint64_t offset, unsigned size, uint32_t value) {
  std::lock_guard lock(mutex_);
  if (offset % size != 0) return;
  const unsigned nvec = msix_->vectors();
  auto vector_or_none = [&](uint32_t v) -> uint16_t {
    // 4.1.5.1.2: a vector the device cannot use reads back NO_VECTOR, which tells the driver.
    return v < nvec ? static_cast<uint16_t>(v) : kNoVector;
  };
  Queue* q = queue_select_ < queues_.size() ? queues_[queue_select_].get() : nullptr;
  // Queue addresses and size are the driver's only while the queue is disabled (4.1.4.3.2).
  bool q_writable = q != nullptr && !q->enabled;
  auto set_half = [&](uint64_t& field, unsigned rel) {
    if (size == 4) field = rel == 0 ? (field & ~0xffffffffull) | value : (field & 0xffffffffull) | uint64_t{value} << 32;
  };
  switch (offset) {
    case VIRTIO_PCI_COMMON_DFSELECT: if (size == 4) device_feature_select_ = value; break;
    case VIRTIO_PCI_COMMON_GFSELECT: if (size == 4) driver_feature_select_ = value; break;
    case VIRTIO_PCI_COMMON_GF:
      // 3.1.1: features are final once FEATURES_OK is set.
      if (size == 4 && driver_feature_select_ < 2 && !(status_.load() & kFeaturesOk)) {
        unsigned shift = 32 * driver_feature_select_;
        driver_features_ = (driver_features_ & ~(0xffffffffull << shift)) | (uint64_t{value} << shift);
      }
      break;
    case VIRTIO_PCI_COMMON_MSIX: if (size == 2) config_msix_vector_ = vector_or_none(value); break;
    case VIRTIO_PCI_COMMON_STATUS: if (size == 1) write_status_locked(static_cast<uint8_t>(value)); break;
    case VIRTIO_PCI_COMMON_Q_SELECT: if (size == 2) queue_select_ = static_cast<uint16_t>(value); break;
    case VIRTIO_PCI_COMMON_Q_SIZE:
      // A power of two no larger than the maximum (2.7: split rings); anything else is ignored and
      // the old value stays, which the driver can read back.
      if (size == 2 && q_writable && value != 0 && value <= device_->max_queue_size() && std::has_single_bit(value))
        q->layout.size = static_cast<uint16_t>(value);
      break;
    case VIRTIO_PCI_COMMON_Q_MSIX: if (size == 2 && q) q->msix_vector = vector_or_none(value); break;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
      // 4.1.4.3.2: the driver writes 1 only; 0 is not a way to disable a queue.
      if (size == 2 && value == 1 && q_writable) q->enabled = true;
      break;
    case VIRTIO_PCI_COMMON_Q_DESCLO: case VIRTIO_PCI_COMMON_Q_DESCHI:
      if (q_writable) set_half(q->layout.desc, static_cast<unsigned>(offset - VIRTIO_PCI_COMMON_Q_DESCLO));
      break;
    case VIRTIO_PCI_COMMON_Q_AVAILLO: case VIRTIO_PCI_COMMON_Q_AVAILHI:
      if (q_writable) set_half(q->layout.avail, static_cast<unsigned>(offset - VIRTIO_PCI_COMMON_Q_AVAILLO));
      break;
    case VIRTIO_PCI_COMMON_Q_USEDLO: case VIRTIO_PCI_COMMON_Q_USEDHI:
      if (q_writable) set_half(q->layout.used, static_cast<unsigned>(offset - VIRTIO_PCI_COMMON_Q_USEDLO));
      break;
    default: break;  // read-only fields
  }
}

void VirtioPciDevice::write_status_locked(uint8_t value) {
  if (value == 0) {
    reset_locked();
    return;
  }
  uint8_t old = status_.load();
  // 2.1.1: the driver never clears a status bit (only a reset does); such a write is ignored.
  // NEEDS_RESET is the device's bit, which the driver's writes do not change.
  if ((old & ~kNeedsReset & ~value) != 0) {
    if (limiter_.allow()) log::warn("virtio", "{}: driver cleared status bits ({:#x} -> {:#x}); ignored", name(), old, value);
    return;
  }
  uint8_t next = static_cast<uint8_t>((value & ~kNeedsReset) | (old & kNeedsReset));
  if ((next & kFeaturesOk) && !(old & kFeaturesOk)) {
    // 3.1.1 / 6.1: VERSION_1 is required of a modern driver, and only offered bits may be accepted;
    // otherwise FEATURES_OK does not stick and the driver sees the device refused.
    bool valid = (driver_features_ & kFVersion1) && (driver_features_ & ~offered_) == 0 &&
                 device_->accept_features(driver_features_);
    if (!valid) {
      if (limiter_.allow())
        log::warn("virtio", "{}: refusing features {:#x} (offered {:#x}, VERSION_1 required)", name(), driver_features_, offered_);
      next &= static_cast<uint8_t>(~kFeaturesOk);
    }
  }
  if ((next & kDriverOk) && !(old & kDriverOk)) {
    if (!(next & kFeaturesOk)) {
      if (limiter_.allow()) log::warn("virtio", "{}: DRIVER_OK without FEATURES_OK; ignored", name());
      next &= static_cast<uint8_t>(~kDriverOk);
    } else {
      status_ = next;
      activate_locked();
      return;
    }
  }
  status_ = next;
}

void VirtioPciDevice::activate_locked() {
  bool indirect = driver_features_ & kFIndirectDesc, event_idx = driver_features_ & kFEventIdx;
  std::vector<Virtqueue*> vqs(queues_.size(), nullptr);
  for (size_t i = 0; i < queues_.size(); ++i) {
    Queue& q = *queues_[i];
    if (!q.enabled) continue;
    if (auto s = q.vq->configure(q.layout, indirect, event_idx); !s) {
      device_error(s.error().message());
      return;
    }
    vqs[i] = q.vq.get();
  }
  Activation act{ram_, driver_features_, std::move(vqs), loop_,
                 [this] {
                   config_generation_.fetch_add(1);
                   raise(std::nullopt);
                 },
                 [this](unsigned q) { return detach_queue(q); }};
  Status result = ok();
  loop_.run_sync([&] {
    result = device_->activate(act);
    loop_active_ = static_cast<bool>(result);
    if (!loop_active_) reattach_queues();
    // Requests the driver queued before DRIVER_OK may have been kicked already (kicks were ignored).
    if (loop_active_)
      for (size_t i = 0; i < queues_.size(); ++i)
        if (act.queues[i] != nullptr && !queues_[i]->detached) device_->queue_notified(static_cast<unsigned>(i));
  });
  if (!result) device_error(result.error().message());
}

void VirtioPciDevice::reset_locked() {
  // 4.1.4.3.1 / 2.4.1: after a reset the device has stopped using the rings and completed or
  // dropped every request, and only then does status read back 0. The model drains on its thread.
  loop_.run_sync([this] {
    if (loop_active_) device_->reset();
    loop_active_ = false;
    reattach_queues();
  });
  for (auto& q : queues_) {
    q->vq->disable();
    q->enabled = false;
    q->layout = QueueLayout{};
    q->layout.size = device_->max_queue_size();
    q->msix_vector = kNoVector;
  }
  config_msix_vector_ = kNoVector;
  driver_features_ = 0;
  device_feature_select_ = driver_feature_select_ = 0;
  queue_select_ = 0;
  {
    std::lock_guard lock(isr_mutex_);
    isr_ = 0;
    host_.set_intx(false);
  }
  status_ = 0;
}

// ---- notifications -----------------------------------------------------------------------------

void VirtioPciDevice::register_ioeventfds_locked(std::optional<uint64_t> bar_addr) {
  bar_addr_ = bar_addr;
  for (size_t i = 0; i < queues_.size(); ++i) {
    Queue& q = *queues_[i];
    q.ioeventfd.reset();
    if (!bar_addr) continue;
    auto r = host_.add_ioeventfd(*bar_addr + kNotifyOffset + kNotifyMultiplier * i, q.kick->fd());
    // Without an ioeventfd the notify write still reaches bar_write, only slower.
    if (!r) log::warn("virtio", "{}: queue {} notifications through MMIO exits: {}", name(), i, r.error().message());
    else q.ioeventfd = std::move(*r);
  }
}

void VirtioPciDevice::bar_mapping_changed(unsigned bar, std::optional<uint64_t>, std::optional<uint64_t> new_addr) {
  if (bar != kBar) return;
  std::lock_guard lock(mutex_);
  register_ioeventfds_locked(new_addr);
}

}  // namespace altovirt::virtio
