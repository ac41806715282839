// arcee_fusion against hand-worked cases and a long double reference (softmax and KL per row in
// long double, quantiles from a full std::sort), and the sampled quantiles of large tensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "test_methods_support.hpp"

namespace mf {
namespace {

using merge_test::cast;
using merge_test::expect_near_all;
using merge_test::MergeCall;
using merge_test::method;

template <class T>
class ArceeFusion : public ::testing::Test {};
TYPED_TEST_SUITE(ArceeFusion, merge_test::ComputeTypes);

TEST(ArceeFusionInfo, MatchesMergeKit) {
  const MethodInfo& info = method("arcee_fusion").info();
  EXPECT_EQ(info.paper_url, "https://arcee.ai");
  EXPECT_TRUE(info.params.empty());
  EXPECT_EQ(info.base, BaseRole::Required);
  EXPECT_EQ(info.min_models, 1);
  EXPECT_EQ(info.max_models, 1);
  EXPECT_EQ(info.partial, PartialInputs::PassSingle);
}

// importance[e] = |x - b| * KL(softmax(x_row) + 1e-8 || softmax(b_row) + 1e-8), rows along the
// last dimension, and MergeKit's threshold from the fully sorted importances.
template <class T>
struct Reference {
  std::vector<long double> importance;
  long double threshold = 0;
};

template <class T>
Reference<T> reference(const std::vector<T>& b, const std::vector<T>& x, size_t length) {
  const size_t n = b.size();
  Reference<T> ref;
  ref.importance.resize(n);
  for (size_t start = 0; start < n; start += length) {
    auto probabilities = [&](const std::vector<T>& v) {
      long double top = v[start];
      for (size_t j = 0; j < length; ++j) top = std::max(top, (long double)v[start + j]);
      std::vector<long double> p(length);
      long double sum = 0;
      for (size_t j = 0; j < length; ++j) sum += p[j] = std::exp((long double)v[start + j] - top);
      for (long double& pj : p) pj = pj / sum + 1e-8L;
      return p;
    };
    const std::vector<long double> p = probabilities(x), q = probabilities(b);
    long double kl = 0;
    for (size_t j = 0; j < length; ++j) kl += p[j] * std::log(p[j] / q[j]);
    for (size_t j = 0; j < length; ++j)
      ref.importance[start + j] = std::fabs((long double)T(x[start + j] - b[start + j])) * kl;
  }
  std::vector<long double> sorted = ref.importance;
  std::sort(sorted.begin(), sorted.end());
  const auto at = [&](double q) { return sorted[size_t(std::floor(q * double(n - 1)))]; };
  ref.threshold = at(0.5) + 1.5L * (at(0.75) - at(0.25));
  return ref;
}

TYPED_TEST(ArceeFusion, KeepsTheOutlierOfOneRow) {
  using T = TypeParam;
  // One row: importances K [0.1, 0.2, 0.3, 0.4, 2] for the row's KL K > 0. Sorted indices
  // floor(q * 4) = 1, 2, 3: threshold 0.3K + 1.5 (0.4K - 0.2K) = 0.6K. Only the last is kept.
  MergeCall<T> call;
  call.inputs = {cast<T>({0, 0, 0, 0, 0}), cast<T>({0.1, 0.2, 0.3, 0.4, 2})};
  call.base = 0;
  expect_near_all(call.run(method("arcee_fusion")), {0, 0, 0, 0, 2});
}

TYPED_TEST(ArceeFusion, ZeroInterquartileRangeKeepsEverything) {
  using T = TypeParam;
  // Row 1 is shifted uniformly: its softmax equals the base's, KL 0, importance 0 despite the
  // delta. Importances [K, 0, 0, 0, 0, 0]: every quartile is 0, the threshold is 0, and every
  // importance is >= 0, so the result is x everywhere.
  MergeCall<T> call;
  call.inputs = {cast<T>({0, 0, 0, 0, 0, 0}), cast<T>({1, 0, 0, 0.5, 0.5, 0.5})};
  call.base = 0;
  call.shape = {2, 3};
  expect_near_all(call.run(method("arcee_fusion")), {1, 0, 0, 0.5, 0.5, 0.5});
}

TYPED_TEST(ArceeFusion, RowDivergenceScalesTheDelta) {
  using T = TypeParam;
  // Rows (c + a, c) against (c, c): a KL(a) grows with a. Importances: four zeros (the second
  // column) and v(0.1) < v(0.2) < v(0.3) < v(1). Sorted indices floor(q * 7) = 1, 3, 5: q1 = 0,
  // median 0, q3 = v(0.2), threshold 1.5 v(0.2) ~ 1.5e-3: v(0.3) ~ 3.4e-3 and v(1) are kept.
  MergeCall<T> call;
  const double c = 0.5;
  call.inputs = {cast<T>({c, c, c, c, c, c, c, c}),
                 cast<T>({c + 0.1, c, c + 0.2, c, c + 0.3, c, c + 1, c})};
  call.base = 0;
  call.shape = {4, 2};
  const std::vector<double> expected = {c, c, c, c, double(T(c + 0.3)), c, double(T(c + 1)), c};
  expect_near_all(call.run(method("arcee_fusion")), expected);
  // The base may come second.
  std::swap(call.inputs[0], call.inputs[1]);
  call.base = 1;
  expect_near_all(call.run(method("arcee_fusion")), expected);
}

TYPED_TEST(ArceeFusion, OneElementAndSingleInput) {
  using T = TypeParam;
  // One element is one row: KL 0, threshold 0, x is kept.
  MergeCall<T> scalar;
  scalar.inputs = {cast<T>({0.25}), cast<T>({-2})};
  scalar.base = 0;
  EXPECT_EQ(scalar.run(method("arcee_fusion")), cast<T>({-2}));
  // A tensor only one model has passes through.
  MergeCall<T> single;
  single.inputs = {cast<T>({1, 2, 3})};
  single.base = -1;
  EXPECT_EQ(single.run(method("arcee_fusion")), single.inputs[0]);
}

TYPED_TEST(ArceeFusion, ImportancesEqualToTheThresholdAreKeptAsInFloat64) {
  using T = TypeParam;
  // A 32-element norm vector of bfloat16 values (multiples of 2^-7 in [1, 2)). The deltas: 16
  // zeros, 12 of magnitude a = 2^-6, 2 of 1.5a (elements 13 and 19) and 2 of 2a (elements 3 and
  // 26). One row, one KL K: sorted importances at floor(q * 31) = 7, 15, 23 give q1 = median = 0
  // and q3 = aK, threshold 1.5 aK, which the importances 1.5a K of elements 13 and 19 equal in
  // float64 (aK is exact, so both round 1.5 aK once). Rounded to float32 separately, importance
  // and threshold fall on different sides here and only elements 3 and 26 were kept.
  // The selection {3, 13, 19, 26} is MergeKit 0.1.5's: in Python, with b and x below as float64
  // tensors, DynamicThresholdFusion().compute_fusion_mask(_compute_importance(x, b)) from
  // mergekit.merge_methods.arcee_fusion.
  const std::vector<double> b = {
      1.2265625, 1.3671875, 1.375,     1.125,     1.1875,    1.703125, 1.0390625, 1.078125,
      1.1328125, 1.2421875, 1.5,       1.203125,  1.3984375, 1.640625, 1.0234375, 1.453125,
      1.484375,  1.453125,  1.3828125, 1.4921875, 1.5703125, 1.1875,   1.3984375, 1.0859375,
      1.484375,  1.2265625, 1.7578125, 1.015625,  1.6953125, 1.265625, 1.515625,  1.40625};
  const std::vector<double> x = {
      1.2421875, 1.3828125, 1.375,     1.15625,  1.1875,    1.703125,  1.0390625, 1.09375,
      1.1328125, 1.2265625, 1.5,       1.203125, 1.4140625, 1.6640625, 1.0234375, 1.453125,
      1.46875,   1.453125,  1.3671875, 1.46875,  1.5703125, 1.171875,  1.4140625, 1.0859375,
      1.5,       1.2109375, 1.7890625, 1.0,      1.6953125, 1.265625,  1.515625,  1.40625};
  std::vector<double> expected = b;
  for (size_t e : {3u, 13u, 19u, 26u}) expected[e] = x[e];
  MergeCall<T> call;
  call.inputs = {cast<T>(b), cast<T>(x)};
  call.base = 0;
  EXPECT_EQ(call.run(method("arcee_fusion")), cast<T>(expected));
}

// Random rows with different scales of change; `rows` x `length` elements.
template <class T>
MergeCall<T> random_case(size_t rows, size_t length, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0, 1);
  std::uniform_real_distribution<double> scale(0.005, 0.05);
  std::vector<T> b(rows * length), x(rows * length);
  for (size_t r = 0; r < rows; ++r) {
    const double s = scale(gen);
    for (size_t j = 0; j < length; ++j) {
      const size_t e = r * length + j;
      b[e] = T(normal(gen));
      do {
        x[e] = T(double(b[e]) + s * normal(gen));
      } while (x[e] == b[e]);  // every delta nonzero: a kept element always shows
    }
  }
  MergeCall<T> call;
  call.inputs = {b, x};
  call.base = 0;
  call.shape = {int64_t(rows), int64_t(length)};
  return call;
}

// The bracket (largest dropped importance, smallest kept importance] in which the threshold the
// kernel used must lie, from the reference importances.
template <class T>
std::pair<long double, long double> threshold_bracket(const MergeCall<T>& call,
                                                      const std::vector<T>& out,
                                                      const Reference<T>& ref) {
  long double dropped = -INFINITY, kept = INFINITY;
  for (size_t e = 0; e < out.size(); ++e) {
    if (out[e] == call.inputs[0][e])
      dropped = std::max(dropped, ref.importance[e]);
    else
      kept = std::min(kept, ref.importance[e]);
  }
  return {dropped, kept};
}

TYPED_TEST(ArceeFusion, MatchesTheReferenceExactly) {
  using T = TypeParam;
  for (unsigned seed : {1u, 2u, 3u}) {
    const MergeCall<T> call = random_case<T>(40, 64, seed);
    const Reference<T> ref = reference(call.inputs[0], call.inputs[1], 64);
    const std::vector<T> out = call.run(method("arcee_fusion"));
    size_t kept = 0;
    for (size_t e = 0; e < out.size(); ++e) {
      const bool should_keep = ref.importance[e] >= ref.threshold;
      // Precision: elements within a hair of the threshold may go either way.
      if (std::fabs(ref.importance[e] - ref.threshold) <= 1e-5L * ref.threshold) continue;
      EXPECT_EQ(out[e], should_keep ? T(call.inputs[0][e] + (call.inputs[1][e] - call.inputs[0][e]))
                                    : call.inputs[0][e])
          << "seed " << seed << " element " << e;
      kept += should_keep;
    }
    EXPECT_GT(kept, 0u);
    EXPECT_LT(kept, out.size() / 4);
  }
}

TYPED_TEST(ArceeFusion, UpToAMillionElementsQuantilesAreExact) {
  using T = TypeParam;
  MergeCall<T> call = random_case<T>(1000, 1000, 11);  // exactly 1e6: no sampling
  const Reference<T> ref = reference(call.inputs[0], call.inputs[1], 1000);
  call.seed = 1;
  const std::vector<T> first = call.run(method("arcee_fusion"));
  call.seed = 2;
  EXPECT_EQ(call.run(method("arcee_fusion")), first) << "no randomness below the sample size";
  const auto [dropped, kept] = threshold_bracket(call, first, ref);
  EXPECT_LT(dropped, ref.threshold * (1 + 1e-5L));
  EXPECT_GE(kept, ref.threshold * (1 - 1e-5L));
}

TYPED_TEST(ArceeFusion, LargeTensorsSampleTheQuantiles) {
  using T = TypeParam;
  MergeCall<T> call = random_case<T>(1100, 1000, 12);  // 1.1e6 elements: a sample of 1e6
  const Reference<T> ref = reference(call.inputs[0], call.inputs[1], 1000);
  call.seed = 1;
  const std::vector<T> first = call.run(method("arcee_fusion"));
  EXPECT_EQ(call.run(method("arcee_fusion")), first) << "deterministic for a seed";
  call.seed = 2;
  const std::vector<T> other = call.run(method("arcee_fusion"));
  EXPECT_NE(other, first) << "another seed draws another sample";
  for (const std::vector<T>* out : {&first, &other}) {
    const auto [dropped, kept] = threshold_bracket(call, *out, ref);
    ASSERT_LT(dropped, kept);
    // The sampled threshold lies in (dropped, kept]; both ends are close to the exact one.
    EXPECT_NEAR(double(dropped / ref.threshold), 1.0, 0.01);
    EXPECT_NEAR(double(kept / ref.threshold), 1.0, 0.01);
  }
}

}  // namespace
}  // namespace mf
