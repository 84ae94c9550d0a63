// The altoctl binary's verbs that need no running VM: a mistyped verb, dominfo/domuuid/autostart of
// a defined domain, and edit with a scripted $EDITOR (valid edit taken, invalid one refused with the
// definition unchanged), attach-device/detach-device on a definition.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "altovirt/base/files.h"
#include "run_command.h"

namespace altoctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using altovirt::testing::CliRun;

class VerbsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/altoctl-verbs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root = tmpl;
    ASSERT_TRUE(altovirt::write_file_atomic(
        root + "/seed.xml",
        "<domain type='kvm'><name>seed</name><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>"
        "<memory unit='MiB'>256</memory><vcpu>2</vcpu><os><type arch='x86_64' machine='q35'>hvm</type>"
        "<kernel>/k</kernel></os><devices><serial type='pty'><target port='0'/></serial></devices></domain>\n"));
  }
  void TearDown() override { std::filesystem::remove_all(root); }

  CliRun altoctl(const std::string& args, const std::string& env = "") {
    std::string cmd = env + " " + ALTOVIRT_TEST_ALTOCTL + std::string(" --state-dir ") + root + "/state --config-dir " +
                      root + "/conf " + args + " 2>&1";
    return altovirt::testing::run_command(cmd);
  }
  std::string defined() {
    auto t = altovirt::read_file(root + "/conf/seed.xml");
    return t ? *t : std::string();
  }
  std::string root;
};

TEST_F(VerbsCli, AMistypedVerbIsNamedWithTheClosestOnes) {
  CliRun r = altoctl("lst --all");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.output, "error: unknown command 'lst'; did you mean 'list'?\n");
  r = altoctl("rebot seed");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("did you mean 'reboot'?"));
  r = altoctl("frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("unknown command 'frobnicate'; see `altoctl --help`"));
}

TEST_F(VerbsCli, EveryDailyVerbIsKnown) {
  for (const char* verb : {"reboot", "reset", "suspend", "resume", "dominfo", "domid", "domname", "domuuid",
                           "domhostdev", "vncdisplay", "edit", "autostart", "recover", "version", "attach-device", "detach-device"}) {
    CliRun r = altoctl(std::string(verb) + " --help");
    EXPECT_EQ(r.status, 0) << verb << ": " << r.output;
  }
  CliRun r = altoctl("version");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("altoctl 0."));
  EXPECT_THAT(r.output, HasSubstr("Running hypervisor: altovirt"));
}

TEST_F(VerbsCli, DominfoAutostartAndDomuuidOfADefinedDomain) {
  ASSERT_EQ(altoctl("define " + root + "/seed.xml").status, 0);
  CliRun r = altoctl("dominfo seed");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Id:             -\n"));
  EXPECT_THAT(r.output, HasSubstr("State:          shut off\n"));
  EXPECT_THAT(r.output, HasSubstr("CPU(s):         2\n"));
  EXPECT_THAT(r.output, HasSubstr("Max memory:     262144 KiB\n"));
  EXPECT_THAT(r.output, HasSubstr("Persistent:     yes\n"));
  EXPECT_THAT(r.output, HasSubstr("Autostart:      disable\n"));
  r = altoctl("autostart seed");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "Domain 'seed' marked as autostarted\n");
  EXPECT_THAT(altoctl("dominfo seed").output, HasSubstr("Autostart:      enable\n"));
  EXPECT_EQ(altoctl("autostart --disable seed").output, "Domain 'seed' unmarked as autostarted\n");
  EXPECT_THAT(altoctl("dominfo seed").output, HasSubstr("Autostart:      disable\n"));
  EXPECT_EQ(altoctl("domuuid seed").output, "c7a5fdbd-cdaf-9455-926a-d65c16db1809\n\n");
  EXPECT_EQ(altoctl("domid seed").output, "-\n\n");
  // Not running: the power verbs fail and say so.
  r = altoctl("suspend seed");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("domain 'seed' is not running"));
  EXPECT_EQ(altoctl("reboot --mode agent seed").status, 2);
  // Undefine takes the autostart mark with it.
  ASSERT_EQ(altoctl("autostart seed").status, 0);
  ASSERT_EQ(altoctl("undefine seed").status, 0);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(root + "/conf/autostart/seed.xml")));
  r = altoctl("autostart nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("failed to get domain 'nosuch'"));
}

