// `mergeforge plan RECIPE`: every check `merge` makes before reading weights (recipe, models,
// shapes, vocabularies, the memory budget), then the plan, without writing anything.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.hpp"
#include "cli/merge_options.hpp"

namespace mf::cli {

Command add_plan_command(CLI::App& app) {
  auto options = std::make_shared<MergeOptionsCli>();
  CLI::App* cmd =
      app.add_subcommand("plan", "Validate a recipe against the models and print the plan");
  cmd->add_option("config", options->recipe, "Recipe (MergeKit YAML)")->required();
  add_merge_options(*cmd, *options);
  return {cmd, [options] {
            const MergeOptionsCli& o = *options;
            const Plan plan = plan_recipe_file(o.recipe, to_merge_options(o));
            fmt::print("{}", plan.describe(o.verbose > 0));
            return 0;
          }};
}

}  // namespace mf::cli
