// Applies a job's VocabularyAlignment (decided by the planner, plan/merge_plan.hpp) to its loaded
// inputs: each input's rows move to their output rows, the rows an input lacks (or that the recipe
// forces) are filled by the plan's rule (a given input's row, the mean of the inputs that have the
// token, zeros), and padding rows get the mean of the input's token rows. Dimension 0 is the
// vocabulary axis; a row is everything after it. Self-contained on purpose: a streaming executor
// can call it on loaded inputs the same way.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/dtype.hpp"
#include "plan/merge_plan.hpp"

namespace mf {

// `stored[i]` holds input i as stored, `stored_rows[i]` rows of `width` values. Returns the
// re-indexed inputs, alignment.rows rows each. Values computed here (means) are rounded to `round`
// when set, as the inputs were on load.
template <class T>
std::vector<std::unique_ptr<T[]>> align_vocabulary(const VocabularyAlignment& alignment,
                                                   const std::vector<std::unique_ptr<T[]>>& stored,
                                                   const std::vector<int64_t>& stored_rows,
                                                   int64_t width, std::optional<DType> round);

}  // namespace mf
