// The deterministic members of the generalized task-arithmetic family, against hand-worked numbers.
#include <gtest/gtest.h>

#include <cmath>

#include "test_methods_support.hpp"

namespace mf {
namespace {

using merge_test::cast;
using merge_test::expect_near_all;
using merge_test::MergeCall;
using merge_test::method;
using merge_test::plus;

template <class T>
class TaskArithmetic : public ::testing::Test {};
TYPED_TEST_SUITE(TaskArithmetic, merge_test::ComputeTypes);

template <class T>
MergeCall<T> two_models() {
  // d1 = [1, 0, -1, -2], d2 = [-1, 2, 0, 1]
  MergeCall<T> call;
  const std::vector<double> b = {1, 2, 3, 4};
  call.inputs = {cast<T>(b), plus<T>(b, {1, 0, -1, -2}), plus<T>(b, {-1, 2, 0, 1})};
  call.base = 0;
  call.per_input = {{}, {{"weight", 0.5}}, {{"weight", 1.0}}};
  return call;
}

TYPED_TEST(TaskArithmetic, AddsTheScaledWeightedTaskVectors) {
  using T = TypeParam;
  MergeCall<T> call = two_models<T>();
  call.global = {{"lambda", 2}};
  // 0.5 d1 + d2 = [-0.5, 2, -0.5, 0]; times 2, plus b.
  expect_near_all(call.run(method("task_arithmetic")), {0, 6, 2, 4});
  // normalize divides by 0.5 + 1 first.
  call.global = {{"lambda", 2}, {"normalize", 1}};
  expect_near_all(call.run(method("task_arithmetic")),
                  {1 - 1 / 1.5 * 1, 2 + 4 / 1.5, 3 - 1 / 1.5, 4});
}

TYPED_TEST(TaskArithmetic, IgnoresDensityAndTheBaseWeight) {
  using T = TypeParam;
  MergeCall<T> call = two_models<T>();
  call.per_input = {{{"weight", 100}}, {{"weight", 0.5}, {"density", 0.1}}, {{"weight", 1.0}}};
  expect_near_all(call.run(method("task_arithmetic")), {0.5, 4, 2.5, 4});
}

TYPED_TEST(TaskArithmetic, BaseAloneIsTheResult) {
  using T = TypeParam;
  for (const char* name : {"task_arithmetic", "ties", "dare_ties", "breadcrumbs", "della"}) {
    MergeCall<T> call;
    call.inputs = {cast<T>({0.5, -3})};
    call.base = 0;
    EXPECT_EQ(call.run(method(name)), call.inputs[0]) << name;
  }
}

TYPED_TEST(TaskArithmetic, NearZeroWeightSumIsNotDividedBy) {
  using T = TypeParam;
  MergeCall<T> call = two_models<T>();
  call.per_input = {{}, {{"weight", 1}}, {{"weight", -1}}};
  call.global = {{"normalize", 1}};
  // d1 - d2 = [2, -2, -1, -3], divisor 0 replaced by 1.
  expect_near_all(call.run(method("task_arithmetic")), {3, 0, 2, 1});
}

// Three models, six elements, density 0.5 (k = 3 per model), weights 1, 4, 0.5.
template <class T>
MergeCall<T> ties_case() {
  const std::vector<double> b = {0.5, -1, 2, 0, 1, -0.25};
  MergeCall<T> call;
  call.inputs = {cast<T>(b), plus<T>(b, {0.5, -0.2, 0.1, 0.9, -0.4, 0.0}),
                 plus<T>(b, {-0.3, 0.6, -0.7, 0.2, 0.1, 0.05}),
                 plus<T>(b, {0.8, -0.1, -0.2, 0.6, 0.3, -0.5})};
  call.base = 0;
  call.per_input = {{},
                    {{"weight", 1}, {"density", 0.5}},
                    {{"weight", 4}, {"density", 0.5}},
                    {{"weight", 0.5}, {"density", 0.5}}};
  return call;
}

TYPED_TEST(TaskArithmetic, TiesTrimsElectsAndAverages) {
  using T = TypeParam;
  // Trimmed (3 largest |d| each):  d1 = [0.5, 0, 0, 0.9, -0.4, 0]
  //                                d2 = [-0.3, 0.6, -0.7, 0, 0, 0]
  //                                d3 = [0.8, 0, 0, 0.6, 0, -0.5]
  // Weighted: wd1 = [0.5, 0, 0, 0.9, -0.4, 0], wd2 = [-1.2, 2.4, -2.8, 0, 0, 0],
  //           wd3 = [0.4, 0, 0, 0.3, 0, -0.25]
  // Votes: [-0.3, 2.4, -2.8, 1.2, -0.4, -0.25] -> signs - + - + - -
  //   e0: only wd2 agrees (the unweighted vote would have been +): -1.2 / 4
  //   e3: wd1 and wd3 agree: 1.2 / 1.5
  const std::vector<double> b = {0.5, -1, 2, 0, 1, -0.25};
  const std::vector<double> mixed = {-1.2 / 4, 2.4 / 4, -2.8 / 4, 1.2 / 1.5, -0.4 / 1, -0.25 / 0.5};
  MergeCall<T> call = ties_case<T>();
  std::vector<double> expected(6);
  for (int i = 0; i < 6; ++i) expected[i] = b[i] + mixed[i];
  expect_near_all(call.run(method("ties")), expected);

  // Without normalize, scaled by lambda.
  call.global = {{"normalize", 0}, {"lambda", 0.5}};
  const std::vector<double> summed = {-1.2, 2.4, -2.8, 1.2, -0.4, -0.25};
  for (int i = 0; i < 6; ++i) expected[i] = b[i] + 0.5 * summed[i];
  expect_near_all(call.run(method("ties")), expected);
}

TYPED_TEST(TaskArithmetic, TiesVoteZeroSumGoesPositiveAndZerosNeverCount) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1, 1}), cast<T>({1.5, 1}), cast<T>({0.5, 1})};
  call.base = 0;
  call.per_input = {{}, {{"weight", 1}}, {{"weight", 1}}};
  // e0: +0.5 and -0.5 vote 0 -> positive, only +0.5 counts (divisor 1). e1: all zero -> the base.
  expect_near_all(call.run(method("ties")), {1.5, 1});
}

