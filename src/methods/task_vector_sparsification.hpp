// Sparsifiers for task vectors (d = x - base) in the generalized task-arithmetic family: which
// entries of a fine-tuning delta survive before the deltas are combined. COMPAT.md, "Generalized
// task arithmetic", step 2 (the sparsifiers) and step 3 (rescaling).
#pragma once

#include <cstdint>
#include <span>

namespace mf {

enum class Sparsifier {
  None,               // task_arithmetic: every entry survives
  Magnitude,          // ties: the k = max(1, int(density n)) largest |d|
  Random,             // dare: each entry independently with probability density
  MagnitudeOutliers,  // breadcrumbs: a band of ranks, dropping the smallest and the gamma n largest
  DellaMagprune,      // della: probability rising linearly with the rank along dim 1
};

struct SparsifyParams {
  double density = 1.0;
  double gamma = 0.0;    // MagnitudeOutliers: fraction of the largest entries dropped
  double epsilon = 0.0;  // DellaMagprune: half-width of the probability band around density
  bool rescale = false;  // multiply the survivors by L1(d) / L1(kept)
  uint64_t key = 0;      // Random, DellaMagprune: counter-based generator key of this task vector
};

// Sparsifies `delta` in place. `shape` is the tensor's shape (della ranks along its dim 1).
template <class T>
void sparsify_task_vector(std::span<T> delta, std::span<const int64_t> shape, Sparsifier sparsifier,
                          const SparsifyParams& params);

// Whether della's keep probabilities density +- epsilon lie strictly inside (0, 1). A density >= 1
// or <= 0 needs no probabilities and always passes.
bool della_band_is_valid(double density, double epsilon);

// Throws Error(InvalidConfig) unless della_band_is_valid: the plan-time check of della's
// parameters.
void check_della_probability_band(double density, double epsilon);

}  // namespace mf
