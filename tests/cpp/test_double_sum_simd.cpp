// The SIMD sums (src/kernels/double_sum_simd.cpp) must give double_sum's bits (NaN for NaN) on
// every Highway target this CPU supports: values spanning many magnitudes (so the order of
// additions shows in the last bits), NaN, infinities, zeros and subnormals, and every length up to
// 70, then a long one.
#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/double_sum.hpp"
#include "kernels/double_sum_simd.hpp"

namespace mf {
namespace {

class DoubleSumSimd : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(DoubleSumSimd);

std::vector<float> values_for(size_t n, uint64_t seed, bool special) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-40, 40);
  std::vector<float> v(n);
  for (float& x : v) {
    x = std::ldexp(normal(rng), exponent(rng));
    if (!special) continue;
    switch (rng() % 32) {
      case 0:
        x = std::numeric_limits<float>::quiet_NaN();
        break;
      case 1:
        x = -std::numeric_limits<float>::infinity();
        break;
      case 2:
        x = -0.0f;
        break;
      case 3:
        x = std::bit_cast<float>(uint32_t(rng() % 0x00800000u));  // subnormal
        break;
    }
  }
  return v;
}

std::vector<size_t> lengths() {
  std::vector<size_t> n;
  for (size_t i = 0; i <= 70; ++i) n.push_back(i);
  n.push_back(100003);
  return n;
}

// A NaN sum may differ in sign: x86 returns the first operand's NaN when both are NaN, and the
// compiler may swap the operands of the scalar +.
void expect_same(double got, double want, const char* what, size_t n) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << ", n " << n << ": " << got;
    return;
  }
  EXPECT_EQ(std::bit_cast<uint64_t>(got), std::bit_cast<uint64_t>(want))
      << what << ", n " << n << ": " << got << " vs " << want;
}

TEST_P(DoubleSumSimd, AbsSumIsDoubleSumsL1) {
  for (bool special : {false, true}) {
    for (size_t n : lengths()) {
      const std::vector<float> v = values_for(n, n, special);
      expect_same(abs_sum(v), double_sum(n, [&](size_t e) { return std::abs(double(v[e])); }),
                  "abs_sum", n);
    }
  }
}

// The kept sum is double_sum over the values with the dropped ones zeroed, as the rescale of a
// masked task vector takes it; bits drawn at random, none, and all.
TEST_P(DoubleSumSimd, KeptAbsSumsAreDoubleSumsL1OfAllAndOfTheZeroedValues) {
  std::mt19937_64 rng(17);
  for (bool special : {false, true}) {
    for (size_t n : lengths()) {
      const std::vector<float> v = values_for(n, n + 77, special);
      for (int pattern = 0; pattern < 3; ++pattern) {
        std::vector<uint8_t> keep((n + 7) / 8);
        for (uint8_t& byte : keep) byte = pattern == 0 ? uint8_t(rng()) : pattern == 1 ? 0 : 0xff;
        std::vector<float> zeroed = v;
        for (size_t e = 0; e < n; ++e)
          if (!((keep[e / 8] >> (e % 8)) & 1)) zeroed[e] = 0.0f;
        const KeptAbsSums got = kept_abs_sums(v, keep.data());
        expect_same(got.all, abs_sum(v), "all", n);
        expect_same(got.kept, double_sum(n, [&](size_t e) { return std::abs(double(zeroed[e])); }),
                    "kept", n);
      }
    }
  }
}

TEST_P(DoubleSumSimd, DotSumsAreDoubleSumsProducts) {
  for (bool special : {false, true}) {
    for (size_t n : lengths()) {
      const std::vector<float> a = values_for(n, n, special), b = values_for(n, n + 500, special);
      const DotSums got = dot_sums(a.data(), b.data(), n);
      expect_same(got.aa, double_sum(n, [&](size_t e) { return double(a[e]) * double(a[e]); }),
                  "aa", n);
      expect_same(got.bb, double_sum(n, [&](size_t e) { return double(b[e]) * double(b[e]); }),
                  "bb", n);
      expect_same(got.ab, double_sum(n, [&](size_t e) { return double(a[e]) * double(b[e]); }),
                  "ab", n);
    }
  }
}

}  // namespace
}  // namespace mf
