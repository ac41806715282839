// Magnitude selection (src/selection/magnitude_selection.hpp) on bf16-quantised task vectors: the
// O(n) top-k of ties, the rank range of breadcrumbs, and the per-row ranks of della. Bytes/s counts
// the float bytes of the task vector (n x 4).
#include "selection/magnitude_selection.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "bench_data.hpp"

namespace {

void set_counters(benchmark::State& state, size_t n) {
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n * sizeof(float)));
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n));
}

// ties: keep[i] for the top half by magnitude.
void BM_mark_top_magnitudes(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  const std::vector<float> delta = mf::bench::task_vector(n, 3);
  std::vector<uint8_t> keep(n);
  for (auto _ : state) {
    mf::mark_top_magnitudes<float>(delta, n / 2, keep);
    benchmark::DoNotOptimize(keep.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, n);
}

// The same on continuous (not bf16-quantised) values, for comparison: real task vectors of bf16
// models take few distinct magnitudes, which piles the histogram counts into few bins.
void BM_mark_top_magnitudes_continuous(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal(0.0f, 3e-4f);
  std::vector<float> delta(n);
  for (float& x : delta) x = normal(rng);
  std::vector<uint8_t> keep(n);
  for (auto _ : state) {
    mf::mark_top_magnitudes<float>(delta, n / 2, keep);
    benchmark::DoNotOptimize(keep.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, n);
}

// The in-place form the sparsifier uses (the input is restored with the timer paused).
void BM_keep_top_magnitudes(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  const std::vector<float> delta = mf::bench::task_vector(n, 4);
  std::vector<float> work(n);
  for (auto _ : state) {
    state.PauseTiming();
    work = delta;
    state.ResumeTiming();
    mf::keep_top_magnitudes<float>(work, n / 2);
    benchmark::DoNotOptimize(work.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, n);
}

// breadcrumbs (density 0.9, gamma 0.01): keep the ranks between the smallest 9% and the top 1%.
void BM_keep_magnitude_rank_range(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  const std::vector<float> delta = mf::bench::task_vector(n, 5);
  std::vector<float> work(n);
  const size_t first = size_t(double(n) * 0.09), last = size_t(double(n) * 0.99);
  for (auto _ : state) {
    state.PauseTiming();
    work = delta;
    state.ResumeTiming();
    mf::keep_magnitude_rank_range<float>(work, first, last);
    benchmark::DoNotOptimize(work.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, n);
}

// della: ascending ranks within each row of 2048.
void BM_ascending_magnitude_ranks_rows(benchmark::State& state) {
  const size_t n = size_t(state.range(0)), row = 2048;
  const std::vector<float> delta = mf::bench::task_vector(n, 6);
  std::vector<uint32_t> ranks(row);
  for (auto _ : state) {
    for (size_t r = 0; r + row <= n; r += row) {
      mf::ascending_magnitude_ranks<float>(std::span<const float>(delta).subspan(r, row), ranks);
      benchmark::DoNotOptimize(ranks.data());
    }
    benchmark::ClobberMemory();
  }
  set_counters(state, n);
}

BENCHMARK(BM_mark_top_magnitudes)
    ->Arg(1 << 16)
    ->Arg(1 << 22)
    ->Arg(1 << 24)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_mark_top_magnitudes_continuous)
    ->Arg(1 << 16)
    ->Arg(1 << 22)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_keep_top_magnitudes)
    ->Arg(1 << 16)
    ->Arg(1 << 22)
    ->Arg(1 << 24)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_keep_magnitude_rank_range)
    ->Arg(1 << 16)
    ->Arg(1 << 22)
    ->Arg(1 << 24)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ascending_magnitude_ranks_rows)
    ->Arg(1 << 16)
    ->Arg(1 << 22)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
