// The list of built-in merge methods. An explicit list passed around by value: no
// self-registration.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "methods/method.hpp"

namespace mf {

class MethodRegistry {
 public:
  static MethodRegistry builtin();
  void add(std::shared_ptr<const MergeMethod> method) { methods_.push_back(std::move(method)); }
  // nullptr when unknown. Shared, so a plan can keep its method alive beyond the registry.
  std::shared_ptr<const MergeMethod> find(std::string_view name) const;
  const std::vector<std::shared_ptr<const MergeMethod>>& all() const { return methods_; }

 private:
  std::vector<std::shared_ptr<const MergeMethod>> methods_;
};

}  // namespace mf
