// slerp: spherical linear interpolation from the base (t = 0) to the other model (t = 1), treating
// each tensor as one flat vector. The angle comes from the normalized vectors; the coefficients
// apply to the ORIGINAL vectors, so the result's norm interpolates too. Nearly parallel vectors
// fall back to linear interpolation. Elementwise math is in T (float32 for half dtypes, as
// MergeKit); norms and the dot product accumulate in double.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "kernels/double_sum.hpp"
#include "kernels/double_sum_simd.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

class Slerp : public StreamingKernel<Slerp> {
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
  void stream(const TensorArgs& args, TensorStream<T>& stream) const {
    if (args.input_count() == 1) {  // a tensor only one model has passes through
      stream.write_input(0);
      return;
    }
    MF_CHECK(args.input_count() == 2 && (args.base == 0 || args.base == 1));
    const int base = args.base;
    const T t = T(args.global->get("t"));

    // Pass 1: both squared norms and the dot product, per chunk, summed in chunk order.
    struct Sums {
      double squares0 = 0, squares1 = 0, dot = 0;
    };
    std::vector<Sums> partial(stream.chunk_count());
    stream.for_each_chunk([&](const Chunk<T>& c) {
      const T* v0 = c.inputs[base];
      const T* v1 = c.inputs[1 - base];
      Sums& s = partial[c.index];
      if constexpr (std::is_same_v<T, float>) {  // the same bits, in SIMD
        const DotSums d = dot_sums(v0, v1, c.count);
        s = {d.aa, d.bb, d.ab};
        return;
      }
      s.squares0 = double_sum(c.count, [&](size_t e) { return double(v0[e]) * double(v0[e]); });
      s.squares1 = double_sum(c.count, [&](size_t e) { return double(v1[e]) * double(v1[e]); });
      s.dot = double_sum(c.count, [&](size_t e) { return double(v0[e]) * double(v1[e]); });
    });
    Sums total;
    for (const Sums& s : partial) {
      total.squares0 += s.squares0;
      total.squares1 += s.squares1;
      total.dot += s.dot;
    }

    T c0 = T(1) - t, c1 = t;
    if (!partial.empty()) {
      // The dot product of the normalized vectors. Products of floats cannot overflow in double,
      // so dividing the raw dot product afterwards equals normalizing first up to rounding.
      const double norm0 = usable_norm<T>(total.squares0), norm1 = usable_norm<T>(total.squares1);
      const T cosine = T(std::clamp(total.dot / (norm0 * norm1), -1.0, 1.0));
      // Nearly (anti)parallel: sin(theta) is too small to divide by.
      if (!(std::abs(cosine) > T(kLerpThreshold))) {
        const T theta = std::acos(cosine);
        const T sin_theta = std::sin(theta);
        c0 = std::sin((T(1) - t) * theta) / sin_theta;
        c1 = std::sin(t * theta) / sin_theta;
      }
    }
    // Pass 2: the interpolation.
    stream.write_each_chunk([&](const Chunk<T>& c, T* out) {
      const T* v0 = c.inputs[base];
      const T* v1 = c.inputs[1 - base];
      for (size_t e = 0; e < c.count; ++e) out[e] = c0 * v0[e] + c1 * v1[e];
    });
  }

 private:
  static constexpr double kLerpThreshold = 0.9995;
  static constexpr double kNormEpsilon = 1e-8;

  // The L2 norm (rounded to T, as MergeKit computes it), or 1 when it is (nearly) zero so that
  // normalizing leaves the vector as is.
  template <class T>
  static double usable_norm(double squares) {
    const T norm = T(std::sqrt(squares));
    return norm > T(kNormEpsilon) ? double(norm) : 1.0;
  }
};

}  // namespace

std::shared_ptr<const MergeMethod> make_slerp() { return std::make_shared<Slerp>(); }

}  // namespace mf
