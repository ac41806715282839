#include "core/dtype.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "core/dtype_simd.hpp"
#include "core/error.hpp"

namespace mf {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F64:
    case DType::I64:
    case DType::U64:
      return 8;
    case DType::F32:
    case DType::I32:
    case DType::U32:
      return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16:
    case DType::U16:
      return 2;
    case DType::F8_E4M3:
    case DType::F8_E5M2:
    case DType::I8:
    case DType::U8:
    case DType::Bool:
      return 1;
  }
  return 0;
}

bool is_float(DType t) {
  switch (t) {
    case DType::F64:
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::F8_E4M3:
    case DType::F8_E5M2:
      return true;
    default:
      return false;
  }
}

namespace {
struct DTypeName {
  DType type;
  std::string_view safetensors;
  std::string_view torch;
};
constexpr DTypeName kNames[] = {
    {DType::F64, "F64", "float64"},
    {DType::F32, "F32", "float32"},
    {DType::F16, "F16", "float16"},
    {DType::BF16, "BF16", "bfloat16"},
    {DType::F8_E4M3, "F8_E4M3", "float8_e4m3fn"},
    {DType::F8_E5M2, "F8_E5M2", "float8_e5m2"},
    {DType::I64, "I64", "int64"},
    {DType::I32, "I32", "int32"},
    {DType::I16, "I16", "int16"},
    {DType::I8, "I8", "int8"},
    {DType::U64, "U64", "uint64"},
    {DType::U32, "U32", "uint32"},
    {DType::U16, "U16", "uint16"},
    {DType::U8, "U8", "uint8"},
    {DType::Bool, "BOOL", "bool"},
};
}  // namespace

std::string_view dtype_name(DType t) {
  for (const auto& n : kNames)
    if (n.type == t) return n.safetensors;
  return "?";
}

std::string_view dtype_torch_name(DType t) {
  for (const auto& n : kNames)
    if (n.type == t) return n.torch;
  return "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& n : kNames)
    if (n.safetensors == name) return n.type;
  return std::nullopt;
}

std::optional<DType> dtype_from_recipe(std::string_view name) {
  if (name.starts_with("torch.")) name.remove_prefix(6);
  if (name == "bfloat16" || name == "bf16") return DType::BF16;
  if (name == "float16" || name == "fp16" || name == "half") return DType::F16;
  if (name == "float32" || name == "fp32" || name == "float") return DType::F32;
  if (name == "float64" || name == "fp64" || name == "double") return DType::F64;
  return std::nullopt;
}

float bf16_to_float(uint16_t bits) { return std::bit_cast<float>(uint32_t(bits) << 16); }

uint16_t float_to_bf16(float value) {
  uint32_t u = std::bit_cast<uint32_t>(value);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN, sign kept
  u += 0x7fffu + ((u >> 16) & 1u);                                         // round to nearest even
  return uint16_t(u >> 16);
}

float f16_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    // zero or subnormal: mant * 2^-24
    float v = std::ldexp(float(mant), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t float_to_f16(float value) {
  uint32_t u = std::bit_cast<uint32_t>(value);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: infinity
  if (a < 0x38800000u) {
    // Result is subnormal or zero in f16: scale so the f16 ulp (2^-24) becomes 1 and round to even.
    float f = std::bit_cast<float>(a);
    float scaled = f * 16777216.0f;    // exact: power of two
    float r = std::nearbyint(scaled);  // default rounding mode: nearest even
    return uint16_t(sign | uint16_t(r));
  }
  // Normal: rebias exponent, round mantissa from 23 to 10 bits, nearest even.
  uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u);
  uint32_t result = (rounded >> 13) - (112u << 10);
  return uint16_t(sign | result);
}

float f8e4m3_to_float(uint8_t b) {
  uint32_t sign = b >> 7;
  uint32_t exp = (b >> 3) & 0xfu;
  uint32_t mant = b & 0x7u;
  float v;
  if (exp == 0xf && mant == 0x7)
    v = NAN;  // e4m3fn: no infinities, one NaN pattern
  else if (exp == 0)
    v = std::ldexp(float(mant), -9);
  else
    v = std::ldexp(1.0f + float(mant) / 8.0f, int(exp) - 7);
  return sign ? -v : v;
}

float f8e5m2_to_float(uint8_t b) { return f16_to_float(uint16_t(b) << 8); }

