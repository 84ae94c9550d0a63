#!/bin/busybox sh
# /init of the second-level guest booted by altovirt in the vmm system test and boot-time script.
# Prints markers the host side checks, then powers off (or reboots, when the kernel command line
# says altovirt.action=reboot).
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "ALTOVIRT-GUEST-INIT uptime=$(cut -d' ' -f1 /proc/uptime)"
# Modules the initramfs was built with (the virtio-blk boot adds virtio_pci and virtio_blk).
[ -f /etc/modules.order ] && while read -r m; do insmod "$m" 2>/dev/null; done < /etc/modules.order
echo "ALTOVIRT-GUEST-MEMTOTAL $(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "ALTOVIRT-GUEST-NPROC $(nproc)"
for d in /sys/bus/pci/devices/*; do
  [ -e "$d" ] && echo "ALTOVIRT-GUEST-PCI $(basename $d) $(cat $d/vendor):$(cat $d/device) class=$(cat $d/class)"
done
if dmesg | grep -q -e 'PCI: MMCONFIG for domain' -e 'ECAM \[mem'; then echo "ALTOVIRT-GUEST-ECAM yes"; else echo "ALTOVIRT-GUEST-ECAM no"; fi
dmesg | grep -i -e mmconfig -e ecam | sed 's/^/ALTOVIRT-GUEST-DMESG /'
[ -e /sys/bus/pci/devices/0000:00:00.0/config ] && echo "ALTOVIRT-GUEST-CFGSIZE $(stat -c %s /sys/bus/pci/devices/0000:00:00.0/config)"
# altovirt.disk=1: a virtio-blk disk is attached; report it, read its first bytes (written by the
# host) and write a marker at sector 8, flushed to the device.
if grep -q 'altovirt.disk=1' /proc/cmdline; then
  n=100
  while [ ! -b /dev/vda ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  if [ -b /dev/vda ]; then
    echo "ALTOVIRT-GUEST-VDA-SIZE $(cat /sys/block/vda/size)"
    echo "ALTOVIRT-GUEST-VDA-SERIAL $(cat /sys/block/vda/serial 2>/dev/null)"
    echo "ALTOVIRT-GUEST-VDA-RO $(cat /sys/block/vda/ro)"
    echo "ALTOVIRT-GUEST-VDA-HEAD $(dd if=/dev/vda bs=16 count=1 2>/dev/null)"
    if echo GUESTWROTE | dd of=/dev/vda bs=512 seek=8 conv=sync,fsync 2>/dev/null; then
      sync
      echo "ALTOVIRT-GUEST-VDA-WRITE ok"
    else
      echo "ALTOVIRT-GUEST-VDA-WRITE failed"
    fi
    for d in /sys/bus/pci/devices/*; do
      [ "$(cat $d/vendor)" = 0x1af4 ] || continue
      modes=$(cat "$d"/msi_irqs/* 2>/dev/null | sort -u | tr '\n' ' ' | sed 's/ $//')
      echo "ALTOVIRT-GUEST-VDA-IRQ ${modes:-intx}"
    done
  else
    echo "ALTOVIRT-GUEST-VDA-SIZE none"
  fi
  dmesg | grep -i -e virtio -e vda | sed 's/^/ALTOVIRT-GUEST-DMESG /'
fi
action=poweroff
grep -q 'altovirt.action=reboot' /proc/cmdline && action=reboot
echo "ALTOVIRT-GUEST-DONE $action"
$action -f
sleep 30
