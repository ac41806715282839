// Every input tensor is merged, passed through, or listed as not used by the output: the plan says
// which (plan.unused_inputs), `plan` and the model card show it, and --strict refuses it.
#include <gtest/gtest.h>

#include <filesystem>

#include "config/merge_config.hpp"
#include "core/error.hpp"
#include "exec/model_card.hpp"
#include "model_fixture.hpp"
#include "plan/merge_plan.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;

class TensorAccountingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_dir("accounting");
    testing::write_toy_llama(dir_ / "a", 4, 1);
    testing::write_toy_llama(dir_ / "b", 4, 2);
  }
  void TearDown() override { fs::remove_all(dir_); }

  MergePlan plan(std::string yaml, PlanOptions options = {}) {
    for (size_t at; (at = yaml.find("$D")) != std::string::npos;)
      yaml.replace(at, 2, dir_.string());
    return make_plan(parse_recipe(yaml, "r.yml"), MethodRegistry::builtin(), options);
  }

  // "model:tensor" of every unused input.
  static std::vector<std::string> unused(const MergePlan& p) {
    std::vector<std::string> out;
    for (const auto& u : p.unused_inputs)
      out.push_back(fmt::format("{}:{}", p.models[u.model].ref.text, u.tensor));
    return out;
  }

  fs::path dir_;
};

constexpr const char* kFrankenmerge = R"(merge_method: passthrough
slices:
  - sources: [{model: $D/a, layer_range: [0, 2]}]
  - sources: [{model: $D/b, layer_range: [3, 4]}]
)";

TEST_F(TensorAccountingTest, ALinearMergeOfLikeModelsUsesEveryTensor) {
  const MergePlan p = plan(
      "merge_method: linear\nmodels:\n  - model: $D/a\n    parameters: {weight: 1}\n"
      "  - model: $D/b\n    parameters: {weight: 1}\n");
  EXPECT_TRUE(p.unused_inputs.empty()) << fmt::format("{}", fmt::join(unused(p), ", "));
}

TEST_F(TensorAccountingTest, AFrankenmergeListsWhatItLeavesOut) {
  const MergePlan p = plan(kFrankenmerge);
  const std::string a = (dir_ / "a").string(), b = (dir_ / "b").string();
  // a gives the embeddings and layers 0-1; b gives layer 3 and the final norm and head.
  const std::vector<std::string> expected = {
      a + ":lm_head.weight",
      a + ":model.layers.2.input_layernorm.weight",
      a + ":model.layers.2.self_attn.q_proj.weight",
      a + ":model.layers.3.input_layernorm.weight",
      a + ":model.layers.3.self_attn.q_proj.weight",
      a + ":model.norm.weight",
      b + ":model.embed_tokens.weight",
      b + ":model.layers.0.input_layernorm.weight",
      b + ":model.layers.0.self_attn.q_proj.weight",
      b + ":model.layers.1.input_layernorm.weight",
      b + ":model.layers.1.self_attn.q_proj.weight",
      b + ":model.layers.2.input_layernorm.weight",
      b + ":model.layers.2.self_attn.q_proj.weight",
  };
  EXPECT_EQ(unused(p), expected);
  const std::string described = describe_plan(p, false);
  EXPECT_NE(described.find("unused:  13 input tensor(s) not used by the output"), std::string::npos)
      << described;
  EXPECT_NE(describe_plan(p, true).find("  [1] model.layers.2.self_attn.q_proj.weight\n"),
            std::string::npos);
  const std::string card = model_card(p, "out");
  EXPECT_NE(card.find("* `model.layers.3.self_attn.q_proj.weight` of " + a), std::string::npos)
      << card;
}

TEST_F(TensorAccountingTest, StrictRefusesAnUnusedTensor) {
  PlanOptions strict;
  strict.strict = true;
  try {
    plan(kFrankenmerge, strict);
    FAIL() << "--strict accepted a plan that drops tensors";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidConfig);
    EXPECT_NE(std::string(e.what()).find("13 input tensor(s) are not used"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace mf
