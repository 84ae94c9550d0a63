#!/usr/bin/env bash
# Hot-plug of a passed-through device over QMP, in a running guest (PCIe native hot-plug, the guest's
# stock pciehp): the test host's e1000e is device_add-ed into an empty root port; the guest's
# e1000e driver binds it, gets a DHCP lease and pings; device_del asks the guest to let go
# (attention button), DEVICE_DELETED follows, and the NIC's IOMMU group is released at once: the test
# host binds it back to e1000e while the VM still runs. Then it is added a second time.
# An NVMe VF 20 times into the same running guest, beside a cold-plugged VF that keeps the container
# (and the DMA mapping of guest RAM) in place: after each add the guest reads the test host's
# pattern through it; altovirt's open fds, its locked (DMA-pinned) memory and its RSS do not grow.
# (The two VFs are controllers of one subsystem sharing its namespace, which native multipath shows as
# one block device with a path per controller: the guest unbinds VF 2 before the cycles, so that what
# it reads can only come through the hot-added VF.)
# The refusals while a guest runs, each with its message and the guest still running: a driver that
# cannot be hot-plugged, pcie.0, an occupied port, a device on its host driver, an unknown id.
# virtio devices over QMP as QEMU takes them: blockdev-add + device_add virtio-blk-pci (the guest
# reads the image's pattern and writes its own, which is on the image after device_del and
# blockdev-del), netdev_add + device_add virtio-net-pci on a bridged tap with vhost-net (lease,
# pings); each backend refused while in use; the devices' I/O threads go with them.
# Then the same as a virsh user does it, through altoctl: a domain whose XML has no root port runs
# with two spare ones; `attach-device` of a <disk> (the guest reads and writes it; what it wrote is
# on the image after `detach-device`), of the e1000e as <hostdev managed='yes'> (taken from its host
# driver into the running guest: lease, pings; dumpxml shows it with its alias and root port;
# `detach-device` returns once the guest let go, with the NIC back on e1000e), and of a virtio
# <interface> on a bridge (altoctl makes its tap, which goes with it); a disk with <iotune>, a device
# that does not exist and the same device twice are refused. A guest without pciehp never lets go of
# a device it booted with: detach-device gives up after 30 s and says so, the device stays, and it
# goes back to its host driver when the domain ends.
. "$(dirname "$0")/../lib.sh"
ALTOVIRT=$ALTOVIRT_BUILD/tools/altovirt/altovirt
command -v socat >/dev/null || fail "socat is not installed (apt-get install socat)"
sock=/tmp/hp.sock out=/tmp/hp-guest.out log=/tmp/hp.log
cycles=20

run_ok "DHCP server on the NIC's link partner" tb_dhcp_server
run_ok "e1000e to vfio-pci" tb_bind_vfio "$NIC_BDF"
ns=/dev/$(ls /sys/bus/pci/devices/$NVME_BDF/nvme)n1
wait_for 20 test -b "$ns" || fail "no namespace block device $ns on the PF"
printf '%s' hotplug-pattern | dd of="$ns" bs=512 conv=sync,fsync oflag=direct 2>/dev/null || fail "writing the pattern to $ns"
run_ok "2 NVMe VFs with resources" tb_nvme_vfs 2
vf1=$(tb_nvme_vf 1); vf2=$(tb_nvme_vf 2)
run_ok "VF 1 to vfio-pci" tb_bind_vfio "$vf1"
run_ok "VF 2 to vfio-pci" tb_bind_vfio "$vf2"

timeout 900 "$ALTOVIRT" -name hotplug -m 256M -smp 1 -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -no-reboot \
  -append "console=ttyS0 panic=-1 quiet guest.steps=hp-in,dhcp,ping,hp-out,hp-in,hp-out,hp-nvme-$cycles guest.pattern=hotplug-pattern" \
  -serial "file:$out" -device pcie-root-port,id=rp1,chassis=1 -device pcie-root-port,id=rp2,chassis=2 \
  -device vfio-pci,host="$vf2",bus=rp2,id=vf2 -pidfile /tmp/hp.pid \
  -qmp "unix:$sock,server,nowait" -D "$log" </dev/null >/tmp/hp-altovirt.err 2>&1 &
