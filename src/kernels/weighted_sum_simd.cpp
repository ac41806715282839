// Highway kernels of weighted_sum_simd.hpp; see core/dtype_simd.cpp for how foreach_target and the
// dispatch work. The elements past the last whole vector take the plain loop.
#include "kernels/weighted_sum_simd.hpp"

#include <cstdint>
#include <cstring>

#include "core/dtype.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/weighted_sum_simd.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include "core/bf16_load-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mf {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;

// One loop for the four float kernels: `load(e)` gives the vector of x at e, `scalar(e)` the
// element; `first` picks out = 0 + x*w over out += x*w.
template <bool first, class Load, class Scalar>
HWY_INLINE void Term(Load load, Scalar scalar, float w, size_t n, float* HWY_RESTRICT out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const auto wv = hn::Set(df, w);
  size_t e = 0;
  for (; e + N <= n; e += N) {
    const auto term = hn::Mul(load(e), wv);
    if constexpr (first)
      hn::StoreU(hn::Add(hn::Zero(df), term), df, out + e);
    else
      hn::StoreU(hn::Add(hn::LoadU(df, out + e), term), df, out + e);
  }
  for (; e < n; ++e) out[e] = (first ? 0.0f : out[e]) + scalar(e) * w;
}

float stored_bf16(const void* x, size_t e) {
  uint16_t v;
  std::memcpy(&v, static_cast<const unsigned char*>(x) + 2 * e, 2);
  return bf16_to_float(v);
}

template <bool first>
void TermF32(const float* HWY_RESTRICT x, float w, size_t n, float* HWY_RESTRICT out) {
  Term<first>([&](size_t e) { return hn::LoadU(DF(), x + e); }, [&](size_t e) { return x[e]; }, w,
              n, out);
}

template <bool first>
void TermBf16(const void* x, float w, size_t n, float* HWY_RESTRICT out) {
  const auto* p = static_cast<const unsigned char*>(x);
  Term<first>([&](size_t e) { return LoadBf16(p + 2 * e); },
              [&](size_t e) { return stored_bf16(x, e); }, w, n, out);
}

void FirstTermF32(const float* x, float w, size_t n, float* out) { TermF32<true>(x, w, n, out); }
void AddTermF32(const float* x, float w, size_t n, float* out) { TermF32<false>(x, w, n, out); }
void FirstTermBf16(const void* x, float w, size_t n, float* out) { TermBf16<true>(x, w, n, out); }
void AddTermBf16(const void* x, float w, size_t n, float* out) { TermBf16<false>(x, w, n, out); }

void DivideF32(float* HWY_RESTRICT out, float divisor, size_t n) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const auto d = hn::Set(df, divisor);
  size_t e = 0;
  for (; e + N <= n; e += N) hn::StoreU(hn::Div(hn::LoadU(df, out + e), d), df, out + e);
  for (; e < n; ++e) out[e] /= divisor;
}

}  // namespace HWY_NAMESPACE
}  // namespace mf
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mf {

HWY_EXPORT(FirstTermF32);
HWY_EXPORT(AddTermF32);
HWY_EXPORT(FirstTermBf16);
HWY_EXPORT(AddTermBf16);
HWY_EXPORT(DivideF32);

void first_term(const float* x, float w, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(FirstTermF32)(x, w, n, out);
}

void add_term(const float* x, float w, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(AddTermF32)(x, w, n, out);
}

void first_term_bf16(const void* x, float w, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(FirstTermBf16)(x, w, n, out);
}

void add_term_bf16(const void* x, float w, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(AddTermBf16)(x, w, n, out);
}

void divide(float* out, float divisor, size_t n) {
  HWY_DYNAMIC_DISPATCH(DivideF32)(out, divisor, n);
}

void first_term(const double* x, double w, size_t n, double* out) {
  for (size_t e = 0; e < n; ++e) out[e] = 0.0 + x[e] * w;
}

void add_term(const double* x, double w, size_t n, double* out) {
  for (size_t e = 0; e < n; ++e) out[e] += x[e] * w;
}

void divide(double* out, double divisor, size_t n) {
  for (size_t e = 0; e < n; ++e) out[e] /= divisor;
}

}  // namespace mf
#endif  // HWY_ONCE
