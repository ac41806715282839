#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang, ASan and UBSan into build-fuzz/ and runs each for
# SECONDS (default 60) of wall time, all targets at once, from its seed corpus in fuzz/corpus/<target>/.
# New inputs go to build-fuzz/corpus/<target>/ (the seeds are not touched), crashing inputs to
# build-fuzz/artifacts/, each target's log to build-fuzz/<target>.log.
# Prints the executions each target ran; exits non-zero when a target finds a crash, a leak or a hang.
#   scripts/fuzz.sh [SECONDS] [TARGET...]           e.g. scripts/fuzz.sh 3600 fuzz_recipe
#   FUZZ_FLAGS="-jobs=8 -workers=8" scripts/fuzz.sh 600      (extra libFuzzer flags)
# Needs clang: scripts/install-deps.sh --fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz_safetensors fuzz_index_config fuzz_recipe fuzz_tokenizer_json)

CXX=${FUZZ_CXX:-$(command -v clang++ || command -v clang++-14 || true)}
if [ -z "$CXX" ]; then
  echo "fuzz.sh: clang++ not found; install it with scripts/install-deps.sh --fuzz" >&2
  exit 2
fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX" \
  -DMERGEFORGE_FUZZ=ON -DMERGEFORGE_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"

dict_for() {
  case "$1" in
    fuzz_recipe) echo fuzz/yaml.dict ;;
    fuzz_tokenizer_json) echo fuzz/tokenizer.dict ;;
    *) echo fuzz/json.dict ;;
  esac
}

mkdir -p build-fuzz/artifacts
declare -A pids
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  # shellcheck disable=SC2086
  build-fuzz/"$t" "build-fuzz/corpus/$t" "fuzz/corpus/$t" -dict="$(dict_for "$t")" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/artifacts/$t-" ${FUZZ_FLAGS:-} >"build-fuzz/$t.log" 2>&1 &
  pids[$t]=$!
done
echo "fuzzing ${targets[*]} for ${seconds}s ..."

status=0
for t in "${targets[@]}"; do
  rc=0
  wait "${pids[$t]}" || rc=$?
  log="build-fuzz/$t.log"
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  if ((rc != 0)); then
    status=1
    echo "$t: FAILED (exit $rc) after ${runs:-?} executions; see $log and build-fuzz/artifacts/"
    grep -E '^==[0-9]+==ERROR|SUMMARY|runtime error|Test unit written|deadly signal|ALARM|what\(\)' "$log" |
      head -20 >&2 || true
  else
    echo "$t: ${runs:-?} executions in ${seconds}s, ${cov:-cov: ?}, no crash"
  fi
done
exit $status
