#include "methods/method.hpp"

#include "core/error.hpp"

namespace mf {

const ParamSpec* MethodInfo::find_param(std::string_view param_name) const {
  for (const auto& p : params)
    if (p.name == param_name) return &p;
  return nullptr;
}

double Params::get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end())
    fail(ErrorCode::Internal, "parameter `{}` was not resolved by the planner", name);
  return it->second;
}

}  // namespace mf
