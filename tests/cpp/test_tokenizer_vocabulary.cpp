// The output vocabulary: base / model / union sources, COMPAT's stable union order, unused ids,
// requested tokens, padding, and where each token sits in every model.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/output_vocabulary.hpp"

namespace mf {
namespace {

// A WordLevel tokenizer: `words` at ids 0.., then `added` (content, special) at the following ids.
TokenizerJson word_level(const std::vector<std::string>& words,
                         const std::vector<std::pair<std::string, bool>>& added = {}) {
  nlohmann::json doc;
  doc["version"] = "1.0";
  doc["model"] = {{"type", "WordLevel"}, {"unk_token", words.front()}};
  doc["model"]["vocab"] = nlohmann::json::object();
  for (size_t i = 0; i < words.size(); ++i) doc["model"]["vocab"][words[i]] = i;
  doc["added_tokens"] = nlohmann::json::array();
  for (size_t i = 0; i < added.size(); ++i)
    doc["added_tokens"].push_back({{"id", words.size() + i},
                                   {"content", added[i].first},
                                   {"special", added[i].second},
                                   {"normalized", !added[i].second}});
  return TokenizerJson::parse(doc.dump(), "t");
}

std::vector<std::string> tokens(const OutputVocabulary& v) { return v.tokens; }

TEST(OutputVocabulary, UnionOrderIsBaseThenOrdinaryThenAddedThenRequested) {
  auto base =
      word_level({"<unk>", "a", "b"}, {{"<reserved>", true}});  // <reserved> id 3, past the limit
  auto chat = word_level({"<unk>", "a", "b"}, {{"<|im_start|>", true}, {"<|im_end|>", true}});
  auto other = word_level({"<unk>", "z", "a", "y", "x"},
                          {{"<tool>", true}, {"<|im_start|>", false}, {"<late>", true}});
  std::vector<VocabularyModel> models{{"base", &base, 3}, {"chat", &chat, 5}, {"other", &other, 7}};
  VocabularyRequest r;
  r.source = VocabularyRequest::Source::Union;
  r.base = 0;
  r.extra_tokens = {"a", "<new>"};
  r.pad_to_multiple_of = 8;
  auto v = build_output_vocabulary(models, r);
  // <late> (id 7 in other) is past other's limit; the first definition of <|im_start|> (chat's)
  // wins.
  std::vector<std::string> expected{"<unk>",        "a",          "b",      "z",    "y", "x",
                                    "<|im_start|>", "<|im_end|>", "<tool>", "<new>"};
  EXPECT_EQ(tokens(v), expected);
  EXPECT_EQ(v.rows, 16);
  EXPECT_TRUE(v.tokenizer.find_added("<|im_start|>")->special);
  EXPECT_FALSE(
      v.tokenizer.find_added("z")->special);  // ordinary tokens are added as plain added tokens
  EXPECT_TRUE(v.tokenizer.find_added("z")->normalized);
  EXPECT_FALSE(v.tokenizer.id_of("<reserved>"));
  EXPECT_FALSE(v.tokenizer.id_of("<late>"));

  std::vector<int64_t> base_rows{0, 1, 2, -1, -1, -1, -1, -1, -1, -1};
  std::vector<int64_t> chat_rows{0, 1, 2, -1, -1, -1, 3, 4, -1, -1};
  std::vector<int64_t> other_rows{0, 2, -1, 1, 3, 4, 6, -1, 5, -1};
  EXPECT_EQ(v.source_rows[0], base_rows);
  EXPECT_EQ(v.source_rows[1], chat_rows);
  EXPECT_EQ(v.source_rows[2], other_rows);
  EXPECT_EQ(v.lacking, (std::vector<int64_t>{7, 5, 3}));

  // The same inputs always give the same ids.
  auto again = build_output_vocabulary(models, r);
  EXPECT_EQ(tokens(again), expected);
  EXPECT_EQ(again.tokenizer.dump(), v.tokenizer.dump());
}

TEST(OutputVocabulary, BaseSourceDropsUnusedIdsAndAddsRequestedTokens) {
  auto base = word_level({"<unk>", "a", "b", "c"});
  auto other = word_level({"<unk>", "c", "d"});
  std::vector<VocabularyModel> models{
      {"base", &base, 3}, {"other", &other, 3}, {"no tokenizer", nullptr, 2}};
  VocabularyRequest r;
  r.source = VocabularyRequest::Source::Base;
  r.extra_tokens = {"d"};
  auto v = build_output_vocabulary(models, r);
  EXPECT_EQ(tokens(v), (std::vector<std::string>{"<unk>", "a", "b", "d"}));
  EXPECT_EQ(v.rows, 4);
  EXPECT_EQ(v.source_rows[1], (std::vector<int64_t>{0, -1, -1, 2}));
  // A model without a tokenizer is taken to use the base's, up to its own limit.
  EXPECT_EQ(v.source_rows[2], (std::vector<int64_t>{0, 1, -1, -1}));
}

TEST(OutputVocabulary, ModelSourceIsUsedAsItIs) {
  auto base = word_level({"<unk>", "a"});
  auto other = word_level({"<unk>", "q", "a"}, {{"<extra>", true}});
  std::vector<VocabularyModel> models{{"base", &base, 2}, {"other", &other, 3}};
  VocabularyRequest r;
  r.source = VocabularyRequest::Source::Model;
  r.source_tokenizer = &other;
  auto v = build_output_vocabulary(models, r);
  EXPECT_EQ(tokens(v), (std::vector<std::string>{"<unk>", "q", "a", "<extra>"}));  // not stripped
  EXPECT_EQ(v.source_rows[1], (std::vector<int64_t>{0, 1, 2, -1}));  // <extra>: id 3 >= limit 3
  EXPECT_EQ(v.source_rows[0], (std::vector<int64_t>{0, -1, 1, -1}));
}

TEST(OutputVocabulary, ATokenAddedElsewhereThatTheBaseHasBecomesAnAddedToken) {
  auto base = word_level({"<unk>", "hello"});
  auto other = word_level({"<unk>"}, {{"hello", true}});
  std::vector<VocabularyModel> models{{"base", &base, 2}, {"other", &other, 2}};
  VocabularyRequest r;
  auto v = build_output_vocabulary(models, r);
  EXPECT_EQ(tokens(v), (std::vector<std::string>{"<unk>", "hello"}));
  ASSERT_TRUE(v.tokenizer.find_added("hello"));
  EXPECT_TRUE(v.tokenizer.find_added("hello")->special);
}

TEST(OutputVocabulary, TheBaseNeedsATokenizer) {
  std::vector<VocabularyModel> models{{"base", nullptr, 2}};
  EXPECT_THROW(build_output_vocabulary(models, {}), Error);
}

TEST(ChatTemplate, ClassifiesRecipeValues) {
  EXPECT_EQ(classify_chat_template("auto")->kind, ChatTemplateChoice::Kind::Auto);
  for (auto name : builtin_chat_template_names()) {
    auto c = classify_chat_template(std::string(name));
    ASSERT_TRUE(c) << name;
    EXPECT_EQ(c->kind, ChatTemplateChoice::Kind::Builtin);
    EXPECT_NE(c->text.find("messages"), std::string::npos);
  }
  EXPECT_EQ(builtin_chat_template_names().size(), 5u);
  auto literal = classify_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}");
  ASSERT_TRUE(literal);
  EXPECT_EQ(literal->kind, ChatTemplateChoice::Kind::Literal);
  EXPECT_FALSE(classify_chat_template("vicuna"));
  EXPECT_FALSE(classify_chat_template("{{ short }}"));                         // < 20 characters
  EXPECT_FALSE(classify_chat_template("no braces in this long text at all"));  // no "{"
}

TEST(ChatTemplate, MostCommonTemplateWinsFirstOnATie) {
  EXPECT_FALSE(most_common_chat_template({}));
  EXPECT_EQ(*most_common_chat_template({"A", " B\n", "B"}), "B");
  EXPECT_EQ(*most_common_chat_template({"A", "B"}), "A");
  EXPECT_EQ(*most_common_chat_template({"  ", "C"}), "C");
}

}  // namespace
}  // namespace mf
