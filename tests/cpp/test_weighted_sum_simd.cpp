// The weighted-sum kernels (src/kernels/weighted_sum_simd.cpp) must give the plain loops' bits on
// every Highway target this CPU supports: NaN, infinities, signed zeros and subnormals among the
// values and the running sums, and lengths that are not multiples of any vector width.
#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <vector>

#include "core/dtype.hpp"
#include "kernels/weighted_sum_simd.hpp"
#include "simd_test_values.hpp"

namespace mf {
namespace {

class WeightedSumSimd : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(WeightedSumSimd);

using simd_test::expect_same_bits;

const size_t kLengths[] = {0, 1, 15, 16, 17, 100, 1027};
// A negative weight turns +0 products into -0, which the first term's 0 + makes +0.
const float kWeights[] = {0.3f, -1.75f, 0.0f, 3e-39f};

TEST_P(WeightedSumSimd, TermsAreThePlainLoops) {
  for (size_t n : kLengths) {
    const std::vector<float> x = simd_test::delta_values(n, n + 7),
                             sum = simd_test::delta_values(n, n + 8);
    for (float w : kWeights) {
      std::vector<float> got(n, 1.0f), want(n);
      first_term(x.data(), w, n, got.data());
      for (size_t e = 0; e < n; ++e) want[e] = 0.0f + x[e] * w;
      expect_same_bits(got, want, "first_term");
      got = sum, want = sum;
      add_term(x.data(), w, n, got.data());
      for (size_t e = 0; e < n; ++e) want[e] += x[e] * w;
      expect_same_bits(got, want, "add_term");
    }
    for (float d : {3.0f, -0.5f, 0.0f}) {
      std::vector<float> got = sum, want = sum;
      divide(got.data(), d, n);
      for (float& v : want) v /= d;
      expect_same_bits(got, want, "divide");
    }
  }
}

// Every bf16 bit pattern (NaN payloads, infinities, subnormals), one byte off alignment so the
// stored data need not be aligned: the same bits as converting first.
TEST_P(WeightedSumSimd, Bf16TermsAreConvertThenTerm) {
  const size_t all = 65536;
  const std::vector<float> sums = simd_test::delta_values(all + 37, 9);
  for (size_t n : {size_t(0), size_t(1), size_t(15), size_t(17), size_t(1027), all + 37}) {
    const std::vector<uint8_t> stored = simd_test::unaligned_bf16_patterns(n);
    std::vector<float> x(n);
    convert_to(DType::BF16, stored.data() + 1, x.data(), n);
    for (float w : kWeights) {
      std::vector<float> got(n, 1.0f), want(n);
      first_term(x.data(), w, n, want.data());
      first_term_bf16(stored.data() + 1, w, n, got.data());
      expect_same_bits(got, want, "first_term_bf16");
      got.assign(sums.begin(), sums.begin() + n), want = got;
      add_term(x.data(), w, n, want.data());
      add_term_bf16(stored.data() + 1, w, n, got.data());
      expect_same_bits(got, want, "add_term_bf16");
    }
  }
}

}  // namespace
}  // namespace mf
