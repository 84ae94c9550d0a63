#include "altovirt/pci/msi.h"

#include <linux/pci_regs.h>

#include <bit>

namespace altovirt::pci {

Result<std::unique_ptr<MsiCapability>> MsiCapability::create(ConfigSpace& config, MsiSink& sink, unsigned vectors) {
  if (vectors == 0 || vectors > 32 || !std::has_single_bit(vectors))
    return fail("MSI with {} vectors: the spec allows 1, 2, 4, 8, 16 or 32", vectors);
  AV_TRY_ASSIGN(unsigned cap, config.add_capability(PCI_CAP_ID_MSI, kSize));
  uint16_t mmc = static_cast<uint16_t>(std::countr_zero(vectors));
  config.set16(cap + PCI_MSI_FLAGS, static_cast<uint16_t>(PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | (mmc << 1)));
  config.set_wmask(cap + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
  config.set_wmask(cap + PCI_MSI_ADDRESS_LO, 4, 0xfffffffc);
  config.set_wmask(cap + PCI_MSI_ADDRESS_HI, 4, 0xffffffff);
  config.set_wmask(cap + PCI_MSI_DATA_64, 2, 0xffff);
  config.set_wmask(cap + PCI_MSI_MASK_64, 4, vectors == 32 ? 0xffffffff : (1u << vectors) - 1);
  return std::unique_ptr<MsiCapability>(new MsiCapability(config, sink, cap));
}

bool MsiCapability::enabled() const { return config_.get16(cap_ + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE; }

unsigned MsiCapability::enabled_vectors() const {
  unsigned mme = (config_.get16(cap_ + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QSIZE) >> 4;
  unsigned mmc = (config_.get16(cap_ + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QMASK) >> 1;
  return 1u << std::min(mme, mmc);  // MME larger than MMC is undefined; clamp
}

MsiMessage MsiCapability::message(unsigned v) const {
  uint64_t addr = config_.get32(cap_ + PCI_MSI_ADDRESS_LO) | uint64_t{config_.get32(cap_ + PCI_MSI_ADDRESS_HI)} << 32;
  uint32_t data = config_.get16(cap_ + PCI_MSI_DATA_64);
  unsigned n = enabled_vectors();
  data = (data & ~(n - 1)) | (v & (n - 1));
  return MsiMessage{addr, data};
}

bool MsiCapability::masked_locked(unsigned v) const {
  return !enabled() || ((config_.get32(cap_ + PCI_MSI_MASK_64) >> v) & 1);
}

void MsiCapability::config_written() {
  std::lock_guard lock(mutex_);
  bool en = enabled();
  unsigned n = en ? enabled_vectors() : 0;
  if (en != was_enabled_ || n != was_vectors_) sink_.enable_changed(en, n);
  was_enabled_ = en;
  was_vectors_ = n;
  for (unsigned v = 0; v < std::max(n, 1u); ++v) {
    MsiMessage m = message(v);
    bool masked = masked_locked(v);
    if (m == last_[v] && masked == last_masked_[v]) continue;
    last_[v] = m;
    last_masked_[v] = masked;
    sink_.vector_changed(v, m, masked);
    // Unmasking a vector with its pending bit set sends the message (6.8.1.8).
    uint32_t pend = config_.get32(cap_ + PCI_MSI_PENDING_64);
    if (!masked && (pend >> v) & 1) {
      config_.set32(cap_ + PCI_MSI_PENDING_64, pend & ~(1u << v));
      sink_.inject(v, m);
    }
  }
}

void MsiCapability::signal(unsigned v) {
  std::lock_guard lock(mutex_);
  if (!enabled() || v >= enabled_vectors()) return;
  if (masked_locked(v)) {
    config_.set32(cap_ + PCI_MSI_PENDING_64, config_.get32(cap_ + PCI_MSI_PENDING_64) | (1u << v));
    return;
  }
  sink_.inject(v, message(v));
}

}  // namespace altovirt::pci
