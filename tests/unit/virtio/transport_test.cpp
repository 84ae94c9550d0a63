// The virtio-pci transport played by a test "guest driver": identity and capabilities, feature
// negotiation rules, queue set-up rules, MSI-X vector read-back, reset, and a request through a
// tiny echo device model on the real EventLoop.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <thread>

#include "altovirt/virtio/pci_transport.h"
#include "fake_guest.h"

namespace altovirt::virtio {
namespace {

using testing::Driver;
using testing::FakeHost;
using testing::FakeRam;
using testing::Ring;

constexpr uint64_t kBase = 0x100000;

// Copies each request's readable bytes into its writable buffers.
class EchoDevice : public VirtioDevice {
 public:
  uint16_t device_type() const override { return 0x2a; }
  uint32_t pci_class() const override { return 0xff0000; }
  unsigned num_queues() const override { return 2; }
  uint16_t max_queue_size() const override { return 16; }
  uint64_t device_features() const override { return 1ull << 3 | kFEventIdx | kFIndirectDesc | (1ull << 40); }
  uint32_t config_size() const override { return 8; }
  void read_config(uint32_t offset, std::span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0x10 + offset + i);
  }
  Status activate(const Activation& a) override {
    queues = a.queues;
    ++activations;
    return ok();
  }
  void queue_notified(unsigned q) override {
    while (auto c = queues[q]->pop()) {
      std::vector<uint8_t> buf(c->readable_bytes());
      c->read(0, buf);
      size_t n = c->write(0, buf);
      queues[q]->push(c->head, static_cast<uint32_t>(n));
    }
    queues[q]->notify();
  }
  void reset() override {
    queues.clear();
    ++resets;
  }
  std::vector<Virtqueue*> queues;
  std::atomic<int> activations{0}, resets{0};
};

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = EventLoop::create("test");
    ASSERT_TRUE(l);
    loop = std::move(*l);
    auto d = VirtioPciDevice::create("echo", model, host, ram, *loop);
    ASSERT_TRUE(d) << d.error().message();
    dev = *d;
    driver.emplace(Driver{*dev});
  }
  void TearDown() override {
    dev.reset();
    loop.reset();
  }
  FakeRam ram{kBase, 0x100000};
  FakeHost host;
  std::shared_ptr<EchoDevice> model = std::make_shared<EchoDevice>();
  std::unique_ptr<EventLoop> loop;
  std::shared_ptr<VirtioPciDevice> dev;
  std::optional<Driver> driver;
};

TEST_F(TransportTest, IdentityAndCapabilities) {
  EXPECT_EQ(dev->config_read(PCI_VENDOR_ID, 2), 0x1af4u);
  EXPECT_EQ(dev->config_read(PCI_DEVICE_ID, 2), 0x1040u + 0x2a);
  EXPECT_EQ(dev->config_read(PCI_REVISION_ID, 1), 1u);
  EXPECT_EQ(dev->bar(0).kind, pci::BarKind::mem64);
  EXPECT_TRUE(dev->bar(0).prefetchable);
  std::vector<unsigned> types;
  unsigned notify_mult = 0;
  for (unsigned at = dev->config_read(PCI_CAPABILITY_LIST, 1); at != 0; at = dev->config_read(at + 1, 1)) {
    if (dev->config_read(at, 1) != PCI_CAP_ID_VNDR) continue;
    unsigned type = dev->config_read(at + 3, 1);
    types.push_back(type);
    if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) notify_mult = dev->config_read(at + 16, 4);
  }
  EXPECT_EQ(types, (std::vector<unsigned>{VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_CAP_DEVICE_CFG,
                                          VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_CAP_PCI_CFG}));
  EXPECT_EQ(notify_mult, 4u);
  EXPECT_TRUE(dev->config().find_capability(PCI_CAP_ID_MSIX).has_value());
}

TEST_F(TransportTest, OffersVersion1AndOnlyKnownTransportBits) {
  uint64_t f = driver->device_features();
  EXPECT_TRUE(f & kFVersion1);
  EXPECT_TRUE(f & (1ull << 3));
  EXPECT_TRUE(f & kFEventIdx);
  EXPECT_FALSE(f & (1ull << 40)) << "a reserved bit the transport does not implement is not offered";
}

