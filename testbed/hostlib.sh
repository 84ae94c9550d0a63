# Helpers for scripts that run inside the test host (system tests, the demo, benchmarks). Sourced.
# They wrap the testbed's fixed facts: which device is where, how the DHCP server is set up on the
# NIC's link partner, and how QEMU's NVMe gets working SR-IOV VFs.

TB_NIC=0000:01:00.0       # e1000e 8086:10d3, link partner: the test host's virtio-net NIC
TB_NVME=0000:02:00.0      # QEMU NVMe 1b36:0010, SR-IOV PF, sriov_totalvfs=4
TB_PARTNER=0000:00:06.0   # virtio-net in the test host, same QEMU hub as the e1000e
TB_SATA=0000:03:00.0      # ICH9 AHCI 8086:2922 (MSI, no MSI-X) with one 64 MiB disk, unbound at boot
# Addresses of the in-QEMU link between the e1000e and the virtio-net NIC. TEST-NET-1 (RFC 5737):
# nothing here leaves the QEMU process of the testbed.
TB_NET_HOST=192.0.2.1
TB_NET_PREFIX=192.0.2

tb_driver() { local l=/sys/bus/pci/devices/$1/driver; if [ -e "$l" ]; then basename "$(readlink "$l")"; else echo none; fi; }
tb_netdev() { ls "/sys/bus/pci/devices/$1/"*/net 2>/dev/null | head -n1 || ls "/sys/bus/pci/devices/$1/net" 2>/dev/null | head -n1; }
# The block device ("sda") of the disk on the AHCI controller, once the ahci driver has it.
tb_sata_disk() { basename "$(ls -d /sys/bus/pci/devices/$TB_SATA/ata*/host*/target*/*/block/* 2>/dev/null | head -n1)"; }
tb_kernel() { ls /boot/vmlinuz-* | sort -V | tail -n1; }
# The /dev path of the disk `testbed --disk FILE` attached (virtio-blk, serial testbed-disk).
tb_disk() {
  modprobe virtio_blk 2>/dev/null || true
  local b _
  for _ in $(seq 100); do
    for b in /sys/block/vd*; do
      [ "$(cat "$b/serial" 2>/dev/null)" = testbed-disk ] && { echo "/dev/${b##*/}"; return 0; }
    done
    sleep 0.1
  done
  echo "tb_disk: no disk with serial testbed-disk (start the testbed with --disk FILE)" >&2
  return 1
}

# Plain sysfs detach/reattach (altoctl does this with checks and state; these are for the tests that
# must not depend on altoctl).
tb_bind_vfio() {
  modprobe vfio-pci
  echo vfio-pci > "/sys/bus/pci/devices/$1/driver_override"
  [ -e "/sys/bus/pci/devices/$1/driver" ] && echo "$1" > "/sys/bus/pci/devices/$1/driver/unbind"
  echo "$1" > /sys/bus/pci/drivers_probe
}
tb_unbind_vfio() {
  echo > "/sys/bus/pci/devices/$1/driver_override"
  [ -e "/sys/bus/pci/devices/$1/driver" ] && echo "$1" > "/sys/bus/pci/devices/$1/driver/unbind"
  echo "$1" > /sys/bus/pci/drivers_probe
}

# Starts busybox udhcpd on the virtio-net NIC, serving ${TB_NET_PREFIX}.100-150 with the test host
# as router. Idempotent.
tb_dhcp_server() {
  local ifc
  ifc=$(tb_netdev $TB_PARTNER)
  [ -n "$ifc" ] || { echo "tb_dhcp_server: no network interface on $TB_PARTNER" >&2; return 1; }
  ip link set "$ifc" up
  ip addr replace "$TB_NET_HOST/24" dev "$ifc"
  pgrep -f 'udhcpd.*/tmp/udhcpd.conf' >/dev/null && return 0
  mkdir -p /var/lib/misc
  cat > /tmp/udhcpd.conf <<CONF
start $TB_NET_PREFIX.100
end $TB_NET_PREFIX.150
interface $ifc
lease_file /tmp/udhcpd.leases
option subnet 255.255.255.0
option router $TB_NET_HOST
option lease 3600
CONF
  : > /tmp/udhcpd.leases
  busybox udhcpd /tmp/udhcpd.conf
}

