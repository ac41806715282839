// Highway kernels of double_sum_simd.hpp; see core/dtype_simd.cpp for how foreach_target and the
// dispatch work. kPartials / N vectors of N double lanes hold double_sum's eight partials: vector
// k's lane i is partial k * N + i. The elements past the last multiple of eight go to their
// partials in the scalar tail, as in double_sum.
#include "kernels/double_sum_simd.hpp"

#include <cmath>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/double_sum_simd.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace mf {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr size_t kPartials = 8;  // double_sum's
// At most eight double lanes (AVX-512), so a vector never holds more than the eight partials.
using DD = hn::CappedTag<double, kPartials>;
using DF = hn::Rebind<float, DD>;  // as many float lanes, half the width
using VD = hn::Vec<DD>;

HWY_INLINE VD Load(const float* HWY_RESTRICT p) { return hn::PromoteTo(DD(), hn::LoadU(DF(), p)); }

// double_sum's final tree over the partials.
double Tree(const double* p) {
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

double AbsSumF32(const float* HWY_RESTRICT v, size_t n) {
  const DD dd;
  const size_t N = hn::Lanes(dd), K = kPartials / N;
  VD acc[kPartials];
  for (size_t k = 0; k < K; ++k) acc[k] = hn::Zero(dd);
  size_t e = 0;
  for (; e + kPartials <= n; e += kPartials)
    for (size_t k = 0; k < K; ++k) acc[k] = hn::Add(acc[k], hn::Abs(Load(v + e + k * N)));
  HWY_ALIGN double partial[kPartials];
  for (size_t k = 0; k < K; ++k) hn::Store(acc[k], dd, partial + k * N);
  for (; e < n; ++e) partial[e % kPartials] += std::abs(double(v[e]));
  return Tree(partial);
}

void KeptAbsSumsF32(const float* HWY_RESTRICT v, const uint8_t* HWY_RESTRICT keep, size_t n,
                    KeptAbsSums* out) {
  const DD dd;
  const size_t N = hn::Lanes(dd), K = kPartials / N;
  VD all[kPartials], kept[kPartials];
  for (size_t k = 0; k < K; ++k) all[k] = kept[k] = hn::Zero(dd);
  size_t e = 0;
  for (; e + kPartials <= n; e += kPartials) {
    const unsigned byte = keep[e / 8];  // the eight partials' bits
    for (size_t k = 0; k < K; ++k) {
      const VD x = hn::Abs(Load(v + e + k * N));
      const uint8_t lanes = uint8_t(byte >> (k * N));
      all[k] = hn::Add(all[k], x);
      // A dropped value adds +0, as its zeroed value would: no partial changes.
      kept[k] = hn::Add(kept[k], hn::IfThenElseZero(hn::LoadMaskBits(dd, &lanes), x));
    }
  }
  HWY_ALIGN double pall[kPartials], pkept[kPartials];
  for (size_t k = 0; k < K; ++k) {
    hn::Store(all[k], dd, pall + k * N);
    hn::Store(kept[k], dd, pkept + k * N);
  }
  for (; e < n; ++e) {
    const double x = std::abs(double(v[e]));
    pall[e % kPartials] += x;
    if ((keep[e / 8] >> (e % 8)) & 1) pkept[e % kPartials] += x;
  }
  *out = {Tree(pall), Tree(pkept)};
}

void DotSumsF32(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, size_t n, DotSums* out) {
  const DD dd;
  const size_t N = hn::Lanes(dd), K = kPartials / N;
  VD aa[kPartials], bb[kPartials], ab[kPartials];
  for (size_t k = 0; k < K; ++k) aa[k] = bb[k] = ab[k] = hn::Zero(dd);
  size_t e = 0;
  for (; e + kPartials <= n; e += kPartials) {
    for (size_t k = 0; k < K; ++k) {
      const VD x = Load(a + e + k * N), y = Load(b + e + k * N);
      aa[k] = hn::Add(aa[k], hn::Mul(x, x));
      bb[k] = hn::Add(bb[k], hn::Mul(y, y));
      ab[k] = hn::Add(ab[k], hn::Mul(x, y));
    }
  }
  HWY_ALIGN double paa[kPartials], pbb[kPartials], pab[kPartials];
  for (size_t k = 0; k < K; ++k) {
    hn::Store(aa[k], dd, paa + k * N);
    hn::Store(bb[k], dd, pbb + k * N);
    hn::Store(ab[k], dd, pab + k * N);
  }
  for (; e < n; ++e) {
    const double x = a[e], y = b[e];
    paa[e % kPartials] += x * x;
    pbb[e % kPartials] += y * y;
    pab[e % kPartials] += x * y;
  }
  *out = {Tree(paa), Tree(pbb), Tree(pab)};
}

}  // namespace HWY_NAMESPACE
}  // namespace mf
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mf {

HWY_EXPORT(AbsSumF32);
HWY_EXPORT(KeptAbsSumsF32);
HWY_EXPORT(DotSumsF32);

double abs_sum(std::span<const float> values) {
  return HWY_DYNAMIC_DISPATCH(AbsSumF32)(values.data(), values.size());
}

KeptAbsSums kept_abs_sums(std::span<const float> values, const uint8_t* keep) {
  KeptAbsSums sums;
  HWY_DYNAMIC_DISPATCH(KeptAbsSumsF32)(values.data(), keep, values.size(), &sums);
  return sums;
}

DotSums dot_sums(const float* a, const float* b, size_t n) {
  DotSums sums;
  HWY_DYNAMIC_DISPATCH(DotSumsF32)(a, b, n, &sums);
  return sums;
}

}  // namespace mf
#endif  // HWY_ONCE
