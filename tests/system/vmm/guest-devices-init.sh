#!/bin/busybox sh
# /init of the second-level guest of the guest_devices system test (virtio-rng, virtio-balloon,
# vhost-vsock). Prints markers the host side reads from the serial console, then keeps reporting
# its memory once a second until the host ends the VM (QMP quit), or powers off after 10 minutes.
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "ALTOVIRT-GUEST-INIT uptime=$(cut -d' ' -f1 /proc/uptime)"
[ -f /etc/modules.order ] && while read -r m; do insmod "$m" 2>/dev/null; done < /etc/modules.order
for d in /sys/bus/pci/devices/*; do
  echo "ALTOVIRT-GUEST-PCI $(basename $d) $(cat $d/vendor):$(cat $d/device) driver=$(basename "$(readlink $d/driver)" 2>/dev/null)"
done

# virtio-rng: the device is the hwrng; read it for 5 s (the host limits it to 1024 bytes/s).
n=100
while [ ! -c /dev/hwrng ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
echo "ALTOVIRT-GUEST-RNG-CURRENT $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
# The hwrng read() returns only when it has filled the whole request; busybox cat asks for a large
# buffer, which at 1 KiB/s takes longer than the test waits. dd with 64-byte blocks (the virtio-rng
# driver's own buffer size) writes every block as it comes.
echo "ALTOVIRT-GUEST-RNG-HEAD $(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \n')"
t0=$(cut -d' ' -f1 /proc/uptime)
timeout 5 dd if=/dev/hwrng of=/tmp/rng bs=64 2>/dev/null
t1=$(cut -d' ' -f1 /proc/uptime)
echo "ALTOVIRT-GUEST-RNG-BYTES $(wc -c < /tmp/rng) $t0 $t1"
echo "ALTOVIRT-GUEST-RNG-DISTINCT $(od -An -tx1 -v /tmp/rng | tr ' ' '\n' | grep -v '^$' | sort -u | wc -l)"

# vhost-vsock: answer connections from the host.
if [ -x /bin/vsock_probe ]; then
  /bin/vsock_probe listen 1234 hello-from-guest > /tmp/vsock.log 2>&1 &
  sleep 1
  echo "ALTOVIRT-GUEST-VSOCK $(cat /tmp/vsock.log)"
fi

# Touch memory, then free it: the host then has resident pages the balloon can give back.
dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null
rm -f /tmp/fill
echo "ALTOVIRT-GUEST-READY"
i=0
while [ $i -lt 600 ]; do
  echo "ALTOVIRT-GUEST-MEM $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) $(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)"
  sleep 1
  i=$((i + 1))
done
poweroff -f
