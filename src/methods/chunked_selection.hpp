// Top-k by magnitude over a tensor seen in chunks (methods/tensor_stream.hpp): the same total
// order and tie rule as magnitude_selection.hpp (larger |x| first, among equal |x| the lower flat
// index first), so a chunked merge selects exactly what a whole-tensor one does.
//
// The cut is found with one histogram pass over the chunks per 16-bit digit of the key (two for
// float, four for double). When the cut splits a run of equal magnitudes, each chunk needs the
// count of equal elements before it, so it knows how many of the ties before it were taken and
// chunks can then be decided in any order, on any thread. The last pass counts them per chunk for
// a threshold whose last digit is 0 (the common case for deltas of bf16 weights); any other
// threshold takes one more pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "methods/magnitude_selection.hpp"
#include "methods/tensor_stream.hpp"

namespace mf {

// Computes the vectors a selection ranks (task vectors) for one chunk: out[v] = the chunk's
// elements of vector v, in scratch the function owns (per thread), which the caller may modify.
template <class T>
using ChunkVectors = std::function<void(const Chunk<T>&, std::vector<std::span<T>>& out)>;

// The first k elements of the descending magnitude order of one vector of a tensor.
template <class T>
class TopMagnitudes {
 public:
  using Key = MagnitudeKey<T>;

  TopMagnitudes(size_t vector, size_t k) : vector_(vector), k_(k) {}
  size_t vector() const { return vector_; }

  // keep[j] = whether element j of chunk `chunk_index` (values[j]) is in the set. Needs the cut
  // (find_magnitude_cuts) unless k is 0 or covers the tensor.
  void mark(size_t chunk_index, std::span<const T> values, uint8_t* keep) const;
  // The same selection in place: the elements of the chunk not in the set become zero.
  void keep(size_t chunk_index, std::span<T> values) const;
  // Keeps the elements in this set but not in `inner`, a smaller set of the same vector
  // (breadcrumbs: a band of ranks); the others become zero.
  void keep_without(const TopMagnitudes& inner, size_t chunk_index, std::span<T> values) const;

 private:
  template <class U>
  friend void find_magnitude_cuts(TensorStream<U>& stream, size_t numel,
                                  std::span<TopMagnitudes<U>> sets, const ChunkVectors<U>& values);

  // The lowest key kept in a chunk where a comparison decides alone (every tie in it is taken, or
  // none is): 0 for a set of all, 2^(bits - 1), above every key, for an empty set; nullopt in the
  // chunk where the taken ties end.
  std::optional<Key> lowest_kept(size_t chunk_index) const;

  enum class Mode { None, All, Cut };
  size_t vector_;
  size_t k_;
  Mode mode_ = Mode::None;
  Key threshold_ = 0;
  size_t ties_ = 0;  // elements equal to the threshold that are in the set (lowest index first)
  // Per chunk, elements equal to the threshold in the chunks before it; empty when every tie is
  // taken.
  std::vector<size_t> ties_before_;
};

// Finds the cuts of several sets with shared passes over the stream (each chunk's vectors are
// computed once per pass for all the sets).
template <class T>
void find_magnitude_cuts(TensorStream<T>& stream, size_t numel, std::span<TopMagnitudes<T>> sets,
                         const ChunkVectors<T>& values);

}  // namespace mf
