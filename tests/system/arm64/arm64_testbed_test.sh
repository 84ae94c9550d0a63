#!/usr/bin/env bash
# The arm64 testbed (testbed/testbed --arch arm64): the test host is an aarch64 Linux whose KVM runs in
# VHE mode, whose PCIe devices sit behind an SMMUv3, each in its own IOMMU group (UEFI+ACPI enables
# ACS on the root ports), and hostlib.sh's helpers work there unchanged with the arm64 user space:
# the DHCP server on the e1000e's link partner gives the e1000e a lease, the e1000e binds to vfio-pci,
# and an NVMe SR-IOV VF is created (nvme-cli's virtualization management) and bound to vfio-pci in a
# group of its own, not its PF's. Then altovirt itself (the arm64 build, ./run build-arm64) in that
# test host: the seed scenario on arm64 (the e1000e gets a DHCP lease over MSI-X through the GICv3
# ITS, the NVMe VF reads the pattern the test host wrote and writes one the test host reads back,
# DMA through the SMMUv3), the e1000e on INTx through the GIC, QMP system_powerdown reaching the
# guest as its power key (the PL061's gpio-keys line), an x86 kernel refused with what it is, and
# altoctl with StratoVirt's aarch64 domain XML (host-validate first).
. "$(dirname "$0")/../lib.sh"
ALTOVIRT=${ALTOVIRT_ARM64_BUILD:-}/tools/altovirt/altovirt ALTOCTL=${ALTOVIRT_ARM64_BUILD:-}/tools/altoctl/altoctl
export ALTOVIRT_STATE_DIR=/run/altovirt ALTOVIRT_CONFIG_DIR=/tmp/altovirt-domains
A64_INITRD=$ALTOVIRT_BUILD/testbed/arm64-guest-initrd.gz

# group BDF: the IOMMU group number of BDF (empty when it has none).
group() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group" 2>/dev/null)" 2>/dev/null; }
# expect_own_vfio_group WHAT BDF: BDF is on vfio-pci, alone in its IOMMU group (so the group is viable:
# every device in it is bound to vfio-pci), the group translates DMA (not identity-mapped) through
# the SMMUv3, and its /dev/vfio node opens.
expect_own_vfio_group() {
  local what=$1 bdf=$2 g
  expect_eq "$what bound to vfio-pci" vfio-pci "$(current_driver "$bdf")"
  g=$(group "$bdf")
  [ -n "$g" ] || fail "$what ($bdf) has no IOMMU group"
  expect_eq "$what alone in IOMMU group $g" "$bdf" "$(ls "/sys/kernel/iommu_groups/$g/devices" | tr '\n' ' ' | sed 's/ $//')"
  expect_eq "$what's group $g translates DMA" DMA "$(cat "/sys/kernel/iommu_groups/$g/type")"
  expect_contains "$what behind the SMMUv3" smmu3 "$(readlink "/sys/bus/pci/devices/$bdf/iommu")"
  [ -c "/dev/vfio/$g" ] || fail "/dev/vfio/$g does not exist"
  exec 9<>"/dev/vfio/$g" || fail "cannot open /dev/vfio/$g"
  exec 9>&-
  pass "/dev/vfio/$g opens"
}

step "the test host is arm64"
expect_eq "test host architecture" aarch64 "$(uname -m)"
expect_contains "test host kernel" -arm64 "$(uname -r)"
expect_eq "the test host's bash is arm64" aarch64 "$(bash -c 'echo $MACHTYPE' | cut -d- -f1)"

step "KVM in VHE mode"
log=$(dmesg)
expect_contains "CPUs started at EL2" "All CPU(s) started at EL2" "$log"
expect_contains "KVM in VHE mode" "kvm [1]: VHE mode initialized successfully" "$log"
[ -c /dev/kvm ] || fail "/dev/kvm does not exist"
exec 9<>/dev/kvm || fail "cannot open /dev/kvm"
exec 9>&-
pass "/dev/kvm opens"

