// Highway kernel of task_vector_combine.hpp. foreach_target.h re-includes this file once per x86
// target; HWY_DYNAMIC_DISPATCH calls the best one the CPU supports. Lanes are doubles, loaded from
// and stored to floats of the same lane count; elements past the last whole vector go through the
// scalar reference. Each lane does exactly the reference's operations in the same order; the sign
// vote's lanes are the floats themselves (a vector of half the width), promoted to double where
// they meet the double lanes.
#include "kernels/task_vector_combine.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/task_vector_combine.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace mf {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET == HWY_SCALAR
// One lane, and a DemoteTo that saturates to the largest float instead of rounding to infinity:
// the scalar reference does it all.
void CombineF32(const CombineParams& p, size_t n, const float* HWY_RESTRICT base,
                const float* const* deltas, float* HWY_RESTRICT result) {
  for (size_t e = 0; e < n; ++e) result[e] = combine_element(p, e, base, deltas);
}
#else
using DD = hn::ScalableTag<double>;
using DF = hn::Rebind<float, DD>;

HWY_INLINE hn::Vec<DD> Load(const float* p) { return hn::PromoteTo(DD(), hn::LoadU(DF(), p)); }

void CombineF32(const CombineParams& p, size_t n, const float* HWY_RESTRICT base,
                const float* const* deltas, float* HWY_RESTRICT result) {
  const DD dd;
  const DF df;
  const size_t N = hn::Lanes(dd);
  const size_t models = p.weights.size();
  const auto zero = hn::Zero(dd);
  const auto one = hn::Set(dd, 1.0);
  const auto lambda = hn::Set(dd, p.lambda);
  const auto zero_f = hn::Zero(df);
  std::vector<float> weights_f(p.weights.begin(), p.weights.end());
  size_t e = 0;
  for (; e + N <= n; e += N) {
    auto mixed = zero;
    auto divisor = hn::Set(dd, p.weight_sum);
    if (p.vote) {
      // In float, as combine_element<float>: products and their sum rounded to float.
      auto majority = zero_f;
      for (size_t i = 0; i < models; ++i)
        majority =
            hn::Add(majority, hn::Mul(hn::Set(df, weights_f[i]), hn::LoadU(df, deltas[i] + e)));
      const auto sign =
          hn::IfThenElse(hn::Ge(majority, zero_f), hn::Set(df, 1.0f), hn::Set(df, -1.0f));
      divisor = zero;
      for (size_t i = 0; i < models; ++i) {
        const auto d = hn::LoadU(df, deltas[i] + e);
        const auto w = hn::Set(dd, p.weights[i]);
        const auto wd = hn::Mul(w, hn::PromoteTo(dd, d));
        const auto agrees =
            hn::Gt(hn::PromoteTo(dd, hn::Mul(hn::Mul(hn::Set(df, weights_f[i]), d), sign)), zero);
        mixed = hn::Add(mixed, hn::IfThenElseZero(agrees, wd));
        divisor = hn::Add(divisor, hn::IfThenElseZero(agrees, w));
      }
      divisor = hn::IfThenElse(hn::Eq(divisor, zero), one, divisor);
    } else {
      for (size_t i = 0; i < models; ++i)
        mixed = hn::Add(mixed, hn::Mul(hn::Set(dd, p.weights[i]), Load(deltas[i] + e)));
    }
    const auto scaled =
        p.normalize ? hn::Mul(hn::Div(mixed, divisor), lambda) : hn::Mul(mixed, lambda);
    hn::StoreU(hn::DemoteTo(DF(), hn::Add(Load(base + e), scaled)), DF(), result + e);
  }
  for (; e < n; ++e) result[e] = combine_element(p, e, base, deltas);
}
#endif  // HWY_TARGET == HWY_SCALAR

}  // namespace HWY_NAMESPACE
}  // namespace mf
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mf {

HWY_EXPORT(CombineF32);

void combine_task_vectors(const CombineParams& p, size_t n, const float* base,
                          const float* const* deltas, float* result) {
  HWY_DYNAMIC_DISPATCH(CombineF32)(p, n, base, deltas, result);
}

// float64 merges are rare (a recipe asking for dtype float64): the scalar reference serves.
void combine_task_vectors(const CombineParams& p, size_t n, const double* base,
                          const double* const* deltas, double* result) {
  for (size_t e = 0; e < n; ++e) result[e] = combine_element(p, e, base, deltas);
}

}  // namespace mf
#endif  // HWY_ONCE
