// Highway kernels of task_vector_simd.hpp; see core/dtype_simd.cpp for how foreach_target and the
// dispatch work. The elements past the last whole vector take the plain loop.
#include "kernels/task_vector_simd.hpp"

#include <cstring>

#include "core/dtype.hpp"
#include "kernels/magnitude_key.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/task_vector_simd.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include "core/bf16_load-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mf {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;

void SubtractF32(const float* HWY_RESTRICT x, const float* HWY_RESTRICT base, size_t n,
                 float* HWY_RESTRICT out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  size_t e = 0;
  for (; e + N <= n; e += N)
    hn::StoreU(hn::Sub(hn::LoadU(df, x + e), hn::LoadU(df, base + e)), df, out + e);
  for (; e < n; ++e) out[e] = x[e] - base[e];
}

// The same with x as stored bf16, widened in register.
void SubtractBf16F32(const void* x, const float* HWY_RESTRICT base, size_t n,
                     float* HWY_RESTRICT out) {
  const DF df;
  const auto* p = static_cast<const unsigned char*>(x);
  const size_t N = hn::Lanes(df);
  size_t e = 0;
  for (; e + N <= n; e += N)
    hn::StoreU(hn::Sub(LoadBf16(p + 2 * e), hn::LoadU(df, base + e)), df, out + e);
  for (; e < n; ++e) {
    uint16_t v;
    std::memcpy(&v, p + 2 * e, 2);
    out[e] = bf16_to_float(v) - base[e];
  }
}

// The same with both x and the base stored bf16.
void SubtractBf16Bf16(const void* x, const void* base, size_t n, float* HWY_RESTRICT out) {
  const DF df;
  const auto* p = static_cast<const unsigned char*>(x);
  const auto* q = static_cast<const unsigned char*>(base);
  const size_t N = hn::Lanes(df);
  size_t e = 0;
  for (; e + N <= n; e += N)
    hn::StoreU(hn::Sub(LoadBf16(p + 2 * e), LoadBf16(q + 2 * e)), df, out + e);
  for (; e < n; ++e) {
    uint16_t v, b;
    std::memcpy(&v, p + 2 * e, 2);
    std::memcpy(&b, q + 2 * e, 2);
    out[e] = bf16_to_float(v) - bf16_to_float(b);
  }
}

// Keys have the sign bit clear; `lowest_dropped` may be 2^31, above every key.
void ZeroMagnitudesOutsideF32(float* HWY_RESTRICT values, size_t n, uint32_t lowest_kept,
                              uint32_t lowest_dropped) {
  const DF df;
  const DU du;
  const size_t N = hn::Lanes(df);
  const auto magnitude_bits = hn::Set(du, 0x7fffffffu);
  const auto low = hn::Set(du, lowest_kept);
  const auto high = hn::Set(du, lowest_dropped);
  size_t e = 0;
  for (; e + N <= n; e += N) {
    const auto x = hn::LoadU(df, values + e);
    const auto key = hn::And(hn::BitCast(du, x), magnitude_bits);
    const auto inside = hn::And(hn::Not(hn::Lt(key, low)), hn::Lt(key, high));
    hn::StoreU(hn::IfThenElseZero(hn::RebindMask(df, inside), x), df, values + e);
  }
  for (; e < n; ++e) {
    const uint32_t key = magnitude_key(values[e]);
    values[e] = key >= lowest_kept && key < lowest_dropped ? values[e] : 0.0f;
  }
}

// Mask bits go straight between mask registers and memory, a whole number of bytes per vector:
// targets with fewer than eight float lanes return 0 and leave every element to the caller.
size_t NonzeroBitsF32(const float* HWY_RESTRICT values, size_t n, uint8_t* HWY_RESTRICT bits) {
  const DF df;
  const size_t N = hn::Lanes(df);
  if (N < 8) return 0;
  size_t e = 0;
  // Not Eq rather than Ne: Ne is ordered on x86, false for NaN, where the scalar != is true.
  for (; e + N <= n; e += N)
    hn::StoreMaskBits(df, hn::Not(hn::Eq(hn::LoadU(df, values + e), hn::Zero(df))), bits + e / 8);
  return e;
}

