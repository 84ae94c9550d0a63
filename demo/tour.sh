#!/usr/bin/env bash
# Runs inside the test host (see demo/demo.sh).
set -euo pipefail
. "$ALTOVIRT_SRC/testbed/hostlib.sh"
altoctl=$ALTOVIRT_BUILD/tools/altoctl/altoctl
altovirt=$ALTOVIRT_BUILD/tools/altovirt/altovirt
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Is this host ready for passthrough?"
show "$altoctl" host-validate --load-modules || true
step "PCI devices, their drivers and IOMMU groups"
show "$altoctl" nodedev-list
step "Hand the e1000e NIC to vfio-pci (the original driver is recorded)"
show "$altoctl" nodedev-detach 0000:01:00.0
step "A DHCP server on the NIC's link partner (the test host's virtio-net NIC, ${TB_NET_PREFIX}.0/24)"
tb_dhcp_server && echo "udhcpd serving ${TB_NET_PREFIX}.100-150"
step "Boot a VM with the NIC passed through"
cmd=("$altovirt" -name demo -m 256M -kernel "$(tb_kernel)" -initrd "$ALTOVIRT_BUILD/testbed/guest-initrd.gz"
     -append "console=ttyS0 quiet panic=-1 guest.steps=info,dhcp,ping" -serial stdio -no-reboot
     -device vfio-pci,host=0000:01:00.0)
printf '$ %s\n' "${cmd[*]}"
start=$(date +%s.%N)
"${cmd[@]}" < /dev/null | grep --line-buffered -E 'GUEST-(PCI .*10d3|LEASE|PING|DONE)|round-trip|packet'
echo "(VM ran $(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)") s, nested KVM under software emulation)"
step "Give the NIC back to its host driver"
show "$altoctl" nodedev-reattach 0000:01:00.0
sleep 1
echo "network interface: $(ls /sys/bus/pci/devices/0000:01:00.0/net)"
