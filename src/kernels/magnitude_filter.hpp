// The filters of magnitude cuts (chunked_selection.cpp). Of a run of values, the magnitude keys
// (magnitude_selection.hpp) whose decided digits equal the prefix found so far (the later histogram
// passes), or that fall in a band of keys a sample says holds the cut (the pass that counts
// them). Once the first digit is known, only the elements in its bin matter; a scalar loop that
// tests each element mispredicts a branch whenever that bin is well filled, which it is at a cut
// near the median of bf16 deltas. The float version is a Highway kernel (compare and compress,
// no branch per element), dispatched at run time to the best target the CPU has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace mf {

// Writes to out[0 .. m) the keys k of the values, in order, with (k & mask) == prefix, and returns
// m. `out` has room for values.size() keys.
size_t matching_magnitude_keys(std::span<const float> values, uint32_t mask, uint32_t prefix,
                               uint32_t* out);
size_t matching_magnitude_keys(std::span<const double> values, uint64_t mask, uint64_t prefix,
                               uint64_t* out);

struct BandCount {
  size_t inside = 0;  // keys in [low, high], written to `out`
  size_t above = 0;   // keys above `high`
  size_t at_low = 0;  // keys equal to `low`
};
// Writes to out[0 .. inside) the keys k of the values, in order, with low <= k <= high, and counts
// the keys above high and those equal to low. `out` has room for values.size() keys, or is null:
// then it only counts.
// float only: the sampled cuts that use it are made for float merges.
BandCount band_magnitude_keys(std::span<const float> values, uint32_t low, uint32_t high,
                              uint32_t* out);

}  // namespace mf
