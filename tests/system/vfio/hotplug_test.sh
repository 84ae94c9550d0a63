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
finish
