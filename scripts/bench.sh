#!/usr/bin/env bash
# bench.sh: altovirt against Debian's QEMU, side by side in the testbed's test host, on the same
# kernel, initramfs and passed-through devices (the e1000e and an NVMe VF), alternating QEMU and
# altovirt run by run (A B A B). Reports median [min-max] of: VMM start to guest init (and the guest's
# uptime there), start to DHCP lease, memory overhead (RSS minus guest RAM, from /proc/PID/smaps) at
# 256 MiB and 1 GiB, start to init with a cold page cache, guest reboot to init with an NVMe VF,
# hot-plug of the e1000e (device_add to the guest's interface up, device_del to the guest letting go),
# DMA-map time (strace -T, both VMMs) at 256 MiB / 1 GiB / 2 GiB on 4 KiB and 2 MiB pages, NVMe sequential and 4 KiB random reads
# (guest and native), ping RTT, and altovirt's exit counters of the I/O run; and the standard VM:
# the Debian 12 image (testbed/debian-image) on a virtio-blk root disk (cache=none, aio=io_uring on
# both) with a virtio console: boot to the login prompt, memory overhead at login, and fio in the
# guest (4 KiB random reads at iodepth 32, 1 MiB sequential reads), and over its virtio-net NIC (a tap
# with vhost=on on both) iperf3 both ways and ping; and the same disk booted by its own boot loader
# through Debian's OVMF (start to the firmware starting the loader, and to login). The standard VM
# and the OVMF boot need the image (built first when missing; `--smoke` skips both).
#
#   scripts/bench.sh [--runs N] [--smoke] [--out DIR]     (ALTOVIRT_BUILD: build dir, default build/)
#   scripts/bench.sh --report-from DIR [--out DIR]        (the report again from a run's kept part outputs)
#
# Outside the testbed it runs itself inside a test host once per part: io (the passthrough VMs),
# std (the standard VM) and uefi (the OVMF disk boot; --smoke runs only io), each part in a test host
# of its own, so that a test host that dies (TCG nested KVM does, rarely) costs one part, which
# testbed runs once more in a fresh test host, not the whole bench. Each part prints its raw
# measurements, the test host's description and (io) the exit counters between BENCH-* markers on
# stdout; the outer part merges the parts' measurements and writes DIR/benchmarks.md and
# DIR/benchmarks.png (DIR: docs/, or /tmp/altovirt-bench with --smoke). Every part's whole output stays in $TMPDIR/altovirt-bench-logs.
# Everything runs as nested KVM under TCG: absolute numbers are slow, the ratios are what matter.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${ALTOVIRT_BUILD:-$src/build}

runs=5 smoke=0 out=""
parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --runs | --out | --report-from)
        [ $# -ge 2 ] || { echo "bench.sh: $1 needs a value (--runs N, --out DIR, --report-from DIR)" >&2; exit 2; } ;;
    esac
    case "$1" in
      --runs) runs=$2; shift 2 ;;
      --smoke) smoke=1; shift ;;
      --out) out=$2; shift 2 ;;
      --report-from) report_from=$2; shift 2 ;;
      *) echo "bench.sh: unknown argument '$1' (accepted: --runs N, --smoke, --out DIR, --report-from DIR)" >&2; exit 2 ;;
    esac
  done
  case "$runs" in '' | *[!0-9]* | 0) echo "bench.sh: --runs needs a positive number, got '$runs'" >&2; exit 2 ;; esac
  [ "$smoke" = 0 ] || runs=1
  if [ "$smoke" = 1 ]; then seqmib=8 randn=20 huge_pages=128; else seqmib=128 randn=300 huge_pages=1024; fi
}

