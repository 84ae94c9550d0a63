# guest-console.sh: drive a guest's console from a script (sourced by the Debian guest's system test,
# the demo and the benchmark): type lines, wait for what the guest prints, run a command and get its
# output and exit status. Every wait is bounded by the SECONDS it is given.
#
#   gc_open CMD...          start CMD (e.g. `altoctl console NAME`, or a VMM with its console on
#                           stdio) with its stdin on a FIFO we write and its output in $GC_OUT
#                           ($GC_DIR/out; GC_DIR defaults to /tmp/guest-console)
#   gc_pid                  the pid of that command (also in $GC_DIR/pid)
#   gc_close                close its stdin (CMD sees end of input)
#   gc_type TEXT            type TEXT and Enter
#   gc_mark                 later waits only look at output after this point
#   gc_wait SECONDS TEXT [crash|restart]
#                           until the output (after the mark) contains TEXT; status 1 on timeout,
#                           2 when the guest's kernel dies (with "crash") or also restarts ("restart")
#   gc_run SECONDS CMD      type CMD, wait for its end, print its output, return its exit status
#                           (99 when it did not end within SECONDS; 98 at once when the guest
#                           panicked or restarted meanwhile, with the console from the panic on)
#   gc_login SECONDS        wait for "login: ", log in as root, wait for the shell prompt
# GC_ON_TIMEOUT names a command gc_run runs (its output on stderr) when a command did not end in
# time, to record why while the VM is still in that state (tests/system/lib.sh's vmm_snapshot).
GC_DIR=${GC_DIR:-/tmp/guest-console}
GC_OUT=$GC_DIR/out
_gc_mark=0
_gc_pid=

gc_open() {
  GC_OUT=$GC_DIR/out
  rm -rf "$GC_DIR"
  mkdir -p "$GC_DIR"
  mkfifo "$GC_DIR/in"
  : >"$GC_OUT"
  "$@" <"$GC_DIR/in" >"$GC_OUT" 2>&1 &
  _gc_pid=$!
  echo "$_gc_pid" >"$GC_DIR/pid"  # for a caller whose subshell ran gc_open (bench.sh's paired)
  exec 7>"$GC_DIR/in"
  _gc_mark=0
}
gc_pid() { echo "$_gc_pid"; }
gc_close() { exec 7>&-; }
# Typing into a console command that has ended would kill this script with SIGPIPE and no word of
# why (the FIFO has no reader): say so, with what the command printed last, and fail instead.
gc_type() {
  if [ -n "$_gc_pid" ] && ! kill -0 "$_gc_pid" 2>/dev/null; then
    echo "guest-console: the console command (pid $_gc_pid) has ended; its last output:" >&2
    tail -c 1500 "$GC_OUT" | tr -d '\r' >&2
    return 1
  fi
  (trap '' PIPE; printf '%s\r' "$1" >&7)
}
gc_mark() { _gc_mark=$(stat -c %s "$GC_OUT" 2>/dev/null || echo 0); }
# What the console showed since the mark, without carriage returns and terminal control sequences
# (bash's bracketed-paste switch ESC[?2004l would otherwise start the first line of every output).
gc_since() { tail -c +"$((_gc_mark + 1))" "$GC_OUT" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g'; }
gc_seen() { gc_since | grep -q -- "$1"; }
# What says the guest's kernel died: a panic (the standard VM's cmdline has panic=1, so it restarts a
# second later), a BUG or an oops; while a command runs, a new boot's banner says the same. A
# command's output never holds these, and a command that sees them will not end (its shell is gone):
# waiting out the bound would only hide the cause.
_gc_died='Kernel panic - not syncing|reboot: Restarting system|BUG: |Oops: '
gc_died() { gc_since | grep -qaE "$_gc_died"; }
gc_restarted() { gc_since | grep -qaE "$_gc_died|Linux version [0-9]"; }
# The console from the first warning, oops, BUG, lockup, panic or restart message on (nothing when
# there is none: a triple fault restarts the guest without a word; the VMM's log says so).
gc_crash_report() {
  local n
  n=$(gc_since | grep -aE -m1 -n "WARNING:|cut here|general protection|Call Trace|watchdog:|rcu:.*stall|$_gc_died" | cut -d: -f1)
  [ -n "$n" ] && gc_since | tail -n +"$((n > 20 ? n - 20 : 1))" | head -n 150
}
# When the run is in the testbed, tell it that a second-level guest's kernel crashed (the first such
# line of the console): testbed repeats such a run once, as it does when the test host's kernel crashes.
gc_note_crash() {
  local line
  line=$(gc_since | grep -aE -m1 -o "($_gc_died).*" | head -c 200)
  [ -n "$line" ] && [ -n "${TESTBED_JOB:-}" ] && [ -d "$TESTBED_JOB" ] && echo "$line" >"$TESTBED_JOB/guest-crash"
  [ -n "$line" ]
}
gc_wait() {  # gc_wait SECONDS TEXT [crash|restart]: ends with status 2 when the guest's kernel dies (or restarts)
  local end=$((SECONDS + $1))
  until gc_seen "$2"; do
    [ $SECONDS -lt $end ] || return 1
    case "${3:-}" in
      crash) gc_died && return 2 ;;
      restart) gc_restarted && return 2 ;;
    esac
    sleep 0.2
  done
}
gc_run() {
  gc_mark
  # The end marker is computed by the guest's shell, so the echo of the typed line never matches it.
  gc_type "$2; echo RC-\$((1000+\$?))-END"
  gc_wait "$1" 'RC-1[0-9]*-END' restart
  case $? in
    0) ;;
    2) echo "the guest's kernel died or restarted while running: $2"; gc_note_crash; gc_crash_report || gc_since | tail -c 3000; return 98 ;;
    *) [ -n "${GC_ON_TIMEOUT:-}" ] && "$GC_ON_TIMEOUT" >&2
       gc_since | tail -c 3000; return 99 ;;
  esac
  local out rc
  out=$(gc_since)
  echo "$out"
  rc=$(echo "$out" | sed -n 's/.*RC-1\([0-9]*\)-END.*/\1/p' | tail -n1)
  return $((10#$rc))
}
gc_login() {
  gc_wait "$1" "login: " crash || return 1
  # A name typed while getty is still setting up the line (systemd may restart it once the boot
  # settles) can be lost: after 60 s without a shell, Enter brings a fresh prompt to type it again.
  local try
  for try in 1 2; do
    gc_mark
    gc_type root
    gc_wait 60 "root@[a-z0-9-]*:~# " crash && return 0
    [ "$try" = 1 ] || return 1
    gc_died && return 1
    gc_mark
    gc_type ""
    gc_wait 30 "login: " crash || return 1
  done
}