// virsh undefine's nvram rule: a domain whose UEFI variable store exists is not undefined without
// --nvram (remove it) or --keep-nvram (keep it); a store that is its own template is never removed.
TEST_F(VerbsCli, UndefineAskHowToTreatTheVariableStore) {
  auto define = [&](const std::string& name, const std::string& nvram) {
    std::string xml = "<domain type='kvm'><name>" + name + "</name><memory unit='MiB'>256</memory><os>"
                      "<type arch='x86_64' machine='q35'>hvm</type><loader readonly='yes' type='pflash'>/c.fd</loader>" +
                      nvram + "</os></domain>\n";
    ASSERT_TRUE(altovirt::write_file_atomic(root + "/" + name + ".xml", xml));
    ASSERT_EQ(altoctl("define " + root + "/" + name + ".xml").status, 0);
  };
  const std::string env = "ALTOVIRT_NVRAM_DIR=" + root + "/nvram";
  define("uefi", "<nvram template='/t.fd'/>");
  std::string vars = root + "/nvram/uefi_VARS.fd";
  ASSERT_TRUE(altovirt::make_dirs(root + "/nvram"));
  ASSERT_TRUE(altovirt::write_file_atomic(vars, "vars"));
  CliRun r = altoctl("undefine uefi", env);
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("cannot undefine domain 'uefi' with its UEFI variable store " + vars +
                                  ": add --nvram to remove it too, or --keep-nvram to keep it"));
  EXPECT_EQ(altoctl("undefine --nvram --keep-nvram uefi", env).status, 2) << "the flags exclude each other";
  r = altoctl("undefine --keep-nvram uefi", env);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(vars));
  define("uefi", "<nvram template='/t.fd'/>");
  r = altoctl("undefine --nvram uefi", env);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(std::filesystem::exists(vars));

  // StratoVirt's example names one file as both store and template: it stays.
  std::string shared = root + "/OVMF_VARS";
  ASSERT_TRUE(altovirt::write_file_atomic(shared, "template"));
  define("sv", "<nvram template='" + shared + "'>" + shared + "</nvram>");
  r = altoctl("undefine --nvram sv", env);
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("is also its <nvram template=...>"));
  EXPECT_TRUE(std::filesystem::exists(shared));
  EXPECT_EQ(altoctl("undefine --keep-nvram sv", env).status, 0);
}

TEST_F(VerbsCli, EditTakesAValidEditAndKeepsTheOldDefinitionOnAnError) {
  ASSERT_EQ(altoctl("define " + root + "/seed.xml").status, 0);
  std::string before = defined();
  // An editor that changes nothing.
  CliRun r = altoctl("edit seed", "EDITOR=true");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Domain 'seed' XML configuration not changed."));
  // A valid edit: 256 MiB -> 512 MiB.
  r = altoctl("edit seed", "EDITOR=\"sed -i s/262144/524288/\"");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Domain 'seed' XML configuration edited."));
  EXPECT_THAT(altoctl("dominfo seed").output, HasSubstr("Max memory:     524288 KiB\n"));
  // An invalid edit: an element altovirt does not have. The definition stays, the edit is kept.
  before = defined();
  r = altoctl("edit seed", "VISUAL=\"sed -i 's|</devices>|<disk type=\\\"file\\\"/></devices>|'\"");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("devices/disk[1]"));
  EXPECT_THAT(r.output, HasSubstr("the definition of 'seed' is unchanged; your edit is kept in /tmp/altoctl-edit-"));
  EXPECT_EQ(defined(), before);
  if (auto at = r.output.find("kept in "); at != std::string::npos)
    std::filesystem::remove(r.output.substr(at + 8, r.output.find(' ', at + 8) - at - 8));
  // The editor failing keeps it too.
  r = altoctl("edit seed", "EDITOR=false");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(defined(), before);
  if (auto at = r.output.find("edit kept in "); at != std::string::npos)
    std::filesystem::remove(r.output.substr(at + 13, r.output.find(')', at) - at - 13));
  EXPECT_THAT(altoctl("edit nosuch", "EDITOR=true").output, HasSubstr("domain 'nosuch' is not defined"));
}