size_t KeepBitsF32(float* HWY_RESTRICT values, size_t n, const uint8_t* HWY_RESTRICT bits,
                   float factor) {
  const DF df;
  const size_t N = hn::Lanes(df);
  if (N < 8) return 0;
  const auto scale = hn::Set(df, factor);
  size_t e = 0;
  for (; e + N <= n; e += N) {
    const auto keep = hn::LoadMaskBits(df, bits + e / 8);
    hn::StoreU(hn::Mul(hn::IfThenElseZero(keep, hn::LoadU(df, values + e)), scale), df, values + e);
  }
  return e;
}

}  // namespace HWY_NAMESPACE
}  // namespace mf
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mf {

HWY_EXPORT(SubtractF32);
HWY_EXPORT(SubtractBf16F32);
HWY_EXPORT(SubtractBf16Bf16);
HWY_EXPORT(ZeroMagnitudesOutsideF32);
HWY_EXPORT(NonzeroBitsF32);
HWY_EXPORT(KeepBitsF32);

void subtract(const float* x, const float* base, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(SubtractF32)(x, base, n, out);
}

void subtract_bf16(const void* x, const float* base, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(SubtractBf16F32)(x, base, n, out);
}

void subtract_bf16(const void* x, const void* base, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(SubtractBf16Bf16)(x, base, n, out);
}

void subtract(const double* x, const double* base, size_t n, double* out) {
  for (size_t e = 0; e < n; ++e) out[e] = x[e] - base[e];
}

void zero_magnitudes_below(std::span<float> values, uint32_t lowest_kept) {
  zero_magnitudes_outside(values, lowest_kept, uint32_t(1) << 31);
}

void zero_magnitudes_below(std::span<double> values, uint64_t lowest_kept) {
  zero_magnitudes_outside(values, lowest_kept, uint64_t(1) << 63);
}

void zero_magnitudes_outside(std::span<float> values, uint32_t lowest_kept,
                             uint32_t lowest_dropped) {
  HWY_DYNAMIC_DISPATCH(ZeroMagnitudesOutsideF32)
  (values.data(), values.size(), lowest_kept, lowest_dropped);
}

void zero_magnitudes_outside(std::span<double> values, uint64_t lowest_kept,
                             uint64_t lowest_dropped) {
  for (double& x : values) {
    const uint64_t key = magnitude_key(x);
    x = key >= lowest_kept && key < lowest_dropped ? x : 0.0;
  }
}

namespace {

// The elements from `first` on, one by one.
template <class T>
void nonzero_bits_from(std::span<const T> values, size_t first, uint8_t* bits) {
  for (size_t j = first; j < values.size(); ++j) {
    if (j % 8 == 0) bits[j / 8] = 0;
    bits[j / 8] |= uint8_t(values[j] != T(0)) << (j % 8);
  }
}

template <class T>
void keep_bits_from(std::span<T> values, size_t first, const uint8_t* bits, T factor) {
  for (size_t j = first; j < values.size(); ++j)
    values[j] = ((bits[j / 8] >> (j % 8)) & 1 ? values[j] : T(0)) * factor;
}

}  // namespace

void nonzero_bits(std::span<const float> values, uint8_t* bits) {
  const size_t done = HWY_DYNAMIC_DISPATCH(NonzeroBitsF32)(values.data(), values.size(), bits);
  nonzero_bits_from(values, done, bits);
}

void nonzero_bits(std::span<const double> values, uint8_t* bits) {
  nonzero_bits_from(values, 0, bits);
}

void keep_bits(std::span<float> values, const uint8_t* bits, float factor) {
  const size_t done = HWY_DYNAMIC_DISPATCH(KeepBitsF32)(values.data(), values.size(), bits, factor);
  keep_bits_from(values, done, bits, factor);
}

void keep_bits(std::span<double> values, const uint8_t* bits, double factor) {
  keep_bits_from(values, 0, bits, factor);
}

}  // namespace mf
#endif  // HWY_ONCE
