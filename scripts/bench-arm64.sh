#!/usr/bin/env bash
# bench-arm64.sh: the arm64 altovirt against Debian's arm64 QEMU (qemu-system-aarch64 7.2, from
# testbed/arm64-bench-assets, run through the arm64 ld.so), side by side in the arm64 testbed's test
# host (testbed/testbed --arch arm64: nested KVM under TCG), on the same kernel (the test host's own),
# the same initramfs (testbed/guest/build --arch arm64) and the same command line, with no devices:
#   - VMM start to guest init: wall clock in the test host from starting the VMM to the guest's
#     GUEST-INIT line on its serial console (the PL011, ttyAMA0), and the guest's uptime there;
#   - memory overhead: while the guest waits (its `powerbutton` step), the VMM's Rss outside guest
#     RAM, from /proc/PID/smaps as scripts/bench.sh computes it (total Rss minus the Rss of the guest
#     RAM mapping), with VmRSS (/proc/PID/status) and the resident guest RAM listed too; then the VMM
#     is stopped (SIGTERM).
# Both with 1 vCPU and 256 MiB; QEMU as `-M virt,gic-version=3 -accel kvm -cpu host -nodefaults`.
# Runs are paired as in scripts/bench.sh: one warm-up pair first (not recorded: it faults the VMMs'
# binaries and libraries, the kernel and the initramfs in over 9p), then N pairs, QEMU first in odd
# pairs and altovirt first in even ones; the report gives each VMM's median [min-max] and the median
# [min-max] of the per-pair ratios altovirt/QEMU, and every raw value.
#
#   scripts/bench-arm64.sh [--runs N] [--out DIR]     (./run bench-arm64 [--runs N]; N default 5)
#
# Uses build-arm64/ (ALTOVIRT_ARM64_BUILD; ./run build-arm64) and writes DIR/benchmarks-arm64.md
# (DIR default docs/). Outside the testbed it fetches the assets and runs itself inside the arm64 test
# host; the in-testbed part prints the table between BENCH-* markers. The issue-19 goals are checked
# in the report: start to init at most 0.5 of QEMU's, memory overhead at most 8 MiB.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${ALTOVIRT_BUILD:-$src/build}
arm64_build=${ALTOVIRT_ARM64_BUILD:-$src/build-arm64}

runs=5 out=""
parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --runs) runs=$2; shift 2 ;;
      --out) out=$2; shift 2 ;;
      *) echo "bench-arm64.sh: unknown argument '$1' (accepted: --runs N, --out DIR)" >&2; exit 2 ;;
    esac
  done
  case "$runs" in '' | *[!0-9]* | 0) echo "bench-arm64.sh: --runs needs a positive number, got '$runs'" >&2; exit 2 ;; esac
}

# ---------------------------------------------------------------------------------------------------
# Outside the testbed: the assets, then the measurements inside the arm64 test host, then the report.
if [ "${TESTBED:-}" != 1 ]; then
  parse_args "$@"
  [ -n "$out" ] || out=$src/docs
  mkdir -p "$out"
  [ -x "$arm64_build/tools/altovirt/altovirt" ] ||
    { echo "bench-arm64.sh: no arm64 altovirt in $arm64_build (./run build-arm64)" >&2; exit 1; }
  qemu_dir=$("$src/testbed/arm64-bench-assets") || { echo "bench-arm64.sh: fetching Debian's arm64 QEMU failed" >&2; exit 1; }
  initrd=$build/testbed/arm64-guest-initrd.gz
  "$src/testbed/guest/build" "$initrd" --arch arm64 || { echo "bench-arm64.sh: building the arm64 guest initramfs failed" >&2; exit 1; }
  raw=$(mktemp /tmp/altovirt-bench-arm64.XXXXXX)
  trap 'rm -f "$raw"' EXIT
  "$src/testbed/testbed" --arch arm64 --env ALTOVIRT_ARM64_BUILD="$arm64_build" --env ALTOVIRT_SRC="$src" \
    --env BENCH_QEMU="$qemu_dir" --env BENCH_INITRD="$initrd" --env BENCH_ARGS="--runs $runs" --script "$0" | tee "$raw"
  section() { sed -n "/^BENCH-$1-BEGIN/,/^BENCH-$1-END/p" "$raw" | sed '1d;$d' | tr -d '\r'; }
  [ -n "$(section TABLE)" ] || { echo "bench-arm64.sh: the run inside the testbed produced no table" >&2; exit 1; }
  {
    echo "# altovirt vs QEMU on arm64: start to init and memory overhead"
    echo
    echo "Measured by \`./run bench-arm64\` (scripts/bench-arm64.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'); never edited by hand."
    echo
    echo "Machine: $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs."
    section MACHINE
    echo
    echo "**Caveat:** the arm64 test host is a QEMU TCG (software-emulated) aarch64 VM, and both VMMs run"
    echo "their guests with nested KVM inside it. Absolute times are far slower than on arm64 hardware; compare ratios."
    echo
    section TABLE
    echo
    section GOALS
    echo
    section NOTES
    echo
    echo "## Every run"
    echo
    section RUNS
  } > "$out/benchmarks-arm64.md"
  echo "bench-arm64.sh: wrote $out/benchmarks-arm64.md"
  exit 0