TEST_F(TransportTest, FeaturesOkNeedsVersion1) {
  EXPECT_FALSE(driver->negotiate(1ull << 3)) << "a legacy driver is refused";
  EXPECT_TRUE(driver->negotiate(kFVersion1 | (1ull << 3)));
}

TEST_F(TransportTest, FeaturesOkRefusesUnofferedBits) {
  EXPECT_FALSE(driver->negotiate(kFVersion1 | (1ull << 7)));
}

TEST_F(TransportTest, FeaturesAreFrozenAfterFeaturesOk) {
  ASSERT_TRUE(driver->negotiate(kFVersion1));
  driver->driver_features(kFVersion1 | (1ull << 3));
  EXPECT_EQ(dev->driver_features(), kFVersion1);
}

TEST_F(TransportTest, DriverCannotClearStatusBits) {
  ASSERT_TRUE(driver->negotiate(kFVersion1));
  driver->set_status(VirtioPciDevice::kAcknowledge);
  EXPECT_TRUE(driver->status() & VirtioPciDevice::kFeaturesOk);
}

TEST_F(TransportTest, QueueSizeMustBeAPowerOfTwoWithinTheMaximum) {
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_Q_SELECT, 0);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_Q_SIZE), 16);
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_Q_SIZE, 12);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_Q_SIZE), 16);
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_Q_SIZE, 32);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_Q_SIZE), 16);
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_Q_SIZE, 4);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_Q_SIZE), 4);
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_Q_SELECT, 5);  // no such queue
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_Q_SIZE), 0);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_NUMQ), 2);
}

TEST_F(TransportTest, InvalidMsixVectorsReadBackNoVector) {
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_MSIX, 2);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_MSIX), 2);
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_MSIX, 3);  // 3 vectors: 0..2
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_MSIX), 0xffff);
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_Q_SELECT, 1);
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_Q_MSIX, 1);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_Q_MSIX), 1);
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_Q_MSIX, 77);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_Q_MSIX), 0xffff);
}

TEST_F(TransportTest, DeviceConfigComesFromTheModel) {
  EXPECT_EQ(driver->read<uint8_t>(VirtioPciDevice::kDeviceOffset + 3), 0x13);
  EXPECT_EQ(driver->read<uint32_t>(VirtioPciDevice::kDeviceOffset + 8), 0u) << "past config_size reads 0";
}

TEST_F(TransportTest, RequestRoundTripWithIntx) {
  Ring ring(ram, kBase, 16);
  ASSERT_TRUE(driver->negotiate(kFVersion1));
  driver->setup_queue(0, ring.layout);
  driver->driver_ok();
  ASSERT_EQ(model->activations.load(), 1);
  ram.put<uint32_t>(kBase + 0x8000, 0x11223344);
  ring.desc(0, kBase + 0x8000, 4, testing::kNext, 1);
  ring.desc(1, kBase + 0x9000, 4, testing::kWrite);
  ring.publish(0);
  driver->kick(0);
  ASSERT_TRUE(testing::eventually([&] { return ring.used_idx() == 1; }));
  EXPECT_EQ(ram.get<uint32_t>(kBase + 0x9000), 0x11223344u);
  EXPECT_EQ(ring.used_len(0), 4u);
  ASSERT_TRUE(testing::eventually([&] { return host.intx.load(); })) << "no MSI-X: INTx";
  EXPECT_EQ(driver->read<uint8_t>(VirtioPciDevice::kIsrOffset), 1) << "queue interrupt";
  EXPECT_FALSE(host.intx.load()) << "reading ISR lowers INTx";
  EXPECT_EQ(driver->read<uint8_t>(VirtioPciDevice::kIsrOffset), 0) << "read-to-clear";
}

