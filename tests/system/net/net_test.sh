#!/usr/bin/env bash
# virtio-net end to end inside the test host (real kernel, tun, bridge, vhost-net, nested KVM):
#  - a bridge avbr0 (10.0.77.1/24) with busybox udhcpd, and a tap avtap0 on it;
#  - a second-level guest with -device virtio-net-pci on that tap gets a DHCP lease over the guest's
#    virtio_net driver, pings the test host 10 times without loss, and the test host pings it; its
#    MAC is the one given; once with vhost=on (the kernel's vhost worker for altovirt exists) and
#    once with vhost=off (altovirt's own data path); multi-queue (queues=2, 2 vCPUs, a multi-queue
#    tap) with vhost on and off: the guest enables both pairs, vhost has a worker per pair, and a
#    ping pinned to each CPU comes back on that CPU's receive queue;
#  - bad input fails before anything starts, naming the option (tap name, MAC, netdev id, queues=2
#    on a single-queue tap,
#    vhost=on without /dev/vhost-net is covered by the unit tests' message, not here);
#  - altoctl create with <interface type='ethernet'><target dev='avtap1'/><source bridge='avbr0'/>
#    creates the missing tap, puts it on the bridge, the guest gets its lease over it, and the tap
#    is gone when the domain ends; an existing tap (avtap0) stays after its domain ends.
. "$(dirname "$0")/../lib.sh"

modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
[ -c /dev/kvm ] || fail "no /dev/kvm in the test host"
ALTOVIRT=$ALTOVIRT_BUILD/tools/altovirt/altovirt
ALTOCTL=$ALTOVIRT_BUILD/tools/altoctl/altoctl
[ -x "$ALTOVIRT" ] || fail "$ALTOVIRT is not built"
export ALTOVIRT_STATE_DIR=/run/altovirt ALTOVIRT_CONFIG_DIR=/tmp/altovirt-domains
modprobe tun; modprobe bridge; modprobe vhost_net
[ -c /dev/net/tun ] || fail "no /dev/net/tun in the test host"
[ -c /dev/vhost-net ] || fail "no /dev/vhost-net in the test host"

step "bridge, DHCP server and tap"
tb_bridge_dhcp avbr0 10.0.77 || fail "bridge avbr0 with udhcpd"
ip tuntap add dev avtap0 mode tap || fail "cannot create tap avtap0"
ip link set avtap0 master avbr0 up
ip tuntap add dev avtap2 mode tap multi_queue || fail "cannot create multi-queue tap avtap2"
ip link set avtap2 master avbr0 up
pass "bridge avbr0 with udhcpd, taps avtap0 and avtap2 (multi-queue) on it"

guest_args() {  # guest_args LOG [CPUS]
  echo -m 256M -smp "${2:-1}" -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -serial stdio -no-reboot -D "$1"
}

# --- bad input: exit 2 (usage) or 1 (the tap), a message naming the option ---------------------
step "bad input"
expect_fail() {  # expect_fail WHAT STATUS NEEDLE ARGS...
  local what=$1 status=$2 needle=$3 out rc
  shift 3
  out=$(timeout 60 "$ALTOVIRT" $(guest_args /tmp/net-bad.log) -append "console=ttyS0" "$@" </dev/null 2>&1)
  rc=$?
  expect_eq "$what: exit status" "$status" "$rc"
  expect_contains "$what: message" "$needle" "$out"
}
expect_fail "tap name of 16 characters" 2 "ifname=a-name-of-16-chr: a tap name is 1..15 characters" \
  -netdev tap,id=n0,ifname=a-name-of-16-chr,script=no -device virtio-net-pci,netdev=n0
expect_fail "malformed MAC" 1 "mac=52:54:00:zz:00:01" \
  -netdev tap,id=n0,ifname=avtap0,script=no -device virtio-net-pci,netdev=n0,mac=52:54:00:zz:00:01
expect_fail "unknown netdev" 1 "netdev=nope: no -netdev (or netdev_add) has id=nope" \
  -netdev tap,id=n0,ifname=avtap0 -device virtio-net-pci,netdev=nope
expect_fail "queues=2 on a single-queue tap" 1 "tap avtap0 exists as a single-queue tap: queues>1 needs one made with 'ip tuntap add dev avtap0 mode tap multi_queue'" \
  -netdev tap,id=n0,ifname=avtap0,queues=2 -device virtio-net-pci,netdev=n0
