#include "altovirt/pci/root_port.h"

#include <utility>

namespace altovirt::pci {

namespace {
constexpr unsigned kExpSizeV2 = 0x3c;  // PCIe capability structure, version 2, with the slot and root registers
constexpr uint32_t kSlotEvents = PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_MRLSC | PCI_EXP_SLTSTA_PDC |
                                 PCI_EXP_SLTSTA_CC | PCI_EXP_SLTSTA_DLLSC;
}  // namespace

// Class 06/04/00: bridge, PCI-to-PCI (PCI Code and ID Assignment spec 1.12, D.7).
RootPort::RootPort(const RootPortOptions& o) : PciBridge(o.name, kVendor, kDevice, 0x060400, 0), options_(o) {
  config_.set16(PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);  // as the host bridge (and QEMU's ports)
  config_.set16(PCI_SUBSYSTEM_ID, 0x1100);
  // No INTx: the port's own interrupts (hot-plug, later) are MSI. Pin 0 = none (PCI 3.0 6.2.4).
  config_.set8(PCI_INTERRUPT_PIN, 0);
}

Result<std::shared_ptr<RootPort>> RootPort::create(const RootPortOptions& options, std::unique_ptr<MsiSink> msi_sink) {
  if (options.slot_number >= (1u << 13))
    return fail("{}: physical slot number {} does not fit the 13 bits of Slot Capabilities (0..8191)", options.name,
                options.slot_number);
  std::shared_ptr<RootPort> port(new RootPort(options));
  port->msi_sink_ = std::move(msi_sink);
  AV_TRY(port->init());
  return port;
}

Status RootPort::init() {
  AV_TRY_ASSIGN(exp_, config_.add_capability(PCI_CAP_ID_EXP, kExpSizeV2));
  // PCI Express Capabilities (7.5.3.2): version 2, Root Port, Slot Implemented, message number 0.
  config_.set16(exp_ + PCI_EXP_FLAGS, 2 | PCI_EXP_TYPE_ROOT_PORT << 4 | PCI_EXP_FLAGS_SLOT);
  // Device Capabilities (7.5.3.3): 128-byte payloads, role-based error reporting (required of 1.1+).
  config_.set32(exp_ + PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_RBER);
  // Device Control: error reporting enables, relaxed ordering, no snoop, payload and read request
  // sizes are the guest's (7.5.3.4); Device Status error bits are RW1C.
  config_.set16(exp_ + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN | PCI_EXP_DEVCTL_READRQ_512B);
  config_.set_wmask(exp_ + PCI_EXP_DEVCTL, 2,
                    PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE | PCI_EXP_DEVCTL_FERE | PCI_EXP_DEVCTL_URRE |
                        PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_PAYLOAD | PCI_EXP_DEVCTL_NOSNOOP_EN | PCI_EXP_DEVCTL_READRQ);
  config_.set_w1cmask(exp_ + PCI_EXP_DEVSTA, 2, 0x000f);
  // Link Capabilities (7.5.3.6): 2.5 GT/s, x1, DLL Link Active Reporting Capable (so that pciehp
  // polls link state after power-on instead of sleeping a fixed 1 s), port number in 31:24.
  config_.set32(exp_ + PCI_EXP_LNKCAP, PCI_EXP_LNKCAP_SLS_2_5GB | 1u << 4 | PCI_EXP_LNKCAP_DLLLARC |
                                           uint32_t{options_.port} << 24);
  // Link Control: ASPM, RCB, common clock, extended sync, ... are plain storage for a virtual link.
  config_.set_wmask(exp_ + PCI_EXP_LNKCTL, 2, 0x0ffb);
  // Slot Capabilities (7.5.3.9).
  config_.set32(exp_ + PCI_EXP_SLTCAP, PCI_EXP_SLTCAP_ABP | PCI_EXP_SLTCAP_PCP | PCI_EXP_SLTCAP_AIP |
                                           PCI_EXP_SLTCAP_PIP | PCI_EXP_SLTCAP_HPS | PCI_EXP_SLTCAP_HPC |
                                           uint32_t{options_.slot_number} << 19);
  // Slot Control (7.5.3.10): the event enables, the indicators and the power controller.
  config_.set_wmask(exp_ + PCI_EXP_SLTCTL, 2,
                    PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_CCIE | PCI_EXP_SLTCTL_HPIE |
                        PCI_EXP_SLTCTL_AIC | PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PCC | PCI_EXP_SLTCTL_DLLSCE);
  // Slot Status (7.5.3.11): events RW1C, presence read-only.
  config_.set_w1cmask(exp_ + PCI_EXP_SLTSTA, 2, kSlotEvents);
  // Root Control: the system-error and PME interrupt enables; Root Status PME Status is RW1C.
  config_.set_wmask(exp_ + PCI_EXP_RTCTL, 2, 0x001f);
  config_.set_w1cmask(exp_ + PCI_EXP_RTSTA, 4, PCI_EXP_RTSTA_PME);
  // Link Capabilities 2: the supported speed vector says 2.5 GT/s; Link Control 2 target speed.
  config_.set32(exp_ + PCI_EXP_LNKCAP2, PCI_EXP_LNKCAP2_SLS_2_5GB);
  config_.set16(exp_ + PCI_EXP_LNKCTL2, 1);
  config_.set_wmask(exp_ + PCI_EXP_LNKCTL2, 2, 0x000f);
  set_present(false);
  if (msi_sink_) {
    AV_TRY_ASSIGN(msi_, MsiCapability::create(config_, *msi_sink_, 1));
  }
  return ok();
}

bool RootPort::present() const { return config_.get16(exp_ + PCI_EXP_SLTSTA) & PCI_EXP_SLTSTA_PDS; }

void RootPort::set_present(bool present) {
  uint16_t sta = config_.get16(exp_ + PCI_EXP_SLTSTA) & ~PCI_EXP_SLTSTA_PDS;
  uint16_t ctl = config_.get16(exp_ + PCI_EXP_SLTCTL) & ~(PCI_EXP_SLTCTL_AIC | PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PCC);
  uint16_t lnk = config_.get16(exp_ + PCI_EXP_LNKSTA) & ~(PCI_EXP_LNKSTA_CLS | PCI_EXP_LNKSTA_NLW | PCI_EXP_LNKSTA_DLLLA);
  ctl |= PCI_EXP_SLTCTL_ATTN_IND_OFF;
  if (present) {
    sta |= PCI_EXP_SLTSTA_PDS;
    ctl |= PCI_EXP_SLTCTL_PWR_IND_ON | PCI_EXP_SLTCTL_PWR_ON;
    lnk |= PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1 | PCI_EXP_LNKSTA_DLLLA;
  } else {
    ctl |= PCI_EXP_SLTCTL_PWR_IND_OFF | PCI_EXP_SLTCTL_PWR_OFF;
  }
  config_.set16(exp_ + PCI_EXP_SLTSTA, sta);
  config_.set16(exp_ + PCI_EXP_SLTCTL, ctl);
  config_.set16(exp_ + PCI_EXP_LNKSTA, lnk);
}

bool RootPort::powered() const { return (config_.get16(exp_ + PCI_EXP_SLTCTL) & PCI_EXP_SLTCTL_PCC) == PCI_EXP_SLTCTL_PWR_ON; }

Status RootPort::can_hot_add() const {
  if (!children().empty()) return fail("{} is not empty: it holds {}", name(), children().begin()->second->name());
  // A guest still powering the slot down after a removal would take the new device for the old.
  if (powered()) return fail("{}: the guest has not powered its slot off since the last removal yet; try again shortly", name());
  return ok();
}

void RootPort::hot_plugged() {
  // The card is in and its link trained (presence detect, DLL Link Active): the guest powers the
  // slot on in answer to the events, and finds the link already up (7.5.3.8, 7.5.3.11).
  unplug_requested_ = false;
  config_.set16(exp_ + PCI_EXP_SLTSTA, config_.get16(exp_ + PCI_EXP_SLTSTA) | PCI_EXP_SLTSTA_PDS);
  config_.set16(exp_ + PCI_EXP_LNKSTA, (config_.get16(exp_ + PCI_EXP_LNKSTA) & ~(PCI_EXP_LNKSTA_CLS | PCI_EXP_LNKSTA_NLW)) |
                                           PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1 | PCI_EXP_LNKSTA_DLLLA);
  slot_event(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
}

void RootPort::hot_unplugged() {
  unplug_requested_ = false;
  config_.set16(exp_ + PCI_EXP_SLTSTA, config_.get16(exp_ + PCI_EXP_SLTSTA) & ~PCI_EXP_SLTSTA_PDS);
  config_.set16(exp_ + PCI_EXP_LNKSTA, config_.get16(exp_ + PCI_EXP_LNKSTA) & ~(PCI_EXP_LNKSTA_CLS | PCI_EXP_LNKSTA_NLW | PCI_EXP_LNKSTA_DLLLA));
  slot_event(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
}

Status RootPort::request_unplug() {
  if (children().empty()) return fail("{} is empty", name());
  // A second press within pciehp's 5 s would cancel the first (6.7.1.5; QEMU refuses it too).
  if (unplug_requested_) return fail("the removal of {} from {} is already under way", children().begin()->second->name(), name());
  unplug_requested_ = true;
  // Nothing in the guest holds a device in a slot it never powered on (the guest has not seen it
  // yet, or ignores hot-plug): it can go at once, as QEMU does.
  if (!powered()) {
    eject();
    return ok();
  }
  // The attention button (6.7.1.5): Linux's pciehp blinks the power indicator, waits 5 s for a
  // second press that would cancel, then unbinds the driver and powers the slot off.
  slot_event(PCI_EXP_SLTSTA_ABP);
  return ok();
}

void RootPort::eject() {
  for (unsigned fn = 0; fn < 8; ++fn)
    if (auto d = remove_child(fn)) ejected_.emplace_back(fn, std::move(d));  // the last one empties the slot
  if (eject_) eject_();
}

std::vector<std::pair<unsigned, std::shared_ptr<PciDevice>>> RootPort::take_ejected() { return std::exchange(ejected_, {}); }

void RootPort::slot_event(uint16_t events) {
  config_.set16(exp_ + PCI_EXP_SLTSTA, config_.get16(exp_ + PCI_EXP_SLTSTA) | events);
  update_interrupt();
}

void RootPort::update_interrupt() {
  // Each Slot Status event has its enable in Slot Control (7.5.3.10/11): bits 0..4 line up, DLLSC
  // (status bit 8) is enabled by DLLSCE (control bit 12).
  uint16_t ctl = config_.get16(exp_ + PCI_EXP_SLTCTL);
  uint16_t sta = config_.get16(exp_ + PCI_EXP_SLTSTA);
  uint16_t enabled = (ctl & 0x1f) | ((ctl & PCI_EXP_SLTCTL_DLLSCE) ? PCI_EXP_SLTSTA_DLLSC : 0);
  bool pending = (ctl & PCI_EXP_SLTCTL_HPIE) != 0 && (sta & enabled & kSlotEvents) != 0;
  if (pending && !irq_pending_ && msi_ && msi_->enabled()) msi_->signal(0);
  irq_pending_ = pending;
}

void RootPort::config_write(unsigned offset, unsigned size, uint32_t value) {
  bool was_off = !powered();
  uint16_t old_ctl = config_.get16(exp_ + PCI_EXP_SLTCTL);
  standard_config_write(offset, size, value);
  auto overlaps = [&](unsigned at, unsigned len) { return offset < at + len && at < offset + size; };
  if (msi_ && overlaps(msi_->offset(), MsiCapability::kSize)) msi_->config_written();
  if (overlaps(exp_ + PCI_EXP_SLTCTL, 2)) {
    // A write to Slot Control is a command to the hot-plug controller, which completes at once
    // (6.7.3.2); Linux waits up to 1 s for Command Completed after each one.
    uint16_t ctl = config_.get16(exp_ + PCI_EXP_SLTCTL);
    config_.set16(exp_ + PCI_EXP_SLTSTA, config_.get16(exp_ + PCI_EXP_SLTSTA) | PCI_EXP_SLTSTA_CC);
    // The guest powered an occupied slot off with the power indicator off: it has let go of the
    // device (Linux's remove_board: power off, then the indicator), so it may be taken out
    // (QEMU's pcie_cap_slot_write_config does the same test).
    bool off_now = (ctl & PCI_EXP_SLTCTL_PCC) == PCI_EXP_SLTCTL_PWR_OFF &&
                   (ctl & PCI_EXP_SLTCTL_PIC) == PCI_EXP_SLTCTL_PWR_IND_OFF;
    bool off_before = was_off && (old_ctl & PCI_EXP_SLTCTL_PIC) == PCI_EXP_SLTCTL_PWR_IND_OFF;
    if (off_now && !off_before && present()) eject();
  }
  // Every write may enable an event, clear one (RW1C) or turn MSI on: re-check the interrupt.
  update_interrupt();
}

}  // namespace altovirt::pci
