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
class Karcher : public ::testing::Test {};
TYPED_TEST_SUITE(Karcher, merge_test::ComputeTypes);

using Vec = std::vector<double>;
using LVec = std::vector<long double>;

long double dot(const LVec& a, const LVec& b) {
  long double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// The iteration on whole vectors in long double: unit vectors of the inputs with norm > tol, the
// normalized mean as the start, tangent steps until |T| < tol or max_iter, the mean norm of all
// inputs as the scale.
Vec reference(const std::vector<Vec>& xs, int max_iter = 10, double tol = 1e-5) {
  const size_t n = xs[0].size();
  std::vector<LVec> units;
  long double scale = 0;
  for (const Vec& x : xs) {
    LVec v(x.begin(), x.end());
    const long double norm = std::sqrt(dot(v, v));
    scale += norm / xs.size();
    if (norm <= tol) continue;
    for (auto& e : v) e /= norm;
    units.push_back(v);
  }
  if (units.empty()) return Vec(n, 0.0);
  const long double alpha = 1.0L / units.size();
  LVec mean(n, 0);
  for (const LVec& u : units)
    for (size_t e = 0; e < n; ++e) mean[e] += alpha * u[e];
  long double norm = std::sqrt(dot(mean, mean));
  if (norm < tol)
    mean = units[0];
  else
    for (auto& e : mean) e /= norm;
  for (int iter = 0; iter < max_iter; ++iter) {
    LVec tangent(n, 0);
    for (const LVec& u : units) {
      const long double c = std::clamp(dot(mean, u), -1.0L, 1.0L);
      const long double theta = std::acos(c);
      if (theta < tol) continue;
      for (size_t e = 0; e < n; ++e)
        tangent[e] += alpha * theta / std::sin(theta) * (u[e] - c * mean[e]);
    }
    const long double tn = std::sqrt(dot(tangent, tangent));
    if (tn < tol) break;
    for (size_t e = 0; e < n; ++e)
      mean[e] = std::cos(tn) * mean[e] + std::sin(tn) * tangent[e] / tn;
    norm = std::sqrt(dot(mean, mean));
    if (norm > tol)
      for (auto& e : mean) e /= norm;
  }
  Vec r(n);
  for (size_t e = 0; e < n; ++e) r[e] = double(scale * mean[e]);
  return r;
}

TEST(KarcherInfo, MatchesMergeKitsContract) {
  const MethodInfo& info = method("karcher").info();
  EXPECT_EQ(info.base, BaseRole::Input);
  EXPECT_EQ(info.min_models, 1);
  EXPECT_EQ(info.max_models, -1);
  EXPECT_EQ(info.partial, PartialInputs::MergePresent);
  expect_param(info, "max_iter", ParamType::Int, ParamScope::Global, 10.0);
  expect_param(info, "tol", ParamType::Float, ParamScope::Global, 1e-5);
}

TYPED_TEST(Karcher, TwoOrthogonalInputsMeetHalfway) {
  using T = TypeParam;
  // Directions (1, 0) and (0, 1): the geodesic midpoint (1, 1) / sqrt 2, times the mean norm 3.5.
  MergeCall<T> call;
  call.inputs = {cast<T>({3, 0}), cast<T>({0, 4})};
  const double r = 3.5 / std::sqrt(2.0);
  expect_near_all(call.run(method("karcher")), {r, r});
}

TYPED_TEST(Karcher, ThreeInputsConvergeToTheReference) {
  using T = TypeParam;
  const std::vector<Vec> xs = {{1, 0, 0.5, 2}, {0.2, 1, 0, 1}, {-0.5, 0.3, 1, 0.8}};
  MergeCall<T> call;
  call.inputs = {cast<T>(xs[0]), cast<T>(xs[1]), cast<T>(xs[2])};
  call.global = {{"max_iter", 50.0}, {"tol", 1e-12}};
  expect_near_all(call.run(method("karcher")), reference(xs, 50, 1e-12), 10);
  // The result is not the normalized sum: a single step from it moves it.
  call.global = {{"max_iter", 0.0}};
  const Vec start = reference(xs, 0);
  expect_near_all(call.run(method("karcher")), start, 10);
  call.global = {{"max_iter", 1.0}};
  const Vec one_step = reference(xs, 1);
  expect_near_all(call.run(method("karcher")), one_step, 10);
  EXPECT_GT(std::abs(one_step[0] - start[0]), 1e-4);
}

TYPED_TEST(Karcher, FourInputsWithDefaults) {
  using T = TypeParam;
  const std::vector<Vec> xs = {{1, 2, 3}, {3, -1, 2}, {0.5, 0.5, -1}, {2, 2, 0}};
  MergeCall<T> call;
  for (const Vec& x : xs) call.inputs.push_back(cast<T>(x));
  expect_near_all(call.run(method("karcher")), reference(xs), 100);
}

TYPED_TEST(Karcher, ZeroInputsCountOnlyInTheScale) {
  using T = TypeParam;
  // The zero vector has no direction; the scale is still (3 + 4 + 0) / 3.
  MergeCall<T> call;
  call.inputs = {cast<T>({3, 0}), cast<T>({0, 4}), cast<T>({0, 0})};
  const double r = 7.0 / 3 / std::sqrt(2.0);
  expect_near_all(call.run(method("karcher")), {r, r});
  // Below tol counts as zero too.
  call.inputs[2] = cast<T>({1e-6, 0});
  const double s = (7.0 + 1e-6) / 3 / std::sqrt(2.0);
  expect_near_all(call.run(method("karcher")), {s, s});
  // Nothing usable: zeros.
  call.inputs = {cast<T>({0, 0}), cast<T>({0, 1e-6})};
  expect_near_all(call.run(method("karcher")), {0, 0});
}

TYPED_TEST(Karcher, OppositeInputsKeepTheFirstDirection) {
  using T = TypeParam;
  // x and -2x: the weighted sum of the directions vanishes, so the start is x's direction; -2x is
  // antipodal to it and adds no tangent. The result: the mean norm 1.5 |x| along x.
  MergeCall<T> call;
  call.inputs = {cast<T>({1, 2, -2}), cast<T>({-2, -4, 4})};
  expect_near_all(call.run(method("karcher")), {1.5, 3, -3});
}

TYPED_TEST(Karcher, ParallelInputsAverageTheirNorms) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1, 2, 2}), cast<T>({2, 4, 4}), cast<T>({3, 6, 6})};
  expect_near_all(call.run(method("karcher")), {2, 4, 4});
}

TYPED_TEST(Karcher, ASingleInputPassesThrough) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1.5, -2})};
  EXPECT_EQ(call.run(method("karcher")), call.inputs[0]);
}

}  // namespace
}  // namespace mf
