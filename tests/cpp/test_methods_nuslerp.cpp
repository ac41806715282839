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
class Nuslerp : public ::testing::Test {};
TYPED_TEST_SUITE(Nuslerp, merge_test::ComputeTypes);

using Vec = std::vector<double>;

// The textbook formula on one pair of vectors: the angle from the normalized copies (norms
// clamped at 1e-7), the coefficients on the original vectors, linear when (anti)parallel.
Vec reference_pair(const Vec& v0, const Vec& v1, double t) {
  long double n0 = 0, n1 = 0, dot = 0;
  for (size_t i = 0; i < v0.size(); ++i) {
    n0 += (long double)v0[i] * v0[i];
    n1 += (long double)v1[i] * v1[i];
    dot += (long double)v0[i] * v1[i];
  }
  n0 = std::max(std::sqrt(n0), 1e-7L);
  n1 = std::max(std::sqrt(n1), 1e-7L);
  const long double cosine = std::clamp(dot / (n0 * n1), -1.0L, 1.0L);
  long double c0 = 1 - t, c1 = t;
  if (1 - cosine * cosine > 1e-16L) {
    const long double theta = std::acos(cosine);
    c0 = std::sin((1 - t) * theta) / std::sin(theta);
    c1 = std::sin(t * theta) / std::sin(theta);
  }
  Vec r(v0.size());
  for (size_t i = 0; i < v0.size(); ++i) r[i] = double(c0 * v0[i] + c1 * v1[i]);
  return r;
}

// Vectors of a [rows, cols] tensor: along the last dimension (rows) or dimension 0 (columns).
Vec reference_2d(const Vec& v0, const Vec& v1, double t, size_t rows, size_t cols, bool columns) {
  Vec r(v0.size());
  const size_t vectors = columns ? cols : rows, length = columns ? rows : cols;
  for (size_t k = 0; k < vectors; ++k) {
    auto index = [&](size_t i) { return columns ? i * cols + k : k * cols + i; };
    Vec a(length), b(length);
    for (size_t i = 0; i < length; ++i) a[i] = v0[index(i)], b[i] = v1[index(i)];
    const Vec m = reference_pair(a, b, t);
    for (size_t i = 0; i < length; ++i) r[index(i)] = m[i];
  }
  return r;
}

Vec add(const Vec& a, const Vec& b) {
  Vec r(a.size());
  for (size_t i = 0; i < a.size(); ++i) r[i] = a[i] + b[i];
  return r;
}

TEST(NuslerpInfo, MatchesMergeKitsContract) {
  const MethodInfo& info = method("nuslerp").info();
  EXPECT_EQ(info.base, BaseRole::Optional);
  EXPECT_EQ(info.min_models, 2);
  EXPECT_EQ(info.max_models, 2);
  EXPECT_EQ(info.partial, PartialInputs::PassSingle);
  expect_param(info, "weight", ParamType::Float, ParamScope::PerNonBase, std::nullopt);
  expect_param(info, "nuslerp_flatten", ParamType::Bool, ParamScope::Global, 1.0);
  expect_param(info, "nuslerp_row_wise", ParamType::Bool, ParamScope::Global, 0.0);
}

TYPED_TEST(Nuslerp, OrthogonalModelsAtEqualWeights) {
  using T = TypeParam;
  // t = 1 / 2; theta = pi / 2: both coefficients sin(pi / 4); the second vector keeps its norm.
  MergeCall<T> call;
  call.inputs = {cast<T>({1, 0}), cast<T>({0, 2})};
  call.per_input = {{{"weight", 1.0}}, {{"weight", 1.0}}};
  const double s = std::sqrt(0.5);
  expect_near_all(call.run(method("nuslerp")), {s, 2 * s});
}

TYPED_TEST(Nuslerp, WeightsGiveTheSecondModelsShare) {
  using T = TypeParam;
  const Vec v0 = {3, 4, -1, 0.5}, v1 = {4, 1, 2, -2};
  MergeCall<T> call;
  call.inputs = {cast<T>(v0), cast<T>(v1)};
  call.per_input = {{{"weight", 0.3}}, {{"weight", 0.7}}};
  expect_near_all(call.run(method("nuslerp")), reference_pair(v0, v1, 0.7), 4);
  // Weights summing to (about) zero: t = 1/2.
  call.per_input = {{{"weight", 1.0}}, {{"weight", -1.0}}};
  expect_near_all(call.run(method("nuslerp")), reference_pair(v0, v1, 0.5), 4);
}

TYPED_TEST(Nuslerp, WithABaseInterpolatesTaskVectors) {
  using T = TypeParam;
  const Vec base = {0.5, -1, 2, 0.25}, d0 = {1, 0.5, -1, 2}, d1 = {-0.5, 1, 1, 1};
  MergeCall<T> call;
  // The base may sit anywhere among the inputs; the non-base order decides t.
  call.inputs = {cast<T>(add(base, d0)), cast<T>(base), cast<T>(add(base, d1))};
  call.base = 1;
  call.per_input = {{{"weight", 1.0}}, {}, {{"weight", 3.0}}};
  expect_near_all(call.run(method("nuslerp")), add(base, reference_pair(d0, d1, 0.75)), 4);
}

