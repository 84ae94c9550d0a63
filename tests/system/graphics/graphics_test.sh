#!/usr/bin/env bash
# Graphics inside the testbed's test host, with a real guest kernel and a real VNC client
# (tests/system/vnc_probe, on libvncclient):
#  - a guest with virtio-gpu-pci (640x480), virtio-keyboard-pci and virtio-tablet-pci, -vnc with a
#    password (-object secret): the framebuffer console's text shows on the client's screen; the
#    guest's pattern written to /dev/fb0 (top half red, bottom half blue) arrives pixel for pixel;
#  - keys typed on the client reach the guest's keyboard evdev device with the right key codes, a
#    click reaches the tablet with the position scaled to 0..32767;
#  - two clients at once (one stays connected through everything, the guest's reboot included), a
#    client that leaves mid-update, a wrong password refused;
#  - after the guest reboots, the new boot's pattern shows again on the same server;
#  - the VMM's CPU and RSS with a client connected to an idle screen (printed, not asserted);
#  - bad input: a busy VNC port, a missing secret, and a guest command stream the unit tests cover.
. "$(dirname "$0")/../lib.sh"

modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
[ -c /dev/kvm ] || fail "no /dev/kvm in the test host"
ALTOVIRT=$ALTOVIRT_BUILD/tools/altovirt/altovirt
PROBE=$ALTOVIRT_BUILD/tests/system/vnc_probe
[ -x "$ALTOVIRT" ] || fail "$ALTOVIRT is not built"
[ -x "$PROBE" ] || fail "$PROBE is not built"
command -v python3 >/dev/null || fail "python3 is not installed"
kernel=/boot/vmlinuz-$("$ALTOVIRT_SRC/testbed/kernel-version")
initrd=/tmp/graphics-initrd.gz
run_ok "guest initramfs built" "$ALTOVIRT_SRC/testbed/mkinitrd" --init "$ALTOVIRT_SRC/tests/system/graphics/guest-init.sh" \
  --module virtio_pci --module virtio_gpu --module virtio_input --module evdev --out "$initrd"
echo "vnc-pass" > /tmp/vnc.pw
echo "not-it" > /tmp/vnc-wrong.pw
VNC=127.0.0.1:5901

step "bad input"
out=$(timeout 60 "$ALTOVIRT" -m 256M -kernel "$kernel" -initrd "$initrd" -serial none -vnc :1,password-secret=nope \
  -device virtio-gpu-pci </dev/null 2>&1)
expect_eq "a missing secret: exit 2" 2 "$?"
expect_contains "a missing secret: named" "password-secret=nope names no -object secret" "$out"
python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 5901)); s.listen(1); time.sleep(30)' &
squatter=$!
wait_for 20 sh -c "ss -ltn | grep -q ':5901 '" || fail "the port squatter did not start"
out=$(timeout 60 "$ALTOVIRT" -m 256M -kernel "$kernel" -initrd "$initrd" -serial none -vnc :1 -device virtio-gpu-pci </dev/null 2>&1)
expect_eq "a busy VNC port: exit 1" 1 "$?"
expect_contains "a busy VNC port: says so" "in use (port 5901)" "$out"
kill "$squatter" 2>/dev/null; wait "$squatter" 2>/dev/null

step "boot with virtio-gpu, keyboard and tablet on VNC"
out=/tmp/graphics.out sock=/tmp/graphics.qmp
rm -f "$sock"
timeout 1200 "$ALTOVIRT" -name graphics -m 512M -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1" -serial stdio -qmp "unix:$sock,server,nowait" -D /tmp/graphics.log \
  -object secret,id=vncpw,file=/tmp/vnc.pw -vnc :1,password-secret=vncpw \
  -device virtio-gpu-pci,xres=640,yres=480 -device virtio-keyboard-pci -device virtio-tablet-pci </dev/null >"$out" 2>&1 &
