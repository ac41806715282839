// The whole-tensor sums of the streaming kernels (rescale's L1 norms; slerp's squared norms and dot
// product) as Highway kernels, dispatched at run time. Each gives double_sum's bits exactly: the
// same eight partial sums (element e goes to partial e % 8, in index order) and the same final
// tree, with the vector lanes standing for the partials (one AVX-512 vector of doubles, two AVX2
// ones, four SSE ones). A NaN sum is NaN in both, but its sign may differ (x86 keeps the first
// operand's NaN, and the compiler may swap the operands of a scalar +).
#pragma once

#include <cstddef>
#include <span>

namespace mf {

// sum of |x| over the values, in double.
double abs_sum(std::span<const float> values);

struct DotSums {
  double aa = 0, bb = 0, ab = 0;  // sum of a*a, b*b and a*b, in double
};
// The three sums of two runs of n floats, in one pass.
DotSums dot_sums(const float* a, const float* b, size_t n);

}  // namespace mf
