// linear (model soups): a weighted average of the inputs, sum w_i x_i, divided by sum w_i when
// `normalize`. Computed in T in recipe order like MergeKit (float32 for half dtypes), so results
// agree up to rounding.
#include <cassert>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

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
    stream.write_each_chunk([&](const Chunk<T>& c, T* out) {
      assert(c.inputs.size() == weights.size() && !weights.empty());
      // Model by model, as MergeKit's accumulation into zeros (so 0 + -0 gives +0 there and here).
      const T* x0 = c.inputs[0];
      for (size_t e = 0; e < c.count; ++e) out[e] = T(0) + x0[e] * weights[0];
      for (size_t i = 1; i < weights.size(); ++i) {
        const T* x = c.inputs[i];
        for (size_t e = 0; e < c.count; ++e) out[e] += x[e] * weights[i];
      }
      if (normalize)
        for (size_t e = 0; e < c.count; ++e) out[e] /= weight_sum;
    });
  }
};

}  // namespace

std::shared_ptr<const MergeMethod> make_linear() { return std::make_shared<Linear>(); }

}  // namespace mf