# ---------------------------------------------------------------------------------------------------
# The report, from $results (every part's measurements): the table, notes, every run, chart data,
# each between BENCH-* markers.
median_of() {  # median_of METRIC VMM: sets txt ("median [min–max]" or n/a) and med (the median, or empty)
  local v
  v=$(awk -v m="$1" -v k="$2" '$1 == m && $2 == k && $3 ~ /^[0-9.]+$/ { print $3 }' "$results" | sort -g)
  txt=n/a med=""
  [ -n "$v" ] || return 0
  txt=$(echo "$v" | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    if (NR == 1) printf "%g", m; else printf "%g [%g–%g]", m, a[1], a[NR] }')
  med=$(echo "$v" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
}
# pair_ratios METRIC: altovirt/QEMU of each run that measured both (the pairs are run by run, QEMU
# then altovirt, so each ratio compares two runs next to each other in time), sorted.
pair_ratios() {
  awk -v m="$1" '$1 == m && $3 ~ /^[0-9.]+$/ { if ($2 == "altovirt") a[$4] = $3; else if ($2 == "qemu") q[$4] = $3 }
    END { for (k in a) if ((k in q) && q[k] > 0) print a[k] / q[k] }' "$results" | sort -g
}
row() {  # row LABEL METRIC [CHART_LABEL]: altovirt, QEMU, and the median [min–max] of the per-pair ratios
  local a q am ratio="—" rs
  median_of "$2" altovirt; a=$txt am=$med
  median_of "$2" qemu; q=$txt
  rs=$(pair_ratios "$2")
  if [ -n "$am" ] && [ -n "$rs" ]; then
    ratio=$(echo "$rs" | awk '{ x[NR] = $1 } END { m = (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2
      if (NR == 1) printf "%.2f", m; else printf "%.2f [%.2f–%.2f]", m, x[1], x[NR] }')
    [ -z "${3:-}" ] || echo "\"$3\" ${ratio%% *}" >> "$chart"
  fi
  echo "| $1 | $a | $q | $ratio |"
}
native_row() {  # native_row LABEL METRIC: the test host's own figure, in both columns
  median_of "$2" native
  echo "| $1 | $txt | $txt | — |"
}
pct() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v v="$1" -v n="$2" 'BEGIN { printf "%.0f%%", 100 * v / n }'; else echo n/a; fi; }
pct_row() {  # pct_row LABEL METRIC: each VMM's median as a percentage of the native median
  local nat a q
  median_of "$2" native; nat=$med
  median_of "$2" altovirt; a=$med
  median_of "$2" qemu; q=$med
  echo "| $1 | $(pct "$a" "$nat") | $(pct "$q" "$nat") | — |"
}
# derive: metrics computed from others, for each run that has both, unless the results hold them
# already (a part's own report derived them). preclock_ms: start to the guest kernel's clock (start
# to init minus the guest's uptime at init), i.e. the VMM's (and for QEMU its firmware's) share of
# the start without the guest kernel's boot after its clock starts, which is the same kernel's work
# under both VMMs and bounds the start-to-init ratio from below.
derive() {
  grep -q '^preclock_ms ' "$results" && return 0
  awk '$3 ~ /^[0-9.]+$/ && $1 == "init_ms" { i[$2 " " $4] = $3 } $3 ~ /^[0-9.]+$/ && $1 == "uptime_s" { u[$2 " " $4] = $3 }
       END { for (k in i) if (k in u) { split(k, p, " "); printf "preclock_ms %s %.0f %s\n", p[1], i[k] - 1000 * u[k], p[2] } }' \
    "$results" | sort -k4,4n -k2,2r >> "$results"
}
report() {
derive
chart=$(mktemp /tmp/altovirt-bench-chart.XXXXXX)
echo "BENCH-PAIRS-BEGIN"
echo "$runs pair(s) of runs (QEMU, then altovirt)$([ "$smoke" = 1 ] && echo ' (smoke mode: small sizes, no warm-up)' || echo ' after a discarded warm-up round'); the last column is the median [min–max] of the per-pair ratios; NVMe reads: $seqmib MiB sequential, $randn random 4 KiB."
echo "BENCH-PAIRS-END"
echo "BENCH-TABLE-BEGIN"
echo "| metric | altovirt median [min–max] | QEMU median [min–max] | altovirt/QEMU per pair, median [min–max] |"
echo "|---|---|---|---|"
row "VMM start to guest init (ms)" init_ms "start to init"
row "guest uptime at init (s)" uptime_s "uptime at init"
row "VMM start to the guest kernel's clock (start to init minus uptime; ms)" preclock_ms "start to guest clock"
row "VMM start to DHCP lease (ms)" lease_ms "start to lease"
row "memory overhead, 256 MiB guest (MiB)" mem256_mib "mem 256M"
row "memory overhead, 1 GiB guest (MiB)" mem1g_mib "mem 1G"
row "VMM start to guest init, cold page cache, 1 GiB (ms)" init_cold_ms "init, cold cache"
row "guest reboot to init, NVMe VF, 1 GiB (ms)" reboot_ms "reboot to init"
row "hot-plug: device_add of the e1000e to the guest's interface up (ms)" hp_add_ms "hot-add"
row "hot-plug: device_del to the guest having let go (ms)" hp_del_ms "hot-remove"
for pages in 4k 2m; do
  for mem in 256 1024 2048; do
    row "DMA map $([ "$mem" = 256 ] && echo "256 MiB" || echo "$((mem / 1024)) GiB"), $([ "$pages" = 4k ] && echo "4 KiB pages + THP" || echo "2 MiB hugepages") (ms)" \
      "dma${mem}_${pages}_ms" "map $mem $pages"
  done
done
row "NVMe VF sequential read (MB/s)" nvme_seq "seq read"
row "NVMe VF 4 KiB random read (IOPS)" nvme_rand "rand read"
native_row "native test host sequential read (MB/s)" nvme_seq
native_row "native test host 4 KiB random read (IOPS)" nvme_rand
pct_row "sequential read, % of native" nvme_seq
pct_row "random read, % of native" nvme_rand
row "ping RTT avg over passed e1000e (ms)" ping_ms "ping RTT"
if [ "$smoke" = 0 ]; then  # --smoke does not boot the standard VM: no rows rather than rows of n/a
  row "standard VM: VMM start to login prompt (s)" login_s "start to login"
  row "standard VM: memory overhead at login, 512 MiB (MiB)" memstd_mib "mem std VM"
  row "standard VM: virtio-blk 4 KiB random read, iodepth 32 (IOPS)" blk_rand "blk rand"
  row "standard VM: virtio-blk 1 MiB sequential read (MB/s)" blk_seq "blk seq"
  row "standard VM: virtio-net (vhost) iperf3 guest to host (Mbit/s)" net_tx "net tx"
  row "standard VM: virtio-net (vhost) iperf3 host to guest (Mbit/s)" net_rx "net rx"
  row "standard VM: virtio-net (vhost) ping RTT avg (ms)" net_ping_ms "net ping"
  row "UEFI (OVMF) disk boot: VMM start to the firmware starting the boot loader (s)" uefi_loader_s "OVMF to loader"
  row "UEFI (OVMF) disk boot: VMM start to login prompt (s)" uefi_login_s "OVMF to login"
fi
row "exits, whole I/O run (all regions)" exits_total
row "VF trapped BAR accesses outside MSI-X" vf_other_traps
echo "BENCH-TABLE-END"
echo "BENCH-NOTES-BEGIN"
echo "- DMA map: the sum of the VFIO_IOMMU_MAP_DMA ioctls' durations (strace -T) while each VMM starts with the e1000e passed through, no guest running (both started paused with -S; QEMU until it answers a QMP command; altovirt, which maps on a thread of its own, until its DMA-mapped log line). In the start-to-init rows altovirt's map runs beside the kernel load and the guest's boot (a device's bus mastering waits for it); QEMU maps before its vCPUs start. 4 KiB pages + THP: each VMM's default anonymous RAM; 2 MiB hugepages: -mem-path /dev/hugepages for both."
echo "- VMM start to the guest kernel's clock: each run's start to init minus its guest's uptime at init (the guest's clock starts in its setup_arch, so this holds the VMM's start, QEMU's firmware, and the guest kernel's earliest set-up before its clock). The rest of start to init, the guest's uptime at init, is the same kernel booting under either VMM and differs only by the exits it takes, so it sets a floor under the start-to-init ratio that no VMM start-up work can go below."
echo "- Cold page cache: echo 3 > /proc/sys/vm/drop_caches before the 1 GiB boot, so the kernel, initramfs and the VMM's binary and libraries are read again."
echo "- Guest reboot to init: the guest (1 GiB, the NVMe VF passed through) runs reboot -f; from its GUEST-REBOOT line to the next boot's GUEST-INIT line on the test host's clock. QEMU keeps its DMA mappings across the reset; so does altovirt."
echo "- Memory overhead: sum of Rss in /proc/PID/smaps minus the Rss of the guest RAM mapping."
echo "- NVMe reads: busybox dd with O_DIRECT, the same commands in the guest and on the test host, all timed on the test host's clock (in the guest from its BEGIN line to its result line on the console)."
echo "- Random reads run one busybox dd per 4 KiB read, so they include process start-up (slower in the guest)."
echo "- Standard VM: Debian 12 (testbed/debian-image), 1 vCPU, 512 MiB, its root disk the test host's virtio-blk disk (a copy-on-write of the image) with cache=none,aio=io_uring on both VMMs, console on virtio-console (hvc0). fio runs in the guest for $([ "$smoke" = 0 ] && echo 10 || echo 0) s per pattern on /dev/vda (read-only, O_DIRECT, libaio). Its virtio-net NIC is on a tap with vhost=on for both VMMs, on a bridge in the test host: iperf3 (TCP, 5 s, one stream) to and from the test host, and ping (10 echoes). Not measured with --smoke."
echo "- UEFI disk boot: the same disk (testbed/debian-image's efi-disk.img: GPT, an EFI system partition with Debian's systemd-boot, kernel and initramfs) booted by Debian's OVMF_CODE_4M.fd with a fresh copy of OVMF_VARS_4M.fd each run, the disk as bootindex=1 on both VMMs, console on ttyS0. 'To the firmware starting the boot loader' is the VMM's start to OVMF's 'BdsDxe: starting Boot0001' line on the serial console: the firmware's share (the loader entry boots the kernel with quiet, so the kernel prints no first line to time). The test host loads the CR8-intercepting kvm-amd for this (testbed/kvm-amd-cr8); Linux never writes CR8, so the other rows are unaffected. Not measured with --smoke."
echo "- Exits: altovirt's per-region counters cover the whole life of the I/O VM (boot, DHCP, ping, reads)."
echo "- Each part (io: the passthrough VMs; std: the standard VM; uefi: the OVMF disk boot) runs in a test host of its own, booted for it; a part whose test host dies runs once more."
local failed
failed=$(awk '$1 == "failed_run" { printf "%s%s run %s (%s)", (n++ ? ", " : ""), $2, $4, $3 }' "$results")
[ -z "$failed" ] || echo "- **Runs that failed** (their rows hold the other runs; the failed run's console is in the part's output): $failed."
[ "${#unfinished[@]}" = 0 ] || echo "- **Parts that did not finish:** ${unfinished[*]} (their rows hold the runs measured before the test host died, or n/a)."
echo "BENCH-NOTES-END"
echo "BENCH-RUNS-BEGIN"
echo "| metric | VMM | every run, in the order measured |"
echo "|---|---|---|"
awk '$1 != "failed_run" { k = $1 " | " $2; if (!(k in v)) order[++n] = k; v[k] = v[k] (v[k] == "" ? "" : ", ") $3 }
     END { for (i = 1; i <= n; i++) print "| " order[i] " | " v[order[i]] " |" }' "$results"
echo "BENCH-RUNS-END"
echo "BENCH-CHART-BEGIN"
cat "$chart"
echo "BENCH-CHART-END"
rm -f "$chart"
}

