// Inputs for the per-target tests of the Highway kernels over task vectors: deltas of the size a
// fine-tune has, half of them truncated to bf16 (few significant bits, so many magnitudes share a
// prefix or tie), mixed with both zeros, NaN, -inf and subnormals; stored bf16 with every bit
// pattern; and the bit-for-bit comparison of the kernels' outputs.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstring>
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

// n stored bf16 starting one byte into the result (so a kernel cannot count on alignment): every
// bit pattern (NaN payloads, infinities, subnormals) once per 65536 elements, in a scrambled order.
inline std::vector<uint8_t> unaligned_bf16_patterns(size_t n) {
  std::vector<uint8_t> stored(2 * n + 1);
  for (size_t e = 0; e < n; ++e) {
    const uint16_t bits = uint16_t((e * 40503u) % 65536);  // 40503 is odd: a permutation
    std::memcpy(stored.data() + 1 + 2 * e, &bits, 2);
  }
  return stored;
}

inline void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want,
                             const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t e = 0; e < got.size(); ++e)
    ASSERT_EQ(std::bit_cast<uint32_t>(got[e]), std::bit_cast<uint32_t>(want[e]))
        << what << ": element " << e << " of " << got.size();
}

}  // namespace mf::simd_test
