// Highway kernel of magnitude_filter.hpp; see core/dtype_simd.cpp for how foreach_target and the
// dispatch work. The matching keys are compressed in a register and the whole vector stored at
// out + count (AVX-512's compress-to-memory instruction is microcoded and many times slower on AMD
// Zen 4); count never exceeds the elements read so far, so the store stays inside the caller's
// values.size() keys. The elements past the last whole vector take the scalar loop.
#include "kernels/magnitude_filter.hpp"

#include "kernels/magnitude_key.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/magnitude_filter.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace mf {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

size_t MatchingKeysF32(const float* HWY_RESTRICT values, size_t n, uint32_t mask, uint32_t prefix,
                       uint32_t* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const size_t N = hn::Lanes(du);
  const auto magnitude_bits = hn::Set(du, 0x7fffffffu);
  const auto mask_v = hn::Set(du, mask);
  const auto prefix_v = hn::Set(du, prefix);
  size_t count = 0, i = 0;
  for (; i + N <= n; i += N) {
    const auto key = hn::And(hn::BitCast(du, hn::LoadU(df, values + i)), magnitude_bits);
    const auto match = hn::Eq(hn::And(key, mask_v), prefix_v);
    hn::StoreU(hn::Compress(key, match), du, out + count);
    count += hn::CountTrue(du, match);
  }
  for (; i < n; ++i) {
    const uint32_t key = magnitude_key(values[i]);
    out[count] = key;
    count += (key & mask) == prefix;
  }
  return count;
}

// Keys have the sign bit clear, so signed compares (one instruction on every x86 target) order
// them as unsigned ones do.
template <bool kWrite>
BandCount BandKeys(const float* HWY_RESTRICT values, size_t n, uint32_t low, uint32_t high,
                   uint32_t* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const size_t N = hn::Lanes(di);
  const auto magnitude_bits = hn::Set(di, 0x7fffffff);
  const auto low_v = hn::Set(di, int32_t(low));
  const auto high_v = hn::Set(di, int32_t(high));
  BandCount count;
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto key = hn::And(hn::BitCast(di, hn::LoadU(df, values + i)), magnitude_bits);
    const auto above = hn::Gt(key, high_v);
    const auto inside = hn::AndNot(above, hn::Not(hn::Lt(key, low_v)));
    if constexpr (kWrite)
      hn::StoreU(hn::Compress(key, inside), di, reinterpret_cast<int32_t*>(out) + count.inside);
    count.inside += hn::CountTrue(di, inside);
    count.above += hn::CountTrue(di, above);
    count.at_low += hn::CountTrue(di, hn::Eq(key, low_v));
  }
  for (; i < n; ++i) {
    const uint32_t key = magnitude_key(values[i]);
    if constexpr (kWrite) out[count.inside] = key;
    count.inside += key >= low && key <= high;
    count.above += key > high;
    count.at_low += key == low;
  }
  return count;
}

BandCount BandKeysF32(const float* HWY_RESTRICT values, size_t n, uint32_t low, uint32_t high,
                      uint32_t* HWY_RESTRICT out) {
  return out == nullptr ? BandKeys<false>(values, n, low, high, out)
                        : BandKeys<true>(values, n, low, high, out);
}

}  // namespace HWY_NAMESPACE
}  // namespace mf
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mf {

HWY_EXPORT(MatchingKeysF32);
HWY_EXPORT(BandKeysF32);

size_t matching_magnitude_keys(std::span<const float> values, uint32_t mask, uint32_t prefix,
                               uint32_t* out) {
  return HWY_DYNAMIC_DISPATCH(MatchingKeysF32)(values.data(), values.size(), mask, prefix, out);
}

// float64 merges are rare (a recipe asking for dtype float64): a plain loop serves.
size_t matching_magnitude_keys(std::span<const double> values, uint64_t mask, uint64_t prefix,
                               uint64_t* out) {
  size_t count = 0;
  for (double x : values) {
    const uint64_t key = magnitude_key(x);
    out[count] = key;
    count += (key & mask) == prefix;
  }
  return count;
}

BandCount band_magnitude_keys(std::span<const float> values, uint32_t low, uint32_t high,
                              uint32_t* out) {
  return HWY_DYNAMIC_DISPATCH(BandKeysF32)(values.data(), values.size(), low, high, out);
}

}  // namespace mf
#endif  // HWY_ONCE
