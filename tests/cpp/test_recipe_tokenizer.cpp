// The tokenizer part of a recipe: tokenizer_source, the tokenizer block with every token source
// form, chat_template; schema errors name the line.
#include <gtest/gtest.h>

#include "config/merge_config.hpp"
#include "core/error.hpp"

namespace mf {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_recipe(text, "r.yml");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidConfig) << e.what();
    return e.what();
  }
  return "no error";
}

constexpr const char* kHead = "merge_method: linear\nmodels: [m/a, m/b]\n";

TEST(RecipeTokenizer, TokenizerSourceForms) {
  auto base = parse_recipe(std::string(kHead) + "tokenizer_source: base\n", "r.yml");
  ASSERT_TRUE(base.tokenizer);
  EXPECT_EQ(base.tokenizer->source, TokenizerSetting::Source::Base);
  EXPECT_FALSE(base.tokenizer->from_block);
  EXPECT_EQ(
      parse_recipe(std::string(kHead) + "tokenizer_source: union\n", "r.yml").tokenizer->source,
      TokenizerSetting::Source::Union);
  auto model = parse_recipe(std::string(kHead) + "tokenizer_source: m/b@main\n", "r.yml");
  EXPECT_EQ(model.tokenizer->source, TokenizerSetting::Source::Model);
  EXPECT_EQ(model.tokenizer->model->path, "m/b");
  EXPECT_FALSE(parse_recipe(kHead, "r.yml").tokenizer);
}

TEST(RecipeTokenizer, BlockWithEveryTokenSourceForm) {
  auto c = parse_recipe(std::string(kHead) + R"(tokenizer:
  pad_to_multiple_of: 64
  tokens:
    "<|im_start|>":
      source: m/a
      force: true
    "<|im_end|>":
      source: {model: m/b}
    "<tool>":
      source: {kind: model_token, model: m/a, token: "<t>"}
    "<think>":
      source: {kind: model_token, model: m/b, token_id: 7}
    "<zero>":
      source: {kind: zero}
    "<auto>": {force: true}
    "<bare>":
chat_template: chatml
)",
                        "r.yml");
  ASSERT_TRUE(c.tokenizer);
  const TokenizerSetting& t = *c.tokenizer;
  EXPECT_TRUE(t.from_block);
  EXPECT_EQ(t.source, TokenizerSetting::Source::Union);  // the block's default
  EXPECT_EQ(t.pad_to_multiple_of, 64);
  ASSERT_EQ(t.tokens.size(), 7u);
  EXPECT_EQ(t.tokens[0].token, "<|im_start|>");  // recipe order
  EXPECT_EQ(t.tokens[0].source.kind, TokenSourceSetting::Kind::Model);
  EXPECT_TRUE(t.tokens[0].force);
  EXPECT_EQ(t.tokens[0].mark.line, 6);
  EXPECT_EQ(t.tokens[1].source.kind, TokenSourceSetting::Kind::Model);
  EXPECT_EQ(t.tokens[1].source.model->path, "m/b");
  EXPECT_EQ(t.tokens[2].source.kind, TokenSourceSetting::Kind::ModelToken);
  EXPECT_EQ(*t.tokens[2].source.token, "<t>");
  EXPECT_EQ(*t.tokens[3].source.token_id, 7);
  EXPECT_EQ(t.tokens[4].source.kind, TokenSourceSetting::Kind::Zero);
  EXPECT_EQ(t.tokens[5].source.kind, TokenSourceSetting::Kind::Auto);
  EXPECT_TRUE(t.tokens[5].force);
  EXPECT_EQ(t.tokens[6].source.kind, TokenSourceSetting::Kind::Auto);
  EXPECT_FALSE(t.tokens[6].force);
  EXPECT_EQ(*c.chat_template, "chatml");
  EXPECT_EQ(c.chat_template_mark.line, 19);
}

TEST(RecipeTokenizer, SchemaErrorsNameTheLine) {
  std::string h = kHead;
  EXPECT_NE(error_of(h + "tokenizer_source: base\ntokenizer: {source: union}\n").find("not both"),
            std::string::npos);
  EXPECT_NE(
      error_of(h + "tokenizer:\n  tokens:\n    a: {source: {kind: model_token, model: m/a}}\n")
          .find("r.yml:5:"),
      std::string::npos);
  EXPECT_NE(
      error_of(h +
               "tokenizer:\n  tokens:\n    a: {source: {kind: model_token, model: m/a, token: x, "
               "token_id: 1}}\n")
          .find("exactly one of `token` and `token_id`"),
      std::string::npos);
  EXPECT_NE(error_of(h + "tokenizer:\n  tokens:\n    a: {source: {kind: copy}}\n")
                .find("unknown token source kind"),
            std::string::npos);
  EXPECT_NE(error_of(h + "tokenizer:\n  tokens:\n    a: {force: maybe}\n").find("true or false"),
            std::string::npos);
  EXPECT_NE(
      error_of(
          h +
          "tokenizer:\n  tokens:\n    a: {source: {kind: model_token, model: m/a, token_id: -2}}\n")
          .find("not be negative"),
      std::string::npos);
  EXPECT_NE(error_of(h + "tokenizer:\n  pad_to_multiple_of: -8\n").find("r.yml:4:"),
            std::string::npos);
  EXPECT_NE(error_of(h + "tokenizer:\n  pad_to_multiple_of: eight\n").find("integer"),
            std::string::npos);
  std::string twice =
      error_of(h +
               "tokenizer:\n  tokens:\n    a: {source: m/a, force: true}\n    a: {source: "
               "{kind: zero}, force: true}\n");
  EXPECT_NE(twice.find("r.yml:6:5: token `a` is configured twice (first at r.yml:5:5)"),
            std::string::npos)
      << twice;
  EXPECT_NE(error_of(h + "tokenizer: [base]\n").find("mapping"), std::string::npos);
  EXPECT_NE(error_of(h + "tokenizer:\n  tokens: [a, b]\n").find("mapping"), std::string::npos);
}

TEST(RecipeTokenizer, UnknownKeysAreNoted) {
  auto c = parse_recipe(std::string(kHead) +
                            "tokenizer:\n  source: base\n  colour: red\n  tokens:\n    a: "
                            "{source: {kind: zero}, weight: 2}\n",
                        "r.yml");
  ASSERT_EQ(c.unknown_keys.size(), 2u);
  EXPECT_EQ(c.unknown_keys[0].first, "tokenizer key colour");
  EXPECT_EQ(c.unknown_keys[1].first, "token setting key weight");
}

}  // namespace
}  // namespace mf
