// The altovirt command line: accepted forms and the errors for everything else.
#include <stdlib.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "altovirt/vmm/options.h"
#include "altovirt/vmm/root_port_kind.h"

using namespace altovirt;
using namespace altovirt::vmm;

namespace {
Result<VmOptions> parse(std::vector<std::string> extra, const DeviceRegistry& r = DeviceRegistry()) {
  std::vector<std::string> args = {"-m", "256M", "-kernel", "/boot/vmlinuz"};
  args.insert(args.end(), extra.begin(), extra.end());
  return parse_options(args, r);
}
std::string error_of(std::vector<std::string> extra, const DeviceRegistry& r = DeviceRegistry()) {
  auto o = parse(std::move(extra), r);
  return o ? "" : o.error().message();
}
DeviceRegistry with_fake_kind() {
  DeviceRegistry r;
  r.add("fake-pci", DeviceKind{"a test kind", {"host"}, nullptr});
  DeviceKind port{"a bus", {"chassis"}, nullptr};
  port.provides_bus = true;
  r.add("pcie-root-port", port);
  return r;
}
}  // namespace

TEST(Options, FullCommandLine) {
  auto o = parse_options({"-name", "vm1", "-machine", "q35", "-m", "1G", "-smp", "2", "-kernel", "k", "-initrd", "i",
                          "-append", "console=ttyS0 quiet", "-serial", "file:/tmp/c", "-no-reboot", "-pidfile", "/p",
                          "-D", "/l", "-qmp", "unix:/q.sock,server,nowait"},
                         DeviceRegistry());
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->name, "vm1");
  EXPECT_EQ(o->ram, 1ull << 30);
  EXPECT_EQ(o->cpus, 2u);
  EXPECT_EQ(o->kernel, "k");
  EXPECT_EQ(o->initrd, "i");
  EXPECT_EQ(o->append, "console=ttyS0 quiet");
  EXPECT_EQ(o->serial, "file:/tmp/c");
  EXPECT_TRUE(o->no_reboot);
  EXPECT_EQ(o->pidfile, "/p");
  EXPECT_EQ(o->logfile, "/l");
  ASSERT_TRUE(o->qmp);
  EXPECT_EQ(o->qmp->path, "/q.sock");
  EXPECT_FALSE(o->qmp->wait);
}

TEST(Options, StartPausedNeedsQmp) {
  EXPECT_FALSE(parse({})->start_paused);
  auto o = parse({"-S", "-qmp", "unix:/q.sock,server,nowait"});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_TRUE(o->start_paused);
  EXPECT_NE(error_of({"-S"}).find("-S starts the VM paused and only QMP's cont runs it: add -qmp"), std::string::npos)
      << error_of({"-S"});
}

TEST(Options, MemorySizes) {
  EXPECT_EQ(parse({"-m", "512"})->ram, 512ull << 20) << "a bare number is MiB";
  EXPECT_EQ(parse({"-m", "2G"})->ram, 2ull << 30);
  EXPECT_NE(error_of({"-m", "0"}).find("-m 0: a guest needs at least 64M"), std::string::npos) << error_of({"-m", "0"});
  EXPECT_NE(error_of({"-m", "lots"}).find("-m"), std::string::npos);
  EXPECT_NE(error_of({"-m", "65M"}).find("multiple of 2 MiB"), std::string::npos);
}

TEST(Options, RequiredOptions) {
  auto no_kernel = parse_options({"-m", "256M"}, DeviceRegistry());
  ASSERT_FALSE(no_kernel);
  EXPECT_NE(no_kernel.error().message().find("-kernel BZIMAGE is required"), std::string::npos);
  auto no_m = parse_options({"-kernel", "k"}, DeviceRegistry());
  ASSERT_FALSE(no_m);
  EXPECT_NE(no_m.error().message().find("-m SIZE is required"), std::string::npos);
}

