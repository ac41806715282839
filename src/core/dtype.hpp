// Element types of tensors on disk, and conversion between them and the compute types (float,
// double). Half types are converted with round-to-nearest-even, as torch does, so a value rounded
// once here equals torch's rounding of the same float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mf {

enum class DType : uint8_t {
  F64,
  F32,
  F16,
  BF16,
  F8_E4M3,
  F8_E5M2,
  I64,
  I32,
  I16,
  I8,
  U64,
  U32,
  U16,
  U8,
  Bool,
};

size_t dtype_size(DType t);
bool is_float(DType t);
// The safetensors spelling ("BF16", "F32", ...).
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view safetensors_name);
// A recipe's spelling: "bfloat16", "float16", "float32", "float64", optionally "torch."-prefixed.
std::optional<DType> dtype_from_recipe(std::string_view recipe_name);
// The torch spelling used in config.json ("bfloat16", ...).
std::string_view dtype_torch_name(DType t);

// Convert n elements of a float dtype to float / double. `src` need not be aligned.
void convert_to(DType src_type, const void* src, float* dst, size_t n);
void convert_to(DType src_type, const void* src, double* dst, size_t n);
// Round n values to a float dtype (round to nearest even; F8 types are not written). `dst` need not
// be aligned.
void convert_from(const float* src, DType dst_type, void* dst, size_t n);
void convert_from(const double* src, DType dst_type, void* dst, size_t n);
// The NaN and infinite values among n.
size_t count_non_finite(const float* values, size_t n);
size_t count_non_finite(const double* values, size_t n);

// Scalar helpers, exposed for tests and kernels.
float bf16_to_float(uint16_t bits);
uint16_t float_to_bf16(float value);
float f16_to_float(uint16_t bits);
uint16_t float_to_f16(float value);
float f8e4m3_to_float(uint8_t bits);
float f8e5m2_to_float(uint8_t bits);
// Round a float to the nearest value representable in `t` (identity for F32 / F64).
float round_to(DType t, float value);

}  // namespace mf
