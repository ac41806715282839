// arcee_fusion: keeps the other model's value only where it changes the base notably. The
// importance of an element is |x - b| times the KL divergence KL(softmax(x) || softmax(b)) of its
// row (the last dimension; 1e-8 added to every probability); an element whose importance reaches
// median + 1.5 IQR of all importances takes x, the others keep b (COMPAT.md, "arcee_fusion").
//
// Quantiles are the sorted values at index floor(q (m - 1)), found with selection (O(m)) instead
// of a sort. Above kSampleSize elements they come from kSampleSize elements drawn uniformly with
// replacement from the counter-based generator: the same statistics as MergeKit's torch draw, not
// the same bits. Importances, quartiles and threshold are float64 whatever T, in MergeKit's order
// (|x - b| * KL, then median + 1.5 * (q3 - q1), then importance >= threshold), as in MergeKit's
// float64 run. With bfloat16 deltas in small ratios, importances often equal the threshold in real
// numbers; where float64 keeps the tie whatever the row's KL (a first quartile and median of 0 in
// a one-row tensor, say) the element is kept as MergeKit keeps it, where rounding float32 values
// separately could drop it. Where the tie's float64 rounding depends on the KL's last bits, which
// differ from torch's (a sum of cancelling terms), either side can result, as in MergeKit.
#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <span>
#include <vector>

#include "core/rng.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

// Added to every probability before the divergence (MergeKit's).
constexpr double kProbabilityFloor = 1e-8;
// Tensors with more elements than this take their quantiles from a sample of this size.
constexpr size_t kSampleSize = 1'000'000;

// Ascending order with NaN above every number (torch.sort's): a strict weak order, unlike `<`.
template <class T>
bool ascending(T a, T b) {
  return std::isnan(b) ? !std::isnan(a) : a < b;
}

// The sorted values at index floor(q (m - 1)) for q = 1/4, 1/2, 3/4. Permutes `values`.
template <class T>
std::array<T, 3> quartiles(std::span<T> values) {
  const size_t m = values.size();
  assert(m > 0);
  // q (m - 1) is exact in float32 for m <= kSampleSize, so MergeKit's index is the same.
  const size_t lower = (m - 1) / 4, middle = (m - 1) / 2, upper = 3 * (m - 1) / 4;
  const auto at = [&](size_t i) { return values.begin() + std::ptrdiff_t(i); };
  std::nth_element(values.begin(), at(middle), values.end(), ascending<T>);
  // Below `middle` lie the smaller values, above it the larger: each quartile is a selection in
  // one half.
  if (lower < middle) std::nth_element(values.begin(), at(lower), at(middle), ascending<T>);
  if (upper > middle) std::nth_element(at(middle + 1), at(upper), values.end(), ascending<T>);
  return {values[lower], values[middle], values[upper]};
}

// KL(p || q) of one row with p = softmax(x) + 1e-8, q = softmax(b) + 1e-8, in double. `scratch`
// holds 2 * row.size() values.
template <class T>
double row_divergence(const T* x, const T* b, size_t length, std::vector<double>& scratch) {
  double* p = scratch.data();
  double* q = scratch.data() + length;
  const auto softmax = [length](const T* v, double* out) {
    double top = -INFINITY;
    for (size_t j = 0; j < length; ++j) top = std::max(top, double(v[j]));
    double sum = 0;
    for (size_t j = 0; j < length; ++j) sum += out[j] = std::exp(double(v[j]) - top);
    for (size_t j = 0; j < length; ++j) out[j] = out[j] / sum + kProbabilityFloor;
  };
  softmax(x, p);
  softmax(b, q);
  double divergence = 0;
  for (size_t j = 0; j < length; ++j) divergence += p[j] * std::log(p[j] / q[j]);
  return divergence;
}

// Uniform flat indices in [0, n), index j of the sample from two 24-bit uniforms (2j, 2j + 1) so
// that tensors beyond 2^24 elements are covered evenly.
void sample_indices(uint64_t key, size_t n, std::span<size_t> indices) {
  constexpr size_t kBlock = 1024;
  std::array<float, 2 * kBlock> u;
  for (size_t start = 0; start < indices.size(); start += kBlock) {
    const size_t count = std::min(kBlock, indices.size() - start);
    fill_uniform01(key, 2 * start, std::span<float>(u.data(), 2 * count));
    for (size_t j = 0; j < count; ++j) {
      const double fraction = double(u[2 * j]) + std::ldexp(double(u[2 * j + 1]), -24);
      indices[start + j] = std::min(n - 1, size_t(fraction * double(n)));
    }
  }
}

class ArceeFusion : public MethodWithKernel<ArceeFusion> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "arcee_fusion";
      m.paper_url = "https://arcee.ai";
      m.summary =
          "Takes the other model's value where its change to the base is important (|delta| "
          "times the row's KL divergence above median + 1.5 IQR), keeps the base elsewhere.";
      m.base = BaseRole::Required;
      m.min_models = 1;
      m.max_models = 1;
      m.partial = PartialInputs::PassSingle;
      return m;
    }();
    return info;
  }

  template <class T>
  void run(const MergeArgs<T>& args) const {
    const size_t n = args.numel();
    if (args.inputs.size() == 1) {  // a tensor only one model has passes through
      std::copy(args.inputs[0], args.inputs[0] + n, args.out);
      return;
    }
    assert(args.inputs.size() == 2 && (args.base == 0 || args.base == 1));
    if (n == 0) return;
    const T* b = args.inputs[args.base];
    const T* x = args.inputs[1 - args.base];

    // Rows along the last dimension; a scalar is one row of one element.
    const size_t length = args.shape.empty() ? 1 : size_t(args.shape.back());
    const size_t rows = n / length;
    std::vector<double> divergence(rows);
    std::vector<double> scratch(2 * length);
    for (size_t r = 0; r < rows; ++r)
      divergence[r] = row_divergence(x + r * length, b + r * length, length, scratch);
    // |x - b| times the row's divergence, both formed in double as MergeKit's float64 run forms
    // them (the delta of two bfloat16 values is exact there).
    const auto importance = [&](size_t e) {
      return std::abs(double(x[e]) - double(b[e])) * divergence[e / length];
    };

    std::array<double, 3> q;
    if (n <= kSampleSize) {
      std::vector<double> importances(n);
      for (size_t e = 0; e < n; ++e) importances[e] = importance(e);
      q = quartiles(std::span<double>(importances));
    } else {
      std::vector<size_t> indices(kSampleSize);
      sample_indices(args.seed, n, indices);
      std::vector<double> sample(kSampleSize);
      for (size_t j = 0; j < kSampleSize; ++j) sample[j] = importance(indices[j]);
      q = quartiles(std::span<double>(sample));
    }
    const double threshold = q[1] + 1.5 * (q[2] - q[0]);

    for (size_t e = 0; e < n; ++e)
      args.out[e] = importance(e) >= threshold ? b[e] + (x[e] - b[e]) : b[e];
  }
};

}  // namespace

std::shared_ptr<const MergeMethod> make_arcee_fusion() { return std::make_shared<ArceeFusion>(); }

}  // namespace mf
