// Counter-based random numbers for the random merge methods (dare_*, della*). The value drawn for
// an element is a pure function of a key and the element's flat index, so a merge gives the same
// bits whatever the thread count, the chunk size or the order in which tensors are processed. There
// is no generator state to share.
//
// The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC'11): one call turns a 128-bit counter and a 64-bit key into 128 random bits. Element i takes
// 32-bit word i % 4 of the block at counter i / 4, so a block fill and single draws agree.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace mf {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// The raw Philox4x32 block function with 10 rounds.
PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key);

// The key for one tensor: a 64-bit hash of its name mixed with the recipe's seed, so every tensor
// draws an independent stream that does not depend on which other tensors the merge contains.
uint64_t tensor_key(uint64_t seed, std::string_view tensor_name);

// An independent sub-stream of `key`, e.g. one per input model of a tensor so that each model's
// task vector gets its own mask.
uint64_t stream_key(uint64_t key, uint64_t stream);

// A uniform number in [0, 1) with 24 random bits (every value exactly representable as a float).
float uniform01(uint64_t key, uint64_t index);

// out[j] = uniform01(key, first_index + j), computed with one Philox call per four values.
void fill_uniform01(uint64_t key, uint64_t first_index, std::span<float> out);

// Bit j of `bits` (LSB first in each byte; (n + 7) / 8 bytes written) says whether
// uniform01(key, first_index + j) < p, for j < n: Bernoulli(p) draws, compared on the uniforms'
// integer bits without making the floats.
void fill_bernoulli_bits(uint64_t key, uint64_t first_index, size_t n, double p, uint8_t* bits);

}  // namespace mf
