#!/usr/bin/env bash
# Installs every dependency, builds, and runs the whole test suite: C++ unit tests (ctest), then the
# end-to-end comparison against MergeKit (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)")
PY=${PYTHON:-python3}
MERGEFORGE_BIN="$PWD/build/mergeforge" HF_HUB_OFFLINE=1 $PY -m pytest tests/py -q -p no:cacheprovider
