// Highway kernel of checksum_simd.hpp; see dtype_simd.cpp for how foreach_target and the dispatch
// work. Highway 1.0 has no 64-bit lane multiply, so it is built from 32x32->64 MulEven.
#include "core/checksum_simd.hpp"

#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/checksum_simd.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace mf {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<uint64_t>;
using V = hn::Vec<D>;

// The low 64 bits of a * b: aL*bL + ((aH*bL + aL*bH) << 32).
HWY_INLINE V Mul64(V a, V b) {
#if HWY_TARGET == HWY_SCALAR  // one lane, which cannot be split into two 32-bit ones
  return hn::Set(D(), hn::GetLane(a) * hn::GetLane(b));
#else
  const hn::Repartition<uint32_t, D> d32;
  const auto a32 = hn::BitCast(d32, a), b32 = hn::BitCast(d32, b);
  const auto ah = hn::BitCast(d32, hn::ShiftRight<32>(a));
  const auto bh = hn::BitCast(d32, hn::ShiftRight<32>(b));
  const V cross = hn::Add(hn::MulEven(ah, b32), hn::MulEven(a32, bh));
  return hn::Add(hn::MulEven(a32, b32), hn::ShiftLeft<32>(cross));
#endif
}

// checksum_detail::mix, lane-wise.
HWY_INLINE V Mix(V x) {
  const D d;
  x = hn::Xor(x, hn::ShiftRight<30>(x));
  x = Mul64(x, hn::Set(d, checksum_detail::kMix1));
  x = hn::Xor(x, hn::ShiftRight<27>(x));
  x = Mul64(x, hn::Set(d, checksum_detail::kMix2));
  return hn::Xor(x, hn::ShiftRight<31>(x));
}

uint64_t ChecksumWords(const uint8_t* HWY_RESTRICT bytes, size_t words, uint64_t first_word) {
  const D d;
  const size_t N = hn::Lanes(d);
  const V mul = hn::Set(d, checksum_detail::kMul), salt = hn::Set(d, checksum_detail::kWordSalt);
  const V one = hn::Set(d, 1);
  V index = hn::Iota(d, first_word);  // wraps like the plain loop's uint64_t
  const V step = hn::Set(d, uint64_t(N));
  V sum = hn::Zero(d);
  size_t i = 0;
  for (; i + N <= words; i += N) {
    // Byte pointers cast to uint64_t* are only used by LoadU, which allows any alignment.
    const V word = hn::LoadU(d, reinterpret_cast<const uint64_t*>(bytes + 8 * i));
    const V multiplier = hn::Or(Mix(hn::Add(Mul64(index, mul), salt)), one);
    sum = hn::Add(sum, Mul64(word, multiplier));
    index = hn::Add(index, step);
  }
  HWY_ALIGN uint64_t lanes[HWY_MAX_BYTES / sizeof(uint64_t)];
  hn::Store(sum, d, lanes);
  uint64_t total = 0;
  for (size_t l = 0; l < N; ++l) total += lanes[l];
  for (; i < words; ++i) {
    uint64_t w;
    std::memcpy(&w, bytes + 8 * i, 8);
    total += w * checksum_detail::word_multiplier(first_word + i);
  }
  return total;
}

}  // namespace HWY_NAMESPACE
}  // namespace mf
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mf {

HWY_EXPORT(ChecksumWords);

uint64_t checksum_words(const uint8_t* bytes, size_t words, uint64_t first_word) {
  return HWY_DYNAMIC_DISPATCH(ChecksumWords)(bytes, words, first_word);
}

}  // namespace mf
#endif  // HWY_ONCE
