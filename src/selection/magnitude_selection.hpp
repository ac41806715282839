// Selection by magnitude for the sparsifiers of the task-arithmetic family (ties, breadcrumbs,
// della).
//
// Every selection here uses ONE total order on the elements of a tensor, the descending magnitude
// order: larger |x| first; among equal |x|, the lower flat index first; NaN counts as larger than
// every number, as in torch.sort. Fine-tuning deltas in bf16 take few distinct values, so many
// elements tie at a cut, and a fixed rule makes the selection reproducible (COMPAT.md, "Matching
// policy": among equal magnitudes at the cut, the lowest flat indices are kept). Ascending ranks
// are the exact reverse of that order: rank 0 (or 1) is the smallest |x| and, among equal |x|, the
// HIGHEST flat index. Because the order is total, the top-k sets are nested and a rank range is the
// difference of two of them.
//
// Whole-tensor selections are O(n): a radix select over the bits of |x| (histogram passes of 16
// bits: two for float, four for double) finds the cut, then one pass marks the kept elements.
// Nothing is sorted and no per-element index array is allocated.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "core/error.hpp"
#include "kernels/magnitude_key.hpp"

namespace mf {

// Selection scans the whole tensor once per digit, so it uses few wide digits (2 for float, 4 for
// double).
constexpr int kSelectDigitBits = 16;

// Whole-tensor selection. Merges cut streamed tensors with chunked_selection.hpp; sce keeps its
// top variances with keep_top_magnitudes. The mark_* and *_rank_range forms serve as the whole-
// tensor statement of the same total order, which the tests check the chunked cuts against and
// bench/micro measures; they live here, beside the selection they share, not in the tests.

// keep[i] = 1 for the k elements first in descending magnitude order, 0 for the others. k >= n
// keeps all.
template <class T>
void mark_top_magnitudes(std::span<const T> values, size_t k, std::span<uint8_t> keep);
// The same selection in place: the elements not kept become zero. No scratch proportional to the
// tensor.
template <class T>
void keep_top_magnitudes(std::span<T> values, size_t k);

// keep[i] = 1 for the elements whose 0-based ascending magnitude rank lies in [first, last), 0 for
// the others (breadcrumbs: drop the smallest and the largest). Bounds past n are clamped.
template <class T>
void mark_magnitude_rank_range(std::span<const T> values, size_t first, size_t last,
                               std::span<uint8_t> keep);
// The same selection in place.
template <class T>
void keep_magnitude_rank_range(std::span<T> values, size_t first, size_t last);

// ranks[j] = the 1-based ascending magnitude rank of line[j] within the line (della ranks each
// row). O(m) time and O(m) scratch per line of length m < 2^32: a count of each distinct magnitude
// (rank_by_high_digit, else in a hash table when the line has at most 512; bf16 deltas: 1.5-2.7x
// faster than sorting in BM_ascending_magnitude_ranks_rows), else an LSD radix sort.
template <class T>
void ascending_magnitude_ranks(std::span<const T> line, std::span<uint32_t> ranks);

// The first way ascending_magnitude_ranks tries, for the lines of bf16 deltas in a float merge:
// nearly every key has a low 16-bit digit of 0, and the high digits of the nonzero keys span fewer
// than 4095 values, so a table indexed by the high digit counts each magnitude in order, without
// hashing or sorting (the few other keys are sorted apart). Returns false, having written nothing,
// for a line of a wider span (and every double line).
template <class T>
bool rank_by_high_digit(std::span<const T> line, std::span<uint32_t> ranks);

}  // namespace mf
