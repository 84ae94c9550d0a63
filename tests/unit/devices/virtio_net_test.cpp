// The virtio-net model driven as a guest driver would drive it (virtio 1.2 section 5.1), with no
// guest kernel: split rings in a fake guest memory, a real EventLoop, and as backend a
// SOCK_SEQPACKET socketpair (one frame per read/write, as a tap with IFF_VNET_HDR), whose other end
// is the test. The Tap itself is tested against the kernel when /dev/net/tun can be opened.
#include <linux/if_tun.h>
#include "altovirt/virtio_net/uapi.h"
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "altovirt/base/fd.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/guest_ram.h"
#include "altovirt/virtio/virtqueue.h"
#include "altovirt/virtio_net/net_device.h"
#include "altovirt/virtio_net/tap.h"
#include "driver_queue.h"

namespace altovirt::virtio_net {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t bit(unsigned b) { return 1ull << b; }
using virtio::testing::DriverQueue;
using virtio::testing::eventually;
// Guest RAM: 4 MiB at guest-physical 0.
struct FakeRam : virtio::testing::FakeRam {
  FakeRam() : virtio::testing::FakeRam(0, 4 << 20) {}
};

// A NetBackend over socketpairs: the device gets one end per pair, the test keeps the other.
class FakeBackend : public NetBackend {
 public:
  explicit FakeBackend(unsigned pairs) {
    for (unsigned p = 0; p < pairs; ++p) {
      int sv[2];
      EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
      device_.emplace_back(sv[0]);
      peer_.emplace_back(sv[1]);
    }
  }
  unsigned queue_pairs() const override { return static_cast<unsigned>(device_.size()); }
  int fd(unsigned pair) const override { return device_[pair].get(); }
  uint64_t offload_features() const override { return bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4); }
  Status set_offloads(uint64_t f) override {
    offloads = f;
    return ok();
  }
  Status set_active_pairs(unsigned p) override {
    active = p;
    return ok();
  }
  std::string name() const override { return "fake0"; }
  int peer(unsigned pair) const { return peer_[pair].get(); }

  std::atomic<uint64_t> offloads{0};
  std::atomic<unsigned> active{0};

 private:
  std::vector<UniqueFd> device_, peer_;
};


std::string header(uint8_t flags = 0, uint8_t gso = 0) {
  std::string h(VirtioNet::kHeaderSize, '\0');
  h[0] = static_cast<char>(flags);
  h[1] = static_cast<char>(gso);
  return h;
}

const MacAddress kMac{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

class VirtioNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = std::make_unique<FakeBackend>(1);
    backend = b.get();
    net = std::make_shared<VirtioNet>(kMac, std::move(b), nullptr);
    auto l = virtio::EventLoop::create("net-test");
    ASSERT_TRUE(l);
    loop = std::move(*l);
  }
  void TearDown() override {
    if (net) loop->run_sync([&] { net->reset(); });
  }
  void activate(uint64_t features) {
    virtio::Activation a{ram, features | virtio::kFVersion1, {&rx.vq, &tx.vq}, *loop, [] {}, nullptr};
    loop->run_sync([&] { ASSERT_TRUE(net->activate(a)); });
  }
  void kick(unsigned q) { loop->run_sync([&] { net->queue_notified(q); }); }
  std::string peer_read() {
    std::string got;
    eventually([&] {
      char buf[70000];
      ssize_t n = ::read(backend->peer(0), buf, sizeof buf);
      if (n > 0) got.assign(buf, static_cast<size_t>(n));
      return n > 0;
    }, 2s);
    return got;
  }

  FakeRam ram;
  DriverQueue rx{ram, 0, 0x10000};
  DriverQueue tx{ram, 1, 0x100000};
  FakeBackend* backend = nullptr;
  std::shared_ptr<VirtioNet> net;
  std::unique_ptr<virtio::EventLoop> loop;
};

TEST(VirtioNetMac, ParsesSixHexBytesAndRefusesTheRest) {
  auto m = parse_mac("52:54:00:AB:cd:0f");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(*m, (MacAddress{0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f}));
  for (const char* bad : {"", "52:54:00:ab:cd", "52:54:00:ab:cd:0g", "52-54-00-ab-cd-ef", "52:54:00:ab:cd:ef:01",
                          "01:00:5e:00:00:01" /* multicast */, "5:54:00:ab:cd:ef0"})
    EXPECT_FALSE(parse_mac(bad)) << bad;
}

