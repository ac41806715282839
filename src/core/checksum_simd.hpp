// The word loop of tensor_checksum (checksum.hpp) as a Highway kernel dispatched at run time: the
// position multiplier takes three 64-bit multiplies per 8-byte word, and the plain loop, at about
// 5 GB/s, was a fifth of a linear merge's CPU time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mf {

namespace checksum_detail {

inline constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
inline constexpr uint64_t kWordSalt = 0x632BE59BD9B4E019ull;
inline constexpr uint64_t kMix1 = 0xBF58476D1CE4E5B9ull;
inline constexpr uint64_t kMix2 = 0x94D049BB133111EBull;

inline uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= kMix1;
  x ^= x >> 27;
  x *= kMix2;
  x ^= x >> 31;
  return x;
}

// The multiplier of the word at `word` (its offset / 8): odd, so a word's product changes with it.
inline uint64_t word_multiplier(uint64_t word) { return mix(word * kMul + kWordSalt) | 1; }

}  // namespace checksum_detail

// The sum (mod 2^64) over the `words` 8-byte words at `bytes` (any alignment) of word i, read
// little-endian, times word_multiplier(first_word + i).
uint64_t checksum_words(const uint8_t* bytes, size_t words, uint64_t first_word);

}  // namespace mf
