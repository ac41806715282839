// tokenizer.json reading, stripping unused ids, adding tokens, writing back.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "tokenizer/tokenizer_json.hpp"

namespace mf {
namespace {

// A small BPE: a, b, c, ab, abc; merges a+b, ab+c; special <s> (model vocab and added).
constexpr const char* kBpe = R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 6, "content": "<extra>", "special": true}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581"},
  "model": {"type": "BPE", "dropout": null, "unk_token": null,
            "vocab": {"<s>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "abc": 5},
            "merges": [["a", "b"], "ab c"]}
})";

ErrorCode parse_error(const std::string& text, std::string* message = nullptr) {
  try {
    TokenizerJson::parse(text, "m/tokenizer.json");
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return ErrorCode::Internal;
}

TEST(TokenizerJson, ReadsTheVocabularyAndAddedTokens) {
  auto t = TokenizerJson::parse(kBpe, "m/tokenizer.json");
  EXPECT_EQ(t.model(), VocabModel::BPE);
  EXPECT_EQ(t.vocab().size(), 7u);
  EXPECT_EQ(*t.id_of("abc"), 5);
  EXPECT_EQ(*t.id_of("<extra>"), 6);
  EXPECT_FALSE(t.id_of("zz"));
  EXPECT_EQ(t.end_id(), 7);
  ASSERT_EQ(t.added_tokens().size(), 2u);
  EXPECT_TRUE(t.added_tokens()[1].special);
  EXPECT_FALSE(t.added_tokens()[1].normalized);  // defaults to !special
  auto by_id = t.tokens_by_id();
  EXPECT_EQ(by_id[4], "ab");
  EXPECT_EQ(by_id[6], "<extra>");
}

TEST(TokenizerJson, TellsModelTypesApart) {
  auto wp = TokenizerJson::parse(R"({"model": {"type": "WordPiece", "unk_token": "[UNK]",
      "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {"[UNK]": 0, "x": 1, "##y": 2}}})",
                                 "t");
  EXPECT_EQ(wp.model(), VocabModel::WordPiece);
  auto wl = TokenizerJson::parse(
      R"({"model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1}, "unk_token": "[UNK]"}})",
      "t");
  EXPECT_EQ(wl.model(), VocabModel::WordLevel);
  auto uni = TokenizerJson::parse(
      R"({"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["\u2581a", -1.5], ["b", -2.25]]}})",
      "t");
  EXPECT_EQ(uni.model(), VocabModel::Unigram);
  EXPECT_EQ(*uni.id_of("b"), 2);
  // Old files without a type.
  EXPECT_EQ(TokenizerJson::parse(R"({"model": {"vocab": {"a": 0}, "merges": []}})", "t").model(),
            VocabModel::BPE);
  EXPECT_EQ(TokenizerJson::parse(R"({"model": {"vocab": [["a", 0.0]]}})", "t").model(),
            VocabModel::Unigram);
}

TEST(TokenizerJson, RefusesMalformedFilesNamingThem) {
  std::string message;
  EXPECT_EQ(parse_error("{\"model\": ", &message), ErrorCode::InvalidFile);
  EXPECT_NE(message.find("m/tokenizer.json: not valid JSON"), std::string::npos) << message;
  EXPECT_EQ(parse_error("[1, 2]"), ErrorCode::InvalidFile);
  EXPECT_EQ(parse_error(R"({"version": "1.0"})", &message), ErrorCode::InvalidFile);
  EXPECT_NE(message.find("no `model`"), std::string::npos) << message;
  EXPECT_EQ(parse_error(R"({"model": {"type": "BPE", "vocab": [1]}})"), ErrorCode::InvalidFile);
  EXPECT_EQ(parse_error(R"({"model": {"type": "BPE", "vocab": {"a": -1}}})"),
            ErrorCode::InvalidFile);
  EXPECT_EQ(parse_error(R"({"model": {"type": "BPE", "vocab": {"a": 1.5}}})"),
            ErrorCode::InvalidFile);
  EXPECT_EQ(parse_error(R"({"model": {"type": "BPE", "vocab": {"a": 99999999999}}})"),
            ErrorCode::InvalidFile);
  EXPECT_EQ(parse_error(R"({"model": {"type": "BPE", "vocab": {"a": 1, "b": 1}}})", &message),
            ErrorCode::InvalidFile);
  EXPECT_NE(message.find("both have id 1"), std::string::npos) << message;
  EXPECT_EQ(parse_error(R"({"model": {"type": "BPE", "vocab": {}}, "added_tokens": [{"id": 1}]})"),
            ErrorCode::InvalidFile);
  EXPECT_EQ(parse_error(R"({"model": {"type": "Unigram", "vocab": [["a"]]}})"),
            ErrorCode::InvalidFile);
  EXPECT_EQ(parse_error(R"({"model": {"type": "SentencePieceBPE", "vocab": {}}})", &message),
            ErrorCode::Unsupported);
  EXPECT_NE(message.find("SentencePieceBPE"), std::string::npos);
  EXPECT_EQ(parse_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\xff\": 0}}}"),
            ErrorCode::InvalidFile);
}

