// sce against hand-worked numbers, and against a straightforward long double reference (a full
// stable sort for the selection) on tensors with many tied variances.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.hpp"
#include "test_methods_support.hpp"

namespace mf {
namespace {

using merge_test::cast;
using merge_test::expect_near_all;
using merge_test::expect_param;
using merge_test::MergeCall;
using merge_test::method;
using merge_test::plus;

template <class T>
class Sce : public ::testing::Test {};
TYPED_TEST_SUITE(Sce, merge_test::ComputeTypes);

const std::vector<double> kBase = {1, -1, 0.5, 2};

// d1 = [1, -2, 0, 2], d2 = [3, 2, -1, 0]; per-position variances (d1 - d2)^2 / 4 = [1, 4, 0.25, 1].
template <class T>
MergeCall<T> two_models(std::map<std::string, double> global = {}) {
  MergeCall<T> call;
  call.inputs = {cast<T>(kBase), plus<T>(kBase, {1, -2, 0, 2}), plus<T>(kBase, {3, 2, -1, 0})};
  call.base = 0;
  call.global = std::move(global);
  return call;
}

std::vector<double> plus_base(const std::vector<double>& mixed) {
  std::vector<double> r(mixed.size());
  for (size_t i = 0; i < r.size(); ++i) r[i] = kBase[i] + mixed[i];
  return r;
}

TEST(SceInfo, MatchesMergeKit) {
  const MethodInfo& info = method("sce").info();
  EXPECT_EQ(info.paper_url, "https://arxiv.org/abs/2408.07990");
  EXPECT_EQ(info.base, BaseRole::Required);
  EXPECT_EQ(info.min_models, 0);
  EXPECT_EQ(info.max_models, -1);
  EXPECT_EQ(info.partial, PartialInputs::MergePresent);
  ASSERT_EQ(info.params.size(), 2u);
  expect_param(info, "select_topk", ParamType::Float, ParamScope::Global, 1.0);
  expect_param(info, "int8_mask", ParamType::Bool, ParamScope::Global, 0.0);
  EXPECT_EQ(info.find_param("weight"), nullptr) << "MergeKit's sce takes no weight";
}

TYPED_TEST(Sce, WithoutSelectionElectsAndWeighsByMeanSquares) {
  using T = TypeParam;
  // Votes d1 + d2 = [4, 0, -1, 2]: signs + + - + (a zero sum goes positive).
  // Mean squares: d1 9/4, d2 14/4, so s1 = 9/23, s2 = 14/23.
  //   e0: both agree: (1 * 9 + 3 * 14) / 23 / 1 = 51/23
  //   e1: only d2 (+2); e2: only d2 (-1); e3: only d1 (2; d2 = 0 agrees with no sign)
  expect_near_all(two_models<T>().run(method("sce")), plus_base({51.0 / 23, 2, -1, 2}));
  // int8_mask changes nothing.
  expect_near_all(two_models<T>({{"int8_mask", 1}}).run(method("sce")),
                  plus_base({51.0 / 23, 2, -1, 2}));
}

TYPED_TEST(Sce, SelectionKeepsTheLargestVariancesLowestIndicesAtATie) {
  using T = TypeParam;
  // k = int(4 * 0.5) = 2: variance 4 (e1), then e0 and e3 tie at 1 and e0 (lower index) wins.
  // Masked: d1 = [1, -2, 0, 0], d2 = [3, 2, 0, 0]; votes [4, 0, 0, 0].
  // Mean squares of the masked deltas: 5/4 and 13/4, so s1 = 5/18, s2 = 13/18.
  //   e0: (1 * 5 + 3 * 13) / 18 = 22/9; e1: only d2 -> 2; e2, e3: nothing agrees -> the base.
  expect_near_all(two_models<T>({{"select_topk", 0.5}}).run(method("sce")),
                  plus_base({22.0 / 9, 2, 0, 0}));
  // A tie further in: variances [0.25, 1, 4, 1] keep e2, then e1 (before e3). Masked
  // d1 = [0, 2, -2, 0], d2 = [0, 0, 2, 0]; votes [0, 2, 0, 0] -> e1: d1 only; e2: +, d2 only.
  MergeCall<T> call;
  call.inputs = {cast<T>({0, 0, 0, 0}), cast<T>({0, 2, -2, 1}), cast<T>({-1, 0, 2, 3})};
  call.base = 0;
  call.global = {{"select_topk", 0.5}};
  expect_near_all(call.run(method("sce")), {0, 2, 2, 0});
}

TYPED_TEST(Sce, SelectsAmongNonzeroVariancesOnly) {
  using T = TypeParam;
  // Variances [0, 1, 0, 0, 9]: two nonzero, k = int(2 * 0.5) = 1 (not int(5 * 0.5) = 2): only e4.
  MergeCall<T> call;
  const std::vector<double> b = {0.5, 0.5, 0.5, 0.5, 0.5};
  call.inputs = {cast<T>(b), plus<T>(b, {1, 1, 2, 0, 5}), plus<T>(b, {1, 3, 2, 0, -1})};
  call.base = 0;
  call.global = {{"select_topk", 0.5}};
  // e4: votes 4 -> only d1 agrees -> 5.
  expect_near_all(call.run(method("sce")), {0.5, 0.5, 0.5, 0.5, 5.5});
}

TYPED_TEST(Sce, CountIsTheFloat32Product) {
  using T = TypeParam;
  // 50 distinct nonzero variances, select_topk 0.58: float32(50) * float32(0.58) = 29.0000...
  // while 50 * 0.58 = 28.999... in float64. MergeKit keeps 29.
  MergeCall<T> call;
  std::vector<double> zero(50, 0.0), d(50);
  for (int i = 0; i < 50; ++i) d[i] = 1 + i;  // one model against a copy of the base: var = d^2/4
  call.inputs = {cast<T>(zero), cast<T>(d), cast<T>(zero)};
  call.base = 0;
  call.global = {{"select_topk", 0.58}};
  const std::vector<T> out = call.run(method("sce"));
  size_t kept = 0;
  for (T v : out) kept += v != T(0) ? 1 : 0;
  EXPECT_EQ(kept, 29u);
  // The kept ones are the largest: d = 22..50.
  for (int i = 0; i < 50; ++i) EXPECT_EQ(out[i] != T(0), i >= 21) << i;
}

TYPED_TEST(Sce, NothingSelectedGivesTheBase) {
  using T = TypeParam;
  for (double topk : {0.0, -1.0, 0.2}) {  // 0.2: k = int(4 * 0.2) = 0
    expect_near_all(two_models<T>({{"select_topk", topk}}).run(method("sce")), kBase);
  }
  // One model: every variance is zero, so any select_topk < 1 keeps nothing.
  MergeCall<T> call;
  call.inputs = {cast<T>(kBase), plus<T>(kBase, {1, 2, 3, 4})};
  call.base = 0;
  call.global = {{"select_topk", 0.9}};
  expect_near_all(call.run(method("sce")), kBase);
  call.global = {};
  expect_near_all(call.run(method("sce")), plus_base({1, 2, 3, 4}));
}

TYPED_TEST(Sce, TinyDeltasWeighUniformly) {
  using T = TypeParam;
  // Mean squares 5e-9 and 4.5e-8 sum below 1e-6: s = 1/2 each, e0 = (1e-4 + 3e-4) / 2. (With
  // proportional weights it would be 2.8e-4.)
  MergeCall<T> call;
  call.inputs = {cast<T>({0, 0}), cast<T>({1e-4, 0}), cast<T>({3e-4, 0})};
  call.base = 0;
  const std::vector<T> out = call.run(method("sce"));
  const double d1 = double(T(1e-4)), d2 = double(T(3e-4));
  expect_near_all(out, {(d1 + d2) / 2, 0});
}

TYPED_TEST(Sce, DivisorIsClampedAtOneMillionth) {
  using T = TypeParam;
  // e0: votes -1e-3 + 2e-3 > 0, only d2 agrees, but s2 = ms2 / (ms1 + ms2) ~ 4e-12 < 1e-6:
  // e0 = 2e-3 * s2 / 1e-6. e1: only d1 -> 1000.
  MergeCall<T> call;
  call.inputs = {cast<T>({0, 0}), cast<T>({-1e-3, 1000}), cast<T>({2e-3, 0})};
  call.base = 0;
  const long double a = (long double)T(-1e-3), c = (long double)T(2e-3);
  const long double ms1 = (a * a + 1000.0L * 1000.0L) / 2, ms2 = c * c / 2;
  const long double s2 = ms2 / (ms1 + ms2);
  const std::vector<T> out = call.run(method("sce"));
  EXPECT_NEAR(double(out[0]), double(c * s2 / 1e-6L), 1e-6 * double(c * s2 / 1e-6L));
  EXPECT_NEAR(double(out[1]), 1000.0, 1000.0 * merge_test::tolerance<T>());
}

TYPED_TEST(Sce, BaseAnywhereAndAloneWorks) {
  using T = TypeParam;
  MergeCall<T> call = two_models<T>();
  std::rotate(call.inputs.begin(), call.inputs.begin() + 1, call.inputs.end());  // base last
  call.base = 2;
  expect_near_all(call.run(method("sce")), plus_base({51.0 / 23, 2, -1, 2}));
  MergeCall<T> alone;
  alone.inputs = {cast<T>(kBase)};
  alone.base = 0;
  alone.global = {{"select_topk", 0.5}};
  EXPECT_EQ(alone.run(method("sce")), alone.inputs[0]);
}

// The long double reference: variances ranked in T (as MergeKit ranks its float32 variances),
// the top k by a full stable sort (descending variance, ascending index).
template <class T>
std::vector<long double> reference_sce(const std::vector<std::vector<T>>& inputs, double topk) {
  const size_t n = inputs[0].size(), models = inputs.size() - 1;
  std::vector<std::vector<long double>> d(models, std::vector<long double>(n));
  for (size_t i = 0; i < models; ++i)
    for (size_t e = 0; e < n; ++e) d[i][e] = (long double)T(inputs[i + 1][e] - inputs[0][e]);
  if (topk < 1) {
    std::vector<T> var(n);
    size_t nonzero = 0;
    for (size_t e = 0; e < n; ++e) {
      long double mean = 0, sq = 0;
      for (size_t i = 0; i < models; ++i) mean += d[i][e];
      mean /= models;
      for (size_t i = 0; i < models; ++i) sq += (d[i][e] - mean) * (d[i][e] - mean);
      var[e] = T(sq / models);
      nonzero += var[e] != 0;
    }
    const size_t k = topk <= 0 ? 0 : size_t(float(nonzero) * float(topk));
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return var[a] > var[b]; });
    std::vector<bool> keep(n, false);
    for (size_t j = 0; j < std::min(k, n); ++j) keep[order[j]] = true;
    for (auto& di : d)
      for (size_t e = 0; e < n; ++e)
        if (!keep[e]) di[e] = 0;
  }
  std::vector<long double> w(models);
  long double wsum = 0;
  for (size_t i = 0; i < models; ++i) {
    for (size_t e = 0; e < n; ++e) w[i] += d[i][e] * d[i][e];
    w[i] /= n;
    wsum += w[i];
  }
  for (auto& wi : w) wi = std::fabs(wsum) < 1e-6L ? 1.0L / models : wi / wsum;
  std::vector<long double> out(n);
  for (size_t e = 0; e < n; ++e) {
    long double vote = 0;
    for (size_t i = 0; i < models; ++i) vote += d[i][e];
    const int sign = vote >= 0 ? 1 : -1;
    long double num = 0, den = 0;
    for (size_t i = 0; i < models; ++i)
      if ((d[i][e] > 0 && sign > 0) || (d[i][e] < 0 && sign < 0)) {
        num += d[i][e] * w[i];
        den += w[i];
      }
    out[e] = (long double)inputs[0][e] + num / std::max(den, 1e-6L);
  }
  return out;
}

