// dare_* and della*: statistics of the random masks, rescaling, determinism, and della's plan-time
// check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "test_methods_support.hpp"

namespace mf {
namespace {

using merge_test::MergeCall;
using merge_test::method;

constexpr size_t kRows = 100, kCols = 1000, kN = kRows * kCols;

template <class T>
std::vector<T> normal_values(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0, 0.01);
  std::vector<T> v(n);
  for (T& x : v) {
    do x = T(normal(gen));
    while (x == T(0));
  }
  return v;
}

// One fine-tuned model over a zero base, weight 1: the output is the sparsified task vector itself.
template <class T>
MergeCall<T> one_model(double density, std::map<std::string, double> extra = {}) {
  MergeCall<T> call;
  call.inputs = {std::vector<T>(kN, T(0)), normal_values<T>(kN, 1)};
  call.base = 0;
  call.shape = {int64_t(kRows), int64_t(kCols)};
  extra["weight"] = 1;
  extra["density"] = density;
  call.per_input = {{}, extra};
  call.seed = 1234;
  return call;
}

template <class T>
size_t count_nonzero(const std::vector<T>& v) {
  return size_t(std::count_if(v.begin(), v.end(), [](T x) { return x != T(0); }));
}

template <class T>
double l1(const std::vector<T>& v) {
  double s = 0;
  for (T x : v) s += std::abs(double(x));
  return s;
}

// Within 4 standard deviations of a sum of n Bernoulli(p) draws.
void expect_kept_count(size_t kept, size_t n, double p) {
  const double sigma = std::sqrt(double(n) * p * (1 - p));
  EXPECT_NEAR(double(kept), double(n) * p, 4 * sigma) << "kept " << kept << " of " << n;
}

template <class T>
class RandomSparsifiers : public ::testing::Test {};
TYPED_TEST_SUITE(RandomSparsifiers, merge_test::ComputeTypes);

TYPED_TEST(RandomSparsifiers, DareKeepsAFractionDensityUnchanged) {
  using T = TypeParam;
  MergeCall<T> call = one_model<T>(0.3);
  call.global = {{"rescale", 0}};
  const std::vector<T> out = call.run(method("dare_linear"));
  expect_kept_count(count_nonzero(out), kN, 0.3);
  for (size_t i = 0; i < kN; ++i) {
    if (out[i] != T(0)) {
      ASSERT_EQ(out[i], call.inputs[1][i]);
    }
  }
}

// The mask itself: element e of model i survives when uniform01(stream_key(seed, i), e) is below
// the density, with and without rescaling (which draws the mask on its own pass, as bits).
TYPED_TEST(RandomSparsifiers, DareKeepsTheElementsWhoseUniformIsBelowTheDensity) {
  using T = TypeParam;
  for (int rescale : {0, 1}) {
    MergeCall<T> call = one_model<T>(0.3);
    call.global = {{"rescale", double(rescale)}};
    const std::vector<T> out = call.run(method("dare_linear"));
    const uint64_t key = stream_key(call.seed, 1);
    for (size_t e = 0; e < kN; ++e)
      ASSERT_EQ(out[e] != T(0), double(uniform01(key, e)) < 0.3) << "element " << e;
  }
}

TYPED_TEST(RandomSparsifiers, DareRescaleRestoresTheL1Norm) {
  using T = TypeParam;
  MergeCall<T> call = one_model<T>(0.1);
  const std::vector<T> out = call.run(method("dare_linear"));
  expect_kept_count(count_nonzero(out), kN, 0.1);
  EXPECT_NEAR(l1(out), l1(call.inputs[1]), 1e-5 * l1(call.inputs[1]));
}

TYPED_TEST(RandomSparsifiers, DareTiesOfOneModelIsDareLinear) {
  using T = TypeParam;
  MergeCall<T> call = one_model<T>(0.5);
  EXPECT_EQ(call.run(method("dare_ties")), call.run(method("dare_linear")));
}

TYPED_TEST(RandomSparsifiers, SameSeedSameBytesOtherSeedOtherMask) {
  using T = TypeParam;
  for (const char* name : {"dare_linear", "dare_ties", "della", "della_linear"}) {
    MergeCall<T> call = one_model<T>(0.5);
    const std::vector<T> first = call.run(method(name)), again = call.run(method(name));
    ASSERT_EQ(std::memcmp(first.data(), again.data(), first.size() * sizeof(T)), 0) << name;
    call.seed = 1235;
    EXPECT_NE(call.run(method(name)), first) << name;
  }
}

TYPED_TEST(RandomSparsifiers, EachModelDrawsItsOwnMask) {
  using T = TypeParam;
  // Two identical models: out = (m1 + m2) d. With shared masks no element would hold exactly d.
  MergeCall<T> call = one_model<T>(0.3);
  call.inputs.push_back(call.inputs[1]);
  call.per_input.push_back(call.per_input[1]);
  call.global = {{"rescale", 0}};
  const std::vector<T> out = call.run(method("dare_linear"));
  size_t exactly_one = 0;
  for (size_t i = 0; i < kN; ++i) exactly_one += out[i] == call.inputs[1][i];
  expect_kept_count(exactly_one, kN, 2 * 0.3 * 0.7);
}

TYPED_TEST(RandomSparsifiers, DellaKeepsDensityOnAverageAndFavoursLargeMagnitudes) {
  using T = TypeParam;
  const double density = 0.4, epsilon = 0.15;
  MergeCall<T> call = one_model<T>(density, {{"epsilon", epsilon}});
  call.global = {{"rescale", 0}};
  const std::vector<T> out = call.run(method("della_linear"));
  // The probabilities are symmetric around density.
  expect_kept_count(count_nonzero(out), kN, density);

  // Per row, the top and bottom tenth by magnitude: p = density - eps + 2 eps (r-1)/(m-1).
  const std::vector<T>& d = call.inputs[1];
  size_t kept_top = 0, kept_bottom = 0;
  double p_top = 0, p_bottom = 0;
  for (size_t r = 0; r < kRows; ++r) {
    std::vector<size_t> order(kCols);
    for (size_t j = 0; j < kCols; ++j) order[j] = j;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return std::abs(d[r * kCols + a]) < std::abs(d[r * kCols + b]);
    });
    for (size_t rank = 1; rank <= kCols; ++rank) {
      const size_t e = r * kCols + order[rank - 1];
      const double p = density - epsilon + 2 * epsilon * double(rank - 1) / double(kCols - 1);
      if (rank <= kCols / 10) {
        kept_bottom += out[e] != T(0);
        p_bottom += p;
      } else if (rank > kCols - kCols / 10) {
        kept_top += out[e] != T(0);
        p_top += p;
      }
    }
  }
  const size_t bucket = kRows * kCols / 10;
  expect_kept_count(kept_bottom, bucket, p_bottom / double(bucket));
  expect_kept_count(kept_top, bucket, p_top / double(bucket));
  EXPECT_GT(kept_top, kept_bottom + bucket / 5);
}

