#include "methods/task_vector_sparsification.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "kernels/double_sum.hpp"
#include "kernels/double_sum_simd.hpp"
#include "kernels/task_vector_simd.hpp"
#include "selection/magnitude_selection.hpp"

namespace mf {

namespace {

// Below this L1 norm (before or after masking) rescaling is skipped, as in MergeKit.
constexpr double kRescaleEpsilon = 1e-7;

// Element counts are float64 products truncated toward zero, like Python's int(density * n).
int64_t truncated_count(double fraction, size_t n) {
  const double product = std::trunc(fraction * double(n));
  const double limit = double(n);
  return int64_t(std::clamp(product, -limit, limit));
}

template <class T>
double l1_norm(std::span<const T> values) {
  if constexpr (std::is_same_v<T, float>) return abs_sum(values);  // the same bits, in SIMD
  return double_sum(values.size(), [&](size_t e) { return std::abs(double(values[e])); });
}

// The L1 norms of d before and after dropping the elements whose bit in `keep` is clear.
template <class T>
std::pair<double, double> kept_l1_norms(std::span<const T> d, const uint8_t* keep) {
  if constexpr (std::is_same_v<T, float>) {
    const KeptAbsSums sums = kept_abs_sums(d, keep);  // the same bits, in SIMD
    return {sums.all, sums.kept};
  }
  const auto kept = [&](size_t e) { return (keep[e / 8] >> (e % 8)) & 1; };
  return {l1_norm<T>(d),
          double_sum(d.size(), [&](size_t e) { return kept(e) ? std::abs(double(d[e])) : 0.0; })};
}

// The geometry of della's lines (see TaskVectorSparsifier): {length, inner}; a tensor of rank < 2
// is one line.
std::pair<size_t, size_t> della_lines(std::span<const int64_t> shape, size_t numel) {
  if (shape.size() < 2) return {numel, 1};
  size_t inner = 1;
  for (size_t d = 2; d < shape.size(); ++d) inner *= size_t(shape[d]);
  return {size_t(shape[1]), inner};
}

}  // namespace

bool della_band_is_valid(double density, double epsilon) {
  if (density >= 1 || density <= 0) return true;
  return density - epsilon > 0 && density + epsilon < 1;
}

void check_della_probability_band(double density, double epsilon) {
  if (!della_band_is_valid(density, epsilon))
    fail(ErrorCode::InvalidConfig,
         "della needs 0 < density - epsilon and density + epsilon < 1 so that keep probabilities "
         "stay inside (0, 1); got density {} and epsilon {}",
         density, epsilon);
}

template <class T>
size_t TaskVectorSparsifier<T>::granule(Sparsifier kind, std::span<const int64_t> shape) {
  if (kind != Sparsifier::DellaMagprune) return 1;
  size_t numel = 1;
  for (int64_t d : shape) numel *= size_t(d);
  const auto [length, inner] = della_lines(shape, numel);
  return std::max<size_t>(1, length * inner);
}

template <class T>
TaskVectorSparsifier<T>::TaskVectorSparsifier(Sparsifier kind, std::vector<SparsifyParams> params,
                                              std::span<const int64_t> shape,
                                              TensorStream<T>& stream,
                                              const ChunkVectors<T>& task_vectors)
    : kind_(kind), params_(std::move(params)) {
  numel_ = 1;
  for (int64_t d : shape) numel_ *= size_t(d);
  std::tie(length_, inner_) = della_lines(shape, numel_);
  const size_t n = numel_;
  outer_set_.assign(params_.size(), -1);
  inner_set_.assign(params_.size(), -1);
  factors_.assign(params_.size(), T(1));
  if (kind_ == Sparsifier::None) return;

  // Magnitude cuts. Breadcrumbs keeps the 0-based ascending ranks [n_bot, n_bot + target): the
  // first n - n_bot of the descending order minus the first n - n_bot - target.
  for (size_t v = 0; v < params_.size(); ++v) {
    const SparsifyParams& p = params_[v];
    if (p.density >= 1 || p.density <= 0) continue;
    if (kind_ == Sparsifier::Magnitude) {
      const size_t k = size_t(std::max<int64_t>(1, truncated_count(p.density, n)));
      outer_set_[v] = int(sets_.size());
      sets_.emplace_back(v, k);
    } else if (kind_ == Sparsifier::MagnitudeOutliers) {
      const int64_t target = truncated_count(p.density, n);
      const int64_t n_top = truncated_count(p.gamma, n);
      // When the band and the outliers do not both fit, fewer outliers are dropped: the band keeps
      // its size.
      const int64_t n_bot = std::max<int64_t>(0, int64_t(n) - target - n_top);
      const size_t first = std::min<size_t>(n_bot, n);
      const size_t last = std::clamp<size_t>(n_bot + target, first, n);
      outer_set_[v] = int(sets_.size());
      sets_.emplace_back(v, n - first);
      inner_set_[v] = int(sets_.size());
      sets_.emplace_back(v, n - last);
    }
  }
  if (!sets_.empty()) find_magnitude_cuts<T>(stream, n, sets_, task_vectors);

  // Rescaling: MergeKit's rule, L1 before over L1 after on the whole tensor (the DARE paper uses 1
  // / density). Partial sums per chunk, added in chunk order.
  std::vector<size_t> rescaled;
  for (size_t v = 0; v < params_.size(); ++v)
    if (params_[v].rescale && params_[v].density < 1 && params_[v].density > 0)
      rescaled.push_back(v);
  if (rescaled.empty()) return;
  const size_t chunks = stream.chunk_count();
  std::vector<double> before(chunks * rescaled.size()), after(chunks * rescaled.size());
  // della's and dare's masks are kept when their bits fit the scratch: ranking the lines or running
  // the generator again costs more than storing and reading the bits (SIMD both ways: with scalar
  // bit loops dare gained nothing). A magnitude cut is cheaper to compare again.
  const bool keep_masks = kind_ == Sparsifier::DellaMagprune || kind_ == Sparsifier::Random;
  if (keep_masks && n / 8 * rescaled.size() <= stream.scratch_bytes()) {
    chunks_ = chunks;
    kept_.resize(params_.size() * chunks);
  }
  stream.for_each_chunk([&](const Chunk<T>& c) {
    thread_local std::vector<std::span<T>> vectors;
    thread_local std::vector<uint8_t> drawn;  // dare's bits where they are not kept
    task_vectors(c, vectors);
    for (size_t r = 0; r < rescaled.size(); ++r) {
      const size_t v = rescaled[r];
      std::span<T> d = vectors[v];
      uint8_t* bits = nullptr;
      if (!kept_.empty()) {
        kept_[v * chunks + c.index].resize((d.size() + 7) / 8);
        bits = kept_[v * chunks + c.index].data();
      }
      double& l1_before = before[c.index * rescaled.size() + r];
      double& l1_after = after[c.index * rescaled.size() + r];
      if (kind_ == Sparsifier::Random) {
        // dare's norms come from its draws as bits, one pass over d that leaves d as it is.
        if (bits == nullptr) {
          drawn.resize((d.size() + 7) / 8);
          bits = drawn.data();
        }
        fill_bernoulli_bits(params_[v].key, c.offset, d.size(), params_[v].density, bits);
        std::tie(l1_before, l1_after) = kept_l1_norms<T>(d, bits);
        continue;
      }
      l1_before = l1_norm<T>(d);
      mask(c, v, d);
      l1_after = l1_norm<T>(d);
      if (bits != nullptr) nonzero_bits(std::span<const T>(d), bits);
    }
  });
  for (size_t r = 0; r < rescaled.size(); ++r) {
    double l1_before = 0, l1_after = 0;
    for (size_t c = 0; c < chunks; ++c) {
      l1_before += before[c * rescaled.size() + r];
      l1_after += after[c * rescaled.size() + r];
    }
    if (l1_before < kRescaleEpsilon || l1_after < kRescaleEpsilon) continue;
    factors_[rescaled[r]] = T(l1_before / l1_after);
  }
}

template <class T>
void TaskVectorSparsifier<T>::apply(const Chunk<T>& c, size_t v, std::span<T> delta) const {
  const SparsifyParams& p = params_[v];
  if (kind_ == Sparsifier::None || p.density >= 1) return;
  if (p.density <= 0) {
    std::fill(delta.begin(), delta.end(), T(0));
    return;
  }
  const T factor = factors_[v];
  const std::vector<uint8_t>* kept = kept_.empty() ? nullptr : &kept_[v * chunks_ + c.index];
  if (kept && !kept->empty()) return keep_bits(delta, kept->data(), factor);
  mask(c, v, delta);
  if (factor != T(1))
    for (T& x : delta) x *= factor;
}

template <class T>
void TaskVectorSparsifier<T>::mask(const Chunk<T>& c, size_t v, std::span<T> delta) const {
  const SparsifyParams& p = params_[v];
  switch (kind_) {
    case Sparsifier::None:
      return;
    case Sparsifier::Magnitude:
      sets_[outer_set_[v]].keep(c.index, delta);
      return;
    case Sparsifier::MagnitudeOutliers:
      sets_[outer_set_[v]].keep_without(sets_[inner_set_[v]], c.index, delta);
      return;
    case Sparsifier::Random: {
      // Each element is kept when its uniform is below the density; keyed by the element's index
      // in the tensor, so chunking changes nothing.
      thread_local std::vector<uint8_t> bits;
      bits.resize((delta.size() + 7) / 8);
      fill_bernoulli_bits(p.key, c.offset, delta.size(), p.density, bits.data());
      keep_bits(delta, bits.data(), T(1));
      return;
    }
    case Sparsifier::DellaMagprune:
      mask_della(c, p, delta);
      return;
  }
}

// della: within each line along dim 1 (a row of a 2-D tensor; a 1-D tensor or a scalar is one
// line), the entry of ascending magnitude rank r of m is kept with probability density - epsilon +
// 2 epsilon (r-1)/(m-1). For tensors of rank > 2 the lines run along dim 1 with the later dims
// fixed, as torch's argsort(dim=1). Chunks hold whole dim-0 slices (granule()).
template <class T>
void TaskVectorSparsifier<T>::mask_della(const Chunk<T>& c, const SparsifyParams& p,
                                         std::span<T> delta) const {
  MF_CHECK(della_band_is_valid(p.density, p.epsilon) && "checked at plan time");
  const size_t length = length_, inner = inner_;
  if (length == 0) return;
  const size_t slice = length * inner;
  MF_CHECK(c.offset % slice == 0 && delta.size() % slice == 0);
  thread_local std::vector<T> gathered;
  thread_local std::vector<uint32_t> ranks;
  thread_local std::vector<float> u;
  ranks.resize(length);
  u.resize(length);
  // QUIRK fix: MergeKit divides by m - 1 = 0 on lines of length 1; p = density there.
  const double low = length > 1 ? p.density - p.epsilon : p.density;
  const double slope = length > 1 ? 2 * p.epsilon / double(length - 1) : 0.0;
  for (size_t o = 0; o < delta.size() / slice; ++o) {
    for (size_t r = 0; r < inner; ++r) {
      const size_t first = o * slice + r;  // in the chunk
      const size_t global_first = c.offset + first;
      // A line is contiguous in 2-D tensors; in higher ranks it is gathered and scattered back.
      std::span<T> line;
      if (inner == 1) {
        line = delta.subspan(first, length);
        fill_uniform01(p.key, global_first, u);
      } else {
        gathered.resize(length);
        for (size_t j = 0; j < length; ++j) gathered[j] = delta[first + j * inner];
        for (size_t j = 0; j < length; ++j) u[j] = uniform01(p.key, global_first + j * inner);
        line = gathered;
      }
      ascending_magnitude_ranks<T>(line, ranks);
      for (size_t j = 0; j < length; ++j) {
        const double keep_p = low + slope * double(ranks[j] - 1);
        line[j] = double(u[j]) < keep_p ? line[j] : T(0);
      }
      if (inner != 1)
        for (size_t j = 0; j < length; ++j) delta[first + j * inner] = gathered[j];
    }
  }
}

template class TaskVectorSparsifier<float>;
template class TaskVectorSparsifier<double>;

}  // namespace mf
