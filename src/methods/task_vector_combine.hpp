// Steps 4-6 of generalized task arithmetic on one run of elements: weigh the (sparsified) task
// vectors, optionally keep only those agreeing with the sign vote, sum, optionally divide by the
// summed weights of the contributors, scale by lambda and add to the base.
//
// The arithmetic runs in double (the product of a float weight and a float delta is exact there)
// and the result is rounded once to the element type. The float version is Highway SIMD, compiled
// for several x86 targets and dispatched at run time; every target gives the scalar reference's
// bits (no fused multiply-adds: the build turns contraction off).
#pragma once

#include <cstddef>
#include <vector>

namespace mf {

struct CombineParams {
  bool vote = false;       // TIES sign consensus: only deltas of the majority sign contribute
  bool normalize = false;  // divide by the summed weights of the contributors
  double lambda = 1;
  std::vector<double> weights;  // per task vector
  double weight_sum = 0;        // the divisor without a vote
};

// result[e] = base[e] + combined deltas[*][e], for e < n.
void combine_task_vectors(const CombineParams& p, size_t n, const float* base,
                          const float* const* deltas, float* result);
void combine_task_vectors(const CombineParams& p, size_t n, const double* base,
                          const double* const* deltas, double* result);

// The scalar reference of one element, which the SIMD code must match bit for bit.
template <class T>
T combine_element(const CombineParams& p, size_t e, const T* base, const T* const* deltas) {
  const size_t models = p.weights.size();
  double mixed = 0, divisor = p.weight_sum;
  if (p.vote) {
    // Ties in the vote go to the positive sign; a zero agrees with neither sign.
    double majority = 0;
    for (size_t i = 0; i < models; ++i) majority += p.weights[i] * double(deltas[i][e]);
    const double sign = majority >= 0 ? 1.0 : -1.0;
    divisor = 0;
    for (size_t i = 0; i < models; ++i) {
      const double wd = p.weights[i] * double(deltas[i][e]);
      const bool agrees = wd * sign > 0;
      mixed += agrees ? wd : 0.0;
      divisor += agrees ? p.weights[i] : 0.0;
    }
    if (divisor == 0) divisor = 1;
  } else {
    for (size_t i = 0; i < models; ++i) mixed += p.weights[i] * double(deltas[i][e]);
  }
  const double scaled = p.normalize ? mixed / divisor * p.lambda : mixed * p.lambda;
  return T(double(base[e]) + scaled);
}

}  // namespace mf
