#!/usr/bin/env bash
# QMP of altovirt over socat, inside the test host with a real guest (nested KVM):
#  - greeting, qmp_capabilities, query-version, query-commands, query-status, query-pci;
#  - stop/cont: STOP/RESUME events and the status in between;
#  - malformed JSON, an unknown command and a bad argument get error replies and the server stays up;
#    a second client after the first one left works too;
#  - system_powerdown presses the ACPI power button: POWERDOWN, the guest powers itself off,
#    SHUTDOWN {"guest": true}, and altovirt exits 0;
#  - system_reset rebuilds the machine (RESET, the status comes back to running, QMP stays up), and
#    quit ends altovirt with status 0 after SHUTDOWN {"reason": "host-qmp-quit"};
#  - -S: the machine is built and paused (no console output) until cont, then the guest boots;
#  - the sandbox: every thread of altovirt has a seccomp filter; a vCPU thread's forbidden system
#    call (x-sandbox-probe: getppid) ends altovirt with status 1 and a line naming the thread, its
#    role and the call (-sandbox on, the default), or goes through with a kernel audit line naming
#    them, the VM running on (-sandbox log).
. "$(dirname "$0")/../lib.sh"

modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
[ -c /dev/kvm ] || fail "no /dev/kvm in the test host"
ALTOVIRT=$ALTOVIRT_BUILD/tools/altovirt/altovirt
[ -x "$ALTOVIRT" ] || fail "$ALTOVIRT is not built"
command -v socat >/dev/null || fail "socat is not installed (apt-get install socat)"
sock=/tmp/qmp.sock out=/tmp/qmp-guest.out

timeout 900 "$ALTOVIRT" -name qmp-test -m 256M -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
  -append "console=ttyS0 panic=-1 quiet guest.steps=powerbutton" -serial "file:$out" \
  -qmp "unix:$sock,server,nowait" -D /tmp/qmp-test.log </dev/null >/tmp/qmp-altovirt.err 2>&1 &
vm=$!
wait_for 30 test -S "$sock" || fail "no QMP socket at $sock: $(cat /tmp/qmp-altovirt.err)"
pass "altovirt listens on $sock"

. "$(dirname "$0")/../qmp_client.sh"

open_client
expect_contains "greeting" '{"QMP":{"capabilities":[],"version":' "$greeting"
qmp '{"execute":"query-status"}'
expect_contains "commands before negotiation are refused" "Expecting capabilities negotiation" "$reply"
qmp '{"execute":"qmp_capabilities","id":1}'
expect_eq "qmp_capabilities" '{"id":1,"return":{}}' "$reply"
qmp '{"execute":"query-version"}'
expect_contains "query-version" '"package":"altovirt' "$reply"
qmp '{"execute":"query-commands"}'
for c in qmp_capabilities query-status query-version query-commands system_powerdown system_reset stop cont quit query-pci; do
  expect_contains "query-commands lists $c" "{\"name\":\"$c\"}" "$reply"
done
qmp '{"execute":"query-status"}'
expect_contains "query-status: a status" '"status":"' "$reply"
# "prelaunch" until the machine is built.
wait_built
expect_contains "query-status: running once built" '"status":"running"' "$reply"
qmp '{"execute":"query-pci"}'
expect_contains "query-pci: the host bridge 8086:29c0 at 00.0" '"id":{"device":10688,"subsystem":' "$reply"
expect_contains "query-pci: shape" '"bus":0,"devices":[' "$reply"

# Malformed input: errors, never a crash.
printf '%s' '{"execute": ' >&"$qout"  # half a text: the server waits for the rest
sleep 0.5
qmp '}'
expect_contains "malformed JSON: GenericError" '"class":"GenericError"' "$reply"
qmp '{"execute":"no-such-command","id":"x"}'
expect_contains "unknown command: CommandNotFound" '"class":"CommandNotFound"' "$reply"
expect_contains "unknown command: id echoed" '"id":"x"' "$reply"
qmp '{"execute":"stop","arguments":{"bogus":1}}'
expect_contains "bad argument: named" "Parameter 'bogus' is unexpected" "$reply"
qmp '[1,2,3]'
expect_contains "a JSON array: GenericError" '"class":"GenericError"' "$reply"
printf '\x00\xff\xfe garbage\n' >&"$qout"
qmp '{"execute":"query-status","id":"after-garbage"}'
# The garbage got its own error reply(s) first; the query's reply follows.
for _ in 1 2 3 4 5; do
  case "$reply" in *after-garbage*) break ;; esac
  expect_contains "garbage: an error reply" '"error"' "$reply"
  IFS= read -r -t 30 reply <&"$qin" || fail "no reply after garbage"
done
expect_contains "the server answers after garbage" '"return":{' "$reply"
kill -0 "$vm" || fail "altovirt died on malformed input"
pass "altovirt survives malformed input"

