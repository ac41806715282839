// Planning with different vocabularies: tokenizer sections re-index every vocabulary-indexed
// tensor,
// --unsafe-truncate-embeddings cuts them, and without either different sizes are refused with a
// hint. The merge of a union plan is checked row by row.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/error.hpp"
#include "exec/executor.hpp"
#include "exec/output_writer.hpp"
#include "model_fixture.hpp"
#include "plan/merge_plan.hpp"
#include "sources/safetensors_dir_source.hpp"

namespace mf {
namespace {

namespace fs = std::filesystem;

void write_word_tokenizer(const fs::path& dir, const std::vector<std::string>& words,
                          const std::string& extra = "") {
  nlohmann::json doc;
  doc["version"] = "1.0";
  doc["added_tokens"] = nlohmann::json::array();
  doc["model"] = {
      {"type", "WordLevel"}, {"unk_token", "<unk>"}, {"vocab", nlohmann::json::object()}};
  for (size_t i = 0; i < words.size(); ++i) doc["model"]["vocab"][words[i]] = i;
  std::ofstream(dir / "tokenizer.json") << doc.dump();
  std::ofstream(dir / "tokenizer_config.json") << nlohmann::json{
      {"tokenizer_class", "PreTrainedTokenizerFast"},
      {"unk_token", "<unk>"}}.dump();
  if (!extra.empty()) std::ofstream(dir / "chat_template.jinja") << extra;
}

class PlannerVocabularyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_dir(std::string("vocab-") +
                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    // base: 4 tokens, 4 rows, lm_head; x: 3 tokens, tied (no lm_head); y: no tokenizer, 4 rows.
    testing::write_toy_llama(dir_ / "base", 2, 1, true, 3, 4);
    write_word_tokenizer(dir_ / "base", {"<unk>", "a", "b", "c"});
    testing::write_toy_llama(dir_ / "x", 2, 2, false, 3, 3);
    write_word_tokenizer(dir_ / "x", {"<unk>", "a", "d"}, "{{ messages }} template of x");
    testing::write_toy_llama(dir_ / "y", 2, 3, true, 3, 4);
  }
  void TearDown() override { fs::remove_all(dir_); }

  MergePlan plan(const std::string& yaml, PlanOptions options = {}) {
    std::string text = yaml;
    for (size_t at; (at = text.find("$D")) != std::string::npos;)
      text.replace(at, 2, dir_.string());
    return make_plan(parse_recipe(text, "r.yml"), registry_, options);
  }

  Error error_of(const std::string& yaml, PlanOptions options = {}) {
    try {
      plan(yaml, options);
    } catch (const Error& e) {
      return e;
    }
    return Error(ErrorCode::Internal, "no error");
  }

  static const MergeJob& job(const MergePlan& p, const std::string& name) {
    for (const auto& j : p.jobs)
      if (j.output_name == name) return j;
    throw std::runtime_error("no job " + name);
  }

  const MethodRegistry registry_ = MethodRegistry::builtin();
  fs::path dir_;
};

constexpr const char* kUnion = R"(
merge_method: linear
base_model: $D/base
models:
  - model: $D/base
    parameters: {weight: 0.5}
  - model: $D/x
    parameters: {weight: 0.5}
tokenizer_source: union
dtype: float32
)";

