#include "methods/generalized_task_arithmetic.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/rng.hpp"
#include "kernels/task_vector_combine.hpp"
#include "kernels/task_vector_simd.hpp"

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

// The base's values in a chunk: its converted copy, or its stored bf16 converted into per-thread
// scratch (valid until the next call on this thread).
template <class T>
const T* base_values(const Chunk<T>& c, size_t base) {
  if (c.inputs[base] != nullptr) return c.inputs[base];
  thread_local std::vector<T> converted;
  converted.resize(c.count);
  convert_to(c.stored[base].dtype, c.stored[base].data, converted.data(), c.count);
  return converted.data();
}

// d = x - base for input i of a chunk, from converted copies or from stored bf16 with the
// conversion fused into the subtraction (TensorStream::allow_stored).
template <class T>
void subtract_input(const Chunk<T>& c, size_t i, size_t base, T* d) {
  if (c.inputs[i] != nullptr) return subtract(c.inputs[i], base_values(c, base), c.count, d);
  if constexpr (std::is_same_v<T, float>) {
    assert(c.stored[i].dtype == DType::BF16);
    if (c.inputs[base] != nullptr)
      return subtract_bf16(c.stored[i].data, c.inputs[base], c.count, d);
    assert(c.stored[base].dtype == DType::BF16);
    subtract_bf16(c.stored[i].data, static_cast<const void*>(c.stored[base].data), c.count, d);
  } else {
    assert(false && "streams leave inputs stored in float merges only");
  }
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
      stream.write_input(size_t(base));
      return;
    }
    // The fine-tuned models are read only to form their deltas, and the base by every pass but the
    // output's: its bf16 is widened in the subtraction, and converted once for the output.
    for (int m : models) stream.allow_stored(size_t(m));
    stream.allow_stored(size_t(base));
    // d_i = x_i - base in T, into per-thread scratch.
    const ChunkVectors<T> task_vectors = [&](const Chunk<T>& c, std::vector<std::span<T>>& out) {
      thread_local std::vector<T> scratch;
      scratch.resize(models.size() * c.count);
      out.resize(models.size());
      for (size_t v = 0; v < models.size(); ++v) {
        T* d = scratch.data() + v * c.count;
        subtract_input(c, size_t(models[v]), size_t(base), d);
        out[v] = std::span<T>(d, c.count);
      }
    };
    const TaskVectorSparsifier<T> sparsifier(variant_.sparsifier, std::move(sparsify), args.shape,
                                             stream, task_vectors);
    const CombineParams combine = combine_params(args, weights);
    stream.write_each_chunk([&](const Chunk<T>& c, T* out) {
      thread_local std::vector<std::span<T>> deltas;
      thread_local std::vector<const T*> pointers;
      task_vectors(c, deltas);
      pointers.clear();
      for (size_t v = 0; v < deltas.size(); ++v) {
        sparsifier.apply(c, v, deltas[v]);
        pointers.push_back(deltas[v].data());
      }
      combine_task_vectors(combine, c.count, base_values(c, size_t(base)), pointers.data(), out);
    });
  }

 private:
  // Steps 4-6, the same for every chunk. Without a vote the divisor is the same for every element.
  template <class T>
  CombineParams combine_params(const TensorArgs& args, const std::vector<T>& weights) const {
    CombineParams p;
    p.vote = variant_.consensus == SignConsensus::Sum;
    p.normalize = args.global->flag("normalize");
    p.lambda = args.global->get("lambda");
    for (T w : weights) p.weights.push_back(double(w));
    for (double w : p.weights) p.weight_sum += w;
    if (std::abs(p.weight_sum) < kZeroWeightSum) p.weight_sum = 1;
    return p;
  }

  TaskArithmeticVariant variant_;
  MethodInfo info_;
};

}  // namespace

std::shared_ptr<const MergeMethod> make_generalized_task_arithmetic(TaskArithmeticVariant variant) {
  return std::make_shared<GeneralizedTaskArithmetic>(std::move(variant));
}

}  // namespace mf
