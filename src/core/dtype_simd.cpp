// Highway kernels of dtype_simd.hpp. foreach_target.h re-includes this file once per x86 target
// (the code between HWY_BEFORE_NAMESPACE and HWY_AFTER_NAMESPACE is compiled for each), and
// HWY_DYNAMIC_DISPATCH calls the best one the CPU supports.
//
// The roundings are the scalar helpers' (dtype.cpp) written lane-wise with integer operations, not
// Highway's own DemoteTo to bf16 / f16: those differ between targets (truncation on some, the
// hardware's NaN quieting on others), and the output must equal the scalar code's bit for bit.
// Elements past the last whole vector go through the scalar helpers.
#include "core/dtype_simd.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/dtype.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/dtype_simd.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include "core/bf16_load-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mf {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One vector of float lanes, and the 16-bit lanes of the same count (half the width).
using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;
using DI = hn::RebindToSigned<DF>;
using DU16 = hn::Rebind<uint16_t, DF>;

// Byte pointers cast to uint16_t* are only used by LoadU / StoreU, which allow any alignment.
HWY_INLINE hn::Vec<DU> LoadHalf(const unsigned char* p) {
  return hn::PromoteTo(DU(), hn::LoadU(DU16(), reinterpret_cast<const uint16_t*>(p)));
}

// Every lane of `bits` is <= 0xffff, so the saturating demotion is a plain truncation.
HWY_INLINE void StoreHalf(hn::Vec<DU> bits, unsigned char* p) {
  hn::StoreU(hn::DemoteTo(DU16(), hn::BitCast(DI(), bits)), DU16(), reinterpret_cast<uint16_t*>(p));
}

void Bf16ToF32(const void* src, float* HWY_RESTRICT dst, size_t n) {
  const auto* p = static_cast<const unsigned char*>(src);
  const size_t N = hn::Lanes(DF());
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(LoadBf16(p + 2 * i), DF(), dst + i);
  }
  for (; i < n; ++i) {
    uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    dst[i] = bf16_to_float(v);
  }
}

// f16_to_float: normals rebias the exponent (+112), inf / NaN keep the mantissa (payload not
// quieted), subnormals are mant * 2^-24 (exact in float).
void F16ToF32(const void* src, float* HWY_RESTRICT dst, size_t n) {
  const DF df;
  const DU du;
  const auto* p = static_cast<const unsigned char*>(src);
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto h = LoadHalf(p + 2 * i);
    const auto sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(du, 0x8000u)));
    const auto magnitude = hn::And(h, hn::Set(du, 0x7fffu));
    const auto exp = hn::And(h, hn::Set(du, 0x7c00u));
    const auto shifted = hn::ShiftLeft<13>(magnitude);
    const auto normal = hn::Add(shifted, hn::Set(du, 112u << 23));
    const auto inf_nan = hn::Or(shifted, hn::Set(du, 0x7f800000u));
    const auto subnormal = hn::BitCast(
        du, hn::Mul(hn::ConvertTo(df, hn::BitCast(DI(), magnitude)), hn::Set(df, 0x1p-24f)));
    auto bits = hn::IfThenElse(hn::Eq(exp, hn::Set(du, 0x7c00u)), inf_nan, normal);
    bits = hn::IfThenElse(hn::Eq(exp, hn::Zero(du)), subnormal, bits);
    hn::StoreU(hn::BitCast(df, hn::Or(sign, bits)), df, dst + i);
  }
  for (; i < n; ++i) {
    uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    dst[i] = f16_to_float(v);
  }
}

// float_to_bf16: NaN -> top half with the quiet bit set; otherwise add 0x7fff plus the lowest kept
// bit and truncate (round to nearest even, carrying into the exponent).
void F32ToBf16(const float* HWY_RESTRICT src, void* dst, size_t n) {
  const DU du;
  const DI di;
  auto* p = static_cast<unsigned char*>(dst);
  const size_t N = hn::Lanes(du);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto u = hn::BitCast(du, hn::LoadU(DF(), src + i));
    const auto high = hn::ShiftRight<16>(u);
    // The magnitude fits in 31 bits, so the signed comparison is the unsigned one.
    const auto is_nan =
        hn::Gt(hn::BitCast(di, hn::And(u, hn::Set(du, 0x7fffffffu))), hn::Set(di, 0x7f800000));
    const auto quiet_nan = hn::Or(high, hn::Set(du, 0x40u));
    const auto bias = hn::Add(hn::Set(du, 0x7fffu), hn::And(high, hn::Set(du, 1u)));
    const auto rounded = hn::ShiftRight<16>(hn::Add(u, bias));
    StoreHalf(hn::IfThenElse(hn::RebindMask(du, is_nan), quiet_nan, rounded), p + 2 * i);
  }
  for (; i < n; ++i) {
    const uint16_t v = float_to_bf16(src[i]);
    std::memcpy(p + 2 * i, &v, 2);
  }
}

