// Kernel micro-benchmarks of mergeforge (Google Benchmark). Run: build-bench/mergeforge_micro
// (bench/run.sh runs it before the end-to-end benchmark). --benchmark_filter=kernel selects a
// group.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
