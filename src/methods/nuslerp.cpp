// nuslerp: spherical interpolation between exactly two models, at t = w2 / (w1 + w2) (0.5 when the
// weights sum to about zero). With a base, the two task vectors x_i - base are interpolated and the
// base is added back. The tensor is split into vectors: the whole tensor (nuslerp_flatten, the
// default, which wins over row-wise), else the rows (vectors along the last dimension) or, with
// nuslerp_row_wise, the columns (vectors along dimension 0). Per vector the angle comes from the
// normalized copies (norms clamped below at 1e-7), the coefficients sin((1-t) theta) / sin(theta)
// and sin(t theta) / sin(theta) apply to the ORIGINAL vectors, and (anti)parallel vectors
// (1 - cos^2 <= 1e-16) interpolate linearly. Norms and dot products accumulate in double, the two
// coefficients of each vector are computed in double, the elementwise math is in T.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "kernels/double_sum.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

// How a tensor of n elements is cut into `count` vectors of `length` elements each.
enum class VectorLayout {
  Whole,    // one vector: the flattened tensor
  Rows,     // along the last dimension: vector k is [k * length, (k + 1) * length)
  Columns,  // along dimension 0: vector k is {k, k + count, k + 2 count, ...}
};

class Nuslerp : public MethodWithKernel<Nuslerp> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "nuslerp";
      m.paper_url = "https://en.wikipedia.org/wiki/Slerp";
      m.summary =
          "Spherical interpolation between two models (or their task vectors when a base is "
          "given), by relative weight; per tensor, row or column.";
      m.params = {
          {"weight", ParamType::Float, ParamScope::PerNonBase, std::nullopt,
           "this model's share: t = w2 / (w1 + w2)"},
          {"nuslerp_flatten", ParamType::Bool, ParamScope::Global, 1.0,
           "interpolate the whole tensor as one vector (wins over nuslerp_row_wise)"},
          {"nuslerp_row_wise", ParamType::Bool, ParamScope::Global, 0.0,
           "without flattening: interpolate columns (vectors along dimension 0) instead of rows"},
      };
      m.base = BaseRole::Optional;
      m.min_models = 2;
      m.max_models = 2;
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
    const int count = int(args.inputs.size());
    MF_CHECK(count == 2 + (args.base >= 0 ? 1 : 0));
    std::vector<int> others;
    for (int i = 0; i < count; ++i)
      if (i != args.base) others.push_back(i);
    MF_CHECK(others.size() == 2);
    T* v0 = args.inputs[others[0]];
    T* v1 = args.inputs[others[1]];
    const T* base = args.base >= 0 ? args.inputs[args.base] : nullptr;

    const double w0 = args.per_input[others[0]].get("weight");
    const double w1 = args.per_input[others[1]].get("weight");
    const double total = w0 + w1;
    const double t = std::abs(total) < kZeroWeightSum ? 0.5 : w1 / total;

    if (base != nullptr)  // task vectors, in place (the inputs are scratch)
      for (size_t e = 0; e < n; ++e) {
        v0[e] -= base[e];
        v1[e] -= base[e];
      }
    if (n == 0) return;

    // The layout of the vectors.
    VectorLayout layout = VectorLayout::Whole;
    size_t length = n;
    if (!args.global->flag("nuslerp_flatten") && args.shape.size() > 1) {
      if (args.global->flag("nuslerp_row_wise")) {
        layout = VectorLayout::Columns;
        length = size_t(args.shape.front());
      } else {
        layout = VectorLayout::Rows;
        length = size_t(args.shape.back());
      }
    }
    const size_t vectors = n / length;

    // Per vector: squared norms and the dot product.
    std::vector<double> sq0(vectors, 0.0), sq1(vectors, 0.0), dot(vectors, 0.0);
    if (layout == VectorLayout::Columns) {
      // Row by row, so memory is read in order; each column sums its rows in order.
      for (size_t r = 0; r < length; ++r) {
        const T* a = v0 + r * vectors;
        const T* b = v1 + r * vectors;
        for (size_t k = 0; k < vectors; ++k) {
          sq0[k] += double(a[k]) * double(a[k]);
          sq1[k] += double(b[k]) * double(b[k]);
          dot[k] += double(a[k]) * double(b[k]);
        }
      }
    } else {
      for (size_t k = 0; k < vectors; ++k) {
        const T* a = v0 + k * length;
        const T* b = v1 + k * length;
        sq0[k] = double_sum(length, [&](size_t e) { return double(a[e]) * double(a[e]); });
        sq1[k] = double_sum(length, [&](size_t e) { return double(b[e]) * double(b[e]); });
        dot[k] = double_sum(length, [&](size_t e) { return double(a[e]) * double(b[e]); });
      }
    }

    // Per vector: the coefficients of v0 and v1.
    std::vector<T> c0(vectors), c1(vectors);
    for (size_t k = 0; k < vectors; ++k) {
      const double norm0 = std::max(std::sqrt(sq0[k]), kMinNorm);
      const double norm1 = std::max(std::sqrt(sq1[k]), kMinNorm);
      const double cosine = std::clamp(dot[k] / norm0 / norm1, -1.0, 1.0);
      if (1 - cosine * cosine <= kColinear) {
        c0[k] = T(1 - t);
        c1[k] = T(t);
      } else {
        const double theta = std::acos(cosine);
        const double sin_theta = std::sin(theta);
        c0[k] = T(std::sin((1 - t) * theta) / sin_theta);
        c1[k] = T(std::sin(t * theta) / sin_theta);
      }
    }

    T* out = args.out;
    switch (layout) {
      case VectorLayout::Whole:
        for (size_t e = 0; e < n; ++e) out[e] = c0[0] * v0[e] + c1[0] * v1[e];
        break;
      case VectorLayout::Rows:
        for (size_t k = 0; k < vectors; ++k)
          for (size_t e = k * length; e < (k + 1) * length; ++e)
            out[e] = c0[k] * v0[e] + c1[k] * v1[e];
        break;
      case VectorLayout::Columns:
        for (size_t r = 0; r < length; ++r)
          for (size_t k = 0, e = r * vectors; k < vectors; ++k, ++e)
            out[e] = c0[k] * v0[e] + c1[k] * v1[e];
        break;
    }
    if (base != nullptr)
      for (size_t e = 0; e < n; ++e) out[e] += base[e];
  }

 private:
  static constexpr double kZeroWeightSum = 1e-6;  // below: t = 0.5
  static constexpr double kMinNorm = 1e-7;        // norms are clamped here before dividing
  static constexpr double kColinear = 1e-16;      // 1 - cos^2 at or below: linear interpolation
};

}  // namespace

std::shared_ptr<const MergeMethod> make_nuslerp() { return std::make_shared<Nuslerp>(); }

}  // namespace mf