fi

# ---------------------------------------------------------------------------------------------------
# Inside the arm64 test host.
# shellcheck disable=SC2086
parse_args ${BENCH_ARGS:-} "$@"
. "$src/testbed/hostlib.sh"
ALTOVIRT=$arm64_build/tools/altovirt/altovirt
KERNEL=$(tb_kernel)
INITRD=${BENCH_INITRD:-$build/testbed/arm64-guest-initrd.gz}
Q=${BENCH_QEMU:?BENCH_QEMU: the directory testbed/arm64-bench-assets printed}
MEM=256
work=/tmp/bench-arm64
rm -rf "$work"; mkdir -p "$work"
results=$work/results   # lines: METRIC VMM VALUE RUN
say() { echo "bench-arm64: $*" >&2; }
die() { echo "bench-arm64: FAILED: $*" >&2; exit 1; }
[ "$(uname -m)" = aarch64 ] || die "not an arm64 test host ($(uname -m))"
[ -x "$ALTOVIRT" ] || die "no altovirt at $ALTOVIRT: build first (./run build-arm64)"
[ -s "$INITRD" ] || die "no guest initramfs at $INITRD (testbed/guest/build $INITRD --arch arm64)"
[ -s "$KERNEL" ] || die "no kernel in the test host's /boot"
[ -c /dev/kvm ] || die "no /dev/kvm in the test host"
ldso=$(cat "$Q/ldso")