# ---------------------------------------------------------------------------------------------------
# Outside the testbed: run the measurements inside it, then write the report and the chart.
if [ "${TESTBED:-}" != 1 ]; then
  parse_args "$@"
  [ -n "$out" ] || { if [ "$smoke" = 1 ]; then out=/tmp/altovirt-bench; else out=$src/docs; fi; }
  mkdir -p "$out"
  parts=(io)
  if [ -n "${report_from:-}" ]; then
    # The report again from the part outputs a run kept (its "every part's output is in" directory),
    # measuring nothing.
    [ -s "$report_from/io.log" ] || { echo "bench.sh: --report-from $report_from: no io.log there (the directory a run names at its end)" >&2; exit 2; }
    parts=()
    for p in io std uefi; do [ -s "$report_from/$p.log" ] && parts+=("$p"); done
  elif [ "$smoke" = 0 ]; then
    parts=(io std uefi)
    "$src/testbed/debian-image" "$build/testbed/debian" >&2 || { echo "bench.sh: building the Debian image failed" >&2; exit 1; }
    # OVMF in a second-level guest needs the CR8-intercepting kvm-amd (testbed/kvm-amd-cr8).
    "$src/testbed/kvm-amd-cr8" "$build/testbed/kvm-amd-cr8.ko" >&2 || { echo "bench.sh: building kvm-amd-cr8 failed" >&2; exit 1; }
  fi
  logs=${report_from:-${TMPDIR:-/tmp}/altovirt-bench-logs}
  [ -n "${report_from:-}" ] || { rm -rf "$logs"; mkdir -p "$logs"; }
  section() { sed -n "/^BENCH-$1-BEGIN/,/^BENCH-$1-END/p" "$2" | sed '1d;$d' | tr -d '\r'; }
  # A part's measurements: of a part testbed ran twice (its first test host died), only the last
  # attempt's (each attempt starts with testbed's "test host up" line). An attempt that finished
  # prints them all (BENCH-RESULTS); one whose test host died did not, so they are read from the
  # lines it logged as it measured ("bench: run R/N: ..." then "bench:   METRIC VMM VALUE").
  part_results() {
    tr -d '\r' < "$1" | awk '
      /^testbed: test host up/ { n = 0; res = 0; on = 0; run = 0; delete l; delete said; ns = 0; next }
      $0 == "BENCH-RESULTS-BEGIN" { on = 1; res = 1; n = 0; next }
      $0 == "BENCH-RESULTS-END" { on = 0; next }
      on { l[++n] = $0; next }
      /^bench: run [0-9]+\// { split($3, rr, "/"); run = rr[1]; next }
      /^bench:   [a-z0-9_]+ (qemu|altovirt|native) / { v = ($4 == "n/a") ? "-" : $4; said[++ns] = $2 " " $3 " " v " " run }
      END { if (res) for (i = 1; i <= n; i++) print l[i]; else for (i = 1; i <= ns; i++) print said[i] }'
  }
  results=$logs/results  # every part's measurements: METRIC VMM VALUE RUN
  : > "$results"
  declare -A partlog
  unfinished=()
  for p in "${parts[@]}"; do
    # The image's UEFI disk (its root is partition 2) serves the standard VM and the firmware boot.
    tbargs=()
    case "$p" in
      std) tbargs=(--disk "$build/testbed/debian/efi-disk.img") ;;
      uefi) tbargs=(--disk "$build/testbed/debian/efi-disk.img" --kvm-amd "$build/testbed/kvm-amd-cr8.ko") ;;
    esac
    # testbed runs the part once more in a fresh test host when the first one dies.
    partlog[$p]=$logs/$p.log
    if [ -z "${report_from:-}" ]; then
      echo "bench.sh: part $p (its output: ${partlog[$p]})" >&2
      "$src/testbed/testbed" --env ALTOVIRT_BUILD="$build" --env ALTOVIRT_SRC="$src" "${tbargs[@]}" \
        --env BENCH_PART="$p" --env BENCH_ARGS="$*" --script "$0" 2>&1 | tee "${partlog[$p]}" || true
    fi
    grep -q '^BENCH-DONE' "${partlog[$p]}" || unfinished+=("$p")
    # An unfinished part's measurements so far still count (its rows say how many runs they hold).
    part_results "${partlog[$p]}" >> "$results"
  done
  [ -s "$results" ] || { echo "bench.sh: no part measured anything (outputs in $logs)" >&2; exit 1; }
  if [ -n "${report_from:-}" ]; then  # what the run was asked for, as far as its outputs tell
    runs=$(awk '$4 ~ /^[0-9]+$/ && $4 > m { m = $4 } END { print m + 0 }' "$results")
    grep -q 'smoke mode' "$logs/io.log" && smoke=1
  fi
  machine=$(for p in "${parts[@]}"; do section MACHINE "${partlog[$p]}"; done | awk 'NF && !seen[$0]++' | head -n 2)
  exits=$(section EXITS "${partlog[io]}")
  report > "$logs/report"
  {
    echo "# altovirt vs QEMU: benchmarks"
    echo
    echo "Measured by \`./run bench\` (scripts/bench.sh) on $(date -u -r "$(ls -t "${partlog[@]}" | head -n 1)" '+%Y-%m-%d %H:%M UTC'); never edited by hand."
    echo
    echo "Machine: $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs."
    echo "$machine"
    section PAIRS "$logs/report"
    echo
    echo "**Caveat:** the test host is a QEMU TCG (software-emulated) VM, and both VMMs run their guests"
    echo "with nested KVM inside it. Absolute times are tens of times slower than on hardware; compare ratios."
    echo
    section TABLE "$logs/report"
    echo
    section NOTES "$logs/report"
    echo
    echo "![altovirt / QEMU ratios](benchmarks.png)"
    echo
    echo "## Every run"
    echo
    section RUNS "$logs/report"
    echo
    echo "## altovirt exit counters of the last I/O run (whole VM lifetime)"
    echo
    echo '```'
    echo "$exits"
    echo '```'
  } > "$out/benchmarks.md"
  section CHART "$logs/report" > "$out/benchmarks.dat"
  if command -v gnuplot >/dev/null && [ -s "$out/benchmarks.dat" ]; then
    gnuplot <<GP
