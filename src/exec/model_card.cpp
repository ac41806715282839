#include "exec/model_card.hpp"

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"

namespace mf {

namespace {

// A hub id ("org/name") rather than a local path: only those belong in the card's base_model list.
bool looks_like_hub_id(const std::string& text) {
  if (text.empty() || text[0] == '/' || text[0] == '.' || text[0] == '~') return false;
  if (std::count(text.begin(), text.end(), '/') != 1) return false;
  return !std::filesystem::exists(text);
}

}  // namespace

std::string model_card(const MergePlan& plan, const std::string& output_name) {
  const auto& info = plan.method->info();
  std::string hub_ids;
  for (const auto& m : plan.models)
    if (looks_like_hub_id(m.ref.text)) hub_ids += fmt::format("- {}\n", m.ref.text);
  std::string card = "---\n";
  if (!hub_ids.empty()) card += "base_model:\n" + hub_ids;
  card += "library_name: transformers\ntags:\n- mergekit\n- merge\n- mergeforge\n---\n";
  card += fmt::format(
      "# {}\n\nThis is a merge of pre-trained language models created with mergeforge.\n\n",
      output_name);
  card += "## Merge Details\n### Merge Method\n\n";
  std::string method =
      info.paper_url.empty() ? info.name : fmt::format("[{}]({})", info.name, info.paper_url);
  card += fmt::format("This model was merged using the {} merge method", method);
  if (plan.config.base_model)
    card += fmt::format(" using {} as a base", plan.config.base_model->text);
  card += ".\n\n### Models Merged\n\nThe following models were included in the merge:\n";
  for (size_t i = 0; i < plan.models.size(); ++i)
    if (!plan.config.base_model || !(plan.models[i].ref == *plan.config.base_model))
      card += fmt::format("* {}\n", plan.models[i].ref.text);
  if (!plan.unused_inputs.empty()) {
    card += fmt::format(
        "\n### Input tensors not in this model\n\n{} tensor(s) of the inputs are not part of the "
        "output:\n\n",
        plan.unused_inputs.size());
    for (const auto& u : plan.unused_inputs)
      card += fmt::format("* `{}` of {}\n", u.tensor, plan.models[u.model].ref.text);
  }
  card +=
      "\n### Configuration\n\nThe following YAML configuration was used to produce this "
      "model:\n\n```yaml\n";
  card += plan.config.source_text;
  if (!plan.config.source_text.empty() && plan.config.source_text.back() != '\n') card += "\n";
  card += "```\n";
  return card;
}

}  // namespace mf
