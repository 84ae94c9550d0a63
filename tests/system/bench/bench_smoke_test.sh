#!/usr/bin/env bash
# scripts/bench.sh --smoke inside the test host: one QEMU and one altovirt run of every measurement.
# Asserts that the table has every row and that each row carries measured numbers (not that the
# numbers meet the targets). The output stays in /tmp: the source tree is read-only in the testbed.
. "$(dirname "$0")/../lib.sh"
out=/tmp/bench-smoke.out
"$ALTOVIRT_SRC/scripts/bench.sh" --smoke > "$out" 2> /tmp/bench-smoke.err; rc=$?
cat /tmp/bench-smoke.err "$out"
expect_eq "bench.sh --smoke exit status" 0 "$rc"
table=$(sed -n '/^BENCH-TABLE-BEGIN/,/^BENCH-TABLE-END/p' "$out")
num='[0-9][0-9.]*'
# Rows measured for both VMMs: a number in the altovirt and in the QEMU column, and a ratio.
for label in "VMM start to guest init" "guest uptime at init" "VMM start to the guest kernel's clock" \
             "VMM start to DHCP lease" \
             "memory overhead, 256 MiB guest" "memory overhead, 1 GiB guest" \
             "VMM start to guest init, cold page cache" "guest reboot to init, NVMe VF" \
             "hot-plug: device_add of the e1000e" "hot-plug: device_del to the guest" \
             "DMA map 256 MiB, 4 KiB pages + THP" "DMA map 256 MiB, 2 MiB hugepages" \
             "NVMe VF sequential read" "NVMe VF 4 KiB random read" "ping RTT avg"; do
  line=$(echo "$table" | grep -F "| $label")
  [ -n "$line" ] || fail "no row '$label' in the table: $table"
  echo "$line" | grep -Eq "^\| [^|]+ \| $num[^|]* \| $num[^|]* \| $num \|$" || fail "row '$label' lacks numbers: $line"
  pass "row '$label' has altovirt, QEMU and ratio: $line"
done
# Rows measured for altovirt only (QEMU has no exit counters) or as a percentage of native.
for label in "native test host sequential read" \
             "native test host 4 KiB random read" "sequential read, % of native" "random read, % of native" \
             "exits, whole I/O run" "VF trapped BAR accesses outside MSI-X"; do
  line=$(echo "$table" | grep -F "| $label")
  [ -n "$line" ] || fail "no row '$label' in the table: $table"
  echo "$line" | grep -Eq "^\| [^|]+ \| $num" || fail "row '$label' lacks an altovirt number: $line"
  pass "row '$label' has an altovirt number: $line"
done
# --smoke maps only 256 MiB: the larger DMA-map rows are there, without numbers.
for label in "DMA map 1 GiB, 4 KiB" "DMA map 2 GiB, 4 KiB" "DMA map 1 GiB, 2 MiB" "DMA map 2 GiB, 2 MiB"; do
  echo "$table" | grep -F "| $label" | grep -q "| n/a | n/a |" || fail "row '$label' missing or measured in smoke mode: $table"
done
pass "the 1 GiB and 2 GiB DMA-map rows are there, n/a in smoke mode"
rows=$(echo "$table" | grep -c '^|')
expect_eq "table rows (header, rule, 25 metrics)" 27 "$rows"
expect_contains "chart data has the ratios" "start to init" "$(sed -n '/^BENCH-CHART-BEGIN/,/^BENCH-CHART-END/p' "$out")"
expect_contains "altovirt exit counters reported" "reads" "$(sed -n '/^BENCH-EXITS-BEGIN/,/^BENCH-EXITS-END/p' "$out")"
finish
