// slerp: spherical linear interpolation from the base (t = 0) to the other model (t = 1), treating
// each tensor as one flat vector. The angle comes from the normalized vectors; the coefficients
// apply to the ORIGINAL vectors, so the result's norm interpolates too. Nearly parallel vectors
// fall back to linear interpolation. Elementwise math is in T (float32 for half dtypes, as
// MergeKit); norms and the dot product accumulate in double.
#include <algorithm>
#include <cassert>
#include <cmath>

#include "methods/builtin_methods.hpp"
#include "methods/double_sum.hpp"

namespace mf {

namespace {

class Slerp : public MethodWithKernel<Slerp> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "slerp";
      m.paper_url = "https://en.wikipedia.org/wiki/Slerp";
      m.summary =
          "Spherical interpolation between the base model (t = 0) and one other model (t = 1).";
      m.params = {
          {"t", ParamType::Float, ParamScope::Global, std::nullopt,
           "interpolation position: 0 is the base, 1 the other model"},
      };
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
    const T* v0 = args.inputs[args.base];
    const T* v1 = args.inputs[1 - args.base];
    const T t = T(args.global->get("t"));

    T c0 = T(1) - t, c1 = t;
    if (n > 0) {
      const T norm0 = usable_norm(v0, n), norm1 = usable_norm(v1, n);
      // Normalized before multiplying, as MergeKit does, so the raw dot cannot overflow.
      const double dot =
          double_sum(n, [&](size_t e) { return double(v0[e] / norm0) * double(v1[e] / norm1); });
      const T cosine = T(std::clamp(dot, -1.0, 1.0));
      // Nearly (anti)parallel: sin(theta) is too small to divide by.
      if (!(std::abs(cosine) > T(kLerpThreshold))) {
        const T theta = std::acos(cosine);
        const T sin_theta = std::sin(theta);
        c0 = std::sin((T(1) - t) * theta) / sin_theta;
        c1 = std::sin(t * theta) / sin_theta;
      }
    }
    for (size_t e = 0; e < n; ++e) args.out[e] = c0 * v0[e] + c1 * v1[e];
  }

 private:
  static constexpr double kLerpThreshold = 0.9995;
  static constexpr double kNormEpsilon = 1e-8;

  // The vector's L2 norm, or 1 when it is (nearly) zero so that normalizing leaves it as is.
  template <class T>
  static T usable_norm(const T* v, size_t n) {
    const double squares = double_sum(n, [&](size_t e) { return double(v[e]) * double(v[e]); });
    const T norm = T(std::sqrt(squares));
    return norm > T(kNormEpsilon) ? norm : T(1);
  }
};

}  // namespace

std::shared_ptr<const MergeMethod> make_slerp() { return std::make_shared<Slerp>(); }

}  // namespace mf
