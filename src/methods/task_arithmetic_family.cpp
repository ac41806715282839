// The generalized task-arithmetic variants, one row of COMPAT.md's GTA table each.
#include "methods/builtin_methods.hpp"
#include "methods/generalized_task_arithmetic.hpp"

namespace mf {

namespace {

constexpr const char* kTaskArithmeticPaper = "https://arxiv.org/abs/2212.04089";
constexpr const char* kTiesPaper = "https://arxiv.org/abs/2306.01708";
constexpr const char* kDarePaper = "https://arxiv.org/abs/2311.03099";
constexpr const char* kBreadcrumbsPaper = "https://arxiv.org/abs/2312.06795";
constexpr const char* kDellaPaper = "https://arxiv.org/abs/2406.11617";

}  // namespace

std::shared_ptr<const MergeMethod> make_task_arithmetic() {
  return make_generalized_task_arithmetic({
      .name = "task_arithmetic",
      .paper_url = kTaskArithmeticPaper,
      .summary = "Adds the weighted task vectors (model minus base) to the base.",
      .sparsifier = Sparsifier::None,
      .consensus = SignConsensus::None,
      .normalize_default = false,
      .rescale_default = false,
  });
}

std::shared_ptr<const MergeMethod> make_ties() {
  return make_generalized_task_arithmetic({
      .name = "ties",
      .paper_url = kTiesPaper,
      .summary =
          "Keeps the largest-magnitude entries of each task vector, elects a sign per entry, and "
          "averages the deltas that agree with it.",
      .sparsifier = Sparsifier::Magnitude,
      .consensus = SignConsensus::Sum,
      .normalize_default = true,
      .rescale_default = false,
  });
}

std::shared_ptr<const MergeMethod> make_dare_linear() {
  return make_generalized_task_arithmetic({
      .name = "dare_linear",
      .paper_url = kDarePaper,
      .summary =
          "Drops random entries of each task vector, rescales the rest, and adds the weighted sum "
          "to the base.",
      .sparsifier = Sparsifier::Random,
      .consensus = SignConsensus::None,
      .normalize_default = false,
      .rescale_default = true,
  });
}

std::shared_ptr<const MergeMethod> make_dare_ties() {
  return make_generalized_task_arithmetic({
      .name = "dare_ties",
      .paper_url = kDarePaper,
      .summary =
          "Drops random entries of each task vector, rescales the rest, and merges them with the "
          "TIES sign election.",
      .sparsifier = Sparsifier::Random,
      .consensus = SignConsensus::Sum,
      .normalize_default = false,
      .rescale_default = true,
  });
}

std::shared_ptr<const MergeMethod> make_breadcrumbs() {
  return make_generalized_task_arithmetic({
      .name = "breadcrumbs",
      .paper_url = kBreadcrumbsPaper,
      .summary =
          "Drops both the smallest entries and the largest outliers of each task vector, and adds "
          "the weighted sum to the base.",
      .sparsifier = Sparsifier::MagnitudeOutliers,
      .consensus = SignConsensus::None,
      .normalize_default = false,
      .rescale_default = false,
  });
}

std::shared_ptr<const MergeMethod> make_breadcrumbs_ties() {
  return make_generalized_task_arithmetic({
      .name = "breadcrumbs_ties",
      .paper_url = kBreadcrumbsPaper,
      .summary = "Breadcrumbs sparsification followed by the TIES sign election.",
      .sparsifier = Sparsifier::MagnitudeOutliers,
      .consensus = SignConsensus::Sum,
      .normalize_default = false,
      .rescale_default = false,
  });
}

std::shared_ptr<const MergeMethod> make_della() {
  return make_generalized_task_arithmetic({
      .name = "della",
      .paper_url = kDellaPaper,
      .summary =
          "Drops entries of each task vector at random, larger magnitudes less often, rescales, "
          "and merges with the TIES sign election.",
      .sparsifier = Sparsifier::DellaMagprune,
      .consensus = SignConsensus::Sum,
      .normalize_default = true,
      .rescale_default = true,
  });
}

std::shared_ptr<const MergeMethod> make_della_linear() {
  return make_generalized_task_arithmetic({
      .name = "della_linear",
      .paper_url = kDellaPaper,
      .summary =
          "Drops entries of each task vector at random, larger magnitudes less often, rescales, "
          "and adds the weighted sum to the base.",
      .sparsifier = Sparsifier::DellaMagprune,
      .consensus = SignConsensus::None,
      .normalize_default = false,
      .rescale_default = true,
  });
}

}  // namespace mf
