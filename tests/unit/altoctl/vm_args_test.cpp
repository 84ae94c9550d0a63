#include "vm_args.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "altovirt/base/files.h"

namespace altoctl {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace altovirt;

config::DomainConfig parse(const std::string& devices, const std::string& features = "<features><acpi/></features>") {
  std::string xml = "<domain type='kvm'><name>vm1</name><memory unit='MiB'>256</memory><vcpu>2</vcpu>"
                    "<os><type arch='x86_64' machine='q35'>hvm</type><kernel>/boot/k</kernel><initrd>/boot/i</initrd>"
                    "<cmdline>console=ttyS0</cmdline></os>" +
                    features + "<devices>" + devices + "</devices></domain>";
  auto r = config::parse_domain_xml(xml);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return r ? r->config : config::DomainConfig{};
}

const std::string kHostdev =
    "<hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio'/>"
    "<source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source><alias name='nic0'/></hostdev>";

VmPaths paths() { return VmStore("/run/av", "/etc/av").paths("vm1"); }

// The value that follows `opt` in `args`.
std::string value_of(const std::vector<std::string>& args, const std::string& opt) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == opt) return args[i + 1];
  return "<absent>";
}

config::DomainConfig uefi(const std::string& nvram) {
  auto r = config::parse_domain_xml("<domain type='kvm'><name>vm1</name><memory unit='MiB'>256</memory><os>"
                                    "<type arch='x86_64' machine='q35'>hvm</type>"
                                    "<loader readonly='yes' type='pflash'>/c.fd</loader>" + nvram + "</os></domain>");
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return r ? r->config : config::DomainConfig{};
}

TEST(VmArgsTest, TheVariableStoreIsCopiedFromItsTemplateOnce) {
  char tmpl[] = "/tmp/altoctl-nvram-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(write_file_atomic(dir + "/TEMPLATE.fd", "template"));
  ::setenv("ALTOVIRT_NVRAM_DIR", (dir + "/nvram").c_str(), 1);
  auto c = with_nvram_path(uefi("<nvram template='" + dir + "/TEMPLATE.fd'/>"));
  EXPECT_EQ(c.firmware->nvram_path, dir + "/nvram/vm1_VARS.fd") << "libvirt's NAME_VARS.fd";
  ASSERT_TRUE(prepare_nvram(c));
  EXPECT_EQ(*read_file(dir + "/nvram/vm1_VARS.fd"), "template");
  ASSERT_TRUE(write_file_atomic(dir + "/nvram/vm1_VARS.fd", "written by the firmware"));
  ASSERT_TRUE(prepare_nvram(c));
  EXPECT_EQ(*read_file(dir + "/nvram/vm1_VARS.fd"), "written by the firmware") << "never copied over";
  auto a = altovirt_args(c, paths());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_THAT(*a, Contains("if=pflash,format=raw,unit=1,file=" + dir + "/nvram/vm1_VARS.fd"));
  EXPECT_THAT(*a, Not(Contains("-kernel")));

  auto no_template = with_nvram_path(uefi("<nvram>" + dir + "/other.fd</nvram>"));
  auto e = prepare_nvram(no_template);
  ASSERT_FALSE(e);
  EXPECT_THAT(e.error().message(), HasSubstr("does not exist and no template= says what to make it from"));
  ::setenv("ALTOVIRT_NVRAM_DIR", (dir + "/nvram2").c_str(), 1);
  auto bad_template = with_nvram_path(uefi("<nvram template='/nonexistent.fd'/>"));
  e = prepare_nvram(bad_template);
  ASSERT_FALSE(e);
  EXPECT_THAT(e.error().message(), HasSubstr("<nvram template='/nonexistent.fd'>: the template cannot be read"));
  EXPECT_TRUE(prepare_nvram(with_nvram_path(uefi("")))) << "no <nvram>: nothing to prepare";
  ::unsetenv("ALTOVIRT_NVRAM_DIR");
  std::filesystem::remove_all(dir);
}

