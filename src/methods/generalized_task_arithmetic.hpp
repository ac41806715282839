// Generalized task arithmetic: one kernel behind task_arithmetic, ties, dare_*, breadcrumbs* and
// della*. Each method is a variant fixing a sparsifier, a sign consensus and the defaults of
// `normalize` and `rescale` (COMPAT.md, "Generalized task arithmetic"). Per tensor: task vectors
// d_i = x_i - base are sparsified, weighted, optionally filtered by a sign vote, summed, optionally
// divided by the summed weights of the contributors, scaled by lambda, and added to the base.
#pragma once

#include <memory>
#include <string>

#include "methods/method.hpp"
#include "methods/task_vector_sparsification.hpp"

namespace mf {

enum class SignConsensus {
  None,  // every weighted delta contributes
  Sum,   // only deltas agreeing with the sign of the summed weighted deltas (zeros never agree)
};

struct TaskArithmeticVariant {
  std::string name;
  std::string paper_url;
  std::string summary;
  Sparsifier sparsifier = Sparsifier::None;
  SignConsensus consensus = SignConsensus::None;
  bool normalize_default = false;
  bool rescale_default = false;
};

std::shared_ptr<const MergeMethod> make_generalized_task_arithmetic(TaskArithmeticVariant variant);

}  // namespace mf
