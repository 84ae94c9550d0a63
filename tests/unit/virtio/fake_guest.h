// Test helpers that play the guest: a fake guest RAM (one region of plain memory at a chosen
// guest-physical address), a split ring the "driver" fills in it, and a driver for the virtio-pci
// transport that talks to it through config space and BAR accesses, as a guest kernel would.
#pragma once

#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "altovirt/virtio/guest_ram.h"
#include "altovirt/virtio/pci_transport.h"

namespace altovirt::virtio::testing {

class FakeRam : public GuestRam {
 public:
  FakeRam(uint64_t base, size_t size) : base_(base), bytes_(size) {}
  Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const override {
    if (gpa < base_ || gpa - base_ > bytes_.size() || len > bytes_.size() - (gpa - base_))
      return fail("guest range {:#x} (+{:#x}) is not inside guest RAM", gpa, len);
    return std::span<uint8_t>(const_cast<uint8_t*>(bytes_.data()) + (gpa - base_), len);
  }
  template <typename T>
  void put(uint64_t gpa, T v) { std::memcpy(at(gpa), &v, sizeof v); }
  template <typename T>
  T get(uint64_t gpa) const {
    T v;
    std::memcpy(&v, const_cast<FakeRam*>(this)->at(gpa), sizeof v);
    return v;
  }
  uint8_t* at(uint64_t gpa) { return bytes_.data() + (gpa - base_); }
  uint64_t base() const { return base_; }

 private:
  uint64_t base_;
  std::vector<uint8_t> bytes_;
};

inline constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;

// A split ring in FakeRam, filled as a driver would.
struct Ring {
  FakeRam& ram;
  QueueLayout layout;
  uint16_t avail_idx = 0;

  Ring(FakeRam& r, uint64_t at, uint16_t size) : ram(r) {
    layout.size = size;
    layout.desc = at;
    layout.avail = at + 16u * size;
    layout.used = (layout.avail + 6 + 2u * size + 3) & ~3ull;
  }
  void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    uint64_t d = layout.desc + 16u * i;
    ram.put<uint64_t>(d, addr);
    ram.put<uint32_t>(d + 8, len);
    ram.put<uint16_t>(d + 12, flags);
    ram.put<uint16_t>(d + 14, next);
  }
  void publish(uint16_t head) {
    ram.put<uint16_t>(layout.avail + 4 + 2u * (avail_idx % layout.size), head);
    ++avail_idx;
    ram.put<uint16_t>(layout.avail + 2, avail_idx);
  }
  void set_avail_flags(uint16_t f) { ram.put<uint16_t>(layout.avail, f); }
  void set_used_event(uint16_t v) { ram.put<uint16_t>(layout.avail + 4 + 2u * layout.size, v); }
  uint16_t used_idx() const { return ram.get<uint16_t>(layout.used + 2); }
  uint32_t used_id(uint16_t i) const { return ram.get<uint32_t>(layout.used + 4 + 8u * (i % layout.size)); }
  uint32_t used_len(uint16_t i) const { return ram.get<uint32_t>(layout.used + 8 + 8u * (i % layout.size)); }
  uint16_t avail_event() const { return ram.get<uint16_t>(layout.used + 4 + 8u * layout.size); }
};

// The machine side of a transport, recording what the transport asks for.
class FakeHost : public TransportHost {
 public:
  struct Sink : pci::MsiSink {
    void enable_changed(bool, unsigned) override {}
    void vector_changed(unsigned, const pci::MsiMessage&, bool) override {}
    void inject(unsigned vector, const pci::MsiMessage&) override { injected.push_back(vector); }
    std::vector<unsigned> injected;
  };
  Result<std::unique_ptr<Registration>> add_ioeventfd(uint64_t gpa, int) override {
    ioeventfds.push_back(gpa);
    return fail("no KVM in unit tests");  // notifies then come through bar_write
  }
  std::unique_ptr<pci::MsiSink> make_msix_sink(std::string, const pci::PciDevice*) override {
    auto s = std::make_unique<Sink>();
    sink = s.get();
    return s;
  }
  void set_intx(bool asserted) override {
    intx = asserted;
    if (asserted) ++intx_raised;
  }
  std::vector<uint64_t> ioeventfds;
  Sink* sink = nullptr;
  std::atomic<bool> intx{false};
  std::atomic<unsigned> intx_raised{0};
};