TEST_F(PlannerVocabularyTest, UnionReindexesEveryVocabularyTensor) {
  auto p = plan(kUnion);
  ASSERT_TRUE(p.vocabulary);
  EXPECT_EQ(p.vocabulary->tokens, 5);  // <unk> a b c d
  EXPECT_EQ(p.vocabulary->lacking, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(p.output_config["vocab_size"], 5);
  for (const char* name : {"model.embed_tokens.weight", "lm_head.weight"}) {
    const MergeJob& j = job(p, name);
    EXPECT_EQ(j.shape, (std::vector<int64_t>{5, 3})) << name;
    ASSERT_TRUE(j.vocabulary) << name;
    EXPECT_EQ(j.vocabulary->rows, 5);
    // b, c: only the base has them; d: only x.
    ASSERT_EQ(j.vocabulary->fills.size(), 3u);
    EXPECT_EQ(j.vocabulary->fills[0].row, 2);
    EXPECT_EQ(j.vocabulary->fills[0].kind, RowFill::Kind::Input);
    EXPECT_EQ(j.vocabulary->fills[0].source_row, 2);
    EXPECT_EQ(j.vocabulary->fills[2].row, 4);
    EXPECT_EQ(j.vocabulary->fills[2].source_row, 2);
    EXPECT_EQ(j.vocabulary->input_elements, 4u * 3 + 3 * 3);
  }
  EXPECT_FALSE(job(p, "model.norm.weight").vocabulary);
  ASSERT_TRUE(p.tokenizer);
  EXPECT_FALSE(p.tokenizer->only_when_copying);
  EXPECT_EQ(p.tokenizer->files.size(),
            2u);  // tokenizer.json, tokenizer_config.json (the base has no template)
  std::string text = describe_plan(p, false);
  EXPECT_NE(text.find("vocab:   5 tokens (union), 5 rows"), std::string::npos) << text;
  EXPECT_NE(text.find("(lacks 2 of the output's tokens)"), std::string::npos) << text;
}

TEST_F(PlannerVocabularyTest, UnionMergeRowByRow) {
  auto p = plan(kUnion);
  fs::path out = dir_ / "out";
  {
    OutputWriter writer(p, out.string(), OutputOptions{});
    execute_plan(p, writer, ExecOptions{});
    writer.finish();
  }
  auto merged = SafetensorsDirSource::open(out.string());
  auto base = SafetensorsDirSource::open((dir_ / "base").string());
  auto x = SafetensorsDirSource::open((dir_ / "x").string());
  auto floats = [](const ModelSource& m, const std::string& name) {
    auto bytes = m.stored_bytes(*m.find(name));
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
  };
  auto e = floats(*merged, "model.embed_tokens.weight");
  auto eb = floats(*base, "model.embed_tokens.weight");
  auto ex = floats(*x, "model.embed_tokens.weight");
  ASSERT_EQ(e.size(), 15u);
  for (int c = 0; c < 3; ++c) {
    EXPECT_FLOAT_EQ(e[0 * 3 + c], 0.5f * eb[0 * 3 + c] + 0.5f * ex[0 * 3 + c]);  // <unk>: both
    EXPECT_FLOAT_EQ(e[1 * 3 + c], 0.5f * eb[1 * 3 + c] + 0.5f * ex[1 * 3 + c]);  // a: both
    EXPECT_FLOAT_EQ(e[3 * 3 + c], eb[3 * 3 + c]);                                // c: only the base
    EXPECT_FLOAT_EQ(e[4 * 3 + c], ex[2 * 3 + c]);  // d: only x (its id 2)
  }
  // x is tied: its embeddings stand in for its lm_head, re-indexed the same way.
  auto h = floats(*merged, "lm_head.weight");
  auto hb = floats(*base, "lm_head.weight");
  EXPECT_FLOAT_EQ(h[4 * 3], ex[2 * 3]);
  EXPECT_FLOAT_EQ(h[1 * 3], 0.5f * hb[1 * 3] + 0.5f * ex[1 * 3]);
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
  EXPECT_FALSE(fs::exists(out / "chat_template.jinja"));
  auto tok = nlohmann::json::parse(std::ifstream(out / "tokenizer.json"));
  ASSERT_EQ(tok["added_tokens"].size(), 1u);
  EXPECT_EQ(tok["added_tokens"][0]["content"], "d");
  EXPECT_EQ(tok["added_tokens"][0]["id"], 4);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(out / "config.json"))["vocab_size"], 5);
}

TEST_F(PlannerVocabularyTest, ModelSourcePaddingAndTokenRules) {
  auto p = plan(R"(
merge_method: linear
base_model: $D/base
models:
  - model: $D/base
    parameters: {weight: 0.5}
  - model: $D/x
    parameters: {weight: 0.5}
tokenizer:
  source: $D/x
  pad_to_multiple_of: 4
  tokens:
    a: {source: {kind: zero}, force: true}
    "<new>": {source: {kind: model_token, model: $D/base, token: c}}
    "<unk>": {force: true}
chat_template: chatml
)");
  EXPECT_EQ(p.vocabulary->source, dir_.string() + "/x");
  EXPECT_EQ(p.vocabulary->tokens, 4);  // <unk> a d <new>
  EXPECT_EQ(p.vocabulary->rows, 4);
  const auto& fills = job(p, "model.embed_tokens.weight").vocabulary->fills;
  ASSERT_EQ(fills.size(), 4u);
  EXPECT_EQ(fills[0].kind, RowFill::Kind::Input);  // <unk> forced, no source: the base's row
  EXPECT_TRUE(fills[0].force);
  EXPECT_EQ(fills[0].input, 0);
  EXPECT_EQ(fills[1].kind, RowFill::Kind::Zero);
  EXPECT_TRUE(fills[1].force);
  EXPECT_EQ(fills[2].row, 2);  // d: only x
  EXPECT_EQ(fills[2].input, 1);
  EXPECT_EQ(fills[3].row, 3);  // <new>: the base's row of c
  EXPECT_EQ(fills[3].input, 0);
  EXPECT_EQ(fills[3].source_row, 3);
  // The chosen template replaces x's own.
  bool template_written = false;
  for (const auto& [name, content] : p.tokenizer->files)
    if (name == "chat_template.jinja")
      template_written = content.find("<|im_start|>") != std::string::npos;
  EXPECT_TRUE(template_written);
}

