#!/usr/bin/env bash
# The seed scenario with altovirt: the test host's e1000e, bound to vfio-pci, is passed to a guest
# whose own e1000e driver binds it, brings the link up, gets a DHCP lease from the test host's udhcpd
# and pings the test host 10 times without loss. Afterwards the NIC goes back to e1000e and works.
# Also: the refusals a user can hit, each with its message and exit status, leaving the device as it was.
. "$(dirname "$0")/../lib.sh"
ALTOVIRT=$ALTOVIRT_BUILD/tools/altovirt/altovirt

guest() {  # guest STEPS LOG ALTOVIRT_ARGS... -> console on stdout
  local steps=$1 log=$2; shift 2
  timeout 400 "$ALTOVIRT" -m 256M -smp 1 -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -serial stdio -no-reboot \
    -append "console=ttyS0 panic=-1 quiet guest.steps=$steps" -D "$log" "$@" < /dev/null
}

# --- refusals: nothing starts, nothing changes ---------------------------------------------------
out=$(guest info /tmp/r1.log -device vfio-pci,host=$NIC_BDF 2>&1); rc=$?
expect_eq "device on its host driver: exit status" 1 "$rc"
expect_contains "device on its host driver: message" "0000:01:00.0 is bound to e1000e, not to vfio-pci: detach it first" "$out"
expect_eq "the refused NIC is still on e1000e" e1000e "$(current_driver $NIC_BDF)"
out=$(guest info /tmp/r2.log -device vfio-pci,host=0000:09:00.0 2>&1); rc=$?
expect_eq "nonexistent device: exit status" 1 "$rc"
expect_contains "nonexistent device: message" "there is no PCI device 0000:09:00.0" "$out"
out=$(guest info /tmp/r3.log -device vfio-pci 2>&1); rc=$?
expect_contains "no host=: message" "add host=DDDD:BB:DD.F" "$out"
out=$(guest info /tmp/r4.log -device vfio-pci,host=$NIC_BDF,sysfsdev=/sys/bus/pci/devices/$NIC_BDF 2>&1)
expect_contains "host= and sysfsdev= together: message" "give one of them" "$out"

# --- the NIC in a guest -------------------------------------------------------------------------
run_ok "DHCP server on the NIC's link partner" tb_dhcp_server
run_ok "e1000e to vfio-pci" tb_bind_vfio $NIC_BDF
start=$(date +%s.%N)
out=$(guest info,dhcp,ping /tmp/nic.log -device vfio-pci,host=$NIC_BDF,id=nic0 2>&1); rc=$?
echo "$out" | grep -E 'GUEST-|altovirt:'
echo "altovirt NIC guest: $(echo "$(date +%s.%N) - $start" | bc) s wall time"
expect_eq "altovirt exit status after the guest powered off" 0 "$rc"
expect_contains "guest sees the e1000e" "0x8086:0x10d3" "$out"
expect_contains "guest's e1000e driver bound it" "driver=e1000e" "$(echo "$out" | grep '0x8086:0x10d3')"
expect_contains "guest got a DHCP lease" "GUEST-LEASE" "$out"
expect_contains "lease from the test host's pool" "$TB_NET_PREFIX.1" "$(echo "$out" | grep GUEST-LEASE)"
expect_contains "10 pings without loss" "GUEST-PING" "$out"
echo "--- exit counters"; sed -n '/exit counters/,$p' /tmp/nic.log | head -40

# The same NIC with MSI off in the guest (pci=nomsi): its driver falls back to INTx, which reaches
# the guest through an irqfd with a resample fd, and VFIO unmasks it after each EOI.
out=$(timeout 400 "$ALTOVIRT" -m 256M -smp 1 -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -serial stdio -no-reboot \
      -append "console=ttyS0 panic=-1 quiet pci=nomsi guest.steps=dhcp,ping" -device vfio-pci,host=$NIC_BDF < /dev/null 2>&1); rc=$?
echo "$out" | grep -E 'GUEST-|altovirt:'
expect_eq "INTx: exit status" 0 "$rc"
expect_contains "INTx: DHCP lease" "GUEST-LEASE" "$out"
expect_contains "INTx: 10 pings without loss" "GUEST-PING" "$out"

# --- the device goes back to the host and works ---------------------------------------------------
run_ok "e1000e back to its driver" tb_unbind_vfio $NIC_BDF
expect_eq "NIC on e1000e again" e1000e "$(current_driver $NIC_BDF)"
wait_for 20 test -n "$(ls /sys/bus/pci/devices/$NIC_BDF/net 2>/dev/null)" || fail "no interface on $NIC_BDF after the VM"
pass "the e1000e has its interface again"
finish
