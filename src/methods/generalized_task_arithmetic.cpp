#include "methods/generalized_task_arithmetic.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <vector>

#include "core/rng.hpp"

namespace mf {

namespace {

// Without a consensus, a weight sum this close to zero is not divided by (MergeKit's threshold).
constexpr double kZeroWeightSum = 1e-8;

MethodInfo describe(const TaskArithmeticVariant& v) {
  MethodInfo info;
  info.name = v.name;
  info.paper_url = v.paper_url;
  info.summary = v.summary;
  info.base = BaseRole::Required;
  info.min_models = 0;  // a recipe of the base alone is accepted; the result is the base
  info.partial = PartialInputs::MergePresent;
  info.params = {
      {"weight", ParamType::Float, ParamScope::PerNonBase, std::nullopt,
       "scale of this model's task vector"},
      {"density", ParamType::Float, ParamScope::PerNonBase, 1.0,
       "fraction of the task vector kept by the sparsifier (1: all)"},
      {"lambda", ParamType::Float, ParamScope::Global, 1.0, "scale of the combined task vector"},
      {"int8_mask", ParamType::Bool, ParamScope::Global, 0.0,
       "accepted for compatibility; a memory saving in MergeKit that changes no numbers"},
      {"normalize", ParamType::Bool, ParamScope::Global, v.normalize_default ? 1.0 : 0.0,
       "divide by the summed weights of the contributing models"},
      {"rescale", ParamType::Bool, ParamScope::Global, v.rescale_default ? 1.0 : 0.0,
       "after sparsifying, restore each task vector's L1 norm"},
  };
  if (v.sparsifier == Sparsifier::MagnitudeOutliers)
    info.params.push_back({"gamma", ParamType::Float, ParamScope::PerNonBase, 0.01,
                           "fraction of the largest-magnitude entries dropped as outliers"});
  if (v.sparsifier == Sparsifier::DellaMagprune)
    info.params.push_back({"epsilon", ParamType::Float, ParamScope::PerNonBase, 0.15,
                           "keep probabilities range over density +- epsilon by magnitude rank"});
  return info;
}

class GeneralizedTaskArithmetic : public MethodWithKernel<GeneralizedTaskArithmetic> {
 public:
  explicit GeneralizedTaskArithmetic(TaskArithmeticVariant variant)
      : variant_(std::move(variant)), info_(describe(variant_)) {}

  const MethodInfo& info() const override { return info_; }

  void check(const Params& global, std::span<const Params> per_input, int base) const override {
    if (variant_.sparsifier != Sparsifier::DellaMagprune) return;
    for (size_t i = 0; i < per_input.size(); ++i)
      if (int(i) != base)
        check_della_probability_band(per_input[i].get("density"), per_input[i].get("epsilon"));
  }

  template <class T>
  void run(const MergeArgs<T>& args) const {
    const size_t n = args.numel();
    const int count = int(args.inputs.size());
    assert(args.base >= 0 && args.base < count && "the planner guarantees a base");
    assert(args.per_input.size() == args.inputs.size() && args.global != nullptr);
    const T* base = args.inputs[args.base];

    // Task vectors are built and sparsified in place: the input buffers are scratch.
    std::vector<const T*> deltas;
    std::vector<T> weights;  // rounded to T like the deltas they scale
    for (int i = 0; i < count; ++i) {
      if (i == args.base) continue;
      T* x = args.inputs[i];
      for (size_t e = 0; e < n; ++e) x[e] -= base[e];
      const Params& p = args.per_input[i];
      SparsifyParams sparsify;
      sparsify.density = p.get("density");
      if (variant_.sparsifier == Sparsifier::MagnitudeOutliers) sparsify.gamma = p.get("gamma");
      if (variant_.sparsifier == Sparsifier::DellaMagprune) sparsify.epsilon = p.get("epsilon");
      sparsify.rescale = args.global->flag("rescale");
      // Each model draws its own mask from the tensor's key.
      sparsify.key = stream_key(args.seed, uint64_t(i));
      sparsify_task_vector(std::span<T>(x, n), args.shape, variant_.sparsifier, sparsify);
      deltas.push_back(x);
      weights.push_back(T(p.get("weight")));
    }
    if (deltas.empty()) {
      std::copy(base, base + n, args.out);
      return;
    }
    combine(args, base, deltas, weights);
  }

 private:
  // Steps 4-6: weigh, vote, sum, normalize, scale, add to the base. The sums over models run in
  // double (a product of two floats is exact in double) and the result is rounded once. Elements go
  // in blocks with the models in the outer loop, so the inner loops are plain vectorizable array
  // arithmetic.
  template <class T>
  void combine(const MergeArgs<T>& args, const T* base, const std::vector<const T*>& deltas,
               const std::vector<T>& weights) const {
    constexpr size_t kBlock = 512;
    const size_t n = args.numel();
    const bool normalize = args.global->flag("normalize");
    const double lambda = args.global->get("lambda");
    const bool vote = variant_.consensus == SignConsensus::Sum;

    // Without a vote the divisor is the same for every element.
    double weight_sum = 0;
    for (T w : weights) weight_sum += double(w);
    if (std::abs(weight_sum) < kZeroWeightSum) weight_sum = 1;

    double majority[kBlock], mixed[kBlock], divisor[kBlock];
    for (size_t start = 0; start < n; start += kBlock) {
      const size_t count = std::min(kBlock, n - start);
      std::fill(mixed, mixed + count, 0.0);
      if (vote) {
        // Ties in the vote go to the positive sign.
        std::fill(majority, majority + count, 0.0);
        for (size_t i = 0; i < deltas.size(); ++i) {
          const double w = double(weights[i]);
          const T* d = deltas[i] + start;
          for (size_t e = 0; e < count; ++e) majority[e] += w * double(d[e]);
        }
        for (size_t e = 0; e < count; ++e) majority[e] = majority[e] >= 0 ? 1.0 : -1.0;
        std::fill(divisor, divisor + count, 0.0);
        // Only deltas of the majority's sign count; a zero agrees with neither sign.
        for (size_t i = 0; i < deltas.size(); ++i) {
          const double w = double(weights[i]);
          const T* d = deltas[i] + start;
          for (size_t e = 0; e < count; ++e) {
            const double wd = w * double(d[e]);
            const bool agrees = wd * majority[e] > 0;
            mixed[e] += agrees ? wd : 0.0;
            divisor[e] += agrees ? w : 0.0;
          }
        }
        for (size_t e = 0; e < count; ++e) divisor[e] = divisor[e] == 0 ? 1.0 : divisor[e];
      } else {
        for (size_t i = 0; i < deltas.size(); ++i) {
          const double w = double(weights[i]);
          const T* d = deltas[i] + start;
          for (size_t e = 0; e < count; ++e) mixed[e] += w * double(d[e]);
        }
        std::fill(divisor, divisor + count, weight_sum);
      }
      const T* b = base + start;
      T* out = args.out + start;
      if (normalize) {
        for (size_t e = 0; e < count; ++e)
          out[e] = T(double(b[e]) + mixed[e] / divisor[e] * lambda);
      } else {
        for (size_t e = 0; e < count; ++e) out[e] = T(double(b[e]) + mixed[e] * lambda);
      }
    }
  }

  TaskArithmeticVariant variant_;
  MethodInfo info_;
};

}  // namespace

std::shared_ptr<const MergeMethod> make_generalized_task_arithmetic(TaskArithmeticVariant variant) {
  return std::make_shared<GeneralizedTaskArithmetic>(std::move(variant));
}

}  // namespace mf
