#!/usr/bin/env bash
# The seed, literally: a Debian 12 guest (testbed/debian-image) in StratoVirt's layout, through altoctl,
# inside the test host (real kernel, IOMMU, nested KVM):
#  - seven pcie-root-ports; the image as a virtio-blk root disk (root=/dev/vda) on an I/O thread;
#    the virtio console (console=hvc0); the e1000e as a managed <hostdev> behind a root port;
#  - `altoctl create`, systemd reaches multi-user, a root login over `altoctl console`, `ip a`,
#    `dhclient` on the passed-through NIC and `ip a` showing the lease from the test host's pool;
#    `altoctl shutdown` powers it off cleanly (ACPI) and the NIC is back on e1000e;
#  - data integrity, in a second boot with a read-only second disk: fio writes and verifies 256 MiB
#    (crc32c); writing the read-only disk fails with an I/O error and leaves its image unchanged; a
#    file written and fsync'ed survives kill -9 of altovirt right after the fsync returns (the image
#    checked here with e2fsck after journal recovery, and the file's checksum).
# The test host sees the build tree read-only, so the image is copied to its tmpfs (/tmp); tmpfs has
# no O_DIRECT, so the disk is cache='writeback' where StratoVirt's example has no cache mode at all.
. "$(dirname "$0")/../lib.sh"

modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
[ -c /dev/kvm ] || fail "no /dev/kvm in the test host"
ALTOCTL=$ALTOVIRT_BUILD/tools/altoctl/altoctl
[ -x "$ALTOCTL" ] || fail "$ALTOCTL is not built"
IMG_DIR=$ALTOVIRT_BUILD/testbed/debian
for f in disk.img vmlinuz initrd.img; do
  [ -s "$IMG_DIR/$f" ] || fail "$IMG_DIR/$f is missing: the ctest fixture system.debian_image builds it (testbed/debian-image)"
done
export ALTOVIRT_STATE_DIR=/run/altovirt ALTOVIRT_CONFIG_DIR=/tmp/altovirt-domains
DISK=/tmp/debian.img RODISK=/tmp/ro.img

t0=$(date +%s)
cp --sparse=always "$IMG_DIR/disk.img" "$DISK" || fail "copying the image to the test host's /tmp"
pass "image copied to $DISK in $(($(date +%s) - t0)) s ($(du -h "$DISK" | cut -f1) allocated)"
truncate -s 64M "$RODISK" && mke2fs -q -t ext4 -F "$RODISK" || fail "making the read-only disk's image"
ro_sum=$(sha256sum <"$RODISK")

# debian_xml NAME EXTRA_DISKS: StratoVirt's x86 example with the paths and the hostdev edited.
debian_xml() {
  local d b s f
  IFS=':.' read -r d b s f <<<"$NIC_BDF"
  cat <<XML
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <iothreads>1</iothreads>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$IMG_DIR/vmlinuz</kernel>
    <initrd>$IMG_DIR/initrd.img</initrd>
    <cmdline>console=hvc0 root=/dev/vda reboot=k panic=1 rw</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'/>
    <controller type='pci' index='2' model='pcie-root-port'/>
    <controller type='pci' index='3' model='pcie-root-port'/>
    <controller type='pci' index='4' model='pcie-root-port'/>
    <controller type='pci' index='5' model='pcie-root-port'/>
    <controller type='pci' index='6' model='pcie-root-port'/>
    <controller type='pci' index='7' model='pcie-root-port'/>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' iothread='1' cache='writeback' io='io_uring'/>
      <source file='$DISK'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
    $2
    <controller type='virtio-serial' index='0'>
      <alias name='virt-serial0'/>
      <address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>
    </controller>
    <console type='pty'>
      <target type='virtio' port='0'/>
      <alias name='console0'/>
    </console>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source><address domain='0x$d' bus='0x$b' slot='0x$s' function='0x$f'/></source>
    </hostdev>
  </devices>
</domain>
XML
}

