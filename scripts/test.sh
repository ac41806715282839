#!/usr/bin/env bash
# Installs every dependency, builds, and runs the whole test suite: C++ unit tests (ctest), the executor
# tests under ThreadSanitizer, the unit tests again with assertions, ASan and UBSan, a one-minute run of
# each parser fuzzer, then the end-to-end suite (pytest: the comparison against MergeKit, the bad-input
# matrix, crash safety, the command line).
# On 2 cores the sanitizer steps add several minutes (TSan build + run ~1.5, ASan build + run ~6, fuzz
# build + 60 s run ~2.5).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test --fuzz
scripts/check-format.sh
scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)")
scripts/tsan.sh
scripts/asan.sh
scripts/fuzz.sh 60
PY=${PYTHON:-python3}
MERGEFORGE_BIN="$PWD/build/mergeforge" HF_HUB_OFFLINE=1 $PY -m pytest tests/py -q -p no:cacheprovider
