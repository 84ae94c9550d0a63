#!/usr/bin/env bash
# The standard VM's small virtio devices, inside the testbed's test host with a real guest kernel:
#  - virtio-rng with -object rng-random,filename=/dev/urandom and max-bytes=1024,period=1000: the
#    guest's /dev/hwrng is the device, reading it delivers data, and no more than ~1 KiB/s;
#  - virtio-balloon: QMP balloon to half the RAM shrinks the guest's MemTotal and the VMM's RSS
#    falls; balloon back returns the memory; query-balloon and the guest's stats (qom-get);
#  - vhost-vsock with guest-cid=5: a listener in the guest answers the test host over AF_VSOCK; a
#    second VM with the same CID is refused (exit 1, the message names the CID); CID 2 is refused;
#  - an unreadable rng backend is an error naming the option.
. "$(dirname "$0")/../lib.sh"

modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
[ -c /dev/kvm ] || fail "no /dev/kvm in the test host"
modprobe vhost_vsock || fail "the test host kernel has no vhost_vsock module"
command -v socat >/dev/null || fail "socat is not installed (apt-get install socat)"
ALTOVIRT=$ALTOVIRT_BUILD/tools/altovirt/altovirt
PROBE=$ALTOVIRT_BUILD/tests/system/vsock_probe
[ -x "$ALTOVIRT" ] || fail "$ALTOVIRT is not built"
[ -x "$PROBE" ] || fail "$PROBE is not built"
kernel=/boot/vmlinuz-$("$ALTOVIRT_SRC/testbed/kernel-version")
initrd=/tmp/devices-initrd.gz
run_ok "guest initramfs built" "$ALTOVIRT_SRC/testbed/mkinitrd" --init "$ALTOVIRT_SRC/tests/system/vmm/guest-devices-init.sh" \
  --module virtio_pci --module virtio_rng --module virtio_balloon --module vmw_vsock_virtio_transport \
  --file "$PROBE:/bin/vsock_probe" --out "$initrd"

step "bad input"
out=$(timeout 60 "$ALTOVIRT" -m 256M -kernel "$kernel" -initrd "$initrd" -serial none \
  -object rng-random,id=r0,filename=/nonexistent/rng -device virtio-rng-pci,rng=r0 </dev/null 2>&1)
expect_eq "unreadable rng backend: exit 1" 1 "$?"
expect_contains "unreadable rng backend: names the option" "-object rng-random,id=r0,filename=/nonexistent/rng" "$out"
out=$(timeout 60 "$ALTOVIRT" -m 256M -kernel "$kernel" -initrd "$initrd" -serial none \
  -device vhost-vsock-pci,guest-cid=2 </dev/null 2>&1)
expect_eq "vsock CID 2: exit 1" 1 "$?"
expect_contains "vsock CID 2: refused" "guest CID 2 is reserved" "$out"

step "boot with rng, balloon and vsock"
sock=/tmp/devices.qmp out=/tmp/devices.out
rm -f "$sock"
timeout 900 "$ALTOVIRT" -name devices -m 256M -smp 2 -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1 rng_core.default_quality=0" -serial stdio -qmp "unix:$sock,server,nowait" -D /tmp/devices.log -pidfile /tmp/devices.pid \
  -object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0,max-bytes=1024,period=1000 \
  -device virtio-balloon-pci,id=balloon0,guest-stats-polling-interval=2 \
  -device vhost-vsock-pci,guest-cid=5 </dev/null >"$out" 2>&1 &
vm=$!
cleanup() {
  local rc=$?
  # On a failure, what tells a dead or stuck VMM from a slow guest: its console and its log.
  [ "$rc" = 0 ] || { echo "# --- the guest's console (last 30 lines)"; tail -n 30 "$out"; echo "# --- /tmp/devices.log (last 30 lines)"; tail -n 30 /tmp/devices.log; }
  kill "$vm" 2>/dev/null
}
trap cleanup EXIT
marker() { sed 's/\r$//' "$out" | awk -v m="$1" '$1 == m { $1 = ""; sub(/^ +/, ""); print; exit }'; }
last_marker() { sed 's/\r$//' "$out" | awk -v m="$1" '$1 == m { $1 = ""; sub(/^ +/, ""); v = $0 } END { print v }'; }
wait_for 300 grep -q ALTOVIRT-GUEST-READY "$out" || { tail -n 40 "$out"; cat /tmp/devices.log; fail "the guest did not get ready"; }
pass "guest booted with virtio-rng, virtio-balloon and vhost-vsock"
grep ALTOVIRT-GUEST-PCI "$out" | sed 's/\r$//'
expect_contains "guest binds virtio-rng (1af4:1044)" "0x1af4:0x1044 driver=virtio-pci" "$(grep ALTOVIRT-GUEST-PCI "$out")"
expect_contains "guest binds virtio-balloon (1af4:1045)" "0x1af4:0x1045 driver=virtio-pci" "$(grep ALTOVIRT-GUEST-PCI "$out")"
expect_contains "guest binds vsock (1af4:1053)" "0x1af4:0x1053 driver=virtio-pci" "$(grep ALTOVIRT-GUEST-PCI "$out")"

