// Constructors of the built-in merge methods. registry.cpp lists them; each is defined in its own
// file (the task-arithmetic variants together in task_arithmetic_family.cpp, mirroring COMPAT.md's
// table).
#pragma once

#include <memory>

#include "methods/method.hpp"

namespace mf {

std::shared_ptr<const MergeMethod> make_linear();
std::shared_ptr<const MergeMethod> make_slerp();
std::shared_ptr<const MergeMethod> make_nuslerp();
std::shared_ptr<const MergeMethod> make_multislerp();
std::shared_ptr<const MergeMethod> make_karcher();
std::shared_ptr<const MergeMethod> make_nearswap();
std::shared_ptr<const MergeMethod> make_model_stock();
std::shared_ptr<const MergeMethod> make_passthrough();

std::shared_ptr<const MergeMethod> make_task_arithmetic();
std::shared_ptr<const MergeMethod> make_ties();
std::shared_ptr<const MergeMethod> make_dare_linear();
std::shared_ptr<const MergeMethod> make_dare_ties();
std::shared_ptr<const MergeMethod> make_breadcrumbs();
std::shared_ptr<const MergeMethod> make_breadcrumbs_ties();
std::shared_ptr<const MergeMethod> make_della();
std::shared_ptr<const MergeMethod> make_della_linear();

std::shared_ptr<const MergeMethod> make_sce();
std::shared_ptr<const MergeMethod> make_ram();
std::shared_ptr<const MergeMethod> make_ramplus_tl();
std::shared_ptr<const MergeMethod> make_arcee_fusion();

}  // namespace mf
