#include <gtest/gtest.h>

#include "config/merge_config.hpp"
#include "core/error.hpp"
#include "plan/parameter_resolver.hpp"

namespace mf {
namespace {

const ParamSpec kWeight{"weight", ParamType::Float, ParamScope::PerModel, std::nullopt, ""};
const ParamSpec kDensity{"density", ParamType::Float, ParamScope::PerModel, 1.0, ""};
const ParamSpec kCount{"count", ParamType::Int, ParamScope::Global, 1.0, ""};
const ParamSpec kFlag{"flag", ParamType::Bool, ParamScope::Global, 0.0, ""};

MergeConfig recipe(const std::string& params_yaml) {
  return parse_recipe(
      "merge_method: linear\nmodels:\n  - model: a\n    parameters:\n" + params_yaml, "r.yml");
}

double eval(const MergeConfig& c, const std::string& name, const ParamSpec& spec,
            std::string_view tensor, double t) {
  auto v = evaluate_setting(c.models[0].parameters.at(name), spec, tensor, t, c);
  EXPECT_TRUE(v.has_value());
  return v.value_or(-1);
}

TEST(Parameters, ScalarsParseAsTheirType) {
  EXPECT_DOUBLE_EQ(*parse_param_scalar("1e-3", ParamType::Float), 1e-3);
  EXPECT_DOUBLE_EQ(*parse_param_scalar("3", ParamType::Int), 3);
  EXPECT_DOUBLE_EQ(*parse_param_scalar("3.0", ParamType::Int), 3);
  EXPECT_FALSE(parse_param_scalar("3.5", ParamType::Int));
  EXPECT_EQ(*parse_param_scalar("true", ParamType::Bool), 1.0);
  EXPECT_EQ(*parse_param_scalar("No", ParamType::Bool), 0.0);
  EXPECT_FALSE(parse_param_scalar("maybe", ParamType::Bool));
  EXPECT_FALSE(parse_param_scalar("abc", ParamType::Float));
}

TEST(Parameters, GradientInterpolatesLinearly) {
  auto c = recipe("      weight: [0.0, 1.0, 0.5]\n");
  EXPECT_DOUBLE_EQ(eval(c, "weight", kWeight, "x", 0.0), 0.0);
  EXPECT_DOUBLE_EQ(eval(c, "weight", kWeight, "x", 0.25), 0.5);  // position 0.5 between 0 and 1
  EXPECT_DOUBLE_EQ(eval(c, "weight", kWeight, "x", 0.5), 1.0);
  EXPECT_DOUBLE_EQ(eval(c, "weight", kWeight, "x", 0.75), 0.75);
  EXPECT_DOUBLE_EQ(eval(c, "weight", kWeight, "x", 1.0), 0.5);
}

TEST(Parameters, BoolGradientSelectsWithoutInterpolating) {
  auto c = recipe("      flag: [false, true]\n");
  EXPECT_EQ(eval(c, "flag", kFlag, "x", 0.9), 0.0);  // int(0.9 * 1) = 0
  EXPECT_EQ(eval(c, "flag", kFlag, "x", 1.0), 1.0);
}

TEST(Parameters, IntegerGradientWithFractionIsAnError) {
  auto c = recipe("      count: [1, 2]\n");
  EXPECT_EQ(eval(c, "count", kCount, "x", 1.0), 2.0);
  EXPECT_THROW(evaluate_setting(c.models[0].parameters.at("count"), kCount, "x", 0.5, c), Error);
}

TEST(Parameters, FirstMatchingFilterWinsAndValuesMayBeGradients) {
  auto c = recipe(
      "      weight:\n"
      "        - filter: self_attn\n"
      "          value: [0.0, 1.0]\n"
      "        - filter: mlp\n"
      "          value: 0.25\n"
      "        - value: 0.5\n");
  EXPECT_DOUBLE_EQ(eval(c, "weight", kWeight, "model.layers.3.self_attn.q_proj.weight", 0.5), 0.5);
  EXPECT_DOUBLE_EQ(eval(c, "weight", kWeight, "model.layers.3.mlp.up_proj.weight", 0.5), 0.25);
  EXPECT_DOUBLE_EQ(eval(c, "weight", kWeight, "model.norm.weight", 0.5), 0.5);
}

TEST(Parameters, NoMatchFallsThroughToTheNextLevelThenTheDefault) {
  auto c = parse_recipe(
      "merge_method: ties\nmodels:\n  - model: a\n    parameters:\n      density:\n        - "
      "filter: mlp\n"
      "          value: 0.3\n      weight: []\nparameters:\n  density: 0.7\n",
      "r.yml");
  SettingLevels levels{{&c.models[0].parameters, &c.parameters}};
  EXPECT_DOUBLE_EQ(*resolve_parameter(kDensity, levels, "x.mlp.y", 0, c), 0.3);
  EXPECT_DOUBLE_EQ(*resolve_parameter(kDensity, levels, "x.attn.y", 0, c), 0.7);
  SettingLevels only_model{{&c.models[0].parameters}};
  EXPECT_DOUBLE_EQ(*resolve_parameter(kDensity, only_model, "x.attn.y", 0, c), 1.0);  // default
  EXPECT_FALSE(resolve_parameter(kWeight, levels, "x", 0, c));  // empty list, required: unresolved
}

TEST(Parameters, TypeErrorNamesTheLine) {
  auto c = recipe("      weight: heavy\n");
  try {
    evaluate_setting(c.models[0].parameters.at("weight"), kWeight, "x", 0, c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidConfig);
    EXPECT_NE(std::string(e.what()).find("r.yml:5:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mf