# Staging. The test host reads this machine's files over 9p without a page cache (cache=none), so a
# program started from the share reads its binary and every library over 9p again at each start:
# `qemu-system-aarch64 --version` takes 10-15 s that way (about 90 libraries), altovirt's start about
# 1 s. That would measure 9p, not the VMMs. So each VMM's binary and the libraries its ld.so resolves
# (ld.so --list), the kernel and the initramfs are copied into the test host's tmpfs first, and both
# VMMs run from there. stage DIR LDSO [LDSO_ARGS...] BINARY: copies BINARY to DIR/bin and its
# libraries to DIR/lib.
stage() {
  local dir=$1 lib path; shift
  mkdir -p "$dir/bin" "$dir/lib"
  cp "${@: -1}" "$dir/bin/"
  "$1" --list "${@:2}" > "$dir/list" 2>&1 || true
  ldd_paths=$(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' "$dir/list")
  [ -n "$ldd_paths" ] || { cat "$dir/list" >&2; die "ld.so --list found no libraries for ${*: -1}"; }
  for path in $ldd_paths; do
    lib=$(basename "$path")
    cp -L "$path" "$dir/lib/$lib"
  done
  if grep -q 'not found' "$dir/list"; then cat "$dir/list" >&2; die "libraries of ${*: -1} not found"; fi
}
say "staging the VMMs, their libraries, the kernel and the initramfs into $work (tmpfs)"
stage "$work/qemu" "$Q/root/$ldso" --library-path "$Q/root/lib/aarch64-linux-gnu:$Q/root/usr/lib/aarch64-linux-gnu" \
  "$Q/root/usr/bin/qemu-system-aarch64"
cp -L "$Q/root/$ldso" "$work/qemu/lib/"   # its own ld.so, whatever --list printed for the interpreter
stage "$work/altovirt" /lib/ld-linux-aarch64.so.1 "$ALTOVIRT"
cp "$KERNEL" "$work/Image"; cp "$INITRD" "$work/initrd.gz"
KERNEL_NAME=$(basename "$KERNEL") KERNEL=$work/Image INITRD=$work/initrd.gz
# Debian's qemu-system-aarch64 through its own ld.so and libraries (the recipe: nothing of it is
# installed in the test host); altovirt as an ordinary executable (the test host's ld.so) with its
# libraries from the staging directory.
QEMU=("$work/qemu/lib/$(basename "$ldso")" --library-path "$work/qemu/lib" "$work/qemu/bin/qemu-system-aarch64")
ALTOVIRT_RUN=(env LD_LIBRARY_PATH="$work/altovirt/lib" "$work/altovirt/bin/altovirt")
"${QEMU[@]}" --version > "$work/qemu-version" 2>&1 || { cat "$work/qemu-version" >&2; die "Debian's arm64 QEMU does not run here"; }
say "staged: qemu $(ls "$work/qemu/lib" | wc -l) libraries ($(du -sm "$work/qemu" | cut -f1) MiB), altovirt $(ls "$work/altovirt/lib" | wc -l) ($(du -sm "$work/altovirt" | cut -f1) MiB)"

record() { echo "$1 $2 ${3:--} ${r:-0}" >> "$results"; say "  $1 $2 ${3:-n/a}"; }

# smaps_overhead PID MEM_MIB -> "OVERHEAD_KIB RAM_RSS_KIB TOTAL_RSS_KIB": scripts/bench.sh's way: the
# total Rss minus the Rss of the guest RAM mapping (the anonymous mapping at least MEM_MIB large with
# the most resident pages, of which at most MEM_MIB counts as RAM).
smaps_overhead() {
  awk -v ram=$(($2 * 1024)) '
    /^[0-9a-f]+-[0-9a-f]+ / { n++; an[n] = (NF < 6); next }
    /^Size:/ { sz[n] = $2 }
    /^Rss:/ { rss[n] = $2; total += $2 }
    END { best = 0; for (i = 1; i <= n; i++) if (an[i] && sz[i] >= ram && rss[i] > rss[best]) best = i
          if (best == 0) { print "none"; exit } r = rss[best]; if (r > ram) r = ram; print total - r, r, total }' "/proc/$1/smaps"
}

# vm NAME VMM: boots the guest with guest.steps=powerbutton, timestamps its GUEST- lines (ms since the
# VMM was started) into $work/NAME.events, and when the guest waits for the power key reads the VMM's
# VmRSS and smaps into $work/NAME.mem ("OVERHEAD_KIB RAM_RSS_KIB SMAPS_TOTAL_KIB VMRSS_KIB"), then
# stops the VMM. The console is kept in $work/NAME.out, altovirt's log in $work/NAME.log.
vm() {
  local name=$1 vmm=$2 cmd
  local append="console=ttyAMA0 panic=-1 quiet guest.steps=powerbutton"
  if [ "$vmm" = altovirt ]; then
    cmd=("${ALTOVIRT_RUN[@]}" -m "${MEM}M" -smp 1 -kernel "$KERNEL" -initrd "$INITRD" -append "$append"
         -serial stdio -no-reboot -D "$work/$name.log")
  else
    # shellcheck disable=SC2054  # -M takes a comma-separated option list
    cmd=("${QEMU[@]}" -M virt,gic-version=3 -accel kvm -cpu host -smp 1 -m "${MEM}M" -nodefaults -display none
         -serial stdio -no-reboot -kernel "$KERNEL" -initrd "$INITRD" -append "$append")
  fi
  rm -f "$work/fifo"; mkfifo "$work/fifo"
  : > "$work/$name.events"; : > "$work/$name.out"
  local start=${EPOCHREALTIME/./} pid line now child="" m rss
  timeout 600 "${cmd[@]}" < /dev/null > "$work/fifo" 2>&1 &
  pid=$!
  while IFS= read -r line; do
    line=${line%$'\r'}
    echo "$line" >> "$work/$name.out"
    case "$line" in
      *GUEST-*)
        now=${EPOCHREALTIME/./}
        echo "$(((now - start) / 1000)) ${line#*GUEST-}" >> "$work/$name.events"
        case "$line" in
          *GUEST-WAIT-POWERBUTTON*)
            # The VMM: coreutils' timeout runs it as its child, busybox's (the arm64 test host's)
            # execs it in its own process and waits in a forked child.
            child=$pid
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = timeout ] && child=$(pgrep -P "$pid" | head -n1 || true)
            if [ -n "$child" ]; then
              m=$(smaps_overhead "$child" "$MEM")
              rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$child/status")
              [ "$m" != none ] || m="none none none"
              echo "$m $rss" > "$work/$name.mem"
              [ "$m" != none ] || say "$name: no guest RAM mapping in the smaps of $child"
              kill -TERM "$child"
            else
              say "$name: no VMM process under $pid"; kill -TERM "$pid"
            fi ;;
          *GUEST-FAIL*) say "$name: $line" ;;
        esac ;;
    esac
  done < "$work/fifo"
  wait "$pid" 2>/dev/null || true
  grep -q '^[0-9]* INIT' "$work/$name.events" || { tail -n 30 "$work/$name.out" >&2; die "$vmm ($name): no GUEST-INIT line"; }
  [ -s "$work/$name.mem" ] || { tail -n 30 "$work/$name.out" >&2; die "$vmm ($name): the guest did not reach its power-key wait"; }
}
ev_ms() { awk -v k="$2" '$2 ~ "^" k { print $1; exit }' "$work/$1.events"; }
ev_field() { awk -v k="$2" -v f="$3" '$2 ~ "^" k { print $f; exit }' "$work/$1.events"; }
mib() { awk -v k="$1" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024 }'; }

