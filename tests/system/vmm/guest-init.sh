#!/bin/busybox sh
# /init of the second-level guest booted by altovirt in the vmm system test and boot-time script.
# Prints markers the host side checks, then powers off (or reboots, when the kernel command line
# says altovirt.action=reboot).
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "ALTOVIRT-GUEST-INIT uptime=$(cut -d' ' -f1 /proc/uptime)"
echo "ALTOVIRT-GUEST-MEMTOTAL $(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "ALTOVIRT-GUEST-NPROC $(nproc)"
for d in /sys/bus/pci/devices/*; do
  [ -e "$d" ] && echo "ALTOVIRT-GUEST-PCI $(basename $d) $(cat $d/vendor):$(cat $d/device) class=$(cat $d/class)"
done
if dmesg | grep -q -e 'PCI: MMCONFIG for domain' -e 'ECAM \[mem'; then echo "ALTOVIRT-GUEST-ECAM yes"; else echo "ALTOVIRT-GUEST-ECAM no"; fi
dmesg | grep -i -e mmconfig -e ecam | sed 's/^/ALTOVIRT-GUEST-DMESG /'
[ -e /sys/bus/pci/devices/0000:00:00.0/config ] && echo "ALTOVIRT-GUEST-CFGSIZE $(stat -c %s /sys/bus/pci/devices/0000:00:00.0/config)"
action=poweroff
grep -q 'altovirt.action=reboot' /proc/cmdline && action=reboot
echo "ALTOVIRT-GUEST-DONE $action"
$action -f
sleep 30
