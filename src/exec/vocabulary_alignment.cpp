#include "exec/vocabulary_alignment.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"

namespace mf {

namespace {

template <class T>
void round_row(T* row, int64_t width, std::optional<DType> round) {
  if (!round) return;
  for (int64_t c = 0; c < width; ++c) row[c] = T(round_to(*round, float(row[c])));
}

}  // namespace

template <class T>
std::vector<std::unique_ptr<T[]>> align_vocabulary(const VocabularyAlignment& a,
                                                   const std::vector<std::unique_ptr<T[]>>& stored,
                                                   const std::vector<int64_t>& stored_rows,
                                                   int64_t width, std::optional<DType> round) {
  const size_t inputs = stored.size();
  const size_t row_bytes = size_t(width) * sizeof(T);
  // The input's row for output row r, -1 when it lacks the token.
  auto source_row = [&](size_t i, int64_t r) -> int64_t {
    const auto& map = a.row_maps[i];
    if (!map) return r < stored_rows[i] ? r : -1;
    return size_t(r) < map->size() ? (*map)[size_t(r)] : -1;
  };

  std::vector<std::unique_ptr<T[]>> out(inputs);
  for (auto& o : out) o.reset(new T[size_t(a.rows) * size_t(width)]);
  std::vector<T> fill(static_cast<size_t>(width));
  std::vector<double> sum(static_cast<size_t>(width));
  std::vector<bool> padding(static_cast<size_t>(a.rows), false);
  size_t next_fill = 0;
  for (int64_t r = 0; r < a.rows; ++r) {
    const RowFill* f =
        next_fill < a.fills.size() && a.fills[next_fill].row == r ? &a.fills[next_fill++] : nullptr;
    if (f && f->kind == RowFill::Kind::Padding) {
      padding[size_t(r)] = true;
      continue;
    }
    if (f) {
      switch (f->kind) {
        case RowFill::Kind::Input:
          std::memcpy(fill.data(), stored[size_t(f->input)].get() + f->source_row * width,
                      row_bytes);
          break;
        case RowFill::Kind::Zero:
          std::fill(fill.begin(), fill.end(), T(0));
          break;
        case RowFill::Kind::Mean: {
          std::fill(sum.begin(), sum.end(), 0.0);
          int count = 0;
          for (size_t i = 0; i < inputs; ++i) {
            int64_t s = source_row(i, r);
            if (s < 0) continue;
            const T* row = stored[i].get() + s * width;
            for (int64_t c = 0; c < width; ++c) sum[size_t(c)] += double(row[c]);
            ++count;
          }
          for (int64_t c = 0; c < width; ++c)
            fill[size_t(c)] = count ? T(sum[size_t(c)] / count) : T(0);
          round_row(fill.data(), width, round);
          break;
        }
        case RowFill::Kind::Padding:
          break;
      }
    }
    for (size_t i = 0; i < inputs; ++i) {
      T* dst = out[i].get() + r * width;
      int64_t s = source_row(i, r);
      if (f && (s < 0 || f->force))
        std::memcpy(dst, fill.data(), row_bytes);
      else if (s >= 0)
        std::memcpy(dst, stored[i].get() + s * width, row_bytes);
      else
        fail(ErrorCode::Internal, "vocabulary row {} of input {} has no source and no fill rule", r,
             i);
    }
  }
  // Padding rows: the mean of the input's own token rows.
  if (std::find(padding.begin(), padding.end(), true) != padding.end()) {
    for (size_t i = 0; i < inputs; ++i) {
      std::fill(sum.begin(), sum.end(), 0.0);
      int64_t count = 0;
      for (int64_t r = 0; r < a.rows; ++r) {
        if (padding[size_t(r)]) continue;
        const T* row = out[i].get() + r * width;
        for (int64_t c = 0; c < width; ++c) sum[size_t(c)] += double(row[c]);
        ++count;
      }
      for (int64_t c = 0; c < width; ++c)
        fill[size_t(c)] = count ? T(sum[size_t(c)] / double(count)) : T(0);
      round_row(fill.data(), width, round);
      for (int64_t r = 0; r < a.rows; ++r)
        if (padding[size_t(r)]) std::memcpy(out[i].get() + r * width, fill.data(), row_bytes);
    }
  }
  return out;
}

template std::vector<std::unique_ptr<float[]>> align_vocabulary<float>(
    const VocabularyAlignment&, const std::vector<std::unique_ptr<float[]>>&,
    const std::vector<int64_t>&, int64_t, std::optional<DType>);
template std::vector<std::unique_ptr<double[]>> align_vocabulary<double>(
    const VocabularyAlignment&, const std::vector<std::unique_ptr<double[]>>&,
    const std::vector<int64_t>&, int64_t, std::optional<DType>);

}  // namespace mf