// x-query-virtio-queues' source: what a stalled guest would need explained (did it kick, did the
// device interrupt, where do the rings stand), read without the loop thread.
TEST_F(TransportTest, ReportShowsKicksInterruptsAndRingIndices) {
  Ring ring(ram, kBase, 16);
  ASSERT_TRUE(driver->negotiate(kFVersion1 | kFEventIdx));
  driver->setup_queue(0, ring.layout);
  auto before = dev->report();
  ASSERT_EQ(before.queues.size(), 2u);
  EXPECT_TRUE(before.queues[0].enabled);
  EXPECT_FALSE(before.queues[0].ring.has_value()) << "no ring state before DRIVER_OK";
  driver->driver_ok();
  ring.set_used_event(0);
  ring.desc(0, kBase + 0x8000, 4, testing::kNext, 1);
  ring.desc(1, kBase + 0x9000, 4, testing::kWrite);
  ring.publish(0);
  driver->kick(0);
  ASSERT_TRUE(testing::eventually([&] { return ring.used_idx() == 1; }));
  ASSERT_TRUE(testing::eventually([&] { return dev->report().queues[0].interrupts == 1; }));
  auto r = dev->report();
  EXPECT_EQ(r.features, kFVersion1 | kFEventIdx);
  EXPECT_TRUE(r.status & VirtioPciDevice::kDriverOk);
  const QueueReport& q = r.queues[0];
  EXPECT_GE(q.kicks, 1u);
  EXPECT_FALSE(q.broken);
  ASSERT_TRUE(q.ring.has_value());
  EXPECT_EQ(q.ring->avail_idx, 1);
  EXPECT_EQ(q.ring->used_idx, 1);
  EXPECT_EQ(q.ring->avail_event, 1) << "the device asks for a kick at the next entry";
  EXPECT_EQ(q.ring->used_event, 0);
  EXPECT_EQ(r.isr, 1) << "INTx: the queue bit waits for the driver's ISR read";
  EXPECT_FALSE(r.queues[1].enabled);
  EXPECT_EQ(r.queues[1].kicks, 0u);
  // A ring the device gave up on says so.
  ring.desc(2, kBase + 0x8000, 4, testing::kNext, 2);  // loop
  ring.publish(2);
  driver->kick(0);
  ASSERT_TRUE(testing::eventually([&] { return dev->report().queues[0].broken; }));
}

TEST_F(TransportTest, BadChainSetsNeedsResetAndRaisesConfigInterrupt) {
  Ring ring(ram, kBase, 16);
  ASSERT_TRUE(driver->negotiate(kFVersion1));
  driver->setup_queue(0, ring.layout);
  driver->driver_ok();
  ring.desc(0, kBase + 0x8000, 4, testing::kNext, 0);  // loop
  ring.publish(0);
  driver->kick(0);
  ASSERT_TRUE(testing::eventually([&] { return host.intx.load(); })) << "a configuration interrupt";
  EXPECT_TRUE(driver->status() & VirtioPciDevice::kNeedsReset);
  EXPECT_EQ(driver->read<uint8_t>(VirtioPciDevice::kIsrOffset) & 2, 2);
  driver->set_status(0);
  EXPECT_EQ(driver->status(), 0) << "reset clears NEEDS_RESET";
}

TEST_F(TransportTest, ResetStopsTheModelAndClearsQueues) {
  Ring ring(ram, kBase, 16);
  ASSERT_TRUE(driver->negotiate(kFVersion1));
  driver->setup_queue(0, ring.layout);
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_Q_MSIX, 1);
  driver->driver_ok();
  driver->set_status(0);
  EXPECT_EQ(model->resets.load(), 1);
  EXPECT_EQ(driver->status(), 0);
  driver->write<uint16_t>(VIRTIO_PCI_COMMON_Q_SELECT, 0);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_Q_ENABLE), 0);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_Q_SIZE), 16);
  EXPECT_EQ(driver->read<uint32_t>(VIRTIO_PCI_COMMON_Q_DESCLO), 0u);
  EXPECT_EQ(driver->read<uint16_t>(VIRTIO_PCI_COMMON_Q_MSIX), 0xffff);
  EXPECT_EQ(dev->driver_features(), 0u);
}

TEST_F(TransportTest, QueueAddressesAreFixedOnceEnabled) {
  Ring ring(ram, kBase, 16);
  driver->setup_queue(0, ring.layout);
  driver->write<uint32_t>(VIRTIO_PCI_COMMON_Q_DESCLO, 0x5000);
  EXPECT_EQ(driver->read<uint32_t>(VIRTIO_PCI_COMMON_Q_DESCLO), static_cast<uint32_t>(kBase));
}

