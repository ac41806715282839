#include "methods/task_vector_sparsification.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "methods/double_sum.hpp"
#include "methods/magnitude_selection.hpp"

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
  return double_sum(values.size(), [&](size_t e) { return std::abs(double(values[e])); });
}

template <class T>
void sparsify_by_magnitude(std::span<T> delta, double density) {
  const size_t n = delta.size();
  const size_t k = size_t(std::max<int64_t>(1, truncated_count(density, n)));
  keep_top_magnitudes(delta, k);
}

template <class T>
void sparsify_by_magnitude_band(std::span<T> delta, double density, double gamma) {
  const size_t n = delta.size();
  const int64_t target = truncated_count(density, n);
  const int64_t n_top = truncated_count(gamma, n);
  // When the band and the outliers do not both fit, fewer outliers are dropped: the band keeps
  // its size.
  const int64_t n_bot = std::max<int64_t>(0, int64_t(n) - target - n_top);
  keep_magnitude_rank_range(delta, size_t(n_bot), size_t(n_bot + target));
}

template <class T>
void sparsify_at_random(std::span<T> delta, double density, uint64_t key) {
  // Uniforms come in blocks so one Philox call serves four elements.
  std::array<float, 1024> u;
  for (size_t start = 0; start < delta.size(); start += u.size()) {
    const size_t count = std::min(u.size(), delta.size() - start);
    fill_uniform01(key, start, std::span<float>(u.data(), count));
    for (size_t j = 0; j < count; ++j)
      delta[start + j] = double(u[j]) < density ? delta[start + j] : T(0);
  }
}

// della: within each line along dim 1 (a row of a 2-D tensor; a 1-D tensor or a scalar is one
// line), the entry of ascending magnitude rank r of m is kept with probability density - epsilon +
// 2 epsilon (r-1)/(m-1). For tensors of rank > 2 the lines run along dim 1 with the later dims
// fixed, as torch's argsort(dim=1).
template <class T>
void sparsify_by_della_magprune(std::span<T> delta, std::span<const int64_t> shape, double density,
                                double epsilon, uint64_t key) {
  size_t outer = 1, length = delta.size(), inner = 1;
  if (shape.size() >= 2) {
    outer = size_t(shape[0]);
    length = size_t(shape[1]);
    inner = 1;
    for (size_t d = 2; d < shape.size(); ++d) inner *= size_t(shape[d]);
  }
  assert(outer * length * inner == delta.size());
  if (length == 0) return;

  std::vector<T> line(length);
  std::vector<size_t> ranks(length);
  std::vector<float> u(length);
  const double low = density - epsilon;
  const double slope = length > 1 ? 2 * epsilon / double(length - 1) : 0.0;
  for (size_t o = 0; o < outer; ++o) {
    for (size_t r = 0; r < inner; ++r) {
      const size_t first = o * length * inner + r;
      for (size_t j = 0; j < length; ++j) line[j] = delta[first + j * inner];
      ascending_magnitude_ranks<T>(line, ranks);
      if (inner == 1) {
        fill_uniform01(key, first, u);
      } else {
        for (size_t j = 0; j < length; ++j) u[j] = uniform01(key, first + j * inner);
      }
      for (size_t j = 0; j < length; ++j) {
        // QUIRK fix: MergeKit divides by m - 1 = 0 on lines of length 1; p = density there.
        const double p = length > 1 ? low + slope * double(ranks[j] - 1) : density;
        T& x = delta[first + j * inner];
        x = double(u[j]) < p ? x : T(0);
      }
    }
  }
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
void sparsify_task_vector(std::span<T> delta, std::span<const int64_t> shape, Sparsifier sparsifier,
                          const SparsifyParams& params) {
  if (sparsifier == Sparsifier::None || params.density >= 1) return;
  if (params.density <= 0 || delta.empty()) {
    std::fill(delta.begin(), delta.end(), T(0));
    return;
  }
  const double l1_before = params.rescale ? l1_norm<T>(delta) : 0.0;
  switch (sparsifier) {
    case Sparsifier::None:
      break;
    case Sparsifier::Magnitude:
      sparsify_by_magnitude(delta, params.density);
      break;
    case Sparsifier::Random:
      sparsify_at_random(delta, params.density, params.key);
      break;
    case Sparsifier::MagnitudeOutliers:
      sparsify_by_magnitude_band(delta, params.density, params.gamma);
      break;
    case Sparsifier::DellaMagprune:
      assert(della_band_is_valid(params.density, params.epsilon) && "checked at plan time");
      sparsify_by_della_magprune(delta, shape, params.density, params.epsilon, params.key);
      break;
  }
  if (!params.rescale) return;
  // MergeKit's rule, L1 before over L1 after on the whole tensor (the DARE paper uses 1 / density).
  const double l1_after = l1_norm<T>(delta);
  if (l1_before < kRescaleEpsilon || l1_after < kRescaleEpsilon) return;
  const T factor = T(l1_before / l1_after);
  for (T& x : delta) x *= factor;
}

template void sparsify_task_vector<float>(std::span<float>, std::span<const int64_t>, Sparsifier,
                                          const SparsifyParams&);
template void sparsify_task_vector<double>(std::span<double>, std::span<const int64_t>, Sparsifier,
                                           const SparsifyParams&);

}  // namespace mf
