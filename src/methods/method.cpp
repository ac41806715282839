#include "methods/method.hpp"

#include <cassert>

namespace mf {

const ParamSpec* MethodInfo::find_param(std::string_view param_name) const {
  for (const auto& p : params)
    if (p.name == param_name) return &p;
  return nullptr;
}

double Params::get(std::string_view name) const {
  auto it = values_.find(name);
  assert(it != values_.end() && "parameter not resolved by the planner");
  return it == values_.end() ? 0.0 : it->second;
}

}  // namespace mf
