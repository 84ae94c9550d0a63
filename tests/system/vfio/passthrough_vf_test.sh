#!/usr/bin/env bash
# SR-IOV with altovirt: the NVMe PF's VFs are created and given resources (testbed recipe), one VF is
# passed to a guest whose nvme driver reads back a pattern the test host wrote and writes a new one,
# which the test host then reads (nothing lost). Then two devices at once (the NIC and a VF), and two
# VMs each with its own VF, and a VF already held by another VM (refused: EBUSY). Then six boots of
# one VM with a VF (five guest reboots): one DMA map, flat fds and RSS.
. "$(dirname "$0")/../lib.sh"
ALTOVIRT=$ALTOVIRT_BUILD/tools/altovirt/altovirt

guest() {  # guest STEPS EXTRA_APPEND LOG ALTOVIRT_ARGS...
  local steps=$1 extra=$2 log=$3; shift 3
  timeout 500 "$ALTOVIRT" -m 256M -smp 1 -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -serial stdio -no-reboot \
    -append "console=ttyS0 panic=-1 quiet guest.steps=$steps $extra" -D "$log" "$@" < /dev/null
}
host_read() { dd if="$1" bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0'; }
host_write() { printf '%s' "$2" | dd of="$1" bs=512 conv=sync,fsync oflag=direct 2>/dev/null; }

ns=/dev/$(ls /sys/bus/pci/devices/$NVME_BDF/nvme)n1
wait_for 20 test -b "$ns" || fail "no namespace block device $ns on the PF"
host_write "$ns" vf-pattern-1
run_ok "2 NVMe VFs with resources" tb_nvme_vfs 2
vf1=$(tb_nvme_vf 1); vf2=$(tb_nvme_vf 2)
[ -n "$vf1" ] && [ -n "$vf2" ] || fail "the VFs of $NVME_BDF do not exist"
pass "VFs $vf1 and $vf2"
run_ok "VF 1 to vfio-pci" tb_bind_vfio "$vf1"
run_ok "VF 2 to vfio-pci" tb_bind_vfio "$vf2"

out=$(guest info,nvme-read,nvme-write "guest.pattern=vf-pattern-1 guest.newpattern=vf-pattern-2" /tmp/vf.log \
      -device vfio-pci,host="$vf1",id=vf1 2>&1); rc=$?
echo "$out" | grep -E 'GUEST-|altovirt:'
expect_eq "altovirt exit status" 0 "$rc"
expect_contains "guest's nvme driver bound the VF" "driver=nvme" "$(echo "$out" | grep '0x1b36:0x0010')"
expect_contains "guest read the host's pattern through the VF" "GUEST-NVME-READ vf-pattern-1" "$out"
expect_contains "guest wrote a new pattern" "GUEST-NVME-WRITE vf-pattern-2" "$out"
expect_eq "the host reads the guest's pattern" vf-pattern-2 "$(host_read "$ns")"
echo "--- exit counters (NVMe read/write run)"; sed -n '/exit counters/,$p' /tmp/vf.log | grep -E 'vf1|unassigned'
grep 'trapped BAR accesses' /tmp/vf.log
expect_contains "no trapped access outside the MSI-X table and PBA (the data path is direct-mapped)" \
  "other 0/0" "$(grep 'vf1: trapped BAR accesses' /tmp/vf.log)"

# Two devices at once: the NIC and VF 1.
run_ok "DHCP server" tb_dhcp_server
run_ok "e1000e to vfio-pci" tb_bind_vfio $NIC_BDF
host_write "$ns" vf-pattern-3
out=$(guest dhcp,nvme-read "guest.pattern=vf-pattern-3" /tmp/two.log \
      -device vfio-pci,host=$NIC_BDF -device vfio-pci,host="$vf1" 2>&1); rc=$?
echo "$out" | grep -E 'GUEST-|altovirt:'
expect_eq "two devices: exit status" 0 "$rc"
expect_contains "two devices: DHCP lease over the NIC" "GUEST-LEASE" "$out"
expect_contains "two devices: the VF reads" "GUEST-NVME-READ vf-pattern-3" "$out"

# Two VMs, each with its own VF, at the same time; while the first holds VF 1 a third is refused.
# VM A's kernel is not quiet (its boot log slows the boot: 200 s) and it has a QMP socket: CI once
# saw it print nothing for 120 s.
guest nvme-read,sleep-30 "guest.pattern=vf-pattern-3 loglevel=7" /tmp/a.log -device vfio-pci,host="$vf1" \
  -qmp unix:/tmp/vm-a.qmp,server,nowait > /tmp/vm-a.out 2>&1 &
a=$!
wait_for 200 grep -q 'GUEST-INIT' /tmp/vm-a.out || { vm_hang_report "$a" /tmp/a.log; fail "VM A did not start: $(tail -n 40 /tmp/vm-a.out)"; }
out=$(guest info "" /tmp/busy.log -device vfio-pci,host="$vf1" 2>&1); rc=$?
expect_eq "VF held by another VM: exit status" 1 "$rc"
expect_contains "VF held by another VM: message" "already in use by another process" "$out"
guest nvme-read "guest.pattern=vf-pattern-3" /tmp/b.log -device vfio-pci,host="$vf2" > /tmp/vm-b.out 2>&1 &
b=$!
wait_pid 400 "$a" "VM A"; rca=$?; wait_pid 400 "$b" "VM B"; rcb=$?
grep GUEST- /tmp/vm-a.out /tmp/vm-b.out
expect_eq "VM A exit status" 0 "$rca"
expect_eq "VM B exit status" 0 "$rcb"
expect_contains "VM A read through VF 1" "GUEST-NVME-READ vf-pattern-3" "$(cat /tmp/vm-a.out)"
expect_contains "VM B read through VF 2" "GUEST-NVME-READ vf-pattern-3" "$(cat /tmp/vm-b.out)"

# Guest reboots keep the VFIO container, groups, devices and DMA mappings (and guest RAM): the
# guest reads the VF, reboots (reboot -f: a reset, for which altovirt builds a new machine), and
# reads it again, six boots in all. Guest RAM is pinned once; each boot still resets the VF; the
# process's fds and RSS are the same on the sixth boot as on the second.
step "reboots with a VF"
"$ALTOVIRT" -m 256M -smp 1 -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -serial stdio \
  -append "console=ttyS0 panic=-1 quiet guest.steps=nvme-read,sleep-3,reboot guest.pattern=vf-pattern-3" \
  -D /tmp/reboots.log -device vfio-pci,host="$vf1",id=vf1 < /dev/null > /tmp/reboots.out 2>&1 &
r=$!
reads() { grep -c 'GUEST-NVME-READ vf-pattern-3' /tmp/reboots.out; }
# A boot takes 15-40 s here: one that has not read the VF after 150 s is stuck, and the test stops
# it while the test host's watchdog still leaves time to show where the guest was (altovirt logs
# each vCPU's registers when SIGTERM stops it).
fds=() rss=() seen=0 end=$((SECONDS + 300)) progress=$SECONDS
while [ "$seen" -lt 6 ] && [ $SECONDS -lt "$end" ] && [ $((SECONDS - progress)) -lt 150 ] && kill -0 "$r" 2>/dev/null; do
  n=$(reads)
  if [ "$n" -gt "$seen" ]; then  # a boot has just read the VF, and sleeps 3 s before its reboot
    seen=$n progress=$SECONDS
    fds[$n]=$(ls /proc/$r/fd | wc -l)
    rss[$n]=$(awk '/^VmRSS:/ { print $2 }' /proc/$r/status)
    echo "boot $n: $(grep 'GUEST-INIT' /tmp/reboots.out | tail -n 1), ${fds[$n]} fds, RSS ${rss[$n]} KiB"
  fi
  sleep 0.3
done
kill -TERM "$r" 2>/dev/null
wait_pid 60 "$r" "altovirt (reboots)"; rc=$?
[ "$seen" -ge 6 ] || { echo "# boot $((seen + 1)) did not read the VF within 150 s; the console and the -D log:"
                       tail -n 30 /tmp/reboots.out; tail -n 30 /tmp/reboots.log; }
expect_eq "reboots: six boots read the VF" 6 "$seen"
expect_eq "reboots: altovirt ends with 0 on SIGTERM" 0 "$rc"
expect_eq "reboots: guest RAM DMA-mapped once" 1 "$(grep -c 'DMA-mapped .* MiB of guest RAM' /tmp/reboots.log)"
# Machines built: six, or seven when the sixth boot's reboot came before the SIGTERM (a busy test
# host notices the sixth read late).
builds=$(grep -c 'set-up took' /tmp/reboots.log)
[ "$builds" -ge 6 ] || fail "reboots: only $builds machines were built"
expect_eq "reboots: each later boot kept the mappings ($builds machines)" $((builds - 1)) "$(grep -c 'guest RAM stays DMA-mapped from the previous boot: no new DMA map' /tmp/reboots.log)"
expect_eq "reboots: each reset's teardown is timed in the log ($builds machines)" $((builds - 1)) "$(grep -c 'the old machine was taken down in [0-9]* ms' /tmp/reboots.log)"
expect_eq "reboots: the VF is reset for every boot ($builds machines)" "$builds" "$(grep -c 'vf1: reset by' /tmp/reboots.log)"
expect_eq "reboots: no more fds on the sixth boot than on the second" "${fds[2]}" "${fds[6]}"
growth=$(( ${rss[6]} - ${rss[2]} ))
[ "$growth" -lt 4096 ] || fail "reboots: RSS grew by $growth KiB from the second boot to the sixth (${rss[2]} -> ${rss[6]} KiB)"
pass "reboots: RSS flat from the second boot to the sixth (${rss[2]} -> ${rss[6]} KiB)"
finish