# Wait for the guest's /init so that stop/cont and the power button act on a booted guest.
wait_for 600 grep -q GUEST-WAIT-POWERBUTTON "$out" || { cat "$out"; fail "the guest did not reach its power-button wait"; }
pass "guest booted and waits for the power button"
qmp '{"execute":"query-status"}'
expect_contains "query-status: running" '"running":true' "$reply"
expect_contains "query-status: status" '"status":"running"' "$reply"

qmp '{"execute":"stop"}'
expect_eq "stop" '{"return":{}}' "$reply"
wait_event STOP 10 || fail "no STOP event"
pass "STOP event"
qmp '{"execute":"query-status"}'
expect_contains "paused: status" '"status":"paused"' "$reply"
expect_contains "paused: running false" '"running":false' "$reply"
# x-query-vcpus: each vCPU's registers as it parked (the guest idles in the kernel: CS is Linux's
# __KERNEL_CS, 0x10), and the machine stays paused.
qmp '{"execute":"x-query-vcpus"}'
echo "# $reply"
expect_contains "x-query-vcpus while paused: vCPU 0 parked" '"cpu-index":0' "$reply"
expect_contains "x-query-vcpus while paused: registers read" '"cs":16' "$reply"
expect_contains "x-query-vcpus while paused: parked" '"parked":true' "$reply"
qmp '{"execute":"query-status"}'
expect_contains "x-query-vcpus keeps a paused machine paused" '"status":"paused"' "$reply"
qmp '{"execute":"cont"}'
expect_eq "cont" '{"return":{}}' "$reply"
wait_event RESUME 10 || fail "no RESUME event"
pass "RESUME event"
qmp '{"execute":"query-status"}'
expect_contains "resumed: status" '"status":"running"' "$reply"
# On a running machine it pauses for the reading (no STOP event: not a user-visible pause) and runs on.
qmp '{"execute":"x-query-vcpus"}'
expect_contains "x-query-vcpus while running: parked" '"parked":true' "$reply"
expect_contains "x-query-vcpus while running: the idle guest halts" '"mp-state":"halted"' "$reply"
qmp '{"execute":"query-status"}'
expect_contains "x-query-vcpus leaves a running machine running" '"status":"running"' "$reply"
close_client

# A second client, after the first one left.
open_client
qmp '{"execute":"qmp_capabilities"}'
expect_eq "second client negotiates" '{"return":{}}' "$reply"
qmp '{"execute":"system_powerdown"}'
expect_eq "system_powerdown" '{"return":{}}' "$reply"
wait_event POWERDOWN 10 || fail "no POWERDOWN event"
pass "POWERDOWN event"
wait_event SHUTDOWN 300 || { cat "$out"; fail "no SHUTDOWN event after system_powerdown"; }
expect_contains "SHUTDOWN by the guest" '"guest":true' "$(grep SHUTDOWN "$events")"
close_client
wait_pid 120 "$vm" "altovirt after the guest's poweroff"
rc=$?
expect_eq "altovirt exit status after the guest's poweroff" 0 "$rc"
expect_contains "the guest saw the power button" GUEST-POWERBUTTON "$(cat "$out")"
[ -e "$sock" ] && fail "the QMP socket $sock is left behind"
pass "socket removed"

# --- system_reset and quit, on a second VM (no need to wait for its guest) ---------------------------
: > "$events"
timeout 900 "$ALTOVIRT" -name qmp-reset -m 256M -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
  -append "console=ttyS0 panic=-1 quiet guest.steps=powerbutton" -serial none \
  -qmp "unix:$sock,server,nowait" </dev/null >/tmp/qmp-altovirt2.err 2>&1 &
vm=$!
wait_for 30 test -S "$sock" || fail "no QMP socket at $sock: $(cat /tmp/qmp-altovirt2.err)"
open_client
qmp '{"execute":"qmp_capabilities"}'
wait_running  # system_reset needs a built machine
qmp '{"execute":"system_reset"}'
expect_eq "system_reset" '{"return":{}}' "$reply"
wait_event RESET 60 || fail "no RESET event"
expect_contains "RESET from the host" '"reason":"host-qmp-system-reset"' "$(grep RESET "$events")"
wait_running
expect_contains "after system_reset: running again" '"status":"running"' "$reply"
qmp '{"execute":"quit"}'
expect_eq "quit" '{"return":{}}' "$reply"
wait_event SHUTDOWN 60 || fail "no SHUTDOWN event after quit"
expect_contains "SHUTDOWN after quit" '"reason":"host-qmp-quit"' "$(grep SHUTDOWN "$events")"
close_client
wait_pid 60 "$vm" "altovirt after quit"
expect_eq "altovirt exit status after quit" 0 "$?"