step "virtio-rng"
expect_contains "the guest's hwrng is virtio" "virtio_rng" "$(marker ALTOVIRT-GUEST-RNG-CURRENT)"
head=$(marker ALTOVIRT-GUEST-RNG-HEAD)
[ "${#head}" = 32 ] || fail "reading 16 bytes of /dev/hwrng gave '$head'"
pass "the guest reads /dev/hwrng ($head)"
read -r bytes t0 t1 <<< "$(marker ALTOVIRT-GUEST-RNG-BYTES)"
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", b - a + 0.999 }')
echo "rng: $bytes bytes in $t0..$t1 s of guest uptime"
[ -n "$bytes" ] && [ "$bytes" -ge 2048 ] || fail "/dev/hwrng delivered only '$bytes' bytes in 5 s (1024 bytes/s allowed)"
pass "/dev/hwrng delivers data continuously ($bytes bytes in 5 s)"
# 1024 bytes per 1000 ms windows: at most one window per started second, plus the first.
limit=$(( (secs + 1) * 1024 ))
[ "$bytes" -le "$limit" ] || fail "rate limit broken: $bytes bytes in ${secs}s (at most $limit with 1024 bytes per second)"
pass "rate limit holds: $bytes bytes in ~${secs}s (<= $limit)"
distinct=$(marker ALTOVIRT-GUEST-RNG-DISTINCT)
[ "$distinct" -ge 200 ] || fail "the random bytes take only $distinct distinct values"
pass "the bytes look random ($distinct distinct byte values)"

step "vhost-vsock"
expect_contains "guest listens on vsock" "listening on port 1234 (local CID 5)" "$(marker ALTOVIRT-GUEST-VSOCK)"
reply=""
for _ in $(seq 30); do
  reply=$(timeout 10 "$PROBE" connect 5 1234 2>&1) && break
  sleep 1
done
expect_eq "the guest answers the test host over AF_VSOCK" "hello-from-guest from CID 5" "$reply"
out2=$(timeout 60 "$ALTOVIRT" -m 128M -kernel "$kernel" -initrd "$initrd" -serial none \
  -device vhost-vsock-pci,guest-cid=5 </dev/null 2>&1)
expect_eq "a second VM with CID 5: exit 1" 1 "$?"
expect_contains "a second VM with CID 5: the message names the CID" "guest CID 5 is already used by another VM" "$out2"

step "virtio-balloon"
qmp() {  # qmp JSON... : one session, prints the replies
  { echo '{"execute":"qmp_capabilities"}'; for c in "$@"; do echo "$c"; done; sleep 1; } |
    timeout 30 socat - "UNIX-CONNECT:$sock" | sed 's/\r$//' | grep -v '"event"'
}
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$(cat /tmp/devices.pid)/status"; }
read -r total0 _ <<< "$(last_marker ALTOVIRT-GUEST-MEM)"
rss0=$(rss)
echo "before: guest MemTotal $total0 KiB, altovirt RSS $rss0 KiB"
expect_contains "query-balloon: full size" '"actual":268435456' "$(qmp '{"execute":"query-balloon"}')"
expect_contains "balloon to 128 MiB" '{"return":{}}' "$(qmp '{"execute":"balloon","arguments":{"value":134217728}}')"
shrunk() {
  local t
  read -r t _ <<< "$(last_marker ALTOVIRT-GUEST-MEM)"
  [ -n "$t" ] && [ $((total0 - t)) -ge 102400 ]
}
wait_for 180 shrunk || fail "guest MemTotal did not shrink by 100 MiB: $(last_marker ALTOVIRT-GUEST-MEM) (was $total0)"
read -r total1 _ <<< "$(last_marker ALTOVIRT-GUEST-MEM)"
pass "the guest's MemTotal shrank: $total0 -> $total1 KiB"
balloon_at() { qmp '{"execute":"query-balloon"}' | grep -q "\"actual\":$1"; }
# The driver reports `actual` as it inflates; it reaches the target soon after MemTotal shrank.
wait_for 60 balloon_at 134217728 || fail "query-balloon: $(qmp '{"execute":"query-balloon"}')"
pass "query-balloon: actual 128 MiB"
rss1=$(rss)
[ $((rss0 - rss1)) -ge 32768 ] || fail "altovirt's RSS did not fall by 32 MiB: $rss0 -> $rss1 KiB"
pass "altovirt's RSS fell: $rss0 -> $rss1 KiB"
stats=$(qmp '{"execute":"qom-get","arguments":{"path":"/machine/peripheral/balloon0","property":"guest-stats"}}')
echo "$stats"
echo "$stats" | grep -q '"stat-total-memory":[1-9]' || fail "no guest stats: $stats"
pass "the guest reports its memory statistics"
expect_contains "balloon back to 256 MiB" '{"return":{}}' "$(qmp '{"execute":"balloon","arguments":{"value":268435456}}')"
grown() {
  local t
  read -r t _ <<< "$(last_marker ALTOVIRT-GUEST-MEM)"
  [ -n "$t" ] && [ $((total0 - t)) -le 4096 ]
}
wait_for 180 grown || fail "guest MemTotal did not come back: $(last_marker ALTOVIRT-GUEST-MEM) (was $total0)"
pass "the memory came back: MemTotal $(last_marker ALTOVIRT-GUEST-MEM | cut -d' ' -f1) KiB"

step "quit"
qmp '{"execute":"quit"}' >/dev/null
wait_pid 60 "$vm" altovirt
expect_eq "altovirt exits 0 on quit" 0 "$?"
trap - EXIT
finish