TEST(Options, BadValuesNameTheOptionAndTheForms) {
  EXPECT_NE(error_of({"-smp", "0"}).find("-smp 0: expected a CPU count 1..255"), std::string::npos);
  EXPECT_NE(error_of({"-smp", "256"}).find("-smp 256"), std::string::npos);
  EXPECT_NE(error_of({"-machine", "pc"}).find("the only machine type is q35"), std::string::npos);
  EXPECT_NE(error_of({"-serial", "tcp:1"}).find("expected stdio, pty, file:PATH or none"), std::string::npos);
  // Two readers of the terminal would split the typed bytes between them.
  EXPECT_NE(error_of({"-chardev", "stdio,id=c0"}).find("stdio is already the serial port's backend (-serial stdio, the default); add -serial none"),
            std::string::npos);
  EXPECT_NE(error_of({"-serial", "none", "-chardev", "stdio,id=c0", "-chardev", "stdio,id=c1"})
                .find("-chardev stdio,id=c1: stdio is already the backend of -chardev stdio,id=c0"),
            std::string::npos);
  EXPECT_NE(error_of({"-qmp", "tcp:1"}).find("unix:PATH"), std::string::npos);
  EXPECT_NE(error_of({"-qmp", "unix:/q"}).find("server"), std::string::npos);
  EXPECT_NE(error_of({"-bogus"}).find("unknown option '-bogus'"), std::string::npos);
  EXPECT_NE(error_of({"-append"}).find("-append needs a value"), std::string::npos);
}

TEST(Options, DoubleDashAndMachineAccel) {
  auto o = parse({"--smp", "3", "-machine", "q35,accel=kvm"});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->cpus, 3u);
}

TEST(Device, UnknownKindListsTheKnownOnes) {
  std::string e = error_of({"-device", "e1000,netdev=n"}, with_fake_kind());
  EXPECT_NE(e.find("unknown device kind 'e1000'"), std::string::npos) << e;
  EXPECT_NE(e.find("fake-pci"), std::string::npos) << e;
  EXPECT_NE(error_of({"-device", "x"}).find("(none in this build)"), std::string::npos);
}

TEST(Device, PlacementAndKindOptions) {
  auto o = parse({"-device", "fake-pci,host=01:00.0,id=nic0,bus=pcie.0,addr=3.1,multifunction=on"}, with_fake_kind());
  ASSERT_TRUE(o) << o.error().message();
  ASSERT_EQ(o->devices.size(), 1u);
  auto& d = o->devices[0];
  EXPECT_EQ(d.kind, "fake-pci");
  EXPECT_EQ(d.props.at("host"), "01:00.0");
  EXPECT_EQ(d.id, "nic0");
  EXPECT_EQ(d.slot, 3u);
  EXPECT_EQ(d.function, 1u);
  EXPECT_TRUE(d.multifunction);
}

TEST(Device, BadOptions) {
  auto r = with_fake_kind();
  EXPECT_NE(error_of({"-device", "fake-pci,speed=9"}, r).find("has no option 'speed' (accepted: id, bus, addr, multifunction, host)"), std::string::npos);
  EXPECT_NE(error_of({"-device", "fake-pci,bus=pci.1"}, r).find("bus=pci.1 names no pcie-root-port"), std::string::npos);
  EXPECT_NE(error_of({"-device", "fake-pci,bus="}, r).find("bus= is empty"), std::string::npos);
  EXPECT_NE(error_of({"-device", "fake-pci,addr=0"}, r).find("host bridge"), std::string::npos);
  EXPECT_NE(error_of({"-device", "fake-pci,addr=40"}, r).find("addr=40"), std::string::npos);
  EXPECT_NE(error_of({"-device", "fake-pci,multifunction=maybe"}, r).find("on or off"), std::string::npos);
  EXPECT_NE(error_of({"-device", "fake-pci,host"}, r).find("not key=value"), std::string::npos);
  EXPECT_NE(error_of({"-device", "fake-pci,host=a,host=b"}, r).find("twice"), std::string::npos);
}

TEST(Drive, AllKeys) {
  auto o = parse({"-drive", "file=/img,format=raw,if=none,id=d0,readonly=on,cache=none,aio=threads,discard=ignore,iops=1000,"
                            "iops_rd=10,iops_wr=20,bps=4096,bps_rd=1,bps_wr=2",
                  "-drive", "file=/other,id=d1"});
  ASSERT_TRUE(o) << o.error().message();
  ASSERT_EQ(o->drives.size(), 2u);
  const DriveSpec& d = o->drives[0];
  EXPECT_EQ(d.file, "/img");
  EXPECT_EQ(d.id, "d0");
  EXPECT_TRUE(d.readonly);
  EXPECT_TRUE(d.direct);
  EXPECT_FALSE(d.io_uring);
  EXPECT_FALSE(d.discard);
  EXPECT_EQ(d.limits.iops, 1000u);
  EXPECT_EQ(d.limits.iops_rd, 10u);
  EXPECT_EQ(d.limits.iops_wr, 20u);
  EXPECT_EQ(d.limits.bps, 4096u);
  EXPECT_EQ(d.limits.bps_rd, 1u);
  EXPECT_EQ(d.limits.bps_wr, 2u);
  EXPECT_FALSE(o->drives[1].readonly);
  EXPECT_FALSE(o->drives[1].direct);
  EXPECT_TRUE(o->drives[1].io_uring) << "io_uring is the default engine";
  EXPECT_TRUE(o->drives[1].discard) << "discards reach the image unless discard=ignore";
  EXPECT_FALSE(o->drives[1].limits.any());
}

