// tensor_checksum (core/checksum.hpp): computed piece by piece at any byte offsets it adds up to
// the checksum of the whole, and the damage a torn or misplaced write does changes it; its word
// loop (core/checksum_simd.cpp) gives the same sum on every Highway target this CPU supports.
#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <span>
#include <vector>

#include "core/checksum.hpp"

namespace mf {
namespace {

std::vector<uint8_t> random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<uint8_t> b(n);
  for (uint8_t& x : b) x = uint8_t(gen());
  return b;
}

// The sum of the checksums of bytes[cuts[i], cuts[i+1]), each at its offset.
uint64_t sum_of_pieces(const std::vector<uint8_t>& bytes, std::vector<size_t> cuts) {
  cuts.push_back(0);
  cuts.push_back(bytes.size());
  std::sort(cuts.begin(), cuts.end());
  uint64_t sum = 0;
  for (size_t i = 0; i + 1 < cuts.size(); ++i)
    sum += tensor_checksum(std::span<const uint8_t>(bytes.data() + cuts[i], cuts[i + 1] - cuts[i]),
                           cuts[i]);
  return sum;
}

class TensorChecksumSimd : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(TensorChecksumSimd);

// The word loop against the checksums of single bytes (which never reach it), at offsets that
// start mid-word and word indices whose products with the multiplier constant wrap.
TEST_P(TensorChecksumSimd, WordsSumLikeTheirBytes) {
  for (size_t n : {size_t(8), size_t(63), size_t(64), size_t(65), size_t(136), size_t(1031)}) {
    const std::vector<uint8_t> bytes = random_bytes(n, unsigned(n) + 11);
    for (uint64_t offset : {uint64_t(0), uint64_t(5), uint64_t(8) << 60, ~uint64_t(0) - 2000}) {
      uint64_t bytewise = 0;
      for (size_t i = 0; i < n; ++i)
        bytewise += tensor_checksum(std::span<const uint8_t>(&bytes[i], 1), offset + i);
      ASSERT_EQ(tensor_checksum(bytes, offset), bytewise) << "n " << n << " offset " << offset;
    }
  }
}

TEST(TensorChecksum, PiecesAddUpToTheWhole) {
  for (size_t n :
       {size_t(0), size_t(1), size_t(7), size_t(8), size_t(9), size_t(40), size_t(203)}) {
    const std::vector<uint8_t> bytes = random_bytes(n, unsigned(n) + 1);
    const uint64_t whole = tensor_checksum(bytes);
    EXPECT_EQ(tensor_checksum(bytes, 0), whole);
    // One cut anywhere, and every pair of cuts (pieces of any length at any offset, empty ones
    // included, odd offsets and pieces shorter than a word inside one word).
    for (size_t a = 0; a <= n; ++a) {
      ASSERT_EQ(sum_of_pieces(bytes, {a}), whole) << "n " << n << " cut " << a;
      if (n > 40) continue;
      for (size_t b = a; b <= n; ++b)
        ASSERT_EQ(sum_of_pieces(bytes, {a, b}), whole) << "n " << n << " cuts " << a << " " << b;
    }
    // Byte by byte.
    std::vector<size_t> every(n);
    for (size_t i = 0; i < n; ++i) every[i] = i;
    EXPECT_EQ(sum_of_pieces(bytes, every), whole) << "n " << n;
  }
}

TEST(TensorChecksum, RandomSplitsInAnyOrder) {
  std::mt19937 gen(5);
  for (int round = 0; round < 200; ++round) {
    const size_t n = 1 + gen() % 5000;
    const std::vector<uint8_t> bytes = random_bytes(n, unsigned(round));
    std::vector<size_t> cuts(gen() % 30);
    for (size_t& c : cuts) c = gen() % (n + 1);
    EXPECT_EQ(sum_of_pieces(bytes, cuts), tensor_checksum(bytes)) << "round " << round;

    // The pieces added in a shuffled order (as threads finish chunks), from copies of the bytes
    // (the checksum depends on the piece's offset, not its address).
    cuts.push_back(0);
    cuts.push_back(n);
    std::sort(cuts.begin(), cuts.end());
    std::vector<size_t> order(cuts.size() - 1);
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), gen);
    uint64_t sum = 0;
    for (size_t i : order) {
      std::vector<uint8_t> piece(bytes.begin() + cuts[i], bytes.begin() + cuts[i + 1]);
      sum += tensor_checksum(piece, cuts[i]);
    }
    EXPECT_EQ(sum, tensor_checksum(bytes)) << "round " << round;
  }
}