vm=$!
wait_for 30 test -S "$sock" || fail "no QMP socket at $sock: $(cat /tmp/hp-altovirt.err)"
. "$(dirname "$0")/../qmp_client.sh"
open_client
qmp '{"execute":"qmp_capabilities"}'
seen() { tr -d '\r' < "$out" | grep -c -- "$1"; }
seen_ge() { [ "$(seen "$1")" -ge "$2" ]; }  # seen_ge TEXT N: the console has N lines with TEXT
explain() {
  echo "--- the guest's console, last 30 lines:"; tr -d '\r' < "$out" | tail -n 30
  echo "--- $log, last 30 lines:"; tail -n 30 "$log"
}
wait_for 300 seen_ge GUEST-HP-WAITING 1 || { explain; fail "the guest never got to waiting for a NIC"; }

# --- refusals, with the guest running ------------------------------------------------------------
qmp '{"execute":"device_add","arguments":{"driver":"virtio-rng-pci","id":"r0","bus":"rp1"}}'
expect_contains "a kind that is not hot-pluggable" "a virtio-rng-pci cannot be hot-plugged" "$reply"
qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"id\":\"n0\",\"host\":\"$NIC_BDF\"}}"
expect_contains "pcie.0 has no hot-plug" "pcie.0 has no hot-plug; name an empty pcie-root-port with bus=" "$reply"
qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"id\":\"n0\",\"host\":\"$NIC_BDF\",\"bus\":\"rp2\"}}"
expect_contains "an occupied root port" "rp2 is not empty: it holds vf2" "$reply"
qmp '{"execute":"device_del","arguments":{"id":"nope"}}'
expect_contains "an unknown id" "no device has id nope" "$reply"
qmp '{"execute":"device_del","arguments":{"id":"rp1"}}'
expect_contains "a root port is not removable" "a root port cannot be removed" "$reply"
expect_eq "the NIC, refused, stays on vfio-pci" vfio-pci "$(current_driver "$NIC_BDF")"

# --- hot-add: the guest binds it, leases, pings ---------------------------------------------------
t0=${EPOCHREALTIME/./}
qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"id\":\"nic0\",\"host\":\"$NIC_BDF\",\"bus\":\"rp1\"}}"
expect_eq "device_add vfio-pci into rp1" '{"return":{}}' "$reply"
wait_for 150 seen_ge GUEST-HP-IN 1 || { explain; fail "the guest did not see the hot-added NIC"; }
echo "device_add to the guest's interface up: $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
expect_contains "the guest's e1000e driver bound the hot-added NIC behind the root port" "8086:0x10d3 driver=e1000e" \
  "$(tr -d '\r' < "$out" | grep GUEST-HP-IN | head -n1)"
qmp '{"execute":"query-pci"}'
expect_contains "query-pci shows it behind rp1" '"qdev_id":"nic0"' "$reply"
wait_for 150 seen_ge GUEST-PING 1 || { explain; fail "no lease or no pings over the hot-added NIC"; }
pass "the guest got a lease and pinged over the hot-added NIC"
qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"id\":\"n2\",\"host\":\"$NIC_BDF\",\"bus\":\"rp1\"}}"
expect_contains "the same NIC twice" "rp1 is not empty: it holds nic0" "$reply"