TEST(Drive, ErrorsNameTheOption) {
  EXPECT_NE(error_of({"-drive", "id=d0"}).find("-drive id=d0: file=PATH is required"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "file=/i"}).find("id=ID is required"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "file=/i,id=a,format=qcow2"}).find("format=qcow2 is not supported"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "file=/i,id=a,if=virtio"}).find("if=virtio: expected if=none"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "file=/i,id=a,cache=unsafe"}).find("cache=unsafe"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "file=/i,id=a,aio=native"}).find("aio=native"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "file=/i,id=a,discard=maybe"}).find("discard=maybe: expected unmap or ignore"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "file=/i,id=a,iops=lots"}).find("iops"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "file=/i,id=a,bogus=1"}).find("unknown key 'bogus'"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "file=/i,id=a", "-drive", "file=/j,id=a"}).find("id=a is already used"), std::string::npos);
}

TEST(Drive, PflashFirmwareAsQemuWritesIt) {
  auto o = parse_options({"-m", "512M", "-drive", "if=pflash,format=raw,unit=0,file=/usr/share/OVMF/OVMF_CODE_4M.fd,readonly=on",
                          "-drive", "if=pflash,format=raw,unit=1,file=/var/vm/VARS.fd"},
                         DeviceRegistry());
  ASSERT_TRUE(o) << o.error().message();
  ASSERT_TRUE(o->firmware);
  EXPECT_EQ(o->firmware->code.file, "/usr/share/OVMF/OVMF_CODE_4M.fd");
  EXPECT_TRUE(o->firmware->code.readonly);
  ASSERT_TRUE(o->firmware->vars);
  EXPECT_EQ(o->firmware->vars->file, "/var/vm/VARS.fd");
  EXPECT_TRUE(o->drives.empty()) << "flash is not a disk";
  EXPECT_TRUE(o->kernel.empty()) << "-kernel is optional with firmware";

  // Units numbered in order when not given; a kernel may go through the firmware too.
  auto k = parse({"-drive", "if=pflash,file=/c,readonly=on", "-drive", "if=pflash,file=/v"});
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_EQ(k->firmware->code.file, "/c");
  EXPECT_EQ(k->firmware->vars->file, "/v");
  EXPECT_EQ(k->kernel, "/boot/vmlinuz");
}

TEST(Drive, PflashErrors) {
  EXPECT_NE(error_of({"-drive", "if=pflash,unit=2,file=/c"}).find("unit=2: a firmware has unit 0 (its code) and unit 1"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "if=pflash,unit=0,file=/c", "-drive", "if=pflash,unit=0,file=/d"}).find("unit 0 (the firmware's code) is already -drive if=pflash,unit=0,file=/c"),
            std::string::npos);
  EXPECT_NE(error_of({"-drive", "if=pflash,unit=1,file=/v"}).find("need its code too"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "if=pflash,file=/c", "-drive", "if=pflash,file=/v,readonly=on"}).find("must be writable"),
            std::string::npos);
  EXPECT_NE(error_of({"-drive", "if=pflash,file=/c,cache=none"}).find("not a firmware flash"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "if=none,id=d,file=/d,unit=1"}).find("unit= is for if=pflash"), std::string::npos);
  EXPECT_NE(error_of({"-drive", "if=ide,file=/d"}).find("if=ide: expected if=none"), std::string::npos);
  auto none = parse_options({"-m", "256M"}, DeviceRegistry());
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("or UEFI firmware with -drive if=pflash"), std::string::npos);
  auto initrd = parse_options({"-m", "256M", "-drive", "if=pflash,file=/c", "-initrd", "/i"}, DeviceRegistry());
  ASSERT_FALSE(initrd);
  EXPECT_EQ(initrd.error().message(), "-initrd /i needs -kernel");
}

