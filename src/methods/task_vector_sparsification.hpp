// Sparsifiers for task vectors (d = x - base) in the generalized task-arithmetic family: which
// entries of a fine-tuning delta survive before the deltas are combined. COMPAT.md, "Generalized
// task arithmetic", step 2 (the sparsifiers) and step 3 (rescaling).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor_stream.hpp"
#include "selection/chunked_selection.hpp"

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
  bool rescale = false;  // multiply the survivors by L1(d) / L1(kept) (over the whole tensor)
  uint64_t key = 0;      // Random, DellaMagprune: counter-based generator key of this task vector
};

// The sparsification of the task vectors of one tensor streamed in chunks. Whatever needs the whole
// tensor (the magnitude cut of ties and breadcrumbs, the L1 norms that `rescale` restores) is found
// by statistics passes when it is constructed; apply() then decides any chunk on its own.
template <class T>
class TaskVectorSparsifier {
 public:
  // params: one entry per task vector; task_vectors computes them for a chunk.
  TaskVectorSparsifier(Sparsifier kind, std::vector<SparsifyParams> params,
                       std::span<const int64_t> shape, TensorStream<T>& stream,
                       const ChunkVectors<T>& task_vectors);
  // Sparsifies and rescales task vector v of chunk c (delta: its chunk elements) in place.
  void apply(const Chunk<T>& c, size_t v, std::span<T> delta) const;

  // Elements that must share a chunk: della ranks whole lines.
  static size_t granule(Sparsifier kind, std::span<const int64_t> shape);

 private:
  void mask(const Chunk<T>& c, size_t v, std::span<T> delta) const;
  void mask_della(const Chunk<T>& c, const SparsifyParams& p, std::span<T> delta) const;

  Sparsifier kind_;
  std::vector<SparsifyParams> params_;
  size_t numel_ = 0;
  // della's lines: `outer` slices along dim 0, each of `inner` lines of `length` elements strided
  // by `inner`.
  size_t length_ = 0, inner_ = 1;
  std::vector<TopMagnitudes<T>> sets_;
  std::vector<int> outer_set_, inner_set_;  // per vector: index into sets_, -1 when none
  std::vector<T> factors_;                  // per vector: the rescale factor (1: none)
  // della's and dare's masks from the rescale pass, kept for the output pass when they fit the
  // stream's scratch (each line is then ranked, each draw made, once): bit j of
  // kept_[v * chunks + c] says whether element j of chunk c of vector v survived. Empty: recompute.
  std::vector<std::vector<uint8_t>> kept_;
  size_t chunks_ = 0;
};

// Whether della's keep probabilities density +- epsilon lie strictly inside (0, 1). A density >= 1
// or <= 0 needs no probabilities and always passes.
bool della_band_is_valid(double density, double epsilon);

// Throws Error(InvalidConfig) unless della_band_is_valid: the plan-time check of della's
// parameters.
void check_della_probability_band(double density, double epsilon);

}  // namespace mf
