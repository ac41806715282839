#include "core/checksum.hpp"

#include <cstring>

namespace mf {

namespace {

constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;

inline uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t checksum64(std::span<const uint8_t> bytes) {
  // Four independent lanes over 8-byte words keep the multiplies pipelined; lanes are mixed at the
  // end.
  uint64_t lanes[4] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull,
                       0x082EFA98EC4E6C89ull};
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int l = 0; l < 4; ++l) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * l, 8);
      lanes[l] = (lanes[l] ^ w) * kMul;
      lanes[l] ^= lanes[l] >> 29;
    }
  }
  uint64_t h = mix(lanes[0]) ^ (mix(lanes[1]) * 3) ^ (mix(lanes[2]) * 5) ^ (mix(lanes[3]) * 7);
  for (; i < n; ++i) h = (h ^ p[i]) * kMul;
  return mix(h ^ uint64_t(n));
}

}  // namespace mf
