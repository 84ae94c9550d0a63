#!/usr/bin/env bash
# VMs from libvirt domain XML through altoctl, inside the test host (real kernel, IOMMU, nested KVM):
#  - StratoVirt's published example XML: one error naming every unsupported element, nothing changed;
#  - managed='no' on a device that is not on vfio-pci: a clear error, nothing changed;
#  - the seed scenario: the e1000e as <hostdev managed='yes'> while on its host driver; `create`
#    detaches it, the guest gets a DHCP lease and pings over it (read through `altoctl console`),
#    `list` shows it running, a second domain with the same device is refused without changing
#    anything, `shutdown` (ACPI power button) ends it, the e1000e is back on e1000e with its
#    interface, `list --all` shows it shut off;
#  - define/start of a persistent domain, then kill -9 of altovirt: the device comes back, the
#    domain is shut off; undefine;
#  - Ctrl-C of altoctl during create leaves no device detached and no VM running.
. "$(dirname "$0")/../lib.sh"
driver_is() { test "$(current_driver "$1")" = "$2"; }  # for wait_for, which re-runs it

modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
[ -c /dev/kvm ] || fail "no /dev/kvm in the test host"
ALTOCTL=$ALTOVIRT_BUILD/tools/altoctl/altoctl
[ -x "$ALTOCTL" ] || fail "$ALTOCTL is not built"
export ALTOVIRT_STATE_DIR=/run/altovirt ALTOVIRT_CONFIG_DIR=/tmp/altovirt-domains
nic_ifc() { tb_netdev "$NIC_BDF"; }

domain_xml() { tb_domain_xml "$1" "$NIC_BDF" "$2" "$3"; }  # domain_xml NAME MANAGED STEPS

expect_eq "e1000e starts on its host driver" e1000e "$(current_driver $NIC_BDF)"
[ -n "$(nic_ifc)" ] || fail "the e1000e has no network interface before the test"
pass "e1000e interface $(nic_ifc) exists"

# --- StratoVirt's example: one error naming each unsupported element ---------------------------
out=$("$ALTOCTL" create "$ALTOVIRT_SRC/tests/data/stratovirt_x86.xml" 2>&1)
expect_eq "StratoVirt XML: create fails" 1 "$?"
for needle in "os/loader" "devices/interface[1]" "devices/memballoon[1]" "devices/rng[1]" "devices/vsock[1]"; do
  expect_contains "StratoVirt XML: names $needle" "$needle" "$out"
done
expect_eq "StratoVirt XML: one error" 1 "$(echo "$out" | grep -c '^error:')"
for gone in "devices/disk[" "devices/console[" "devices/controller["; do  # supported since issue 11
  case "$out" in *"$gone"*) fail "StratoVirt XML: $gone is supported now but named in: $out" ;; esac
done
pass "StratoVirt XML: disk, virtio-serial controller and virtio console pass the parser"
expect_eq "StratoVirt XML: e1000e untouched" e1000e "$(current_driver $NIC_BDF)"

# --- managed='no' while the device is on its host driver ---------------------------------------
domain_xml unmanaged no powerbutton > /tmp/unmanaged.xml
out=$("$ALTOCTL" create /tmp/unmanaged.xml 2>&1)
expect_eq "managed='no' on a host-driver device: create fails" 1 "$?"
expect_contains "managed='no': says what to do" "is bound to driver e1000e, not vfio-pci" "$out"
expect_eq "managed='no': e1000e untouched" e1000e "$(current_driver $NIC_BDF)"

# --- the seed scenario ----------------------------------------------------------------------------
run_ok "DHCP server on the NIC's link partner" tb_dhcp_server
domain_xml seed yes dhcp,ping,powerbutton > /tmp/seed.xml
start=$(date +%s)
out=$("$ALTOCTL" create /tmp/seed.xml 2>&1)
expect_eq "create seed: exit status (output: $out)" 0 "$?"
expect_contains "create seed: virsh's message" "Domain 'seed' created from /tmp/seed.xml" "$out"
expect_eq "seed runs with the e1000e on vfio-pci" vfio-pci "$(current_driver $NIC_BDF)"
rm -f /tmp/seed-console.done
( "$ALTOCTL" console seed </dev/null >/tmp/seed-console.out 2>&1; echo $? >/tmp/seed-console.done ) &
out=$("$ALTOCTL" list)
echo "$out"
expect_contains "list: header" " Id   Name   State" "$out"
expect_contains "list: seed running with id 1" " 1    seed   running" "$out"
expect_eq "domstate seed" running "$("$ALTOCTL" domstate seed | head -n1)"
expect_contains "dumpxml seed: the hostdev" "<hostdev mode=\"subsystem\" type=\"pci\" managed=\"yes\">" "$("$ALTOCTL" dumpxml seed)"

# QMP of the running domain: the passed-through e1000e (8086:10d3) with its XML alias as qdev id.
pci=$( (echo '{"execute":"qmp_capabilities"}'; echo '{"execute":"query-pci"}'; sleep 3) |
       timeout 30 socat - UNIX-CONNECT:/run/altovirt/vms/seed/qmp.sock)
expect_contains "query-pci: the e1000e in the guest" '"id":{"device":4307,' "$pci"
expect_contains "query-pci: the XML alias as qdev_id" '"qdev_id":"hostdev0"' "$pci"
expect_contains "query-pci: its BAR 0" '"bar":0,' "$pci"

domain_xml second yes powerbutton > /tmp/second.xml
out=$("$ALTOCTL" create /tmp/second.xml 2>&1)
expect_eq "a second domain with the same device: create fails" 1 "$?"
expect_contains "second domain: names the holder" "in use by domain 'seed'" "$out"
expect_eq "second domain: the e1000e stays with seed" vfio-pci "$(current_driver $NIC_BDF)"
expect_eq "second domain: seed still runs" running "$("$ALTOCTL" domstate seed | head -n1)"