TYPED_TEST(Nuslerp, RowsWhenNotFlattened) {
  using T = TypeParam;
  // [2, 3]: row 0 orthogonal (theta = pi / 2), row 1 parallel (linear).
  const Vec v0 = {1, 0, 0, 1, 2, 3}, v1 = {0, 0, 2, 2, 4, 6};
  MergeCall<T> call;
  call.shape = {2, 3};
  call.inputs = {cast<T>(v0), cast<T>(v1)};
  call.per_input = {{{"weight", 0.5}}, {{"weight", 0.5}}};
  call.global = {{"nuslerp_flatten", 0.0}};
  const double s = std::sqrt(0.5);
  expect_near_all(call.run(method("nuslerp")), {s, 0, 2 * s, 1.5, 3, 4.5});
  // The general case against the reference, with a zero row (cosine 0: theta = pi / 2).
  const Vec a = {3, -1, 2, 0, 0, 0}, b = {1, 1, 1, -2, 0.5, 1};
  call.inputs = {cast<T>(a), cast<T>(b)};
  call.per_input = {{{"weight", 0.2}}, {{"weight", 0.6}}};
  expect_near_all(call.run(method("nuslerp")), reference_2d(a, b, 0.75, 2, 3, false), 4);
}

TYPED_TEST(Nuslerp, ColumnsWhenRowWise) {
  using T = TypeParam;
  // [3, 2]: column 0 is (1, 0, 0) and (0, 1, 0), orthogonal; column 1 antiparallel (linear).
  const Vec v0 = {1, 1, 0, 2, 0, 3}, v1 = {0, -2, 1, -4, 0, -6};
  MergeCall<T> call;
  call.shape = {3, 2};
  call.inputs = {cast<T>(v0), cast<T>(v1)};
  call.per_input = {{{"weight", 1.0}}, {{"weight", 1.0}}};
  call.global = {{"nuslerp_flatten", 0.0}, {"nuslerp_row_wise", 1.0}};
  const double s = std::sqrt(0.5);
  expect_near_all(call.run(method("nuslerp")), {s, -0.5, s, -1, 0, -1.5});
  const Vec a = {3, -1, 2, 0.5, 1, 1}, b = {1, 1, 1, -2, 0.5, 4};
  call.inputs = {cast<T>(a), cast<T>(b)};
  call.per_input = {{{"weight", 1.0}}, {{"weight", 2.0}}};
  expect_near_all(call.run(method("nuslerp")), reference_2d(a, b, 2.0 / 3, 3, 2, true), 4);
}

TYPED_TEST(Nuslerp, ThreeDimensionalTensors) {
  using T = TypeParam;
  // [2, 2, 2]: rows are the 4 runs along the last dimension; row-wise vectors are along dimension
  // 0, one per (j, k): elements {jk, 4 + jk}.
  const Vec a = {1, 2, -1, 0.5, 3, -2, 1, 1}, b = {2, -1, 1, 1, 0.5, 0.5, -3, 2};
  MergeCall<T> call;
  call.shape = {2, 2, 2};
  call.inputs = {cast<T>(a), cast<T>(b)};
  call.per_input = {{{"weight", 1.0}}, {{"weight", 1.0}}};
  call.global = {{"nuslerp_flatten", 0.0}};
  expect_near_all(call.run(method("nuslerp")), reference_2d(a, b, 0.5, 4, 2, false), 4);
  call.global = {{"nuslerp_flatten", 0.0}, {"nuslerp_row_wise", 1.0}};
  expect_near_all(call.run(method("nuslerp")), reference_2d(a, b, 0.5, 2, 4, true), 4);
}

TYPED_TEST(Nuslerp, FlattenWinsOverRowWise) {
  using T = TypeParam;
  const Vec a = {3, -1, 2, 0.5, 1, 1}, b = {1, 1, 1, -2, 0.5, 4};
  MergeCall<T> call;
  call.shape = {3, 2};
  call.inputs = {cast<T>(a), cast<T>(b)};
  call.per_input = {{{"weight", 1.0}}, {{"weight", 2.0}}};
  call.global = {{"nuslerp_flatten", 1.0}, {"nuslerp_row_wise", 1.0}};
  expect_near_all(call.run(method("nuslerp")), reference_pair(a, b, 2.0 / 3), 4);
}

TYPED_TEST(Nuslerp, ASingleInputPassesThrough) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1.5, -2})};
  call.per_input = {{{"weight", 0.5}}};
  EXPECT_EQ(call.run(method("nuslerp")), call.inputs[0]);
}

}  // namespace
}  // namespace mf