TEST(Object, IoThreads) {
  auto o = parse({"-object", "iothread,id=io1", "-object", "iothread,id=io2"});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->iothreads, (std::vector<std::string>{"io1", "io2"}));
  EXPECT_NE(error_of({"-object", "memory-backend-ram,id=m"})
                .find("-object memory-backend-ram,id=m: 'memory-backend-ram' is not supported (the memory backend is "
                      "memory-backend-file)"),
            std::string::npos);
  EXPECT_NE(error_of({"-object", "throttle-group,id=m"}).find("-object throttle-group,id=m: expected iothread,id=ID"),
            std::string::npos);
  EXPECT_NE(error_of({"-object", "iothread,id=a", "-object", "iothread,id=a"}).find("declared twice"), std::string::npos);
}

TEST(Object, RngRandom) {
  auto o = parse({"-object", "rng-random,id=r0,filename=/dev/hwrng", "-object", "rng-random,id=r1"});
  ASSERT_TRUE(o) << o.error().message();
  ASSERT_EQ(o->rngs.size(), 2u);
  EXPECT_EQ(o->rngs[0].id, "r0");
  EXPECT_EQ(o->rngs[0].filename, "/dev/hwrng");
  EXPECT_EQ(o->rngs[1].filename, "/dev/urandom");  // QEMU's default
  EXPECT_NE(error_of({"-object", "rng-random,filename=/dev/urandom"}).find("id=ID is required"), std::string::npos);
  EXPECT_NE(error_of({"-object", "rng-random,id=r,size=3"}).find("unknown or empty key 'size=3'"), std::string::npos);
  EXPECT_NE(error_of({"-object", "rng-random,id=r", "-object", "rng-random,id=r"}).find("id=r is already used"),
            std::string::npos);
}

TEST(Vnc, DisplayAndPasswordSecret) {
  auto o = parse({"-vnc", ":3"});
  ASSERT_TRUE(o) << o.error().message();
  ASSERT_TRUE(o->vnc);
  EXPECT_EQ(o->vnc->options.display, 3u);
  EXPECT_EQ(*vnc_password(*o), "");
  EXPECT_FALSE(parse({"-vnc", ":3", "-vnc", "none"})->vnc);

  char path[] = "/tmp/altovirt-secret-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "hunter2\n", 8), 8);
  ::close(fd);
  auto p = parse({"-object", std::string("secret,id=vncpw,file=") + path, "-vnc", "0.0.0.0:1,password-secret=vncpw"});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(*vnc_password(*p), "hunter2");  // without the file's newline
  ::unlink(path);
  auto gone = vnc_password(*p);
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message().find("secret,id=vncpw"), std::string::npos) << gone.error().message();
  EXPECT_EQ(*vnc_password(*parse({"-object", "secret,id=s,data=pw", "-vnc", ":1,password-secret=s"})), "pw");
}

TEST(Vnc, ErrorsNameTheOption) {
  EXPECT_NE(error_of({"-vnc", ":1,password-secret=nope"}).find("password-secret=nope names no -object secret"),
            std::string::npos);
  EXPECT_NE(error_of({"-vnc", "5901"}).find("-vnc 5901: no display number"), std::string::npos);
  EXPECT_NE(error_of({"-object", "secret,id=s"}).find("give the secret as file=PATH"), std::string::npos);
  EXPECT_NE(error_of({"-object", "secret,id=s,data=a,file=b"}).find("one of them"), std::string::npos);
  EXPECT_NE(error_of({"-object", "secret,data=a"}).find("needs id="), std::string::npos);
  EXPECT_NE(error_of({"-object", "secret,id=s,data=a,keyid=k"}).find("unknown property 'keyid=k'"), std::string::npos);
  EXPECT_NE(error_of({"-object", "secret,id=s,data=a", "-object", "secret,id=s,data=b"}).find("id=s is already used"),
            std::string::npos);
}

