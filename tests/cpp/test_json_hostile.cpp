// JSON files from strangers (tokenizer.json, config.json): what fuzz_tokenizer_json and hand-made
// inputs found.
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "io/json_text.hpp"
#include "io/model_metadata.hpp"
#include "tokenizer/tokenizer_json.hpp"

namespace mf {
namespace {

template <class Parse>
std::string error_of(Parse parse) {
  try {
    parse();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidFile);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

std::string nested_lists(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string tokenizer_with_normalizer(const std::string& normalizer) {
  return R"({"normalizer": )" + normalizer +
         R"(, "model": {"type": "WordLevel", "vocab": {"[[[{": 0, "a": 1}, "unk_token": "[[[{"}})";
}

TEST(JsonHostile, SyntaxErrorCuttingAUtf8SequenceLeavesTheMessageValidUtf8) {
  // nlohmann quotes what it read up to the failing byte: the first byte of `é` (found by
  // fuzz_tokenizer_json; the message went out with a lone 0xc3).
  std::string text = "{\"model\": {\"type\"\xc3\xa9: 1}}";
  ASSERT_FALSE(find_invalid_utf8(text).has_value());
  std::string msg = error_of([&] { TokenizerJson::parse(text, "m/tokenizer.json"); });
  EXPECT_TRUE(msg.starts_with("m/tokenizer.json: not valid JSON: ")) << msg;
  EXPECT_FALSE(find_invalid_utf8(msg).has_value()) << msg;
  EXPECT_NE(msg.find("\\xc3"), std::string::npos) << msg;  // the byte, escaped
  msg = error_of([&] { parse_model_config(text, "m/config.json"); });
  EXPECT_FALSE(find_invalid_utf8(msg).has_value()) << msg;
}

TEST(JsonHostile, DeepNestingIsRefusedBeforeAnythingRecursesOverIt) {
  // 200000 nested lists parsed (nlohmann's parser does not recurse), then dump() recursed once per
  // level and overflowed the stack.
  std::string msg = error_of(
      [&] { TokenizerJson::parse(tokenizer_with_normalizer(nested_lists(200000)), "t.json"); });
  EXPECT_TRUE(msg.starts_with("t.json: lists and objects nested more than 512 deep (offset 526)"))
      << msg;
  msg = error_of(
      [&] { parse_model_config("{\"rope_scaling\": " + nested_lists(100000) + "}", "c.json"); });
  EXPECT_TRUE(msg.starts_with("c.json: lists and objects nested more than 512 deep")) << msg;
  std::string objects;
  for (int i = 0; i < 600; ++i) objects += "{\"k\": ";
  objects += "1" + std::string(600, '}');
  msg = error_of([&] { parse_model_config(objects, "c.json"); });
  EXPECT_NE(msg.find("nested more than 512 deep"), std::string::npos) << msg;
}

TEST(JsonHostile, NestingUpToTheLimitRoundTrips) {
  // 511 levels in the normalizer, 512 with the document; brackets inside strings do not count.
  auto t = TokenizerJson::parse(tokenizer_with_normalizer(nested_lists(511)), "t.json");
  EXPECT_EQ(t.id_of("[[[{"), 0);
  EXPECT_EQ(t.end_id(), 2);
  auto again = TokenizerJson::parse(t.dump(), "t.json");
  EXPECT_EQ(again.dump(), t.dump());
  EXPECT_EQ(again.vocab(), t.vocab());
  nlohmann::json deep = parse_json_text(again.dump(), "d.json")["normalizer"];
  for (int i = 0; i < 510; ++i) {
    ASSERT_EQ(deep.size(), 1u);
    deep = nlohmann::json(deep[0]);
  }
  EXPECT_EQ(deep, nlohmann::json::array());
  std::string quoted =
      "{\"s\": \"" + std::string(2000, '[') + "\\\"" + std::string(2000, '{') + "\"}";
  EXPECT_EQ(parse_json_text(quoted, "q.json")["s"].get<std::string>().size(), 4001u);
}

}  // namespace
}  // namespace mf
