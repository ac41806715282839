#include <gtest/gtest.h>

#include <cmath>

#include "test_methods_support.hpp"

namespace mf {
namespace {

using merge_test::cast;
using merge_test::expect_near_all;
using merge_test::expect_param;
using merge_test::MergeCall;
using merge_test::method;

template <class T>
class ModelStock : public ::testing::Test {};
TYPED_TEST_SUITE(ModelStock, merge_test::ComputeTypes);

using Vec = std::vector<double>;

// One row: the mean pairwise cosine c of the task vectors, t = N c / (1 + (N - 1) c) (0 at the
// singularity), result t * mean(x) + (1 - t) * base.
Vec reference_row(const Vec& base, const std::vector<Vec>& xs) {
  const size_t n = base.size(), k = xs.size();
  std::vector<std::vector<long double>> d(k, std::vector<long double>(n));
  for (size_t i = 0; i < k; ++i)
    for (size_t e = 0; e < n; ++e) d[i][e] = (long double)xs[i][e] - base[e];
  auto dot = [&](size_t i, size_t j) {
    long double s = 0;
    for (size_t e = 0; e < n; ++e) s += d[i][e] * d[j][e];
    return s;
  };
  long double c = 0;
  int pairs = 0;
  for (size_t i = 0; i < k; ++i)
    for (size_t j = i + 1; j < k; ++j, ++pairs)
      c += std::clamp(dot(i, j) / std::max(std::sqrt(dot(i, i) * dot(j, j)), 1e-6L), -1.0L, 1.0L);
  c /= pairs;
  const long double den = 1 + (k - 1) * c;
  const long double t = std::abs(den) < 1e-6L ? 0 : k * c / den;
  Vec r(n);
  for (size_t e = 0; e < n; ++e) {
    long double mean = 0;
    for (size_t i = 0; i < k; ++i) mean += xs[i][e];
    r[e] = double(t * mean / k + (1 - t) * base[e]);
  }
  return r;
}

// Rows of `length` elements, each merged on its own.
Vec reference_rows(const Vec& base, const std::vector<Vec>& xs, size_t length) {
  Vec r;
  for (size_t start = 0; start < base.size(); start += length) {
    auto cut = [&](const Vec& v) { return Vec(v.begin() + start, v.begin() + start + length); };
    std::vector<Vec> rows;
    for (const Vec& x : xs) rows.push_back(cut(x));
    const Vec m = reference_row(cut(base), rows);
    r.insert(r.end(), m.begin(), m.end());
  }
  return r;
}

TEST(ModelStockInfo, MatchesMergeKitsContract) {
  const MethodInfo& info = method("model_stock").info();
  EXPECT_EQ(info.base, BaseRole::Required);
  EXPECT_EQ(info.min_models, 2);
  EXPECT_EQ(info.max_models, -1);
  EXPECT_EQ(info.partial, PartialInputs::BaseOrOmit);
  EXPECT_EQ(info.paper_url, "https://arxiv.org/abs/2403.19522");
  expect_param(info, "filter_wise", ParamType::Bool, ParamScope::Global, 0.0);
}

TYPED_TEST(ModelStock, TwoFineTunesAt45Degrees) {
  using T = TypeParam;
  // Task vectors (1, 0) and (1, 1): c = 1 / sqrt 2, t = 2c / (1 + c) = 2 (sqrt 2 - 1), and the
  // result is base + t * mean(d) = base + t * (1, 0.5).
  MergeCall<T> call;
  call.inputs = {cast<T>({0.5, -1}), cast<T>({1.5, -1}), cast<T>({1.5, 0})};
  call.base = 0;
  const double t = 2 * (std::sqrt(2.0) - 1);
  expect_near_all(call.run(method("model_stock")), {0.5 + t, -1 + 0.5 * t});
}

TYPED_TEST(ModelStock, ThreeFineTunes) {
  using T = TypeParam;
  // Task vectors (1, 0, 0), (0, 1, 0), (1, 1, 0): cosines 0, 1 / sqrt 2, 1 / sqrt 2, so
  // c = sqrt 2 / 3 and t = 3c / (1 + 2c).
  const Vec base = {1, 2, 3};
  MergeCall<T> call;
  call.inputs = {cast<T>({2, 2, 3}), cast<T>({1, 3, 3}), cast<T>(base), cast<T>({2, 3, 3})};
  call.base = 2;
  const double c = std::sqrt(2.0) / 3, t = 3 * c / (1 + 2 * c);
  expect_near_all(call.run(method("model_stock")), {1 + t * 2 / 3, 2 + t * 2 / 3, 3});
}

TYPED_TEST(ModelStock, OneRatioPerTensorByDefault) {
  using T = TypeParam;
  const Vec base = {0.5, -1, 2, 0, 1, 1};
  const std::vector<Vec> xs = {{1, -1, 2.5, 0.5, 1, 0}, {0.5, 0, 1, 1, 2, 1}, {1, 1, 1, 1, 1, 1}};
  MergeCall<T> call;
  call.shape = {2, 3};
  call.inputs = {cast<T>(base), cast<T>(xs[0]), cast<T>(xs[1]), cast<T>(xs[2])};
  call.base = 0;
  expect_near_all(call.run(method("model_stock")), reference_row(base, xs), 4);
  // filter_wise: one ratio per row of the last dimension.
  call.global = {{"filter_wise", 1.0}};
  const Vec rows = reference_rows(base, xs, 3);
  expect_near_all(call.run(method("model_stock")), rows, 4);
  EXPECT_GT(std::abs(rows[0] - reference_row(base, xs)[0]), 1e-3);
  // 3-D: rows are still along the last dimension.
  call.shape = {2, 1, 3};
  expect_near_all(call.run(method("model_stock")), rows, 4);
  call.shape = {3, 2};
  expect_near_all(call.run(method("model_stock")), reference_rows(base, xs, 2), 4);
}

TYPED_TEST(ModelStock, FilterWiseOnAVectorIsOneRow) {
  using T = TypeParam;
  const Vec base = {0.5, -1, 2}, x1 = {1, -1, 2.5}, x2 = {0.5, 0, 1};
  MergeCall<T> call;
  call.inputs = {cast<T>(base), cast<T>(x1), cast<T>(x2)};
  call.base = 0;
  call.global = {{"filter_wise", 1.0}};
  expect_near_all(call.run(method("model_stock")), reference_row(base, {x1, x2}), 4);
}

TYPED_TEST(ModelStock, DegenerateRowsKeepTheBase) {
  using T = TypeParam;
  // Row 0: opposite task vectors, c = -1 and 1 + c = 0: t = 0. Row 1: one task vector is zero,
  // c = 0 / 1e-6 = 0: t = 0. Row 2: identical task vectors, c = 1, t = 1: the mean.
  MergeCall<T> call;
  call.shape = {3, 2};
  call.inputs = {cast<T>({1, 1, 1, 1, 1, 1}), cast<T>({2, 0, 1, 1, 2, 3}),
                 cast<T>({0, 2, 3, -1, 2, 3})};
  call.base = 0;
  call.global = {{"filter_wise", 1.0}};
  expect_near_all(call.run(method("model_stock")), {1, 1, 1, 1, 2, 3});
}

TYPED_TEST(ModelStock, TheBaseAlonePassesThrough) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1.5, -2})};
  EXPECT_EQ(call.run(method("model_stock")), call.inputs[0]);
}

}  // namespace
}  // namespace mf