TEST_F(VirtioNetTest, FeaturesAndConfigurationSpace) {
  EXPECT_EQ(net->device_type(), 1);  // 5.1.1: network device
  EXPECT_EQ(net->num_queues(), 2u);  // receiveq0, transmitq0; no control queue with one pair
  uint64_t f = net->device_features();
  for (unsigned b : {VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_CSUM, VIRTIO_NET_F_HOST_TSO4})
    EXPECT_TRUE(f & bit(b)) << b;
  // Offloads the backend cannot do are not offered; no control queue or MQ with one pair.
  for (unsigned b : {VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_HOST_UFO, VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_MQ})
    EXPECT_FALSE(f & bit(b)) << b;
  uint8_t cfg[10];
  std::memset(cfg, 0xaa, sizeof cfg);
  net->read_config(0, cfg);
  EXPECT_EQ(0, std::memcmp(cfg, kMac.data(), 6));
  EXPECT_EQ(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
  EXPECT_EQ(cfg[8] | cfg[9] << 8, 1);
  uint8_t status[2];
  net->read_config(6, status);
  EXPECT_EQ(status[0], VIRTIO_NET_S_LINK_UP);
}

TEST_F(VirtioNetTest, ActivationHandsTheNegotiatedOffloadsToTheBackend) {
  activate(bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_MRG_RXBUF));
  EXPECT_EQ(backend->offloads.load(), bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_MRG_RXBUF) | virtio::kFVersion1);
}

TEST_F(VirtioNetTest, TransmitSendsHeaderAndFrameAsOneBackendFrame) {
  activate(bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4));
  std::string frame(1400, 'x');
  for (size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<char>(i * 7);
  // The header in its own descriptor, the frame split over two more (as Linux may do).
  std::string hdr = header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4);
  tx.add({{12, false, hdr}, {600, false, frame.substr(0, 600)}, {800, false, frame.substr(600)}});
  kick(1);
  EXPECT_EQ(peer_read(), hdr + frame);
  ASSERT_EQ(tx.used_idx(), 1);
  EXPECT_EQ(tx.used_elem(0), std::make_pair(0u, 0u));  // nothing written into transmit buffers
  EXPECT_GE(tx.interrupts.load(), 1);
}

TEST_F(VirtioNetTest, BadTransmitChainsAreDroppedAndTheQueueGoesOn) {
  activate(0);  // no CSUM, no TSO negotiated
  tx.add({{5, false, "short"}});                                       // shorter than the header
  tx.add({{12 + 60, false, header(0, VIRTIO_NET_HDR_GSO_TCPV4) + std::string(60, 'a')}});  // TSO not negotiated
  tx.add({{12 + 60, false, header(VIRTIO_NET_HDR_F_NEEDS_CSUM) + std::string(60, 'b')}});  // CSUM not negotiated
  tx.add({{12 + 60, false, header(0, 0x42) + std::string(60, 'c')}});  // no such GSO type
  tx.add({{12 + 60, false, header() + std::string(60, 'd')}});         // a good one
  kick(1);
  EXPECT_EQ(peer_read(), header() + std::string(60, 'd'));
  char buf[100];
  EXPECT_LT(::read(backend->peer(0), buf, sizeof buf), 0);  // nothing else reached the backend
  EXPECT_EQ(tx.used_idx(), 5);  // every chain given back
}

TEST_F(VirtioNetTest, ReceiveFillsMergeableBuffersAndCountsThem) {
  activate(bit(VIRTIO_NET_F_MRG_RXBUF));
  std::vector<uint64_t> bufs;
  for (int i = 0; i < 4; ++i) bufs.push_back(rx.add({{1000, true, ""}})[0]);
  kick(0);
  std::string frame(2500, '\0');
  for (size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<char>(i % 251);
  std::string sent = header() + frame;
  ASSERT_EQ(::write(backend->peer(0), sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));
  ASSERT_TRUE(eventually([&] { return rx.used_idx() == 3; }));
  EXPECT_EQ(rx.used_elem(0), std::make_pair(0u, 1000u));
  EXPECT_EQ(rx.used_elem(1), std::make_pair(1u, 1000u));
  EXPECT_EQ(rx.used_elem(2), std::make_pair(2u, 512u));
  uint16_t num_buffers;
  std::memcpy(&num_buffers, ram.at(bufs[0] + 10), 2);
  EXPECT_EQ(num_buffers, 3);
  std::string got;
  got.append(reinterpret_cast<char*>(ram.at(bufs[0])) + 12, 988);
  got.append(reinterpret_cast<char*>(ram.at(bufs[1])), 1000);
  got.append(reinterpret_cast<char*>(ram.at(bufs[2])), 512);
  EXPECT_EQ(got, frame);
  EXPECT_GE(rx.interrupts.load(), 1);
  // The fourth buffer was given back and takes the next frame.
  std::string small = header() + "ping";
  ASSERT_EQ(::write(backend->peer(0), small.data(), small.size()), static_cast<ssize_t>(small.size()));
  ASSERT_TRUE(eventually([&] { return rx.used_idx() == 4; }));
  EXPECT_EQ(rx.used_elem(3), std::make_pair(3u, 16u));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(bufs[3])) + 12, 4), "ping");
}

