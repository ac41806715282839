// Top-k by magnitude over a tensor seen in chunks (core/tensor_stream.hpp): the same total
// order and tie rule as magnitude_selection.hpp (larger |x| first, among equal |x| the lower flat
// index first), so a chunked merge selects exactly what a whole-tensor one does.
//
// A large tensor's cut is found in two passes: a sample of every chunk bounds the cut to a narrow
// band of keys, and one pass counts the keys in it (find_magnitude_cuts). Otherwise, or when the
// band misses, with one histogram pass over the chunks per 16-bit digit of the key (two for float,
// four for double). When the cut splits a run of equal magnitudes, each chunk needs the count of
// equal elements before it, so it knows how many of the ties before it were taken and chunks can
// then be decided in any order, on any thread. The radix search counts them in its last pass for a
// threshold whose last digit is 0 (the common case for deltas of bf16 weights); any other threshold
// takes one more pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "core/tensor_stream.hpp"
#include "selection/magnitude_selection.hpp"

namespace mf {

// Computes the vectors a selection ranks (task vectors) for one chunk: out[v] = the chunk's
// elements of vector v, in scratch the function owns (per thread), which the caller may modify.
// It may also be given a piece of a chunk (the same index, a later offset, fewer elements): it must
// depend on the chunk's elements and offset only.
template <class T>
using ChunkVectors = std::function<void(const Chunk<T>&, std::vector<std::span<T>>& out)>;

// Tensors of this many elements and more are cut from a sample first: below it, the radix passes
// cost little and a sample would say little.
constexpr size_t kSampledCutFrom = size_t(1) << 20;
// The sample reads one element in kSampleShare, in pieces of kSamplePiece elements (fewer in a
// chunk too small for one whole piece).
constexpr size_t kSampleShare = 16;
constexpr size_t kSamplePiece = 256;
// A band of the first digit's bins wider than this (a tensor with a smooth spread of magnitudes)
// leaves the cut to the radix search.
constexpr size_t kBandBins = 256;

// A run of a chunk's elements: [start, start + count).
struct SampleWindow {
  size_t start = 0;
  size_t count = 0;
};
// The pieces of a chunk of `count` elements that the sample reads, evenly spaced from an offset
// that varies from chunk to chunk.
void sample_pieces(size_t chunk_index, size_t count, std::vector<SampleWindow>& pieces);

// How find_magnitude_cuts went: the passes it made over the stream, and whether the sample's bands
// found every cut (otherwise the radix passes followed the sampled search's one or two).
struct CutSearch {
  int passes = 0;
  bool sampled = false;
};

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
  friend CutSearch find_magnitude_cuts(TensorStream<U>& stream, size_t numel,
                                       std::span<TopMagnitudes<U>> sets,
                                       const ChunkVectors<U>& values, size_t sample_from);

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
CutSearch find_magnitude_cuts(TensorStream<T>& stream, size_t numel,
                              std::span<TopMagnitudes<T>> sets, const ChunkVectors<T>& values,
                              size_t sample_from = kSampledCutFrom);

}  // namespace mf
