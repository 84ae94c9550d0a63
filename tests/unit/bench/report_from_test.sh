#!/usr/bin/env bash
# Unit test of scripts/bench.sh --report-from on hand-made part outputs (no testbed): a part that finished gives
# its BENCH-RESULTS section; a part whose test host died twice gives what its last attempt logged as
# it measured (not the first attempt's), a failed run is named, the part is named as unfinished and
# the exit status says so; a missing directory or value is a usage error.
set -uo pipefail
src=$1
fails=0
expect_eq() {  # expect_eq WHAT EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "FAIL: $1: expected '$2', got '$3'"; fails=$((fails + 1)); fi
}
expect_contains() {  # expect_contains WHAT NEEDLE HAYSTACK
  if [[ "$3" == *"$2"* ]]; then echo "ok - $1"; else echo "FAIL: $1: no '$2' in:"; echo "$3" | head -n 60; fails=$((fails + 1)); fi
}
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/logs" "$dir/out"
cat > "$dir/logs/io.log" <<'LOG'
testbed: test host up after 9.3s (kernel 6.1.0-57-amd64)
BENCH-MACHINE-BEGIN
Test host: fixture
BENCH-MACHINE-END
BENCH-RESULTS-BEGIN
init_ms qemu 10000 1
init_ms altovirt 4000 1
init_ms qemu 12000 2
init_ms altovirt 6000 2
uptime_s qemu 6.5 1
uptime_s altovirt 3.0 1
uptime_s altovirt 4.5 2
BENCH-RESULTS-END
BENCH-DONE
LOG
cat > "$dir/logs/uefi.log" <<'LOG'
testbed: test host up after 9.3s (kernel 6.1.0-57-amd64)
bench: run 1/2: qemu, the disk's own boot loader through OVMF: to the boot loader, to login
bench:   uefi_loader_s qemu 99.0
[  311.4] Kernel panic - not syncing: fixture
testbed: test host up after 9.2s (kernel 6.1.0-57-amd64)
bench: run 1/2: qemu, the disk's own boot loader through OVMF: to the boot loader, to login
bench:   uefi_loader_s qemu 40.0
bench:   uefi_login_s qemu 80.0
bench: run 1/2: altovirt, the disk's own boot loader through OVMF: to the boot loader, to login
bench:   uefi_loader_s altovirt 10.0
bench:   uefi_login_s altovirt n/a
bench: run 2/2: qemu, the disk's own boot loader through OVMF: to the boot loader, to login
bench:   failed_run qemu qemu-uefi-2
[  400.1] Kernel panic - not syncing: fixture
LOG
out=$(bash "$src/scripts/bench.sh" --report-from "$dir/logs" --out "$dir/out" 2>&1); rc=$?
report=$(cat "$dir/out/benchmarks.md" 2>/dev/null)
expect_eq "an unfinished part: exit status 1" 1 "$rc"
expect_contains "the unfinished part is named" "part(s) uefi did not finish" "$out"
expect_contains "a finished part's rows (medians of 2 pairs, per-pair ratios 0.40 and 0.50)" \
  "| VMM start to guest init (ms) | 5000 [4000–6000] | 11000 [10000–12000] | 0.45 [0.40–0.50] |" "$report"
expect_contains "start to the guest's clock, derived per run that has both (run 2 has no QEMU uptime)" \
  "| VMM start to the guest kernel's clock (start to init minus uptime; ms) | 1250 [1000–1500] | 3500 | 0.29 |" "$report"
expect_contains "...and listed with every run" "| preclock_ms | altovirt | 1000, 1500 |" "$report"
expect_contains "a dead part's rows from its last attempt (QEMU 40, not the first attempt's 99)" \
  "| UEFI (OVMF) disk boot: VMM start to the firmware starting the boot loader (s) | 10 | 40 | 0.25 |" "$report"
expect_contains "a value logged as n/a counts as no value" "| UEFI (OVMF) disk boot: VMM start to login prompt (s) | n/a | 80 | — |" "$report"
expect_contains "the failed run is named" "qemu run 2 (qemu-uefi-2)" "$report"
expect_contains "the unfinished part is noted" "**Parts that did not finish:** uefi" "$report"
expect_contains "pairs: the runs the outputs hold" "2 pair(s) of runs" "$report"
out=$(bash "$src/scripts/bench.sh" --report-from "$dir/none" 2>&1); rc=$?
expect_eq "no such directory: usage error" 2 "$rc"
expect_contains "no such directory: says what it wants" "no io.log there" "$out"
out=$(bash "$src/scripts/bench.sh" --report-from 2>&1); rc=$?
expect_eq "no value: usage error" 2 "$rc"
expect_contains "no value: says so" "--report-from needs a value" "$out"
[ "$fails" = 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "PASS"
