#!/usr/bin/env bash
# Runs on the outer machine, not in the test host: testbed repeats a failed run once when the command
# reports that a second-level guest's kernel crashed (testbed/guest-console.sh's gc_note_crash), says
# so, and fails with the command's own status when it happens again; a plain failure is not repeated.
set -uo pipefail
testbed=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "FAIL: $1: expected '$2', got '$3'"; fails=$((fails + 1)); fi; }

cat >"$work/crash.sh" <<'S'
echo "Kernel panic - not syncing: Fatal exception (written by the test)" >"$TESTBED_JOB/guest-crash"
exit 3
S
out=$("$testbed" --timeout 60 --script "$work/crash.sh" 2>&1); rc=$?
echo "$out" | grep '^testbed:'
check "a guest crash twice: the command's own status" 3 "$rc"
check "...after two runs" 2 "$(echo "$out" | grep -c 'command exited with status 3')"
check "...saying why it ran again" 1 "$(echo "$out" | grep -c "running the command again in a fresh test host (once)")"

printf 'exit 3\n' >"$work/fail.sh"
out=$("$testbed" --timeout 60 --script "$work/fail.sh" 2>&1); rc=$?
check "a plain failure: the command's status" 3 "$rc"
check "...after one run" 1 "$(echo "$out" | grep -c 'command exited with status 3')"
exit $((fails > 0))
