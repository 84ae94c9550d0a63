#!/usr/bin/env bash
# altoctl against the real kernel in the test host: host-validate, detach/reattach of the e1000e,
# SR-IOV VFs of the NVMe PF detached to vfio-pci and back, and refusals that change nothing.
. "$(dirname "$0")/../lib.sh"

ALTOCTL=$ALTOVIRT_BUILD/tools/altoctl/altoctl
STATE=/run/altovirt-test
export ALTOVIRT_STATE_DIR=$STATE
[ -x "$ALTOCTL" ] || fail "altoctl not built at $ALTOCTL"

# The sysfs facts a refusal must not change: every device's driver, driver_override and the VF count.
sysfs_snapshot() {  # two processes only: the test host runs under TCG and forks are slow
  find /sys/bus/pci/devices/*/driver -maxdepth 0 -printf '%p -> %l\n'
  grep -H . /sys/bus/pci/devices/*/driver_override /sys/bus/pci/devices/$NVME_BDF/sriov_numvfs \
    /sys/bus/pci/devices/$NVME_BDF/sriov_drivers_autoprobe
}
# expect_refusal WHAT NEEDLE CMD... : CMD fails with status 1, says NEEDLE, and sysfs is unchanged.
expect_refusal() {
  local what=$1 needle=$2; shift 2
  local before after out rc
  before=$(sysfs_snapshot)
  out=$("$@" 2>&1); rc=$?
  after=$(sysfs_snapshot)
  expect_eq "$what: exit status" 1 "$rc"
  expect_contains "$what: message" "$needle" "$out"
  [ "$before" = "$after" ] || fail "$what: sysfs changed: before: $before after: $after"
  pass "$what: sysfs unchanged"
}

# --- host-validate -----------------------------------------------------------------------------
vfio_loaded_at_boot=no
[ -d /sys/bus/pci/drivers/vfio-pci ] && vfio_loaded_at_boot=yes
out=$("$ALTOCTL" host-validate 2>&1); rc=$?
echo "$out"
expect_contains "host-validate: IOMMU" "PASS  IOMMU hardware" "$out"
expect_contains "host-validate: groups" "PASS  IOMMU groups" "$out"
expect_contains "host-validate: interrupt remapping" "PASS  interrupt remapping" "$out"
expect_contains "host-validate: KVM" "PASS  KVM" "$out"
if [ $vfio_loaded_at_boot = no ]; then
  expect_contains "host-validate: vfio-pci not loaded is a WARN" "WARN  vfio-pci driver" "$out"
fi
expect_eq "host-validate exit status" 0 "$rc"

out=$("$ALTOCTL" host-validate --load-modules --device $NIC_BDF 2>&1); rc=$?
echo "$out"
expect_eq "host-validate --load-modules --device exit status" 0 "$rc"
expect_contains "vfio-pci loaded" "PASS  vfio-pci driver" "$out"
expect_contains "/dev/vfio/vfio usable" "PASS  /dev/vfio/vfio" "$out"
expect_contains "NIC group viable" "PASS  IOMMU group of $NIC_BDF" "$out"
# "bus" only: the testbed drops the e1000e's PM reset, which QEMU's model ignores (testbed/host-init).
expect_contains "NIC reset methods" "methods: bus" "$out"
[ -d /sys/bus/pci/drivers/vfio-pci ] || fail "vfio-pci driver not registered after --load-modules"
pass "vfio-pci registered"

# Really missing: without CAP_IPC_LOCK and with a small memlock limit, VFIO cannot pin guest RAM.
out=$(ulimit -l 64; setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock "$ALTOCTL" host-validate 2>&1); rc=$?
echo "$out"
expect_contains "memlock WARN without CAP_IPC_LOCK" "WARN  RLIMIT_MEMLOCK" "$out"
expect_contains "memlock fix" "ulimit -l unlimited" "$out"
# The ISA bridge group (00:1f.*) holds only unbound devices; the host bridge 00:00.0 is alone.
out=$("$ALTOCTL" host-validate --device 0000:00:04.0 2>&1); rc=$?
expect_eq "host-validate on a bridge fails" 1 "$rc"
expect_contains "host-validate on a bridge: FAIL line" "FAIL  device 0000:00:04.0" "$out"

# --- nodedev-list -------------------------------------------------------------------------------
out=$("$ALTOCTL" nodedev-list 2>&1) || fail "nodedev-list failed: $out"
echo "$out"
nic_group=$(basename "$(readlink /sys/bus/pci/devices/$NIC_BDF/iommu_group)")
expect_contains "nodedev-list shows the NIC with its name, driver and group" \
  "$NIC_BDF" "$(echo "$out" | grep "^$NIC_BDF .*8086:10d3 .*e1000e .*$nic_group .*82574L")"