say "runs=$runs; kernel $KERNEL, initramfs $INITRD; $(head -n1 "$work/qemu-version")"
say "warm-up pair (not recorded): QEMU and altovirt boot once each"
for vmm in qemu altovirt; do vm "$vmm-warmup" "$vmm"; done

for r in $(seq "$runs"); do
  order="qemu altovirt"; [ $((r % 2)) = 0 ] && order="altovirt qemu"   # each side first in turn
  for vmm in $order; do
    say "run $r/$runs: $vmm"
    n=$vmm-$r
    vm "$n" "$vmm"
    record init_ms "$vmm" "$(ev_ms "$n" INIT)"
    record uptime_s "$vmm" "$(ev_field "$n" INIT 3 | sed 's/uptime=//')"
    # The VMM's own share of it: start to init minus the guest's uptime at init (the guest kernel's
    # clock starts early in its boot), i.e. about the VMM's start-up and set-up before the kernel runs.
    record pre_kernel_ms "$vmm" "$(awk -v t="$(ev_ms "$n" INIT)" -v u="$(ev_field "$n" INIT 3 | sed 's/uptime=//')" \
      'BEGIN { if (t != "" && u != "") printf "%d", t - u * 1000 }')"
    read -r ov ram _tot vmrss < "$work/$n.mem" || true
    record mem_mib "$vmm" "$(mib "${ov:-}")"
    record vmrss_mib "$vmm" "$(mib "${vmrss:-}")"
    record ram_rss_mib "$vmm" "$(mib "${ram:-}")"
  done
done

