#include <gtest/gtest.h>

#include <cmath>

#include "test_methods_support.hpp"

namespace mf {
namespace {

using merge_test::cast;
using merge_test::expect_near_all;
using merge_test::MergeCall;
using merge_test::method;

template <class T>
class Slerp : public ::testing::Test {};
TYPED_TEST_SUITE(Slerp, merge_test::ComputeTypes);

// The textbook formula on the normalized angle, applied to the original vectors.
std::vector<double> reference_slerp(const std::vector<double>& v0, const std::vector<double>& v1,
                                    double t) {
  double n0 = 0, n1 = 0, dot = 0;
  for (size_t i = 0; i < v0.size(); ++i) {
    n0 += v0[i] * v0[i];
    n1 += v1[i] * v1[i];
    dot += v0[i] * v1[i];
  }
  const double cosine = dot / std::sqrt(n0 * n1);
  const double theta = std::acos(cosine);
  std::vector<double> r(v0.size());
  for (size_t i = 0; i < v0.size(); ++i)
    r[i] = (std::sin((1 - t) * theta) * v0[i] + std::sin(t * theta) * v1[i]) / std::sin(theta);
  return r;
}

TYPED_TEST(Slerp, OrthogonalVectorsAtHalfway) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1, 0}), cast<T>({0, 2})};
  call.base = 0;
  call.global = {{"t", 0.5}};
  // theta = pi/2: both coefficients sin(pi/4) / 1; the norm 2 of the second vector is kept.
  const double s = std::sqrt(0.5);
  expect_near_all(call.run(method("slerp")), {s, 2 * s});
}

TYPED_TEST(Slerp, GeneralAngleMatchesTheFormula) {
  using T = TypeParam;
  const std::vector<double> v0 = {3, 4, -1, 0.5}, v1 = {4, 1, 2, -2};
  MergeCall<T> call;
  call.inputs = {cast<T>(v0), cast<T>(v1)};
  call.base = 0;
  call.global = {{"t", 0.3}};
  expect_near_all(call.run(method("slerp")), reference_slerp(v0, v1, 0.3), 4);
  // The base may come second among the inputs: t still runs from the base.
  call.inputs = {cast<T>(v1), cast<T>(v0)};
  call.base = 1;
  expect_near_all(call.run(method("slerp")), reference_slerp(v0, v1, 0.3), 4);
}

TYPED_TEST(Slerp, EndpointsAreTheInputs) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({0.3, -0.7, 1.1}), cast<T>({0.9, 0.2, -0.4})};
  call.base = 0;
  call.global = {{"t", 0.0}};
  EXPECT_EQ(call.run(method("slerp")), call.inputs[0]);
  call.global = {{"t", 1.0}};
  expect_near_all(call.run(method("slerp")), {0.9, 0.2, -0.4}, 4);
}

TYPED_TEST(Slerp, NearlyParallelVectorsInterpolateLinearly) {
  using T = TypeParam;
  // cos = 0.99999... > 0.9995: (1-t) v0 + t v1.
  MergeCall<T> call;
  call.inputs = {cast<T>({1, 1}), cast<T>({2, 2.01})};
  call.base = 0;
  call.global = {{"t", 0.25}};
  expect_near_all(call.run(method("slerp")), {0.75 + 0.5, 0.75 + 0.25 * 2.01});
  // Antiparallel too (|cos| = 1).
  call.inputs = {cast<T>({1, -2}), cast<T>({-3, 6})};
  expect_near_all(call.run(method("slerp")), {0.75 - 0.75, -1.5 + 1.5});
}

TYPED_TEST(Slerp, ZeroBaseIsNotNormalized) {
  using T = TypeParam;
  // The zero vector keeps norm 1 in the division, so the cosine is 0 and theta = pi/2.
  MergeCall<T> call;
  call.inputs = {cast<T>({0, 0, 0}), cast<T>({1, -2, 2})};
  call.base = 0;
  call.global = {{"t", 0.5}};
  const double s = std::sin(M_PI / 4);
  expect_near_all(call.run(method("slerp")), {s, -2 * s, 2 * s});
}

TYPED_TEST(Slerp, ASingleInputPassesThrough) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1.5, -2})};
  call.base = -1;
  call.global = {{"t", 0.5}};
  EXPECT_EQ(call.run(method("slerp")), call.inputs[0]);
}

}  // namespace
}  // namespace mf
