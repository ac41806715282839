// Shared inputs of the kernel micro-benchmarks: bf16-quantised weights and fine-tunes shaped like
// bench/make_models.py's (base N(0, 0.02^2), fine-tune = bf16(base + 1.5% delta)), so magnitude
// selection sees the many equal magnitudes of real bf16 task vectors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "core/dtype.hpp"

namespace mf::bench {

// n bf16 values of N(0, std^2), as floats (exactly representable in bf16).
inline std::vector<float> bf16_weights(size_t n, uint64_t seed, float std = 0.02f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, std);
  std::vector<float> v(n);
  for (float& x : v) x = round_to(DType::BF16, normal(rng));
  return v;
}

// bf16(base + N(0, (scale * 0.02)^2)), as floats.
inline std::vector<float> bf16_fine_tune(const std::vector<float>& base, uint64_t seed,
                                         float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale * 0.02f);
  std::vector<float> v(base.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = round_to(DType::BF16, base[i] + normal(rng));
  return v;
}

// The task vector of a fine-tune: ft - base, with its bf16 quantisation.
inline std::vector<float> task_vector(size_t n, uint64_t seed) {
  std::vector<float> base = bf16_weights(n, seed);
  std::vector<float> ft = bf16_fine_tune(base, seed + 1, 0.015f);
  for (size_t i = 0; i < n; ++i) ft[i] -= base[i];
  return ft;
}

}  // namespace mf::bench
