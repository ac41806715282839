// model_stock: interpolates between the base and the average of N >= 2 fine-tunes by a ratio taken
// from the angle between their task vectors d_i = x_i - base. With c the mean over pairs i < j of
// cos(d_i, d_j) (the norm product clamped below at 1e-6, the cosine clamped to [-1, 1]),
// t = N c / (1 + (N - 1) c), or 0 where |1 + (N - 1) c| < 1e-6, and the result is
// t * mean(x_i) + (1 - t) * base. The cosine is over the whole tensor, or with filter_wise per row
// (vectors along the last dimension; a 1-D tensor is one row). Reductions and the blend are in
// double, rounded once.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "kernels/double_sum.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

class ModelStock : public MethodWithKernel<ModelStock> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "model_stock";
      m.paper_url = "https://arxiv.org/abs/2403.19522";
      m.summary =
          "Interpolates between the base and the average of the fine-tunes by a ratio from the "
          "angles between their task vectors.";
      m.params = {
          {"filter_wise", ParamType::Bool, ParamScope::Global, 0.0,
           "one ratio per row (vectors along the last dimension) instead of per tensor"},
      };
      m.base = BaseRole::Required;
      m.min_models = 2;
      m.partial = PartialInputs::BaseOrOmit;
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
    MF_CHECK(args.base >= 0 && args.base < int(args.inputs.size()));
    const T* base = args.inputs[args.base];
    std::vector<const T*> x;
    for (size_t i = 0; i < args.inputs.size(); ++i)
      if (int(i) != args.base) x.push_back(args.inputs[i]);
    const size_t models = x.size();
    MF_CHECK(models >= 2 && "the planner guarantees two fine-tunes");
    if (n == 0) return;

    size_t length = n;  // of one row
    if (args.global->flag("filter_wise") && args.shape.size() > 1)
      length = size_t(args.shape.back());
    const size_t rows = n / length;

    std::vector<double> sq(models);
    for (size_t r = 0; r < rows; ++r) {
      const size_t start = r * length;
      auto delta = [&](size_t i, size_t e) {
        return double(x[i][start + e]) - double(base[start + e]);
      };
      for (size_t i = 0; i < models; ++i)
        sq[i] = double_sum(length, [&](size_t e) { return delta(i, e) * delta(i, e); });
      double cos_sum = 0;
      size_t pairs = 0;
      for (size_t i = 0; i < models; ++i)
        for (size_t j = i + 1; j < models; ++j) {
          const double dot =
              double_sum(length, [&](size_t e) { return delta(i, e) * delta(j, e); });
          const double norm_product = std::sqrt(sq[i]) * std::sqrt(sq[j]);
          cos_sum += std::clamp(dot / std::max(norm_product, kMinNormProduct), -1.0, 1.0);
          ++pairs;
        }
      const double c = cos_sum / double(pairs);
      const double denominator = 1 + double(models - 1) * c;
      const double t = std::abs(denominator) < kSingular ? 0.0 : double(models) * c / denominator;
      for (size_t e = start; e < start + length; ++e) {
        double sum = 0;
        for (size_t i = 0; i < models; ++i) sum += double(x[i][e]);
        args.out[e] = T(t * (sum / double(models)) + (1 - t) * double(base[e]));
      }
    }
  }

 private:
  static constexpr double kMinNormProduct = 1e-6;
  static constexpr double kSingular = 1e-6;  // |1 + (N - 1) c| below: t = 0, the base is kept
};

}  // namespace

std::shared_ptr<const MergeMethod> make_model_stock() { return std::make_shared<ModelStock>(); }

}  // namespace mf