TEST(Device, BehindARootPortInAnyOrder) {
  auto o = parse({"-device", "fake-pci,host=a,bus=rp1,addr=0", "-device", "pcie-root-port,id=rp1,chassis=1",
                  "-device", "fake-pci,host=b,bus=rp2", "-device", "pcie-root-port,id=rp2,chassis=2,addr=4"},
                 with_fake_kind());
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->devices[0].bus, "rp1");
  EXPECT_EQ(o->devices[2].bus, "rp2");
  EXPECT_EQ(o->devices[1].bus, "");
  EXPECT_FALSE(o->devices[2].slot);
}

TEST(Device, PlacementErrorsNameTheOption) {
  auto r = with_fake_kind();
  const std::string rp = "pcie-root-port,id=rp1,chassis=1";
  EXPECT_NE(error_of({"-device", rp, "-device", "fake-pci,host=a,bus=rp1,addr=2"}, r)
                .find("-device fake-pci,host=a,bus=rp1,addr=2: addr=0x2.0 behind root port rp1: a root port's bus has one slot, 0"),
            std::string::npos);
  EXPECT_NE(error_of({"-device", rp, "-device", "fake-pci,host=a,bus=rp1", "-device", "fake-pci,host=b,bus=rp1"}, r)
                .find("-device fake-pci,host=b,bus=rp1: root port rp1 already has -device fake-pci,host=a,bus=rp1"),
            std::string::npos);
  EXPECT_NE(error_of({"-device", "fake-pci,host=a,addr=3", "-device", "fake-pci,host=b,addr=3.0"}, r)
                .find("-device fake-pci,host=b,addr=3.0: addr=0x3.0 of pcie.0 is already taken by -device fake-pci,host=a,addr=3"),
            std::string::npos);
  EXPECT_NE(error_of({"-device", "pcie-root-port,id=rp1,bus=rp0"}, r).find("a pcie-root-port sits on pcie.0"), std::string::npos);
  EXPECT_NE(error_of({"-device", rp, "-device", "pcie-root-port,id=rp1,chassis=2"}, r).find("id=rp1 is already used"),
            std::string::npos);
  // Functions of one multi-function device behind a port are fine.
  EXPECT_EQ(error_of({"-device", rp, "-device", "fake-pci,host=a,bus=rp1,addr=0.0,multifunction=on",
                      "-device", "fake-pci,host=b,bus=rp1,addr=0.1"}, r), "");
}

TEST(Device, RootPortsNeedTheirOwnChassisAndSlot) {
  DeviceRegistry r;
  register_pcie_root_port(r);
  EXPECT_EQ(error_of({"-device", "pcie-root-port,id=a,chassis=1,port=0x10", "-device", "pcie-root-port,id=b,chassis=2,port=0x11"}, r), "");
  EXPECT_NE(error_of({"-device", "pcie-root-port,id=a,chassis=1", "-device", "pcie-root-port,id=b,chassis=1"}, r)
                .find("-device pcie-root-port,id=b,chassis=1: chassis=1 slot=1 is already used by -device pcie-root-port,id=a,chassis=1"),
            std::string::npos);
  EXPECT_EQ(error_of({"-device", "pcie-root-port,id=a,chassis=1,slot=1", "-device", "pcie-root-port,id=b,chassis=1,slot=2"}, r), "");
  EXPECT_NE(error_of({"-device", "pcie-root-port,id=a,chassis=300"}, r).find("chassis=300 must be a number 0..255"),
            std::string::npos);
}

TEST(Netdev, TapKeys) {
  auto o = parse({"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off,queues=4", "-netdev", "tap,id=n1,ifname=tap1"});
  ASSERT_TRUE(o) << o.error().message();
  ASSERT_EQ(o->netdevs.size(), 2u);
  EXPECT_EQ(o->netdevs[0].id, "n0");
  EXPECT_EQ(o->netdevs[0].ifname, "tap0");
  EXPECT_EQ(o->netdevs[0].vhost, false);
  EXPECT_EQ(o->netdevs[0].queues, 4u);
  EXPECT_FALSE(o->netdevs[1].vhost.has_value());  // unset: vhost-net when /dev/vhost-net is there
  EXPECT_EQ(o->netdevs[1].queues, 1u);
}

