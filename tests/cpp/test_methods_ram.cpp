// ram against hand-worked numbers (binary-exact deltas, so the threshold comparisons are exact).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

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
class Ram : public ::testing::Test {};
TYPED_TEST_SUITE(Ram, merge_test::ComputeTypes);

TEST(RamInfo, MatchesMergeKit) {
  const MethodInfo& info = method("ram").info();
  EXPECT_EQ(info.paper_url, "https://arxiv.org/abs/2601.13572");
  EXPECT_EQ(info.base, BaseRole::Required);
  EXPECT_EQ(info.min_models, 0);
  EXPECT_EQ(info.max_models, -1);
  EXPECT_EQ(info.partial, PartialInputs::MergePresent);
  ASSERT_EQ(info.params.size(), 1u);
  expect_param(info, "epsilon", ParamType::Float, ParamScope::Global, 1e-5);
}

const std::vector<double> kBase = {1, -1, 0.5, 2, 0, 3};

// epsilon 0.125; a delta of exactly 0.125 is not active (strictly greater).
template <class T>
MergeCall<T> three_models() {
  MergeCall<T> call;
  call.inputs = {cast<T>(kBase), plus<T>(kBase, {0.5, 0.0625, 0.25, 0, -0.25, 0.125}),
                 plus<T>(kBase, {0.25, 0.5, -0.25, 0.125, 0, 0}),
                 plus<T>(kBase, {0, 0, 0.75, 0, 0, -0.5})};
  call.base = 0;
  call.global = {{"epsilon", 0.125}};
  return call;
}

TYPED_TEST(Ram, UniqueDeltasWholeSharedOnesAveraged) {
  using T = TypeParam;
  // e0: d1, d2 active -> (0.5 + 0.25) / 2; e1: only d2 (0.0625 is below) -> 0.5;
  // e2: all three -> (0.25 - 0.25 + 0.75) / 3; e3: none (0.125 is not above) -> 0;
  // e4: only d1 -> -0.25; e5: only d3 (d1's 0.125 is not above) -> -0.5.
  const std::vector<double> mixed = {0.375, 0.5, 0.25, 0, -0.25, -0.5};
  std::vector<double> expected(6);
  for (int i = 0; i < 6; ++i) expected[i] = kBase[i] + mixed[i];
  expect_near_all(three_models<T>().run(method("ram")), expected);
}

TYPED_TEST(Ram, DefaultEpsilonCountsSmallDeltas) {
  using T = TypeParam;
  MergeCall<T> call = three_models<T>();
  call.global = {};
  // epsilon 1e-5: every nonzero delta is active. e1: (0.0625 + 0.5) / 2; e3: 0.125 alone;
  // e5: (0.125 - 0.5) / 2.
  const std::vector<double> mixed = {0.375, 0.28125, 0.25, 0.125, -0.25, -0.1875};
  std::vector<double> expected(6);
  for (int i = 0; i < 6; ++i) expected[i] = kBase[i] + mixed[i];
  expect_near_all(call.run(method("ram")), expected);
}

TYPED_TEST(Ram, BaseLastAndBaseAlone) {
  using T = TypeParam;
  MergeCall<T> call = three_models<T>();
  std::rotate(call.inputs.begin(), call.inputs.begin() + 1, call.inputs.end());
  call.base = 3;
  const std::vector<double> mixed = {0.375, 0.5, 0.25, 0, -0.25, -0.5};
  std::vector<double> expected(6);
  for (int i = 0; i < 6; ++i) expected[i] = kBase[i] + mixed[i];
  expect_near_all(call.run(method("ram")), expected);
  MergeCall<T> alone;
  alone.inputs = {cast<T>(kBase)};
  alone.base = 0;
  EXPECT_EQ(alone.run(method("ram")), alone.inputs[0]);
}

TEST(RamCheck, EpsilonMustBeANumberNotBelowZero) {
  MergeCall<float> call = three_models<float>();
  for (double bad : {-1e-5, std::nan("")}) {
    call.global = {{"epsilon", bad}};
    EXPECT_THROW(call.check(method("ram")), Error) << bad;
  }
  for (double ok : {0.0, 1e-5, 2.0}) {
    call.global = {{"epsilon", ok}};
    EXPECT_NO_THROW(call.check(method("ram"))) << ok;
  }
}

}  // namespace
}  // namespace mf