# --- hot-remove: the guest lets go, DEVICE_DELETED, the host takes the NIC back at once -----------
wait_for 60 seen_ge GUEST-HP-WAITGONE 1 || { explain; fail "the guest did not get to the removal"; }
t0=${EPOCHREALTIME/./}
qmp '{"execute":"device_del","arguments":{"id":"nic0"}}'
expect_eq "device_del nic0" '{"return":{}}' "$reply"
wait_event DEVICE_DELETED 60 || { explain; fail "no DEVICE_DELETED within 60 s"; }
echo "device_del to DEVICE_DELETED: $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
expect_contains "DEVICE_DELETED names nic0" '"device":"nic0","path":"/machine/peripheral/nic0"' "$(grep DEVICE_DELETED "$events")"
wait_for 60 seen_ge GUEST-HP-OUT 1 || { explain; fail "the guest still has the NIC"; }
pass "the guest's interface went away"
expect_contains "the group left the container" "detached from the container and closed" "$(cat "$log")"
run_ok "the NIC back to e1000e while the VM runs" tb_unbind_vfio "$NIC_BDF"
expect_eq "the test host's driver has the NIC" e1000e "$(current_driver "$NIC_BDF")"
wait_for 50 test -n "$(tb_netdev "$NIC_BDF")" || fail "the NIC has no interface on the test host"
pass "the NIC works on the test host again ($(basename "$(tb_netdev "$NIC_BDF")"))"
qmp '{"execute":"query-status"}'
expect_contains "the guest still runs" '"status":"running"' "$reply"
tr -d '\r' < "$out" | grep GUEST-HP-DMESG
expect_contains "the guest's _OSC grants native hot-plug" "OS now controls [PCIeHotplug" "$(cat "$out")"

# --- a device on its host driver is refused, then the second add works --------------------------
qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"id\":\"nic1\",\"host\":\"$NIC_BDF\",\"bus\":\"rp1\"}}"
expect_contains "a device on its host driver" "is bound to e1000e, not to vfio-pci" "$reply"
expect_eq "the refused NIC stays on e1000e" e1000e "$(current_driver "$NIC_BDF")"
run_ok "e1000e to vfio-pci again" tb_bind_vfio "$NIC_BDF"
qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"id\":\"nic1\",\"host\":\"$NIC_BDF\",\"bus\":\"rp1\"}}"
expect_eq "the second device_add" '{"return":{}}' "$reply"
wait_for 150 seen_ge GUEST-HP-IN 2 || { explain; fail "the guest did not see the NIC the second time"; }
pass "the guest took the NIC a second time"
wait_for 60 seen_ge GUEST-HP-WAITGONE 2 || { explain; fail "the guest did not get to the second removal"; }
: > "$events"
qmp '{"execute":"device_del","arguments":{"id":"nic1"}}'
wait_event DEVICE_DELETED 60 || { explain; fail "no DEVICE_DELETED for nic1"; }
wait_for 60 seen_ge GUEST-HP-OUT 2 || { explain; fail "the guest still has the NIC the second time"; }
pass "the NIC went a second time"

# --- an NVMe VF, $cycles times, beside the cold-plugged VF 2 ----------------------------------------
pid=$(cat /tmp/hp.pid)
usage() {  # open fds, locked KiB (VFIO's pinning of guest RAM), RSS KiB of altovirt
  echo "$(ls "/proc/$pid/fd" | wc -l) $(awk '/^VmLck/ {print $2}' "/proc/$pid/status") $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")"
}
t_start=$SECONDS
for i in $(seq "$cycles"); do
  wait_for 150 seen_ge GUEST-HP-NVME-WAIT "$i" || { explain; fail "cycle $i: the guest is not waiting for the VF"; }
  qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"id\":\"vf1-$i\",\"host\":\"$vf1\",\"bus\":\"rp1\"}}"
  [ "$reply" = '{"return":{}}' ] || { explain; fail "cycle $i: device_add: $reply"; }
  wait_for 150 seen_ge "GUEST-HP-NVME $i " 1 || { explain; fail "cycle $i: the guest did not read through the VF"; }
  [ "$i" = 1 ] && first=$(usage)
  [ "$i" = "$cycles" ] && last=$(usage)
  : > "$events"
  qmp "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"vf1-$i\"}}"
  wait_event DEVICE_DELETED 60 || { explain; fail "cycle $i: no DEVICE_DELETED"; }
  wait_for 60 seen_ge "GUEST-HP-NVME-GONE $i" 1 || { explain; fail "cycle $i: the guest still has the VF"; }
