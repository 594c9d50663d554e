#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/): lines, length-prefixed, json-stream,
# node-ipc, binary-ipc, config.
#
#   scripts/fuzz.sh                 # the long run: builds build-fuzz with
#                                   # clang and gives each target 1,000,000
#                                   # inputs
#   scripts/fuzz.sh --runs N TARGET # one target, N inputs
#
# Options: --bin DIR (where the targets are; default: build build-fuzz),
# --runs N, --seconds S (a bound on each target's time). Each target keeps
# its corpus in DIR/corpus/TARGET, starting from fuzz/corpus/TARGET; a
# finding is written to DIR/artifacts/ and the script exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="" runs=1000000 seconds=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] ||
  targets=(lines length-prefixed json-stream node-ipc binary-ipc config)
if [ -z "$bin" ]; then
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++-14}" \
    -DSWITCHBOARD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-fuzz -j"${JOBS:-2}"
  bin=build-fuzz/fuzz
fi
mkdir -p "$bin/artifacts"
for t in "${targets[@]}"; do
  corpus="$bin/corpus/$t"
  mkdir -p "$corpus"
  seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds+=("fuzz/corpus/$t")
  [ "$t" = config ] && seeds+=(conf)
  echo "fuzz: $t, up to $runs inputs"
  # Bounded by count (and, with --seconds, by time); a finding stops the
  # target with a non-zero status.
  log="$bin/artifacts/$t.log"
  status=0
  "$bin/fuzz-$t" -runs="$runs" -max_total_time="$seconds" \
    -artifact_prefix="$bin/artifacts/$t-" -print_final_stats=1 \
    "$corpus" "${seeds[@]}" >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    echo "fuzz: $t found a problem (status $status; input in $bin/artifacts/)"
    exit 1
  fi
done
