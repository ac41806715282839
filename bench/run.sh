#!/usr/bin/env bash
# The benchmark, in one command: installs what it needs (scripts/install-deps.sh --bench), builds a
# Release mergeforge with the micro-benchmarks into build-bench/, generates the models once (in
# $MERGEFORGE_BENCH_DIR, default /work/bench-scratch), runs the kernel micro-benchmarks, then the
# end-to-end comparison with MergeKit, and writes bench/RESULTS.md.
#
#   bench/run.sh                                  # everything: 1B and 3B, 7 methods, 3 rounds (hours)
#   bench/run.sh --sizes tiny --repeats 1         # a minute: checks the pipeline
#   bench/run.sh --no-micro --sizes 1b --methods ties,linear --skip-mergekit
#
# --no-micro skips the micro-benchmarks; --micro-only runs only them; every other option goes to
# bench/run.py (see bench/run.py --help). Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

micro=1
e2e=1
args=()
for arg in "$@"; do
  case "$arg" in
    --no-micro) micro=0 ;;
    --micro-only) e2e=0 ;;
    *) args+=("$arg") ;;
  esac
done

scripts/install-deps.sh --bench

cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DMERGEFORGE_BENCH=ON -DMERGEFORGE_TESTS=OFF
cmake --build build-bench

scratch=${MERGEFORGE_BENCH_DIR:-/work/bench-scratch}
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --scratch) scratch=${args[i + 1]:-$scratch} ;;
    --scratch=*) scratch=${args[i]#--scratch=} ;;
  esac
done
mkdir -p "$scratch"

micro_out=()
if ((micro)); then
  echo "== kernel micro-benchmarks (build-bench/mergeforge_micro)"
  build-bench/mergeforge_micro --benchmark_min_time=0.2 | tee "$scratch/micro.txt"
  micro_out=(--micro "$scratch/micro.txt")
fi

if ((e2e)); then
  python3 bench/run.py --mergeforge build-bench/mergeforge "${micro_out[@]}" "${args[@]}"
fi