# The console session: altoctl console reads a FIFO (what we type) and writes a log (what we see).
CON_OUT=/tmp/console.out CON_IN=/tmp/console.in
con_open() {
  rm -f "$CON_OUT" "$CON_IN" /tmp/console.done
  mkfifo "$CON_IN"
  ( "$ALTOCTL" console "$1" <"$CON_IN" >"$CON_OUT" 2>&1; echo $? >/tmp/console.done ) &
  exec 7>"$CON_IN"
}
con_close() { exec 7>&-; }
con_type() { printf '%s\r' "$1" >&7; }
# con_wait SECONDS TEXT: until the console shows TEXT (after the last con_mark).
con_mark() { mark=$(stat -c %s "$CON_OUT" 2>/dev/null || echo 0); }
con_seen() { tail -c +"$((mark + 1))" "$CON_OUT" | tr -d '\r' | grep -q -- "$1"; }
con_wait() { wait_for "$1" con_seen "$2"; }
# con_run SECONDS CMD: types CMD, waits for its status line; prints its output; returns its status.
con_run() {
  con_mark
  con_type "$2; echo RC-\$((1000+\$?))-END"
  con_wait "$1" 'RC-1[0-9]*-END' || { tail -c 3000 "$CON_OUT"; return 99; }
  local out
  out=$(tail -c +"$((mark + 1))" "$CON_OUT" | tr -d '\r')
  echo "$out"
  local rc
  rc=$(echo "$out" | sed -n 's/.*RC-1\([0-9]*\)-END.*/\1/p' | tail -n1)
  return $((10#$rc))
}

run_ok "DHCP server on the NIC's link partner" tb_dhcp_server

# --- the seed: boot, login, ip a, dhclient, shutdown --------------------------------------------
debian_xml debian "" >/tmp/debian.xml
start=$(date +%s.%N)
out=$("$ALTOCTL" create /tmp/debian.xml 2>&1)
expect_eq "create debian: exit status (output: $out)" 0 "$?"
expect_eq "the e1000e is on vfio-pci" vfio-pci "$(current_driver $NIC_BDF)"
con_open debian
mark=0
con_wait 900 "login: " || { tail -c 4000 "$CON_OUT"; fail "no login prompt on hvc0 within 900 s"; }
login_s=$(echo "$(date +%s.%N) - $start" | bc)
pass "login prompt on the virtio console (hvc0) $(printf '%.1f' "$login_s") s after create"
con_mark
con_type root
con_wait 120 "root@debian:~# " || { tail -c 2000 "$CON_OUT"; fail "root login did not give a shell"; }
pass "root logged in over altoctl console"
out=$(con_run 300 'systemctl is-system-running --wait')
expect_contains "systemd reached multi-user (is-system-running)" "running" "$out"
out=$(con_run 60 'readlink /sys/class/block/vda/device/driver; cat /proc/cmdline; ip a')
expect_contains "root disk vda is virtio-blk" "virtio_blk" "$out"
expect_contains "ip a lists interfaces" "link/ether" "$out"
# udev loads e1000e from the root file system after multi-user may already be reached, and the
# driver's probe (NVM checks, reset) takes seconds in the nested test host: wait for it.
nic=$(con_run 120 'for n in $(seq 90); do for i in /sys/class/net/*; do [ "$(basename $(readlink $i/device/driver 2>/dev/null) 2>/dev/null)" = e1000e ] && echo NIC=${i##*/}; done | grep -q . && break; sleep 1; done; for i in /sys/class/net/*; do [ "$(basename $(readlink $i/device/driver 2>/dev/null) 2>/dev/null)" = e1000e ] && echo NIC=${i##*/}; done' |
      sed -n 's/^NIC=//p' | head -n1)
[ -n "$nic" ] || { con_run 60 'grep -H . /sys/bus/pci/devices/*/uevent | grep -e DRIVER -e PCI_ID; dmesg | grep -i -e e1000e -e pcieport | tail -20'; fail "the guest has no interface on the e1000e"; }
pass "the passed-through e1000e is guest interface $nic"
out=$(con_run 180 "dhclient -v $nic")
expect_eq "dhclient $nic: exit status (output: $out)" 0 "$?"
out=$(con_run 60 "ip a show $nic")
expect_contains "ip a shows the lease from the test host's pool" "inet $TB_NET_PREFIX.1" "$out"
con_close
out=$("$ALTOCTL" shutdown --timeout 600 debian 2>&1)
expect_eq "shutdown debian: exit status (output: $out)" 0 "$?"
expect_contains "shutdown debian: shut off" "Domain 'debian' is shut off" "$out"
expect_contains "the guest powered off through systemd" "reboot: Power down" "$(tr -d '\r' <"$CON_OUT")"
expect_eq "after shutdown: e1000e back on e1000e" e1000e "$(current_driver $NIC_BDF)"
wait_for 20 sh -c "ls /sys/bus/pci/devices/$NIC_BDF/net | grep -q ." || fail "no network interface on the e1000e after shutdown"
pass "after shutdown: the e1000e has its interface again"
e2fsck -fn "$DISK" >/tmp/e2fsck.out 2>&1 || { cat /tmp/e2fsck.out; fail "e2fsck -fn of the image after a clean shutdown"; }
pass "the root file system is clean after the shutdown"

# --- data integrity -------------------------------------------------------------------------------
debian_xml data "<disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$RODISK'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>" >/tmp/data.xml
out=$("$ALTOCTL" create /tmp/data.xml 2>&1)
expect_eq "create data: exit status (output: $out)" 0 "$?"
con_open data
mark=0
con_wait 900 "login: " || { tail -c 4000 "$CON_OUT"; fail "no login prompt (second boot)"; }
con_mark
con_type root
con_wait 120 "root@debian:~# " || fail "root login (second boot)"
out=$(con_run 900 'fio --name=verify --filename=/root/fio.dat --size=256M --bs=64k --rw=write --direct=1 --ioengine=psync --verify=crc32c --do_verify=1 --verify_fatal=1 --output-format=terse >/dev/null')
expect_eq "fio writes and verifies 256 MiB with crc32c (output: $(echo "$out" | tail -n 5))" 0 "$?"
out=$(con_run 60 'cat /sys/block/vdb/ro; dd if=/dev/zero of=/dev/vdb bs=4k count=1 oflag=direct')
rc=$?
expect_contains "vdb is read-only in the guest" $'\n1' "$out"
[ "$rc" != 0 ] || fail "writing the read-only disk succeeded: $out"
pass "writing the read-only disk fails (status $rc)"
expect_eq "the read-only disk's image is unchanged" "$ro_sum" "$(sha256sum <"$RODISK")"
out=$(con_run 120 'head -c 16M /dev/urandom >/root/synced && sync /root/synced && echo SUM=$(sha256sum </root/synced | cut -c1-64)')
expect_eq "write and fsync /root/synced (output: $out)" 0 "$?"
sum=$(echo "$out" | sed -n 's/^SUM=\([0-9a-f]\{64\}\).*/\1/p' | tail -n1)
kill -9 "$(cat /run/altovirt/vms/data/altovirt.pid)"
con_close
wait_for 60 sh -c "'$ALTOCTL' list --all | grep -q ' data .*shut off'" || fail "after kill -9: $("$ALTOCTL" list --all)"
pass "kill -9 of altovirt right after the fsync returned"
expect_eq "after kill -9: e1000e back on e1000e" e1000e "$(current_driver $NIC_BDF)"
# The guest's journal was not replayed (it was killed); recover it as the next mount would, then the
# file system must be consistent.
e2fsck -py "$DISK" >/tmp/e2fsck.out 2>&1
[ $? -le 1 ] || { cat /tmp/e2fsck.out; fail "e2fsck -p (journal recovery) after kill -9"; }
e2fsck -fn "$DISK" >/tmp/e2fsck.out 2>&1 || { cat /tmp/e2fsck.out; fail "e2fsck -fn after kill -9"; }
pass "e2fsck -fn: the file system is consistent after kill -9"
debugfs -R "dump /root/synced /tmp/synced" "$DISK" >/dev/null 2>&1 || fail "debugfs cannot read /root/synced"
expect_eq "the fsync'ed file has its checksum after kill -9" "$sum" "$(sha256sum </tmp/synced | cut -c1-64)"
rm -f "$DISK" "$RODISK" /tmp/synced
finish
