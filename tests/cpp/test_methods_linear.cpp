#include <gtest/gtest.h>

#include "core/error.hpp"
#include "test_methods_support.hpp"

namespace mf {
namespace {

using merge_test::cast;
using merge_test::expect_near_all;
using merge_test::MergeCall;
using merge_test::method;

template <class T>
class Linear : public ::testing::Test {};
TYPED_TEST_SUITE(Linear, merge_test::ComputeTypes);

TYPED_TEST(Linear, WeightedAverage) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1, 2, 3}), cast<T>({3, -2, 0.5})};
  call.per_input = {{{"weight", 1}}, {{"weight", 3}}};
  // (x0 + 3 x1) / 4
  expect_near_all(call.run(method("linear")), {2.5, -1.0, 1.125});
}

TYPED_TEST(Linear, WithoutNormalizeIsTheWeightedSum) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1, 2, 3}), cast<T>({3, -2, 0.5}), cast<T>({0.25, 0, -1})};
  call.per_input = {{{"weight", 1}}, {{"weight", 2}}, {{"weight", -4}}};
  call.global = {{"normalize", 0}};
  expect_near_all(call.run(method("linear")), {1 + 6 - 1, 2 - 4, 3 + 1 + 4});
}

TYPED_TEST(Linear, NonDyadicWeights) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({0.7, -1.3}), cast<T>({0.1, 2.9})};
  call.per_input = {{{"weight", 0.3}}, {{"weight", 0.6}}};
  expect_near_all(call.run(method("linear")),
                  {(0.3 * 0.7 + 0.6 * 0.1) / 0.9, (0.3 * -1.3 + 0.6 * 2.9) / 0.9});
}

TEST(LinearCheck, WeightsSummingToZeroAreARecipeError) {
  MergeCall<float> call;
  call.inputs = {{1}, {2}};
  call.per_input = {{{"weight", 1}}, {{"weight", -1}}};
  try {
    call.check(method("linear"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidConfig);
  }
  // Cancellation up to rounding is zero too.
  call.inputs = {{1}, {2}, {3}};
  call.per_input = {{{"weight", 0.1}}, {{"weight", 0.2}}, {{"weight", -0.3}}};
  EXPECT_THROW(call.check(method("linear")), Error);
  // Without normalize there is no division.
  call.global = {{"normalize", 0}};
  EXPECT_NO_THROW(call.check(method("linear")));
  call.global = {};
  call.per_input = {{{"weight", 0.1}}, {{"weight", 0.2}}, {{"weight", -0.2}}};
  EXPECT_NO_THROW(call.check(method("linear")));
}

}  // namespace
}  // namespace mf