TEST(Netdev, ErrorsNameTheOption) {
  EXPECT_NE(error_of({"-netdev", "tap,id=n0,ifname=a-name-of-16-chr"}).find("-netdev tap,id=n0,ifname=a-name-of-16-chr: ifname=a-name-of-16-chr: a tap name is 1..15 characters"),
            std::string::npos);
  EXPECT_NE(error_of({"-netdev", "user,id=n0"}).find("netdev type 'user' is not supported"), std::string::npos);
  EXPECT_NE(error_of({"-netdev", "tap,ifname=t"}).find("id=ID is required"), std::string::npos);
  EXPECT_NE(error_of({"-netdev", "tap,id=n0"}).find("ifname=NAME is required"), std::string::npos);
  EXPECT_NE(error_of({"-netdev", "tap,id=n0,ifname=t,script=/etc/qemu-ifup"}).find("altovirt runs no scripts"), std::string::npos);
  EXPECT_NE(error_of({"-netdev", "tap,id=n0,ifname=t,vhost=maybe"}).find("vhost"), std::string::npos);
  EXPECT_NE(error_of({"-netdev", "tap,id=n0,ifname=t,queues=0"}).find("queues=0: expected 1..16"), std::string::npos);
  EXPECT_NE(error_of({"-netdev", "tap,id=n0,ifname=t,fd=3"}).find("unknown or empty key 'fd=3'"), std::string::npos);
  EXPECT_NE(error_of({"-netdev", "tap,id=n0,ifname=t", "-netdev", "tap,id=n0,ifname=u"}).find("id=n0 is already used"),
            std::string::npos);
}

TEST(Options, MemoryBackendFileIsGuestRam) {
  auto o = parse_options({"-machine", "q35,accel=kvm,memory-backend=pc.ram", "-m", "512M", "-kernel", "k", "-object",
                          "memory-backend-file,id=pc.ram,size=512M,mem-path=/dev/hugepages,prealloc=on"},
                         DeviceRegistry());
  ASSERT_TRUE(o) << o.error().message();
  ASSERT_TRUE(o->ram_backing);
  EXPECT_EQ(o->ram_backing->mem_path, "/dev/hugepages");
  EXPECT_TRUE(o->ram_backing->prealloc);
  EXPECT_FALSE(o->ram_backing->share);
  EXPECT_EQ(o->ram, 512ull << 20);
  // Without -m the backend's size is the RAM size, as in QEMU; share=on maps the file shared.
  o = parse_options({"-M", "q35,memory-backend=m0", "-kernel", "k", "-object",
                     "memory-backend-file,id=m0,size=1G,mem-path=/dev/hugepages1G,share=on"},
                    DeviceRegistry());
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->ram, 1ull << 30);
  EXPECT_TRUE(o->ram_backing->share);
  EXPECT_FALSE(o->ram_backing->prealloc);
  EXPECT_EQ(o->ram_backing->option, "-object memory-backend-file,id=m0,size=1G,mem-path=/dev/hugepages1G,share=on");
}

TEST(Options, MemPathAndMemPrealloc) {
  auto o = parse({"-mem-path", "/dev/hugepages", "-mem-prealloc"});
  ASSERT_TRUE(o) << o.error().message();
  ASSERT_TRUE(o->ram_backing);
  EXPECT_EQ(o->ram_backing->mem_path, "/dev/hugepages");
  EXPECT_TRUE(o->ram_backing->prealloc);
  EXPECT_EQ(o->ram_backing->option, "-mem-path /dev/hugepages");
  o = parse({"-mem-prealloc"});
  ASSERT_TRUE(o);
  ASSERT_TRUE(o->ram_backing);
  EXPECT_TRUE(o->ram_backing->mem_path.empty());
  EXPECT_TRUE(o->ram_backing->prealloc);
  // Nothing asked: plain anonymous memory, as before.
  o = parse({});
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->ram_backing);
}