TEST(VmArgsTest, RunsTheDomainWithItsRuntimePaths) {
  auto a = altovirt_args(parse("<serial type='pty'/>" + kHostdev), paths());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(value_of(*a, "-name"), "vm1");
  EXPECT_EQ(value_of(*a, "-m"), "256M");
  EXPECT_EQ(value_of(*a, "-smp"), "2");
  EXPECT_EQ(value_of(*a, "-kernel"), "/boot/k");
  EXPECT_EQ(value_of(*a, "-initrd"), "/boot/i");
  EXPECT_EQ(value_of(*a, "-append"), "console=ttyS0");
  EXPECT_EQ(value_of(*a, "-serial"), "pty");
  EXPECT_EQ(value_of(*a, "-qmp"), "unix:/run/av/vms/vm1/vmm/qmp.sock,server,nowait");
  EXPECT_EQ(value_of(*a, "-D"), "/run/av/vms/vm1/vmm/altovirt.log");
  EXPECT_EQ(value_of(*a, "-pidfile"), "/run/av/vms/vm1/vmm/altovirt.pid");
  // On q35 the hostdev without a guest address goes behind a root port, added for it as libvirt does;
  // then two spare ports for hot-plug, at the top of the root bus.
  std::vector<std::string> devices;
  for (size_t i = 0; i + 1 < a->size(); ++i)
    if ((*a)[i] == "-device") devices.push_back((*a)[i + 1]);
  EXPECT_EQ(devices, (std::vector<std::string>{"pcie-root-port,id=pci.1,chassis=1,port=0x0,bus=pcie.0",
                                               "pcie-root-port,id=pci.2,chassis=2,port=0x0,bus=pcie.0,addr=0x1e.0",
                                               "pcie-root-port,id=pci.3,chassis=3,port=0x0,bus=pcie.0,addr=0x1d.0",
                                               "vfio-pci,host=0000:01:00.0,id=nic0,bus=pci.1,addr=0x00.0"}));
}

TEST(VmArgsTest, NoSerialMeansNoneNotTheDaemonsStdio) {
  auto a = altovirt_args(parse(""), paths());
  ASSERT_TRUE(a);
  EXPECT_EQ(value_of(*a, "-serial"), "none");
}

TEST(VmArgsTest, AcpiIsAlwaysOn) {
  auto a = altovirt_args(parse("", ""), paths());
  ASSERT_TRUE(a);
  EXPECT_THAT(*a, Not(Contains("-no-acpi")));
}

TEST(VmArgsTest, RootPortsAndDevicesBehindThemRun) {
  auto c = parse("<controller type='pci' index='1' model='pcie-root-port'/>"
                 "<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0' bus='2' slot='0' "
                 "function='0'/></source><address type='pci' domain='0' bus='1' slot='0' function='0'/></hostdev>");
  ASSERT_TRUE(check_runnable(c));
  auto r = altovirt_args(c, paths());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_THAT(*r, Contains(HasSubstr("pcie-root-port,id=pci.1,")));
  EXPECT_THAT(*r, Contains(HasSubstr("vfio-pci,host=0000:02:00.0")));
  EXPECT_THAT(*r, Contains(HasSubstr(",bus=pci.1")));
}

TEST(VmArgsTest, EmulatorFromTheXmlElseNextToAltoctlElsePath) {
  auto c = parse("<emulator>/opt/altovirt/bin/altovirt</emulator>");
  EXPECT_EQ(emulator_path(c, "/usr/bin/altoctl"), "/opt/altovirt/bin/altovirt");
  c.emulator.clear();
  EXPECT_EQ(emulator_path(c, "/nonexistent/dir/altoctl"), "altovirt");
  EXPECT_EQ(emulator_path(c, ALTOVIRT_TEST_ALTOCTL), ALTOVIRT_TEST_ALTOVIRT_NEXT);
}