set terminal pngcairo size 900,500 noenhanced
set output "$out/benchmarks.png"
set title "altovirt / QEMU (median; below 1 = altovirt lower)"
set style fill solid 0.8
set boxwidth 0.6
set yrange [0:*]
set grid ytics
set xtics rotate by -30
plot "$out/benchmarks.dat" using 0:2:xtic(1) with boxes notitle, 1 with lines lc rgb "black" notitle
GP
    rm -f "$out/benchmarks.dat"
  else
    echo "bench.sh: no chart: gnuplot is missing (scripts/install-deps installs gnuplot-nox) or no ratio was measured" >&2
  fi
  echo "bench.sh: wrote $out/benchmarks.md$([ -s "$out/benchmarks.png" ] && echo " and $out/benchmarks.png"); every part's output is in $logs"
  [ "${#unfinished[@]}" = 0 ] || { echo "bench.sh: part(s) ${unfinished[*]} did not finish: their rows are incomplete" >&2; exit 1; }
  exit 0
fi

# ---------------------------------------------------------------------------------------------------
# Inside the test host.
# shellcheck disable=SC2086
parse_args ${BENCH_ARGS:-} "$@"
. "$src/testbed/hostlib.sh"
ALTOVIRT=$build/tools/altovirt/altovirt
KERNEL=$(tb_kernel)
INITRD=$build/testbed/guest-initrd.gz
work=/tmp/bench
rm -rf "$work"; mkdir -p "$work"
results=$work/results   # lines: METRIC VMM VALUE RUN
: > "$results"
part=${BENCH_PART:-io}
say() { echo "bench: $*" >&2; }
die() { echo "bench: FAILED: $*" >&2; exit 1; }
[ -x "$ALTOVIRT" ] || die "no altovirt at $ALTOVIRT: build first (./run build)"
[ -s "$INITRD" ] || die "no guest initramfs at $INITRD: build first (./run build)"
modprobe kvm_amd 2>/dev/null || modprobe kvm_intel
[ -c /dev/kvm ] || die "no /dev/kvm in the test host"
case "$part" in io | std | uefi) ;; *) die "unknown part '$part' (io, std or uefi)" ;; esac
# What this part measured, for the outer part to merge; on any exit, so that a part that fails
# half-way still hands over the runs it measured. BENCH-DONE says it ran to the end.
part_done=0
part_output() {
  [ "$part_done" = 0 ] || echo "BENCH-DONE"
  echo "BENCH-MACHINE-BEGIN"
  echo "Test host: Linux $(uname -r), $(nproc) vCPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')),"
  echo "$(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo); guest kernel $(basename "$KERNEL"); $(qemu-system-x86_64 --version | head -n1)."
  echo "BENCH-MACHINE-END"
  echo "BENCH-RESULTS-BEGIN"
  cat "$results"
  echo "BENCH-RESULTS-END"
  # This part's own report too (the outer part reports the merged parts; tests/system/bench reads it).
  unfinished=()
  report
  echo "BENCH-EXITS-BEGIN"
  cat "$work/exits" 2>/dev/null || true
  grep -h "trapped BAR accesses" "$work/altovirt-io-$runs.log" 2>/dev/null || true
  echo "BENCH-EXITS-END"
}
trap part_output EXIT

# record METRIC VMM VALUE: one measurement of run $r (the run number pairs QEMU's and altovirt's).
# A value not measured is recorded as "-" (so that the run number stays the fourth field).
record() { echo "$1 $2 ${3:--} ${r:-0}" >> "$results"; say "  $1 $2 ${3:-n/a}"; }

# smaps_overhead PID MEM_MIB -> KiB resident outside guest RAM: the total Rss minus the RAM mapping's,
# where the RAM mapping is the anonymous mapping at least as large as the guest RAM with the most
# resident pages (both VMMs allocate RAM as one such mapping; the kernel may merge a neighbouring
# anonymous mapping into it, so at most MEM_MIB of its Rss counts as RAM: VFIO pins all of it).
smaps_overhead() {
  awk -v ram=$(($2 * 1024)) '
    /^[0-9a-f]+-[0-9a-f]+ / { n++; an[n] = (NF < 6); next }
    /^Size:/ { sz[n] = $2 }
    /^Rss:/ { rss[n] = $2; total += $2 }
    END { best = 0; for (i = 1; i <= n; i++) if (an[i] && sz[i] >= ram && rss[i] > rss[best]) best = i
          if (best == 0) { print "none"; exit } r = rss[best]; if (r > ram) r = ram; print total - r }' "/proc/$1/smaps"
}

# vm NAME VMM MEM_MIB STEPS MEASURE_MARKER DEVICES... : boots a guest, timestamps its GUEST- lines
# (ms since the VMM was started) into $work/NAME.events, measures the memory overhead when
# MEASURE_MARKER appears, and keeps the console in $work/NAME.out and altovirt's log in $work/NAME.log.
vm() {
  local name=$1 vmm=$2 mem=$3 steps=$4 marker=$5; shift 5
  local append="console=ttyS0 panic=-1 quiet guest.steps=$steps guest.seqmib=$seqmib guest.randn=$randn"
  local devs=() d cmd
  for d in "$@"; do devs+=(-device "vfio-pci,host=$d"); done
  if [ "$vmm" = altovirt ]; then
    cmd=("$ALTOVIRT" -m "${mem}M" -smp 1 -kernel "$KERNEL" -initrd "$INITRD" -serial stdio -no-reboot
         -append "$append" -D "$work/$name.log" "${devs[@]}")
  else
    cmd=(qemu-system-x86_64 -accel kvm -cpu host -m "${mem}M" -smp 1 -nodefaults -display none -serial stdio
         -no-reboot -kernel "$KERNEL" -initrd "$INITRD" -append "$append" "${devs[@]}")
  fi
  rm -f "$work/fifo"; mkfifo "$work/fifo"
  : > "$work/$name.events"
  local start=${EPOCHREALTIME/./} pid line now child
  timeout 900 "${cmd[@]}" < /dev/null > "$work/fifo" 2>&1 &
  pid=$!
  while IFS= read -r line; do
    line=${line%$'\r'}
    echo "$line" >> "$work/$name.out"
    case "$line" in
      *GUEST-*)
        now=${EPOCHREALTIME/./}
        echo "$(((now - start) / 1000)) ${line#*GUEST-}" >> "$work/$name.events"
        case "$line" in
          *"GUEST-$marker"*)
            child=$(pgrep -P "$pid" | head -n1)
            [ -n "$child" ] && echo "$(smaps_overhead "$child" "$mem")" > "$work/$name.mem"
            [ "$(cat "$work/$name.mem" 2>/dev/null)" != none ] || say "$name: no guest RAM mapping in the smaps of ${child:-(no VMM process)}" ;;
        esac ;;
    esac
  done < "$work/fifo"
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { tail -n 20 "$work/$name.out" >&2; die "$vmm ($name) exited with status $rc"; }
  grep -q '^[0-9]* FAIL' "$work/$name.events" && { cat "$work/$name.events" >&2; die "$vmm ($name): a guest step failed"; }
  grep -q '^[0-9]* DONE' "$work/$name.events" || { tail -n 20 "$work/$name.out" >&2; die "$vmm ($name): the guest did not finish"; }
}
ev_ms() { awk -v k="$2" '$2 ~ "^" k { print $1; exit }' "$work/$1.events"; }
ev_field() { awk -v k="$2" -v f="$3" '$2 ~ "^" k { print $f; exit }' "$work/$1.events"; }
# span_rate NAME BEGIN END AMOUNT: AMOUNT (an awk expression) per second between two events.
span_rate() {
  local a b
  a=$(ev_ms "$1" "$2"); b=$(ev_ms "$1" "$3")
  [ -n "$a" ] && [ -n "$b" ] || return 0
  awk -v a="$a" -v b="$b" "BEGIN { d = (b - a) / 1000; if (d < 0.001) d = 0.001; v = ($4) / d; printf (v < 1000 ? \"%.1f\" : \"%.0f\"), v }"
}