// virsh's flags on a domain that does not run: --current (the default) and --config change the
// definition; --live is refused; a bad element changes nothing.
TEST_F(VerbsCli, AttachAndDetachDeviceChangeADefinition) {
  ASSERT_EQ(altoctl("define " + root + "/seed.xml").status, 0);
  ASSERT_TRUE(altovirt::write_file_atomic(root + "/nic.xml",
                                          "<hostdev mode='subsystem' type='pci' managed='yes'>\n"
                                          "  <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>\n"
                                          "</hostdev>\n"));
  ASSERT_TRUE(altovirt::write_file_atomic(root + "/disk.xml",
                                          "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                                          "<source file='/images/data.img'/><target dev='vdb' bus='virtio'/></disk>\n"));
  CliRun r = altoctl("attach-device seed " + root + "/nic.xml");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "Device attached successfully\n\n");
  EXPECT_THAT(defined(), HasSubstr("bus=\"0x01\""));
  r = altoctl("attach-device seed " + root + "/disk.xml --config");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(altoctl("domblklist seed").output, HasSubstr("/images/data.img"));
  // The same host device twice: refused at the file's own line, the definition as it was.
  std::string before = defined();
  r = altoctl("attach-device seed " + root + "/nic.xml --config");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("nic.xml: cannot add this device to domain 'seed'"));
  EXPECT_THAT(r.output, HasSubstr("line 1: devices/hostdev[2]"));
  EXPECT_EQ(defined(), before);
  // Not running: --live is refused and changes nothing.
  r = altoctl("attach-device seed " + root + "/disk.xml --live");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("domain 'seed' is not running; use --config"));
  EXPECT_EQ(altoctl("attach-device seed " + root + "/nic.xml --live --current").status, 2) << "exclusive flags";
  // Detach finds the hostdev by its host address and the disk by its target.
  r = altoctl("detach-device seed " + root + "/nic.xml --persistent");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "Device detached successfully\n\n");
  EXPECT_THAT(defined(), Not(HasSubstr("<hostdev")));
  r = altoctl("detach-device seed " + root + "/nic.xml");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("domain 'seed' has no <hostdev> with host address 0000:01:00.0"));
  EXPECT_EQ(altoctl("detach-device seed " + root + "/disk.xml").status, 0);
  EXPECT_THAT(defined(), Not(HasSubstr("data.img")));
  r = altoctl("attach-device nosuch " + root + "/nic.xml");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("failed to get domain 'nosuch'"));
}

}  // namespace
}  // namespace altoctl

namespace altoctl {
namespace {

TEST_F(VerbsCli, AVncPasswordStaysOutOfDumpxmlAndOutOfOtherUsersReach) {
  ASSERT_TRUE(altovirt::write_file_atomic(
      root + "/vnc.xml",
      "<domain type='kvm'><name>vnc</name><memory unit='MiB'>256</memory><os><type machine='q35'>hvm</type>"
      "<kernel>/k</kernel></os><devices><graphics type='vnc' autoport='yes' passwd='hunter2'/>"
      "<video><model type='virtio'/></video></devices></domain>\n"));
  CliRun r = altoctl("define " + root + "/vnc.xml");
  ASSERT_EQ(r.status, 0) << r.output;
  struct stat st{};
  ASSERT_EQ(::stat((root + "/conf/vnc.xml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a definition may hold a VNC password: root's alone";
  r = altoctl("dumpxml vnc");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("<graphics type=\"vnc\""));
  EXPECT_THAT(r.output, Not(HasSubstr("hunter2")));  // virsh's rule: not without --security-info
  r = altoctl("dumpxml --security-info vnc");
  EXPECT_THAT(r.output, HasSubstr("passwd=\"hunter2\""));
  r = altoctl("vncdisplay vnc");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("domain 'vnc' is not running"));
}

}  // namespace
}  // namespace altoctl
