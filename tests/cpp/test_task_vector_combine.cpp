// The SIMD combine of generalized task arithmetic (src/kernels/task_vector_combine.cpp) must give
// the scalar reference's bits on every Highway target this CPU supports: with and without the
// sign vote and normalization, with zeros, vote ties, NaN and infinite deltas, zero and negative
// weights, and lengths that are not multiples of any vector width.
#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/task_vector_combine.hpp"

namespace mf {
namespace {

class TaskVectorCombineSimd : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(TaskVectorCombineSimd);

// Deltas of bf16-like fine-tunes, with exact zeros, equal and opposite pairs (vote ties), and a
// few non-finite values.
std::vector<float> deltas_for(size_t n, std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, 1e-2f);
  std::vector<float> d(n);
  for (size_t e = 0; e < n; ++e) {
    switch (rng() % 16) {
      case 0:
        d[e] = 0;
        break;
      case 1:
        d[e] = std::numeric_limits<float>::quiet_NaN();
        break;
      case 2:
        d[e] = rng() % 2 ? std::numeric_limits<float>::infinity() : -1e38f;
        break;
      default:
        d[e] = normal(rng);
    }
  }
  return d;
}

void expect_matches_reference(const CombineParams& p, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> base(n);
  for (float& b : base) b = normal(rng);
  std::vector<std::vector<float>> deltas;
  std::vector<const float*> pointers;
  for (size_t i = 0; i < p.weights.size(); ++i) deltas.push_back(deltas_for(n, rng));
  // Element 3 of the first two models: opposite deltas of equal weight, a tie of the vote.
  if (n > 3 && deltas.size() >= 2) deltas[1][3] = -deltas[0][3];
  for (const auto& d : deltas) pointers.push_back(d.data());
  std::vector<float> result(n);
  combine_task_vectors(p, n, base.data(), pointers.data(), result.data());
  for (size_t e = 0; e < n; ++e) {
    const float expected = combine_element(p, e, base.data(), pointers.data());
    ASSERT_EQ(std::bit_cast<uint32_t>(result[e]), std::bit_cast<uint32_t>(expected))
        << "element " << e << " of " << n << ": " << result[e] << " vs " << expected;
  }
}

TEST_P(TaskVectorCombineSimd, MatchesTheScalarReference) {
  for (bool vote : {false, true}) {
    for (bool normalize : {false, true}) {
      for (const std::vector<double>& weights :
           std::vector<std::vector<double>>{{0.5}, {0.5, 0.5}, {0.5, 0.3, 0.3}, {1, -0.25, 0, 2}}) {
        CombineParams p;
        p.vote = vote;
        p.normalize = normalize;
        p.lambda = 0.9;
        p.weights = weights;
        for (double w : weights) p.weight_sum += w;
        for (size_t n : {1u, 3u, 7u, 8u, 9u, 17u, 1000u, 4099u})
          expect_matches_reference(p, n, n * 31 + weights.size());
      }
    }
  }
}

// The vote by hand on one element: deltas +2, -1, -1 with weights 1, 1, 1 vote positive, so only
// the first counts; normalized by its weight alone.
TEST_P(TaskVectorCombineSimd, VoteKeepsOnlyTheMajoritySign) {
  CombineParams p;
  p.vote = true;
  p.normalize = true;
  p.weights = {1, 1, 1};
  p.weight_sum = 3;
  const size_t n = 37;  // whole vectors plus a tail
  std::vector<float> base(n, 10.0f), a(n, 2.0f), b(n, -1.0f), c(n, -1.0f), result(n);
  const float* deltas[] = {a.data(), b.data(), c.data()};
  combine_task_vectors(p, n, base.data(), deltas, result.data());
  for (float r : result) EXPECT_EQ(r, 12.0f);
}

}  // namespace
}  // namespace mf
