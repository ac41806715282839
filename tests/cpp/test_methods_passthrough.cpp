#include <gtest/gtest.h>

#include "core/error.hpp"
#include "test_methods_support.hpp"

namespace mf {
namespace {

using merge_test::cast;
using merge_test::MergeCall;
using merge_test::method;

template <class T>
class Passthrough : public ::testing::Test {};
TYPED_TEST_SUITE(Passthrough, merge_test::ComputeTypes);

TYPED_TEST(Passthrough, CopiesOrScalesTheOnlyInput) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({1.5, -0.0, 3.25})};
  EXPECT_EQ(call.run(method("passthrough")), call.inputs[0]);
  call.per_input = {{{"scale", -2}}};
  EXPECT_EQ(call.run(method("passthrough")), cast<T>({-3, 0, -6.5}));
}

TEST(PassthroughCheck, MoreThanOneInputIsARecipeError) {
  MergeCall<float> call;
  call.inputs = {{1}, {2}};
  try {
    call.check(method("passthrough"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidConfig);
  }
  call.inputs = {{1}};
  EXPECT_NO_THROW(call.check(method("passthrough")));
  EXPECT_EQ(method("passthrough").info().max_models, 1);
}

}  // namespace
}  // namespace mf
