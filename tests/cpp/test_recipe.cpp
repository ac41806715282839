#include <gtest/gtest.h>

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

}  // namespace
}  // namespace mf