step "SMMUv3"
expect_contains "SMMUv3 probed" "arm-smmu-v3" "$(echo "$log" | grep -m1 'ias .*oas')"
groups=$(ls /sys/kernel/iommu_groups | wc -l)
[ "$groups" -ge 6 ] || fail "only $groups IOMMU groups (expected one per device)"
pass "$groups IOMMU groups"
expect_eq "e1000e at $TB_NIC" "0x8086 0x10d3" "$(cat /sys/bus/pci/devices/$TB_NIC/vendor /sys/bus/pci/devices/$TB_NIC/device | tr '\n' ' ' | sed 's/ $//')"
expect_eq "NVMe PF at $TB_NVME" "0x1b36 0x0010" "$(cat /sys/bus/pci/devices/$TB_NVME/vendor /sys/bus/pci/devices/$TB_NVME/device | tr '\n' ' ' | sed 's/ $//')"
expect_eq "virtio-net link partner at $TB_PARTNER" "0x1af4" "$(cat /sys/bus/pci/devices/$TB_PARTNER/vendor)"

step "DHCP server on the link partner, lease on the e1000e"
wait_for 20 test -n "$(tb_netdev $TB_NIC)" || fail "the e1000e ($TB_NIC) has no network interface (driver: $(current_driver $TB_NIC))"
nic=$(tb_netdev $TB_NIC)
run_ok "tb_dhcp_server" tb_dhcp_server
pgrep -f 'udhcpd.*/tmp/udhcpd.conf' >/dev/null || fail "udhcpd is not running"
pass "udhcpd runs"
ip link set "$nic" up
wait_for 20 grep -qx 1 "/sys/class/net/$nic/carrier" || fail "$nic has no link"
pass "$nic link up"
lease=$(busybox udhcpc -i "$nic" -n -q -f -t 10 -T 1 -s /bin/true 2>&1) || fail "no DHCP lease on $nic: $lease"
expect_contains "DHCP lease over the e1000e" "lease of $TB_NET_PREFIX.1" "$lease"
ip link set "$nic" down

step "host-validate on arm64: the SMMUv3 and the ITS"
[ -x "$ALTOCTL" ] || fail "no arm64 altoctl at '$ALTOCTL' (./run build-arm64 builds it in build-arm64/)"
out=$("$ALTOCTL" host-validate 2>&1); rc=$?
echo "$out"
expect_eq "host-validate: exit status" 0 "$rc"
expect_contains "the SMMUv3 is the IOMMU" "SMMUv3 smmu3." "$out"
expect_contains "MSIs are isolated by the GICv3 ITS" "ITS-MSI domains in /proc/interrupts" "$out"

step "e1000e to vfio-pci"
tb_bind_vfio "$TB_NIC"
expect_own_vfio_group "e1000e" "$TB_NIC"

step "NVMe SR-IOV VF to vfio-pci"
expect_eq "NVMe PF driver" nvme "$(current_driver $TB_NVME)"
ns=/dev/$(ls /sys/bus/pci/devices/$TB_NVME/nvme)n1
wait_for 20 test -b "$ns" || fail "no namespace block device $ns on the PF"
printf 'altovirt-a64-pattern-1' | dd of="$ns" bs=512 conv=sync,fsync oflag=direct 2>/dev/null || fail "writing the pattern to $ns"
expect_eq "NVMe sriov_totalvfs" 4 "$(cat /sys/bus/pci/devices/$TB_NVME/sriov_totalvfs)"
out=$(tb_nvme_vfs 1 2>&1) || fail "tb_nvme_vfs 1 failed: $out"
vf=$(tb_nvme_vf 1)
[ -n "$vf" ] && [ -e "/sys/bus/pci/devices/$vf" ] || fail "no VF 1 on $TB_NVME"
pass "VF 1 is $vf"
tb_bind_vfio "$vf"
expect_own_vfio_group "NVMe VF" "$vf"
[ "$(group "$vf")" != "$(group $TB_NVME)" ] || fail "the VF shares its PF's IOMMU group $(group $TB_NVME)"
pass "VF group $(group "$vf") is not the PF's ($(group $TB_NVME))"