# tb_bridge_dhcp BRIDGE PREFIX: a Linux bridge BRIDGE with PREFIX.1/24 and busybox udhcpd on it serving
# PREFIX.100-150 (router PREFIX.1), for guests' virtio NICs on taps enslaved to it.
tb_bridge_dhcp() {
  local br=$1 prefix=$2
  modprobe bridge 2>/dev/null
  ip link add "$br" type bridge || { echo "tb_bridge_dhcp: cannot create bridge $br" >&2; return 1; }
  ip addr add "$prefix.1/24" dev "$br"
  ip link set "$br" up
  cat > "/tmp/udhcpd-$br.conf" <<CONF
start $prefix.100
end $prefix.150
interface $br
lease_file /tmp/udhcpd-$br.leases
option subnet 255.255.255.0
option router $prefix.1
option lease 3600
CONF
  : > "/tmp/udhcpd-$br.leases"
  busybox udhcpd "/tmp/udhcpd-$br.conf"
}

# Enables N working VFs on QEMU's NVMe PF: QEMU's VFs need flexible queue and interrupt resources
# assigned through NVMe virtualization management (NVMe 1.4 "Virtualization Management" command)
# before they can be brought online. The recipe: take the PF's own flexible resources away, reset,
# create the VFs, then give each secondary controller k queues (-r 0) and interrupts (-r 1) and set it
# online (-a 9).
tb_nvme_vfs() {
  local n=$1 pf=/sys/bus/pci/devices/$TB_NVME ctrl
  ctrl=/dev/$(ls "$pf/nvme" | head -n1)
  [ -c "$ctrl" ] || { echo "tb_nvme_vfs: no NVMe controller device for $TB_NVME" >&2; return 1; }
  echo 0 > "$pf/sriov_numvfs"
  nvme virt-mgmt "$ctrl" -c 0 -r 1 -a 1 -n 0 >/dev/null
  nvme virt-mgmt "$ctrl" -c 0 -r 0 -a 1 -n 0 >/dev/null
  nvme reset "$ctrl" >/dev/null
  echo 1 > "$pf/reset"
  [ "$n" -gt 0 ] || return 0
  echo 0 > "$pf/sriov_drivers_autoprobe"
  echo "$n" > "$pf/sriov_numvfs"
  local k
  for k in $(seq 1 "$n"); do
    nvme virt-mgmt "$ctrl" -c "$k" -r 1 -a 8 -n 1 >/dev/null
    nvme virt-mgmt "$ctrl" -c "$k" -r 0 -a 8 -n 2 >/dev/null
    nvme virt-mgmt "$ctrl" -c "$k" -r 0 -a 9 -n 0 >/dev/null
  done
  echo 1 > "$pf/sriov_drivers_autoprobe"
}
# The address of VF k (1-based) of the NVMe PF.
tb_nvme_vf() { basename "$(readlink "/sys/bus/pci/devices/$TB_NVME/virtfn$(($1 - 1))")"; }

# tb_domain_xml NAME BDF MANAGED STEPS [SERIAL]: libvirt domain XML (stdout) for altoctl: a 256 MiB,
# 1-vCPU guest of the test initramfs that runs STEPS (the text after guest.steps=, which may carry
# more guest.* arguments), with the PCI device BDF as <hostdev managed='MANAGED'> (alias hostdev0).
# SERIAL: pty (default; with a serial console, for `altoctl console`) or a file path for the console.
tb_domain_xml() {
  local name=$1 bdf=$2 managed=$3 steps=$4 serial=${5:-pty} d b s f console
  IFS=':.' read -r d b s f <<<"$bdf"
  if [ "$serial" = pty ]; then
    console="<serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>"
  else
    console="<serial type='file'><source path='$serial'/></serial>"
  fi
  cat <<XML
<domain type='kvm'>
  <name>$name</name>
  <memory unit='MiB'>256</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$(tb_kernel)</kernel>
    <initrd>$ALTOVIRT_BUILD/testbed/guest-initrd.gz</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet guest.steps=$steps</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    $console
    <hostdev mode='subsystem' type='pci' managed='$managed'>
      <driver name='vfio'/>
      <source><address domain='0x$d' bus='0x$b' slot='0x$s' function='0x$f'/></source>
      <alias name='hostdev0'/>
    </hostdev>
  </devices>
</domain>
XML
}

