// Sums over a whole tensor (L1 norms, squared norms, dot products) accumulated in double even when
// the elements are float, so that a reduction over billions of elements loses no precision that
// matters. Eight independent partial sums break the chain of dependent additions, which would
// otherwise bound the loop at one element per add latency; the split is fixed, so the result
// depends only on the data.
#pragma once

#include <cstddef>

namespace mf {

// sum over e in [0, n) of term(e), where term returns double.
template <class Term>
double double_sum(size_t n, Term term) {
  constexpr size_t kLanes = 8;
  double partial[kLanes] = {};
  size_t e = 0;
  for (; e + kLanes <= n; e += kLanes)
    for (size_t lane = 0; lane < kLanes; ++lane) partial[lane] += term(e + lane);
  for (; e < n; ++e) partial[e % kLanes] += term(e);
  return ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
         ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

}  // namespace mf
