// libFuzzer target: mf::parse_recipe over arbitrary text, then what the planner does with the
// parameters of a recipe that parses: every setting is evaluated as each parameter type at several
// layer positions and tensor names, every parameter of the named method is resolved through the
// precedence levels, and the method's plan-time check() sees the resolved values. Errors must be
// recipe errors (or "unsupported"), never crashes, internal errors or other exceptions.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/merge_config.hpp"
#include "core/error.hpp"
#include "methods/registry.hpp"
#include "plan/parameter_resolver.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

constexpr const char* kTensors[] = {"model.layers.3.self_attn.q_proj.weight", "lm_head.weight", ""};
constexpr double kPositions[] = {0.0, 0.37, 1.0};

void expect_recipe_error(const mf::Error& e) { require(e.code() == mf::ErrorCode::InvalidConfig); }

void evaluate_all_ways(const mf::MergeConfig& config, const mf::ParamSettings& settings) {
  for (const auto& [name, setting] : settings) {
    (void)config.where(setting.mark);
    for (mf::ParamType type : {mf::ParamType::Float, mf::ParamType::Int, mf::ParamType::Bool}) {
      mf::ParamSpec spec{name, type, mf::ParamScope::Global, std::nullopt, ""};
      for (const char* tensor : kTensors) {
        for (double t : kPositions) {
          try {
            if (auto v = mf::evaluate_setting(setting, spec, tensor, t, config)) {
              if (type == mf::ParamType::Bool) require(*v == 0.0 || *v == 1.0);
            }
          } catch (const mf::Error& e) {
            expect_recipe_error(e);
          }
        }
      }
    }
  }
}

// The planner's resolution for one tensor of a merge of two models (the second is the base when the
// method has one), followed by the method's own range checks.
void resolve_for_method(const mf::MergeConfig& config, const mf::MergeMethod& method) {
  const mf::MethodInfo& info = method.info();
  const mf::ParamSettings* model_levels[2] = {nullptr, nullptr};
  for (size_t i = 0; i < config.models.size() && i < 2; ++i)
    model_levels[i] = &config.models[i].parameters;
  const mf::ParamSettings* slice_level =
      config.slices.empty() ? nullptr : &config.slices.front().parameters;
  int base = info.base == mf::BaseRole::Input ? -1 : 1;
  for (const char* tensor : kTensors) {
    for (double t : kPositions) {
      try {
        mf::Params global;
        std::vector<mf::Params> per_input(2);
        bool complete = true;
        for (const mf::ParamSpec& spec : info.params) {
          if (spec.scope == mf::ParamScope::Global) {
            mf::SettingLevels levels{{slice_level, &config.parameters}};
            auto v = mf::resolve_parameter(spec, levels, tensor, t, config);
            if (v)
              global.set(spec.name, *v);
            else
              complete = false;
            continue;
          }
          for (int i = 0; i < 2; ++i) {
            if (spec.scope == mf::ParamScope::PerNonBase && i == base) continue;
            mf::SettingLevels levels{{model_levels[i], slice_level, &config.parameters}};
            auto v = mf::resolve_parameter(spec, levels, tensor, t, config);
            if (v)
              per_input[size_t(i)].set(spec.name, *v);
            else
              complete = false;
          }
        }
        if (complete) method.check(global, per_input, base);  // the planner stops at a missing one
      } catch (const mf::Error& e) {
        expect_recipe_error(e);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mf::MethodRegistry registry = mf::MethodRegistry::builtin();
  std::string text(reinterpret_cast<const char*>(data), size);
  mf::MergeConfig config;
  try {
    config = mf::parse_recipe(text, "recipe.yml");
  } catch (const mf::Error& e) {
    require(e.code() == mf::ErrorCode::InvalidConfig || e.code() == mf::ErrorCode::Unsupported);
    return 0;
  }
  require(config.uses_slices ? !config.slices.empty() : !config.models.empty());
  for (const auto& slice : config.slices)
    for (const auto& source : slice.sources)
      require(0 <= source.layer_start && source.layer_start <= source.layer_end);

  evaluate_all_ways(config, config.parameters);
  for (const auto& model : config.models) evaluate_all_ways(config, model.parameters);
  for (const auto& slice : config.slices) {
    evaluate_all_ways(config, slice.parameters);
    for (const auto& source : slice.sources) evaluate_all_ways(config, source.parameters);
  }
  if (auto method = registry.find(config.merge_method)) resolve_for_method(config, *method);
  return 0;
}