float round_to(DType t, float value) {
  switch (t) {
    case DType::BF16:
      return bf16_to_float(float_to_bf16(value));
    case DType::F16:
      return f16_to_float(float_to_f16(value));
    default:
      return value;
  }
}

namespace {

// The element-wise loops for the types without a SIMD kernel (f64, f8, and float <-> double).
template <class T>
void convert_to_impl(DType src_type, const void* src, T* dst, size_t n) {
  const auto* p = static_cast<const unsigned char*>(src);
  switch (src_type) {
    case DType::F64:
      for (size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        dst[i] = T(v);
      }
      return;
    case DType::F32:
      for (size_t i = 0; i < n; ++i) {
        float v;
        std::memcpy(&v, p + 4 * i, 4);
        dst[i] = T(v);
      }
      return;
    case DType::F8_E4M3:
      for (size_t i = 0; i < n; ++i) dst[i] = T(f8e4m3_to_float(p[i]));
      return;
    case DType::F8_E5M2:
      for (size_t i = 0; i < n; ++i) dst[i] = T(f8e5m2_to_float(p[i]));
      return;
    default:
      fail(ErrorCode::Internal, "convert_to: not a float dtype");
  }
}

template <class T>
void convert_from_impl(const T* src, DType dst_type, void* dst, size_t n) {
  auto* p = static_cast<unsigned char*>(dst);
  switch (dst_type) {
    case DType::F64:
      for (size_t i = 0; i < n; ++i) {
        double v = double(src[i]);
        std::memcpy(p + 8 * i, &v, 8);
      }
      return;
    case DType::F32:
      for (size_t i = 0; i < n; ++i) {
        float v = float(src[i]);
        std::memcpy(p + 4 * i, &v, 4);
      }
      return;
    default:
      fail(ErrorCode::Internal, "convert_from: not a writable float dtype");
  }
}

bool is_half(DType t) { return t == DType::BF16 || t == DType::F16; }

// Doubles go to and from the half types through a float buffer this long (on the stack, in L1), so
// they share the float kernels. That is exact: a half widens exactly to float and float to double,
// and a double was always rounded to float first, then to the half type.
constexpr size_t kChunk = 1024;

}  // namespace

// The half types go through the SIMD kernels (dtype_simd.hpp), which give the scalar helpers' bits.
void convert_to(DType t, const void* src, float* dst, size_t n) {
  if (t == DType::BF16) return simd::bf16_to_f32(src, dst, n);
  if (t == DType::F16) return simd::f16_to_f32(src, dst, n);
  if (t == DType::F32) {
    if (n) std::memcpy(dst, src, 4 * n);
    return;
  }
  convert_to_impl(t, src, dst, n);
}

void convert_to(DType t, const void* src, double* dst, size_t n) {
  if (!is_half(t)) return convert_to_impl(t, src, dst, n);
  const auto* p = static_cast<const unsigned char*>(src);
  float buf[kChunk];
  for (size_t i = 0; i < n; i += kChunk) {
    const size_t m = std::min(kChunk, n - i);
    convert_to(t, p + 2 * i, buf, m);
    for (size_t j = 0; j < m; ++j) dst[i + j] = buf[j];
  }
}

size_t count_non_finite(const float* values, size_t n) { return simd::count_non_finite(values, n); }

size_t count_non_finite(const double* values, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) count += !std::isfinite(values[i]);
  return count;
}

void convert_from(const float* src, DType t, void* dst, size_t n) {
  if (t == DType::BF16) return simd::f32_to_bf16(src, dst, n);
  if (t == DType::F16) return simd::f32_to_f16(src, dst, n);
  if (t == DType::F32) {
    if (n) std::memcpy(dst, src, 4 * n);
    return;
  }
  convert_from_impl(src, t, dst, n);
}

void convert_from(const double* src, DType t, void* dst, size_t n) {
  if (!is_half(t)) return convert_from_impl(src, t, dst, n);
  auto* p = static_cast<unsigned char*>(dst);
  float buf[kChunk];
  for (size_t i = 0; i < n; i += kChunk) {
    const size_t m = std::min(kChunk, n - i);
    for (size_t j = 0; j < m; ++j) buf[j] = float(src[i + j]);
    convert_from(buf, t, p + 2 * i, m);
  }
}

}  // namespace mf