# map_ms VMM MEM_MIB PAGES DEVICE: the time one VMM spends in VFIO_IOMMU_MAP_DMA when it starts with
# MEM_MIB of guest RAM (PAGES: 4k, anonymous memory with THP advice; 2m, 2 MiB hugetlbfs pages) and
# DEVICE passed through, measured the same way for both: strace -T around every ioctl, the durations
# of the MAP_DMA calls summed. Neither guest runs, so strace costs nothing where it is not measuring:
# both start paused (-S); QEMU has mapped everything once a QMP command is answered (below); altovirt
# (which maps on a thread of its own while the machine starts) once it logs its DMA-mapped line. Prints ms, or
# nothing when the run failed.
map_ms() {
  local vmm=$1 mem=$2 pages=$3 dev=$4 name=map-$1-$2-$3-${r:-0} cmd pid child mempath=()
  [ "$pages" = 2m ] && mempath=(-mem-path /dev/hugepages)
  if [ "$vmm" = altovirt ]; then
    cmd=("$ALTOVIRT" -m "${mem}M" -smp 1 -kernel "$KERNEL" -initrd "$INITRD" -serial none -no-reboot -S
         -qmp "unix:$work/$name.qmp,server,nowait" -append console=ttyS0 -D "$work/$name.log" "${mempath[@]}"
         -device "vfio-pci,host=$dev")
  else
    cmd=(qemu-system-x86_64 -accel kvm -cpu host -m "${mem}M" -smp 1 -nodefaults -display none -serial none
         -no-reboot -S -qmp "unix:$work/$name.qmp,server,nowait" -kernel "$KERNEL" -initrd "$INITRD"
         "${mempath[@]}" -device "vfio-pci,host=$dev")
  fi
  : > "$work/$name.log"
  # -ff: one file per thread (NAME.strace.TID), so that a call another thread interrupts is still one
  # line (altovirt maps on a thread of its own; strace -f would print it as "unfinished" and "resumed").
  rm -f "$work/$name.strace".*
  strace -ff -T -e trace=ioctl -o "$work/$name.strace" "${cmd[@]}" < /dev/null > "$work/$name.out" 2>&1 &
  pid=$!
  local end=$((SECONDS + 600)) ready=0
  while [ $SECONDS -lt $end ] && kill -0 "$pid" 2>/dev/null; do
    if [ "$vmm" = altovirt ]; then
      grep -q 'DMA-mapped' "$work/$name.log" && { ready=1; break; }
    elif [ -S "$work/$name.qmp" ] && python3 - "$work/$name.qmp" <<'PY' 2>/dev/null; then
# The greeting alone is not enough: QEMU's QMP chardev runs in the monitor's I/O thread and greets
# while the main thread may still be realizing vfio-pci (mapping the RAM). A command's reply comes
# from the main loop, which runs only once the machine is built.
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(600); s.connect(sys.argv[1])
f = s.makefile("rwb")
if b"QMP" not in f.readline(): sys.exit(1)
for cmd in (b'{"execute":"qmp_capabilities"}', b'{"execute":"query-status"}'):
    f.write(cmd + b"\n"); f.flush()
    while True:
        line = f.readline()
        if not line: sys.exit(1)
        if b'"return"' in line or b'"error"' in line: break
sys.exit(0 if b'"status"' in line else 1)
PY
      ready=1; break
    fi
    sleep 0.2
  done
  child=$(pgrep -P "$pid" | head -n1)
  [ -n "$child" ] && kill "$child" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  [ "$ready" = 1 ] || { tail -n 5 "$work/$name.out" "$work/$name.log" >&2; say "$vmm: $mem MiB ($pages pages): no DMA map within 600 s"; return 0; }
  # strace names the request when it knows linux/vfio.h, else prints its _IOC() form (';' = 0x3b, 113 = 0x71).
  awk '/VFIO_IOMMU_MAP_DMA|_IOC\(_IOC_NONE, 0x3b, 0x71/ && / = 0 </ { t = $NF; gsub(/[<>]/, "", t); s += t; n++ }
       END { if (n) printf "%.1f", s * 1000 }' "$work/$name.strace".*
}

# reboot_vm NAME VMM MEM_MIB DEVICE: boots a guest with DEVICE passed through that reboots itself
# (the reboot step), and records the time from its GUEST-REBOOT line to the next boot's GUEST-INIT,
# as the test host's clock sees them; then stops the VMM.
reboot_vm() {
  local name=$1 vmm=$2 mem=$3 dev=$4 cmd pid line t0="" inits=0 now
  local append="console=ttyS0 panic=-1 quiet guest.steps=reboot"
  if [ "$vmm" = altovirt ]; then
    cmd=("$ALTOVIRT" -m "${mem}M" -smp 1 -kernel "$KERNEL" -initrd "$INITRD" -serial stdio -append "$append"
         -D "$work/$name.log" -device "vfio-pci,host=$dev")
  else
    cmd=(qemu-system-x86_64 -accel kvm -cpu host -m "${mem}M" -smp 1 -nodefaults -display none -serial stdio
         -kernel "$KERNEL" -initrd "$INITRD" -append "$append" -device "vfio-pci,host=$dev")
  fi
  rm -f "$work/fifo"; mkfifo "$work/fifo"
  timeout 900 "${cmd[@]}" < /dev/null > "$work/fifo" 2>&1 &
  pid=$!
  while IFS= read -r line; do
    echo "${line%$'\r'}" >> "$work/$name.out"
    case "$line" in
      *GUEST-REBOOT*) t0=${EPOCHREALTIME/./} ;;
      *GUEST-INIT*)
        inits=$((inits + 1))
        if [ "$inits" = 2 ] && [ -n "$t0" ]; then
          now=${EPOCHREALTIME/./}
          record reboot_ms "$vmm" "$(((now - t0) / 1000))"
          pkill -TERM -P "$pid" 2>/dev/null || kill "$pid"
          break
        fi ;;
    esac
  done < "$work/fifo"
  wait "$pid" 2>/dev/null || true
  [ "$inits" = 2 ] || { tail -n 20 "$work/$name.out" >&2; die "$vmm ($name): the guest did not come back from its reboot"; }
}