// An aarch64 <loader> without <nvram> (StratoVirt's aarch64 example) gets the store its firmware
// descriptor names as template, as libvirt does; with no descriptor, a start is refused with what to
// add. x86 keeps running OVMF without a store when there is no <nvram>.
TEST(VmArgsTest, Aarch64LoaderWithoutNvramTakesItsDescriptorsTemplate) {
  char tmpl[] = "/tmp/altoctl-aavmf-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(write_file_atomic(dir + "/AAVMF_CODE.fd", "code"));
  ASSERT_TRUE(write_file_atomic(dir + "/AAVMF_VARS.fd", "vars template"));
  std::filesystem::create_directory(dir + "/desc");
  ASSERT_TRUE(write_file_atomic(dir + "/desc/60-edk2-aarch64.json",
                                R"({"mapping": {"device": "flash", "executable": {"filename": ")" + dir +
                                    R"(/AAVMF_CODE.fd"}, "nvram-template": {"filename": ")" + dir +
                                    R"(/AAVMF_VARS.fd"}}, "features": ["verbose-static"]})"));
  ::setenv("ALTOVIRT_NVRAM_DIR", (dir + "/nvram").c_str(), 1);
  auto arm = [&](const std::string& loader) {
    auto r = config::parse_domain_xml("<domain type='kvm'><name>vm1</name><memory unit='MiB'>256</memory><os>"
                                      "<type arch='aarch64' machine='virt'>hvm</type>"
                                      "<loader readonly='yes' type='pflash'>" + loader + "</loader></os></domain>",
                                      "arm.xml", "aarch64");
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? r->config : config::DomainConfig{};
  };
  // Debian's Secure Boot descriptor names a link to the same code and sorts first; its template
  // (Microsoft's keys enrolled) must not be taken for the plain path.
  std::filesystem::create_symlink(dir + "/AAVMF_CODE.fd", dir + "/AAVMF_CODE.ms.fd");
  ASSERT_TRUE(write_file_atomic(dir + "/AAVMF_VARS.ms.fd", "secure boot template"));
  ASSERT_TRUE(write_file_atomic(dir + "/desc/40-edk2-aarch64-secure-enrolled.json",
                                R"({"mapping": {"device": "flash", "executable": {"filename": ")" + dir +
                                    R"(/AAVMF_CODE.ms.fd"}, "nvram-template": {"filename": ")" + dir +
                                    R"(/AAVMF_VARS.ms.fd"}}, "features": ["secure-boot", "enrolled-keys"]})"));
  auto c = with_nvram_path(arm(dir + "/AAVMF_CODE.fd"), {dir + "/desc"});
  ASSERT_TRUE(c.firmware->nvram);
  EXPECT_EQ(c.firmware->nvram_template, dir + "/AAVMF_VARS.fd");
  EXPECT_EQ(c.firmware->nvram_path, dir + "/nvram/vm1_VARS.fd");
  ASSERT_TRUE(prepare_nvram(c));
  EXPECT_EQ(*read_file(dir + "/nvram/vm1_VARS.fd"), "vars template");
  auto a = altovirt_args(c, paths());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_THAT(*a, Contains("if=pflash,format=raw,unit=1,file=" + dir + "/nvram/vm1_VARS.fd"));

  auto ms = with_nvram_path(arm(dir + "/AAVMF_CODE.ms.fd"), {dir + "/desc"});
  EXPECT_EQ(ms.firmware->nvram_template, dir + "/AAVMF_VARS.ms.fd") << "the link's own descriptor";
  // A descriptor of the same name in a higher-priority directory hides the lower one.
  std::filesystem::create_directory(dir + "/user");
  ASSERT_TRUE(write_file_atomic(dir + "/user/60-edk2-aarch64.json",
                                R"({"mapping": {"device": "flash", "executable": {"filename": ")" + dir +
                                    R"(/AAVMF_CODE.fd"}, "nvram-template": {"filename": "/user/VARS.fd"}}})"));
  auto user = with_nvram_path(arm(dir + "/AAVMF_CODE.fd"), {dir + "/user", dir + "/desc"});
  EXPECT_EQ(user.firmware->nvram_template, "/user/VARS.fd");
  ASSERT_TRUE(write_file_atomic(dir + "/OTHER_CODE.fd", "other"));
  auto none = with_nvram_path(arm(dir + "/OTHER_CODE.fd"), {dir + "/desc"});
  EXPECT_FALSE(none.firmware->nvram) << "no descriptor names this image";
  auto e = prepare_nvram(none);
  ASSERT_FALSE(e);
  EXPECT_THAT(e.error().message(), HasSubstr("add <nvram template='/usr/share/AAVMF/AAVMF_VARS.fd'/>"));
  auto x86 = with_nvram_path(uefi(""), {dir + "/desc"});
  EXPECT_FALSE(x86.firmware->nvram) << "x86: OVMF may run without a store";
  EXPECT_TRUE(prepare_nvram(x86));
  ::unsetenv("ALTOVIRT_NVRAM_DIR");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace altoctl
