// The README.md model card written beside the weights: what was merged, how, and the recipe.
#pragma once

#include <string>

#include "plan/merge_plan.hpp"

namespace mf {

std::string model_card(const MergePlan& plan, const std::string& output_name);

}  // namespace mf
