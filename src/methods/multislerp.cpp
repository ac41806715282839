// multislerp: barycentric interpolation of any number of models on the hypersphere. Each model
// (its task vector x_i - base when a base is given) becomes a unit vector u_i = v_i / (|v_i| +
// eps), norms over the whole tensor. The weighted mean m = sum w_i u_i fixes the tangent point mhat
// = m / |m|; the weighted tangent vectors T = sum w_i (u_i - (u_i . mhat) mhat) map back with the
// exponential map, mhat cos(|T| + eps) + T sin(|T| + eps) / (|T| + eps), and the result is scaled
// by the weighted norm sum w_i |v_i| (base added back). A single model is returned as it is; when
// |m| < eps two models interpolate linearly and more are an error.
//
// Since sum w_i (u_i . mhat) = m . mhat = |m|, the tangent sum T = m - |m| mhat is zero: what
// remains is mhat cos(eps) times the weighted norm, a scalar times m. The kernel computes that
// scalar in double from double reductions and writes scalar * sum_i (w_i / (|v_i| + eps)) v_i,
// summed in double and rounded once. Weights are rounded to T first, as MergeKit rounds them to
// the tensor's dtype.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "kernels/double_sum.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

class Multislerp : public MethodWithKernel<Multislerp> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "multislerp";
      m.paper_url = "https://goddard.blog/posts/multislerp-wow-what-a-cool-idea";
      m.summary =
          "Weighted spherical interpolation of any number of models (or their task vectors when "
          "a base is given) on the hypersphere.";
      m.params = {
          {"weight", ParamType::Float, ParamScope::PerNonBase, std::nullopt,
           "this model's share of the interpolation"},
          {"normalize_weights", ParamType::Bool, ParamScope::Global, 1.0,
           "divide the weights by their sum"},
          {"eps", ParamType::Float, ParamScope::Global, 1e-8,
           "small constant added to norms; a weighted mean shorter than it is degenerate"},
      };
      m.base = BaseRole::Optional;
      m.min_models = 1;
      m.partial = PartialInputs::MergePresent;
      return m;
    }();
    return info;
  }

  void check(const Params& global, std::span<const Params> per_input, int base) const override {
    // eps keeps the divisions by norms defined (MergeKit divides 0 by 0 for a zero task vector, and
    // by the tangent norm, which can be exactly zero, when eps = 0).
    const double eps = global.get("eps");
    if (!(eps > 0)) fail(ErrorCode::InvalidConfig, "multislerp needs eps > 0, got {}", eps);
    if (!global.flag("normalize_weights")) return;
    double sum = 0, magnitude = 0, count = 0;
    for (size_t i = 0; i < per_input.size(); ++i) {
      if (int(i) == base) continue;
      sum += per_input[i].get("weight");
      magnitude += std::abs(per_input[i].get("weight"));
      ++count;
    }
    // QUIRK fix: MergeKit divides by the zero sum and writes inf / NaN. A single model is returned
    // unchanged whatever its weight.
    if (count > 1 && std::abs(sum) <= 1e-9 * magnitude)
      fail(ErrorCode::InvalidConfig,
           "multislerp with normalize_weights: true needs weights that do not sum to zero (they "
           "sum to {}); set normalize_weights: false or change the weights",
           sum);
  }

  template <class T>
  void run(const MergeArgs<T>& args) const {
    const size_t n = args.numel();
    const int count = int(args.inputs.size());
    const T* base = args.base >= 0 ? args.inputs[args.base] : nullptr;
    std::vector<T*> v;
    std::vector<double> w;
    for (int i = 0; i < count; ++i) {
      if (i == args.base) continue;
      v.push_back(args.inputs[i]);
      w.push_back(double(T(args.per_input[i].get("weight"))));
    }
    if (v.size() <= 1) {  // one model: returned unchanged (the base alone, when it is all there is)
      const T* only = v.empty() ? base : v[0];
      std::copy(only, only + n, args.out);
      return;
    }
    const size_t models = v.size();
    const double eps = args.global->get("eps");
    if (args.global->flag("normalize_weights")) {
      double sum = 0;
      for (double x : w) sum += x;
      for (double& x : w) x /= sum;
    }
    if (base != nullptr)  // task vectors, in place (the inputs are scratch)
      for (T* x : v)
        for (size_t e = 0; e < n; ++e) x[e] -= base[e];

    // m = sum_i coef_i v_i with coef_i = w_i / (|v_i| + eps); the weighted norm sum_i w_i |v_i|.
    std::vector<double> coef(models);
    double weighted_norm = 0;
    for (size_t i = 0; i < models; ++i) {
      const T* x = v[i];
      const double norm =
          std::sqrt(double_sum(n, [&](size_t e) { return double(x[e]) * double(x[e]); }));
      coef[i] = w[i] / (norm + eps);
      weighted_norm += w[i] * norm;
    }
    const double mean_norm = std::sqrt(double_sum(n, [&](size_t e) {
      const double m = mean_at(v, coef, e);
      return m * m;
    }));

    if (mean_norm < eps) {
      if (models != 2)
        fail(ErrorCode::InvalidFile,
             "multislerp: the weighted mean of the {} normalized models is (nearly) zero in tensor "
             "`{}` (vectors and weights cancel, e.g. v and -v with equal weights): change the "
             "weights",
             models, args.tensor_name);
      // Two models: linear interpolation of the (task) vectors.
      for (size_t e = 0; e < n; ++e)
        args.out[e] = T(w[0] * double(v[0][e]) + w[1] * double(v[1][e]));
    } else {
      // Tangent sum zero (see above): |T| + eps = eps, and the exponential map gives mhat cos(eps).
      const double scale = std::cos(eps) * weighted_norm / mean_norm;
      for (size_t e = 0; e < n; ++e) args.out[e] = T(scale * mean_at(v, coef, e));
    }
    if (base != nullptr)
      for (size_t e = 0; e < n; ++e) args.out[e] += base[e];
  }

 private:
  template <class T>
  static double mean_at(const std::vector<T*>& v, const std::vector<double>& coef, size_t e) {
    double m = 0;
    for (size_t i = 0; i < v.size(); ++i) m += coef[i] * double(v[i][e]);
    return m;
  }
};

}  // namespace

std::shared_ptr<const MergeMethod> make_multislerp() { return std::make_shared<Multislerp>(); }

}  // namespace mf
