// passthrough: copies the single input of a tensor, optionally scaled. Used to stack layers from
// different models (frankenmerges) with `slices`, each output layer taken from one source.
#include <algorithm>

#include "core/error.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

class Passthrough : public MethodWithKernel<Passthrough> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "passthrough";
      m.summary = "Copies the tensor of the single input model, optionally scaled.";
      m.params = {
          {"scale", ParamType::Float, ParamScope::PerModel, 1.0, "multiplier of the copied tensor"},
      };
      m.base = BaseRole::Input;
      m.min_models = 1;
      m.max_models = 1;
      m.partial = PartialInputs::MergePresent;
      return m;
    }();
    return info;
  }

  void check(const Params& global, std::span<const Params> per_input, int base) const override {
    if (per_input.size() != 1)
      fail(
          ErrorCode::InvalidConfig,
          "passthrough takes exactly one model per tensor, got {}; use slices with one source each",
          per_input.size());
  }

  template <class T>
  void run(const MergeArgs<T>& args) const {
    MF_CHECK(args.inputs.size() == 1 && args.per_input.size() == 1);
    const size_t n = args.numel();
    const T scale = T(args.per_input[0].get("scale"));
    const T* x = args.inputs[0];
    // A scale of exactly 1 copies bits (NaN payloads and -0 included).
    if (scale == T(1)) {
      std::copy(x, x + n, args.out);
      return;
    }
    for (size_t e = 0; e < n; ++e) args.out[e] = x[e] * scale;
  }
};

}  // namespace

std::shared_ptr<const MergeMethod> make_passthrough() { return std::make_shared<Passthrough>(); }

}  // namespace mf
