#include "domain_info.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

namespace altoctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

altovirt::config::DomainConfig seed() {
  altovirt::config::DomainConfig c;
  c.name = "seed";
  c.uuid = "c7a5fdbd-cdaf-9455-926a-d65c16db1809";
  c.memory_kib = 262144;
  c.vcpus = 2;
  altovirt::config::Hostdev h;
  h.managed = true;
  h.source.bus = 1;
  h.alias = "hostdev0";
  c.hostdevs.push_back(h);
  altovirt::config::Hostdev h2;
  h2.source.bus = 2;
  h2.source.function = 3;
  c.hostdevs.push_back(h2);
  return c;
}

TEST(DomInfoTest, ARunningPersistentDomainLooksLikeVirshDominfo) {
  VmStatus s;
  s.id = 3;
  s.name = "seed";
  s.state = VmState::running;
  s.persistent = true;
  DomInfo i = dominfo_of(s, VmState::paused, seed(), true);
  i.cpu_time_s = 12.34;
  EXPECT_EQ(format_dominfo(i),
            "Id:             3\n"
            "Name:           seed\n"
            "UUID:           c7a5fdbd-cdaf-9455-926a-d65c16db1809\n"
            "OS Type:        hvm\n"
            "State:          paused\n"
            "CPU(s):         2\n"
            "CPU time:       12.3s\n"
            "Max memory:     262144 KiB\n"
            "Used memory:    262144 KiB\n"
            "Persistent:     yes\n"
            "Autostart:      enable\n"
            "\n");
}

TEST(DomInfoTest, AShutOffDomainHasNoIdAndNoCpuTime) {
  VmStatus s;
  s.id = 7;  // a stale id in the record does not show
  s.name = "seed";
  auto c = seed();
  c.current_memory_kib = 131072;
  c.uuid.reset();
  std::string out = format_dominfo(dominfo_of(s, VmState::shutoff, c, false));
  EXPECT_THAT(out, HasSubstr("Id:             -\n"));
  EXPECT_THAT(out, HasSubstr("UUID:           -\n"));
  EXPECT_THAT(out, HasSubstr("State:          shut off\n"));
  EXPECT_THAT(out, HasSubstr("Used memory:    131072 KiB\n"));
  EXPECT_THAT(out, HasSubstr("Persistent:     no\n"));
  EXPECT_THAT(out, HasSubstr("Autostart:      disable\n"));
  EXPECT_THAT(out, Not(HasSubstr("CPU time")));
}

TEST(DomHostdevTest, OneRowPerHostdevWithItsDriver) {
  std::string out = format_hostdevs(seed(), [](const std::string& a) { return a == "0000:01:00.0" ? "vfio-pci" : ""; });
  EXPECT_EQ(out,
            " Type   Source         Managed   Alias      Host driver\n"
            "-------------------------------------------------------\n"
            " pci    0000:01:00.0   yes       hostdev0   vfio-pci\n"
            " pci    0000:02:00.3   no        -          -\n");
}

TEST(DomBlklistTest, OneRowPerDiskTargetAndSource) {
  altovirt::config::DomainConfig c = seed();
  EXPECT_EQ(format_blklist(c), " Target   Source\n" + std::string(16, '-') + "\n") << "no disks: the header only";
  altovirt::config::Disk root;
  root.target = "vda";
  root.source = "/var/lib/altovirt/images/debian.img";
  altovirt::config::Disk data;
  data.type = altovirt::config::Disk::Type::block;
  data.target = "vdb";
  data.source = "/dev/sdb";
  c.disks = {root, data};
  EXPECT_EQ(format_blklist(c),
            " Target   Source\n"
            "---------------------------------------------\n"
            " vda      /var/lib/altovirt/images/debian.img\n"
            " vdb      /dev/sdb\n");
}

TEST(DomInfoTest, CpuTimeOfThisProcessIsReadFromProc) {
  volatile unsigned long x = 0;
  for (unsigned long n = 0; n < 50'000'000; ++n) x = x + n;  // burn a little CPU time
  auto t = process_cpu_seconds(::getpid());
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  double want = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  ASSERT_TRUE(t);
  EXPECT_GT(*t, 0.0);
  EXPECT_NEAR(*t, want, 0.1);  // /proc counts in clock ticks (10 ms)
  EXPECT_FALSE(process_cpu_seconds(0));
}

}  // namespace
}  // namespace altoctl
