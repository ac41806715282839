// The whole-tensor sums of the streaming kernels (rescale's L1 norms; slerp's squared norms and dot
// product) as Highway kernels, dispatched at run time. Each gives double_sum's bits exactly: the
// same eight partial sums (element e goes to partial e % 8, in index order) and the same final
// tree, with the vector lanes standing for the partials (one AVX-512 vector of doubles, two AVX2
// ones, four SSE ones). A NaN sum is NaN in both, but its sign may differ (x86 keeps the first
// operand's NaN, and the compiler may swap the operands of a scalar +).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace mf {

// sum of |x| over the values, in double.
double abs_sum(std::span<const float> values);

struct KeptAbsSums {
  double all = 0, kept = 0;  // sum of |x| over every value, over the kept ones
};
// Both sums in one pass: `kept` is the sum over the values with the dropped ones zeroed, a kept
// value's bit in `keep` set (bit j % 8 of keep[j / 8]).
KeptAbsSums kept_abs_sums(std::span<const float> values, const uint8_t* keep);

struct DotSums {
  double aa = 0, bb = 0, ab = 0;  // sum of a*a, b*b and a*b, in double
};
// The three sums of two runs of n floats, in one pass.
DotSums dot_sums(const float* a, const float* b, size_t n);

}  // namespace mf
