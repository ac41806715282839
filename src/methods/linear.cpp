// linear (model soups): a weighted average of the inputs, sum w_i x_i, divided by sum w_i when
// `normalize`. Computed in T in recipe order like MergeKit (float32 for half dtypes), so results
// agree up to rounding.
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "kernels/weighted_sum_simd.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

// out = 0 + x_0 w_0 for input 0, out += x_i w_i for the others; an input the stream left as
// stored bf16 (TensorStream::allow_stored) is widened in the same loop.
template <class T>
void add_input_term(const Chunk<T>& c, size_t i, T w, T* out) {
  if (c.inputs[i] != nullptr)
    return i == 0 ? first_term(c.inputs[i], w, c.count, out)
                  : add_term(c.inputs[i], w, c.count, out);
  if constexpr (std::is_same_v<T, float>) {
    MF_CHECK(c.stored[i].dtype == DType::BF16);
    i == 0 ? first_term_bf16(c.stored[i].data, w, c.count, out)
           : add_term_bf16(c.stored[i].data, w, c.count, out);
  } else {
    fail(ErrorCode::Internal, "streams leave inputs stored in float merges only");
  }
}

class Linear : public StreamingKernel<Linear> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "linear";
      m.paper_url = "https://arxiv.org/abs/2203.05482";
      m.summary = "Weighted average of the models (model soups).";
      m.params = {
          {"weight", ParamType::Float, ParamScope::PerModel, std::nullopt,
           "this model's share of the average"},
          {"normalize", ParamType::Bool, ParamScope::Global, 1.0,
           "divide by the sum of the weights"},
      };
      m.base = BaseRole::Input;
      m.min_models = 1;
      m.partial = PartialInputs::MergePresent;
      return m;
    }();
    return info;
  }

  void check(const Params& global, std::span<const Params> per_input, int base) const override {
    if (!global.flag("normalize")) return;
    double sum = 0, magnitude = 0;
    for (const Params& p : per_input) {
      sum += p.get("weight");
      magnitude += std::abs(p.get("weight"));
    }
    // QUIRK fix: MergeKit divides by the zero sum and writes inf / NaN. "Zero" includes a sum that
    // is only rounding noise of weights that cancel (0.1 + 0.2 - 0.3).
    if (std::abs(sum) <= 1e-9 * magnitude)
      fail(
          ErrorCode::InvalidConfig,
          "linear with normalize: true needs weights that do not sum to zero (they sum to {}); set "
          "normalize: false or change the weights",
          sum);
  }

  template <class T>
  void stream(const TensorArgs& args, TensorStream<T>& stream) const {
    std::vector<T> weights;
    T weight_sum = 0;
    for (const Params& p : args.per_input) {
      weights.push_back(T(p.get("weight")));
      weight_sum += weights.back();
    }
    const bool normalize = args.global->flag("normalize");
    for (size_t i = 0; i < weights.size(); ++i) stream.allow_stored(i);
    stream.write_each_chunk([&](const Chunk<T>& c, T* out) {
      MF_CHECK(c.inputs.size() == weights.size() && !weights.empty());
      // Model by model, as MergeKit's accumulation into zeros (so 0 + -0 gives +0 there and here).
      for (size_t i = 0; i < weights.size(); ++i) add_input_term(c, i, weights[i], out);
      if (normalize) divide(out, weight_sum, c.count);
    });
  }
};

}  // namespace

std::shared_ptr<const MergeMethod> make_linear() { return std::make_shared<Linear>(); }

}  // namespace mf
