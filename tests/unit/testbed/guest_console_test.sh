#!/usr/bin/env bash
# Unit test of testbed/guest-console.sh against a stand-in for a guest's console (a shell that reads
# lines ended by carriage returns, as a tty delivers them): gc_run returns a command's output and
# status, ends at once with 98 and the crash report when the guest panics and restarts, and with 99
# when its bound runs out.
set -uo pipefail
src=$1
work=$(mktemp -d)
trap 'gc_close 2>/dev/null; kill "$(gc_pid)" 2>/dev/null; rm -rf "$work"' EXIT
cat >"$work/guest" <<'GUEST'
#!/usr/bin/env bash
while read -r -d $'\r' line; do
  case "$line" in
    panic*) printf '[ 9.1] BUG: kernel NULL pointer dereference\n[ 9.2] Kernel panic - not syncing: Fatal exception\n[ 0.0] Linux version 6.1\ndebian login: ' ;;
    *) bash -c "$line" ;;
  esac
done
GUEST
chmod +x "$work/guest"
GC_DIR=$work/console
. "$src/testbed/guest-console.sh"
fails=0
check() {  # check WHAT EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "FAIL: $1: expected '$2', got '$3'"; fails=$((fails + 1)); fi
}
gc_open "$work/guest"

out=$(gc_run 10 'echo hello; false'); rc=$?
check "a command's exit status" 1 "$rc"
check "a command's output" hello "$(echo "$out" | head -n1)"

start=$SECONDS
out=$(gc_run 60 'panic now'); rc=$?
check "a guest that panics ends the run with 98" 98 "$rc"
check "...at once, not after the bound" 1 "$((SECONDS - start < 10))"
check "...with the panic in the report" 1 "$(echo "$out" | grep -c 'Kernel panic - not syncing')"
check "...from the first sign of trouble on" 1 "$(echo "$out" | grep -c 'BUG: kernel NULL pointer')"

mkdir -p "$work/job"
TESTBED_JOB=$work/job gc_note_crash
check "gc_note_crash tells the testbed the first crash line" "BUG: kernel NULL pointer dereference" "$(cat "$work/job/guest-crash" 2>/dev/null)"
gc_wait 10 "never printed" crash; rc=$?
check "a wait with 'crash' ends with 2 when the guest died after the mark" 2 "$rc"
gc_mark
gc_wait 1 "never printed" crash; rc=$?
check "...and only then (1: its bound ran out)" 1 "$rc"

out=$(gc_run 1 'sleep 3'); rc=$?
check "a command that outlives its bound ends with 99" 99 "$rc"

gc_close; kill "$(gc_pid)" 2>/dev/null
# gc_login against a getty that loses the first name typed (as one restarted under it does): Enter
# brings a new prompt and the name typed again logs in. The 60 s wait is shortened by a stub.
cat >"$work/getty" <<'GETTY'
#!/usr/bin/env bash
printf 'debian login: '
n=0
while read -r -d $'\r' line; do
  case "$line" in
    root) n=$((n + 1)); [ "$n" = 1 ] || printf 'root@debian:~# ' ;;
    "") printf '\ndebian login: ' ;;
  esac
done
GETTY
chmod +x "$work/getty"
GC_DIR=$work/getty-console
gc_open "$work/getty"
real_wait=$(declare -f gc_wait)
gc_wait() { local t=$1; shift; [ "$t" -gt 5 ] && t=3; _gc_wait_real "$t" "$@"; }
eval "${real_wait/gc_wait/_gc_wait_real}"
gc_login 5; rc=$?
check "gc_login types the name again when the first one is lost" 0 "$rc"
check "...after a fresh prompt" 2 "$(grep -c 'debian login: ' "$GC_OUT")"

exit $((fails > 0))
