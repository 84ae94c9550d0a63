// <graphics type='vnc'>, <video> and <input bus='virtio'>: parsing, dumpxml round trip, and the
// altovirt command line (QEMU's -vnc, -object secret and -device as libvirt writes them).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "altovirt/config/domain.h"

namespace altovirt::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string domain(const std::string& devices) {
  return "<domain type='kvm'><name>d</name><memory unit='MiB'>256</memory>"
         "<os><type machine='q35'>hvm</type><kernel>/k</kernel></os><devices>" + devices + "</devices></domain>";
}
DomainConfig parse(const std::string& xml) {
  auto r = parse_domain_xml(xml);
  EXPECT_TRUE(r) << r.error().message();
  return r ? r->config : DomainConfig{};
}
std::string args_of(const DomainConfig& c, const std::string& pw_file = "/run/vm/vnc-password") {
  auto a = to_altovirt_args(c, RuntimePaths{"/q", "", "", pw_file});
  EXPECT_TRUE(a) << a.error().message();
  return a ? fmt::format("{}", fmt::join(*a, " ")) : "";
}

TEST(DomainDisplay, VncWithAPasswordAFixedPortAVideoModeAndExplicitInputs) {
  DomainConfig c = parse(domain(R"(
    <graphics type='vnc' port='5905' autoport='no' listen='127.0.0.1' passwd='s3cret'/>
    <video><model type='virtio' heads='1' primary='yes'><resolution x='1024' y='768'/></model>
      <alias name='gpu'/><address type='pci' bus='0x00' slot='0x05'/></video>
    <input type='tablet' bus='virtio'/>)"));
  ASSERT_TRUE(c.graphics);
  EXPECT_FALSE(c.graphics->autoport);
  EXPECT_EQ(c.graphics->port, 5905u);
  EXPECT_EQ(c.graphics->passwd, "s3cret");
  ASSERT_TRUE(c.video);
  EXPECT_EQ(c.video->xres, 1024u);
  ASSERT_EQ(c.inputs.size(), 1u);
  std::string a = args_of(c);
  EXPECT_THAT(a, HasSubstr("-object secret,id=vnc0-secret,file=/run/vm/vnc-password -vnc 127.0.0.1:5,password-secret=vnc0-secret"));
  EXPECT_THAT(a, HasSubstr("-device virtio-gpu-pci,id=gpu,xres=1024,yres=768,bus=pcie.0,addr=0x05.0"));
  EXPECT_THAT(a, HasSubstr("-device virtio-tablet-pci,id=input0"));
  EXPECT_THAT(a, Not(HasSubstr("virtio-keyboard-pci")));  // explicit inputs: none added
  EXPECT_THAT(a, Not(HasSubstr("s3cret")));                 // the password never on the command line
  // Without a file to put it in, a password is an error, not a VNC server without one.
  auto no_file = to_altovirt_args(c, RuntimePaths{"/q", ""});
  ASSERT_FALSE(no_file);
}

TEST(DomainDisplay, RoundTrip) {
  for (const char* devices : {
           "<graphics type='vnc' port='5905' autoport='no' listen='127.0.0.1' passwd='pw'/>"
           "<video><model type='virtio'><resolution x='800' y='600'/></model></video>"
           "<input type='keyboard' bus='virtio'/><input type='tablet' bus='virtio'><alias name='t'/></input>",
           "<graphics type='vnc' autoport='yes'><listen type='address' address='0.0.0.0'/></graphics>",
           "<graphics type='vnc'><listen type='socket' socket='/run/vm/vnc.sock'/></graphics><video><model type='none'/></video>",
       }) {
    DomainConfig c = parse(domain(devices));
    std::string xml = to_xml(c);
    auto again = parse_domain_xml(xml, "dumpxml");
    ASSERT_TRUE(again) << again.error().message() << "\n" << xml;
    EXPECT_EQ(again->config, c) << xml;
  }
}

TEST(DomainDisplay, DefaultsAndImplicitDevices) {
  // <graphics type='vnc'/> alone: loopback, the first free display, a virtio-gpu, keyboard and tablet.
  std::string a = args_of(parse(domain("<graphics type='vnc'/>")));
  EXPECT_THAT(a, HasSubstr("-vnc 127.0.0.1:0,to=99 "));
  EXPECT_THAT(a, HasSubstr("-device virtio-gpu-pci,id=video0"));
  EXPECT_THAT(a, HasSubstr("-device virtio-keyboard-pci,id=input0 -device virtio-tablet-pci,id=input1"));
  // port='-1' is autoport too; a Unix socket; no display adapter when the XML says model none.
  EXPECT_THAT(args_of(parse(domain("<graphics type='vnc' port='-1' listen='0.0.0.0'/>"))), HasSubstr("-vnc 0.0.0.0:0,to=99"));
  std::string s = args_of(parse(domain("<graphics type='vnc' socket='/run/v.sock'/><video><model type='none'/></video>")));
  EXPECT_THAT(s, HasSubstr("-vnc unix:/run/v.sock"));
  EXPECT_THAT(s, Not(HasSubstr("virtio-gpu-pci")));
  // A video device without graphics: the guest gets its display adapter, nobody sees it.
  std::string v = args_of(parse(domain("<video><model type='virtio'/></video>")));
  EXPECT_THAT(v, HasSubstr("virtio-gpu-pci"));
  EXPECT_THAT(v, Not(HasSubstr("-vnc")));
  EXPECT_THAT(v, Not(HasSubstr("virtio-keyboard-pci")));
}

}  // namespace
}  // namespace altovirt::config
