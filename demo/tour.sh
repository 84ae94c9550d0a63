#!/usr/bin/env bash
# Runs inside the test host (see demo/demo.sh): the seed scenario through altoctl and domain XML.
set -euo pipefail
. "$ALTOVIRT_SRC/testbed/hostlib.sh"
altoctl=$ALTOVIRT_BUILD/tools/altoctl/altoctl
export ALTOVIRT_STATE_DIR=/run/altovirt ALTOVIRT_CONFIG_DIR=/tmp/altovirt-domains
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Is this host ready for passthrough?"
show "$altoctl" host-validate --load-modules || true
step "PCI devices, their drivers and IOMMU groups"
show "$altoctl" nodedev-list
step "A DHCP server on the NIC's link partner (the test host's virtio-net NIC, ${TB_NET_PREFIX}.0/24)"
tb_dhcp_server && echo "udhcpd serving ${TB_NET_PREFIX}.100-150"

step "A domain with the e1000e as <hostdev managed='yes'> (still on its host driver: $(tb_driver $TB_NIC))"
tb_domain_xml seed "$TB_NIC" yes info,dhcp,ping,powerbutton > /tmp/seed.xml
cat /tmp/seed.xml
step "Start it"
show "$altoctl" create /tmp/seed.xml
echo "e1000e now on: $(tb_driver $TB_NIC)"
show "$altoctl" list
step "The guest's console: its own e1000e driver gets a DHCP lease over the passed NIC and pings"
( "$altoctl" console seed < /dev/null > /tmp/console.out 2>&1 & )
for _ in $(seq 1 600); do grep -q -e GUEST-PING -e GUEST-FAIL /tmp/console.out 2>/dev/null && break; sleep 0.5; done
grep -E 'GUEST-(PCI .*10d3|LEASE|PING|FAIL)|packet' /tmp/console.out || cat /tmp/console.out
step "Shut it down (ACPI power button through QMP)"
show "$altoctl" shutdown seed
show "$altoctl" list --all
sleep 1
echo "e1000e back on: $(tb_driver $TB_NIC), network interface: $(ls /sys/bus/pci/devices/$TB_NIC/net)"

[ "${DEMO_STANDARD_VM:-}" = 1 ] || exit 0
step "The standard VM: StratoVirt's published domain XML, with its paths and the hostdev edited"
. "$ALTOVIRT_SRC/testbed/guest-console.sh"
disk=$(tb_disk)
tb_hugepages 256 || { echo "could not reserve 256 2 MiB hugepages"; exit 1; }
tb_bridge_dhcp qbr0 10.0.79 && echo "bridge qbr0 (its <interface> names it) with udhcpd serving 10.0.79.100-150"
# A distribution loads these on first use of their /dev node; the test host's busybox /dev has no
# static nodes for that.
modprobe tun; modprobe vhost_net; modprobe vhost_vsock
tb_stratovirt_xml debian "$disk" "$TB_NIC" > /tmp/debian.xml
echo "What changes from tests/data/stratovirt_x86.xml (paths, altovirt as emulator, the hostdev, 512 MiB on 2 MiB pages, 1 vCPU;"
echo "no UEFI loader here; its VNC display stays):"
diff "$ALTOVIRT_SRC/tests/data/stratovirt_x86.xml" /tmp/debian.xml || true
show "$altoctl" create /tmp/debian.xml
show "$altoctl" domblklist debian
show "$altoctl" domhostdev debian
show "$altoctl" vncdisplay debian || true
step "altoctl console debian: systemd boots, root logs in on hvc0 (this takes a few minutes under TCG)"
gc_open "$altoctl" console debian
gc_login 900 || { tail -c 2000 "$GC_OUT"; echo "no login prompt"; exit 1; }
echo "logged in"
# Its screen, as any VNC client sees it (the test host's port 5900: StratoVirt's <graphics> listens on
# every address with the first free display).
if size=$("$ALTOVIRT_BUILD/tests/system/vnc_probe" 127.0.0.1:5900 shot /tmp/debian-screen.ppm 2>/dev/null); then
  echo "a VNC client on 127.0.0.1:5900 sees the guest's ${size} screen (Debian's tty1 login), saved as /tmp/debian-screen.ppm in the test host"
fi
nic=""
for _ in $(seq 90); do
  nic=$(gc_run 30 'for i in /sys/class/net/*; do [ "$(basename "$(readlink $i/device/driver)" 2>/dev/null)" = e1000e ] && echo NIC=${i##*/}; done; true' | sed -n 's/^NIC=//p' | head -n1 || true)
  [ -n "$nic" ] && break
  sleep 1
done
for c in "ls /sys/bus/virtio/drivers" "ip -br a" "dhclient $nic" "ip -br a show $nic"; do
  echo "root@debian:~# $c"
  gc_run 180 "$c" | sed '1d;$d' || true
done
step "The balloon, as virsh's user drives it: setmem and dommemstat (KiB)"
show "$altoctl" dommemstat debian
show "$altoctl" setmem debian 384M
for _ in $(seq 60); do "$altoctl" dommemstat debian | grep -qx 'actual 393216' && break; sleep 1; done
show "$altoctl" dommemstat debian | grep -e '^\$' -e '^actual'  # not head: it would SIGPIPE altoctl (pipefail)
echo "root@debian:~# grep MemTotal /proc/meminfo"
gc_run 30 'grep MemTotal /proc/meminfo' | sed '1d;$d' || true
show "$altoctl" setmem debian 512M
gc_close
step "Shut it down: systemd powers off, the NIC goes back to e1000e"
show "$altoctl" shutdown debian
echo "e1000e back on: $(tb_driver $TB_NIC)"