// The guest driver's view of the transport: common config through BAR 0.
struct Driver {
  VirtioPciDevice& dev;
  template <typename T>
  T read(uint64_t off) {
    uint8_t b[sizeof(T)] = {};
    dev.bar_read(VirtioPciDevice::kBar, off, b);
    T v;
    std::memcpy(&v, b, sizeof v);
    return v;
  }
  template <typename T>
  void write(uint64_t off, T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof v);
    dev.bar_write(VirtioPciDevice::kBar, off, b);
  }
  uint8_t status() { return read<uint8_t>(VIRTIO_PCI_COMMON_STATUS); }
  void set_status(uint8_t s) { write<uint8_t>(VIRTIO_PCI_COMMON_STATUS, s); }
  uint64_t device_features() {
    write<uint32_t>(VIRTIO_PCI_COMMON_DFSELECT, 0);
    uint64_t lo = read<uint32_t>(VIRTIO_PCI_COMMON_DF);
    write<uint32_t>(VIRTIO_PCI_COMMON_DFSELECT, 1);
    return lo | uint64_t{read<uint32_t>(VIRTIO_PCI_COMMON_DF)} << 32;
  }
  void driver_features(uint64_t f) {
    write<uint32_t>(VIRTIO_PCI_COMMON_GFSELECT, 0);
    write<uint32_t>(VIRTIO_PCI_COMMON_GF, static_cast<uint32_t>(f));
    write<uint32_t>(VIRTIO_PCI_COMMON_GFSELECT, 1);
    write<uint32_t>(VIRTIO_PCI_COMMON_GF, static_cast<uint32_t>(f >> 32));
  }
  // 3.1.1 steps 1-6; returns whether FEATURES_OK stuck.
  bool negotiate(uint64_t features) {
    set_status(0);
    set_status(VirtioPciDevice::kAcknowledge);
    set_status(VirtioPciDevice::kAcknowledge | VirtioPciDevice::kDriver);
    driver_features(features);
    set_status(VirtioPciDevice::kAcknowledge | VirtioPciDevice::kDriver | VirtioPciDevice::kFeaturesOk);
    return status() & VirtioPciDevice::kFeaturesOk;
  }
  void setup_queue(uint16_t q, const QueueLayout& l) {
    write<uint16_t>(VIRTIO_PCI_COMMON_Q_SELECT, q);
    write<uint16_t>(VIRTIO_PCI_COMMON_Q_SIZE, l.size);
    write<uint32_t>(VIRTIO_PCI_COMMON_Q_DESCLO, static_cast<uint32_t>(l.desc));
    write<uint32_t>(VIRTIO_PCI_COMMON_Q_DESCHI, static_cast<uint32_t>(l.desc >> 32));
    write<uint32_t>(VIRTIO_PCI_COMMON_Q_AVAILLO, static_cast<uint32_t>(l.avail));
    write<uint32_t>(VIRTIO_PCI_COMMON_Q_AVAILHI, static_cast<uint32_t>(l.avail >> 32));
    write<uint32_t>(VIRTIO_PCI_COMMON_Q_USEDLO, static_cast<uint32_t>(l.used));
    write<uint32_t>(VIRTIO_PCI_COMMON_Q_USEDHI, static_cast<uint32_t>(l.used >> 32));
    write<uint16_t>(VIRTIO_PCI_COMMON_Q_ENABLE, 1);
  }
  void driver_ok() { set_status(status() | VirtioPciDevice::kDriverOk); }
  void kick(uint16_t q) { write<uint16_t>(VirtioPciDevice::kNotifyOffset + VirtioPciDevice::kNotifyMultiplier * q, q); }
};

// Waits (up to `limit`, 5 s by default) until `pred` holds.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace altovirt::virtio::testing
