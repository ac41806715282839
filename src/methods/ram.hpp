// The kernel shared by ram and ramplus_tl (Reinforced Agent Merging): task vectors d_i = x_i - b;
// an entry is active where |d_i| > epsilon. Where exactly one model is active its delta is added
// whole (scaled by that model's boost in ramplus_tl); where several are, their mean is added.
#pragma once

#include "methods/method.hpp"

namespace mf {

// ramplus_tl: each model's unique entries are scaled by 1 + r * clamp(shared / max(unique,
// epsilon), 0, alpha), with shared and unique the model's counts of active entries in this tensor
// that other models share or not.
struct UniqueBoost {
  double r = 0;
  double alpha = 0;
};

// `boost` null: plain ram. The inputs are overwritten.
template <class T>
void merge_reinforced_agents(const MergeArgs<T>& args, double epsilon, const UniqueBoost* boost);

// Plan-time check of a parameter that must be a number >= 0 (epsilon, alpha).
void check_ram_not_negative(const char* method, const char* name, double value);

}  // namespace mf