// float_to_f16, case by case on the magnitude a: NaN keeps the top payload bits with the quiet bit
// set; a >= 0x477ff000 (rounds to >= 65520) is infinity; below 2^-14 the result is subnormal,
// nearest-even rounding of a * 2^24; in between, rebias and round the mantissa to 10 bits.
void F32ToF16(const float* HWY_RESTRICT src, void* dst, size_t n) {
  const DF df;
  const DU du;
  const DI di;
  auto* p = static_cast<unsigned char*>(dst);
  const size_t N = hn::Lanes(du);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto u = hn::BitCast(du, hn::LoadU(df, src + i));
    const auto sign = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 0x8000u));
    const auto a = hn::And(u, hn::Set(du, 0x7fffffffu));
    const auto ai = hn::BitCast(di, a);  // < 2^31: signed comparisons are the unsigned ones
    const auto mant13 = hn::ShiftRight<13>(a);
    const auto nan = hn::Or(hn::Set(du, 0x7e00u), hn::And(mant13, hn::Set(du, 0x3ffu)));
    const auto bias = hn::Add(hn::Set(du, 0xfffu), hn::And(mant13, hn::Set(du, 1u)));
    const auto normal = hn::Sub(hn::ShiftRight<13>(hn::Add(a, bias)), hn::Set(du, 112u << 10));
    // a * 2^24 rounded to an integer, nearest even, as nearbyint does: adding 0.5 makes the float
    // adder round a to a multiple of 2^-24 (the ulp in [0.5, 1)), which lands in the low bits.
    const auto half = hn::Set(df, 0.5f);
    const auto subnormal =
        hn::Sub(hn::BitCast(du, hn::Add(hn::BitCast(df, a), half)), hn::BitCast(du, half));
    auto bits =
        hn::IfThenElse(hn::RebindMask(du, hn::Lt(ai, hn::Set(di, 0x38800000))), subnormal, normal);
    bits = hn::IfThenElse(hn::RebindMask(du, hn::Gt(ai, hn::Set(di, 0x477fefff))),
                          hn::Set(du, 0x7c00u), bits);
    bits = hn::IfThenElse(hn::RebindMask(du, hn::Gt(ai, hn::Set(di, 0x7f800000))), nan, bits);
    StoreHalf(hn::Or(sign, bits), p + 2 * i);
  }
  for (; i < n; ++i) {
    const uint16_t v = float_to_f16(src[i]);
    std::memcpy(p + 2 * i, &v, 2);
  }
}

// Non-finite floats have every exponent bit set.
size_t CountNonFiniteF32(const float* HWY_RESTRICT values, size_t n) {
  const DF df;
  const DU du;
  const size_t N = hn::Lanes(du);
  const auto exponent = hn::Set(du, 0x7f800000u);
  size_t count = 0, i = 0;
  for (; i + N <= n; i += N) {
    const auto bits = hn::BitCast(du, hn::LoadU(df, values + i));
    count += hn::CountTrue(du, hn::Eq(hn::And(bits, exponent), exponent));
  }
  for (; i < n; ++i) count += !std::isfinite(values[i]);
  return count;
}

// The same for bf16 values, without converting them: every exponent bit set.
size_t CountNonFiniteBf16(const void* values, size_t n) {
  const DU du;
  const auto* p = static_cast<const unsigned char*>(values);
  const size_t N = hn::Lanes(du);
  const auto exponent = hn::Set(du, 0x7f80u);
  size_t count = 0, i = 0;
  for (; i + N <= n; i += N)
    count += hn::CountTrue(du, hn::Eq(hn::And(LoadHalf(p + 2 * i), exponent), exponent));
  for (; i < n; ++i) {
    uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    count += !std::isfinite(bf16_to_float(v));
  }
  return count;
}

}  // namespace HWY_NAMESPACE
}  // namespace mf
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mf {

HWY_EXPORT(Bf16ToF32);
HWY_EXPORT(F16ToF32);
HWY_EXPORT(F32ToBf16);
HWY_EXPORT(F32ToF16);
HWY_EXPORT(CountNonFiniteF32);
HWY_EXPORT(CountNonFiniteBf16);

namespace simd {

void bf16_to_f32(const void* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(Bf16ToF32)(src, dst, n);
}
void f16_to_f32(const void* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(F16ToF32)(src, dst, n);
}
void f32_to_bf16(const float* src, void* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(F32ToBf16)(src, dst, n);
}
void f32_to_f16(const float* src, void* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(F32ToF16)(src, dst, n);
}
size_t count_non_finite(const float* values, size_t n) {
  return HWY_DYNAMIC_DISPATCH(CountNonFiniteF32)(values, n);
}
size_t count_non_finite_bf16(const void* values, size_t n) {
  return HWY_DYNAMIC_DISPATCH(CountNonFiniteBf16)(values, n);
}

}  // namespace simd
}  // namespace mf
#endif  // HWY_ONCE