done
pass "$cycles hot-plug cycles of VF 1, each read the pattern ($((SECONDS - t_start)) s)"
read -r fd1 lck1 rss1 <<< "$first"; read -r fd2 lck2 rss2 <<< "$last"
echo "after cycle 1: $fd1 fds, VmLck $lck1 KiB, RSS $rss1 KiB; after cycle $cycles: $fd2 fds, VmLck $lck2 KiB, RSS $rss2 KiB"
expect_eq "open fds after cycle $cycles as after cycle 1" "$fd1" "$fd2"
expect_eq "locked (DMA-pinned) memory after cycle $cycles as after cycle 1" "$lck1" "$lck2"
[ $((rss2 - rss1)) -lt 2048 ] || fail "altovirt's RSS grew by $((rss2 - rss1)) KiB over $((cycles - 1)) cycles"
pass "RSS grew by less than 2 MiB over $((cycles - 1)) cycles ($((rss2 - rss1)) KiB)"
expect_eq "the container stayed: RAM was DMA-mapped once" 1 "$(grep -c 'DMA-mapped .* of guest RAM' "$log")"
wait_pid 120 "$vm" "altovirt (the guest powers off after its steps)"; rc=$?
expect_eq "altovirt exit status after the guest powered off" 0 "$rc"
close_client
run_ok "the NIC back to e1000e" tb_unbind_vfio "$NIC_BDF"
run_ok "VF 1 back to its host driver" tb_unbind_vfio "$vf1"
run_ok "VF 2 back to its host driver" tb_unbind_vfio "$vf2"

# --- virtio-blk and virtio-net over QMP: blockdev-add / netdev_add, device_add, device_del -----------
step "virtio-blk and virtio-net hot-plug"
modprobe tun; modprobe bridge; modprobe vhost_net
tb_bridge_dhcp avbr0 10.0.77 || fail "bridge avbr0 with udhcpd"
ip tuntap add dev avtap0 mode tap || fail "cannot create tap avtap0"
ip link set avtap0 master avbr0 up
img=/tmp/hp-disk.img
truncate -s 64M "$img" && printf '%s' blk-pattern | dd of="$img" bs=512 conv=sync,notrunc 2>/dev/null || fail "making $img"
sock=/tmp/hpv.sock out=/tmp/hpv-guest.out log=/tmp/hpv.log; : > "$events"
timeout 600 "$ALTOVIRT" -name hpv -m 256M -smp 1 -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -no-reboot \
  -append "console=ttyS0 panic=-1 quiet guest.steps=hp-blk,hp-in,dhcp,ping,hp-out,sleep-20 guest.pattern=blk-pattern guest.newpattern=blk-written" \
  -serial "file:$out" -device pcie-root-port,id=rp1,chassis=1 -device pcie-root-port,id=rp2,chassis=2 -pidfile /tmp/hpv.pid \
  -qmp "unix:$sock,server,nowait" -D "$log" </dev/null >/tmp/hpv-altovirt.err 2>&1 &