# tb_stratovirt_xml NAME DISK BDF: StratoVirt's published domain XML (tests/data/stratovirt_x86.xml,
# the file the seed guide starts from) with what the guide's user edits: the name, the paths (the
# emulator: altovirt; the Debian kernel, the block device DISK as root disk, /dev/urandom as entropy
# file) and the <hostdev>
# address (BDF); and what the nested test host needs: 512 MiB on 2 MiB hugepages instead of 8 GiB on
# 1 GiB pages, 1 vCPU, the Debian initramfs (the distribution kernel loads virtio_blk from it). Still
# removed: the UEFI <loader>/<nvram> (OVMF needs the test host's CR8-intercepting kvm-amd, which only
# system.firmware loads; the kernel boots directly here). Its <graphics> (VNC on 0.0.0.0, autoport)
# and <video> stay. Its
# <interface> is tap0 on bridge qbr0 (tb_bridge_dhcp qbr0 ... first); it needs 256 free 2 MiB
# hugepages on /dev/hugepages and /dev/vhost-vsock.
tb_stratovirt_xml() {
  local name=$1 disk=$2 bdf=$3 d b s f img=$ALTOVIRT_BUILD/testbed/debian
  IFS=':.' read -r d b s f <<<"$bdf"
  sed -e "s|<name>StratoVirt</name>|<name>$name</name>|" \
      -e "s|<memory unit='GiB'>8</memory>|<memory unit='MiB'>512</memory>|" \
      -e "s|<page size='1' unit='GiB' />|<page size='2' unit='MiB' />|" \
      -e "s|<vcpu>4</vcpu>|<vcpu>1</vcpu>|" \
      -e "s|<kernel>/path/to/standard_vm_kernel</kernel>|<kernel>$img/vmlinuz</kernel><initrd>$img/initrd.img</initrd>|" \
      -e "/<loader /d" -e "/<nvram /d" \
      -e "s|/path/to/rootfs|$disk|" \
      -e "s|/path/to/random_file|/dev/urandom|" \
      -e "s|/path/to/StratoVirt_binary_file|$ALTOVIRT_BUILD/tools/altovirt/altovirt|" \
      -e "s|<address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>|<address domain='0x$d' bus='0x$b' slot='0x$s' function='0x$f'/>|" \
      "$ALTOVIRT_SRC/tests/data/stratovirt_x86.xml"
}

# tb_hugepages N: at least N free 2 MiB hugepages, hugetlbfs mounted on /dev/hugepages.
tb_hugepages() {
  local want=$1 have
  have=$(cat /proc/sys/vm/nr_hugepages)
  [ "$have" -ge "$want" ] || echo "$want" > /proc/sys/vm/nr_hugepages
  mountpoint -q /dev/hugepages || { mkdir -p /dev/hugepages && mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages; } || return 1
  [ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)" -ge "$want" ]
}

# tb_standard_vm_xml NAME DISK BDF [EXTRA_DEVICES]: the standard VM of StratoVirt's x86 example domain
# with only paths and the hostdev edited: seven pcie-root-ports, the Debian image (testbed/debian-image,
# its kernel and initrd from $ALTOVIRT_BUILD/testbed/debian) on the block device DISK as the virtio-blk
# root disk behind root port 1 on an I/O thread, the virtio console (hvc0) behind root port 3, and the
# PCI device BDF as a managed <hostdev> (placed behind a free root port by altoctl). 1 vCPU, 512 MiB.
tb_standard_vm_xml() {
  local name=$1 disk=$2 bdf=$3 extra=${4:-} d b s f i ports=""
  IFS=':.' read -r d b s f <<<"$bdf"
  for i in 1 2 3 4 5 6 7; do ports+="
    <controller type='pci' index='$i' model='pcie-root-port'/>"; done
  cat <<XML
<domain type='kvm'>
  <name>$name</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <iothreads>1</iothreads>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$ALTOVIRT_BUILD/testbed/debian/vmlinuz</kernel>
    <initrd>$ALTOVIRT_BUILD/testbed/debian/initrd.img</initrd>
    <cmdline>console=hvc0 root=/dev/vda reboot=k panic=1 rw</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <controller type='pci' index='0' model='pcie-root'/>$ports
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' iothread='1' cache='none' io='io_uring'/>
      <source dev='$disk'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>$extra
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