expect_fail "queues=1 on a multi-queue tap" 1 "tap avtap2 exists as a multi-queue tap: give queues=N" \
  -netdev tap,id=n0,ifname=avtap2 -device virtio-net-pci,netdev=n0
expect_fail "script=" 2 "altovirt runs no scripts" -netdev tap,id=n0,ifname=avtap0,script=/etc/qemu-ifup
ip link show avtap0 >/dev/null 2>&1 || fail "a refused start removed the existing tap avtap0"
ip link show avtap2 >/dev/null 2>&1 || fail "a refused start removed the existing tap avtap2"
pass "the existing taps survived the refused starts"

# --- guest boots with vhost on and off -----------------------------------------------------------
run_guest() {  # run_guest NAME VHOST MAC QUEUES (QUEUES > 1: as many vCPUs, and the mq step)
  local name=$1 vhost=$2 mac=$3 queues=$4 pid ip steps=mac,dhcp,ping,pinged tap=avtap0
  [ "$queues" -gt 1 ] && steps=$steps,mq tap=avtap2
  step "guest with vhost=$vhost, queues=$queues"
  timeout 400 "$ALTOVIRT" $(guest_args /tmp/$name.log "$queues") \
    -append "console=ttyS0 panic=-1 quiet guest.steps=$steps" \
    -netdev tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=$vhost,queues=$queues \
    -device virtio-net-pci,netdev=n0,mac=$mac -pidfile /tmp/$name.pid </dev/null >/tmp/$name.out 2>&1 &
  pid=$!
  wait_for 300 grep -q -e GUEST-LEASE -e GUEST-FAIL /tmp/$name.out ||
    { cat /tmp/$name.out; fail "$name: no DHCP lease within 300 s"; }
  grep -q GUEST-FAIL /tmp/$name.out && { cat /tmp/$name.out; cat /tmp/$name.log; fail "$name: the guest failed"; }
  ip=$(awk '/GUEST-LEASE/ { split($3, a, "/"); print a[1]; exit }' /tmp/$name.out)
  pass "$name: guest lease $ip over virtio-net"
  # vhost-net's worker is a kernel thread named vhost-<owner pid>, the owner being altovirt (not
  # the timeout wrapping it).
  local vm
  vm=$(cat /tmp/$name.pid)
  if [ "$vhost" = on ]; then
    # One vhost-net device, so one worker, per queue pair.
    expect_eq "$name: the kernel's vhost-net workers serving altovirt (vhost-$vm), one per queue pair" \
      "$queues" "$(ps -e -o comm= | grep -cx "vhost-$vm")"
  else
    ps -e -o comm= | grep -qx "vhost-$vm" && fail "$name: a vhost worker exists with vhost=off"
    pass "$name: no vhost worker with vhost=off"
  fi
  out=$(busybox ping -c 3 -W 5 "$ip" 2>&1) || { echo "$out"; fail "$name: the test host cannot ping the guest at $ip"; }
  pass "$name: the test host pings the guest ($(echo "$out" | tail -n1))"
  wait_pid 120 "$pid" "altovirt ($name)"
  rc=$?
  expect_eq "$name: altovirt exits 0 after the guest's poweroff" 0 "$rc"
  grep -q GUEST-DONE /tmp/$name.out || { cat /tmp/$name.out; fail "$name: the guest did not finish its steps"; }
  expect_contains "$name: guest pinged the test host without loss" "GUEST-PING round-trip" "$(cat /tmp/$name.out)"
  expect_contains "$name: guest saw the host's pings" "GUEST-PINGED" "$(cat /tmp/$name.out)"
  expect_contains "$name: guest MAC is the one given, on virtio_net" "GUEST-MAC eth0 $mac driver=virtio_net" \
    "$(grep GUEST-MAC /tmp/$name.out | tr -d '\r')"
  expect_contains "$name: the log names the data path" "$([ "$vhost" = on ] && echo vhost-net || echo 'data path in altovirt')" \
    "$(cat /tmp/$name.log)"
  [ "$queues" -gt 1 ] || return 0
  # Multi-queue: the guest's driver switched every pair on, and each CPU's ping came back on its own
  # receive queue (see the mq step in testbed/guest/init).
  expect_contains "$name: the guest has $queues queue pairs" "rx=$queues tx=$queues cpus=$queues" \
    "$(grep GUEST-MQ-QUEUES /tmp/$name.out | tr -d '\r')"
  expect_contains "$name: the log shows the guest's VQ_PAIRS_SET" "the guest uses $queues of $queues queue pairs" \
    "$(cat /tmp/$name.log)"
  local c n
  for c in $(seq 0 $((queues - 1))); do
    n=$(awk -v c="$c" '$1 == "GUEST-MQ-CPU" && $2 == c { sub(/^\+/, "", $4); print $4 }' /tmp/$name.out | tr -d '\r')
    [ "${n:-0}" -ge 1 ] || { grep GUEST-MQ /tmp/$name.out; fail "$name: the ping from CPU $c raised no interrupt on rx queue $c"; }
    pass "$name: CPU $c's ping went out and came back on queue pair $c ($n interrupts on input.$c)"
  done
}
# Single-queue with vhost is also the Debian guest's NIC (tests/system/guest); vhost=on here is
# multi-queue, vhost=off both ways.
run_guest vhost-on on 52:54:00:aa:bb:01 2
run_guest vhost-off off 52:54:00:aa:bb:02 1
run_guest mq-vhost-off off 52:54:00:aa:bb:03 2
ip link show avtap0 >/dev/null 2>&1 || fail "the existing tap avtap0 is gone after altovirt exited"
pass "the existing tap avtap0 stays after altovirt exited"

