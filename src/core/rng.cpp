#include "core/rng.hpp"

#include <cmath>

#include "core/philox_simd.hpp"

namespace mf {

namespace {

// One block on plain scalars: single draws and the ends of a fill (philox_simd.cpp does the bulk).
inline void philox_rounds(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3, uint32_t k0,
                          uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kPhiloxMultiplier0) * c0;
    const uint64_t p1 = uint64_t(kPhiloxMultiplier1) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += kPhiloxWeyl0;
    k1 += kPhiloxWeyl1;
  }
}

// 24 bits scaled by 2^-24: every result is an exact float strictly below 1.
inline float to_unit(uint32_t bits) { return float(bits >> 8) * 0x1.0p-24f; }

// The splitmix64 finaliser: a bijective avalanche on 64 bits.
inline uint64_t avalanche(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(std::string_view text) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 0x100000001B3ull;
  }
  return h;
}

}  // namespace

PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key) {
  philox_rounds(counter[0], counter[1], counter[2], counter[3], key[0], key[1]);
  return counter;
}

uint64_t tensor_key(uint64_t seed, std::string_view tensor_name) {
  // The golden-ratio offset keeps seed 0 from feeding a zero into the finaliser.
  return avalanche(fnv1a64(tensor_name) ^ avalanche(seed + 0x9E3779B97F4A7C15ull));
}

uint64_t stream_key(uint64_t key, uint64_t stream) {
  return avalanche(key ^ avalanche(stream + 0x632BE59BD9B4E019ull));
}

float uniform01(uint64_t key, uint64_t index) {
  const uint64_t block = index / 4;
  uint32_t c[4] = {uint32_t(block), uint32_t(block >> 32), 0, 0};
  philox_rounds(c[0], c[1], c[2], c[3], uint32_t(key), uint32_t(key >> 32));
  return to_unit(c[index % 4]);
}

void fill_uniform01(uint64_t key, uint64_t first_index, std::span<float> out) {
  size_t j = 0;
  const size_t n = out.size();
  // A leading partial block up to the next multiple of four.
  while (j < n && (first_index + j) % 4 != 0) {
    out[j] = uniform01(key, first_index + j);
    ++j;
  }
  // Whole blocks in SIMD lanes, what is left one by one.
  const size_t blocks = (n - j) / 4;
  j += 4 * simd::philox_uniform01_blocks(key, (first_index + j) / 4, blocks, out.data() + j);
  for (; j < n; ++j) out[j] = uniform01(key, first_index + j);
}

void fill_bernoulli_bits(uint64_t key, uint64_t first_index, size_t n, double p, uint8_t* bits) {
  // u = m 2^-24 for the integer m = word >> 8, and p 2^24 is exact: u < p iff m < ceil(p 2^24).
  const double clamped = p >= 1 ? 1.0 : p > 0 ? p : 0.0;  // NaN: nothing is below it
  const uint32_t threshold = uint32_t(std::ceil(clamped * 0x1.0p24));
  size_t j = 0;
  // The SIMD blocks write whole bytes, so they start on a block that starts a byte: at once or
  // never.
  if (first_index % 4 == 0)
    j = 4 * simd::philox_below_blocks(key, first_index / 4, n / 4, threshold, bits);
  for (; j < n; ++j) {
    if (j % 8 == 0) bits[j / 8] = 0;
    bits[j / 8] |= uint8_t(double(uniform01(key, first_index + j)) < p) << (j % 8);
  }
}

}  // namespace mf
