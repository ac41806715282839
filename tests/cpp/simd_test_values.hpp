// Inputs for the per-target tests of the Highway kernels over task vectors: deltas of the size a
// fine-tune has, half of them truncated to bf16 (few significant bits, so many magnitudes share a
// prefix or tie), mixed with both zeros, NaN, -inf and subnormals.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace mf::simd_test {

inline std::vector<float> delta_values(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1e-2f);
  std::vector<float> v(n);
  for (float& x : v) {
    switch (rng() % 16) {
      case 0:
        x = rng() % 2 ? 0.0f : -0.0f;
        break;
      case 1:
        x = rng() % 2 ? std::numeric_limits<float>::quiet_NaN()
                      : -std::numeric_limits<float>::infinity();
        break;
      case 2:
        x = std::bit_cast<float>(uint32_t(rng() % 0x00800000u));  // subnormal
        break;
      default:
        x = normal(rng);
        if (rng() % 2) x = std::bit_cast<float>(std::bit_cast<uint32_t>(x) & 0xffff0000u);
    }
  }
  return v;
}

}  // namespace mf::simd_test
