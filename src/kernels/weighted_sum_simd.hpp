// The loops of a weighted sum of inputs, sum_i w_i x_i, term by term into an output chunk (linear):
// Highway kernels dispatched at run time, each with the plain loop's bits (a multiply, then an
// add: the build does not fuse them). Each takes its input as float or as stored bf16 (need not be
// aligned; the conversion fused into the loop, bit for bit convert_to followed by the float
// kernel). float64 merges are rare and take plain loops.
#pragma once

#include <cstddef>

namespace mf {

// out[e] = 0 + x[e] * w: the first term (the 0 makes a -0 product +0, as accumulating into zeros).
void first_term(const float* x, float w, size_t n, float* out);
void first_term(const double* x, double w, size_t n, double* out);
void first_term_bf16(const void* x, float w, size_t n, float* out);
// out[e] += x[e] * w: every later term.
void add_term(const float* x, float w, size_t n, float* out);
void add_term(const double* x, double w, size_t n, double* out);
void add_term_bf16(const void* x, float w, size_t n, float* out);
// out[e] /= divisor.
void divide(float* out, float divisor, size_t n);
void divide(double* out, double divisor, size_t n);

}  // namespace mf