TYPED_TEST(Sce, MatchesTheReferenceWithManyTies) {
  using T = TypeParam;
  // Deltas on a coarse grid (like bf16 fine-tunes): many equal variances straddle each cut. Four
  // models keep every variance exact, so the ties are the same here and in the reference.
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> level(-3, 3);
  for (double topk : {0.1, 0.37, 0.5, 0.9, 1.0}) {
    MergeCall<T> call;
    const size_t n = 300;
    std::vector<double> b(n);
    for (size_t e = 0; e < n; ++e) b[e] = 0.25 * level(gen);
    call.inputs.push_back(cast<T>(b));
    for (int m = 0; m < 4; ++m) {
      std::vector<double> x(n);
      for (size_t e = 0; e < n; ++e) x[e] = b[e] + 0.125 * level(gen);
      call.inputs.push_back(cast<T>(x));
    }
    call.base = 0;
    call.shape = {15, 20};
    call.global = {{"select_topk", topk}};
    const std::vector<long double> expected = reference_sce(call.inputs, topk);
    const std::vector<T> out = call.run(method("sce"));
    for (size_t e = 0; e < n; ++e)
      EXPECT_NEAR(double(out[e]), double(expected[e]),
                  merge_test::tolerance<T>() * (1 + std::fabs(double(expected[e]))))
          << "select_topk " << topk << " element " << e;
  }
}

TEST(SceCheck, RejectsANanSelectTopk) {
  MergeCall<float> call = two_models<float>({{"select_topk", std::nan("")}});
  EXPECT_THROW(call.check(method("sce")), Error);
  for (double ok : {-1.0, 0.0, 0.5, 1.0, 3.0}) {
    call.global = {{"select_topk", ok}};
    EXPECT_NO_THROW(call.check(method("sce"))) << ok;
  }
}

}  // namespace
}  // namespace mf