TEST_F(PlannerVocabularyTest, DifferentSizesWithoutATokenizerSectionAreRefusedWithAHint) {
  std::string yaml = R"(
merge_method: linear
models:
  - model: $D/base
    parameters: {weight: 0.5}
  - model: $D/y
    parameters: {weight: 0.5}
  - model: $D/x
    parameters: {weight: 0.5}
)";
  Error e = error_of(yaml);
  EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
  EXPECT_NE(std::string(e.what()).find("add `tokenizer_source: base`"), std::string::npos)
      << e.what();

  PlanOptions truncate;
  truncate.unsafe_truncate_embeddings = true;
  auto p = plan(yaml, truncate);
  const MergeJob& j = job(p, "model.embed_tokens.weight");
  EXPECT_EQ(j.shape, (std::vector<int64_t>{3, 3}));
  ASSERT_TRUE(j.vocabulary);
  EXPECT_EQ(j.vocabulary->row_maps[0], nullptr);
  EXPECT_FALSE(p.vocabulary);
  EXPECT_EQ(p.output_config["vocab_size"], 4);  // config.json is the donor's, as MergeKit leaves it
  int cut = 0, config = 0;
  for (const auto& w : p.warnings) {
    cut +=
        w.find("cut to the smallest, 3 rows (--unsafe-truncate-embeddings)") != std::string::npos;
    config += w.find("config.json keeps the donor's vocab_size 4") != std::string::npos;
  }
  EXPECT_EQ(cut, 2);  // one per tensor: embeddings and lm_head
  EXPECT_EQ(config, 1);
}

TEST_F(PlannerVocabularyTest, ModelWithoutTokenizerTakesTheBasesVocabulary) {
  auto p = plan(R"(
merge_method: linear
base_model: $D/base
models:
  - model: $D/base
    parameters: {weight: 0.5}
  - model: $D/y
    parameters: {weight: 0.5}
tokenizer_source: base
)");
  EXPECT_EQ(p.vocabulary->lacking, (std::vector<int64_t>{0, 0}));
  bool warned = false;
  for (const auto& w : p.warnings)
    warned = warned || w.find("has no tokenizer") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST_F(PlannerVocabularyTest, TokenizerErrors) {
  std::string head = R"(
merge_method: linear
base_model: $D/base
models:
  - model: $D/base
    parameters: {weight: 0.5}
  - model: $D/x
    parameters: {weight: 0.5}
)";
  Error e = error_of(head + "tokenizer:\n  tokens:\n    z: {source: $D/y}\n");
  EXPECT_EQ(e.code(), ErrorCode::InvalidConfig);
  EXPECT_NE(std::string(e.what()).find("r.yml:11:"), std::string::npos) << e.what();
  e = error_of(
      head +
      "tokenizer:\n  tokens:\n    z: {source: {kind: model_token, model: $D/x, token_id: 3}}\n");
  EXPECT_NE(std::string(e.what()).find("token id 3 is out of range"), std::string::npos)
      << e.what();
  e = error_of(
      head +
      "tokenizer:\n  tokens:\n    z: {source: {kind: model_token, model: $D/x, token: q}}\n");
  EXPECT_NE(std::string(e.what()).find("has no token `q`"), std::string::npos) << e.what();
  e = error_of(head + "tokenizer:\n  tokens:\n    b: {source: $D/x, force: true}\n");
  EXPECT_NE(std::string(e.what()).find("does not have this token"), std::string::npos) << e.what();

  fs::remove(dir_ / "base" / "tokenizer.json");
  e = error_of(head + "tokenizer_source: union\n");
  EXPECT_EQ(e.code(), ErrorCode::InvalidFile);
  EXPECT_NE(std::string(e.what()).find("has no tokenizer.json"), std::string::npos) << e.what();
  std::ofstream(dir_ / "base" / "tokenizer.model") << "spm";
  e = error_of(head + "tokenizer_source: union\n");
  EXPECT_EQ(e.code(), ErrorCode::Unsupported);
  EXPECT_NE(std::string(e.what()).find("not supported yet"), std::string::npos) << e.what();
}

TEST_F(PlannerVocabularyTest, ChatTemplateWithoutATokenizerSectionRewritesTheDonorsTokenizer) {
  auto p = plan(R"(
merge_method: linear
models:
  - model: $D/x
    parameters: {weight: 0.5}
  - model: $D/base
    parameters: {weight: 0.5}
  - model: $D/y
    parameters: {weight: 0.5}
chat_template: auto
)",
                [] {
                  PlanOptions o;
                  o.unsafe_truncate_embeddings = true;
                  return o;
                }());
  ASSERT_TRUE(p.tokenizer);
  EXPECT_TRUE(p.tokenizer->only_when_copying);
  // The donor's tokenizer.json is kept as it is, beside the fresh config and template.
  ASSERT_EQ(p.tokenizer->files.size(), 3u);
  EXPECT_EQ(p.tokenizer->files[2].first, "tokenizer.json");
  EXPECT_EQ(p.tokenizer->files[2].second, *p.models[p.donor].source->side_file("tokenizer.json"));
  EXPECT_EQ(p.tokenizer->files[1].first, "chat_template.jinja");
  EXPECT_EQ(p.tokenizer->files[1].second, "{{ messages }} template of x");
  auto config = nlohmann::json::parse(p.tokenizer->files[0].second);
  EXPECT_FALSE(config.contains("chat_template"));
}

}  // namespace
}  // namespace mf
