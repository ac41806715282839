// Element-wise loops over task vectors that the passes of the task-arithmetic family run: forming
// the deltas, zeroing the elements a magnitude cut drops, and keeping masks as bits. Highway
// kernels dispatched at run time (the build's baseline is SSE2, so plain loops get 4 float lanes;
// these get up to 16); each gives the plain loop's bits. float64 merges are rare and take plain
// loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace mf {

// out[e] = x[e] - base[e], for e < n.
void subtract(const float* x, const float* base, size_t n, float* out);
void subtract(const double* x, const double* base, size_t n, double* out);
// The same with x as stored bf16 (need not be aligned): the conversion fused into the subtraction,
// bit for bit convert_to followed by subtract.
void subtract_bf16(const void* x, const float* base, size_t n, float* out);
// The same with the base stored bf16 too.
void subtract_bf16(const void* x, const void* base, size_t n, float* out);

// Zeroes the elements whose magnitude key (magnitude_selection.hpp) is below `lowest_kept`.
void zero_magnitudes_below(std::span<float> values, uint32_t lowest_kept);
void zero_magnitudes_below(std::span<double> values, uint64_t lowest_kept);
// Zeroes the elements whose key is below `lowest_kept` or at least `lowest_dropped`.
void zero_magnitudes_outside(std::span<float> values, uint32_t lowest_kept,
                             uint32_t lowest_dropped);
void zero_magnitudes_outside(std::span<double> values, uint64_t lowest_kept,
                             uint64_t lowest_dropped);

// A sparsified task vector's mask as bits, kept between a kernel's passes so the output pass need
// not draw or rank again: bit j % 8 of bits[j / 8] says whether values[j] != 0 (an element that was
// zero before masking stays zero either way). `bits` holds (size + 7) / 8 bytes. dare draws its
// bits directly (fill_bernoulli_bits).
void nonzero_bits(std::span<const float> values, uint8_t* bits);
void nonzero_bits(std::span<const double> values, uint8_t* bits);
// values[j] = (bit j set ? values[j] : 0) * factor: zeroes the dropped elements and rescales, in
// one pass. A factor of 1 changes no value (the deltas' NaNs, made by subtractions, are quiet).
void keep_bits(std::span<float> values, const uint8_t* bits, float factor);
void keep_bits(std::span<double> values, const uint8_t* bits, double factor);

}  // namespace mf