vm=$!
wait_for 30 test -S "$sock" || fail "no QMP socket at $sock: $(cat /tmp/hpv-altovirt.err)"
open_client
qmp '{"execute":"qmp_capabilities"}'
wait_for 300 seen_ge GUEST-HP-BLK-WAITING 1 || { explain; fail "the guest never got to waiting for a disk"; }
pid=$(cat /tmp/hpv.pid)
threads_before=$(ls /proc/$pid/task | wc -l)
qmp '{"execute":"blockdev-add","arguments":{"node-name":"disk1","driver":"raw","file":{"driver":"file","filename":"/tmp/nosuch.img"}}}'
expect_contains "blockdev-add of a missing image" "Could not open '/tmp/nosuch.img'" "$reply"
qmp '{"execute":"device_add","arguments":{"driver":"virtio-blk-pci","id":"vd1","bus":"rp1","drive":"disk1"}}'
expect_contains "device_add on a drive nobody added" "no -drive (or blockdev-add) has id=disk1" "$reply"
qmp "{\"execute\":\"blockdev-add\",\"arguments\":{\"node-name\":\"disk1\",\"driver\":\"raw\",\"file\":{\"driver\":\"file\",\"filename\":\"$img\"}}}"
expect_eq "blockdev-add" '{"return":{}}' "$reply"
qmp "{\"execute\":\"blockdev-add\",\"arguments\":{\"node-name\":\"disk1\",\"driver\":\"file\",\"filename\":\"$img\"}}"
expect_contains "a second node with the same name" "Duplicate nodes with node-name='disk1'" "$reply"
t0=${EPOCHREALTIME/./}
qmp '{"execute":"device_add","arguments":{"driver":"virtio-blk-pci","id":"vd1","bus":"rp1","drive":"disk1"}}'
expect_eq "device_add virtio-blk-pci into rp1" '{"return":{}}' "$reply"
wait_for 150 seen_ge "GUEST-HP-BLK " 1 || { explain; fail "the guest did not read and write the hot-added disk"; }
echo "device_add to the guest's read and write done: $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
expect_contains "the guest's virtio_blk read the pattern and wrote its own" "read=blk-pattern wrote=blk-written driver=virtio_blk" \
  "$(tr -d '\r' < "$out" | grep "GUEST-HP-BLK ")"
qmp '{"execute":"blockdev-del","arguments":{"node-name":"disk1"}}'
expect_contains "blockdev-del while a device uses it" "Node disk1 is in use by a device" "$reply"
qmp '{"execute":"device_del","arguments":{"id":"vd1"}}'
expect_eq "device_del vd1" '{"return":{}}' "$reply"
wait_event DEVICE_DELETED 60 || { explain; fail "no DEVICE_DELETED for vd1"; }
wait_for 60 seen_ge GUEST-HP-BLK-OUT 1 || { explain; fail "the guest still has the disk"; }
pass "the guest let go of the disk"
qmp '{"execute":"blockdev-del","arguments":{"node-name":"disk1"}}'
expect_eq "blockdev-del once it is free" '{"return":{}}' "$reply"
expect_eq "the data the guest wrote is on the image" blk-written "$(dd if="$img" bs=512 count=1 2>/dev/null | tr -d '\0')"

qmp '{"execute":"netdev_add","arguments":{"type":"tap","id":"hn1","ifname":"avtap0","vhost":true}}'
expect_eq "netdev_add tap avtap0 (vhost)" '{"return":{}}' "$reply"
: > "$events"
qmp '{"execute":"device_add","arguments":{"driver":"virtio-net-pci","id":"vn1","bus":"rp2","netdev":"hn1","mac":"52:54:00:aa:bb:01"}}'
expect_eq "device_add virtio-net-pci into rp2" '{"return":{}}' "$reply"
wait_for 150 seen_ge GUEST-HP-IN 1 || { explain; fail "the guest did not see the hot-added virtio NIC"; }
expect_contains "the guest's virtio_net bound it behind the root port (bus 2)" "0x1af4:0x0001 driver=virtio_net parent=0000:02:00.0" "$(tr -d '\r' < "$out" | grep GUEST-HP-IN)"
expect_contains "vhost-net carries it" "vhost-net" "$(grep 'tap avtap0' "$log")"
wait_for 150 seen_ge GUEST-PING 1 || { explain; fail "no lease or no pings over the hot-added virtio NIC"; }
pass "the guest got a lease and pinged over the hot-added virtio NIC"
wait_for 60 seen_ge GUEST-HP-WAITGONE 1 || { explain; fail "the guest did not get to the NIC's removal"; }
qmp '{"execute":"netdev_del","arguments":{"id":"hn1"}}'
expect_contains "netdev_del while a device uses it" "is in use by a device" "$reply"
qmp '{"execute":"device_del","arguments":{"id":"vn1"}}'
wait_event DEVICE_DELETED 60 || { explain; fail "no DEVICE_DELETED for vn1"; }
wait_for 60 seen_ge GUEST-HP-OUT 1 || { explain; fail "the guest still has the virtio NIC"; }
qmp '{"execute":"netdev_del","arguments":{"id":"hn1"}}'
expect_eq "netdev_del once it is free" '{"return":{}}' "$reply"
expect_eq "the I/O threads of both devices are gone" "$threads_before" "$(ls /proc/$pid/task | wc -l)"
expect_eq "the existing tap stays" 0 "$(ip link show avtap0 >/dev/null 2>&1; echo $?)"
wait_pid 120 "$vm" "altovirt (the guest powers off after its steps)"; rc=$?
expect_eq "altovirt exit status after the guest powered off" 0 "$rc"
close_client

