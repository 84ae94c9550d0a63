# Shared helpers for system test scripts, which run as root inside the testbed's test host.
# Sourced, not run. Every check names what it expected and what it found; the first failure ends the
# test with status 1. Nothing here skips: a missing prerequisite is a failure that says why.
set -uo pipefail

: "${ALTOVIRT_BUILD:?ALTOVIRT_BUILD (the build directory) must be set by the test runner}"
: "${ALTOVIRT_SRC:?ALTOVIRT_SRC (the source directory) must be set by the test runner}"
[ "${TESTBED:-}" = 1 ] || { echo "FAIL: this script must run inside the testbed (testbed/testbed --script ...)"; exit 1; }

. "$ALTOVIRT_SRC/testbed/hostlib.sh"
NIC_BDF=$TB_NIC          # e1000e (8086:10d3) behind root port rp1
NVME_BDF=$TB_NVME        # QEMU NVMe (1b36:0010), SR-IOV PF with 4 VFs, behind rp2
GUEST_INITRD=$ALTOVIRT_BUILD/testbed/guest-initrd.gz
GUEST_KERNEL=$(tb_kernel)
checks=0

# A failed test whose second-level guest triple-faulted (altovirt's -D logs say "triple fault"): in
# this nested machine (KVM in a test host that QEMU emulates with TCG) Linux guests have
# triple-faulted at random points of an early boot, one in about two CI runs, in tests whose guests
# never reboot (stop 28's lifecycle seed, 5 s after start; this session's hotplug guest during its
# PCI scan). testbed repeats such a run once, as for a guest's kernel panic
# (testbed/guest-console.sh's gc_note_crash); a second failure fails the test.
note_guest_triple_fault() {
  [ -n "${TESTBED_JOB:-}" ] && [ -d "$TESTBED_JOB" ] && [ ! -s "$TESTBED_JOB/guest-crash" ] || return 0
  # Only logs this test host wrote: its /tmp is an overlay on the outer machine's /tmp, whose files
  # (other runs' logs) show through from the lower layer, on another device than what it writes.
  local probe=/tmp/.triple-probe-$$ dev f line=""
  : >"$probe" && dev=$(stat -c %d "$probe") && rm -f "$probe" || return 0
  for f in /tmp/*.log "${ALTOVIRT_STATE_DIR:-/run/altovirt}"/vms/*/vmm/altovirt.log; do
    [ -f "$f" ] || continue
    case "$f" in /tmp/*) [ "$(stat -c %d "$f")" = "$dev" ] || continue ;; esac
    line=$(grep -m1 "triple fault" "$f") && break
  done
  [ -n "$line" ] || return 0
  echo "# a second-level guest triple-faulted: $line"
  echo "a second-level guest triple-faulted ($line)" >"$TESTBED_JOB/guest-crash"
}
fail() { echo "FAIL: $*"; note_guest_triple_fault; exit 1; }
# lit_pixels FILE.ppm: how many pixels of a binary PPM screenshot (tests/system/vnc_probe shot) are not black.
lit_pixels() {
  python3 -c 'import sys; d=open(sys.argv[1],"rb").read().split(b"\n",3)[3]; print(sum(1 for i in range(0,len(d),3) if d[i]|d[i+1]|d[i+2]))' "$1"
}
TB_STEP=""
pass() { checks=$((checks + 1)); echo "ok $checks - $*"; }
expect_eq() {  # expect_eq WHAT EXPECTED ACTUAL
  [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
  pass "$1"
}
expect_contains() {  # expect_contains WHAT NEEDLE HAYSTACK
  case "$3" in *"$2"*) pass "$1" ;; *) fail "$1: expected to find '$2' in: $3" ;; esac
}
# Runs a command that must succeed, showing its output on failure.
run_ok() {  # run_ok WHAT CMD...
  local what=$1; shift
  local out
  out=$("$@" 2>&1) || fail "$what: '$*' failed with status $?: $out"
  pass "$what"
}
current_driver() {  # current_driver BDF -> driver name or "none"
  local l=/sys/bus/pci/devices/$1/driver
  if [ -e "$l" ]; then basename "$(readlink "$l")"; else echo none; fi
}
driver_is() { test "$(current_driver "$1")" = "$2"; }  # driver_is BDF NAME: for wait_for, which re-runs it
wait_for() {  # wait_for SECONDS CMD... : retry CMD until it succeeds
  local t=$1; shift
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}
# wait_pid SECONDS PID [WHAT]: waits for the background job PID for at most SECONDS and returns its
# exit status; when it is still running then, shows what it is blocked in, kills it and fails the
# test. Every wait in a system test is bounded: a hang must fail in seconds, never stall the suite.
wait_pid() {
  local t=$1 pid=$2 what=${3:-process $2} end=$((SECONDS + $1))
  while kill -0 "$pid" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null; do
    if [ $SECONDS -ge "$end" ]; then
      echo "--- $what (pid $pid) is still running after ${t}s:"
      ps -o pid,ppid,stat,wchan:32,etime,args --ppid "$pid" -p "$pid" 2>/dev/null
      cat "/proc/$pid/stack" 2>/dev/null
      # Every thread of it and of its children (altovirt under `timeout`): a vCPU thread's kernel
      # stack tells a guest stuck in KVM_RUN from a VMM waiting on itself.
      local p t
      for p in $(pgrep -P "$pid") ; do
        for t in /proc/"$p"/task/*; do
          echo "--- $p thread ${t##*/} ($(cat "$t/comm" 2>/dev/null), $(awk '/^State:/ {print $2}' "$t/status" 2>/dev/null)):"
          cat "$t/stack" 2>/dev/null
        done
      done
      kill -9 "$pid" 2>/dev/null
      fail "$what did not end within ${t}s (step: ${TB_STEP:-none})"
    fi
    sleep 0.1
  done
  wait "$pid"
}
# vmm_snapshot: what each running altovirt is doing, for a guest that stopped answering: every
# thread's state, CPU time (clock ticks) and wait channel, twice 2 s apart (a spinning thread's time
# grows), every virtio queue's kicks, interrupts and ring indices (QMP x-query-virtio-queues:
# avail-idx ahead of avail-event means kicks the device did not see; used-idx past used-event with
# no interrupt means one the driver waits for), and every vCPU's registers (x-query-vcpus: where
# the guest is; "parked":false means a vCPU did not come out of KVM_RUN).
vmm_snapshot() {
  local pid t sock round
  for round in 1 2; do
    for pid in $(pgrep -x altovirt); do
      echo "# vmm_snapshot: altovirt $pid, threads (name state utime stime wchan):"
      for t in /proc/"$pid"/task/*; do
        echo "#   $(cat "$t/comm" 2>/dev/null) $(sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{print $1, $12, $13}') $(cat "$t/wchan" 2>/dev/null)"
      done
    done
    [ "$round" = 1 ] && sleep 2
  done
  # Where the vCPU threads are in the kernel (in KVM_RUN, or waiting on a lock of altovirt's).
  for pid in $(pgrep -x altovirt); do
    for t in /proc/"$pid"/task/*; do
      case "$(cat "$t/comm" 2>/dev/null)" in
        vcpu*) echo "# vmm_snapshot: $pid $(cat "$t/comm") kernel stack:"; sed 's/^/#     /' "$t/stack" 2>/dev/null ;;
      esac
    done
  done
  # The QMP sockets: altoctl's under the state directory, and any -qmp unix:PATH on a command line.
  local socks
  socks=$( { ls "${ALTOVIRT_STATE_DIR:-/run/altovirt}"/vms/*/vmm/qmp.sock 2>/dev/null
             for pid in $(pgrep -x altovirt); do
               tr '\0' '\n' < /proc/"$pid"/cmdline 2>/dev/null | sed -n '/^-qmp$/{n;s/^unix:\([^,]*\).*/\1/p}'
             done; } | sort -u)
  for sock in $socks; do
    [ -S "$sock" ] || continue
    echo "# vmm_snapshot: $sock x-query-virtio-queues and x-query-vcpus:"
    (echo '{"execute":"qmp_capabilities"}'; echo '{"execute":"x-query-virtio-queues"}'
     echo '{"execute":"x-query-vcpus"}'; sleep 4) |
      timeout 12 socat - "UNIX-CONNECT:$sock" | grep '"return":\['
  done
}
# vm_hang_report PID LOG: for an altovirt (PID: it or the timeout running it) whose guest made no
# progress: vmm_snapshot, then SIGTERM so that each vCPU logs where it stopped, then LOG's tail.
vm_hang_report() {
  vmm_snapshot
  kill -TERM "$1" 2>/dev/null
  local end=$((SECONDS + 15))
  while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.5; done
  echo "# vm_hang_report: the last lines of $2:"
  tail -n 40 "$2" 2>/dev/null | sed 's/^/#   /'
}
# step NAME: names the part of the test that runs now, in the output and for the testbed, which
# names it if the test overruns its time.
step() {
  TB_STEP=$*
  echo "# --- $TB_STEP"
  [ -n "${TESTBED_JOB:-}" ] && [ -d "$TESTBED_JOB" ] && echo "$TB_STEP" > "$TESTBED_JOB/step" 2>/dev/null
  return 0
}
finish() { echo "PASS: $checks checks"; exit 0; }
