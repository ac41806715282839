// karcher: the Karcher (Riemannian) mean of the inputs' directions on the unit hypersphere, scaled
// by the mean of their norms. Base-agnostic: a configured base is an ordinary input. Each tensor is
// one flat vector. With alpha_i = 1/N:
//  - inputs with norm <= tol take no part in the direction (the others' alphas are renormalized);
//    if none is left the result is zero;
//  - the start is the normalized weighted sum of the unit vectors u_i (the first usable u_i when
//    that sum is shorter than tol);
//  - up to max_iter times: the tangent T = sum alpha_i (theta_i / sin theta_i) (u_i - cos theta_i
//  m),
//    with theta_i = acos(clamp(u_i . m)) and inputs with theta_i < tol skipped; stop when
//    |T| < tol; else m = cos|T| m + sin|T| T / |T|, renormalized (when its norm exceeds tol);
//  - the result is m times sum over ALL inputs of alpha_i |x_i| (zero norms included).
//
// Every iterate is a linear combination of the u_i, so the kernel works in the span of the inputs:
// their Gram matrix (dot products accumulated in double) is factored as C C^T, whose rows
// are the u_i's coordinates in an orthonormal basis of the span. The iteration then runs on
// k-dimensional coordinates with the same arithmetic as on the full vectors (differences cancel as
// they would elementwise, so exactly opposite inputs contribute nothing), while the mean is also
// tracked as coefficients over the inputs. The tensor is read once more to write the result, summed
// in double and rounded once; no buffer beyond the output is needed.
#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "kernels/double_sum.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