TEST(TokenizerJson, DropsIdsPastTheLimitWithTheirMerges) {
  auto t = TokenizerJson::parse(kBpe, "t").without_ids_from(5);
  EXPECT_FALSE(t.id_of("abc"));
  EXPECT_FALSE(t.id_of("<extra>"));  // an added token past the limit goes too
  EXPECT_EQ(t.end_id(), 5);
  // "ab c" made abc, which is gone; "a b" stays.
  auto again = TokenizerJson::parse(t.dump(), "t");
  EXPECT_EQ(again.vocab().size(), 5u);
  auto text = t.dump();
  EXPECT_NE(text.find("\"a\",\n        \"b\""), std::string::npos) << text;
  EXPECT_EQ(text.find("ab c"), std::string::npos) << text;

  // A merge whose part is gone goes too.
  auto u = TokenizerJson::parse(kBpe, "t").without_ids_from(2);
  EXPECT_NE(u.dump().find("\"merges\": []"), std::string::npos) << u.dump();

  auto uni =
      TokenizerJson::parse(
          R"({"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.5], ["b", -2.25]]}})",
          "t")
          .without_ids_from(2);
  EXPECT_EQ(uni.end_id(), 2);
  EXPECT_FALSE(uni.id_of("b"));
  try {
    TokenizerJson::parse(
        R"({"model": {"type": "Unigram", "unk_id": 2, "vocab": [["a", 0.0], ["b", -1.5], ["<unk>", -2.25]]}})",
        "t")
        .without_ids_from(2);
    ADD_FAILURE() << "an unk_id past the limit must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
  }

  auto wp = TokenizerJson::parse(
                R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "x": 1, "##y": 2}}})", "t")
                .without_ids_from(2);
  EXPECT_EQ(wp.vocab().size(), 2u);
}

TEST(TokenizerJson, AddsTokensAsTransformersDoes) {
  auto t = TokenizerJson::parse(kBpe, "t");
  AddedToken fresh;
  fresh.content = "<|im_start|>";
  fresh.special = true;
  fresh.normalized = false;
  EXPECT_EQ(t.add_token(fresh), 7);  // past the last id
  AddedToken plain;
  plain.content = "ab";  // in the model's vocabulary: becomes an added token with its id
  EXPECT_EQ(t.add_token(plain), 4);
  EXPECT_TRUE(t.is_added("ab"));
  AddedToken redefined = fresh;
  redefined.special = false;
  EXPECT_EQ(t.add_token(redefined), 7);  // same id, new options
  EXPECT_FALSE(t.find_added("<|im_start|>")->special);
  EXPECT_EQ(t.end_id(), 8);
  // Written back in id order, read back the same.
  auto again = TokenizerJson::parse(t.dump(), "t");
  ASSERT_EQ(again.added_tokens().size(), 4u);
  EXPECT_EQ(again.added_tokens()[0].content, "<s>");
  EXPECT_EQ(again.added_tokens()[1].content, "ab");
  EXPECT_EQ(again.added_tokens()[3].content, "<|im_start|>");
  EXPECT_EQ(again.vocab(), t.vocab());
}

TEST(TokenizerJson, DumpKeepsEverythingElse) {
  auto t = TokenizerJson::parse(kBpe, "t");
  auto j = nlohmann::json::parse(t.dump());
  auto original = nlohmann::json::parse(kBpe);
  EXPECT_EQ(j["pre_tokenizer"], original["pre_tokenizer"]);
  EXPECT_EQ(j["model"]["vocab"], original["model"]["vocab"]);
  EXPECT_EQ(j["model"]["merges"], original["model"]["merges"]);
  EXPECT_TRUE(j["model"]["dropout"].is_null());
  EXPECT_EQ(j["added_tokens"][1]["content"], "<extra>");
  EXPECT_EQ(j["added_tokens"][1]["normalized"], false);
  // Vocabulary in id order.
  std::string text = t.dump();
  EXPECT_LT(text.find("\"a\": 1"), text.find("\"abc\": 5"));
}

}  // namespace
}  // namespace mf
