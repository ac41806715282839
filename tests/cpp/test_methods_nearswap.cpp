#include <gtest/gtest.h>

#include "test_methods_support.hpp"

namespace mf {
namespace {

using merge_test::cast;
using merge_test::expect_near_all;
using merge_test::expect_param;
using merge_test::MergeCall;
using merge_test::method;

template <class T>
class Nearswap : public ::testing::Test {};
TYPED_TEST_SUITE(Nearswap, merge_test::ComputeTypes);

TEST(NearswapInfo, MatchesMergeKitsContract) {
  const MethodInfo& info = method("nearswap").info();
  EXPECT_EQ(info.base, BaseRole::Required);
  EXPECT_EQ(info.min_models, 1);
  EXPECT_EQ(info.max_models, 1);
  EXPECT_EQ(info.partial, PartialInputs::PassBaseOnly);
  EXPECT_EQ(info.paper_url, "https://huggingface.co/alchemonaut/QuartetAnemoi-70B-t0.0001");
  expect_param(info, "t", ParamType::Float, ParamScope::Global, std::nullopt);
}

TYPED_TEST(Nearswap, TakesNearValuesAndRampsTowardTheBase) {
  using T = TypeParam;
  // t = 0.01. |base - x| per element: 0.001 and 0.01 (w = 1: x), 0.1 (w = 0.1), 0 (clamped to
  // 1e-6: w = 1, x = base anyway), 0.5 (w = 0.02).
  MergeCall<T> call;
  call.inputs = {cast<T>({0, 0, 0, 1, -1}), cast<T>({0.001, 0.01, -0.1, 1, -0.5})};
  call.base = 0;
  call.global = {{"t", 0.01}};
  const std::vector<double> expected = {0.001, 0.01, 0.1 * -0.1, 1, 0.02 * -0.5 + 0.98 * -1};
  expect_near_all(call.run(method("nearswap")), expected);
  // The base may come second.
  call.inputs = {call.inputs[1], call.inputs[0]};
  call.base = 1;
  expect_near_all(call.run(method("nearswap")), expected);
}

TYPED_TEST(Nearswap, ZeroOrNegativeTKeepsTheBase) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({0.5, -1, 2}), cast<T>({0.6, -1, 1})};
  call.base = 0;
  call.global = {{"t", 0.0}};
  EXPECT_EQ(call.run(method("nearswap")), call.inputs[0]);
  call.global = {{"t", -0.5}};
  EXPECT_EQ(call.run(method("nearswap")), call.inputs[0]);
  // A large t takes the other model everywhere.
  call.global = {{"t", 10.0}};
  expect_near_all(call.run(method("nearswap")), {0.6, -1, 1});
}

TYPED_TEST(Nearswap, TheBaseAlonePassesThrough) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1.5, -2})};
  call.global = {{"t", 0.1}};
  EXPECT_EQ(call.run(method("nearswap")), call.inputs[0]);
}

}  // namespace
}  // namespace mf