class Karcher : public MethodWithKernel<Karcher> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "karcher";
      m.paper_url = "https://en.wikipedia.org/wiki/Karcher_mean";
      m.summary =
          "Karcher (Riemannian) mean of the models' directions on the hypersphere, scaled by "
          "their mean norm.";
      m.params = {
          {"max_iter", ParamType::Int, ParamScope::Global, 10.0,
           "most iterations of the mean's refinement"},
          {"tol", ParamType::Float, ParamScope::Global, 1e-5,
           "convergence tolerance; also the smallest usable norm and angle"},
      };
      m.base = BaseRole::Input;
      m.min_models = 1;
      m.partial = PartialInputs::MergePresent;
      return m;
    }();
    return info;
  }

  template <class T>
  void run(const MergeArgs<T>& args) const {
    const size_t n = args.numel();
    const size_t count = args.inputs.size();
    MF_CHECK(count >= 1);
    if (count == 1) {
      std::copy(args.inputs[0], args.inputs[0] + n, args.out);
      return;
    }
    const double tol = args.global->get("tol");
    const int max_iter = int(args.global->get("max_iter"));
    const double alpha = 1.0 / double(count);

    std::vector<double> norms(count);
    for (size_t i = 0; i < count; ++i) {
      const T* x = args.inputs[i];
      norms[i] = std::sqrt(double_sum(n, [&](size_t e) { return double(x[e]) * double(x[e]); }));
    }
    // The usable inputs (norm above tol) and their renormalized alphas.
    std::vector<size_t> used;
    for (size_t i = 0; i < count; ++i)
      if (norms[i] > tol) used.push_back(i);
    if (used.empty()) {
      std::fill(args.out, args.out + n, T(0));
      return;
    }
    const size_t k = used.size();
    const std::vector<double> weights(k, 1.0 / double(k));
    // 1 / norm, 0 for a zero vector (its unit vector is zero); possible only with tol < 0.
    std::vector<double> inverse(k);
    for (size_t a = 0; a < k; ++a) inverse[a] = norms[used[a]] > 0 ? 1.0 / norms[used[a]] : 0.0;

    // Gram matrix of the unit vectors, then their coordinates: the rows of its Cholesky factor. A
    // pivot at rounding level means an input (numerically) in the span of the earlier ones.
    std::vector<double> coord(k * k, 0.0);  // row a: the coordinates of u_a
    {
      std::vector<double> gram(k * k);
      for (size_t a = 0; a < k; ++a)
        for (size_t b = a; b < k; ++b) {
          const T* x = args.inputs[used[a]];
          const T* y = args.inputs[used[b]];
          const double dot = double_sum(n, [&](size_t e) { return double(x[e]) * double(y[e]); });
          gram[a * k + b] = gram[b * k + a] = dot * inverse[a] * inverse[b];
        }
      for (size_t j = 0; j < k; ++j) {
        double pivot = gram[j * k + j];
        for (size_t c = 0; c < j; ++c) pivot -= coord[j * k + c] * coord[j * k + c];
        if (!(pivot > kDependent * gram[j * k + j])) continue;  // column j stays zero
        const double diagonal = std::sqrt(pivot);
        coord[j * k + j] = diagonal;
        for (size_t a = j + 1; a < k; ++a) {
          double v = gram[a * k + j];
          for (size_t c = 0; c < j; ++c) v -= coord[a * k + c] * coord[j * k + c];
          coord[a * k + j] = v / diagonal;
        }
      }
    }
    auto unit = [&](size_t a) { return std::span<const double>(coord.data() + a * k, k); };
    auto dot = [&](std::span<const double> p, std::span<const double> q) {
      double s = 0;
      for (size_t c = 0; c < k; ++c) s += p[c] * q[c];
      return s;
    };
    auto norm = [&](std::span<const double> p) { return std::sqrt(dot(p, p)); };

    // The mean: its coordinates, and its coefficients over the u_a.
    std::vector<double> mean(k, 0.0), beta(k, 0.0);
    for (size_t a = 0; a < k; ++a) {
      for (size_t c = 0; c < k; ++c) mean[c] += weights[a] * unit(a)[c];
      beta[a] = weights[a];
    }
    const double start_norm = norm(mean);
    if (start_norm < tol) {  // the weighted sum (nearly) vanishes: start from the first input
      std::copy(unit(0).begin(), unit(0).end(), mean.begin());
      std::fill(beta.begin(), beta.end(), 0.0);
      beta[0] = 1;
    } else {
      for (size_t c = 0; c < k; ++c) {
        mean[c] /= start_norm;
        beta[c] /= start_norm;
      }
    }

    std::vector<double> tangent(k), tangent_beta(k);
    for (int iter = 0; iter < max_iter; ++iter) {
      std::fill(tangent.begin(), tangent.end(), 0.0);
      std::fill(tangent_beta.begin(), tangent_beta.end(), 0.0);
      for (size_t a = 0; a < k; ++a) {
        const double cosine = std::clamp(dot(mean, unit(a)), -1.0, 1.0);
        const double theta = std::acos(cosine);
        if (theta < tol) continue;
        const double f = weights[a] * theta / std::sin(theta);
        // f (u_a - cos m)
        for (size_t c = 0; c < k; ++c) tangent[c] += f * (unit(a)[c] - cosine * mean[c]);
        tangent_beta[a] += f;
        for (size_t b = 0; b < k; ++b) tangent_beta[b] -= f * cosine * beta[b];
      }
      const double tangent_norm = norm(tangent);
      if (tangent_norm < tol) break;
      const double c = std::cos(tangent_norm), s = std::sin(tangent_norm) / tangent_norm;
      for (size_t i = 0; i < k; ++i) {
        mean[i] = c * mean[i] + s * tangent[i];
        beta[i] = c * beta[i] + s * tangent_beta[i];
      }
      const double unit_norm = norm(mean);
      if (unit_norm > tol)
        for (size_t i = 0; i < k; ++i) {
          mean[i] /= unit_norm;
          beta[i] /= unit_norm;
        }
    }

    double scale = 0;
    for (double norm : norms) scale += alpha * norm;
    // result = scale * sum_a mean_a u_a = sum_a (scale mean_a / |x_a|) x_a.
    std::vector<double> coef(k);
    std::vector<const T*> x(k);
    for (size_t a = 0; a < k; ++a) {
      coef[a] = scale * beta[a] * inverse[a];
      x[a] = args.inputs[used[a]];
    }
    for (size_t e = 0; e < n; ++e) {
      double r = 0;
      for (size_t a = 0; a < k; ++a) r += coef[a] * double(x[a][e]);
      args.out[e] = T(r);
    }
  }

 private:
  // A Cholesky pivot at most this fraction of its diagonal is rounding: the input adds no new
  // direction (an angle below 1e-6 radians to the span of the earlier inputs).
  static constexpr double kDependent = 1e-12;
};

}  // namespace

std::shared_ptr<const MergeMethod> make_karcher() { return std::make_shared<Karcher>(); }

}  // namespace mf
