// The element-wise task-vector kernels (src/kernels/task_vector_simd.cpp) must give the plain
// loops' bits (and mask bits) on every Highway target this CPU supports: NaN, infinities, signed
// zeros and subnormals among the values, cut keys at, just above and just below present keys, and
// lengths that are not multiples of any vector width.
#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "core/dtype.hpp"
#include "kernels/task_vector_simd.hpp"
#include "selection/magnitude_selection.hpp"
#include "simd_test_values.hpp"

namespace mf {
namespace {

class TaskVectorSimd : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(TaskVectorSimd);

using simd_test::expect_same_bits;

TEST_P(TaskVectorSimd, SubtractIsThePlainDifference) {
  for (size_t n : {0, 1, 15, 16, 17, 100, 1027}) {
    const std::vector<float> x = simd_test::delta_values(n, n),
                             base = simd_test::delta_values(n, n + 1000);
    std::vector<float> out(n), want(n);
    subtract(x.data(), base.data(), n, out.data());
    for (size_t e = 0; e < n; ++e) want[e] = x[e] - base[e];
    expect_same_bits(out, want, "subtract");
  }
}

// Every bf16 bit pattern (NaN payloads, infinities, subnormals) against float bases, one byte off
// alignment so the stored data need not be aligned.
TEST_P(TaskVectorSimd, SubtractBf16IsConvertThenSubtract) {
  const size_t all = 65536;
  const std::vector<float> bases = simd_test::delta_values(all + 37, 5);
  for (size_t n : {size_t(0), size_t(1), size_t(15), size_t(17), size_t(1027), all + 37}) {
    const std::vector<uint8_t> stored = simd_test::unaligned_bf16_patterns(n);
    std::vector<float> x(n), out(n), want(n);
    convert_to(DType::BF16, stored.data() + 1, x.data(), n);
    subtract(x.data(), bases.data(), n, want.data());
    subtract_bf16(stored.data() + 1, bases.data(), n, out.data());
    expect_same_bits(out, want, "subtract_bf16");
  }
}

// Every bf16 pattern against every bf16 pattern shifted by a prime (NaN minus NaN, infinity minus
// infinity, subnormals), both one byte off alignment.
TEST_P(TaskVectorSimd, SubtractBf16FromBf16IsConvertThenSubtract) {
  const size_t all = 65536;
  for (size_t n : {size_t(0), size_t(1), size_t(15), size_t(17), size_t(1027), all + 37}) {
    const std::vector<uint8_t> stored = simd_test::unaligned_bf16_patterns(n);
    const std::vector<uint8_t> base_stored = simd_test::unaligned_bf16_patterns(n + 4099);
    const uint8_t* base = base_stored.data() + 1 + 2 * 4099;
    std::vector<float> x(n), b(n), out(n), want(n);
    convert_to(DType::BF16, stored.data() + 1, x.data(), n);
    convert_to(DType::BF16, base, b.data(), n);
    subtract(x.data(), b.data(), n, want.data());
    subtract_bf16(stored.data() + 1, static_cast<const void*>(base), n, out.data());
    expect_same_bits(out, want, "subtract_bf16 of a bf16 base");
  }
}

TEST_P(TaskVectorSimd, ZeroMagnitudesBelowKeepsKeysAtOrAboveTheCut) {
  for (size_t n : {0, 1, 15, 16, 17, 100, 1027}) {
    const std::vector<float> v = simd_test::delta_values(n, 77 + n);
    const uint32_t present = n == 0 ? 0x3c000000u : magnitude_key(v[n / 3]);
    for (uint32_t cut : {0u, 1u, present - 1, present, present + 1, 0x7f800000u, 0x7fc00000u,
                         0x7fffffffu, 0x80000000u}) {
      std::vector<float> got = v, want = v;
      zero_magnitudes_below(got, cut);
      for (float& x : want) x = magnitude_key(x) < cut ? 0.0f : x;
      expect_same_bits(got, want, "zero_magnitudes_below");
    }
  }
}

TEST_P(TaskVectorSimd, ZeroMagnitudesOutsideKeepsTheBand) {
  for (size_t n : {0, 1, 15, 16, 17, 100, 1027}) {
    const std::vector<float> v = simd_test::delta_values(n, 91 + n);
    const uint32_t a = n == 0 ? 0x3c000000u : magnitude_key(v[n / 3]);
    const uint32_t b = n == 0 ? 0x3d000000u : magnitude_key(v[n / 2]);
    const uint32_t lo = std::min(a, b), hi = std::max(a, b);
    for (const auto& [low, high] :
         std::vector<std::pair<uint32_t, uint32_t>>{{lo, hi},
                                                    {lo, hi + 1},
                                                    {lo + 1, hi},
                                                    {0, hi},
                                                    {lo, 0x7f800000u},
                                                    {lo, 0x80000000u},
                                                    {hi, lo},
                                                    {0x80000000u, 0x80000000u},
                                                    {0, 0x7fffffffu}}) {
      std::vector<float> got = v, want = v;
      zero_magnitudes_outside(got, low, high);
      for (float& x : want) x = magnitude_key(x) >= low && magnitude_key(x) < high ? x : 0.0f;
      expect_same_bits(got, want, "zero_magnitudes_outside");
    }
  }
}

TEST_P(TaskVectorSimd, MaskBitsRoundTrip) {
  for (size_t n : {0, 1, 7, 8, 9, 15, 16, 17, 33, 100, 1027}) {
    std::vector<float> v = simd_test::delta_values(n, 300 + n);
    for (size_t e = 0; e < n; e += 3) v[e] = e % 2 ? 0.0f : -0.0f;  // masked, both zeros
    std::vector<uint8_t> bits((n + 7) / 8, 0xa5), want((n + 7) / 8, 0);
    for (size_t e = 0; e < n; ++e) want[e / 8] |= uint8_t(v[e] != 0.0f) << (e % 8);
    nonzero_bits(std::span<const float>(v), bits.data());
    ASSERT_EQ(bits, want) << "n " << n;
    // Applied to other values, the bits zero exactly the elements that were zero, and scale the
    // others (a factor of 1 changes none; one that overflows makes infinities, 0 times it NaN).
    const std::vector<float> other = simd_test::delta_values(n, 600 + n);
    for (float factor : {1.0f, 1.37f, 0.0f, 3e38f, std::numeric_limits<float>::infinity()}) {
      std::vector<float> got = other, expected = other;
      keep_bits(std::span<float>(got), bits.data(), factor);
      for (size_t e = 0; e < n; ++e) expected[e] = (v[e] != 0.0f ? other[e] : 0.0f) * factor;
      expect_same_bits(got, expected, "keep_bits");
    }
  }
}

TEST(TaskVectorSimdDouble, PlainLoops) {
  std::vector<double> x = {1.5, -0.25, 3.0, -0.0}, base = {0.5, 0.25, 3.0, 1.0}, out(4);
  subtract(x.data(), base.data(), 4, out.data());
  EXPECT_EQ(out, (std::vector<double>{1.0, -0.5, 0.0, -1.0}));
  zero_magnitudes_below(std::span<double>(out), magnitude_key(0.5));
  EXPECT_EQ(out, (std::vector<double>{1.0, -0.5, 0.0, -1.0}));
  zero_magnitudes_below(std::span<double>(out), magnitude_key(0.75));
  EXPECT_EQ(out, (std::vector<double>{1.0, 0.0, 0.0, -1.0}));
  std::vector<double> band = {0.25, -0.5, 1.0, 2.0};
  zero_magnitudes_outside(std::span<double>(band), magnitude_key(0.5), magnitude_key(2.0));
  EXPECT_EQ(band, (std::vector<double>{0.0, -0.5, 1.0, 0.0}));
  uint8_t bits = 0xff;
  nonzero_bits(std::span<const double>(out), &bits);
  EXPECT_EQ(bits, 0b1001);
  std::vector<double> other = {2.0, 3.0, 4.0, 5.0};
  keep_bits(std::span<double>(other), &bits, 1.5);
  EXPECT_EQ(other, (std::vector<double>{3.0, 0.0, 0.0, 7.5}));
}

}  // namespace
}  // namespace mf
