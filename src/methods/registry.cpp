#include "methods/registry.hpp"

#include "methods/builtin_methods.hpp"

namespace mf {

MethodRegistry MethodRegistry::builtin() {
  MethodRegistry registry;
  registry.add(make_linear());
  registry.add(make_slerp());
  registry.add(make_passthrough());
  registry.add(make_task_arithmetic());
  registry.add(make_ties());
  registry.add(make_dare_linear());
  registry.add(make_dare_ties());
  registry.add(make_breadcrumbs());
  registry.add(make_breadcrumbs_ties());
  registry.add(make_della());
  registry.add(make_della_linear());
  return registry;
}

const MergeMethod* MethodRegistry::find(std::string_view name) const {
  for (const auto& method : methods_)
    if (method->info().name == name) return method.get();
  return nullptr;
}

}  // namespace mf