[ -x "$ALTOVIRT" ] || fail "no arm64 altovirt at '$ALTOVIRT' (ALTOVIRT_ARM64_BUILD: ./run build-arm64 builds it in build-arm64/)"
[ -s "$A64_INITRD" ] || fail "no arm64 guest initramfs at $A64_INITRD (testbed/guest/build FILE --arch arm64)"
KERNEL=$(tb_kernel)
# a64 NAME STEPS APPEND-EXTRA ALTOVIRT-ARGS...: an arm64 VM on the test host's own kernel.
a64() {
  local name=$1 steps=$2 extra=$3; shift 3
  timeout 300 "$ALTOVIRT" -m 256M -smp 2 -kernel "$KERNEL" -initrd "$A64_INITRD" \
    -append "console=ttyAMA0 panic=-1 quiet guest.steps=$steps $extra" -serial "file:/tmp/$name.out" -D "/tmp/$name.log" \
    "$@" < /dev/null > "/tmp/$name.err" 2>&1
}

step "altovirt on arm64: the seed scenario (the e1000e and an NVMe VF passed through)"
start=$SECONDS
a64 seed info,dhcp,nvme-read,nvme-write "guest.pattern=altovirt-a64-pattern-1 guest.newpattern=altovirt-a64-pattern-2" \
  -device vfio-pci,host="$TB_NIC" -device vfio-pci,host="$vf"; rc=$?
