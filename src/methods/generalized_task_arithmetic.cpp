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

struct CombineParams {
  bool vote = false;
  bool normalize = false;
  double lambda = 1;
  std::vector<double> weights;  // per task vector
  double weight_sum = 0;        // the divisor without a vote
};

// Steps 4-6: weigh, vote, sum, normalize, scale, add to the base. The sums over models run in
// double (a product of two floats is exact in double) and the result is rounded once. Elements go
// in blocks with the models in the outer loop, so the inner loops are plain vectorizable array
// arithmetic.
template <class T>
[[gnu::always_inline]] inline void combine_blocks(const CombineParams& p, size_t n, const T* base,
                                                  const T* const* deltas, T* result) {
  constexpr size_t kBlock = 512;
  const size_t models = p.weights.size();
  double majority[kBlock], mixed[kBlock], divisor[kBlock];
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t count = std::min(kBlock, n - start);
    std::fill(mixed, mixed + count, 0.0);
    if (p.vote) {
      // Ties in the vote go to the positive sign.
      std::fill(majority, majority + count, 0.0);
      for (size_t i = 0; i < models; ++i) {
        const double w = p.weights[i];
        const T* d = deltas[i] + start;
        for (size_t e = 0; e < count; ++e) majority[e] += w * double(d[e]);
      }
      for (size_t e = 0; e < count; ++e) majority[e] = majority[e] >= 0 ? 1.0 : -1.0;
      std::fill(divisor, divisor + count, 0.0);
      // Only deltas of the majority's sign count; a zero agrees with neither sign.
      for (size_t i = 0; i < models; ++i) {
        const double w = p.weights[i];
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
      for (size_t i = 0; i < models; ++i) {
        const double w = p.weights[i];
        const T* d = deltas[i] + start;
        for (size_t e = 0; e < count; ++e) mixed[e] += w * double(d[e]);
      }
      std::fill(divisor, divisor + count, p.weight_sum);
    }
    const T* b = base + start;
    T* out = result + start;
    if (p.normalize) {
      for (size_t e = 0; e < count; ++e)
        out[e] = T(double(b[e]) + mixed[e] / divisor[e] * p.lambda);
    } else {
      for (size_t e = 0; e < count; ++e) out[e] = T(double(b[e]) + mixed[e] * p.lambda);
    }
  }
}

// The hot loop, compiled for AVX2 as well as the baseline and picked at run time (FMA is left out
// on purpose: fused multiply-adds would round differently). Not under ThreadSanitizer: the clones'
// ifunc resolver runs during relocation, before the TSan runtime is set up, and crashes the
// program at startup (scripts/tsan.sh).
#if defined(__SANITIZE_THREAD__)
#define MF_AVX2_CLONES
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MF_AVX2_CLONES
#endif
#endif
#ifndef MF_AVX2_CLONES
#define MF_AVX2_CLONES [[gnu::target_clones("avx2", "default")]]
#endif
MF_AVX2_CLONES void combine_deltas(const CombineParams& p, size_t n, const float* base,
                                   const float* const* deltas, float* result) {
  combine_blocks(p, n, base, deltas, result);
}
MF_AVX2_CLONES void combine_deltas(const CombineParams& p, size_t n, const double* base,
                                   const double* const* deltas, double* result) {
  combine_blocks(p, n, base, deltas, result);
}

class GeneralizedTaskArithmetic : public StreamingKernel<GeneralizedTaskArithmetic> {
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

  size_t chunk_granule(std::span<const int64_t> shape) const override {
    return TaskVectorSparsifier<float>::granule(variant_.sparsifier, shape);
  }

  template <class T>
  void stream(const TensorArgs& args, TensorStream<T>& stream) const {
    const int count = int(args.input_count());
    const int base = args.base;
    assert(base >= 0 && base < count && "the planner guarantees a base");
    assert(args.global != nullptr);

    std::vector<int> models;  // the inputs other than the base, one task vector each
    std::vector<SparsifyParams> sparsify;
    std::vector<T> weights;  // rounded to T like the deltas they scale
    for (int i = 0; i < count; ++i) {
      if (i == base) continue;
      const Params& p = args.per_input[i];
      SparsifyParams s;
      s.density = p.get("density");
      if (variant_.sparsifier == Sparsifier::MagnitudeOutliers) s.gamma = p.get("gamma");
      if (variant_.sparsifier == Sparsifier::DellaMagprune) s.epsilon = p.get("epsilon");
      s.rescale = args.global->flag("rescale");
      // Each model draws its own mask from the tensor's key.
      s.key = stream_key(args.seed, uint64_t(i));
      models.push_back(i);
      sparsify.push_back(s);
      weights.push_back(T(p.get("weight")));
    }
    if (models.empty()) {
      stream.write_each_chunk([&](const Chunk<T>& c, T* out) {
        std::copy(c.inputs[base], c.inputs[base] + c.count, out);
      });
      return;
    }
    // d_i = x_i - base in T, into per-thread scratch.
    const ChunkVectors<T> task_vectors = [&](const Chunk<T>& c, std::vector<std::span<T>>& out) {
      thread_local std::vector<T> scratch;
      scratch.resize(models.size() * c.count);
      out.resize(models.size());
      const T* b = c.inputs[base];
      for (size_t v = 0; v < models.size(); ++v) {
        T* d = scratch.data() + v * c.count;
        const T* x = c.inputs[models[v]];
        for (size_t e = 0; e < c.count; ++e) d[e] = x[e] - b[e];
        out[v] = std::span<T>(d, c.count);
      }
    };
    const TaskVectorSparsifier<T> sparsifier(variant_.sparsifier, std::move(sparsify), args.shape,
                                             stream, task_vectors);
    stream.write_each_chunk([&](const Chunk<T>& c, T* out) {
      thread_local std::vector<std::span<T>> deltas;
      task_vectors(c, deltas);
      for (size_t v = 0; v < deltas.size(); ++v) sparsifier.apply(c, v, deltas[v]);
      combine(args, c.count, c.inputs[base], deltas, weights, out);
    });
  }

 private:
  // Steps 4-6 on one chunk.
  template <class T>
  void combine(const TensorArgs& args, size_t n, const T* base,
               const std::vector<std::span<T>>& deltas, const std::vector<T>& weights,
               T* result) const {
    CombineParams p;
    p.vote = variant_.consensus == SignConsensus::Sum;
    p.normalize = args.global->flag("normalize");
    p.lambda = args.global->get("lambda");
    // Without a vote the divisor is the same for every element.
    for (T w : weights) p.weights.push_back(double(w));
    for (double w : p.weights) p.weight_sum += w;
    if (std::abs(p.weight_sum) < kZeroWeightSum) p.weight_sum = 1;
    std::vector<const T*> pointers;
    for (const auto& d : deltas) pointers.push_back(d.data());
    combine_deltas(p, n, base, pointers.data(), result);
  }

  TaskArithmeticVariant variant_;
  MethodInfo info_;
};

}  // namespace

std::shared_ptr<const MergeMethod> make_generalized_task_arithmetic(TaskArithmeticVariant variant) {
  return std::make_shared<GeneralizedTaskArithmetic>(std::move(variant));
}

}  // namespace mf