TEST_F(TransportTest, IoEventFdsFollowTheBar) {
  dev->program_bar(0, 0x800000000);
  dev->enable_decode(false, true);
  ASSERT_EQ(host.ioeventfds.size(), 2u);
  EXPECT_EQ(host.ioeventfds[1], 0x800000000 + VirtioPciDevice::kNotifyOffset + 4);
  dev->program_bar(0, 0x900000000);
  ASSERT_EQ(host.ioeventfds.size(), 4u);
  EXPECT_EQ(host.ioeventfds[2], 0x900000000 + VirtioPciDevice::kNotifyOffset);
}

}  // namespace
}  // namespace altovirt::virtio

namespace altovirt::virtio {
namespace {

// A model whose queue 0 runs elsewhere (as vhost runs it in the kernel): it takes the queue's
// eventfds at activation and counts the notifications the transport still gives it.
class DetachingDevice : public VirtioDevice {
 public:
  uint16_t device_type() const override { return 0x2b; }
  uint32_t pci_class() const override { return 0xff0000; }
  unsigned num_queues() const override { return 2; }
  uint16_t max_queue_size() const override { return 16; }
  uint64_t device_features() const override { return 0; }
  uint32_t config_size() const override { return 0; }
  void read_config(uint32_t, std::span<uint8_t>) override {}
  Status activate(const Activation& a) override {
    if (!detach) return ok();
    AV_TRY_ASSIGN(fds, a.detach_queue(0));
    detach_disabled_ok = static_cast<bool>(a.detach_queue(1));
    return ok();
  }
  void queue_notified(unsigned q) override { ++notified[q]; }
  void reset() override { ++resets; }
  bool detach = true;
  QueueEventFds fds;
  bool detach_disabled_ok = true;
  std::atomic<int> notified[2] = {0, 0};
  std::atomic<int> resets{0};
};

TEST(TransportDetach, ADetachedQueuesKicksAndInterruptsGoThroughItsEventFds) {
  FakeRam ram{kBase, 0x100000};
  FakeHost host;
  auto model = std::make_shared<DetachingDevice>();
  auto loop = EventLoop::create("detach");
  ASSERT_TRUE(loop);
  auto dev = VirtioPciDevice::create("detach", model, host, ram, **loop);
  ASSERT_TRUE(dev) << dev.error().message();
  Driver driver{**dev};
  Ring ring(ram, kBase, 16);
  ASSERT_TRUE(driver.negotiate(kFVersion1));
  driver.setup_queue(0, ring.layout);
  driver.driver_ok();
  ASSERT_GE(model->fds.kick, 0);
  ASSERT_GE(model->fds.call, 0);
  EXPECT_FALSE(model->detach_disabled_ok) << "queue 1 is not enabled: nothing to detach";
  int notified_at_activation = model->notified[0].load();

  // The driver's notify now signals the backend's kick eventfd, and the model is not called.
  driver.kick(0);
  uint64_t count = 0;
  ASSERT_TRUE(testing::eventually([&] { return ::read(model->fds.kick, &count, 8) == 8; }));
  EXPECT_EQ(count, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(model->notified[0].load(), notified_at_activation);

  // Without MSI-X the backend's call eventfd becomes the queue interrupt: INTx with ISR bit 0.
  uint64_t one = 1;
  ASSERT_EQ(::write(model->fds.call, &one, 8), 8);
  ASSERT_TRUE(testing::eventually([&] { return host.intx.load(); }));
  EXPECT_EQ(driver.read<uint8_t>(VirtioPciDevice::kIsrOffset), 1);

  // After a reset the queue is the transport's again: kicks reach the model.
  driver.set_status(0);
  EXPECT_EQ(model->resets.load(), 1);
  model->detach = false;
  ASSERT_TRUE(driver.negotiate(kFVersion1));
  driver.setup_queue(0, ring.layout);
  driver.driver_ok();
  int before = model->notified[0].load();
  driver.kick(0);
  EXPECT_TRUE(testing::eventually([&] { return model->notified[0].load() > before; }));
  dev->reset();
}

}  // namespace
}  // namespace altovirt::virtio
