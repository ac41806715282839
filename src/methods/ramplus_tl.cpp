// ramplus_tl (Reinforced Agent Merging Plus, tensor-local): ram, with each model's unique deltas
// boosted by how much of what it changes other models change too, counted within each tensor
// (ram.hpp). MergeKit returns float32 for half inputs here (its boost is a float32 tensor); we save
// the compute dtype like every other method (COMPAT.md, "Saved dtype").
#include <cmath>

#include "core/error.hpp"
#include "methods/builtin_methods.hpp"
#include "methods/ram.hpp"

namespace mf {

namespace {

class RamPlusTensorLocal : public MethodWithKernel<RamPlusTensorLocal> {
 public:
  const MethodInfo& info() const override {
    static const MethodInfo info = [] {
      MethodInfo m;
      m.name = "ramplus_tl";
      m.paper_url = "https://arxiv.org/abs/2601.13572";
      m.summary =
          "Reinforced Agent Merging Plus (tensor-local): ram with each model's unique deltas "
          "scaled up by the share of its changes that other models also make.";
      m.params = {
          {"r", ParamType::Float, ParamScope::Global, 0.1,
           "strength of the boost of unique deltas"},
          {"alpha", ParamType::Float, ParamScope::Global, 0.2,
           "cap on the shared-to-unique ratio that drives the boost"},
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
    // A negative epsilon would count every entry, zeros included, as active; MergeKit clamps the
    // ratio to [0, alpha], an empty range for alpha < 0.
    check_ram_not_negative("ramplus_tl", "epsilon", global.get("epsilon"));
    check_ram_not_negative("ramplus_tl", "alpha", global.get("alpha"));
    const double r = global.get("r");
    if (!std::isfinite(r)) fail(ErrorCode::InvalidConfig, "ramplus_tl needs a finite r, got {}", r);
  }

  template <class T>
  void run(const MergeArgs<T>& args) const {
    const UniqueBoost boost{args.global->get("r"), args.global->get("alpha")};
    merge_reinforced_agents(args, args.global->get("epsilon"), &boost);
  }
};

}  // namespace

std::shared_ptr<const MergeMethod> make_ramplus_tl() {
  return std::make_shared<RamPlusTensorLocal>();
}

}  // namespace mf
