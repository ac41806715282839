// The TIES sign vote of a float merge is MergeKit's float32 one: get_mask's
// (weights * deltas).sum(dim=0) >= 0 with each product and the sum rounded to float32. The numbers
// are bf16-quantized deltas -2^-12 and 1.5 * 2^-12 (-2.44e-4, 3.66e-4) with weights 0.6 and 0.4:
// in decimal the vote is exactly 0; in float32 it is exactly 0 too (0.4f * 1.5 * 2^-12 rounds to
// 0.6f * 2^-12), so MergeKit elects + and keeps only the second delta; summed in double from the
// float weights it is -1.5e-8 * 2^-12 and would elect -. MergeKit 0.1.5's result, from Python:
//   d = torch.tensor([[-2**-12], [1.5 * 2**-12]]); w = torch.tensor([0.6, 0.4]).unsqueeze(-1)
//   wd = d * w; m = get_mask(wd, "sum", torch.float32)  # [[False], [True]]
//   1 + (wd * m).sum(0) / (w * m).sum(0)                # 1.0003662109375 (= 1 + 1.5 * 2^-12)
#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <vector>

#include "kernels/task_vector_combine.hpp"
#include "test_methods_support.hpp"

namespace mf {
namespace {

constexpr float kFirst = -0.000244140625f;    // -2^-12
constexpr float kSecond = 0.0003662109375f;   // 1.5 * 2^-12
constexpr float kElected = 1.0003662109375f;  // base 1 + kSecond (normalized by its weight)

class TaskVectorCombineVote : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(TaskVectorCombineVote);

CombineParams vote_params(bool normalize) {
  CombineParams p;
  p.vote = true;
  p.normalize = normalize;
  p.weights = {double(0.6f), double(0.4f)};  // float merges hold their weights as floats
  p.weight_sum = p.weights[0] + p.weights[1];
  return p;
}

// Every Highway target (whole vectors and the scalar tail) and the scalar reference.
TEST_P(TaskVectorCombineVote, ExactZeroFloatVoteElectsPositiveAsMergeKit) {
  for (bool normalize : {true, false}) {
    const CombineParams p = vote_params(normalize);
    // normalize: (0.4f * d2) / 0.4f = d2 exactly; otherwise 0.4f * d2 added to 1 and rounded.
    const float expected = normalize ? kElected : float(1.0 + double(0.4f) * double(kSecond));
    for (size_t n : {1u, 7u, 8u, 16u, 37u}) {
      std::vector<float> base(n, 1.0f), first(n, kFirst), second(n, kSecond), result(n);
      const float* deltas[] = {first.data(), second.data()};
      combine_task_vectors(p, n, base.data(), deltas, result.data());
      for (size_t e = 0; e < n; ++e) {
        EXPECT_EQ(result[e], expected) << "element " << e << " of " << n;
        EXPECT_EQ(combine_element(p, e, base.data(), deltas), expected);
      }
      // Model order does not change an exact zero: still +, still the positive delta alone.
      const float* swapped[] = {second.data(), first.data()};
      CombineParams q = p;
      std::swap(q.weights[0], q.weights[1]);
      combine_task_vectors(q, n, base.data(), swapped, result.data());
      for (size_t e = 0; e < n; ++e) {
        EXPECT_EQ(result[e], expected) << "swapped, element " << e << " of " << n;
        EXPECT_EQ(combine_element(q, e, base.data(), swapped), expected);
      }
    }
  }
}

// The float sum is sequential in model order, as torch's sum over the models: 2^25 - 1 rounds
// (to even) to 2^25 in float and the vote is 0, +; in double it is -1, -.
TEST_P(TaskVectorCombineVote, FloatVoteSumsInModelOrder) {
  CombineParams p;
  p.vote = true;
  p.normalize = false;
  p.weights = {1, 1, 1};
  p.weight_sum = 3;
  const size_t n = 19;
  std::vector<float> base(n, 0.0f), a(n, 33554432.0f), b(n, -1.0f), c(n, -33554432.0f), result(n);
  const float* deltas[] = {a.data(), b.data(), c.data()};
  combine_task_vectors(p, n, base.data(), deltas, result.data());
  // + elected: only 2^25 agrees.
  for (size_t e = 0; e < n; ++e) {
    EXPECT_EQ(result[e], 33554432.0f) << "element " << e;
    EXPECT_EQ(combine_element(p, e, base.data(), deltas), 33554432.0f);
  }
}

// Through the ties method, float and double: a float32 merge elects + as MergeKit's float32
// run does; a float64 merge sums the double products (0.6 and 0.4 are not floats there), which
// are +2.7e-20 and elect + as MergeKit's float64 run does.
template <class T>
class TiesVote : public ::testing::Test {};
TYPED_TEST_SUITE(TiesVote, merge_test::ComputeTypes);

TYPED_TEST(TiesVote, ZeroDecimalVoteElectsPositive) {
  using T = TypeParam;
  merge_test::MergeCall<T> call;
  const size_t n = 21;
  call.inputs = {std::vector<T>(n, T(1)), std::vector<T>(n, T(1 + double(kFirst))),
                 std::vector<T>(n, T(1 + double(kSecond)))};
  call.base = 0;
  call.per_input = {{}, {{"weight", 0.6}}, {{"weight", 0.4}}};
  EXPECT_EQ(call.run(merge_test::method("ties")), std::vector<T>(n, T(kElected)));
}

}  // namespace
}  // namespace mf
