#!/bin/busybox sh
# /init of the graphics test's guest: virtio-gpu's framebuffer and the virtio keyboard and tablet,
# seen from inside. Each stage prints a GRAPHICS-<STAGE> line on the serial console that
# tests/system/graphics/graphics_test.sh waits for, then does what the test checks over VNC:
#   FB W,H STRIDE   /dev/fb0 is there (the virtio-gpu DRM driver's fbdev emulation)
#   FBCON           30 lines of text went to the framebuffer console (tty1); 10 s to look at them
#   PATTERN         fbcon let go of the framebuffer; the top half is red, the bottom half blue
#   KBD-READY/KEY code value/KEYS-DONE        key events from the keyboard until Enter is released
#   TABLET-READY/ABS code value/BTN code value/TABLET-DONE   pointer events until the left button is released
#   IDLE            nothing happens for 8 s (the test measures the VMM's CPU with a client connected)
#   REBOOT          the guest reboots (and runs all of this again)
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do insmod "$m" 2>/dev/null; done < /etc/modules.order
say() { echo "GRAPHICS-$*"; }
die() { say "FAIL $*"; poweroff -f; }
wait_for() { n=$1; shift; while [ "$n" -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; n=$((n - 1)); done; return 1; }

wait_for 300 test -c /dev/fb0 || die "no /dev/fb0 (virtio_gpu did not bind)"
fbsys=/sys/class/graphics/fb0
size=$(cat $fbsys/virtual_size) stride=$(cat $fbsys/stride)
w=${size%,*} h=${size#*,}
say "FB $size $stride $(cat $fbsys/name)"

for i in $(seq 30); do echo "altovirt framebuffer console line $i ########################" > /dev/tty1; done
say FBCON
sleep 10

# Let go of fbcon (its cursor would draw over the pattern), then fill the screen: one row of a
# colour doubled until it covers half the screen. Pixels are XRGB8888: bytes B, G, R, X.
for v in /sys/class/vtconsole/vtcon*; do grep -q "frame buffer" "$v/name" && echo 0 > "$v/bind"; done
half=$((stride * h / 2))
fill() {  # fill FILE BYTES...: FILE grows to at least $half bytes of the 4-byte pixel
  printf "$2" > "$1"
  while [ "$(wc -c < "$1")" -lt "$half" ]; do cat "$1" "$1" > "$1.2"; mv "$1.2" "$1"; done
}
fill /tmp/red '\000\000\377\000'
fill /tmp/blue '\377\000\000\000'
{ head -c "$half" /tmp/red; head -c "$half" /tmp/blue; } > /dev/fb0 || die "writing /dev/fb0"
rm -f /tmp/red /tmp/blue
say PATTERN

# evdev devices by name; each event is a struct input_event (24 bytes on x86_64: time, type, code,
# value), read one at a time and printed as "type code value".
event_dev() {
  for e in /sys/class/input/event*; do
    [ "$(cat "$e/device/name" 2>/dev/null)" = "$1" ] && { echo "/dev/input/${e##*/}"; return 0; }
  done
  return 1
}
# The device stays open on fd 3 between reads: evdev queues events only for readers that have it
# open, so a dd that opened it afresh for each event would lose those sent in between.
read_event() {
  timeout 120 dd bs=24 count=1 <&3 2>/dev/null | od -An -v -tu2 -w24 | awk 'NF >= 12 { print $9, $10, $11 + $12 * 65536 }'
}
# watch_events NAME READY-STAGE STOP-CODE: opens the evdev device named NAME, says READY-STAGE, then prints
# each key/button event as KEY code value (BTN for pointer buttons) and each absolute one as ABS,
# until key STOP-CODE is released.
watch_events() {
  name=$1 ready=$2 stop=$3
  wait_for 100 event_dev "$name" || die "no event device '$name'"
  dev=$(event_dev "$name")
  exec 3< "$dev"
  say "$ready $dev"
  while :; do
    ev=$(read_event)
    [ -n "$ev" ] || die "no event from '$name' within 120 s"
    set -- $ev
    case "$1" in
      1) if [ "$2" -ge 256 ]; then say "BTN $2 $3"; else say "KEY $2 $3"; fi ;;
      3) say "ABS $2 $3" ;;
    esac
    [ "$1" = 1 ] && [ "$2" = "$stop" ] && [ "$3" = 0 ] && break
  done
}
watch_events "altovirt Virtio Keyboard" KBD-READY 28   # until KEY_ENTER is released
say KEYS-DONE
watch_events "altovirt Virtio Tablet" TABLET-READY 272  # until BTN_LEFT is released
say TABLET-DONE

say IDLE
sleep 8
say REBOOT
reboot -f
