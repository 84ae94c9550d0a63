#!/usr/bin/env bash
# ./run fuzz [TARGET|all] [SECONDS]: builds the libFuzzer targets (fuzz/*.cpp) with clang, ASan and
# UBSan in build-fuzz/ (FUZZ_BUILD_DIR to change it) and runs TARGET (default: all) for SECONDS each
# (default 60). New interesting inputs go to build-fuzz/corpus/TARGET (the checked-in fuzz/corpus/TARGET
# is only read); a crash leaves build-fuzz/artifacts/TARGET-crash-* and fails the run. At the end a
# table lists each target's executions and executions per second.
# To keep a crasher as a regression input: fix the bug, then copy the artifact into fuzz/corpus/TARGET/
# (the g++ build replays that directory as the unit test fuzz_replay.TARGET).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-all}
seconds=${2:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
scripts/install-deps --fuzz

# libstdc++ 12's <expected> needs a compiler with C++20 concepts complete (__cpp_concepts >= 202002),
# which Debian 12's clang 14 is not; clang 19 (bookworm-updates) is.
cc=clang-19 cxx=clang++-19
export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer-19 || command -v llvm-symbolizer || true)  # stack traces with names
cmake -S . -B "$build" -DALTOVIRT_FUZZ=ON -DCMAKE_C_COMPILER=$cc -DCMAKE_CXX_COMPILER=$cxx \
      -DCMAKE_BUILD_TYPE=Debug >/dev/null
targets=()
if [ "$target" = all ]; then
  for f in fuzz/*.cpp; do
    n=$(basename "$f" .cpp)
    [ "$n" = replay_main ] || targets+=("$n")
  done
else
  targets=("$target")
fi
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

mkdir -p "$build/artifacts"
# One target per CPU at a time: each libFuzzer run is a single thread, and `./run test` (CI) spends
# FUZZ_SECONDS on every target, so on 2 CPUs this halves the fuzzing's wall time.
fuzz_one() {
  local t=$1 log="$build/artifacts/$1.log"
  mkdir -p "$build/corpus/$t"
  # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: one that allocates without bound.
  local st=0
  "$build/fuzz/fuzz_$t" "$build/corpus/$t" "fuzz/corpus/$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" >"$log" 2>&1 || st=$?
  echo "$st" >"$build/artifacts/$t.status"  # (its status: wait -n below has already reaped some runs)
}
jobs_max=$(nproc)
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  echo "fuzz: $t for ${seconds}s"
  rm -f "$build/artifacts/$t.status"
  fuzz_one "$t" &
done
wait
summary=()
rc=0
for t in "${targets[@]}"; do
  log="$build/artifacts/$t.log"
  if [ "$(cat "$build/artifacts/$t.status" 2>/dev/null)" != 0 ]; then
    echo "fuzz: $t FAILED; see $log and $build/artifacts/$t-*" >&2
    tail -40 "$log" >&2
    rc=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  summary+=("$(printf '%-16s %12s execs %10s exec/s' "$t" "${execs:-?}" "${rate:-?}")")
done
printf '%s\n' "${summary[@]}"
exit "$rc"
