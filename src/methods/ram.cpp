// ram (Reinforced Agent Merging) and the kernel it shares with ramplus_tl (ram.hpp). MergeKit
// forms the deltas in the compute dtype, so they are rounded to T here too: which entries are
// active then agrees with it. The sums over models run in double and the result is rounded once.
#include "methods/ram.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "methods/builtin_methods.hpp"

namespace mf {

namespace {

// Per model: how many of its active entries no other model has (unique) or some other has too
// (shared).
struct ActiveCounts {
  std::vector<size_t> unique, shared;
};

template <class T>
ActiveCounts count_active(const std::vector<const T*>& deltas, size_t n, T threshold) {
  ActiveCounts counts{std::vector<size_t>(deltas.size()), std::vector<size_t>(deltas.size())};
  for (size_t e = 0; e < n; ++e) {
    size_t active = 0, last = 0;
    for (size_t i = 0; i < deltas.size(); ++i)
      if (std::abs(deltas[i][e]) > threshold) {
        ++active;
        last = i;
      }
    if (active == 1) {
      ++counts.unique[last];
    } else if (active > 1) {
      for (size_t i = 0; i < deltas.size(); ++i)
        if (std::abs(deltas[i][e]) > threshold) ++counts.shared[i];
    }
  }
  return counts;
}

class Ram : public MethodWithKernel<Ram> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "ram";
      m.paper_url = "https://arxiv.org/abs/2601.13572";
      m.summary =
          "Reinforced Agent Merging: adds each delta that only one model makes whole, and the "
          "mean of the deltas several models make.";
      m.params = {
          {"epsilon", ParamType::Float, ParamScope::Global, 1e-5,
           "a delta counts as made where its magnitude exceeds this"},
      };
      m.base = BaseRole::Required;
      m.min_models = 0;  // the base alone is accepted; the result is the base
      m.partial = PartialInputs::MergePresent;
      return m;
    }();
    return info;
  }

  void check(const Params& global, std::span<const Params> per_input, int base) const override {
    // MergeKit takes a negative threshold and then counts every entry, zeros included, as active.
    check_ram_not_negative("ram", "epsilon", global.get("epsilon"));
  }

  template <class T>
  void run(const MergeArgs<T>& args) const {
    merge_reinforced_agents(args, args.global->get("epsilon"), nullptr);
  }
};

}  // namespace

void check_ram_not_negative(const char* method, const char* name, double value) {
  if (!(value >= 0))
    fail(ErrorCode::InvalidConfig, "{} needs {} >= 0, got {}", method, name, value);
}

template <class T>
void merge_reinforced_agents(const MergeArgs<T>& args, double epsilon, const UniqueBoost* boost) {
  const size_t n = args.numel();
  const int count = int(args.inputs.size());
  MF_CHECK(args.base >= 0 && args.base < count && "the planner guarantees a base");
  const T* base = args.inputs[args.base];

  std::vector<const T*> deltas;
  for (int i = 0; i < count; ++i) {
    if (i == args.base) continue;
    T* x = args.inputs[i];
    for (size_t e = 0; e < n; ++e) x[e] -= base[e];
    deltas.push_back(x);
  }
  if (deltas.empty()) {
    std::copy(base, base + n, args.out);
    return;
  }
  // Compared in T, as MergeKit compares a tensor with a Python number.
  const T threshold = T(epsilon);

  // The scale of each model's unique entries: 1 for ram.
  std::vector<double> unique_scale(deltas.size(), 1.0);
  if (boost != nullptr) {
    const ActiveCounts counts = count_active(deltas, n, threshold);
    for (size_t i = 0; i < deltas.size(); ++i) {
      // QUIRK fix: a model with no active entry (identical to the base in this tensor) gets 0 / 0
      // in MergeKit when epsilon is 0, and the NaN spreads over the whole tensor. Its scale
      // multiplies nothing, so it is left at 1.
      if (counts.unique[i] == 0) continue;
      const double ratio = double(counts.shared[i]) / std::max(double(counts.unique[i]), epsilon);
      unique_scale[i] = 1 + boost->r * std::min(std::max(ratio, 0.0), boost->alpha);
    }
  }

  for (size_t e = 0; e < n; ++e) {
    size_t active = 0, last = 0;
    double sum = 0;
    for (size_t i = 0; i < deltas.size(); ++i) {
      const T d = deltas[i][e];
      if (std::abs(d) > threshold) {
        ++active;
        last = i;
        sum += double(d);
      }
    }
    double mixed = 0;
    if (active == 1) mixed = sum * unique_scale[last];
    if (active > 1) mixed = sum / double(active);
    args.out[e] = T(double(base[e]) + mixed);
  }
}

template void merge_reinforced_agents<float>(const MergeArgs<float>&, double, const UniqueBoost*);
template void merge_reinforced_agents<double>(const MergeArgs<double>&, double, const UniqueBoost*);

std::shared_ptr<const MergeMethod> make_ram() { return std::make_shared<Ram>(); }

}  // namespace mf
