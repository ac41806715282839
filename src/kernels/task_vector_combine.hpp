// Steps 4-6 of generalized task arithmetic on one run of elements: weigh the (sparsified) task
// vectors, optionally keep only those agreeing with the sign vote, sum, optionally divide by the
// summed weights of the contributors, scale by lambda and add to the base.
//
// The arithmetic runs in double (the product of a float weight and a float delta is exact there)
// and the result is rounded once to the element type. The sign vote alone is MergeKit's in the
// compute type: with float elements each w d is rounded to float and the products are summed in
// float in model order, a sum of exactly 0 electing +, as torch's (weights * deltas).sum(dim=0)
// >= 0 does in a float32 merge; a product that rounds to 0 agrees with neither sign. In double the
// bf16-quantized deltas -2^-12 and 1.5 * 2^-12 with weights float(0.6) and float(0.4) sum to
// -2^-12 * 1.5e-8 and would elect -. The float version is Highway SIMD, compiled for several x86
// targets and dispatched at run time; every target gives the scalar reference's bits (no fused
// multiply-adds: the build turns contraction off).
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
    // The vote in T (see above): ties go to the positive sign; a zero agrees with neither sign.
    T majority = 0;
    for (size_t i = 0; i < models; ++i) majority += T(p.weights[i]) * deltas[i][e];
    const T sign = majority >= 0 ? T(1) : T(-1);
    divisor = 0;
    for (size_t i = 0; i < models; ++i) {
      const double wd = p.weights[i] * double(deltas[i][e]);
      const bool agrees = T(p.weights[i]) * deltas[i][e] * sign > 0;
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
