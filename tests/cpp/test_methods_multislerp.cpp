#include <gtest/gtest.h>

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

template <class T>
class Multislerp : public ::testing::Test {};
TYPED_TEST_SUITE(Multislerp, merge_test::ComputeTypes);

using Vec = std::vector<double>;
using LVec = std::vector<long double>;

long double dot(const LVec& a, const LVec& b) {
  long double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// The algorithm step by step, on whole vectors in long double: unit vectors, their weighted mean,
// the tangent vectors at the mean, their weighted sum, the exponential map, the weighted norm.
Vec reference(const std::vector<Vec>& models, Vec weights, const Vec* base, bool normalize,
              double eps) {
  const size_t n = models[0].size(), k = models.size();
  if (normalize) {
    long double sum = 0;
    for (double w : weights) sum += w;
    for (double& w : weights) w = double(w / sum);
  }
  std::vector<LVec> v(k, LVec(n)), u(k, LVec(n));
  std::vector<long double> norms(k);
  for (size_t i = 0; i < k; ++i) {
    for (size_t e = 0; e < n; ++e) v[i][e] = models[i][e] - (base ? (*base)[e] : 0.0);
    norms[i] = std::sqrt(dot(v[i], v[i]));
    for (size_t e = 0; e < n; ++e) u[i][e] = v[i][e] / (norms[i] + eps);
  }
  LVec mean(n, 0);
  for (size_t i = 0; i < k; ++i)
    for (size_t e = 0; e < n; ++e) mean[e] += weights[i] * u[i][e];
  const long double mean_norm = std::sqrt(dot(mean, mean));
  for (auto& m : mean) m /= mean_norm;
  LVec tangent(n, 0);
  for (size_t i = 0; i < k; ++i) {
    const long double along = dot(u[i], mean);
    for (size_t e = 0; e < n; ++e) tangent[e] += weights[i] * (u[i][e] - along * mean[e]);
  }
  const long double tangent_norm = std::sqrt(dot(tangent, tangent)) + eps;
  long double scale = 0;
  for (size_t i = 0; i < k; ++i) scale += weights[i] * norms[i];
  Vec r(n);
  for (size_t e = 0; e < n; ++e)
    r[e] = double(
        (mean[e] * std::cos(tangent_norm) + tangent[e] * std::sin(tangent_norm) / tangent_norm) *
            scale +
        (base ? (*base)[e] : 0.0));
  return r;
}

TEST(MultislerpInfo, MatchesMergeKitsContract) {
  const MethodInfo& info = method("multislerp").info();
  EXPECT_EQ(info.base, BaseRole::Optional);
  EXPECT_EQ(info.min_models, 1);
  EXPECT_EQ(info.max_models, -1);
  EXPECT_EQ(info.partial, PartialInputs::MergePresent);
  expect_param(info, "weight", ParamType::Float, ParamScope::PerNonBase, std::nullopt);
  expect_param(info, "normalize_weights", ParamType::Bool, ParamScope::Global, 1.0);
  expect_param(info, "eps", ParamType::Float, ParamScope::Global, 1e-8);
}

TYPED_TEST(Multislerp, TwoOrthogonalModels) {
  using T = TypeParam;
  // Unit vectors (1, 0) and (0, 1) at equal weights: the mean direction (1, 1) / sqrt 2, scaled by
  // the mean norm 2 (equal norms: eps shifts neither the direction nor the scale).
  MergeCall<T> call;
  call.inputs = {cast<T>({2, 0}), cast<T>({0, 2})};
  call.per_input = {{{"weight", 1.0}}, {{"weight", 1.0}}};
  const double r = std::sqrt(2.0);
  expect_near_all(call.run(method("multislerp")), {r, r});
  // Different norms, against the step-by-step reference.
  call.inputs = {cast<T>({3, 0}), cast<T>({0, 4})};
  expect_near_all(call.run(method("multislerp")),
                  reference({{3, 0}, {0, 4}}, {1, 1}, nullptr, true, 1e-8));
}

TYPED_TEST(Multislerp, ThreeTaskVectorsAroundTheBase) {
  using T = TypeParam;
  const Vec base = {0.5, -1, 2, 0.25, 1};
  const std::vector<Vec> models = {
      {1.5, -0.5, 1, 2.25, 1}, {0, 0, 3, 0.25, 2}, {0.75, -2, 2.5, -1, 0.5}};
  MergeCall<T> call;
  call.inputs = {cast<T>(models[0]), cast<T>(base), cast<T>(models[1]), cast<T>(models[2])};
  call.base = 1;
  call.per_input = {{{"weight", 0.5}}, {}, {{"weight", 0.3}}, {{"weight", 0.2}}};
  expect_near_all(call.run(method("multislerp")),
                  reference(models, {0.5, 0.3, 0.2}, &base, true, 1e-8), 10);
  // Unnormalized weights scale the mean norm too.
  call.global = {{"normalize_weights", 0.0}};
  call.per_input = {{{"weight", 2.0}}, {}, {{"weight", 1.0}}, {{"weight", 1.5}}};
  expect_near_all(call.run(method("multislerp")),
                  reference(models, {2.0, 1.0, 1.5}, &base, false, 1e-8), 10);
}

TYPED_TEST(Multislerp, LargeEpsilonShowsInNormsAndTheExponentialMap) {
  using T = TypeParam;
  const std::vector<Vec> models = {{1, 2, 0}, {0, 1, -1}, {2, 0, 1}};
  MergeCall<T> call;
  call.inputs = {cast<T>(models[0]), cast<T>(models[1]), cast<T>(models[2])};
  call.per_input = {{{"weight", 1.0}}, {{"weight", 2.0}}, {{"weight", 1.0}}};
  call.global = {{"eps", 0.25}};
  expect_near_all(call.run(method("multislerp")), reference(models, {1, 2, 1}, nullptr, true, 0.25),
                  10);
}

TYPED_TEST(Multislerp, ASingleModelIsReturnedUnchanged) {
  using T = TypeParam;
  MergeCall<T> call;
  call.inputs = {cast<T>({0.5, 0.5}), cast<T>({1.5, -2})};
  call.base = 0;
  call.per_input = {{}, {{"weight", 0.3}}};
  EXPECT_EQ(call.run(method("multislerp")), call.inputs[1]);  // the model, not base + delta
}

TYPED_TEST(Multislerp, TwoCancellingModelsInterpolateLinearly) {
  using T = TypeParam;
  // u1 = -u0 at equal weights: the mean vanishes; the result is w0 v0 + w1 v1 (+ base).
  MergeCall<T> call;
  call.inputs = {cast<T>({1, 2}), cast<T>({-2, -4})};
  call.per_input = {{{"weight", 1.0}}, {{"weight", 1.0}}};
  expect_near_all(call.run(method("multislerp")), {-0.5, -1});
  call.inputs = {cast<T>({2, 3}), cast<T>({1, 1}), cast<T>({-1, -3})};  // base (1, 1) in the middle
  call.base = 1;
  call.per_input = {{{"weight", 1.0}}, {}, {{"weight", 1.0}}};
  expect_near_all(call.run(method("multislerp")), {1 - 0.5, 1 - 1});
}

TYPED_TEST(Multislerp, ThreeCancellingModelsAreAnError) {
  using T = TypeParam;
  // Three unit vectors 120 degrees apart at equal weights: the weighted mean is zero.
  const double h = std::sqrt(3.0) / 2;
  MergeCall<T> call;
  call.inputs = {cast<T>({1, 0}), cast<T>({-0.5, h}), cast<T>({-0.5, -h})};
  call.per_input = {{{"weight", 1.0}}, {{"weight", 1.0}}, {{"weight", 1.0}}};
  try {
    call.run(method("multislerp"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidFile);
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj.weight"), std::string::npos)
        << e.what();
  }
}

TEST(MultislerpCheck, WeightsMustNormalize) {
  MergeCall<float> call;
  call.inputs = {{1, 0}, {0, 1}, {1, 1}};
  call.base = 2;
  call.per_input = {{{"weight", 0.5}}, {{"weight", -0.5}}, {}};
  EXPECT_THROW(call.check(method("multislerp")), Error);
  call.global = {{"normalize_weights", 0.0}};
  EXPECT_NO_THROW(call.check(method("multislerp")));
  // One model is returned whatever its weight.
  call.global = {};
  call.inputs = {{1, 0}, {0, 1}};
  call.base = 1;
  call.per_input = {{{"weight", 0.0}}, {}};
  EXPECT_NO_THROW(call.check(method("multislerp")));
}

TEST(MultislerpCheck, EpsMustBePositive) {
  MergeCall<float> call;
  call.inputs = {{1, 0}, {0, 1}};
  call.per_input = {{{"weight", 0.5}}, {{"weight", 0.5}}};
  call.global = {{"eps", -1e-3}};
  EXPECT_THROW(call.check(method("multislerp")), Error);
  call.global = {{"eps", 0.0}};  // MergeKit: 0 / 0 for a zero task vector or tangent
  EXPECT_THROW(call.check(method("multislerp")), Error);
  call.global = {{"eps", 1e-12}};
  EXPECT_NO_THROW(call.check(method("multislerp")));
}

}  // namespace
}  // namespace mf
