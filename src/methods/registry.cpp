#include "methods/registry.hpp"

#include "methods/builtin_methods.hpp"

namespace mf {

MethodRegistry MethodRegistry::builtin() {
  MethodRegistry registry;
  registry.add(make_linear());
  registry.add(make_slerp());
  registry.add(make_nuslerp());
  registry.add(make_multislerp());
  registry.add(make_karcher());
  registry.add(make_nearswap());
  registry.add(make_model_stock());
  registry.add(make_passthrough());
  registry.add(make_task_arithmetic());
  registry.add(make_ties());
  registry.add(make_dare_linear());
  registry.add(make_dare_ties());
  registry.add(make_breadcrumbs());
  registry.add(make_breadcrumbs_ties());
  registry.add(make_della());
  registry.add(make_della_linear());
  registry.add(make_sce());
  registry.add(make_ram());
  registry.add(make_ramplus_tl());
  registry.add(make_arcee_fusion());
  return registry;
}

std::shared_ptr<const MergeMethod> MethodRegistry::find(std::string_view name) const {
  for (const auto& method : methods_)
    if (method->info().name == name) return method;
  return nullptr;
}

}  // namespace mf