wait_for 900 grep -q -e GUEST-WAIT-POWERBUTTON -e GUEST-FAIL /tmp/seed-console.out || { cat /tmp/seed-console.out; fail "the guest did not finish its steps"; }
grep GUEST- /tmp/seed-console.out
echo "seed: create to the guest's ping done: $(($(date +%s) - start)) s"
expect_contains "console: the guest got a DHCP lease" "GUEST-LEASE" "$(cat /tmp/seed-console.out)"
expect_contains "console: the lease is from the test host's pool" "$TB_NET_PREFIX.1" "$(grep GUEST-LEASE /tmp/seed-console.out)"
expect_contains "console: 10 pings, no loss" "GUEST-PING" "$(cat /tmp/seed-console.out)"
out=$("$ALTOCTL" shutdown --timeout 600 seed 2>&1)
expect_eq "shutdown seed: exit status (output: $out)" 0 "$?"
expect_contains "shutdown seed: shut off" "Domain 'seed' is shut off" "$out"
wait_for 30 test -s /tmp/seed-console.done || fail "altoctl console did not end with the VM"
expect_eq "altoctl console ended with the VM, status" 0 "$(cat /tmp/seed-console.done)"
expect_contains "console: virsh's banner" "Connected to domain 'seed'" "$(head -n1 /tmp/seed-console.out)"
expect_contains "console: the guest saw the power button" "GUEST-POWERBUTTON" "$(cat /tmp/seed-console.out)"
expect_eq "after shutdown: e1000e back on e1000e" e1000e "$(current_driver $NIC_BDF)"
wait_for 20 sh -c "ls /sys/bus/pci/devices/$NIC_BDF/net | grep -q ." || fail "no network interface on the e1000e after shutdown"
pass "after shutdown: e1000e interface $(nic_ifc) exists"
out=$("$ALTOCTL" list --all)
echo "$out"
expect_contains "list --all: seed shut off" " -    seed   shut off" "$out"
expect_eq "list: nothing running" "" "$("$ALTOCTL" list | tail -n +3 | tr -d ' \n')"

# --- persistent domain, kill -9 of altovirt ------------------------------------------------------
domain_xml persist yes powerbutton > /tmp/persist.xml
run_ok "define persist" "$ALTOCTL" define /tmp/persist.xml
expect_contains "list --all: a defined domain" "persist" "$("$ALTOCTL" list --all)"
out=$("$ALTOCTL" start persist 2>&1)
expect_eq "start persist: exit status (output: $out)" 0 "$?"
expect_eq "persist runs with the e1000e on vfio-pci" vfio-pci "$(current_driver $NIC_BDF)"
pid=$(cat /run/altovirt/vms/persist/altovirt.pid)
kill -9 "$pid"
wait_for 60 driver_is $NIC_BDF e1000e || fail "after kill -9: e1000e is on $(current_driver $NIC_BDF)"
pass "after kill -9 of altovirt: e1000e back on e1000e"
wait_for 20 sh -c "'$ALTOCTL' list --all | grep -q ' -    persist   shut off'" || fail "after kill -9: $("$ALTOCTL" list --all)"
pass "after kill -9: list --all shows persist shut off"
expect_contains "domstate --reason: killed" "killed by signal 9" "$("$ALTOCTL" domstate --reason persist)"
run_ok "undefine persist" "$ALTOCTL" undefine persist

# --- destroy ------------------------------------------------------------------------------------------
domain_xml seed yes powerbutton > /tmp/seed.xml
out=$("$ALTOCTL" create /tmp/seed.xml 2>&1)
expect_eq "create seed again: exit status (output: $out)" 0 "$?"
expect_eq "seed runs again with the e1000e on vfio-pci" vfio-pci "$(current_driver $NIC_BDF)"
out=$("$ALTOCTL" destroy seed 2>&1)
expect_eq "destroy seed: exit status (output: $out)" 0 "$?"
expect_contains "destroy seed: virsh's message" "Domain 'seed' destroyed" "$out"
expect_eq "after destroy: e1000e back on e1000e" e1000e "$(current_driver $NIC_BDF)"
expect_eq "after destroy: domstate" "shut off" "$("$ALTOCTL" domstate seed | head -n1)"

# --- Ctrl-C during create -------------------------------------------------------------------------
# A non-interactive shell starts background jobs with SIGINT ignored; python restores the default
# so that the SIGINT acts as a Ctrl-C would. It is sent once the supervisor has prepared the host
# (the e1000e is detached) and before the VM runs.
rm -f /run/altovirt/vms/seed/status.json
python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
  "$ALTOCTL" create /tmp/seed.xml >/tmp/ctrlc.out 2>&1 &
creator=$!
wait_for 60 grep -q '"state": "starting"' /run/altovirt/vms/seed/status.json || fail "the supervisor never reached 'starting'"
kill -INT "$creator"
wait "$creator"
rc=$?
expect_eq "Ctrl-C: altoctl ended by SIGINT (output: $(cat /tmp/ctrlc.out))" 130 "$rc"
wait_for 120 sh -c "'$ALTOCTL' list | tail -n +3 | grep -q seed && exit 1; test \"\$(basename \$(readlink /sys/bus/pci/devices/$NIC_BDF/driver))\" = e1000e" \
  || fail "after Ctrl-C during create: driver $(current_driver $NIC_BDF), list: $("$ALTOCTL" list)"
pass "Ctrl-C during create: no VM runs and the e1000e is back on e1000e"
expect_contains "Ctrl-C: the supervisor says why it stopped the VM" "altoctl went away during the start" \
  "$(cat /run/altovirt/vms/seed/supervisor.log)"
finish