TEST(TensorChecksum, OffsetMatters) {
  // The same bytes at another place in the tensor are another piece.
  const std::vector<uint8_t> bytes = random_bytes(64, 9);
  const uint64_t at0 = tensor_checksum(bytes, 0);
  for (uint64_t offset : {1ull, 3ull, 8ull, 16ull, 4096ull})
    EXPECT_NE(tensor_checksum(bytes, offset), at0) << offset;
}

TEST(TensorChecksum, AnySingleByteChangeIsSeen) {
  const std::vector<uint8_t> bytes = random_bytes(67, 3);
  const uint64_t original = tensor_checksum(bytes);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> damaged = bytes;
      damaged[i] ^= uint8_t(1u << bit);
      ASSERT_NE(tensor_checksum(damaged), original) << "byte " << i << " bit " << bit;
    }
    for (uint8_t value : {uint8_t(0), uint8_t(0xff), uint8_t(bytes[i] + 1)}) {
      if (value == bytes[i]) continue;
      std::vector<uint8_t> damaged = bytes;
      damaged[i] = value;
      ASSERT_NE(tensor_checksum(damaged), original) << "byte " << i << " value " << int(value);
    }
  }
}

TEST(TensorChecksum, SwappedWordsAreSeen) {
  const std::vector<uint8_t> bytes = random_bytes(8 * 64, 4);
  const uint64_t original = tensor_checksum(bytes);
  for (size_t a = 0; a < 64; ++a) {
    for (size_t b = a + 1; b < 64; ++b) {
      std::vector<uint8_t> swapped = bytes;
      std::swap_ranges(swapped.begin() + 8 * a, swapped.begin() + 8 * a + 8,
                       swapped.begin() + 8 * b);
      ASSERT_NE(tensor_checksum(swapped), original) << "words " << a << " and " << b;
    }
  }
  // A block of bytes moved by a whole word (a piece written at the wrong offset).
  std::vector<uint8_t> shifted(8, 0);
  shifted.insert(shifted.end(), bytes.begin(), bytes.end());
  std::vector<uint8_t> padded = bytes;
  padded.resize(bytes.size() + 8, 0);
  EXPECT_NE(tensor_checksum(shifted), tensor_checksum(padded));
}

TEST(TensorChecksum, ZeroedBlockIsSeen) {
  const std::vector<uint8_t> bytes = random_bytes(1000, 6);
  const uint64_t original = tensor_checksum(bytes);
  std::mt19937 gen(8);
  for (int round = 0; round < 500; ++round) {
    const size_t length = 1 + gen() % 200;
    const size_t start = gen() % (bytes.size() - length + 1);
    std::vector<uint8_t> damaged = bytes;
    std::fill(damaged.begin() + start, damaged.begin() + start + length, uint8_t(0));
    if (damaged == bytes) continue;  // the block was zero already
    ASSERT_NE(tensor_checksum(damaged), original) << "zeroed " << start << " + " << length;
  }
  // A piece never written: the sum lacks its term.
  EXPECT_NE(sum_of_pieces(bytes, {100, 300}) -
                tensor_checksum(std::span<const uint8_t>(bytes.data() + 100, 200), 100),
            original);
}

TEST(TensorChecksum, SpreadsOverDistinctValues) {
  // Not a constant or a plain byte sum: reordering bytes within a word changes it, and many
  // distinct inputs give distinct checksums.
  std::vector<uint8_t> a = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<uint8_t> b = {8, 7, 6, 5, 4, 3, 2, 1};
  EXPECT_NE(tensor_checksum(a), tensor_checksum(b));
  std::set<uint64_t> seen;
  for (unsigned s = 0; s < 1000; ++s) seen.insert(tensor_checksum(random_bytes(16, s)));
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace mf