TYPED_TEST(RandomSparsifiers, DellaRowsOfOneAndOneDimensionalTensors) {
  using T = TypeParam;
  MergeCall<T> call = one_model<T>(0.4);
  call.global = {{"rescale", 0}};
  // QUIRK fix: rows of length 1 use p = density instead of dividing by zero.
  call.shape = {int64_t(kN), 1};
  expect_kept_count(count_nonzero(call.run(method("della_linear"))), kN, 0.4);
  // A 1-D tensor is one row.
  call.shape = {int64_t(kN)};
  expect_kept_count(count_nonzero(call.run(method("della_linear"))), kN, 0.4);
  // Rank > 2: lines run along dim 1.
  call.shape = {10, 100, 100};
  expect_kept_count(count_nonzero(call.run(method("della_linear"))), kN, 0.4);
}

TYPED_TEST(RandomSparsifiers, DellaRescaleRestoresTheL1Norm) {
  using T = TypeParam;
  MergeCall<T> call = one_model<T>(0.3);
  const std::vector<T> out = call.run(method("della_linear"));
  EXPECT_NEAR(l1(out), l1(call.inputs[1]), 1e-5 * l1(call.inputs[1]));
  // della (sign consensus, normalize) on one model with weight 1 is the same.
  EXPECT_EQ(call.run(method("della")), out);
}

TYPED_TEST(RandomSparsifiers, DensityOneKeepsEverythingAndZeroNothing) {
  using T = TypeParam;
  for (const char* name : {"dare_linear", "della_linear"}) {
    MergeCall<T> call = one_model<T>(1.0);
    EXPECT_EQ(call.run(method(name)), call.inputs[1]) << name;
    call = one_model<T>(0.0);
    EXPECT_EQ(count_nonzero(call.run(method(name))), 0u) << name;
  }
}

TEST(DellaCheck, ProbabilityBandMustStayInsideTheUnitInterval) {
  for (const char* name : {"della", "della_linear"}) {
    MergeCall<float> call;
    call.inputs = {{0}, {1}, {2}};
    call.base = 0;
    auto with = [&](double density, double epsilon) {
      call.per_input = {{{"density", 0.99}, {"epsilon", 0.5}},  // the base's values are never used
                        {{"weight", 1}, {"density", 0.5}, {"epsilon", 0.1}},
                        {{"weight", 1}, {"density", density}, {"epsilon", epsilon}}};
      return call;
    };
    EXPECT_NO_THROW(with(0.5, 0.15).check(method(name)));
    EXPECT_NO_THROW(with(1.0, 0.15).check(method(name)));
    EXPECT_NO_THROW(with(0.0, 0.15).check(method(name)));
    EXPECT_NO_THROW(with(0.84, 0.15).check(method(name)));
    try {
      with(0.9, 0.15).check(method(name));
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidConfig);
    }
    EXPECT_THROW(with(0.15, 0.15).check(method(name)), Error);
    EXPECT_THROW(with(0.1, 0.15).check(method(name)), Error);
  }
  // Other sparsifiers have no band.
  MergeCall<float> call;
  call.inputs = {{0}, {1}};
  call.base = 0;
  call.per_input = {{}, {{"weight", 1}, {"density", 0.99}}};
  EXPECT_NO_THROW(call.check(method("dare_ties")));
}

}  // namespace
}  // namespace mf
