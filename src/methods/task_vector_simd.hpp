// Element-wise loops over task vectors that every pass of the task-arithmetic family runs: forming
// the deltas and zeroing the elements a magnitude cut drops. Highway kernels dispatched at run time
// (the build's baseline is SSE2, so plain loops get 4 float lanes; these get up to 16); each gives
// the plain loop's bits. float64 merges are rare and take plain loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace mf {

// out[e] = x[e] - base[e], for e < n.
void subtract(const float* x, const float* base, size_t n, float* out);
void subtract(const double* x, const double* base, size_t n, double* out);

// Zeroes the elements whose magnitude key (magnitude_selection.hpp) is below `lowest_kept`.
void zero_magnitudes_below(std::span<float> values, uint32_t lowest_kept);
void zero_magnitudes_below(std::span<double> values, uint64_t lowest_kept);

}  // namespace mf
