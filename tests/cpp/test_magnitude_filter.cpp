// The SIMD filters of magnitude cuts (src/kernels/magnitude_filter.cpp) must return exactly the
// keys a scalar loop selects, in order, and count the keys above a band as it does, on every
// Highway target this CPU supports: signs, zeros, NaN and infinities, prefixes and bands that match
// none, some or all elements, and lengths that are not multiples of any vector width.
#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <string>
#include <vector>

#include "kernels/magnitude_filter.hpp"
#include "selection/magnitude_selection.hpp"
#include "simd_test_values.hpp"

namespace mf {
namespace {

class MagnitudeFilterSimd : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MagnitudeFilterSimd);

std::vector<uint32_t> scalar_matches(const std::vector<float>& v, uint32_t mask, uint32_t prefix) {
  std::vector<uint32_t> keys;
  for (float x : v)
    if ((magnitude_key(x) & mask) == prefix) keys.push_back(magnitude_key(x));
  return keys;
}

TEST_P(MagnitudeFilterSimd, ReturnsTheScalarLoopsKeysInOrder) {
  for (size_t n : {0, 1, 7, 16, 31, 33, 100, 1027}) {
    const std::vector<float> v = simd_test::delta_values(n, 7 + n);
    // Prefixes: the first digit of a common key, of zero and of +inf / NaN, one that nothing has,
    // both digits (a whole key), and the empty mask (every element).
    const uint32_t common = magnitude_key(v.empty() ? 0.01f : v[n / 2]);
    const std::vector<std::pair<uint32_t, uint32_t>> cuts = {{0xffff0000u, common & 0xffff0000u},
                                                             {0xffff0000u, 0},
                                                             {0xffff0000u, 0x7f800000u},
                                                             {0xffff0000u, 0x7fc00000u},
                                                             {0xffff0000u, 0x12340000u},
                                                             {0xffffffffu, common},
                                                             {0, 0}};
    for (const auto& [mask, prefix] : cuts) {
      const std::vector<uint32_t> expected = scalar_matches(v, mask, prefix);
      std::vector<uint32_t> out(n);
      const size_t m = matching_magnitude_keys(v, mask, prefix, out.data());
      out.resize(m);
      EXPECT_EQ(out, expected) << "n " << n << ", mask " << std::hex << mask << ", prefix "
                               << prefix;
    }
  }
}

TEST_P(MagnitudeFilterSimd, BandKeysAreTheScalarLoopsInOrder) {
  for (size_t n : {0, 1, 7, 16, 31, 33, 100, 1027}) {
    const std::vector<float> v = simd_test::delta_values(n, 11 + n);
    const uint32_t common = magnitude_key(v.empty() ? 0.01f : v[n / 2]);
    // Bands: one whole first digit, a single key, everything, only NaN, only zero, and bands with
    // the highest key (signed compares must still order it) or nothing inside.
    const std::vector<std::pair<uint32_t, uint32_t>> bands = {
        {common & 0xffff0000u, common | 0xffffu},
        {common, common},
        {0, 0x7fffffffu},
        {0x7f800001u, 0x7fffffffu},
        {0, 0},
        {0x3c000000u, 0x7fffffffu},
        {0x12340000u, 0x1234ffffu}};
    for (const auto& [low, high] : bands) {
      std::vector<uint32_t> expected;
      size_t expected_above = 0, expected_at_low = 0;
      for (float x : v) {
        const uint32_t key = magnitude_key(x);
        if (key >= low && key <= high) expected.push_back(key);
        expected_above += key > high;
        expected_at_low += key == low;
      }
      std::vector<uint32_t> out(n);
      const BandCount count = band_magnitude_keys(v, low, high, out.data());
      out.resize(count.inside);
      const std::string band =
          "n " + std::to_string(n) + ", band " + std::to_string(low) + " " + std::to_string(high);
      EXPECT_EQ(out, expected) << band;
      EXPECT_EQ(count.above, expected_above) << band;
      EXPECT_EQ(count.at_low, expected_at_low) << band;
      // Without a place for the keys it counts the same.
      const BandCount counted = band_magnitude_keys(v, low, high, nullptr);
      EXPECT_EQ(counted.inside, expected.size()) << band;
      EXPECT_EQ(counted.above, expected_above) << band;
      EXPECT_EQ(counted.at_low, expected_at_low) << band;
    }
  }
}

TEST(MagnitudeFilter, DoubleKeepsTheMatchingKeysInOrder) {
  const std::vector<double> v = {0.5, -0.5, 0.25, -0.0, 0.5000001, 3.0};
  std::vector<uint64_t> out(v.size());
  const uint64_t mask = 0xffff000000000000ull;
  const size_t m = matching_magnitude_keys(v, mask, magnitude_key(0.5) & mask, out.data());
  out.resize(m);
  EXPECT_EQ(out, (std::vector<uint64_t>{magnitude_key(0.5), magnitude_key(0.5),
                                        magnitude_key(0.5000001)}));
}

}  // namespace
}  // namespace mf
