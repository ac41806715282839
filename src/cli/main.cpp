// The mergeforge command: a thin layer over the engine's API (include/mergeforge/api.hpp). Each
// subcommand lives in its own file (commands.hpp); this file parses the command line, installs the
// signal handlers and turns errors into exit statuses.
#include <CLI/CLI.hpp>
#include <csignal>

#include "cli/commands.hpp"
#include "core/error.hpp"

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_signal(int) { g_interrupted.store(true); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mergeforge: merge pretrained language models from MergeKit recipes"};
  app.set_version_flag("--version", MERGEFORGE_VERSION);
  app.require_subcommand(1);
  const mf::cli::Command commands[] = {
      mf::cli::add_merge_command(app, g_interrupted),
      mf::cli::add_plan_command(app),
      mf::cli::add_methods_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : mf::exit_status(mf::ErrorCode::Usage);
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    for (const auto& command : commands)
      if (command.app->parsed()) return command.run();
    return mf::exit_status(mf::ErrorCode::Usage);
  } catch (const mf::Error& e) {
    fmt::print(stderr, "mergeforge: {}: {}\n", mf::code_name(e.code()), e.what());
    return mf::exit_status(e.code());
  } catch (const std::exception& e) {
    fmt::print(stderr, "mergeforge: internal error: {}\n", e.what());
    return mf::exit_status(mf::ErrorCode::Internal);
  }
}
