#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "magnitude_order.hpp"
#include "selection/magnitude_selection.hpp"

namespace mf {
namespace {

using testing::descending_magnitude_order;

template <class T>
std::vector<uint8_t> top(const std::vector<T>& values, size_t k) {
  std::vector<uint8_t> keep(values.size());
  mark_top_magnitudes<T>(values, k, keep);
  return keep;
}

std::vector<size_t> kept_indices(const std::vector<uint8_t>& keep) {
  std::vector<size_t> r;
  for (size_t i = 0; i < keep.size(); ++i)
    if (keep[i]) r.push_back(i);
  return r;
}

// Values with many exact ties, like bf16 fine-tuning deltas.
template <class T>
std::vector<T> quantized_values(size_t n, unsigned seed, int levels) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> level(-levels, levels);
  std::vector<T> v(n);
  for (T& x : v) x = T(level(gen)) * T(0.0078125);
  return v;
}

template <class T>
class Selection : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Selection, Types);

TYPED_TEST(Selection, KeepsTheLargestMagnitudes) {
  using T = TypeParam;
  const std::vector<T> v = {T(0.1), T(-0.7), T(0.3), T(0.5), T(-0.2)};
  EXPECT_EQ(kept_indices(top(v, 1)), (std::vector<size_t>{1}));
  EXPECT_EQ(kept_indices(top(v, 2)), (std::vector<size_t>{1, 3}));
  EXPECT_EQ(kept_indices(top(v, 3)), (std::vector<size_t>{1, 2, 3}));
  EXPECT_EQ(kept_indices(top(v, 0)), (std::vector<size_t>{}));
  EXPECT_EQ(kept_indices(top(v, 5)), (std::vector<size_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(kept_indices(top(v, 9)), (std::vector<size_t>{0, 1, 2, 3, 4}));
}

TYPED_TEST(Selection, TiesAtTheCutKeepTheLowestIndices) {
  using T = TypeParam;
  // Magnitude 0.5 four times (signs differ, -0.5 ties +0.5); the cut at k = 3 falls inside the tie.
  const std::vector<T> v = {T(0.25), T(0.5), T(-0.5), T(0.75), T(0.5), T(-0.5)};
  EXPECT_EQ(kept_indices(top(v, 3)), (std::vector<size_t>{1, 2, 3}));
  EXPECT_EQ(kept_indices(top(v, 4)), (std::vector<size_t>{1, 2, 3, 4}));
  const std::vector<T> equal(10, T(1));
  EXPECT_EQ(kept_indices(top(equal, 3)), (std::vector<size_t>{0, 1, 2}));
  // +0 and -0 are one magnitude.
  const std::vector<T> zeros = {T(0), T(-0.0), T(0), T(1)};
  EXPECT_EQ(kept_indices(top(zeros, 2)), (std::vector<size_t>{0, 3}));
}

TYPED_TEST(Selection, NaNAndInfinityRankAboveNumbers) {
  using T = TypeParam;
  const T inf = std::numeric_limits<T>::infinity();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const std::vector<T> v = {T(1), -inf, T(3), nan, std::numeric_limits<T>::denorm_min(), T(0)};
  EXPECT_EQ(kept_indices(top(v, 1)), (std::vector<size_t>{3}));
  EXPECT_EQ(kept_indices(top(v, 2)), (std::vector<size_t>{1, 3}));
  EXPECT_EQ(kept_indices(top(v, 5)), (std::vector<size_t>{0, 1, 2, 3, 4}));
}

TYPED_TEST(Selection, KeepsExactlyKAndMatchesAFullSort) {
  using T = TypeParam;
  for (int levels : {1, 3, 40, 100000}) {
    const std::vector<T> v = quantized_values<T>(20011, 17 + levels, levels);
    const std::vector<size_t> order = descending_magnitude_order(v);
    for (size_t k : {size_t(1), size_t(2), size_t(137), size_t(10005), size_t(20010)}) {
      const std::vector<uint8_t> keep = top(v, k);
      std::vector<uint8_t> expected(v.size(), 0);
      for (size_t r = 0; r < k; ++r) expected[order[r]] = 1;
      ASSERT_EQ(std::count(keep.begin(), keep.end(), 1), ptrdiff_t(k));
      ASSERT_EQ(keep, expected) << "levels " << levels << " k " << k;
    }
  }
}

TYPED_TEST(Selection, SpreadMagnitudesAcrossAllRadixDigits) {
  using T = TypeParam;
  // Magnitudes from 1e-30 to 1e30 exercise every digit of the radix select.
  std::mt19937 gen(5);
  std::uniform_real_distribution<double> exponent(-30, 30);
  std::vector<T> v(50000);
  for (T& x : v) x = T((gen() % 2 ? 1 : -1) * std::pow(10.0, exponent(gen)));
  const std::vector<size_t> order = descending_magnitude_order(v);
  for (size_t k : {size_t(1), size_t(25000), size_t(49999)}) {
    std::vector<uint8_t> expected(v.size(), 0);
    for (size_t r = 0; r < k; ++r) expected[order[r]] = 1;
    ASSERT_EQ(top(v, k), expected) << k;
  }
}

TYPED_TEST(Selection, RankRangeIsTheReverseOrderSlice) {
  using T = TypeParam;
  const std::vector<T> v = quantized_values<T>(5003, 3, 6);
  std::vector<size_t> ascending = descending_magnitude_order(v);
  std::reverse(ascending.begin(), ascending.end());
  const size_t n = v.size();
  for (auto [first, last] : std::vector<std::pair<size_t, size_t>>{
           {0, n}, {0, 0}, {10, 10}, {0, 1}, {n - 1, n}, {100, 4000}, {2500, 2501}, {4000, 9000}}) {
    std::vector<uint8_t> keep(n);
    mark_magnitude_rank_range<T>(v, first, last, keep);
    std::vector<uint8_t> expected(n, 0);
    for (size_t r = first; r < std::min(last, n); ++r) expected[ascending[r]] = 1;
    ASSERT_EQ(keep, expected) << first << ".." << last;
  }
}

TYPED_TEST(Selection, RankRangeHandWorked) {
  using T = TypeParam;
  // Ascending: 0.05(3) 0.1(0) 0.2(6) 0.3(2) 0.4(7) 0.5(9) 0.6(4) 0.7(5) 0.9(1) 1.0(8).
  const std::vector<T> v = {T(0.1), T(-0.9), T(0.3),  T(0.05), T(-0.6),
                            T(0.7), T(0.2),  T(-0.4), T(1.0),  T(0.5)};
  std::vector<uint8_t> keep(v.size());
  mark_magnitude_rank_range<T>(v, 3, 8, keep);
  EXPECT_EQ(kept_indices(keep), (std::vector<size_t>{2, 4, 5, 7, 9}));
  // Ties: equal magnitudes rank higher the lower their index, so the lower cut keeps the lowest
  // indices.
  const std::vector<T> tied = {T(0.5), T(0.5), T(0.5), T(0.5)};
  keep.assign(tied.size(), 0);
  mark_magnitude_rank_range<T>(tied, 1, 3, keep);
  EXPECT_EQ(kept_indices(keep), (std::vector<size_t>{1, 2}));
  mark_magnitude_rank_range<T>(tied, 2, 4, keep);
  EXPECT_EQ(kept_indices(keep), (std::vector<size_t>{0, 1}));
}

TYPED_TEST(Selection, InPlaceSelectionsZeroWhatTheMasksDrop) {
  using T = TypeParam;
  const std::vector<T> v = quantized_values<T>(4099, 23, 9);
  for (size_t k : {size_t(0), size_t(1), size_t(2000), size_t(4099)}) {
    std::vector<T> in_place = v;
    keep_top_magnitudes<T>(in_place, k);
    const std::vector<uint8_t> keep = top(v, k);
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(in_place[i], keep[i] ? v[i] : T(0)) << i;
  }
  std::vector<T> in_place = v;
  keep_magnitude_rank_range<T>(in_place, 1000, 3000);
  std::vector<uint8_t> keep(v.size());
  mark_magnitude_rank_range<T>(v, 1000, 3000, keep);
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(in_place[i], keep[i] ? v[i] : T(0)) << i;
}

TYPED_TEST(Selection, AscendingRanksWithinALine) {
  using T = TypeParam;
  const std::vector<T> line = {T(0.3), T(-0.1), T(0.3), T(2), T(0)};
  std::vector<uint32_t> ranks(line.size());
  ascending_magnitude_ranks<T>(line, ranks);
  // 0 -> 1, 0.1 -> 2, the two 0.3: the higher index ranks lower -> index 2 is 3, index 0 is 4; 2
  // -> 5.
  EXPECT_EQ(ranks, (std::vector<uint32_t>{4, 2, 3, 5, 1}));

  // Few distinct keys (ranked by counting them) and many (sorted), odd and even lengths, and
  // 512 / 513 distinct magnitudes, either side of the counting table's limit.
  std::vector<std::vector<T>> lines = {
      quantized_values<T>(3001, 11, 5), quantized_values<T>(3000, 12, 300),
      quantized_values<T>(2, 13, 1), quantized_values<T>(3, 14, 1)};
  std::mt19937 gen(15);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<T> continuous(3001);
  for (T& x : continuous) x = T(normal(gen));
  lines.push_back(continuous);
  for (size_t distinct : {512, 513}) {
    std::vector<T> line;
    for (size_t i = 0; i < 2 * distinct; ++i) line.push_back(T(double(i % distinct) + 0.5));
    std::shuffle(line.begin(), line.end(), gen);
    lines.push_back(line);
  }
  for (const std::vector<T>& v : lines) {
    std::vector<size_t> ascending = descending_magnitude_order(v);
    std::reverse(ascending.begin(), ascending.end());
    std::vector<uint32_t> all(v.size());
    ascending_magnitude_ranks<T>(v, all);
    for (size_t r = 0; r < ascending.size(); ++r)
      ASSERT_EQ(all[ascending[r]], r + 1) << "line of " << v.size() << ", rank " << r + 1;
  }
}

// The counting table indexed by the high digit takes the lines of bf16 deltas, zeros (of both
// signs), keys with more bits and all, and gives the ranks of a stable sort; it refuses lines whose
// magnitudes span too many binades.
TEST(RankByHighDigit, RanksBf16DeltaLinesAndRefusesOthers) {
  std::mt19937 gen(31);
  std::normal_distribution<float> normal(0.f, 0.01f);
  auto bf16 = [](float x) {
    return std::bit_cast<float>(std::bit_cast<uint32_t>(x) & 0xffff0000u);  // truncated: exact
  };
  auto from_high_digit = [](uint32_t digit) { return std::bit_cast<float>(digit << 16); };
  std::vector<std::vector<float>> taken, refused;
  for (size_t m : {size_t(1), size_t(2), size_t(3001), size_t(8192)}) {
    std::vector<float> line(m);
    for (size_t j = 0; j < m; ++j) line[j] = j % 3 == 0 ? (j % 2 ? -0.f : 0.f) : bf16(normal(gen));
    taken.push_back(line);
  }
  taken.push_back(std::vector<float>(100, 0.f));                               // all zero
  taken.push_back({from_high_digit(0x3000), from_high_digit(0x3000 + 4094)});  // the widest span
  taken.push_back({0.5f, -0.5f, 0.f, 0.5f, -0.f, 0.25f});
  // Keys with bits below the high digit, ranked apart: a few among bf16 values (equal ones too),
  // and a line of nothing else.
  taken.push_back({0.f, 0.1f, 0.25f, -0.1f, 0.1015625f, 0.1f, 0.f});
  std::vector<float> full(2001);
  for (size_t j = 0; j < full.size(); ++j) full[j] = j % 5 == 0 ? 0.f : normal(gen);
  taken.push_back(full);
  refused.push_back({from_high_digit(0x3000), from_high_digit(0x3000 + 4095)});  // one wider
  refused.push_back({std::numeric_limits<float>::quiet_NaN(), 0.5f});
  for (const std::vector<float>& line : taken) {
    std::vector<uint32_t> ranks(line.size(), 0);
    ASSERT_TRUE(rank_by_high_digit<float>(line, ranks)) << "line of " << line.size();
    std::vector<size_t> ascending = descending_magnitude_order(line);
    std::reverse(ascending.begin(), ascending.end());
    for (size_t r = 0; r < ascending.size(); ++r)
      ASSERT_EQ(ranks[ascending[r]], r + 1) << "line of " << line.size() << ", rank " << r + 1;
  }
  for (const std::vector<float>& line : refused) {
    std::vector<uint32_t> ranks(line.size(), 7);
    EXPECT_FALSE(rank_by_high_digit<float>(line, ranks)) << line[1];
    EXPECT_EQ(ranks, std::vector<uint32_t>(line.size(), 7)) << "nothing written";
  }
  std::vector<uint32_t> ranks(2);
  EXPECT_FALSE(rank_by_high_digit<double>(std::vector<double>{0.5, 0.25}, ranks));
}

}  // namespace
}  // namespace mf
