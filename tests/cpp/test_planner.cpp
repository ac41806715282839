#include <gtest/gtest.h>

#include "core/error.hpp"
#include "model_fixture.hpp"
#include "plan/merge_plan.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;

class PlannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    testing::write_toy_llama(dir_ / "base", 4, 1);
    testing::write_toy_llama(dir_ / "a", 4, 2);
    testing::write_toy_llama(dir_ / "b", 4, 3, /*lm_head=*/false);
    testing::write_toy_llama(dir_ / "six", 6, 4);
  }
  void TearDown() override { fs::remove_all(dir_); }

  MergePlan plan(const std::string& yaml, PlanOptions options = {}) {
    std::string text = yaml;
    for (size_t at; (at = text.find("$D")) != std::string::npos;)
      text.replace(at, 2, dir_.string());
    return make_plan(parse_recipe(text, "r.yml"), MethodRegistry::builtin(), options);
  }

  ErrorCode error_of(const std::string& yaml, std::string* message = nullptr) {
    try {
      plan(yaml);
    } catch (const Error& e) {
      if (message) *message = e.what();
      return e.code();
    }
    return ErrorCode::Internal;
  }

  const MergeJob& job(const MergePlan& p, const std::string& name) {
    for (const auto& j : p.jobs)
      if (j.output_name == name) return j;
    throw std::runtime_error("no job " + name);
  }

  fs::path dir_;
};

TEST_F(PlannerTest, ModelsFormAddsTheBaseAndResolvesGradients) {
  auto p = plan(R"(
merge_method: task_arithmetic
base_model: $D/base
models:
  - model: $D/a
    parameters:
      weight: [0.0, 1.0]
)");
  EXPECT_EQ(p.models.size(), 2u);
  EXPECT_EQ(p.donor, 0u);
  // embed + 4 layers x 2 + norm + lm_head
  EXPECT_EQ(p.jobs.size(), 11u);
  const auto& l1 = job(p, "model.layers.1.self_attn.q_proj.weight");
  ASSERT_EQ(l1.inputs.size(), 2u);
  EXPECT_EQ(l1.base, 1);                                             // the base is appended last
  EXPECT_NEAR(l1.inputs[0].params.get("weight"), 1.0 / 3.0, 1e-12);  // t = 1/3 in a 4-layer slice
  EXPECT_FALSE(l1.inputs[1].params.has("weight"));  // per-non-base parameters skip the base
  EXPECT_DOUBLE_EQ(job(p, "model.embed_tokens.weight").inputs[0].params.get("weight"),
                   0.0);  // t = 0
}

TEST_F(PlannerTest, FrankenmergeRenumbersLayersAndRebuildsPerLayerConfig) {
  auto p = plan(R"(
merge_method: passthrough
slices:
  - sources: [{model: $D/a, layer_range: [0, 2]}]
  - sources: [{model: $D/six, layer_range: [3, 6]}]
)");
  EXPECT_EQ(p.output_config["num_hidden_layers"], 5);
  EXPECT_EQ(p.output_config["layer_types"],
            nlohmann::json({"kind0", "kind1", "kind3", "kind4", "kind5"}));
  EXPECT_EQ(p.output_config["dtype"], "float32");  // torch_dtype renamed the transformers 5 way
  EXPECT_FALSE(p.output_config.contains("torch_dtype"));
  const auto& l2 = job(p, "model.layers.2.self_attn.q_proj.weight");
  EXPECT_EQ(l2.inputs[0].tensor, "model.layers.3.self_attn.q_proj.weight");
  EXPECT_EQ(p.models[l2.inputs[0].model].ref.path, (dir_ / "six").string());
  // embeddings from the first slice, final norm from the last
  EXPECT_EQ(p.models[job(p, "model.embed_tokens.weight").inputs[0].model].ref.path,
            (dir_ / "a").string());
  EXPECT_EQ(p.models[job(p, "model.norm.weight").inputs[0].model].ref.path,
            (dir_ / "six").string());
}

TEST_F(PlannerTest, MissingLmHeadIsTakenFromTheTiedEmbeddings) {
  auto p = plan(R"(
merge_method: linear
models:
  - model: $D/a
    parameters: {weight: 1}
  - model: $D/b
    parameters: {weight: 1}
)");
  const auto& head = job(p, "lm_head.weight");
  ASSERT_EQ(head.inputs.size(), 2u);
  EXPECT_EQ(head.inputs[1].tensor, "model.embed_tokens.weight");
}

TEST_F(PlannerTest, NoInputStoresLmHeadSoNoneIsWritten) {
  testing::write_toy_llama(dir_ / "c", 4, 5, /*lm_head=*/false);
  auto p = plan(
      "merge_method: linear\nmodels:\n  - model: $D/b\n    parameters: {weight: 1}\n"
      "  - model: $D/c\n    parameters: {weight: 1}\n");
  for (const auto& j : p.jobs) EXPECT_NE(j.output_name, "lm_head.weight");
}