TEST_F(VirtioNetTest, ReceiveWithoutMergeableBuffersUsesOneChainWithNumBuffersOne) {
  activate(0);
  auto addrs = rx.add({{12, true, ""}, {1500, true, ""}});  // header and data in separate descriptors
  kick(0);
  std::string sent = header() + std::string(100, 'r');
  ASSERT_EQ(::write(backend->peer(0), sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));
  ASSERT_TRUE(eventually([&] { return rx.used_idx() == 1; }));
  EXPECT_EQ(rx.used_elem(0), std::make_pair(0u, 112u));
  uint16_t num_buffers;
  std::memcpy(&num_buffers, ram.at(addrs[0] + 10), 2);
  EXPECT_EQ(num_buffers, 1);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(addrs[1])), 100), std::string(100, 'r'));
}

TEST_F(VirtioNetTest, TooShortReceiveBufferIsReturnedUnusedAndTheFrameWaitsForAGoodOne) {
  activate(bit(VIRTIO_NET_F_MRG_RXBUF));
  rx.add({{4, true, ""}});  // smaller than the header
  rx.add({{0, false, ""}}); // no writable byte at all
  kick(0);
  std::string sent = header() + "hello";
  ASSERT_EQ(::write(backend->peer(0), sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));
  ASSERT_TRUE(eventually([&] { return rx.used_idx() == 2; }));
  EXPECT_EQ(rx.used_elem(0).second, 0u);
  EXPECT_EQ(rx.used_elem(1).second, 0u);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rx.used_idx(), 2);  // the frame waits in the backend: no buffer for it yet
  auto good = rx.add({{2048, true, ""}});
  kick(0);
  ASSERT_TRUE(eventually([&] { return rx.used_idx() == 3; }));
  EXPECT_EQ(rx.used_elem(2).second, 17u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(good[0])) + 12, 5), "hello");
}