# qmp_cmd SOCKET JSON: one QMP command on a fresh connection (greeting, capabilities, the command);
# prints the reply line.
qmp_cmd() {
  python3 - "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(120); s.connect(sys.argv[1])
f = s.makefile("rw")
def reply():
    while True:
        m = json.loads(f.readline())
        if "event" not in m: return m
f.readline()
f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n"); f.flush(); reply()
f.write(sys.argv[2] + "\n"); f.flush(); print(json.dumps(reply()))
PY
}

# hotplug_vm NAME VMM DEVICE: a q35 guest with an empty root port; DEVICE (the e1000e) is hot-added
# over QMP once the guest waits for it, and removed once the guest has used it. Records the time
# from device_add to the guest's interface being up (its GUEST-HP-IN line) and from device_del to
# the guest having let go (GUEST-HP-OUT), on the test host's clock. Each VMM with its defaults: QEMU
# 7.2's q35 uses ACPI hot-plug for its root ports, altovirt native PCIe hot-plug.
hotplug_vm() {
  local name=$1 vmm=$2 dev=$3 cmd pid line t0="" sock=$work/$1.qmp
  local append="console=ttyS0 panic=-1 quiet guest.steps=hp-in,hp-out"
  if [ "$vmm" = altovirt ]; then
    cmd=("$ALTOVIRT" -m 256M -smp 1 -kernel "$KERNEL" -initrd "$INITRD" -serial stdio -no-reboot -append "$append"
         -D "$work/$name.log" -device pcie-root-port,id=rp1,chassis=1 -qmp "unix:$sock,server,nowait")
  else
    cmd=(qemu-system-x86_64 -accel kvm -cpu host -M q35 -m 256M -smp 1 -nodefaults -display none -serial stdio
         -no-reboot -kernel "$KERNEL" -initrd "$INITRD" -append "$append" -device pcie-root-port,id=rp1,chassis=1
         -qmp "unix:$sock,server,nowait")
  fi
  rm -f "$work/fifo" "$sock"; mkfifo "$work/fifo"
  timeout 900 "${cmd[@]}" < /dev/null > "$work/fifo" 2>&1 &
  pid=$!
  while IFS= read -r line; do
    echo "${line%$'\r'}" >> "$work/$name.out"
    case "$line" in
      *GUEST-HP-WAITING*)
        t0=${EPOCHREALTIME/./}
        qmp_cmd "$sock" "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"host\":\"$dev\",\"id\":\"hp0\",\"bus\":\"rp1\"}}" >> "$work/$name.out" ;;
      *GUEST-HP-IN*) record hp_add_ms "$vmm" "$(((${EPOCHREALTIME/./} - t0) / 1000))" ;;
      *GUEST-HP-WAITGONE*)
        t0=${EPOCHREALTIME/./}
        qmp_cmd "$sock" '{"execute":"device_del","arguments":{"id":"hp0"}}' >> "$work/$name.out" ;;
      *GUEST-HP-OUT*) record hp_del_ms "$vmm" "$(((${EPOCHREALTIME/./} - t0) / 1000))" ;;
      *GUEST-FAIL*) say "$vmm ($name): $line" ;;
    esac
  done < "$work/fifo"
  wait "$pid" 2>/dev/null || true
  grep -q GUEST-HP-OUT "$work/$name.out" || { tail -n 20 "$work/$name.out" >&2; die "$vmm ($name): the hot-plug cycle did not finish"; }
}

# Native ceiling: the same read commands as the guest's nvme-bench step (busybox dd, as in the guest),
# on the PF's namespace.
native_bench() {
  local ns=$1 blocks t0 t1 i=0
  blocks=$(($(cat "/sys/block/$(basename "$ns")/size") / 8))
  t0=${EPOCHREALTIME/./}
  busybox dd if="$ns" of=/dev/null bs=1048576 count="$seqmib" iflag=direct 2>/dev/null || die "native sequential read of $ns failed"
  t1=${EPOCHREALTIME/./}
  record nvme_seq native "$(awk -v n="$seqmib" -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", n * 1048576 / d }')"
  t0=${EPOCHREALTIME/./}
  while [ "$i" -lt "$randn" ]; do
    busybox dd if="$ns" of=/dev/null bs=4096 count=1 skip=$(((RANDOM * 32768 + RANDOM) % blocks)) iflag=direct 2>/dev/null ||
      die "native random read of $ns failed"
    i=$((i + 1))
  done
  t1=${EPOCHREALTIME/./}
  record nvme_rand native "$(awk -v n="$randn" -v d=$((t1 - t0)) 'BEGIN { printf "%.0f", n * 1000000 / d }')"
}

