// Conversion between the half types on disk (bf16, f16) and the float compute type
// (src/core/dtype.hpp), the first and last step of every job. Bytes/s counts the bytes read (2 per
// element from a half type, 4 from float).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "bench_data.hpp"
#include "core/dtype.hpp"

namespace {

template <mf::DType kHalf>
void BM_half_to_f32(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  const std::vector<float> values = mf::bench::bf16_weights(n, 1);
  std::vector<uint16_t> half(n);
  mf::convert_from(values.data(), kHalf, half.data(), n);
  std::vector<float> out(n);
  for (auto _ : state) {
    mf::convert_to(kHalf, half.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n * sizeof(uint16_t)));
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n));
}

template <mf::DType kHalf>
void BM_f32_to_half(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  // Values that need rounding (not already bf16).
  std::vector<float> values = mf::bench::bf16_weights(n, 2);
  for (size_t i = 0; i < n; ++i) values[i] *= 1.0001f;
  std::vector<uint16_t> out(n);
  for (auto _ : state) {
    mf::convert_from(values.data(), kHalf, out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n * sizeof(float)));
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n));
}

void BM_bf16_to_f32(benchmark::State& state) { BM_half_to_f32<mf::DType::BF16>(state); }
void BM_f16_to_f32(benchmark::State& state) { BM_half_to_f32<mf::DType::F16>(state); }
void BM_f32_to_bf16(benchmark::State& state) { BM_f32_to_half<mf::DType::BF16>(state); }
void BM_f32_to_f16(benchmark::State& state) { BM_f32_to_half<mf::DType::F16>(state); }

// 64K elements (in cache), 4M (a 2048 x 2048 projection), 16M (a 2048 x 8192 MLP matrix).
BENCHMARK(BM_bf16_to_f32)->Arg(1 << 16)->Arg(1 << 22)->Arg(1 << 24)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_f16_to_f32)->Arg(1 << 16)->Arg(1 << 22)->Arg(1 << 24)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_f32_to_bf16)->Arg(1 << 16)->Arg(1 << 22)->Arg(1 << 24)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_f32_to_f16)->Arg(1 << 16)->Arg(1 << 22)->Arg(1 << 24)->Unit(benchmark::kMicrosecond);

}  // namespace