TEST(Options, MemoryBackendErrorsNameTheOption) {
  const std::string obj = "memory-backend-file,id=r,size=256M,mem-path=/dev/hugepages";
  EXPECT_EQ(error_of({"-machine", "q35,memory-backend=x", "-object", obj}),
            "-machine q35,memory-backend=x: no -object memory-backend-file,id=x,... was given");
  EXPECT_EQ(error_of({"-object", obj}),
            "-object " + obj + ": a memory backend is used only as guest RAM: add -machine q35,memory-backend=r");
  EXPECT_EQ(error_of({"-machine", "q35,memory-backend=r", "-object", "memory-backend-file,id=r,size=1G,mem-path=/d"}),
            "-machine q35,memory-backend=r: the size of -object memory-backend-file,id=r,size=1G,mem-path=/d (1024 MiB) "
            "differs from -m (256 MiB): give the same size");
  EXPECT_THAT(error_of({"-machine", "q35,memory-backend=r", "-object", obj, "-mem-prealloc"}),
              ::testing::HasSubstr("cannot be combined with memory-backend="));
  EXPECT_THAT(error_of({"-object", "memory-backend-file,id=r,size=256M,mem-path=/d,host-nodes=0"}),
              ::testing::HasSubstr("unsupported key 'host-nodes' (accepted: id, size, mem-path, prealloc, share)"));
  EXPECT_THAT(error_of({"-object", "memory-backend-file,id=r,size=256M"}), ::testing::HasSubstr("mem-path=DIR is required"));
  EXPECT_THAT(error_of({"-object", "memory-backend-file,id=r,mem-path=/d"}), ::testing::HasSubstr("size=SIZE is required"));
  EXPECT_THAT(error_of({"-object", "memory-backend-ram,id=r,size=256M"}),
              ::testing::HasSubstr("'memory-backend-ram' is not supported"));
  EXPECT_THAT(error_of({"-object", obj + ",prealloc=maybe"}), ::testing::HasSubstr("prealloc=maybe must be on or off"));
  EXPECT_THAT(error_of({"-machine", "q35,memory-backend=r", "-object", obj, "-object", obj}),
              ::testing::HasSubstr("id=r is already used"));
  EXPECT_THAT(error_of({"-mem-path"}), ::testing::HasSubstr("-mem-path needs a value"));
  EXPECT_THAT(error_of({"-machine", "q35,nvdimm=on"}), ::testing::HasSubstr("accepted: accel=kvm, memory-backend=ID"));
}

TEST(Options, SandboxIsOnUnlessAsked) {
  EXPECT_EQ(sandbox::Mode::on, parse({})->sandbox);
  EXPECT_EQ(sandbox::Mode::off, parse({"-sandbox", "off"})->sandbox);
  EXPECT_EQ(sandbox::Mode::log, parse({"-sandbox", "log"})->sandbox);
  EXPECT_EQ("-sandbox yes: expected on, off or log", error_of({"-sandbox", "yes"}));
}

TEST(Device, BootIndexOnBootableKindsOnly) {
  auto r = with_fake_kind();
  DeviceKind disk{"a bootable test kind", {"drive"}, nullptr};
  disk.boot_suffix = "/disk@0,0";
  r.add("fake-disk", disk);
  auto o = parse({"-device", "fake-disk,drive=a,bootindex=2", "-device", "fake-disk,drive=b,bootindex=0",
                  "-device", "fake-disk,drive=c"}, r);
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->devices[0].bootindex, 2u);
  EXPECT_EQ(o->devices[1].bootindex, 0u);
  EXPECT_FALSE(o->devices[2].bootindex);
  EXPECT_NE(error_of({"-device", "fake-pci,host=a,bootindex=1"}, r)
                .find("-device fake-pci,host=a,bootindex=1: a fake-pci is not a boot device"),
            std::string::npos);
  EXPECT_NE(error_of({"-device", "fake-disk,drive=a,bootindex=x"}, r).find("bootindex=x: expected a number 0..65535"),
            std::string::npos);
  EXPECT_NE(error_of({"-device", "fake-disk,drive=a,bootindex=1", "-device", "fake-disk,drive=b,bootindex=1"}, r)
                .find("-device fake-disk,drive=b,bootindex=1: bootindex=1 is already given to -device fake-disk,drive=a,bootindex=1"),
            std::string::npos);
  // The accepted keys a bootable kind lists include bootindex.
  EXPECT_NE(error_of({"-device", "fake-disk,nope=1"}, r).find("bootindex, drive"), std::string::npos);
}

TEST(Options, DebugConIsTheFirmwares) {
  auto o = parse_options({"-m", "256M", "-drive", "if=pflash,file=/c,readonly=on", "-debugcon", "file:/tmp/fw.log"},
                         DeviceRegistry());
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->debugcon, "file:/tmp/fw.log");
  EXPECT_NE(error_of({"-debugcon", "log"}).find("-debugcon log: the debug console (port 0x402) is the UEFI firmware's"),
            std::string::npos);
  EXPECT_NE(error_of({"-drive", "if=pflash,file=/c", "-debugcon", "stdio"}).find("-debugcon stdio: expected log"),
            std::string::npos);
}
