// The subcommands of `mergeforge`, one file each. add_*_command declares a subcommand and its
// options on `app`; the returned function runs it once the command line has parsed.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>

namespace mf::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// `interrupted` is set by SIGINT / SIGTERM; a merge stops at the next tensor.
Command add_merge_command(CLI::App& app, const std::atomic<bool>& interrupted);
Command add_plan_command(CLI::App& app);
Command add_methods_command(CLI::App& app);

}  // namespace mf::cli
