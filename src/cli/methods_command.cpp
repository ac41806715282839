// `mergeforge methods`: every merge method with its paper, parameters and memory behaviour, from
// the methods' own descriptions.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "methods/registry.hpp"

namespace mf::cli {

namespace {

const char* scope_name(mf::ParamScope s) {
  switch (s) {
    case mf::ParamScope::Global:
      return "global";
    case mf::ParamScope::PerModel:
      return "per model";
    case mf::ParamScope::PerNonBase:
      return "per non-base model";
  }
  return "?";
}

const char* type_name(mf::ParamType t) {
  switch (t) {
    case mf::ParamType::Float:
      return "float";
    case mf::ParamType::Int:
      return "int";
    case mf::ParamType::Bool:
      return "bool";
  }
  return "?";
}

const char* base_name(mf::BaseRole b) {
  switch (b) {
    case mf::BaseRole::Input:
      return "an ordinary input";
    case mf::BaseRole::Required:
      return "required";
    case mf::BaseRole::Optional:
      return "optional";
  }
  return "?";
}

}  // namespace

int run_methods() {
  auto registry = mf::MethodRegistry::builtin();
  for (const auto& m : registry.all()) {
    const auto& info = m->info();
    fmt::print("{}\n  {}\n", info.name, info.summary);
    if (!info.paper_url.empty()) fmt::print("  paper: {}\n", info.paper_url);
    fmt::print("  memory: {}\n", m->streams() ? "streams tensors in chunks"
                                              : "holds whole tensors (bounded by --max-memory)");
    std::string models = info.max_models < 0 ? fmt::format("{}+", info.min_models)
                         : info.max_models == info.min_models
                             ? fmt::format("{}", info.min_models)
                             : fmt::format("{}-{}", info.min_models, info.max_models);
    fmt::print("  base model: {}; models besides the base: {}\n", base_name(info.base), models);
    for (const auto& p : info.params) {
      std::string def =
          p.default_value ? fmt::format("default {:g}", *p.default_value) : "required";
      if (p.type == mf::ParamType::Bool && p.default_value)
        def = *p.default_value != 0 ? "default true" : "default false";
      fmt::print("  - {} ({}, {}, {}){}{}\n", p.name, type_name(p.type), scope_name(p.scope), def,
                 p.help.empty() ? "" : ": ", p.help);
    }
    fmt::print("\n");
  }
  return 0;
}

Command add_methods_command(CLI::App& app) {
  return {app.add_subcommand("methods", "List merge methods and their parameters"), run_methods};
}

}  // namespace mf::cli
