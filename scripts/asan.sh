#!/usr/bin/env bash
# Builds the C++ unit tests with AddressSanitizer + UBSan and assertions on (no NDEBUG, -O1) into
# build-asan/ and runs them all: the Release build of scripts/build.sh compiles `assert` out, so
# this is the run where any remaining one, and every out-of-bounds access or undefined operation
# the tests reach, fails the suite.
#   scripts/asan.sh [GTEST_FILTER]      (default: every test)
set -euo pipefail
cd "$(dirname "$0")/.."
filter=${1:-'*'}
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DMERGEFORGE_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$(nproc)" --target mergeforge_tests
export ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1 ${UBSAN_OPTIONS:-}"
build-asan/mergeforge_tests --gtest_filter="$filter" --gtest_brief=1
