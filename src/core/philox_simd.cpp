// Highway kernel of philox_simd.hpp; see dtype_simd.cpp for how foreach_target and the dispatch
// work. Lane l of a u64 vector runs one Philox block, its four 32-bit words kept in the low halves
// of four vectors. The output interleaves the words per block: InterleaveLower / Upper pair lanes
// inside each 128-bit part, so even lanes take the first half of the vector's blocks and odd lanes
// the second half, and the two stores come out in block order.
#include "core/philox_simd.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/philox_simd.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace mf {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET == HWY_SCALAR
// One lane per vector: nothing to gain, and no 32-bit view of a 64-bit lane. The caller's scalar
// code does every block.
size_t PhiloxUniform01Blocks(uint64_t, uint64_t, size_t, float*) { return 0; }
#else
using D64 = hn::ScalableTag<uint64_t>;
using D32 = hn::Repartition<uint32_t, D64>;
using DF = hn::Repartition<float, D64>;
using DI = hn::Repartition<int32_t, D64>;

// 24 bits scaled by 2^-24, as rng.cpp's to_unit: exact, below 1.
HWY_INLINE void StoreUnits(hn::Vec<D64> words, float* HWY_RESTRICT out) {
  const auto bits = hn::ShiftRight<8>(hn::BitCast(D32(), words));
  const auto units = hn::Mul(hn::ConvertTo(DF(), hn::BitCast(DI(), bits)), hn::Set(DF(), 0x1p-24f));
  hn::StoreU(units, DF(), out);
}

size_t PhiloxUniform01Blocks(uint64_t key, uint64_t first_block, size_t blocks,
                             float* HWY_RESTRICT out) {
  const D64 d;
  const size_t N = hn::Lanes(d);
  const auto low32 = hn::Set(d, 0xffffffffull);
  const auto m0 = hn::Set(D32(), kPhiloxMultiplier0);
  const auto m1 = hn::Set(D32(), kPhiloxMultiplier1);
  // Lane l runs block l / 2 (even l) or N / 2 + l / 2 (odd l); see the file comment.
  const auto iota = hn::Iota(d, 0);
  const auto lane_block =
      hn::Add(hn::ShiftRight<1>(iota), hn::Mul(hn::And(iota, hn::Set(d, 1)), hn::Set(d, N / 2)));
  size_t b = 0;
  for (; b + N <= blocks; b += N) {
    const auto counter = hn::Add(hn::Set(d, first_block + b), lane_block);
    auto c0 = hn::And(counter, low32);
    auto c1 = hn::ShiftRight<32>(counter);
    auto c2 = hn::Zero(d);
    auto c3 = hn::Zero(d);
    uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
    for (int round = 0; round < 10; ++round) {
      const auto p0 = hn::MulEven(hn::BitCast(D32(), c0), m0);
      const auto p1 = hn::MulEven(hn::BitCast(D32(), c2), m1);
      const auto n0 = hn::Xor(hn::Xor(hn::ShiftRight<32>(p1), c1), hn::Set(d, k0));
      const auto n2 = hn::Xor(hn::Xor(hn::ShiftRight<32>(p0), c3), hn::Set(d, k1));
      c1 = hn::And(p1, low32);
      c3 = hn::And(p0, low32);
      c0 = n0;
      c2 = n2;
      k0 += kPhiloxWeyl0;
      k1 += kPhiloxWeyl1;
    }
    // Words 0 and 1 of a block as one u64 (little-endian: word 0 first), likewise 2 and 3.
    const auto first = hn::Or(c0, hn::ShiftLeft<32>(c1));
    const auto second = hn::Or(c2, hn::ShiftLeft<32>(c3));
    StoreUnits(hn::InterleaveLower(d, first, second), out + 4 * b);
    StoreUnits(hn::InterleaveUpper(d, first, second), out + 4 * b + 2 * N);
  }
  return b;
}
#endif  // HWY_TARGET == HWY_SCALAR

}  // namespace HWY_NAMESPACE
}  // namespace mf
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mf {

HWY_EXPORT(PhiloxUniform01Blocks);

namespace simd {

size_t philox_uniform01_blocks(uint64_t key, uint64_t first_block, size_t blocks, float* out) {
  return HWY_DYNAMIC_DISPATCH(PhiloxUniform01Blocks)(key, first_block, blocks, out);
}

}  // namespace simd
}  // namespace mf
#endif  // HWY_ONCE