# --- part io: the passthrough VMs, alternating QEMU (A) and altovirt (B) ----------------------------
io_part() {
tb_dhcp_server >/dev/null || die "DHCP server on the NIC's link partner"
ns=/dev/$(ls /sys/bus/pci/devices/$TB_NVME/nvme)n1
tb_nvme_vfs 1 || die "enabling an NVMe VF"
vf=$(tb_nvme_vf 1)
[ -n "$vf" ] || die "VF 1 of $TB_NVME does not exist"
for i in $(seq 50); do [ -b "$ns" ] && break; sleep 0.2; done
[ -b "$ns" ] || die "no namespace block device $ns on the PF"
tb_bind_vfio "$TB_NIC"; tb_bind_vfio "$vf"
say "runs=$runs smoke=$smoke seqmib=$seqmib randn=$randn; NIC $TB_NIC, NVMe VF $vf, native $ns"

# --- a warm-up round, not recorded: the first boot of each VMM reads the guest kernel and initramfs
# into the test host's page cache (over 9p) and faults in the VMM's own binary and libraries -------
if [ "$smoke" = 0 ]; then
  say "warm-up round (not recorded): QEMU and altovirt boot once each"
  for vmm in qemu altovirt; do vm "$vmm-warmup" "$vmm" 256 info,sleep-2 CPUS "$TB_NIC"; done
fi

# --- measurements, alternating QEMU (A) and altovirt (B) -----------------------------------------
for r in $(seq "$runs"); do
  say "run $r/$runs: native NVMe reads"
  native_bench "$ns"
  order="qemu altovirt"; [ $((r % 2)) = 0 ] && order="altovirt qemu"  # each side first in turn (below)
  for vmm in $order; do
    say "run $r/$runs: $vmm, 256 MiB, NIC + VF: init, DHCP, ping, memory, NVMe reads"
    n=$vmm-io-$r
    vm "$n" "$vmm" 256 info,dhcp,ping,sleep-2,nvme-bench PING "$TB_NIC" "$vf"
    record init_ms "$vmm" "$(ev_ms "$n" INIT)"
    record uptime_s "$vmm" "$(ev_field "$n" INIT 3 | sed 's/uptime=//')"
    record lease_ms "$vmm" "$(ev_ms "$n" LEASE)"
    record ping_ms "$vmm" "$(ev_field "$n" PING 6 | cut -d/ -f2)"
    # Timed on the test host's clock from the guest's BEGIN line to its result line, as the native
    # reads are (the guest's own figures, on its clock, stay in the console log).
    record nvme_seq "$vmm" "$(span_rate "$n" SEQ-BEGIN NVME-SEQ "$seqmib * 1.048576")"
    record nvme_rand "$vmm" "$(span_rate "$n" RAND-BEGIN NVME-RAND "$randn")"
    record mem256_mib "$vmm" "$(awk '$1 != "none" { printf "%.1f", $1 / 1024 }' "$work/$n.mem" 2>/dev/null)"
    if [ "$vmm" = altovirt ]; then
      sed -n '/exit counters:/,$p' "$work/$n.log" | sed 1d | grep -E '^ *(mmio|pio) ' > "$work/exits" || true
      record exits_total altovirt "$(awk '{ s += $(NF - 2) + $NF } END { print s + 0 }' "$work/exits")"
      # Trapped accesses to the VF's BARs outside the MSI-X table and PBA: the data path (doorbells,
      # queues) is direct-mapped, so each one here is an exit on what should be a zero-exit path.
      record vf_other_traps altovirt "$(grep "trapped BAR accesses" "$work/$n.log" | grep -F "$vf" | tail -n1 |
        sed -n 's/.*other \([0-9]*\)\/\([0-9]*\).*/\1 \2/p' | awk '{ print $1 + $2 }')"
    fi
    # With a cold page cache: the kernel, initramfs and the VMM's own binary and libraries are read
    # again (over the testbed's 9p share) as on a host's first start of the day.
    say "run $r/$runs: $vmm, 1 GiB, NIC, cold page cache: init, memory"
    n=$vmm-1g-$r
    sync; echo 3 > /proc/sys/vm/drop_caches
    vm "$n" "$vmm" 1024 info,sleep-2 CPUS "$TB_NIC"
    record init_cold_ms "$vmm" "$(ev_ms "$n" INIT)"
    record mem1g_mib "$vmm" "$(awk '$1 != "none" { printf "%.1f", $1 / 1024 }' "$work/$n.mem" 2>/dev/null)"
    say "run $r/$runs: $vmm, 1 GiB, NVMe VF: guest reboot to init"
    reboot_vm "$vmm-reboot-$r" "$vmm" 1024 "$vf"
    say "run $r/$runs: $vmm, hot-plug of the NIC: device_add to interface up, device_del to let go"
    hotplug_vm "$vmm-hotplug-$r" "$vmm" "$TB_NIC"
    for pages in 4k 2m; do
      # 2 MiB hugepages: 2 GiB of them (the largest run) only for these runs, since the test host
      # has 4 GiB and the 4 KiB runs need 2 GiB of ordinary memory; the kernel compacts memory to
      # find them, and when it cannot, the rows stay n/a.
      if [ "$pages" = 2m ] && ! tb_hugepages "$huge_pages"; then
        say "could not reserve $huge_pages free 2 MiB hugepages: no hugetlbfs DMA-map run this time"
        echo 0 > /proc/sys/vm/nr_hugepages
        continue
      fi
      for mem in 256 1024 2048; do
        [ "$smoke" = 0 ] || [ "$mem" = 256 ] || continue
        say "run $r/$runs: $vmm, $mem MiB on $pages pages, NIC: DMA map"
        record "dma${mem}_${pages}_ms" "$vmm" "$(map_ms "$vmm" "$mem" "$pages" "$TB_NIC")"
      done
      [ "$pages" = 4k ] || echo 0 > /proc/sys/vm/nr_hugepages
    done
  done
done
tb_unbind_vfio "$vf"; tb_unbind_vfio "$TB_NIC"
}