# --- altoctl attach-device / detach-device: a managed hostdev into a running domain --------------
step "altoctl attach-device and detach-device"
ALTOCTL=$ALTOVIRT_BUILD/tools/altoctl/altoctl
export ALTOVIRT_STATE_DIR=/run/altovirt ALTOVIRT_CONFIG_DIR=/tmp/altovirt-domains
# hp_domain NAME CONSOLE STEPS [HOSTDEV]: a q35 guest of the test initramfs, no root port of its own.
hp_domain() {
  cat <<XML
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>256</memory>
  <os><type machine='q35'>hvm</type><kernel>$GUEST_KERNEL</kernel><initrd>$GUEST_INITRD</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet guest.steps=$3</cmdline></os>
  <features><acpi/></features>
  <devices><serial type='file'><source path='$2'/></serial>${4:-}</devices>
</domain>
XML
}
IFS=':.' read -r d b sl f <<<"$NIC_BDF"
nic_xml="<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x$d' bus='0x$b' slot='0x$sl' function='0x$f'/></source></hostdev>"
echo "$nic_xml" > /tmp/nic.xml
out=/tmp/hpa.out log=$ALTOVIRT_STATE_DIR/vms/hpa/vmm/altovirt.log; : > "$out"
hp_domain hpa "$out" "hp-blk,hp-in,dhcp,ping,hp-out,hp-in,dhcp,ping,hp-out,sleep-15 guest.pattern=blk-pattern guest.newpattern=blk-altoctl" > /tmp/hpa.xml
r=$("$ALTOCTL" create /tmp/hpa.xml 2>&1) || fail "altoctl create hpa: $r"
xml=$("$ALTOCTL" dumpxml hpa)
expect_eq "the running domain has two spare root ports (its XML names none)" 2 "$(grep -c "model=\"pcie-root-port\"" <<<"$xml")"
sed "s/bus='0x$b'/bus='0x7f'/" <<<"$nic_xml" > /tmp/nosuch.xml
grep -q "bus='0x7f'" /tmp/nosuch.xml || fail "nosuch.xml: $(cat /tmp/nosuch.xml)"
r=$("$ALTOCTL" attach-device hpa /tmp/nosuch.xml 2>&1); rc=$?
expect_eq "attach-device of a host device that does not exist fails" 1 "$rc"
expect_contains "... naming it" "0000:7f:00.0: no such PCI device on this host" "$r"