grep -a GUEST- /tmp/seed.out
echo "# altovirt start to the guest's power-off: $((SECONDS - start)) s"
expect_eq "seed: exit status ($(tail -n 3 /tmp/seed.err))" 0 "$rc"
expect_contains "the arm64 virt board with an ITS" "arm64 virt board, GICv3 with ITS" "$(cat /tmp/seed.log)"
expect_contains "the guest runs 2 vCPUs (PSCI CPU_ON)" "GUEST-CPUS 2" "$(cat /tmp/seed.out)"
expect_contains "e1000e driver bound in the guest" "0x8086:0x10d3 class=0x020000 driver=e1000e" "$(cat /tmp/seed.out)"
expect_contains "DHCP lease over the passed e1000e" "GUEST-LEASE" "$(cat /tmp/seed.out)"
expect_contains "the e1000e's interrupts are MSI-X (through the ITS)" "vfio-pci $TB_NIC: the guest enabled MSI-X" "$(cat /tmp/seed.log)"
expect_contains "the guest read the test host's pattern through the VF" "GUEST-NVME-READ altovirt-a64-pattern-1" "$(cat /tmp/seed.out)"
got=$(dd if="$ns" bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0')
expect_eq "the test host reads the guest's pattern from the namespace" altovirt-a64-pattern-2 "$got"
expect_contains "the guest powered off (PSCI SYSTEM_OFF)" "the guest powered off" "$(cat /tmp/seed.log)"

step "INTx through the GIC (the guest without MSIs: pci=nomsi)"
a64 intx info,dhcp,ping "pci=nomsi" -device vfio-pci,host="$TB_NIC"; rc=$?
grep -a -e GUEST-LEASE -e GUEST-PING -e GUEST-FAIL /tmp/intx.out
expect_eq "intx: exit status ($(tail -n 3 /tmp/intx.err))" 0 "$rc"
expect_contains "DHCP lease over the e1000e's INTx" "GUEST-LEASE" "$(cat /tmp/intx.out)"
expect_contains "pings over it" "GUEST-PING" "$(cat /tmp/intx.out)"
expect_contains "no MSI-X vector was used" "MSI-X table 0/0" "$(cat /tmp/intx.log)"

step "QMP system_powerdown is the guest's power key"
sock=/tmp/pk.qmp
a64 pk info,powerbutton "" -qmp "unix:$sock,server,nowait" &
vm=$!
. "$(dirname "$0")/../qmp_client.sh"
wait_for 100 grep -aq GUEST-WAIT-POWERBUTTON /tmp/pk.out || { tail -n 20 /tmp/pk.out; fail "the guest did not wait for its power key"; }
open_client
qmp '{"execute":"qmp_capabilities"}'
qmp '{"execute":"system_powerdown"}'
expect_contains "system_powerdown: reply" '"return"' "$reply"
close_client
wait_pid 60 "$vm" "altovirt (power key)" || fail "altovirt did not end after system_powerdown"
wait "$vm"; rc=$?
expect_eq "power key: exit status" 0 "$rc"
expect_contains "the guest saw its power key (gpio-keys)" "GUEST-POWERBUTTON" "$(cat /tmp/pk.out)"

step "bad input"
head -c 2048 /dev/zero > /tmp/bzImage && printf 'HdrS' | dd of=/tmp/bzImage bs=1 seek=514 conv=notrunc 2>/dev/null
out=$("$ALTOVIRT" -m 256M -kernel /tmp/bzImage 2>&1); rc=$?
expect_eq "an x86 kernel: exit status" 1 "$rc"
expect_contains "an x86 kernel: says what it is" "not an arm64 Linux Image (no 'ARM\\x64' magic at byte 56); it is an x86 bzImage" "$out"

step "UEFI firmware (AAVMF) on the virt board: the kernel through fw_cfg, an EFI variable kept in flash"
# Debian's AAVMF_CODE.fd and a copy of AAVMF_VARS.fd (testbed/arm64-assets copies them from
# qemu-efi-aarch64), on the test host's tmpfs: the firmware boots the kernel altovirt hands it over
# fw_cfg, the guest runs under UEFI and writes a non-volatile variable (VirtNorFlashDxe programs
# the flash); a second VM on the same store reads it back, reboots (PSCI SYSTEM_RESET: the machine
# is rebuilt and the firmware runs again) and reads it again.
efi_dir=$ALTOVIRT_BUILD/testbed/arm64/$(uname -r)/efi
[ -s "$efi_dir/AAVMF_CODE.fd" ] && [ -s "$efi_dir/AAVMF_VARS.fd" ] || fail "no AAVMF_CODE.fd or AAVMF_VARS.fd in $efi_dir (testbed/arm64-assets)"
cp "$efi_dir/AAVMF_CODE.fd" /tmp/AAVMF_CODE.fd
cp "$efi_dir/AAVMF_VARS.fd" /tmp/AAVMF_VARS.fd
cp /tmp/AAVMF_VARS.fd /tmp/a64_VARS.fd
efi_drives=(-drive if=pflash,format=raw,unit=0,file=/tmp/AAVMF_CODE.fd,readonly=on -drive if=pflash,format=raw,unit=1,file=/tmp/a64_VARS.fd)
out=$("$ALTOVIRT" -m 256M -drive if=pflash,format=raw,unit=0,file=/tmp/AAVMF_CODE.fd,readonly=on 2>&1); rc=$?
expect_eq "AAVMF without its variable store: exit status" 1 "$rc"
expect_contains "AAVMF without its variable store: says what to add" "AAVMF needs its variable store too" "$out"
start=$SECONDS
a64 efi1 efi,info,efivar-write "guest.newpattern=a64-efi-var-1" "${efi_drives[@]}"; rc=$?
grep -a GUEST- /tmp/efi1.out
echo "# altovirt start through AAVMF to the guest's power-off: $((SECONDS - start)) s"
expect_eq "through AAVMF: exit status ($(tail -n 3 /tmp/efi1.err))" 0 "$rc"
expect_contains "the board booted firmware" "arm64 virt board, GICv3 with ITS, UEFI firmware" "$(cat /tmp/efi1.log)"
expect_contains "the guest booted under UEFI" "GUEST-EFI yes 64-bit" "$(cat /tmp/efi1.out)"
expect_contains "the guest wrote an EFI variable" "GUEST-EFIVAR-WRITTEN a64-efi-var-1" "$(cat /tmp/efi1.out)"
expect_contains "the guest powered off" "the guest powered off" "$(cat /tmp/efi1.log)"
a64 efi2 efivar-read,reboot "" "${efi_drives[@]}" &
vm=$!
wait_for 300 sh -c '[ "$(grep -ac "GUEST-EFIVAR a64-efi-var-1" /tmp/efi2.out)" -ge 2 ]' ||
  { tail -n 30 /tmp/efi2.out; tail -n 30 /tmp/efi2.log; pkill -f "serial file:/tmp/[e]fi2.out"; fail "the second VM did not read the variable in two boots"; }
# $vm is the subshell running a64; timeout passes the TERM on to altovirt.
pkill -TERM -f "serial file:/tmp/[e]fi2.out" 2>/dev/null
wait_pid 60 "$vm" "altovirt (efi2)"
wait_for 30 sh -c '! pgrep -f "serial file:/tmp/[e]fi2.out" >/dev/null' || fail "the second VM's altovirt did not end on SIGTERM"
pass "a second VM read the variable back from the store, before and after a reboot through the firmware"

step "UEFI firmware boots a disk's own boot loader (systemd-boot on the disk's ESP, no -kernel)"
# testbed/guest/esp-disk: a GPT disk, its ESP holding systemd-boot as \EFI\BOOT\BOOTAA64.EFI, the
# kernel and the guest's initramfs; AAVMF finds it on the virtio-blk disk and boots it.
cp "$ALTOVIRT_BUILD/testbed/arm64-esp-disk.img" /tmp/esp-disk.img || fail "no arm64-esp-disk.img (testbed/guest/esp-disk)"
cp /tmp/AAVMF_VARS.fd /tmp/esp_VARS.fd
start=$SECONDS
timeout 300 "$ALTOVIRT" -m 256M -smp 2 -serial file:/tmp/esp.out -D /tmp/esp.log \
  -drive if=pflash,format=raw,unit=0,file=/tmp/AAVMF_CODE.fd,readonly=on -drive if=pflash,format=raw,unit=1,file=/tmp/esp_VARS.fd \
  -drive file=/tmp/esp-disk.img,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0 < /dev/null > /tmp/esp.err 2>&1; rc=$?
grep -a GUEST- /tmp/esp.out
echo "# altovirt start through AAVMF and systemd-boot to the guest's power-off: $((SECONDS - start)) s"
expect_eq "disk boot: exit status ($(tail -n 3 /tmp/esp.err))" 0 "$rc"
expect_contains "the guest came from the disk's boot loader, under UEFI" "GUEST-EFI yes 64-bit" "$(cat /tmp/esp.out)"
expect_contains "the guest powered off" "the guest powered off" "$(cat /tmp/esp.log)"
rm -f /tmp/esp-disk.img /tmp/esp_VARS.fd

step "altoctl on arm64: StratoVirt's aarch64 domain XML, edited, with the e1000e and the NVMe VF as managed hostdevs"
tb_unbind_vfio "$TB_NIC"  # back to e1000e, as a host has it before altoctl detaches it
wait_for 30 driver_is "$TB_NIC" e1000e || fail "the e1000e did not go back to e1000e (on $(current_driver "$TB_NIC"))"
printf 'altovirt-a64-pattern-3' | dd of="$ns" bs=512 conv=sync,fsync oflag=direct 2>/dev/null || fail "writing the pattern to $ns"
[ -x "$ALTOCTL" ] || fail "no arm64 altoctl at '$ALTOCTL' (./run build-arm64 builds it in build-arm64/)"
[ -s "$ALTOVIRT_BUILD/testbed/arm64-guest-initrd.gz" ] || fail "no arm64 guest initramfs (testbed/guest/build FILE --arch arm64)"
modprobe tun; modprobe vhost_net; modprobe vhost_vsock
run_ok "160 free 2 MiB hugepages on /dev/hugepages" tb_hugepages 160
run_ok "bridge qbr0 (the one StratoVirt's XML names) with a DHCP server" tb_bridge_dhcp qbr0 10.0.79
truncate -s 64M /tmp/rootfs.img
# The user's edits, as for the x86 file (tb_stratovirt_xml): the paths (the <loader> to AAVMF_CODE.fd;
# the file has no <nvram>: altoctl takes the store's template from the firmware's descriptor, which
# Debian's qemu-efi-aarch64 installs in /usr/share/qemu/firmware and this test host's read-only /usr
# and /etc lack: it gets one in $XDG_CONFIG_HOME/qemu/firmware, the user's place), the size, the
# hostdev's address; the guest's steps on its command line and a
# file <serial> for the test to read the guest's console. The firmware boots the <kernel> over fw_cfg
# after enumerating PCI itself (root ports, the virtio devices, the passed-through e1000e and VF).
export XDG_CONFIG_HOME=/tmp/xdg
mkdir -p "$XDG_CONFIG_HOME/qemu/firmware"
cat > "$XDG_CONFIG_HOME/qemu/firmware/60-edk2-aarch64.json" <<DESC
{"description": "UEFI firmware for aarch64 (this test's copy)", "interface-types": ["uefi"],
 "mapping": {"device": "flash", "executable": {"filename": "/tmp/AAVMF_CODE.fd", "format": "raw"},
             "nvram-template": {"filename": "/tmp/AAVMF_VARS.fd", "format": "raw"}},
 "targets": [{"architecture": "aarch64", "machines": ["virt-*"]}], "features": [], "tags": []}
DESC
export ALTOVIRT_NVRAM_DIR=/tmp/nvram  # the test host's /var is not writable
rm -f /tmp/nvram/a64_VARS.fd
IFS=':.' read -r d b s f <<<"$vf"
vf_hostdev="<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x$d' bus='0x$b' slot='0x$s' function='0x$f'/></source></hostdev>"
IFS=':.' read -r d b s f <<<"$TB_NIC"
sed -e "s|<name>StratoVirt</name>|<name>a64</name>|" \
    -e "s|<memory unit='GiB'>8</memory>|<memory unit='MiB'>256</memory>|" \
    -e "s|<page size='1' unit='GiB' />|<page size='2' unit='MiB' />|" \
    -e "s|<vcpu>4</vcpu>|<vcpu>2</vcpu>|" \
    -e "s|<kernel>/path/to/standard_vm_kernel</kernel>|<kernel>$(tb_kernel)</kernel><initrd>$ALTOVIRT_BUILD/testbed/arm64-guest-initrd.gz</initrd>|" \
    -e "s|<cmdline>.*</cmdline>|<cmdline>console=ttyAMA0 panic=-1 quiet guest.steps=info,efi,dhcp,ping,nvme-read,nvme-write,powerbutton guest.pattern=altovirt-a64-pattern-3 guest.newpattern=altovirt-a64-pattern-4</cmdline>|" \
    -e "s|/path/to/pflash|/tmp/AAVMF_CODE.fd|" \
    -e "s|/path/to/rootfs|/tmp/rootfs.img|" \
    -e "s|/path/to/random_file|/dev/urandom|" \
    -e "s|/path/to/StratoVirt_binary_file|$ALTOVIRT_ARM64_BUILD/tools/altovirt/altovirt|" \
    -e "s|<address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>|<address domain='0x$d' bus='0x$b' slot='0x$s' function='0x$f'/>|" \
    -e "s|</devices>|$vf_hostdev<serial type='file'><source path='/tmp/a64-console.out'/></serial></devices>|" \
    "$ALTOVIRT_SRC/tests/data/stratovirt_aarch64.xml" > /tmp/a64.xml
diff "$ALTOVIRT_SRC/tests/data/stratovirt_aarch64.xml" /tmp/a64.xml
! grep -q /path/to /tmp/a64.xml || fail "a placeholder path is left: $(cat /tmp/a64.xml)"
expect_eq "the e1000e starts on its host driver" e1000e "$(current_driver "$TB_NIC")"
out=$("$ALTOCTL" create /tmp/a64.xml 2>&1)
expect_eq "create a64: exit status (output: $out)" 0 "$?"
expect_eq "the managed e1000e is on vfio-pci" vfio-pci "$(current_driver "$TB_NIC")"
expect_eq "the variable store made from the descriptor's template (size)" "$(stat -c %s /tmp/AAVMF_VARS.fd)" "$(stat -c %s /tmp/nvram/a64_VARS.fd 2>&1)"
wait_for 300 grep -aq GUEST-WAIT-POWERBUTTON /tmp/a64-console.out ||
  { tail -n 30 /tmp/a64-console.out; tail -n 30 /run/altovirt/vms/a64/vmm/altovirt.log; fail "the guest did not come up to wait for its power key"; }
grep -a GUEST- /tmp/a64-console.out
expect_contains "every StratoVirt device is in the guest (virtio net, block, console, rng, balloon, vsock, gpu)" \
  "-device vhost-vsock-pci" "$(cat /run/altovirt/vms/a64/supervisor.log)"
expect_contains "the guest booted through UEFI" "arm64 virt board, GICv3 with ITS, UEFI firmware" "$(cat /run/altovirt/vms/a64/vmm/altovirt.log)"
expect_contains "the guest runs under UEFI" "GUEST-EFI yes 64-bit" "$(cat /tmp/a64-console.out)"
expect_contains "the e1000e behind a root port, on its driver in the guest" "0x8086:0x10d3 class=0x020000 driver=e1000e parent=0000:00" "$(cat /tmp/a64-console.out)"
expect_contains "DHCP lease over the managed e1000e" "GUEST-LEASE" "$(cat /tmp/a64-console.out)"
expect_contains "the guest pings the test host over it" "GUEST-PING" "$(cat /tmp/a64-console.out)"
expect_contains "the guest read the test host's pattern through the managed VF" "GUEST-NVME-READ altovirt-a64-pattern-3" "$(cat /tmp/a64-console.out)"
out=$("$ALTOCTL" shutdown a64 2>&1)
expect_eq "shutdown a64: exit status (output: $out)" 0 "$?"
wait_for 150 sh -c "\"$ALTOCTL\" list --all | grep -q 'a64 *shut off'" || fail "a64 did not shut off: $("$ALTOCTL" list --all 2>&1)"
expect_contains "the guest powered off on its power key (gpio-keys)" "GUEST-POWERBUTTON" "$(cat /tmp/a64-console.out)"
expect_contains "altovirt ended as the guest powered off" "the guest powered off" "$(cat /run/altovirt/vms/a64/vmm/altovirt.log)"
wait_for 50 driver_is "$TB_NIC" e1000e || fail "the e1000e is on $(current_driver "$TB_NIC") after shutdown, not e1000e"
pass "the e1000e is back on its host driver"
got=$(dd if="$ns" bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0')
expect_eq "the test host reads the guest's pattern from the namespace" altovirt-a64-pattern-4 "$got"
out=$("$ALTOCTL" define "$ALTOVIRT_SRC/tests/data/stratovirt_x86.xml" 2>&1); rc=$?
expect_eq "an x86_64 domain on this aarch64 host: exit status" 1 "$rc"
expect_contains "an x86_64 domain on this aarch64 host: says why" "arch='x86_64': this host runs aarch64 guests" "$out"
"$ALTOCTL" undefine a64 >/dev/null 2>&1
finish