# --- the standard VM: Debian on virtio-blk, alternating QEMU and altovirt ------------------------
. "$src/testbed/guest-console.sh"
DEB=$build/testbed/debian
# power_off VMM NAME: the logged-in guest powers off; its VMM must end within 300 s.
power_off() {
  gc_type poweroff
  local end=$((SECONDS + 300))
  while kill -0 "$(gc_pid)" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.5; done
  kill -0 "$(gc_pid)" 2>/dev/null && { kill "$(gc_pid)"; die "$1 ($2): did not power off within 300 s"; }
  gc_close
}
# paired FUNCTION TAG WHAT: FUNCTION VMM-TAG-RUN VMM for every run, QEMU and altovirt taking turns at
# going first: a test host that warms up (page cache, THP, its own TCG translation cache) or tires in
# the course of a pair favours one side, and that bias cancels only when both sides take both places
# (one 8 s iperf3 run inside the test host varies by +-30%, more than the difference measured).
# The run number is the global r, which record() files each value under.
paired() {
  local vmm order rc
  for r in $(seq "$runs"); do
    order="qemu altovirt"; [ $((r % 2)) = 0 ] && order="altovirt qemu"
    for vmm in $order; do
      say "run $r/$runs: $vmm, $3"
      # A run that fails (a guest that hangs, a VMM that dies) costs that run, not the part: its
      # console and log stay beside the part's output, the table says which run failed.
      set +e
      ( set -e; "$1" "$vmm-$2-$r" "$vmm" )
      rc=$?
      set -e
      [ "$rc" = 0 ] || run_failed "$vmm-$2-$r" "$vmm"
    done
  done
}
# run_failed NAME VMM: stops what is left of a failed run (its console command, and so the VMM) and
# records the failure, with the end of altovirt's log on stderr.
run_failed() {
  local pid end
  pid=$(cat "$work/$1.console/pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    end=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { pkill -KILL -P "$pid"; kill -KILL "$pid"; } 2>/dev/null
  fi
  say "$1 FAILED; the end of its console and log follow"
  tail -c 3000 "$work/$1.console/out" 2>/dev/null | tr -d '\r' >&2 || true
  [ "$2" != altovirt ] || tail -n 40 "$work/$1.log" >&2 2>/dev/null || true
  record failed_run "$2" "$1"
}
# debian_vm NAME VMM: boots the Debian image from the test host's --disk (the same block device for
# both VMMs, cache=none and aio=io_uring), with a virtio console on stdio; records the time from the
# VMM's start to the login prompt, the memory overhead then, and fio's figures in the guest.
debian_vm() {
  local name=$1 vmm=$2 cmd start now out child
  local append="console=hvc0 root=/dev/vda2 rw quiet"
  local drive="file=$deb_disk,format=raw,if=none,id=d0,cache=none,aio=io_uring"
  if [ "$vmm" = altovirt ]; then
    cmd=("$ALTOVIRT" -m 512M -smp 1 -no-reboot -D "$work/$name.log")
  else
    cmd=(qemu-system-x86_64 -machine q35 -accel kvm -cpu host -m 512M -smp 1 -nodefaults -display none -no-reboot)
  fi
  cmd+=(-kernel "$DEB/vmlinuz" -initrd "$DEB/initrd.img" -append "$append" -drive "$drive"
        -device virtio-blk-pci,drive=d0 -device virtio-serial-pci -chardev stdio,id=c0 -device virtconsole,chardev=c0 -serial none
        -netdev tap,id=n0,ifname=avbtap0,script=no,downscript=no,vhost=on -device virtio-net-pci,netdev=n0,mac=$bench_mac)
  start=${EPOCHREALTIME/./}
  GC_DIR=$work/$name.console gc_open timeout 1800 "${cmd[@]}"
  gc_wait 900 "login: " crash || { tail -c 3000 "$GC_OUT" >&2; die "$vmm ($name): no login prompt on hvc0"; }
  now=${EPOCHREALTIME/./}
  record login_s "$vmm" "$(awk -v d=$((now - start)) 'BEGIN { printf "%.1f", d / 1000000 }')"
  child=$(pgrep -P "$(gc_pid)" | head -n1)
  [ -n "$child" ] && record memstd_mib "$vmm" "$(smaps_overhead "$child" 512 | awk '$1 != "none" { printf "%.1f", $1 / 1024 }')"
  gc_login 10 || { tail -c 3000 "$GC_OUT" >&2; die "$vmm ($name): root login"; }
  # fio's terse output (version 3): field 7 is the read bandwidth in KiB/s, field 8 the read IOPS.
  out=$(gc_run 300 "fio --name=rand --filename=/dev/vda --readonly --rw=randread --bs=4k --direct=1 --ioengine=libaio --iodepth=32 --runtime=$fio_s --time_based --output-format=terse | cut -d';' -f8 | sed 's/^/IOPS=/'") ||
    die "$vmm ($name): fio random read: $out"
  record blk_rand "$vmm" "$(echo "$out" | sed -n 's/^IOPS=\([0-9]*\).*/\1/p' | tail -n1)"
  out=$(gc_run 300 "fio --name=seq --filename=/dev/vda --readonly --rw=read --bs=1M --direct=1 --ioengine=libaio --iodepth=8 --runtime=$fio_s --time_based --output-format=terse | cut -d';' -f7 | sed 's/^/BW=/'") ||
    die "$vmm ($name): fio sequential read: $out"
  record blk_seq "$vmm" "$(echo "$out" | sed -n 's/^BW=\([0-9]*\).*/\1/p' | tail -n1 | awk '{ printf "%.1f", $1 * 1024 / 1000000 }')"
  # virtio-net with vhost on the tap avbtap0 (bridge avbr0, 10.0.77.1): a lease, then iperf3 (TCP,
  # 5 s) guest to test host and back, and ping.
  out=$(gc_run 120 "for n in \$(seq 90); do ip -o link | grep -qi $bench_mac && break; sleep 1; done; nic=\$(ip -o link | grep -i $bench_mac | awk -F': ' '{print \$2}'); dhclient \$nic && echo NIC-UP") ||
    die "$vmm ($name): no lease on virtio-net: $out"
  for dir in tx rx; do
    out=$(gc_run 120 "iperf3 -c 10.0.77.1 -t 5 -f m $([ $dir = rx ] && echo -R) | awk '/receiver/ {print \"MBPS=\" \$(NF-2)}'") ||
      die "$vmm ($name): iperf3 $dir: $out"
    record "net_$dir" "$vmm" "$(echo "$out" | sed -n 's/^MBPS=\([0-9.]*\).*/\1/p' | tail -n1)"
  done
  out=$(gc_run 60 "ping -c 10 -i 0.2 10.0.77.1 | tail -n1") || die "$vmm ($name): ping over virtio-net: $out"
  record net_ping_ms "$vmm" "$(echo "$out" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p' | tail -n1)"
  power_off "$vmm" "$name"
}
# uefi_vm NAME VMM: the same disk booted by its own boot loader (systemd-boot on its EFI system
# partition) through Debian's OVMF, with a fresh copy of the variable store each run and the disk as
# bootindex=1, console on the serial port: records the VMM's start to the firmware's starting the
# disk's boot loader (OVMF's BdsDxe prints "BdsDxe: starting Boot0001 ..." on the console: the
# firmware's share; the loader entry's kernel has `quiet`, so the kernel prints no first line to
# time) and to the login prompt.
uefi_vm() {
  local name=$1 vmm=$2 cmd start now
  local drive="file=$deb_disk,format=raw,if=none,id=d0,cache=none,aio=io_uring"
  cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/$name.vars"
  if [ "$vmm" = altovirt ]; then
    cmd=("$ALTOVIRT" -m 512M -smp 1 -no-reboot -D "$work/$name.log")
  else
    cmd=(qemu-system-x86_64 -machine q35 -accel kvm -cpu host -m 512M -smp 1 -nodefaults -display none -no-reboot)
  fi
  cmd+=(-drive if=pflash,format=raw,unit=0,file=/usr/share/OVMF/OVMF_CODE_4M.fd,readonly=on
        -drive "if=pflash,format=raw,unit=1,file=$work/$name.vars" -drive "$drive"
        -device virtio-blk-pci,drive=d0,bootindex=1 -serial stdio)
  start=${EPOCHREALTIME/./}
  GC_DIR=$work/$name.console gc_open timeout 1800 "${cmd[@]}"
  gc_wait 600 "BdsDxe: starting" || { tail -c 3000 "$GC_OUT" >&2; die "$vmm ($name): OVMF did not start the disk's boot loader"; }
  now=${EPOCHREALTIME/./}
  record uefi_loader_s "$vmm" "$(awk -v d=$((now - start)) 'BEGIN { printf "%.1f", d / 1000000 }')"
  gc_wait 900 "login: " crash || { tail -c 3000 "$GC_OUT" >&2; die "$vmm ($name): no login prompt on ttyS0"; }
  now=${EPOCHREALTIME/./}
  record uefi_login_s "$vmm" "$(awk -v d=$((now - start)) 'BEGIN { printf "%.1f", d / 1000000 }')"
  gc_login 30 || { tail -c 3000 "$GC_OUT" >&2; die "$vmm ($name): root login"; }
  power_off "$vmm" "$name"
}
# deb_setup: what parts std and uefi share: the Debian image's disk, and a warm-up (not recorded):
# the kernel, initramfs and firmware read into the test host's page cache (over 9p) and each VMM's
# binary and libraries faulted in, as they are for every later run.
deb_setup() {
  deb_disk=$(tb_disk) || die "the Debian image is not attached (bench.sh attaches it with testbed --disk)"
  [ -s "$DEB/vmlinuz" ] && [ -s "$DEB/initrd.img" ] || die "no Debian kernel/initrd in $DEB (testbed/debian-image)"
  say "warm-up (not recorded): the kernel, initramfs and OVMF read, each VMM started once"
  cat "$DEB/vmlinuz" "$DEB/initrd.img" /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_VARS_4M.fd > /dev/null
  "$ALTOVIRT" -help > /dev/null
  qemu-system-x86_64 -version > /dev/null
}
# --- part std: the standard VM ---------------------------------------------------------------------
std_part() {
  deb_setup
  fio_s=10
  # The virtio NIC's network: a bridge with a DHCP server and a tap both VMMs open (vhost=on).
  modprobe tun; modprobe vhost_net
  tb_bridge_dhcp avbr0 10.0.77 || die "bridge avbr0 with a DHCP server"
  ip tuntap add dev avbtap0 mode tap vnet_hdr || die "tap avbtap0"
  ip link set avbtap0 master avbr0 up
  iperf3 -s -D -B 10.0.77.1 --logfile "$work/iperf3.log" || die "iperf3 server on the test host"
  bench_mac=52:54:00:be:4c:01
  paired debian_vm std "the standard VM (Debian on virtio-blk): boot to login, memory, fio"
}
# --- part uefi: the disk's own boot loader through OVMF --------------------------------------------
uefi_part() {
  deb_setup
  paired uefi_vm uefi "the disk's own boot loader through OVMF: to the boot loader, to login"
}

"${part}_part"
part_done=1
