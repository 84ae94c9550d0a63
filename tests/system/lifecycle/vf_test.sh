#!/usr/bin/env bash
# The SR-IOV variant through altoctl: an NVMe VF as <hostdev managed='yes'> (its host driver is nvme:
# the VFs are probed), `create`; the guest reads the pattern the test host wrote to the namespace
# and writes a new one; the guest powers off by itself after its steps; the VF is back on nvme and
# `list --all` shows the domain shut off.
. "$(dirname "$0")/../lib.sh"

modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
[ -c /dev/kvm ] || fail "no /dev/kvm in the test host"
ALTOCTL=$ALTOVIRT_BUILD/tools/altoctl/altoctl
[ -x "$ALTOCTL" ] || fail "$ALTOCTL is not built"
export ALTOVIRT_STATE_DIR=/run/altovirt ALTOVIRT_CONFIG_DIR=/tmp/altovirt-domains

ns=/dev/$(ls /sys/bus/pci/devices/$NVME_BDF/nvme)n1
wait_for 20 test -b "$ns" || fail "no namespace block device $ns on the PF"
printf 'altovirt-pattern-1' | dd of="$ns" bs=512 conv=sync,fsync oflag=direct 2>/dev/null
run_ok "2 NVMe VFs with resources" tb_nvme_vfs 2
vf=$(tb_nvme_vf 1)
[ -n "$vf" ] || fail "VF 1 of $NVME_BDF does not exist"
# tb_nvme_vfs creates the VFs unbound; let the host's nvme driver take VF 1, as a host would.
echo "$vf" > /sys/bus/pci/drivers_probe
wait_for 30 driver_is "$vf" nvme || fail "VF $vf is on $(current_driver "$vf"), expected nvme"
pass "VF 1 is $vf on nvme"

tb_domain_xml vf "$vf" yes "nvme-read,nvme-write guest.pattern=altovirt-pattern-1 guest.newpattern=altovirt-pattern-2" \
  /tmp/vf-console.out > /tmp/vf.xml
out=$("$ALTOCTL" create /tmp/vf.xml 2>&1)
expect_eq "create vf: exit status (output: $out)" 0 "$?"
expect_eq "the VF is on vfio-pci while the domain runs" vfio-pci "$(current_driver "$vf")"
wait_for 900 sh -c "'$ALTOCTL' list --all | grep -q ' -    vf     shut off'" || { cat /tmp/vf-console.out; fail "the domain did not end: $("$ALTOCTL" list --all)"; }
pass "the guest powered off; list --all shows vf shut off"
grep GUEST- /tmp/vf-console.out
expect_contains "guest read the host's pattern through the VF" "GUEST-NVME-READ altovirt-pattern-1" "$(cat /tmp/vf-console.out)"
expect_contains "guest wrote a new pattern" "GUEST-NVME-WRITE altovirt-pattern-2" "$(cat /tmp/vf-console.out)"
wait_for 30 driver_is "$vf" nvme || fail "after the VM: VF on $(current_driver "$vf")"
pass "after the VM: the VF is back on nvme"
got=$(dd if="$ns" bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0')
expect_eq "the host reads the guest's pattern" altovirt-pattern-2 "$got"
finish