vm=$!
holder=""
cleanup() {
  local rc=$?
  [ "$rc" = 0 ] || { echo "# --- the guest's console (last 30 lines)"; tail -n 30 "$out"; echo "# --- /tmp/graphics.log (last 30 lines)"; tail -n 30 /tmp/graphics.log; }
  [ -n "$holder" ] && kill "$holder" 2>/dev/null
  kill "$vm" 2>/dev/null
}
trap cleanup EXIT
wait_stage() {  # wait_stage SECONDS STAGE [NTH]: the NTH (default 1) GRAPHICS-STAGE line
  local n=${3:-1}
  wait_for "$1" sh -c "[ \$(sed 's/\r\$//' '$out' | grep -c '^GRAPHICS-$2') -ge $n ]" ||
    fail "the guest never reached $2 (#$n): $(grep GRAPHICS- "$out" | tail -n 3)"
  grep -q '^GRAPHICS-FAIL' "$out" && fail "the guest failed: $(grep GRAPHICS-FAIL "$out")"
  return 0
}
shot() {  # shot FILE: a screenshot with the right password; prints WxH
  "$PROBE" "$VNC" --password-file /tmp/vnc.pw shot "$1"
}
wait_for 30 grep -q "VNC server on" "$out" || fail "altovirt did not start its VNC server: $(cat "$out")"
expect_contains "the VNC address is announced" "VNC server on 127.0.0.1:5901" "$(cat "$out")"
ss -ltn | grep -q '127.0.0.1:5901 ' && pass "altovirt listens on 127.0.0.1:5901" || fail "nothing listens on 5901: $(ss -ltn)"

# One client stays connected from here to the end, through the guest's reboot.
"$PROBE" "$VNC" --password-file /tmp/vnc.pw hold 100000 >/tmp/holder.out 2>&1 &
holder=$!
wait_for 30 grep -q "client 127.0.0.1 connected (1 connected)" /tmp/graphics.log || fail "the first client did not connect"
pass "a client connected before the guest set a mode"
vnc_info=$( (echo '{"execute":"qmp_capabilities"}'; echo '{"execute":"query-vnc"}'; sleep 1) | timeout 20 socat - "UNIX-CONNECT:$sock" | tail -n1)
echo "# query-vnc: $vnc_info"
expect_contains "QMP query-vnc: where and how" '"auth":"vnc"' "$vnc_info"
expect_contains "QMP query-vnc: the port" '"service":"5901"' "$vnc_info"
expect_contains "QMP query-vnc: the connected client" '"clients":[{"family":"ipv4","host":"127.0.0.1"' "$vnc_info"
out_wrong=$("$PROBE" "$VNC" --password-file /tmp/vnc-wrong.pw shot /tmp/wrong.ppm 2>&1)
expect_eq "a wrong password: refused (status 1)" 1 "$?"
"$PROBE" "$VNC" shot /tmp/nopw.ppm >/dev/null 2>&1
expect_eq "no password: refused (status 1)" 1 "$?"
grep -q "password check failed" /tmp/graphics.log && pass "the log says why the wrong password was refused" ||
  fail "no 'password check failed' in the log"

step "framebuffer console"
wait_stage 400 FB
fbline=$(sed 's/\r$//' "$out" | grep -m1 '^GRAPHICS-FB ')
echo "# $fbline"
expect_contains "the guest's framebuffer is 640x480 (the mode altovirt offered)" "640,480" "$fbline"
expect_contains "the framebuffer is virtio-gpu's" "virtio_gpudrmfb" "$fbline"
wait_stage 120 FBCON
sleep 2  # fbcon and the fbdev emulation flush the text within a few frames
size=$(shot /tmp/fbcon.ppm) || fail "screenshot of the console failed"
expect_eq "the client's screen is 640x480" 640x480 "$size"
lit=$(lit_pixels /tmp/fbcon.ppm)
[ "$lit" -gt 2000 ] || fail "the console's text is not on the screen: $lit lit pixels"
pass "the console's text is on the client's screen ($lit lit pixels)"

