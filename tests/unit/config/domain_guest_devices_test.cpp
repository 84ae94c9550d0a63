// <rng>, <memballoon model='virtio'> and <vsock>: parsing, dumpxml round trip, and the altovirt
// command line (QEMU's options as libvirt writes them).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "altovirt/config/domain.h"

namespace altovirt::config {
namespace {

using ::testing::ElementsAre;

constexpr const char* kGuestDevices = R"(<domain type='kvm'>
  <name>g</name>
  <memory unit='MiB'>256</memory>
  <os><type machine='q35'>hvm</type><kernel>/k</kernel></os>
  <devices>
    <controller type='pci' index='1' model='pcie-root-port'/>
    <memballoon model='virtio' autodeflate='on'>
      <stats period='5'/>
      <alias name='balloon0'/>
      <address type='pci' bus='0x01' slot='0x00'/>
    </memballoon>
    <rng model='virtio'>
      <rate bytes='1024' period='1000'/>
      <backend model='random'>/dev/urandom</backend>
    </rng>
    <rng model='virtio'>
      <rate bytes='50'/>
      <backend model='random'>/dev/hwrng</backend>
    </rng>
    <vsock model='virtio'><cid auto='no' address='42'/></vsock>
  </devices>
</domain>)";

DomainConfig parse(const char* xml) {
  auto r = parse_domain_xml(xml);
  EXPECT_TRUE(r) << r.error().message();
  return r ? r->config : DomainConfig{};
}

TEST(DomainGuestDevices, Parsed) {
  DomainConfig c = parse(kGuestDevices);
  ASSERT_TRUE(c.memballoon);
  EXPECT_TRUE(c.memballoon->autodeflate);
  EXPECT_EQ(c.memballoon->stats_period, 5u);
  ASSERT_EQ(c.rngs.size(), 2u);
  EXPECT_EQ(c.rngs[0].rate_bytes, 1024u);
  EXPECT_EQ(c.rngs[1].backend, "/dev/hwrng");
  EXPECT_EQ(c.rngs[1].rate_period_ms, 0u);  // absent: libvirt's 1000 ms at the command line
  ASSERT_TRUE(c.vsock);
  EXPECT_EQ(c.vsock->cid, 42u);
}

TEST(DomainGuestDevices, RoundTrip) {
  DomainConfig c = parse(kGuestDevices);
  std::string xml = to_xml(c);
  auto again = parse_domain_xml(xml, "dumpxml");
  ASSERT_TRUE(again) << again.error().message() << "\n" << xml;
  EXPECT_EQ(again->config, c) << xml;
}

TEST(DomainGuestDevices, CommandLine) {
  DomainConfig c = parse(kGuestDevices);
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args) << args.error().message();
  std::vector<std::string> tail(args->end() - 12, args->end() - 2);
  EXPECT_THAT(tail, ElementsAre("-object", "rng-random,id=objrng0,filename=/dev/urandom",
                                "-device", "virtio-rng-pci,rng=objrng0,id=rng0,max-bytes=1024,period=1000",
                                "-object", "rng-random,id=objrng1,filename=/dev/hwrng",
                                "-device", "virtio-rng-pci,rng=objrng1,id=rng1,max-bytes=50,period=1000",
                                "-device", "virtio-balloon-pci,id=balloon0,deflate-on-oom=on,guest-stats-polling-interval=5,bus=pci.1,addr=0x00.0"));
  EXPECT_EQ(args->back(), "vhost-vsock-pci,id=vsock0,guest-cid=42");
}

TEST(DomainGuestDevices, AutoCidAndNoBalloon) {
  DomainConfig c = parse("<domain type='kvm'><name>m</name><memory>65536</memory><os><type>hvm</type><kernel>/k</kernel></os>"
                         "<devices><memballoon model='none'/><vsock model='virtio'><cid auto='yes'/></vsock></devices></domain>");
  EXPECT_FALSE(c.memballoon);
  ASSERT_TRUE(c.vsock);
  EXPECT_TRUE(c.vsock->auto_cid);
  auto args = to_altovirt_args(c, {.qmp_socket = "/q", .log_file = ""});
  ASSERT_TRUE(args);
  EXPECT_EQ(args->back(), "vhost-vsock-pci,id=vsock0,guest-cid=auto");
  std::string xml = to_xml(c);
  auto again = parse_domain_xml(xml);
  ASSERT_TRUE(again) << xml;
  EXPECT_EQ(again->config, c);
}

}  // namespace
}  // namespace altovirt::config
