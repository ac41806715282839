// Highway SIMD Philox4x32-10 behind fill_uniform01 (rng.hpp): many counter blocks at once, one
// per 64-bit lane, with the 32x32->64 multiplies done lane-wise. Dispatched at run time to the
// best x86 target the CPU has; the values are the scalar generator's, bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mf {

// Philox4x32-10's constants (Salmon et al., SC'11): round multipliers and the Weyl sequence that
// bumps the key each round.
inline constexpr uint32_t kPhiloxMultiplier0 = 0xD2511F53u;
inline constexpr uint32_t kPhiloxMultiplier1 = 0xCD9E8D57u;
inline constexpr uint32_t kPhiloxWeyl0 = 0x9E3779B9u;
inline constexpr uint32_t kPhiloxWeyl1 = 0xBB67AE85u;

namespace simd {

// For b < the returned count (a multiple of the vector's block count, <= blocks): the four
// uniforms of Philox block first_block + b go to out[4b .. 4b+3]. The caller does the rest.
size_t philox_uniform01_blocks(uint64_t key, uint64_t first_block, size_t blocks, float* out);

// The same blocks as comparisons: bit 4b + w of `bits` (LSB first in each byte) says whether word
// w's 24 uniform bits (word >> 8) are below `threshold` (at most 2^24). The returned count is even,
// so whole bytes are written.
size_t philox_below_blocks(uint64_t key, uint64_t first_block, size_t blocks, uint32_t threshold,
                           uint8_t* bits);

}  // namespace simd
}  // namespace mf