step "a pattern written to /dev/fb0"
check_pattern() {  # check_pattern FILE: top half red, bottom half blue, every pixel
  python3 - "$1" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
magic, dims, maxval, px = data.split(b"\n", 3)
w, h = map(int, dims.split())
bad = 0
first = None
for y in range(h):
    want = (255, 0, 0) if y < h // 2 else (0, 0, 255)
    for x in range(w):
        i = (y * w + x) * 3
        got = (px[i], px[i + 1], px[i + 2])
        if got != want:
            bad += 1
            first = first or (x, y, got, want)
print(f"{bad} of {w * h} pixels differ" + (f"; first at {first}" if first else ""))
sys.exit(1 if bad else 0)
PY
}
wait_stage 200 PATTERN
sleep 2
shot /tmp/pattern.ppm >/dev/null || fail "screenshot of the pattern failed"
res=$(check_pattern /tmp/pattern.ppm) || fail "the pattern does not match: $res"
pass "the pattern arrives pixel for pixel: $res"
"$PROBE" "$VNC" --password-file /tmp/vnc.pw drop
expect_eq "a client that leaves mid-update: its end is clean" 0 "$?"
shot /tmp/after-drop.ppm >/dev/null || fail "a screenshot after the dropped client failed"
res=$(check_pattern /tmp/after-drop.ppm) || fail "after the dropped client: $res"
pass "the server serves on after a client left mid-update"
kill -0 "$holder" 2>/dev/null && pass "the first client is still connected (two at once)" || fail "the first client went away: $(cat /tmp/holder.out)"

step "keyboard"
wait_stage 100 KBD-READY
"$PROBE" "$VNC" --password-file /tmp/vnc.pw type "aB"
expect_eq "typing on the client" 0 "$?"
wait_stage 120 KEYS-DONE
# (Value 2 is the guest's own autorepeat of a key held past its delay: a slow nested guest may see one.)
keys=$(sed 's/\r$//' "$out" | grep '^GRAPHICS-KEY ' | awk '$3 != 2 {print $2 ":" $3}' | tr '\n' ' ')
echo "# key events in the guest: $keys"
# a (30) down and up, Shift (42) down, b (48) down and up, Shift up, Enter (28) down and up.
expect_eq "the guest's key events" "30:1 30:0 42:1 48:1 48:0 42:0 28:1 28:0 " "$keys"

step "tablet"
wait_stage 100 TABLET-READY
"$PROBE" "$VNC" --password-file /tmp/vnc.pw click 320 120
expect_eq "a click on the client" 0 "$?"
wait_stage 120 TABLET-DONE
abs=$(sed 's/\r$//' "$out" | grep '^GRAPHICS-ABS ' | tail -n 2 | awk '{print $2 ":" $3}' | tr '\n' ' ')
btn=$(sed 's/\r$//' "$out" | grep '^GRAPHICS-BTN ' | awk '{print $2 ":" $3}' | tr '\n' ' ')
# ABS_X (0) = 320 * 32767 / 639, ABS_Y (1) = 120 * 32767 / 479; BTN_LEFT (272) down, then up.
expect_eq "the guest's pointer position" "0:$((320 * 32767 / 639)) 1:$((120 * 32767 / 479)) " "$abs"
expect_eq "the guest's button events" "272:1 272:0 " "$btn"

step "an idle screen with a client"
wait_stage 60 IDLE
pid=$(pgrep -P "$vm" | head -n1)  # altovirt, under timeout
[ -n "$pid" ] || fail "altovirt's pid not found"
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); s0=$(date +%s.%N)
sleep 5
t1=$(ticks); s1=$(date +%s.%N)
cpu=$(awk -v t=$((t1 - t0)) -v a="$s0" -v b="$s1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", 100 * t / hz / (b - a) }')
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
echo "# altovirt with one VNC client on an idle 640x480 screen: ${cpu}% of a CPU (nested, under TCG), VmRSS ${rss} KiB"
pass "measured the idle cost"

step "after the guest reboots"
wait_stage 60 REBOOT
wait_stage 400 PATTERN 2
sleep 2
shot /tmp/pattern2.ppm >/dev/null || fail "screenshot after the reboot failed"
res=$(check_pattern /tmp/pattern2.ppm) || fail "after the reboot the pattern does not match: $res"
pass "after the reboot the new boot's pattern shows: $res"
kill -0 "$holder" 2>/dev/null && pass "the first client stayed connected through the reboot" ||
  fail "the first client went away during the reboot: $(cat /tmp/holder.out)"
builds=$(grep -c "set-up took" /tmp/graphics.log)
expect_eq "the machine was built twice (boot and reboot)" 2 "$builds"
kill "$holder" 2>/dev/null; holder=""
kill "$vm"
wait_pid 60 "$vm" "altovirt after SIGTERM"
finish
