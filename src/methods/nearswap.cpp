// nearswap: takes the other model's value where it is near the base's, the base's elsewhere, with
// a linear ramp between. Per element: w = clamp(t / max(|base - x|, 1e-6), 0, 1) and the result is
// w x + (1 - w) base, so differences up to t take x entirely and a difference d > t takes t / d of
// the way. Elementwise in T.
#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

class Nearswap : public MethodWithKernel<Nearswap> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "nearswap";
      m.paper_url = "https://huggingface.co/alchemonaut/QuartetAnemoi-70B-t0.0001";
      m.summary =
          "Takes the other model's values where they are within t of the base's, interpolating "
          "toward the base for larger differences.";
      m.params = {
          {"t", ParamType::Float, ParamScope::Global, std::nullopt,
           "distance up to which the other model's value is taken whole"},
      };
      m.base = BaseRole::Required;
      m.min_models = 1;
      m.max_models = 1;
      m.partial = PartialInputs::PassBaseOnly;
      return m;
    }();
    return info;
  }

  template <class T>
  void run(const MergeArgs<T>& args) const {
    const size_t n = args.numel();
    if (args.inputs.size() == 1) {  // the base alone passes through
      std::copy(args.inputs[0], args.inputs[0] + n, args.out);
      return;
    }
    MF_CHECK(args.inputs.size() == 2 && (args.base == 0 || args.base == 1));
    const T* base = args.inputs[args.base];
    const T* x = args.inputs[1 - args.base];
    const T t = T(args.global->get("t"));
    const T floor = T(kMinDistance);
    for (size_t e = 0; e < n; ++e) {
      const T w = std::clamp(t / std::max(std::abs(base[e] - x[e]), floor), T(0), T(1));
      args.out[e] = w * x[e] + (T(1) - w) * base[e];
    }
  }

 private:
  static constexpr double kMinDistance = 1e-6;
};

}  // namespace

std::shared_ptr<const MergeMethod> make_nearswap() { return std::make_shared<Nearswap>(); }

}  // namespace mf