# --- report ----------------------------------------------------------------------------------------
median_range() {  # stdin: numbers, one a line -> "median [min–max]" (FMT: printf format)
  sort -g | awk -v f="$1" '{ a[NR] = $1 } END { if (!NR) { print "n/a"; exit }
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    if (NR == 1) printf f, m; else printf f " [" f "–" f "]", m, a[1], a[NR] }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
values() { awk -v m="$1" -v k="$2" '$1 == m && $2 == k && $3 ~ /^[0-9.]+$/ { print $3 }' "$results"; }
pair_ratios() {
  awk -v m="$1" '$1 == m && $3 ~ /^[0-9.]+$/ { if ($2 == "altovirt") a[$4] = $3; else if ($2 == "qemu") q[$4] = $3 }
    END { for (k in a) if ((k in q) && q[k] > 0) print a[k] / q[k] }' "$results"
}
row() {  # row LABEL METRIC
  echo "| $1 | $(values "$2" altovirt | median_range %g) | $(values "$2" qemu | median_range %g) | $(pair_ratios "$2" | median_range %.2f) |"
}
echo "BENCH-MACHINE-BEGIN"
echo "Test host: Linux $(uname -r) $(uname -m), $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo);"
echo "guest kernel $KERNEL_NAME (the test host's own), initramfs testbed/guest (arm64); QEMU: Debian's arm64 $(head -n1 "$work/qemu-version")."
echo "$runs pair(s) of runs after a discarded warm-up pair (QEMU first in odd pairs, altovirt first in even ones); the last column is the median [min–max] of the per-pair ratios."
echo "BENCH-MACHINE-END"
echo "BENCH-TABLE-BEGIN"
echo "| metric | altovirt median [min–max] | QEMU median [min–max] | altovirt/QEMU per pair, median [min–max] |"
echo "|---|---|---|---|"
row "VMM start to guest init (ms)" init_ms
row "guest uptime at init (s)" uptime_s
row "start to init minus guest uptime: VMM start-up before the guest kernel's clock (ms)" pre_kernel_ms
row "memory overhead, 256 MiB guest waiting (MiB)" mem_mib
row "VmRSS, 256 MiB guest waiting (MiB)" vmrss_mib
row "guest RAM resident in the VMM (MiB)" ram_rss_mib
echo "BENCH-TABLE-END"
echo "BENCH-GOALS-BEGIN"
init_ratio=$(pair_ratios init_ms | median | awk '{ printf "%.2f", $1 }')
mem_med=$(values mem_mib altovirt | median)
verdict() { if [ -z "$1" ]; then echo "not measured"; elif awk -v v="$1" -v g="$2" 'BEGIN { exit !(v <= g) }'; then echo "**met**"; else echo "**not met**"; fi; }
echo "Goals of issue 19:"
echo "- start to init at most 0.5 of QEMU's: median per-pair ratio ${init_ratio:-n/a} — $(verdict "$init_ratio" 0.5)"
echo "- memory overhead at most 8 MiB: altovirt's median ${mem_med:-n/a} MiB — $(verdict "$mem_med" 8)"
echo "BENCH-GOALS-END"
echo "BENCH-NOTES-BEGIN"
echo "- Both VMMs: 1 vCPU, ${MEM} MiB, \`-kernel\` the test host's $KERNEL_NAME (an uncompressed Image), \`-initrd\` the arm64 guest initramfs, \`-append 'console=ttyAMA0 panic=-1 quiet guest.steps=powerbutton'\`, \`-serial stdio\` read through a FIFO by the test host's shell, no devices. QEMU: \`-M virt,gic-version=3 -accel kvm -cpu host -nodefaults -display none -no-reboot\`, run as \`ld-linux-aarch64.so.1 --library-path ... qemu-system-aarch64\` from Debian's extracted arm64 packages (testbed/arm64-bench-assets); altovirt: build-arm64/tools/altovirt/altovirt as an ordinary executable with \`LD_LIBRARY_PATH\` set. Both VMMs with the libraries their ld.so resolves, the kernel and the initramfs are copied into the test host's tmpfs first and run from there: over the test host's 9p share (no page cache) each start would read them again (\`qemu-system-aarch64 --version\` alone took 10-15 s that way, altovirt's start about 1 s)."
echo "- Start to init: the test host's wall clock from starting the VMM (\`timeout\`, then the VMM's exec) to the guest's GUEST-INIT line, the first thing its /init prints."
echo "- Memory overhead: at the guest's GUEST-WAIT-POWERBUTTON line (the guest idles, waiting for the power key), the sum of Rss in /proc/PID/smaps minus the Rss of the guest RAM mapping (the largest resident anonymous mapping of at least ${MEM} MiB, at most ${MEM} MiB of it counted), as scripts/bench.sh does; VmRSS is /proc/PID/status's, read at the same moment. The VMM is then stopped with SIGTERM."
echo "- Guest RAM resident: the Rss of that guest RAM mapping (what the guest has touched)."
echo "- Start to init minus guest uptime: the guest's uptime at GUEST-INIT (its /proc/uptime) taken from the VMM's start to GUEST-INIT; roughly the VMM's own start-up (exec, dynamic linking, machine set-up, loading the kernel and initramfs) before the guest kernel's clock starts."
echo "BENCH-NOTES-END"
echo "BENCH-RUNS-BEGIN"
echo "| metric | VMM | every run, in the order measured |"
echo "|---|---|---|"
awk '{ k = $1 " | " $2; if (!(k in v)) order[++n] = k; v[k] = v[k] (v[k] == "" ? "" : ", ") $3 }
     END { for (i = 1; i <= n; i++) print "| " order[i] " | " v[order[i]] " |" }' "$results"
echo "BENCH-RUNS-END"