# --- -S: the machine is built but no vCPU runs until cont ----------------------------------------------
step "-S: paused until cont"
: > "$events"
out3=/tmp/qmp-paused.out
timeout 900 "$ALTOVIRT" -name qmp-paused -m 256M -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -S \
  -append "console=ttyS0 panic=-1 guest.steps=powerbutton" -serial "file:$out3" \
  -qmp "unix:$sock,server,nowait" </dev/null >/tmp/qmp-altovirt3.err 2>&1 &
vm=$!
wait_for 30 test -S "$sock" || fail "no QMP socket at $sock: $(cat /tmp/qmp-altovirt3.err)"
open_client
qmp '{"execute":"qmp_capabilities"}'
wait_built
expect_contains "-S: built and paused" '"status":"paused"' "$reply"
qmp '{"execute":"x-query-vcpus"}'
expect_contains "-S: vCPU 0 is parked" '"parked":true' "$reply"
sleep 3
expect_eq "-S: the guest printed nothing while paused" 0 "$(stat -c %s "$out3")"
qmp '{"execute":"cont"}'
expect_eq "-S: cont" '{"return":{}}' "$reply"
wait_event RESUME 10 || fail "no RESUME event after cont"
wait_for 300 grep -q "Linux version" "$out3" ||
  fail "-S: the guest did not start after cont: $(tail -c 500 "$out3")"
pass "-S: the guest runs after cont"
qmp '{"execute":"quit"}'
close_client
wait_pid 60 "$vm" "altovirt -S after quit"
expect_eq "altovirt -S exit status after quit" 0 "$?"

# --- the sandbox (issue 15): a vCPU thread makes a system call no role allows (x-sandbox-probe) ------
# start_vm NAME ARGS...: altovirt with QMP, a client negotiated, the machine running.
start_vm() {
  local name=$1; shift
  : > "$events"
  timeout 900 "$ALTOVIRT" -name "$name" -m 256M -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
    -append "console=ttyS0 panic=-1 quiet guest.steps=powerbutton" -serial none -D "/tmp/$name.log" \
    -qmp "unix:$sock,server,nowait" "$@" </dev/null >"/tmp/$name.err" 2>&1 &
  vm=$!
  wait_for 30 test -S "$sock" || fail "no QMP socket at $sock: $(cat "/tmp/$name.err")"
  open_client
  qmp '{"execute":"qmp_capabilities"}'
  wait_running
  expect_contains "$name: running" '"status":"running"' "$reply"
}
step "sandbox log: the forbidden call goes through and the kernel logs it"
dmesg -C
start_vm sandbox-log -sandbox log
qmp '{"execute":"x-sandbox-probe"}'
expect_eq "x-sandbox-probe" '{"return":{}}' "$reply"
logged() { dmesg | grep -q 'type=1326.*comm="vcpu0".* syscall=110 '; }
wait_for 30 logged || fail "no audit line for vCPU 0's getppid (110) in dmesg: $(dmesg | grep -i -e audit -e seccomp | tail -n 5)"
pass "the kernel logged vCPU 0's getppid: $(dmesg | grep 'type=1326' | grep -o 'comm=.* syscall=110' | head -n1)"
qmp '{"execute":"query-status"}'
expect_contains "sandbox log: the VM runs on" '"status":"running"' "$reply"
qmp '{"execute":"quit"}'
close_client
wait_pid 60 "$vm" "altovirt (-sandbox log) after quit"
expect_eq "altovirt -sandbox log: exit status after quit" 0 "$?"

step "sandbox on (the default): the forbidden call ends altovirt, named"
start_vm sandbox-on
vmm_pid=$(pgrep -P "$vm" -x altovirt || echo "$vm")
# (A thread that ended between the listing and the reads, as io_uring's workers do, is skipped.)
confined=$(for t in /proc/"$vmm_pid"/task/*; do
             n=$(cat "$t/comm" 2>/dev/null) m=$(awk '/^Seccomp:/ {print $2}' "$t/status" 2>/dev/null)
             [ -n "$n" ] && [ -n "$m" ] && echo "$n=$m"
           done | tr '\n' ' ')
expect_eq "every thread of altovirt has a seccomp filter (${confined% })" "" "$(echo "$confined" | tr ' ' '\n' | grep -v -e '^$' -e '=2$')"
qmp '{"execute":"x-sandbox-probe"}'
close_client
wait_pid 60 "$vm" "altovirt after the forbidden call"
expect_eq "altovirt's exit status after a forbidden call" 1 "$?"
expect_contains "stderr names the thread, its role and the call" \
  "altovirt: sandbox: thread vcpu0 (role vcpu) made the forbidden system call getppid (110); stopping altovirt" \
  "$(cat /tmp/sandbox-on.err)"
expect_contains "the -D log has the same line" "made the forbidden system call getppid (110)" "$(cat /tmp/sandbox-on.log)"
finish
