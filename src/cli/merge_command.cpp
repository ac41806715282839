// `mergeforge merge RECIPE OUT`: mergekit-yaml's command.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.hpp"
#include "cli/merge_options.hpp"
#include "cli/progress.hpp"
#include "plan/merge_plan.hpp"

namespace mf::cli {

namespace {

// Input tensors the output does not have: counted always, named with -v (`plan` shows the same).
void report_unused_inputs(const MergePlan& plan, bool verbose) {
  if (plan.unused_inputs.empty()) return;
  fmt::print(stderr, "note: {} input tensor(s) are not used by the output{}\n",
             plan.unused_inputs.size(), verbose ? ":" : " (-v lists them)");
  if (verbose)
    for (const auto& u : plan.unused_inputs)
      fmt::print(stderr, "  {} of {}\n", u.tensor, plan.models[u.model].ref.text);
}

}  // namespace

Command add_merge_command(CLI::App& app, const std::atomic<bool>& interrupted) {
  auto options = std::make_shared<MergeOptionsCli>();
  auto out_dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("merge", "Run a merge recipe and write the merged model");
  cmd->add_option("config", options->recipe, "Recipe (MergeKit YAML)")->required();
  cmd->add_option("out_path", *out_dir, "Output directory")->required();
  add_merge_options(*cmd, *options);
  return {cmd, [options, out_dir, &interrupted] {
            const MergeOptionsCli& o = *options;
            MergeOptions m = to_merge_options(o);
            print_compatibility_notes(o);
            m.cancel = &interrupted;
            const Plan plan = plan_recipe_file(o.recipe, m);
            if (!o.quiet) report_unused_inputs(plan.details(), o.verbose > 0);
            ProgressReporter progress(plan.tensor_count(), plan.output_bytes(), o.quiet);
            const auto on_event = [&](const Event& e) {
              switch (e.kind) {
                case Event::Kind::Progress:
                  progress.update(e.tensors_done, e.bytes_done);
                  break;
                case Event::Kind::Warning:
                  fmt::print(stderr, "warning: {}\n", e.message);
                  break;
                case Event::Kind::Note:
                  fmt::print(stderr, "note: {}\n", e.message);
                  break;
              }
            };
            MergeResult result;
            try {
              result = merge(plan, *out_dir, on_event);
            } catch (...) {
              progress.finish();
              throw;
            }
            progress.finish();
            if (!o.quiet)
              fmt::print(stderr, "wrote {} tensors to {} in {:.2f}s\n", plan.tensor_count(),
                         *out_dir, result.seconds);
            return 0;
          }};
}

}  // namespace mf::cli
