// Magnitudes as unsigned integer keys: what the magnitude filters compare and what selection
// counts in histograms of their digits.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

namespace mf {

// The bits of |x| read as an unsigned integer order non-negative floats exactly like their values
// (zeros, subnormals and infinities included), and put NaN above infinity.
template <class T>
using MagnitudeKey = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

template <class T>
inline MagnitudeKey<T> magnitude_key(T x) {
  using K = MagnitudeKey<T>;
  static_assert(sizeof(K) == sizeof(T));
  constexpr K kSignBit = K(1) << (8 * sizeof(K) - 1);
  return std::bit_cast<K>(x) & ~kSignBit;
}

// The sign bit of a key is always clear: float keys have 31 significant bits, double keys 63.
template <class K>
constexpr int digit_count(int digit_bits) {
  return (int(8 * sizeof(K)) - 1 + digit_bits - 1) / digit_bits;
}

}  // namespace mf
