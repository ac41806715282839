#!/usr/bin/env bash
# Builds the engine's libraries and the executor tests (tests/cpp/test_executor.cpp: thread pool, memory
# budget, concurrent shard writes and journal, cancellation, resume; tests/cpp/test_read_ahead.cpp: the
# read-ahead thread) with ThreadSanitizer into build-tsan/ (project tests/tsan/) and runs them. Any data
# race fails.
#   scripts/tsan.sh [GTEST_FILTER]      (default: 'Executor*:ReadAhead*')
set -euo pipefail
cd "$(dirname "$0")/.."
filter=${1:-'Executor*:ReadAhead*'}
cmake -S tests/tsan -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build build-tsan -j "$(nproc)" --target executor_tests
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
# TSan's shadow memory needs the classic address-space layout; kernels with high mmap randomisation
# break it ("unexpected memory mapping"), so run without ASLR when setarch can.
run=()
if setarch "$(uname -m)" -R true 2>/dev/null; then run=(setarch "$(uname -m)" -R); fi
"${run[@]}" build-tsan/executor_tests --gtest_filter="$filter" --gtest_brief=1
