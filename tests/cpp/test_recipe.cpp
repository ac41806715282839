#include <gtest/gtest.h>

#include <chrono>

#include "config/merge_config.hpp"
#include "core/error.hpp"

namespace mf {
namespace {

ErrorCode code_of(const std::string& text, std::string* message = nullptr) {
  try {
    parse_recipe(text, "r.yml");
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return ErrorCode::Internal;
}

TEST(Recipe, ModelsForm) {
  auto c = parse_recipe(R"(
merge_method: ties
base_model: m/base
models:
  - model: m/a
    parameters:
      weight: [0.1, 0.9]
      density: {filter: mlp, value: 0.5}
  - model: m/b@main
parameters:
  normalize: true
dtype: torch.bfloat16
out_dtype: float16
)",
                        "r.yml");
  EXPECT_EQ(c.merge_method, "ties");
  ASSERT_TRUE(c.base_model);
  EXPECT_EQ(c.base_model->path, "m/base");
  ASSERT_EQ(c.models.size(), 2u);
  EXPECT_EQ(c.models[1].model.path, "m/b");  // the revision is dropped for local paths
  EXPECT_EQ(c.models[1].model.text, "m/b@main");
  const auto& w = c.models[0].parameters.at("weight");
  EXPECT_EQ(w.kind, ParamSetting::Kind::Gradient);
  EXPECT_EQ(w.scalars, (std::vector<std::string>{"0.1", "0.9"}));
  EXPECT_EQ(w.mark.line, 7);
  const auto& d = c.models[0].parameters.at("density");
  EXPECT_EQ(d.kind, ParamSetting::Kind::Conditions);
  EXPECT_EQ(*d.conditions.at(0).filter, "mlp");
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_EQ(c.out_dtype, DType::F16);
  EXPECT_FALSE(c.uses_slices);
}

TEST(Recipe, SlicesForm) {
  auto c = parse_recipe(R"(
merge_method: passthrough
slices:
  - sources:
      - model: a
        layer_range: [0, 4]
  - sources:
      - model: b
        layer_range: [2, 6]
        parameters: {scale: 0.5}
    base_model: b
)",
                        "r.yml");
  ASSERT_TRUE(c.uses_slices);
  ASSERT_EQ(c.slices.size(), 2u);
  EXPECT_EQ(c.slices[1].sources[0].layer_start, 2);
  EXPECT_EQ(c.slices[1].sources[0].layer_end, 6);
  EXPECT_EQ(c.slices[1].base_model->path, "b");
}

TEST(Recipe, UnknownKeysAreRecordedWithTheirLine) {
  auto c = parse_recipe("merge_method: linear\nmodels: [a]\nfoo: 1\n", "r.yml");
  ASSERT_EQ(c.unknown_keys.size(), 1u);
  EXPECT_EQ(c.unknown_keys[0].first, "foo");
  EXPECT_EQ(c.unknown_keys[0].second.line, 3);
}

TEST(Recipe, SyntaxErrorNamesTheLine) {
  std::string msg;
  EXPECT_EQ(code_of("merge_method: linear\nmodels:\n  - model: [a\n", &msg),
            ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("r.yml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("YAML syntax error"), std::string::npos) << msg;
}

TEST(Recipe, SchemaErrors) {
  std::string msg;
  EXPECT_EQ(code_of("models: [a]\n", &msg), ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("merge_method"), std::string::npos);
  EXPECT_EQ(code_of("merge_method: linear\n"), ErrorCode::InvalidConfig);
  EXPECT_EQ(code_of("merge_method: linear\nmodels: [a]\nslices: [{sources: [{model: a, "
                    "layer_range: [0, 1]}]}]\n"),
            ErrorCode::InvalidConfig);
  EXPECT_EQ(code_of("merge_method: linear\nmodels: [a]\ndtype: float8\n", &msg),
            ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("r.yml:3:"), std::string::npos) << msg;
  EXPECT_EQ(code_of("merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        "
                    "layer_range: [4, 2]\n",
                    &msg),
            ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("r.yml:5:"), std::string::npos) << msg;
  EXPECT_EQ(code_of("merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        "
                    "layer_range: [0]\n"),
            ErrorCode::InvalidConfig);
  EXPECT_EQ(code_of("merge_method: linear\nmodels: [a]\ntokenizer_source: base\ntokenizer: "
                    "{source: union}\n"),
            ErrorCode::InvalidConfig);
  EXPECT_EQ(code_of("merge_method: linear\nmodels: [a+lora]\n"), ErrorCode::Unsupported);
  EXPECT_EQ(code_of("merge_method: linear\nmodels: [{model: {model: a, lora: b}}]\n"),
            ErrorCode::Unsupported);
  EXPECT_EQ(code_of("merge_method: linear\nmodules: {text: {models: [a]}}\n"),
            ErrorCode::Unsupported);
}

// Parameters l0 .. l<levels-1>: l0 a list of nine {value: 1}, each next one a list of nine
// {value: *previous}: l<k> expands to 9^(k+1) conditions. `weight: *last` closes the recipe.
std::string nested_alias_recipe(int levels) {
  std::string text = "merge_method: linear\nmodels:\n  - model: a\n  - model: b\nparameters:\n";
  for (int level = 0; level < levels; ++level) {
    std::string value = level == 0 ? "1" : "*l" + std::to_string(level - 1);
    text += "  l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 9; ++i) text += (i ? ", {value: " : "{value: ") + value + "}";
    text += "]\n";
  }
  return text + "  weight: *l" + std::to_string(levels - 1) + "\n";
}

TEST(Recipe, BillionLaughsIsRefusedWithItsLine) {
  // 9^12 conditions if the aliases were followed without a bound.
  auto start = std::chrono::steady_clock::now();
  std::string msg;
  EXPECT_EQ(code_of(nested_alias_recipe(12), &msg), ErrorCode::InvalidConfig);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 5.0);
  // The walk stops inside the expansion of l6 (lines 6.. hold l0 ..), at a list of l0 (line 6).
  EXPECT_NE(msg.find("r.yml:6:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("aliases expand to more than 1048576 nodes"), std::string::npos) << msg;
}

TEST(Recipe, AliasInsideItsOwnAnchorIsRefused) {
  std::string msg;
  EXPECT_EQ(code_of("merge_method: linear\nmodels: [a, b]\nparameters:\n  weight: &w "
                    "[{value: *w}]\n",
                    &msg),
            ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("r.yml:4:15:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("aliases expand"), std::string::npos) << msg;
}

TEST(Recipe, AliasesWithinTheBoundAreFollowed) {
  auto c = parse_recipe(R"(
merge_method: linear
models:
  - model: a
    parameters: &shared {weight: 0.25, density: [0.1, 0.9]}
  - model: b
    parameters: *shared
)",
                        "r.yml");
  ASSERT_EQ(c.models.size(), 2u);
  for (const auto& m : c.models) {
    ASSERT_EQ(m.parameters.count("weight"), 1u);
    EXPECT_EQ(m.parameters.at("weight").scalars, std::vector<std::string>{"0.25"});
    ASSERT_EQ(m.parameters.at("density").kind, ParamSetting::Kind::Gradient);
    EXPECT_EQ(m.parameters.at("density").scalars, (std::vector<std::string>{"0.1", "0.9"}));
  }
  // Five levels: l4 is 9^5 = 59049 conditions, the whole document about 300000 nodes.
  auto nested = parse_recipe(nested_alias_recipe(5), "r.yml");
  const ParamSetting* s = &nested.parameters.at("weight");
  for (int level = 4; level >= 0; --level) {
    ASSERT_EQ(s->kind, ParamSetting::Kind::Conditions);
    ASSERT_EQ(s->conditions.size(), 9u);
    EXPECT_EQ(s->mark.line, 6 + level);
    s = s->conditions.back().value.get();
  }
  EXPECT_EQ(s->kind, ParamSetting::Kind::Scalar);
  EXPECT_EQ(s->scalars, std::vector<std::string>{"1"});
}

}  // namespace
}  // namespace mf