# --- altoctl: <interface type='ethernet'> with a tap that does not exist yet -------------------
step "altoctl: a tap created for the domain and removed after it"
domain() {  # domain NAME INTERFACE_XML
  cat <<XML
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>$GUEST_KERNEL</kernel><initrd>$GUEST_INITRD</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet guest.steps=mac,dhcp,ping</cmdline></os>
  <features><acpi/></features>
  <on_reboot>destroy</on_reboot>
  <devices>
    <serial type='pty'><target port='0'/></serial>
    $2
  </devices>
</domain>
XML
}
domain nobridge "<interface type='bridge'><source bridge='nosuchbr0'/><target dev='avtap9'/><model type='virtio'/></interface>" > /tmp/nobridge.xml
out=$("$ALTOCTL" create /tmp/nobridge.xml 2>&1)
expect_eq "missing bridge: create fails" 1 "$?"
expect_contains "missing bridge: message" "<source bridge='nosuchbr0'/>: no such bridge" "$out"
ip link show avtap9 >/dev/null 2>&1 && fail "missing bridge: tap avtap9 was left behind"
pass "missing bridge: no tap left behind"

ip link show avtap1 >/dev/null 2>&1 && fail "avtap1 exists before the test"
domain ethnet "<interface type='ethernet'><mac address='52:54:00:aa:bb:03'/><source bridge='avbr0'/><target dev='avtap1'/><model type='virtio'/><driver name='vhost'/></interface>" > /tmp/ethnet.xml
out=$("$ALTOCTL" create /tmp/ethnet.xml 2>&1)
expect_eq "create ethnet: exit status (output: $out)" 0 "$?"
ip link show avtap1 >/dev/null 2>&1 || fail "altoctl did not create tap avtap1"
expect_contains "avtap1 is on the bridge" "master avbr0" "$(ip link show avtap1)"
pass "altoctl created tap avtap1 on avbr0"
( "$ALTOCTL" console ethnet </dev/null >/tmp/ethnet-console.out 2>&1; echo $? >/tmp/ethnet-console.done ) &
wait_for 300 grep -q -e GUEST-DONE -e GUEST-FAIL /tmp/ethnet-console.out ||
  { cat /tmp/ethnet-console.out; fail "ethnet: the guest did not finish within 300 s"; }
grep -q GUEST-FAIL /tmp/ethnet-console.out && { cat /tmp/ethnet-console.out; fail "ethnet: the guest failed"; }
expect_contains "ethnet: lease over the created tap" "GUEST-LEASE eth0 10.0.77." "$(cat /tmp/ethnet-console.out)"
expect_contains "ethnet: MAC from the XML" "GUEST-MAC eth0 52:54:00:aa:bb:03" "$(tr -d '\r' </tmp/ethnet-console.out)"
wait_for 60 sh -c "'$ALTOCTL' domstate ethnet | grep -q 'shut off'" || fail "ethnet did not shut off after the guest's poweroff"
wait_for 30 sh -c '! ip link show avtap1 >/dev/null 2>&1' || fail "tap avtap1 is still there after the domain ended"
pass "the tap altoctl created is gone after the domain ended"
ip link show avtap0 >/dev/null 2>&1 || fail "avtap0 vanished"
finish