TEST_F(PlannerTest, PrecedenceSourceOverSliceOverTop) {
  auto p = plan(R"(
merge_method: linear
parameters: {weight: 0.1, normalize: false}
slices:
  - sources:
      - model: $D/a
        layer_range: [0, 4]
        parameters: {weight: 0.9}
      - model: $D/base
        layer_range: [0, 4]
    parameters:
      weight: [{filter: norm, value: 0.5}]
)");
  const auto& q = job(p, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_DOUBLE_EQ(q.inputs[0].params.get("weight"), 0.9);
  EXPECT_DOUBLE_EQ(q.inputs[1].params.get("weight"), 0.1);  // slice filter misses: top level
  const auto& n = job(p, "model.layers.0.input_layernorm.weight");
  EXPECT_DOUBLE_EQ(n.inputs[1].params.get("weight"), 0.5);  // slice filter matches
  EXPECT_EQ(q.global.get("normalize"), 0.0);
}

TEST_F(PlannerTest, UserErrorsBeforeAnyTensorIsRead) {
  std::string msg;
  EXPECT_EQ(error_of("merge_method: nope\nmodels: [$D/a]\n", &msg), ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("r.yml:1:"), std::string::npos) << msg;
  EXPECT_EQ(error_of("merge_method: linear\nmodels:\n  - model: $D/a\n", &msg),
            ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("r.yml:3:"), std::string::npos) << msg;
  EXPECT_EQ(error_of("merge_method: passthrough\nslices:\n  - sources:\n      - model: $D/a\n"
                     "        layer_range: [2, 5]\n",
                     &msg),
            ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("past the end"), std::string::npos) << msg;
  EXPECT_NE(msg.find("r.yml:5:"), std::string::npos) << msg;
  EXPECT_EQ(
      error_of(
          "merge_method: linear\nmodels:\n  - model: $D/missing\n    parameters: {weight: 1}\n",
          &msg),
      ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  EXPECT_EQ(
      error_of("merge_method: ties\nmodels:\n  - model: $D/a\n    parameters: {weight: 1}\n", &msg),
      ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("base_model"), std::string::npos) << msg;
  EXPECT_EQ(error_of("merge_method: linear\nmodels:\n  - model: $D/a\n    parameters: {weight: 1}\n"
                     "  - model: $D/six\n    parameters: {weight: 1}\n",
                     &msg),
            ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("layers"), std::string::npos) << msg;
  EXPECT_EQ(error_of("merge_method: slerp\nbase_model: $D/base\nparameters: {t: 0.5}\nmodels:\n"
                     "  - model: $D/a\n  - model: $D/b\n  - model: $D/base\n"),
            ErrorCode::InvalidConfig);
  EXPECT_EQ(error_of("merge_method: linear\nmodels:\n  - model: $D/a\n    parameters: {weight: 1}\n"
                     "  - model: $D/a\n    parameters: {weight: 1}\n",
                     &msg),
            ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("twice"), std::string::npos) << msg;
}

TEST_F(PlannerTest, ShapeMismatchNamesTensorAndModels) {
  testing::write_toy_llama(dir_ / "wide", 4, 6, true, /*hidden=*/8);
  std::string msg;
  EXPECT_EQ(error_of("merge_method: linear\nmodels:\n  - model: $D/a\n    parameters: {weight: 1}\n"
                     "  - model: $D/wide\n    parameters: {weight: 1}\n",
                     &msg),
            ErrorCode::ShapeMismatch);
  EXPECT_NE(msg.find("model.embed_tokens.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("wide"), std::string::npos) << msg;
}

TEST_F(PlannerTest, UndeclaredParametersWarnOrFailWhenStrict) {
  std::string yaml =
      "merge_method: linear\nmodels:\n  - model: $D/a\n    parameters: {weight: 1, density: 0.5}\n";
  auto p = plan(yaml);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("density"), std::string::npos);
  EXPECT_NE(p.warnings[0].find("r.yml:4:"), std::string::npos) << p.warnings[0];
  PlanOptions strict;
  strict.strict = true;
  EXPECT_THROW(plan(yaml, strict), Error);
}

TEST_F(PlannerTest, MixingArchitecturesNeedsAllowCrimes) {
  auto config = nlohmann::json::parse(std::ifstream(dir_ / "b" / "config.json"));
  config["architectures"] = {"MistralForCausalLM"};
  std::ofstream(dir_ / "b" / "config.json") << config.dump();
  std::string yaml =
      "merge_method: linear\nmodels:\n  - model: $D/a\n    parameters: {weight: 1}\n"
      "  - model: $D/b\n    parameters: {weight: 1}\n";
  std::string msg;
  EXPECT_EQ(error_of(yaml, &msg), ErrorCode::InvalidConfig);
  EXPECT_NE(msg.find("--allow-crimes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("r.yml:5:"), std::string::npos) << msg;
  PlanOptions crimes;
  crimes.allow_crimes = true;
  EXPECT_NO_THROW(plan(yaml, crimes));
}

TEST_F(PlannerTest, DtypesFollowTheRecipe) {
  auto p = plan(
      "merge_method: linear\ndtype: bfloat16\nout_dtype: float16\nmodels:\n  - model: $D/a\n"
      "    parameters: {weight: 1}\n");
  EXPECT_EQ(p.jobs[0].out_dtype, DType::F16);
  EXPECT_EQ(p.jobs[0].round_inputs_to, DType::BF16);
  EXPECT_FALSE(p.jobs[0].compute_double);
  EXPECT_EQ(p.output_config["dtype"], "float16");
  auto d = plan(
      "merge_method: linear\ndtype: float64\nmodels:\n  - model: $D/a\n    parameters: {weight: "
      "1}\n");
  EXPECT_TRUE(d.jobs[0].compute_double);
  EXPECT_EQ(d.jobs[0].out_dtype, DType::F64);
}

}  // namespace
}  // namespace mf