# A disk: the guest reads the image's pattern and writes its own, which is on the image after detach.
printf '%s' blk-pattern | dd of="$img" bs=512 conv=sync,notrunc 2>/dev/null
disk_xml="<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$img'/><target dev='vdb' bus='virtio'/>"
echo "$disk_xml<iotune><total_iops_sec>100</total_iops_sec></iotune></disk>" > /tmp/disk-iotune.xml
echo "$disk_xml</disk>" > /tmp/disk.xml
r=$("$ALTOCTL" attach-device hpa /tmp/disk-iotune.xml 2>&1); rc=$?
expect_eq "a disk with <iotune> is refused live" 1 "$rc"
expect_contains "... saying why" "<iotune> on a hot-plugged disk is not supported yet" "$r"
wait_for 300 seen_ge GUEST-HP-BLK-WAITING 1 || { explain; fail "hpa never got to waiting for a disk"; }
r=$("$ALTOCTL" attach-device hpa /tmp/disk.xml 2>&1) || { explain; fail "attach-device hpa disk.xml: $r"; }
echo "$r"
expect_contains "attach-device <disk>: virsh's message" "Device attached successfully" "$r"
wait_for 150 seen_ge "GUEST-HP-BLK " 1 || { explain; fail "hpa did not read and write the attached disk"; }
expect_contains "the guest read the image and wrote its own" "read=blk-pattern wrote=blk-altoctl" "$(tr -d '\r' < "$out" | grep "GUEST-HP-BLK ")"
expect_contains "domblklist shows it" "$img" "$("$ALTOCTL" domblklist hpa)"
r=$("$ALTOCTL" detach-device hpa /tmp/disk.xml 2>&1) || { explain; fail "detach-device hpa disk.xml: $r"; }
expect_contains "detach-device <disk>" "Device detached successfully" "$r"
expect_eq "what the guest wrote is on the image" blk-altoctl "$(dd if="$img" bs=512 count=1 2>/dev/null | tr -d '\0')"
case "$("$ALTOCTL" domblklist hpa)" in *"$img"*) fail "domblklist still shows the disk" ;; esac
pass "domblklist no longer shows it"

# The e1000e as a managed hostdev.
wait_for 300 seen_ge GUEST-HP-WAITING 1 || { explain; fail "hpa never got to waiting for a NIC"; }
t0=${EPOCHREALTIME/./}
r=$("$ALTOCTL" attach-device hpa /tmp/nic.xml 2>&1) || { explain; fail "attach-device hpa nic.xml: $r"; }
expect_contains "attach-device: virsh's message" "Device attached successfully" "$r"
echo "$r"
expect_eq "the managed NIC went from e1000e to vfio-pci" vfio-pci "$(current_driver "$NIC_BDF")"
wait_for 150 seen_ge GUEST-HP-IN 1 || { explain; fail "hpa did not see the attached NIC"; }
echo "attach-device to the guest's interface up: $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
expect_contains "the guest's e1000e driver bound it" "8086:0x10d3 driver=e1000e" "$(tr -d '\r' < "$out" | grep GUEST-HP-IN)"
xml=$("$ALTOCTL" dumpxml hpa)
expect_contains "dumpxml shows the hostdev with its alias" "<alias name=\"hostdev0\"" "$xml"
expect_contains "... behind the first spare root port" "bus=\"0x01\" slot=\"0x00\"" "$(grep -A8 "<hostdev" <<<"$xml" | grep "<address type=\"pci\"")"
wait_for 150 seen_ge GUEST-PING 1 || { explain; fail "no lease or pings over the attached NIC"; }
pass "hpa got a lease and pinged over the attached NIC"
r=$("$ALTOCTL" attach-device hpa /tmp/nic.xml 2>&1); rc=$?
expect_eq "the same device twice fails" 1 "$rc"
expect_contains "... saying so" "is already assigned by another <hostdev>" "$r"
wait_for 60 seen_ge GUEST-HP-WAITGONE 1 || { explain; fail "hpa did not get to the removal"; }
t0=${EPOCHREALTIME/./}
r=$("$ALTOCTL" detach-device hpa /tmp/nic.xml 2>&1) || { explain; fail "detach-device hpa nic.xml: $r"; }
echo "detach-device (the guest lets go): $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
expect_contains "detach-device: virsh's message" "Device detached successfully" "$r"
expect_eq "the NIC is back on e1000e at once, while the domain runs" e1000e "$(current_driver "$NIC_BDF")"
wait_for 50 test -n "$(tb_netdev "$NIC_BDF")" || fail "the NIC has no interface on the test host"
pass "the NIC works on the test host again ($(basename "$(tb_netdev "$NIC_BDF")"))"
case "$("$ALTOCTL" dumpxml hpa)" in *"<hostdev"*) fail "dumpxml still shows the hostdev" ;; esac
pass "dumpxml no longer shows it"
wait_for 60 seen_ge GUEST-HP-OUT 1 || { explain; fail "hpa still has the NIC"; }
pass "the guest's interface went away"

