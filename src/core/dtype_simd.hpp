// SIMD bulk conversions between the half types (bf16, f16) and float, behind convert_to /
// convert_from (dtype.hpp). Google Highway compiles each for several x86 targets (SSSE3, SSE4,
// AVX2, AVX-512) and picks the best one the CPU has at the first call, so one binary runs
// everywhere. Each result is bit for bit the scalar helper's (float_to_bf16, ...), NaN payloads
// included. Pointers to the half data need not be aligned, not even to 2 bytes.
#pragma once

#include <cstddef>

namespace mf::simd {

void bf16_to_f32(const void* src, float* dst, size_t n);
void f16_to_f32(const void* src, float* dst, size_t n);
void f32_to_bf16(const float* src, void* dst, size_t n);
void f32_to_f16(const float* src, void* dst, size_t n);
// The NaN and infinite values among n floats (the loader's warning about inputs).
size_t count_non_finite(const float* values, size_t n);
// The same among n bf16 values, read as stored (for inputs a kernel converts itself).
size_t count_non_finite_bf16(const void* values, size_t n);

}  // namespace mf::simd