expect_contains "nodedev-list shows the NVMe PF" "PF 0/4 VFs" "$(echo "$out" | grep "^$NVME_BDF")"
json=$("$ALTOCTL" nodedev-list --json) || fail "nodedev-list --json failed"
expect_eq "nodedev-list --json: NIC driver" e1000e \
  "$(echo "$json" | python3 -c "import json,sys; print([d['driver'] for d in json.load(sys.stdin) if d['address']=='$NIC_BDF'][0])")"

# --- e1000e: detach to vfio-pci and back ----------------------------------------------------------
netif=$(ls /sys/bus/pci/devices/$NIC_BDF/net)
[ -n "$netif" ] || fail "the NIC has no network interface before the test"
out=$("$ALTOCTL" nodedev-detach pci_0000_01_00_0 2>&1) || fail "nodedev-detach failed: $out"
expect_contains "detach message" "Device pci_0000_01_00_0 detached" "$out"
expect_eq "NIC on vfio-pci" vfio-pci "$(current_driver $NIC_BDF)"
expect_eq "driver_override" vfio-pci "$(cat /sys/bus/pci/devices/$NIC_BDF/driver_override)"
[ -c /dev/vfio/$nic_group ] || fail "/dev/vfio/$nic_group missing after detach"
pass "/dev/vfio/$nic_group exists"
expect_contains "state records e1000e" '"original_driver": "e1000e"' "$(cat $STATE/state.json)"
[ ! -e /sys/bus/pci/devices/$NIC_BDF/net ] || fail "the NIC still has a network interface on vfio-pci"
pass "network interface gone while on vfio-pci"

out=$("$ALTOCTL" nodedev-reset 01:00.0 2>&1) || fail "nodedev-reset failed: $out"
expect_contains "reset message" "Device pci_0000_01_00_0 reset" "$out"

# A device held by a running VM cannot be reattached: claim it for this shell's pid.
cp $STATE/state.json /tmp/state.saved
python3 - "$STATE/state.json" $$ <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s["devices"]["0000:01:00.0"]["claim"] = {"vm": "testvm", "pid": int(sys.argv[2])}
json.dump(s, open(p, "w"))
PY
expect_refusal "reattach of a device in use" "in use by running VM 'testvm'" "$ALTOCTL" nodedev-reattach $NIC_BDF
cp /tmp/state.saved $STATE/state.json

out=$("$ALTOCTL" nodedev-reattach $NIC_BDF 2>&1) || fail "nodedev-reattach failed: $out"
expect_contains "reattach message" "Device pci_0000_01_00_0 re-attached" "$out"
expect_contains "reattach reports the driver" "driver now e1000e" "$out"
expect_eq "NIC back on e1000e" e1000e "$(current_driver $NIC_BDF)"
expect_eq "driver_override cleared" "(null)" "$(cat /sys/bus/pci/devices/$NIC_BDF/driver_override)"
wait_for 10 test -d /sys/bus/pci/devices/$NIC_BDF/net || fail "no network interface after reattach"
expect_eq "network interface back" "$netif" "$(ls /sys/bus/pci/devices/$NIC_BDF/net)"

# --- refusals ----------------------------------------------------------------------------------
expect_refusal "detach of a bridge" "0000:00:04.0 is a PCI bridge" "$ALTOCTL" nodedev-detach 0000:00:04.0
expect_refusal "detach of a nonexistent device" "PCI device 0000:09:00.0 does not exist" \
  "$ALTOCTL" nodedev-detach 0000:09:00.0
expect_refusal "too many VFs" "supports at most 4 (sriov_totalvfs)" "$ALTOCTL" sriov-set 02:00.0 5
expect_refusal "SR-IOV on a non-PF" "not an SR-IOV physical function" "$ALTOCTL" sriov-set $NIC_BDF 2
before=$(sysfs_snapshot)
out=$("$ALTOCTL" nodedev-detach 0000:zz:00.0 2>&1); rc=$?
expect_eq "malformed address is a usage error" 2 "$rc"
expect_contains "malformed address message" "is not a PCI device name" "$out"
[ "$before" = "$(sysfs_snapshot)" ] || fail "malformed address changed sysfs"
pass "malformed address: sysfs unchanged"
# A group that is not viable: 00:1f.2 (SATA, unbound) shares its group with the SMBus controller 00:1f.3;
# once i2c-i801 drives the SMBus controller, VFIO cannot have the group.
run_ok "modprobe i2c-i801" modprobe i2c-i801
wait_for 10 test -e /sys/bus/pci/devices/0000:00:1f.3/driver || fail "i2c-i801 did not bind 0000:00:1f.3"
smbus_driver=$(current_driver 0000:00:1f.3)
expect_refusal "detach in a non-viable group" "0000:00:1f.3 (driver $smbus_driver) is in the same group" \
  "$ALTOCTL" nodedev-detach 00:1f.2
