// Re-indexing loaded inputs to the output vocabulary (exec/vocabulary_alignment): rows moved by the
// row maps, fills (a given row, mean, zeros), forced rows, padding rows, truncation, rounding.
#include <gtest/gtest.h>

#include "core/dtype.hpp"
#include "exec/vocabulary_alignment.hpp"

namespace mf {
namespace {

template <class T>
std::unique_ptr<T[]> rows_of(const std::vector<std::vector<double>>& rows) {
  std::unique_ptr<T[]> out(new T[rows.size() * rows.front().size()]);
  size_t k = 0;
  for (const auto& r : rows)
    for (double v : r) out[k++] = T(v);
  return out;
}

template <class T>
std::vector<double> row(const std::unique_ptr<T[]>& t, int64_t r, int64_t width) {
  return std::vector<double>(t.get() + r * width, t.get() + (r + 1) * width);
}

// Expected values as the compute type holds them.
template <class T>
std::vector<double> as(std::vector<double> v) {
  for (auto& x : v) x = double(T(x));
  return v;
}

template <class T>
class VocabularyAlignmentTest : public ::testing::Test {};
using ComputeTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(VocabularyAlignmentTest, ComputeTypes);

TYPED_TEST(VocabularyAlignmentTest, MovesRowsAndFillsWhatIsLacking) {
  using T = TypeParam;
  // Output tokens: 0 shared, 1 only in input 1, 2 in both (forced to input 0's row 2), 3 in neither
  // (zero), 4 in inputs 0 and 2 (mean), then two padding rows.
  std::vector<std::unique_ptr<T[]>> stored;
  stored.push_back(rows_of<T>({{1, 2}, {3, 4}, {5, 6}}));
  stored.push_back(rows_of<T>({{10, 20}, {30, 40}, {50, 60}}));
  stored.push_back(rows_of<T>({{7, 7}, {9, 11}}));
  VocabularyAlignment a;
  a.rows = 7;
  a.row_maps = {
      std::make_shared<const std::vector<int64_t>>(std::vector<int64_t>{0, -1, 2, -1, 1}),
      std::make_shared<const std::vector<int64_t>>(std::vector<int64_t>{2, 0, 1, -1, -1}),
      std::make_shared<const std::vector<int64_t>>(std::vector<int64_t>{1, -1, 0, -1, 0})};
  a.fills = {{1, RowFill::Kind::Input, 1, 0}, {2, RowFill::Kind::Input, 0, 2, true},
             {3, RowFill::Kind::Zero},        {4, RowFill::Kind::Mean},
             {5, RowFill::Kind::Padding},     {6, RowFill::Kind::Padding}};
  auto out = align_vocabulary<T>(a, stored, {3, 3, 2}, 2, std::nullopt);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(row(out[0], 0, 2), (std::vector<double>{1, 2}));
  EXPECT_EQ(row(out[1], 0, 2), (std::vector<double>{50, 60}));
  EXPECT_EQ(row(out[2], 0, 2), (std::vector<double>{9, 11}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(row(out[i], 1, 2), (std::vector<double>{10, 20})) << i;  // the only input that has it
    EXPECT_EQ(row(out[i], 2, 2), (std::vector<double>{5, 6})) << i;    // forced, even where present
    EXPECT_EQ(row(out[i], 3, 2), (std::vector<double>{0, 0})) << i;
  }
  EXPECT_EQ(row(out[0], 4, 2), (std::vector<double>{3, 4}));  // present: its own row
  EXPECT_EQ(row(out[2], 4, 2), (std::vector<double>{7, 7}));
  EXPECT_EQ(row(out[1], 4, 2), (std::vector<double>{5, 5.5}));  // lacking: mean of inputs 0 and 2
  // Padding: the mean of the input's five token rows.
  EXPECT_EQ(row(out[0], 5, 2), as<T>({(1 + 10 + 5 + 0 + 3) / 5.0, (2 + 20 + 6 + 0 + 4) / 5.0}));
  EXPECT_EQ(row(out[0], 6, 2), row(out[0], 5, 2));
  EXPECT_EQ(row(out[1], 5, 2), as<T>({(50 + 10 + 5 + 0 + 5) / 5.0, (60 + 20 + 6 + 0 + 5.5) / 5.0}));
}

TYPED_TEST(VocabularyAlignmentTest, IdentityMapsTruncate) {
  using T = TypeParam;
  std::vector<std::unique_ptr<T[]>> stored;
  stored.push_back(rows_of<T>({{1}, {2}, {3}}));
  stored.push_back(rows_of<T>({{4}, {5}}));
  VocabularyAlignment a;
  a.rows = 2;
  a.row_maps = {nullptr, nullptr};
  auto out = align_vocabulary<T>(a, stored, {3, 2}, 1, std::nullopt);
  EXPECT_EQ(row(out[0], 0, 1)[0], 1);
  EXPECT_EQ(row(out[0], 1, 1)[0], 2);
  EXPECT_EQ(row(out[1], 1, 1)[0], 5);
}

TEST(VocabularyAlignment, ComputedRowsAreRoundedLikeTheInputs) {
  std::vector<std::unique_ptr<float[]>> stored;
  stored.push_back(rows_of<float>({{1.0}, {0}}));
  stored.push_back(
      rows_of<float>({{1.0078125}, {0}}));  // bf16 neighbours: the mean is not a bf16 value
  VocabularyAlignment a;
  a.rows = 2;
  auto identity = std::make_shared<const std::vector<int64_t>>(std::vector<int64_t>{0, 1});
  a.row_maps = {identity, identity};
  a.fills = {{0, RowFill::Kind::Mean, -1, -1, true}};  // forced: both inputs take the mean
  auto out = align_vocabulary<float>(a, stored, {2, 2}, 1, DType::BF16);
  EXPECT_EQ(out[0][0], round_to(DType::BF16, 1.00390625f));
  EXPECT_EQ(out[0][0], out[1][0]);
}

}  // namespace
}  // namespace mf