TEST_F(VirtioNetTest, ABadBufferBehindGoodOnesIsUsedExactlyOnce) {
  activate(bit(VIRTIO_NET_F_MRG_RXBUF));
  rx.add({{1000, true, ""}});  // head 0
  rx.add({{4, true, ""}});     // head 1: too small
  rx.add({{1000, true, ""}});  // head 2
  kick(0);
  for (const char* payload : {"first", "second"}) {
    std::string sent = header() + payload;
    ASSERT_EQ(::write(backend->peer(0), sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));
  }
  ASSERT_TRUE(eventually([&] { return rx.used_idx() == 3; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rx.used_idx(), 3);  // every buffer once: no buffer is on the used ring twice
  EXPECT_EQ(rx.used_elem(0), std::make_pair(0u, 17u));
  EXPECT_EQ(rx.used_elem(1), std::make_pair(1u, 0u));
  EXPECT_EQ(rx.used_elem(2), std::make_pair(2u, 18u));
}

TEST_F(VirtioNetTest, ResetStopsReceiving) {
  activate(bit(VIRTIO_NET_F_MRG_RXBUF));
  rx.add({{2048, true, ""}});
  kick(0);
  loop->run_sync([&] { net->reset(); });
  std::string sent = header() + "late";
  ASSERT_EQ(::write(backend->peer(0), sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(rx.used_idx(), 0);  // 2.4.1: no buffer is used after reset
}

TEST(VirtioNetMultiqueue, ControlQueueSetsTheActivePairs) {
  FakeRam ram;
  auto b = std::make_unique<FakeBackend>(2);
  FakeBackend* backend = b.get();
  auto net = std::make_shared<VirtioNet>(kMac, std::move(b), nullptr);
  EXPECT_EQ(net->num_queues(), 5u);  // two pairs and the control queue
  EXPECT_TRUE(net->device_features() & bit(VIRTIO_NET_F_CTRL_VQ));
  EXPECT_TRUE(net->device_features() & bit(VIRTIO_NET_F_MQ));
  uint8_t pairs[2];
  net->read_config(8, pairs);
  EXPECT_EQ(pairs[0] | pairs[1] << 8, 2);

  auto l = virtio::EventLoop::create("net-mq");
  ASSERT_TRUE(l);
  DriverQueue rx0(ram, 0, 0x10000), tx0(ram, 1, 0x100000), rx1(ram, 2, 0x200000), tx1(ram, 3, 0x280000),
      ctrl(ram, 4, 0x300000);
  virtio::Activation a{ram, bit(VIRTIO_NET_F_CTRL_VQ) | bit(VIRTIO_NET_F_MQ) | virtio::kFVersion1,
                       {&rx0.vq, &tx0.vq, &rx1.vq, &tx1.vq, &ctrl.vq}, **l, [] {}, nullptr};
  (*l)->run_sync([&] { ASSERT_TRUE(net->activate(a)); });
  EXPECT_EQ(backend->active.load(), 1u);  // 5.1.6.5.5: one pair until the driver asks for more
  auto command = [&](uint16_t n) {
    std::string cmd = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, static_cast<char>(n), static_cast<char>(n >> 8)};
    auto addrs = ctrl.add({{2, false, cmd.substr(0, 2)}, {2, false, cmd.substr(2)}, {1, true, "\x77"}});
    uint16_t before = ctrl.used_idx();
    (*l)->run_sync([&] { net->queue_notified(4); });
    EXPECT_EQ(ctrl.used_idx(), before + 1);
    return *ram.at(addrs[2]);
  };
  EXPECT_EQ(command(2), VIRTIO_NET_OK);
  EXPECT_EQ(backend->active.load(), 2u);
  EXPECT_EQ(command(3), VIRTIO_NET_ERR);  // more than max_virtqueue_pairs
  EXPECT_EQ(command(0), VIRTIO_NET_ERR);
  EXPECT_EQ(backend->active.load(), 2u);
  // A frame on the second pair's backend reaches the second receive queue.
  rx1.add({{2048, true, ""}});
  (*l)->run_sync([&] { net->queue_notified(2); });
  std::string sent = header() + "pair1";
  ASSERT_EQ(::write(backend->peer(1), sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));
  EXPECT_TRUE(eventually([&] { return rx1.used_idx() == 1; }));
  (*l)->run_sync([&] { net->reset(); });
}

TEST(TapOffloads, GuestFeaturesMapToTunFlags) {
  EXPECT_EQ(Tap::tun_offloads(0), 0u);
  // GUEST_TSO4 without GUEST_CSUM means nothing (5.1.3.1).
  EXPECT_EQ(Tap::tun_offloads(bit(VIRTIO_NET_F_GUEST_TSO4)), 0u);
  EXPECT_EQ(Tap::tun_offloads(bit(VIRTIO_NET_F_GUEST_CSUM)), unsigned{TUN_F_CSUM});
  EXPECT_EQ(Tap::tun_offloads(bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4) | bit(VIRTIO_NET_F_GUEST_TSO6) |
                              bit(VIRTIO_NET_F_GUEST_ECN) | bit(VIRTIO_NET_F_GUEST_UFO)),
            unsigned{TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO});
}

TEST(Tap, RefusesBadNames) {
  EXPECT_FALSE(Tap::open("", 1));
  auto r = Tap::open("a-name-of-16-chr", 1);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("1..15 characters"), std::string::npos);
}

// Against the kernel: needs /dev/net/tun and CAP_NET_ADMIN (root in the test environment).
TEST(Tap, CreatesAMissingTapAndItGoesWithTheLastFd) {
  std::string name = "avt" + std::to_string(::getpid() % 100000);
  auto tap = Tap::open(name, 2);
  // No skip: the suite runs as root with /dev/net/tun (as CI does); without them this fails loudly.
  ASSERT_TRUE(tap) << tap.error().message() << " (this test needs root and /dev/net/tun: modprobe tun)";
  EXPECT_TRUE((*tap)->created());
  EXPECT_EQ((*tap)->queue_pairs(), 2u);
  EXPECT_NE(::if_nametoindex(name.c_str()), 0u);
  EXPECT_TRUE((*tap)->offload_features() & bit(VIRTIO_NET_F_GUEST_CSUM));
  EXPECT_TRUE((*tap)->set_offloads(bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4)));
  EXPECT_TRUE((*tap)->set_active_pairs(1));
  EXPECT_TRUE((*tap)->set_active_pairs(2));
  // A second single-queue open of a multi-queue tap is refused with a message naming it.
  auto again = Tap::open(name, 1);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find(name), std::string::npos);
  tap->reset();
  EXPECT_EQ(::if_nametoindex(name.c_str()), 0u);  // not persistent: gone with altovirt's fds
}

}  // namespace
}  // namespace altovirt::virtio_net