TYPED_TEST(TaskArithmetic, TiesCutInsideATieKeepsTheLowestIndices) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({0, 0, 0, 0}), cast<T>({0.5, -0.5, 0.5, 0.25})};
  call.base = 0;
  call.per_input = {{}, {{"weight", 1}, {"density", 0.5}}};
  // k = 2 of three equal magnitudes: indices 0 and 1.
  expect_near_all(call.run(method("ties")), {0.5, -0.5, 0, 0});
  // density 0.01: k = max(1, int(0.04)) = 1.
  call.per_input = {{}, {{"weight", 1}, {"density", 0.01}}};
  expect_near_all(call.run(method("ties")), {0.5, 0, 0, 0});
  // density <= 0: nothing kept.
  call.per_input = {{}, {{"weight", 1}, {"density", 0}}};
  expect_near_all(call.run(method("ties")), {0, 0, 0, 0});
}

TYPED_TEST(TaskArithmetic, TiesRescaleKeepsTheL1Norm) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({0, 0, 0, 0}), cast<T>({1, -2, 3, -4})};
  call.base = 0;
  call.per_input = {{}, {{"weight", 1}, {"density", 0.5}}};
  call.global = {{"rescale", 1}};
  // Kept [0, 0, 3, -4] (L1 7) scaled to L1 10.
  expect_near_all(call.run(method("ties")), {0, 0, 30.0 / 7, -40.0 / 7});
}

TYPED_TEST(TaskArithmetic, BreadcrumbsDropsSmallAndOutliers) {
  using T = TypeParam;
  const std::vector<double> d = {0.1, -0.9, 0.3, 0.05, -0.6, 0.7, 0.2, -0.4, 1.0, 0.5};
  const std::vector<double> b(10, 1.0);
  MergeCall<T> call;
  call.inputs = {cast<T>(b), plus<T>(b, d)};
  call.base = 0;
  // target = 5, n_top = 2, n_bot = 3: ascending ranks 3..7 are 0.3, 0.4, 0.5, 0.6, 0.7.
  call.per_input = {{}, {{"weight", 1}, {"density", 0.5}, {"gamma", 0.2}}};
  expect_near_all(call.run(method("breadcrumbs")), {1, 1, 1.3, 1, 0.4, 1.7, 1, 0.6, 1, 1.5});
  // Default gamma 0.01: n_top = int(0.1) = 0, so the band is the top 5.
  call.per_input = {{}, {{"weight", 1}, {"density", 0.5}}};
  expect_near_all(call.run(method("breadcrumbs")), {1, 0.1, 1, 1, 0.4, 1.7, 1, 1, 2, 1.5});
  // density >= 1: unchanged, gamma ignored.
  call.per_input = {{}, {{"weight", 1}, {"density", 1}, {"gamma", 0.5}}};
  std::vector<double> all(10);
  for (int i = 0; i < 10; ++i) all[i] = 1 + d[i];
  expect_near_all(call.run(method("breadcrumbs")), all);
  // target + n_top > n: fewer outliers dropped (n_bot = max(0, 10 - 8 - 3) = 0): the 8 smallest.
  call.per_input = {{}, {{"weight", 1}, {"density", 0.8}, {"gamma", 0.3}}};
  expect_near_all(call.run(method("breadcrumbs")), {1.1, 1, 1.3, 1.05, 0.4, 1.7, 1.2, 0.6, 1, 1.5});
}

TYPED_TEST(TaskArithmetic, BreadcrumbsTiesVotesOnTheBands) {
  using T = TypeParam;
  // Two models, 4 elements, density 0.5, gamma 0.25: target 2, n_top 1, n_bot 1 -> ascending ranks
  // 1, 2.
  MergeCall<T> call;
  call.inputs = {cast<T>({0, 0, 0, 0}), cast<T>({0.1, 0.2, -0.3, 0.4}),
                 cast<T>({-0.4, -0.3, 0.1, 0.2})};
  call.base = 0;
  call.per_input = {{},
                    {{"weight", 1}, {"density", 0.5}, {"gamma", 0.25}},
                    {{"weight", 1}, {"density", 0.5}, {"gamma", 0.25}}};
  // Bands: d1 -> [0, 0.2, -0.3, 0], d2 -> [0, -0.3, 0, 0.2]. Votes: [0, -0.1, -0.3, 0.2].
  // e1: negative -> -0.3; e2: -0.3; e3: +0.2. normalize defaults to false.
  expect_near_all(call.run(method("breadcrumbs_ties")), {0, -0.3, -0.3, 0.2});
}

}  // namespace
}  // namespace mf
