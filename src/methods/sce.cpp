// sce (select, calculate, erase): task vectors d_i = x_i - b; optionally keep only the positions
// where the models disagree most (largest variance across models), elect a sign per position from
// the unweighted sum of the deltas, weigh each model by its share of the summed mean squared
// deltas, and add the weighted mean of the agreeing deltas to the base (COMPAT.md, "sce").
//
// Precision: deltas are rounded to T as MergeKit forms them (so |d| and signs agree with it), the
// variances are computed in double and rounded to T before they are ranked (the order MergeKit's
// float32 variances give), sums over models and over the tensor run in double, the result is
// rounded once.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "kernels/double_sum.hpp"
#include "methods/builtin_methods.hpp"
#include "selection/magnitude_selection.hpp"

namespace mf {

namespace {

// Below this sum of the models' mean squared deltas, every model weighs the same (MergeKit's).
constexpr double kUniformWeightBelow = 1e-6;
// The summed weights of the agreeing models are clamped here before dividing (MergeKit's).
constexpr double kMinDivisor = 1e-6;

class Sce : public MethodWithKernel<Sce> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "sce";
      m.paper_url = "https://arxiv.org/abs/2408.07990";
      m.summary =
          "Keeps the positions where the task vectors vary most across models, elects a sign per "
          "position, and adds the agreeing deltas weighted by each model's mean squared delta.";
      m.params = {
          {"select_topk", ParamType::Float, ParamScope::Global, 1.0,
           "fraction of the positions with nonzero variance across models that are kept (1: all)"},
          {"int8_mask", ParamType::Bool, ParamScope::Global, 0.0,
           "accepted for compatibility; a memory saving in MergeKit that changes no numbers"},
      };
      m.base = BaseRole::Required;
      m.min_models = 0;  // the base alone is accepted; the result is the base
      m.partial = PartialInputs::MergePresent;
      return m;
    }();
    return info;
  }

  void check(const Params& global, std::span<const Params> per_input, int base) const override {
    const double topk = global.get("select_topk");
    if (std::isnan(topk))
      fail(ErrorCode::InvalidConfig, "sce needs a number for select_topk, got {}", topk);
  }

  template <class T>
  void run(const MergeArgs<T>& args) const {
    const size_t n = args.numel();
    const int count = int(args.inputs.size());
    MF_CHECK(args.base >= 0 && args.base < count && "the planner guarantees a base");
    const T* base = args.inputs[args.base];

    // Task vectors in place: the inputs are scratch.
    std::vector<T*> deltas;
    for (int i = 0; i < count; ++i) {
      if (i == args.base) continue;
      T* x = args.inputs[i];
      for (size_t e = 0; e < n; ++e) x[e] -= base[e];
      deltas.push_back(x);
    }
    if (deltas.empty()) {
      std::copy(base, base + n, args.out);
      return;
    }

    const double topk = args.global->get("select_topk");
    if (topk < 1) select_by_variance(deltas, n, topk, args.out);

    // Each model's weight: its mean squared (masked) delta over the summed ones.
    std::vector<double> weights;
    double weight_sum = 0;
    for (const T* d : deltas) {
      const double squares = double_sum(n, [&](size_t e) { return double(d[e]) * double(d[e]); });
      weights.push_back(n > 0 ? squares / double(n) : 0.0);
      weight_sum += weights.back();
    }
    for (double& w : weights)
      w = std::abs(weight_sum) < kUniformWeightBelow ? 1.0 / double(weights.size())
                                                     : w / weight_sum;

    // Elect, then average the agreeing deltas with those weights. Zeros agree with neither sign.
    for (size_t e = 0; e < n; ++e) {
      double vote = 0;
      for (const T* d : deltas) vote += double(d[e]);
      const double majority = vote >= 0 ? 1.0 : -1.0;
      double mixed = 0, divisor = 0;
      for (size_t i = 0; i < deltas.size(); ++i) {
        const double d = double(deltas[i][e]);
        if (d * majority > 0) {
          mixed += d * weights[i];
          divisor += weights[i];
        }
      }
      args.out[e] = T(double(base[e]) + mixed / std::max(divisor, kMinDivisor));
    }
  }

 private:
  // Zeroes every delta outside the k positions of largest population variance across the models,
  // k = int(float32(number of nonzero variances) * topk): MergeKit multiplies the count by the
  // fraction in float32, which on large tensors can give one more or one less than in float64.
  // Among equal variances at the cut, the lowest flat indices are kept. `scratch` holds n values.
  template <class T>
  static void select_by_variance(const std::vector<T*>& deltas, size_t n, double topk, T* scratch) {
    const double models = double(deltas.size());
    size_t nonzero = 0;
    for (size_t e = 0; e < n; ++e) {
      double mean = 0;
      for (const T* d : deltas) mean += double(d[e]);
      mean /= models;
      double squares = 0;
      for (const T* d : deltas) squares += (double(d[e]) - mean) * (double(d[e]) - mean);
      scratch[e] = T(squares / models);
      nonzero += scratch[e] != T(0) ? 1 : 0;
    }
    size_t k = 0;
    if (topk > 0) {
      const float product = float(nonzero) * float(topk);
      k = size_t(std::clamp(product, 0.0f, float(n)));
    }
    // In place: the variances outside the top k become zero. A k past the nonzero count (float32
    // rounding) also keeps the lowest-indexed positions of zero variance.
    std::span<T> variances(scratch, n);
    keep_top_magnitudes(variances, k);
    size_t zeros_kept = k > nonzero ? k - nonzero : 0;
    for (size_t e = 0; e < n; ++e) {
      bool kept = scratch[e] != T(0);
      if (!kept && zeros_kept > 0) {
        kept = true;
        --zeros_kept;
      }
      if (!kept)
        for (T* d : deltas) d[e] = T(0);
    }
  }
};

}  // namespace

std::shared_ptr<const MergeMethod> make_sce() { return std::make_shared<Sce>(); }

}  // namespace mf
