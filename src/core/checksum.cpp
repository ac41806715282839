#include "core/checksum.hpp"

#include <cstring>

#include "core/checksum_simd.hpp"

namespace mf {

using checksum_detail::kMul;
using checksum_detail::mix;
using checksum_detail::word_multiplier;

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

uint64_t tensor_checksum(std::span<const uint8_t> bytes, uint64_t offset) {
  // A word cut by a piece boundary contributes its bytes shifted to their lanes; the products of
  // the parts add up to the product of the whole word.
  uint64_t sum = 0;
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0 && offset % 8 != 0) {
    sum += (uint64_t(*p) << (8 * (offset % 8))) * word_multiplier(offset / 8);
    ++p, ++offset, --n;
  }
  const size_t words = n / 8;
  sum += checksum_words(p, words, offset / 8);
  p += 8 * words, offset += 8 * words, n -= 8 * words;
  for (; n > 0; ++p, ++offset, --n)
    sum += (uint64_t(*p) << (8 * (offset % 8))) * word_multiplier(offset / 8);
  return sum;
}

}  // namespace mf