# A virtio NIC on a bridge: altoctl makes its tap (vnetN), which goes when the NIC does.
echo "<interface type='bridge'><source bridge='avbr0'/><model type='virtio'/></interface>" > /tmp/vnic.xml
wait_for 60 seen_ge GUEST-HP-WAITING 2 || { explain; fail "hpa never got to waiting for the second NIC"; }
taps_before=$(ls /sys/class/net | grep -c '^vnet' || true)
r=$("$ALTOCTL" attach-device hpa /tmp/vnic.xml 2>&1) || { explain; fail "attach-device hpa vnic.xml: $r"; }
echo "$r"
tap=$(sed -n 's/.*tap \(vnet[0-9]*\) is .*/\1/p' <<<"$r")
[ -n "$tap" ] && [ -d "/sys/class/net/$tap" ] || fail "attach-device did not name a tap it made: $r"
expect_eq "the tap is on the bridge" avbr0 "$(basename "$(readlink "/sys/class/net/$tap/master")")"
wait_for 150 seen_ge GUEST-HP-IN 2 || { explain; fail "hpa did not see the attached virtio NIC"; }
expect_contains "the guest's virtio_net bound it" "driver=virtio_net" "$(tr -d '\r' < "$out" | grep GUEST-HP-IN | tail -n1)"
expect_contains "dumpxml shows its tap" "<target dev=\"$tap\"" "$("$ALTOCTL" dumpxml hpa)"
wait_for 150 seen_ge GUEST-PING 2 || { explain; fail "no lease or pings over the attached virtio NIC"; }
pass "hpa got a lease and pinged over the attached virtio NIC"
wait_for 60 seen_ge GUEST-HP-WAITGONE 2 || { explain; fail "hpa did not get to the virtio NIC's removal"; }
r=$("$ALTOCTL" detach-device hpa /tmp/vnic.xml 2>&1) || { explain; fail "detach-device hpa vnic.xml: $r"; }
expect_contains "detach-device <interface>" "Device detached successfully" "$r"
wait_for 25 sh -c "! test -d /sys/class/net/$tap" || fail "the tap $tap stayed after the NIC went"
pass "the tap $tap went with the NIC"
wait_for 60 seen_ge GUEST-HP-OUT 2 || { explain; fail "hpa still has the virtio NIC"; }
wait_for 120 sh -c "\"$ALTOCTL\" domstate hpa | grep -q 'shut off'" || fail "hpa did not power off after its steps"

# A guest that never lets go (no pciehp: pcie_ports=compat) of a device it had from boot: detach
# times out, says so, and changes nothing; the device stays the domain's until it ends, and goes
# back to its host driver then.
out=/tmp/hpb.out log=$ALTOVIRT_STATE_DIR/vms/hpb/vmm/altovirt.log; : > "$out"
hp_domain hpb "$out" "sleep-600 pcie_ports=compat" "$nic_xml" > /tmp/hpb.xml
r=$("$ALTOCTL" create /tmp/hpb.xml 2>&1) || fail "altoctl create hpb: $r"
wait_for 300 seen_ge GUEST-INIT 1 || { explain; fail "hpb did not boot"; }
t0=$SECONDS
r=$("$ALTOCTL" detach-device hpb /tmp/nic.xml 2>&1); rc=$?
expect_eq "detach-device from a guest that does not answer fails" 1 "$rc"
expect_contains "... after its wait, saying the device stays" "did not let go of $NIC_BDF (hostdev0) within 30 s: it stays attached" "$r"
echo "(gave up after $((SECONDS - t0)) s)"
expect_eq "the device stays on vfio-pci" vfio-pci "$(current_driver "$NIC_BDF")"
expect_contains "... and in the running domain's XML" "<hostdev" "$("$ALTOCTL" dumpxml hpb)"
run_ok "destroy hpb" "$ALTOCTL" destroy hpb
wait_for 60 driver_is "$NIC_BDF" e1000e || fail "the NIC did not go back to e1000e when hpb ended"
pass "the NIC went back to e1000e when the domain ended"
finish