out=$("$ALTOCTL" host-validate --device 00:1f.2 2>&1)
expect_contains "host-validate names the group blocker" "not viable because of 0000:00:1f.3 ($smbus_driver)" "$out"

# --- SR-IOV on the NVMe PF -------------------------------------------------------------------------
out=$("$ALTOCTL" sriov-set $NVME_BDF 2 --autoprobe=off 2>&1) || fail "sriov-set 2 failed: $out"
echo "$out"
expect_eq "2 VFs" 2 "$(cat /sys/bus/pci/devices/$NVME_BDF/sriov_numvfs)"
expect_eq "autoprobe off" 0 "$(cat /sys/bus/pci/devices/$NVME_BDF/sriov_drivers_autoprobe)"
vf0=$(basename "$(readlink /sys/bus/pci/devices/$NVME_BDF/virtfn0)")
vf1=$(basename "$(readlink /sys/bus/pci/devices/$NVME_BDF/virtfn1)")
g0=$(basename "$(readlink /sys/bus/pci/devices/$vf0/iommu_group)")
g1=$(basename "$(readlink /sys/bus/pci/devices/$vf1/iommu_group)")
out=$("$ALTOCTL" sriov-list $NVME_BDF 2>&1) || fail "sriov-list failed: $out"
echo "$out"
expect_contains "sriov-list header" "2 of 4 VFs, driver autoprobe off" "$out"
expect_contains "sriov-list VF0 with group" "0   $vf0" "$(echo "$out" | grep " $g0 ")"
expect_contains "sriov-list VF1 with group" "1   $vf1" "$(echo "$out" | grep " $g1 ")"
json=$("$ALTOCTL" sriov-list $NVME_BDF --json) || fail "sriov-list --json failed"
expect_eq "sriov-list --json groups" "$g0 $g1" \
  "$(echo "$json" | python3 -c "import json,sys; print(' '.join(str(v['iommu_group']) for v in json.load(sys.stdin)['vfs']))")"

expect_refusal "changing 2 VFs to 5" "supports at most 4" "$ALTOCTL" sriov-set $NVME_BDF 5

out=$("$ALTOCTL" nodedev-detach $vf1 2>&1) || fail "detach of VF $vf1 failed: $out"
expect_eq "VF1 on vfio-pci" vfio-pci "$(current_driver $vf1)"
[ -c /dev/vfio/$g1 ] || fail "/dev/vfio/$g1 missing"
pass "/dev/vfio/$g1 exists"
out=$("$ALTOCTL" nodedev-reattach $vf1 2>&1) || fail "reattach of VF $vf1 failed: $out"
expect_contains "VF reattach message" "re-attached" "$out"
expect_eq "VF1 off vfio-pci (autoprobe off: no host driver)" none "$(current_driver $vf1)"

# Changing a non-zero count goes through 0, with every VF bound to vfio-pci.
out=$("$ALTOCTL" sriov-set $NVME_BDF 3 --vfio 2>&1) || fail "sriov-set 3 --vfio failed: $out"
echo "$out"
expect_eq "3 VFs" 3 "$(cat /sys/bus/pci/devices/$NVME_BDF/sriov_numvfs)"
for i in 0 1 2; do
  vf=$(basename "$(readlink /sys/bus/pci/devices/$NVME_BDF/virtfn$i)")
  expect_eq "VF$i on vfio-pci" vfio-pci "$(current_driver $vf)"
done

out=$("$ALTOCTL" sriov-set $NVME_BDF 0 --autoprobe=on 2>&1) || fail "sriov-set 0 failed: $out"
expect_eq "0 VFs" 0 "$(cat /sys/bus/pci/devices/$NVME_BDF/sriov_numvfs)"
expect_eq "autoprobe back on" 1 "$(cat /sys/bus/pci/devices/$NVME_BDF/sriov_drivers_autoprobe)"
[ ! -e /sys/bus/pci/devices/$vf0 ] || fail "VF $vf0 still exists"
pass "VFs removed"
expect_eq "state holds no VF records" "" "$(grep -o '0000:02:00.[1-4]' $STATE/state.json)"
expect_eq "NVMe PF still on nvme" nvme "$(current_driver $NVME_BDF)"
finish
