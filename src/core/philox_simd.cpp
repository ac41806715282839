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
size_t PhiloxBelowBlocks(uint64_t, uint64_t, size_t, uint32_t, uint8_t*) { return 0; }
#else
using D64 = hn::ScalableTag<uint64_t>;
using D32 = hn::Repartition<uint32_t, D64>;
using DF = hn::Repartition<float, D64>;
using DI = hn::Repartition<int32_t, D64>;

// The words of N blocks (N: D64's lane count) in element order: `first` holds blocks 0 to N/2 - 1,
// words 0-3 of each in turn, `second` the rest.
struct PhiloxWords {
  hn::Vec<D32> first, second;
};

// Lane l of the rounds runs block l / 2 (even l) or N / 2 + l / 2 (odd l); see the file comment.
HWY_INLINE hn::Vec<D64> LaneBlocks() {
  const D64 d;
  const auto iota = hn::Iota(d, 0);
  return hn::Add(hn::ShiftRight<1>(iota),
                 hn::Mul(hn::And(iota, hn::Set(d, 1)), hn::Set(d, hn::Lanes(d) / 2)));
}

// Philox4x32-10 of blocks first_block to first_block + N - 1.
HWY_INLINE PhiloxWords PhiloxBlocks(uint64_t key, uint64_t first_block, hn::Vec<D64> lane_block) {
  const D64 d;
  const auto low32 = hn::Set(d, 0xffffffffull);
  const auto m0 = hn::Set(D32(), kPhiloxMultiplier0);
  const auto m1 = hn::Set(D32(), kPhiloxMultiplier1);
  const auto counter = hn::Add(hn::Set(d, first_block), lane_block);
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
  return {hn::BitCast(D32(), hn::InterleaveLower(d, first, second)),
          hn::BitCast(D32(), hn::InterleaveUpper(d, first, second))};
}

// The 24 bits of a word that make its uniform (rng.cpp's to_unit), as int32 for signed compares.
HWY_INLINE hn::Vec<DI> UnitBits(hn::Vec<D32> words) {
  return hn::BitCast(DI(), hn::ShiftRight<8>(words));
}

// 24 bits scaled by 2^-24, as rng.cpp's to_unit: exact, below 1.
HWY_INLINE void StoreUnits(hn::Vec<D32> words, float* HWY_RESTRICT out) {
  const auto units = hn::Mul(hn::ConvertTo(DF(), UnitBits(words)), hn::Set(DF(), 0x1p-24f));
  hn::StoreU(units, DF(), out);
}

size_t PhiloxUniform01Blocks(uint64_t key, uint64_t first_block, size_t blocks,
                             float* HWY_RESTRICT out) {
  const size_t N = hn::Lanes(D64());
  const auto lane_block = LaneBlocks();
  size_t b = 0;
  for (; b + N <= blocks; b += N) {
    const PhiloxWords words = PhiloxBlocks(key, first_block + b, lane_block);
    StoreUnits(words.first, out + 4 * b);
    StoreUnits(words.second, out + 4 * b + 2 * N);
  }
  return b;
}

// Each vector's mask bits are a whole number of bytes where it has eight u32 lanes or more; with
// four (SSE), the two vectors of a step make one byte.
size_t PhiloxBelowBlocks(uint64_t key, uint64_t first_block, size_t blocks, uint32_t threshold,
                         uint8_t* HWY_RESTRICT bits) {
  const size_t N = hn::Lanes(D64());
  const auto lane_block = LaneBlocks();
  const auto limit = hn::Set(DI(), int32_t(threshold));
  size_t b = 0;
  for (; b + N <= blocks; b += N) {
    const PhiloxWords words = PhiloxBlocks(key, first_block + b, lane_block);
    const auto first = hn::Lt(UnitBits(words.first), limit);
    const auto second = hn::Lt(UnitBits(words.second), limit);
    if (2 * N >= 8) {
      hn::StoreMaskBits(DI(), first, bits + 4 * b / 8);
      hn::StoreMaskBits(DI(), second, bits + (4 * b + 2 * N) / 8);
    } else {
      uint8_t low = 0, high = 0;
      hn::StoreMaskBits(DI(), first, &low);
      hn::StoreMaskBits(DI(), second, &high);
      bits[b / 2] = uint8_t(low | high << 4);
    }
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
HWY_EXPORT(PhiloxBelowBlocks);

namespace simd {

size_t philox_uniform01_blocks(uint64_t key, uint64_t first_block, size_t blocks, float* out) {
  return HWY_DYNAMIC_DISPATCH(PhiloxUniform01Blocks)(key, first_block, blocks, out);
}

size_t philox_below_blocks(uint64_t key, uint64_t first_block, size_t blocks, uint32_t threshold,
                           uint8_t* bits) {
  return HWY_DYNAMIC_DISPATCH(PhiloxBelowBlocks)(key, first_block, blocks, threshold, bits);
}

}  // namespace simd
}  // namespace mf
#endif  // HWY_ONCE
